import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NAL,
  buildStapA,
  extractParameterSets,
  h264NalTypeMask,
  h264NalTypesStarting,
  rtpMarker,
  rtpPayloadEnd,
  rtpPayloadOffset,
  rtpPayloadType,
  rtpSeq,
  rtpTimestamp,
} from '../../src/shared/h264.ts';

interface Hdr {
  pt?: number;
  seq?: number;
  ts?: number;
  marker?: boolean;
  ssrc?: number;
  csrc?: number;
  /** Extension words (32-bit each). */
  ext?: number;
  pad?: number;
}

function rtp(h: Hdr, payload: Buffer | number[]): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const csrc = h.csrc ?? 0;
  const extLen = h.ext === undefined ? 0 : 4 + 4 * h.ext;
  const pad = h.pad ?? 0;
  const b = Buffer.alloc(12 + 4 * csrc + extLen + body.length + pad, 0xee);
  b[0] = 0x80 | (pad ? 0x20 : 0) | (h.ext !== undefined ? 0x10 : 0) | csrc;
  b[1] = (h.marker ? 0x80 : 0) | (h.pt ?? 96);
  b.writeUInt16BE(h.seq ?? 1, 2);
  b.writeUInt32BE(h.ts ?? 1000, 4);
  b.writeUInt32BE(h.ssrc ?? 0x11223344, 8);
  let o = 12 + 4 * csrc;
  if (h.ext !== undefined) {
    b.writeUInt16BE(0xbede, o);
    b.writeUInt16BE(h.ext, o + 2);
    o += extLen;
  }
  body.copy(b, o);
  if (pad) b[b.length - 1] = pad;
  return b;
}

function stap(units: number[][]): number[] {
  const out = [NAL.STAP_A | 0x60];
  for (const u of units) out.push(u.length >> 8, u.length & 0xff, ...u);
  return out;
}

const SPS = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
const PPS = [0x68, 0xce, 0x3c, 0x80];

test('rtpPayloadOffset() skips the fixed header, CSRCs and the header extension', () => {
  assert.equal(rtpPayloadOffset(rtp({}, [0x65, 1, 2])), 12);
  assert.equal(rtpPayloadOffset(rtp({ csrc: 2 }, [0x65])), 20);
  assert.equal(rtpPayloadOffset(rtp({ ext: 0 }, [0x65])), 16);
  assert.equal(rtpPayloadOffset(rtp({ ext: 3 }, [0x65])), 28);
  assert.equal(rtpPayloadOffset(rtp({ csrc: 1, ext: 1, pad: 3 }, [0x65])), 24);
  assert.equal(rtpPayloadOffset(rtp({}, [])), 12, 'an empty payload is legal');
});

test('rtpPayloadOffset() is -1 on malformed or short packets', () => {
  assert.equal(rtpPayloadOffset(Buffer.alloc(0)), -1);
  assert.equal(rtpPayloadOffset(Buffer.alloc(11, 0x80)), -1);
  const v1 = rtp({}, [0x65]);
  v1[0] = (v1[0]! & 0x3f) | 0x40;
  assert.equal(rtpPayloadOffset(v1), -1, 'version 1');
  const csrcs = rtp({}, [0x65]);
  csrcs[0] = (csrcs[0]! & 0xf0) | 0x0f; // 15 CSRCs announced, none there
  assert.equal(rtpPayloadOffset(csrcs), -1);
  const ext = rtp({ ext: 1 }, [0x65]);
  ext.writeUInt16BE(50, 14); // extension longer than the packet
  assert.equal(rtpPayloadOffset(ext), -1);
  const extHdr = rtp({}, [0x65, 0]);
  extHdr[0]! |= 0x10; // X bit but only 2 bytes after the header
  assert.equal(rtpPayloadOffset(extHdr), -1);
  const pad = rtp({ pad: 2 }, [0x65]);
  pad[pad.length - 1] = 200; // more padding than payload
  assert.equal(rtpPayloadOffset(pad), -1);
  assert.equal(rtpPayloadOffset(undefined as unknown as Buffer), -1);
  assert.equal(rtpPayloadOffset('not a buffer' as unknown as Buffer), -1);
});

