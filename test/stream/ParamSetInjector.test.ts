import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParamSetInjector, parameterSetsFromSdp, type ParameterSets } from '../../src/actors/stream/ParamSetInjector.ts';
import { extractParameterSets, h264NalTypesStarting, NAL, rtpSeq, rtpTimestamp } from '../../src/shared/h264.ts';

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x0d, 0xda]);
const PPS = Buffer.from([0x68, 0xce, 0x0f, 0xc8]);
const SDP_SETS: ParameterSets = { sps: [SPS], pps: [PPS] };

function rtp(seq: number, ts: number, payload: number[], marker = false): Buffer {
  const pkt = Buffer.alloc(12 + payload.length);
  pkt[0] = 0x80;
  pkt[1] = (marker ? 0x80 : 0) | 96;
  pkt.writeUInt16BE(seq & 0xffff, 2);
  pkt.writeUInt32BE(ts, 4);
  pkt.writeUInt32BE(0x1234, 8);
  Buffer.from(payload).copy(pkt, 12);
  return pkt;
}
const sei = (seq: number, ts: number) => rtp(seq, ts, [0x06, 0x05, 0x01]);
const idrStart = (seq: number, ts: number) => rtp(seq, ts, [0x7c, 0x85, 0xaa]);
const idrEnd = (seq: number, ts: number) => rtp(seq, ts, [0x7c, 0x45, 0xbb], true);
const slice = (seq: number, ts: number) => rtp(seq, ts, [0x41, 0x9a], true);
const stap = (seq: number, ts: number, units: Buffer[]) => rtp(seq, ts, [0x78, ...units.flatMap((u) => [u.length >> 8, u.length & 0xff, ...u])]);

function run(packets: Buffer[], load: () => ParameterSets | null = () => SDP_SETS): Buffer[] {
  const out: Buffer[] = [];
  const inj = new ParamSetInjector((p) => out.push(p), load);
  for (const p of packets) inj.push(p, 0);
  return out;
}

test('an IDR without parameter sets gets a STAP-A [SPS, PPS] in front of its access unit, sequence numbers stay gap-free', () => {
  const out = run([slice(65534, 100), sei(65535, 200), idrStart(0, 200), idrEnd(1, 200), slice(2, 300)]);
  assert.deepEqual(out.map((p) => h264NalTypesStarting(p)), [[1], [NAL.SPS, NAL.PPS], [NAL.SEI], [NAL.IDR], [], [1]]);
  assert.deepEqual(out.map(rtpSeq), [65534, 65535, 0, 1, 2, 3]);
  assert.equal(rtpTimestamp(out[1]!), 200);
  assert.deepEqual(extractParameterSets(out[1]!), { sps: [SPS], pps: [PPS] });
});

test('an IDR with SPS/PPS in band passes unchanged, and in-band sets replace the SDP ones', () => {
  const sps2 = Buffer.from([0x67, 0x64, 0x00, 0x1f]);
  const inBand = [stap(10, 100, [sps2, PPS]), idrStart(11, 100), idrEnd(12, 100), slice(13, 200), idrStart(14, 300), idrEnd(15, 300)];
  const out = run(inBand);
  assert.equal(out.length, 7);
  assert.deepEqual(out.slice(0, 5).map(rtpSeq), [10, 11, 12, 13, 14]);
  assert.deepEqual(extractParameterSets(out[4]!), { sps: [sps2], pps: [PPS] }, 'the second IDR gets the in-band sets');
  assert.deepEqual(out.map(rtpSeq), [10, 11, 12, 13, 14, 15, 16]);
});

test('without parameter sets anywhere nothing is inserted', () => {
  const out = run([idrStart(1, 100), idrEnd(2, 100)], () => null);
  assert.deepEqual(out.map(rtpSeq), [1, 2]);
});

test('parameterSetsFromSdp() reads the sprop-parameter-sets of the payload type', () => {
  const sdp = [
    'v=0', 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000',
    'a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LADdoFB+wEQAAAAwBAAAAMg8UKqA==,aM4PyA==; profile-level-id=42C00D',
    'm=audio 0 RTP/AVP 111', 'a=rtpmap:111 opus/48000/2', '',
  ].join('\r\n');
  const sets = parameterSetsFromSdp(sdp, 96)!;
  assert.equal(sets.sps.length, 1);
  assert.equal(sets.sps[0]![0]! & 0x1f, NAL.SPS);
  assert.deepEqual(sets.pps, [Buffer.from('aM4PyA==', 'base64')]);
  assert.equal(parameterSetsFromSdp(sdp, 97), null);
  assert.equal(parameterSetsFromSdp('a=fmtp:96 packetization-mode=1', 96), null);
});