test('rtpPayloadEnd() excludes padding and rejects a zero or oversized padding count', () => {
  assert.equal(rtpPayloadEnd(rtp({}, [0x65, 1, 2])), 15);
  const padded = rtp({ pad: 4 }, [0x65, 1, 2]);
  assert.equal(padded.length, 19);
  assert.equal(rtpPayloadEnd(padded), 15);
  const zero = rtp({ pad: 1 }, [0x65]);
  zero[zero.length - 1] = 0;
  assert.equal(rtpPayloadEnd(zero), -1);
  const over = rtp({ pad: 1 }, [0x65]);
  over[over.length - 1] = 3;
  assert.equal(rtpPayloadEnd(over), -1);
  const all = rtp({ pad: 1 }, [0x65]);
  all[all.length - 1] = 2; // padding eats the whole payload: legal, empty
  assert.equal(rtpPayloadEnd(all), 12);
  assert.equal(rtpPayloadEnd(Buffer.alloc(3)), -1);
});

test('rtpSeq(), rtpTimestamp(), rtpMarker() and rtpPayloadType() read the header', () => {
  const p = rtp({ pt: 111, seq: 65535, ts: 0xfedcba98, marker: true }, [0x41]);
  assert.equal(rtpSeq(p), 65535);
  assert.equal(rtpTimestamp(p), 0xfedcba98, 'unsigned even above 2^31');
  assert.equal(rtpMarker(p), true);
  assert.equal(rtpPayloadType(p), 111);
  const q = rtp({ pt: 0, seq: 0, ts: 0 }, [0x41]);
  assert.deepEqual([rtpSeq(q), rtpTimestamp(q), rtpMarker(q), rtpPayloadType(q)], [0, 0, false, 0]);
  const short = Buffer.from([0x80, 0xe0, 0, 1]);
  assert.deepEqual([rtpSeq(short), rtpTimestamp(short), rtpMarker(short), rtpPayloadType(short)], [-1, -1, false, -1]);
});

test('h264NalTypesStarting() reads single NAL units', () => {
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x65, 0x88])), [NAL.IDR]);
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x41, 0x9a])), [1]);
  assert.deepEqual(h264NalTypesStarting(rtp({}, SPS)), [NAL.SPS]);
  assert.deepEqual(h264NalTypesStarting(rtp({ csrc: 1, ext: 2, pad: 5 }, PPS)), [NAL.PPS]);
  assert.deepEqual(h264NalTypesStarting(rtp({}, [])), []);
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x00, 1])), [], 'type 0 is unspecified');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x1e, 1])), [], 'reserved type');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x19, 0, 1, 0x65])), [], 'STAP-B is not mode 1');
});

test('h264NalTypesStarting() lists every unit of a STAP-A, in order', () => {
  assert.deepEqual(h264NalTypesStarting(rtp({}, stap([SPS, PPS, [0x06, 5, 1, 0x80]]))), [7, 8, 6]);
  assert.deepEqual(h264NalTypesStarting(rtp({}, stap([SPS, PPS, [0x65, 0x88, 0x84]]))), [7, 8, 5]);
  assert.deepEqual(h264NalTypesStarting(rtp({ pad: 3 }, stap([[0x41, 1], [0x41, 2]]))), [1, 1]);
  assert.equal(h264NalTypeMask(rtp({}, stap([SPS, PPS, [0x65, 1]]))), (1 << 7) | (1 << 8) | (1 << 5));
});

test('h264NalTypesStarting() treats a malformed STAP-A as starting nothing', () => {
  const truncated = stap([SPS, [0x65, 1, 2, 3]]);
  truncated.pop();
  assert.deepEqual(h264NalTypesStarting(rtp({}, truncated)), []);
  assert.deepEqual(h264NalTypesStarting(rtp({}, [...stap([SPS]), 0x00])), [], 'dangling size byte');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x78, 0x00, 0x00, 0x00, 0x01, 0x65])), [], 'zero-size unit');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x78])), [], 'empty aggregate');
  assert.equal(h264NalTypeMask(rtp({}, truncated)), 0);
});

test('h264NalTypesStarting() reports a FU-A inner type only when the S bit is set', () => {
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x7c, 0x85, 0x88])), [NAL.IDR]);
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x7c, 0x05, 0x88])), [], 'middle');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x7c, 0x45, 0x88])), [], 'end');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x7c, 0xc5, 0x88])), [], 'S and E together are forbidden');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x5c, 0x81, 0x9a])), [1]);
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x7c])), [], 'no FU header');
  assert.deepEqual(h264NalTypesStarting(rtp({}, [0x7c, 0x9c])), [], 'FU-A inside FU-A');
});

test('buildStapA() builds a parseable STAP-A from the template header', () => {
  const tpl = rtp({ pt: 102, seq: 7, ts: 5, marker: true, ssrc: 0xcafebabe, csrc: 2, ext: 1, pad: 4 }, [0x7c, 0x85, 1]);
  const pkt = buildStapA(tpl, [Buffer.from(SPS), Buffer.from(PPS)], 1234, 0xffffff00);
  assert.equal(pkt[0]! >> 6, 2);
  assert.equal(pkt[0]! & 0x3f, 0, 'no padding, extension or CSRC');
  assert.equal(rtpPayloadType(pkt), 102);
  assert.equal(rtpMarker(pkt), false);
  assert.equal(rtpSeq(pkt), 1234);
  assert.equal(rtpTimestamp(pkt), 0xffffff00);
  assert.equal(pkt.readUInt32BE(8), 0xcafebabe);
  assert.equal(rtpPayloadOffset(pkt), 12);
  assert.equal(pkt[12]! & 0x1f, NAL.STAP_A);
  assert.equal(pkt[12]! & 0x60, 0x60, 'NRI is the highest of the units');
  assert.deepEqual(h264NalTypesStarting(pkt), [NAL.SPS, NAL.PPS]);
  assert.deepEqual(extractParameterSets(pkt), { sps: [Buffer.from(SPS)], pps: [Buffer.from(PPS)] });
  assert.equal(pkt.length, 12 + 1 + 2 + SPS.length + 2 + PPS.length);
});

test('buildStapA() wraps the sequence number and never throws on odd input', () => {
  const tpl = rtp({}, [0x65]);
  assert.equal(rtpSeq(buildStapA(tpl, [Buffer.from(SPS)], -1, 0)), 65535);
  assert.equal(rtpSeq(buildStapA(tpl, [Buffer.from(SPS)], 65536 + 3, 0)), 3);
  assert.equal(rtpTimestamp(buildStapA(tpl, [Buffer.from(SPS)], 0, -1)), 0xffffffff);
  const skip = buildStapA(tpl, [Buffer.alloc(0), Buffer.from(PPS), Buffer.alloc(70000, 0x67)], 0, 0);
  assert.deepEqual(h264NalTypesStarting(skip), [NAL.PPS], 'empty and oversized units are left out');
  const bare = buildStapA(Buffer.alloc(0), [Buffer.from(SPS)], NaN, NaN);
  assert.deepEqual([rtpSeq(bare), rtpTimestamp(bare), rtpPayloadType(bare)], [0, 0, 0]);
  assert.deepEqual(h264NalTypesStarting(bare), [NAL.SPS]);
});

test('extractParameterSets() finds SPS and PPS in single NAL units and STAP-As only', () => {
  assert.deepEqual(extractParameterSets(rtp({ pad: 2 }, SPS)), { sps: [Buffer.from(SPS)], pps: [] });
  assert.deepEqual(extractParameterSets(rtp({}, PPS)), { sps: [], pps: [Buffer.from(PPS)] });
  const pps2 = [0x68, 0xee, 0x3c];
  const both = extractParameterSets(rtp({}, stap([[0x09, 0xf0], SPS, PPS, pps2, [0x65, 1]])));
  assert.deepEqual(both, { sps: [Buffer.from(SPS)], pps: [Buffer.from(PPS), Buffer.from(pps2)] });
  assert.deepEqual(extractParameterSets(rtp({}, [0x7c, 0x87, ...SPS.slice(1)])), { sps: [], pps: [] }, 'a fragment');
  assert.deepEqual(extractParameterSets(rtp({}, [0x65, 1])), { sps: [], pps: [] });
  const bad = stap([SPS, PPS]);
  bad.pop();
  assert.deepEqual(extractParameterSets(rtp({}, bad)), { sps: [], pps: [] });
});

test('extractParameterSets() returns copies that survive the packet buffer being reused', () => {
  const pkt = rtp({}, stap([SPS, PPS]));
  const { sps } = extractParameterSets(pkt);
  pkt.fill(0);
  assert.deepEqual(sps, [Buffer.from(SPS)]);
});

test('h264 helpers never throw on random bytes', () => {
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.alloc(rnd() % 40);
    for (let j = 0; j < b.length; j++) b[j] = rnd();
    if (b.length > 0 && i % 2 === 0) b[0] = (b[0]! & 0x3f) | 0x80; // mostly version 2
    const off = rtpPayloadOffset(b);
    const end = rtpPayloadEnd(b);
    assert.ok(off === -1 || (off >= 12 && off <= end && end <= b.length));
    assert.equal(off === -1, end === -1);
    for (const t of h264NalTypesStarting(b)) assert.ok(t >= 1 && t <= 23);
    const { sps, pps } = extractParameterSets(b);
    for (const u of [...sps, ...pps]) assert.ok(u.length >= 1);
    buildStapA(b, [b], rtpSeq(b), rtpTimestamp(b));
  }
});
