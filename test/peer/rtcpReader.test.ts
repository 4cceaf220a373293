// rtcpReader against werift's RTCP serializers and parser: for random compounds of RR, SR, NACK, PLI,
// FIR, REMB and SDES, the reader reports the same report blocks, NACKed sequence numbers and keyframe
// requests that werift's RtcpPacketConverter decodes; random and truncated bytes never throw or read
// past `len`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  GenericNack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  RtcpPacketConverter,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  SourceDescriptionChunk,
  SourceDescriptionItem,
} from 'werift';
import { forEachNacked, looksLikeRtcp, readRtcp, type RtcpSink } from '../../src/actors/peer/rtcpReader.ts';

type Event = ['report', number, number, number, number] | ['nack', number, number] | ['key', number];

function collect(buf: Buffer, len = buf.length): { n: number; events: Event[] } {
  const events: Event[] = [];
  const sink: RtcpSink = {
    report: (ssrc, fl, lsr, dlsr) => events.push(['report', ssrc, fl, lsr, dlsr]),
    nack: (media, b, from, end) => forEachNacked(b, from, end, (seq) => events.push(['nack', media, seq])),
    keyframeRequest: (media) => events.push(['key', media]),
  };
  return { n: readRtcp(buf, len, sink), events };
}

/**
 * The same events from werift's parse of the bytes, one packet at a time: werift hands a NACK the rest of
 * the compound as its FCI (it reads the packets after a NACK as more lost sequence numbers).
 */
function expected(buf: Buffer): Event[] {
  const out: Event[] = [];
  const packets = [];
  for (let at = 0; at < buf.length; at += (buf.readUInt16BE(at + 2) + 1) * 4) {
    packets.push(...RtcpPacketConverter.deSerialize(buf.subarray(at, at + (buf.readUInt16BE(at + 2) + 1) * 4)));
  }
  for (const p of packets) {
    if (p instanceof RtcpRrPacket || p instanceof RtcpSrPacket) {
      for (const r of p.reports) out.push(['report', r.ssrc, r.fractionLost, r.lsr, r.dlsr]);
    } else if (p instanceof RtcpTransportLayerFeedback && p.feedback instanceof GenericNack) {
      for (const seq of p.feedback.lost) out.push(['nack', p.feedback.mediaSourceSsrc, seq]);
    } else if (p instanceof RtcpPayloadSpecificFeedback && p.feedback instanceof PictureLossIndication) {
      out.push(['key', p.feedback.mediaSsrc]);
    }
  }
  return out;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const report = fc.record({ ssrc: u32, fractionLost: fc.integer({ min: 0, max: 255 }), lsr: u32, dlsr: u32 }).map(
  (r) => new RtcpReceiverInfo({ ...r, packetsLost: 3, highestSequence: 1000, jitter: 7 }),
);
const rr = fc.record({ ssrc: u32, reports: fc.array(report, { maxLength: 4 }) }).map((p) => ({ werift: new RtcpRrPacket(p).serialize() }));
const sr = fc.record({ ssrc: u32, reports: fc.array(report, { maxLength: 3 }) }).map((p) => ({
  werift: new RtcpSrPacket({ ...p, senderInfo: new RtcpSenderInfo({ ntpTimestamp: 1n << 40n, rtpTimestamp: 5, packetCount: 9, octetCount: 900 }) }).serialize(),
}));
const nack = fc.record({ senderSsrc: u32, mediaSourceSsrc: u32, lost: fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 40 }) }).map((p) => ({
  werift: new RtcpTransportLayerFeedback({ feedback: new GenericNack({ ...p, lost: [...p.lost].sort((a, b) => a - b) }) }).serialize(),
}));
const pli = fc.record({ senderSsrc: u32, mediaSsrc: u32 }).map((p) => ({ werift: new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication(p) }).serialize() }));
const remb = fc.record({ senderSsrc: u32, ssrc: u32 }).map((p) => ({
  werift: new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: p.senderSsrc, mediaSsrc: 0, brExp: 3, brMantissa: 1000, ssrcFeedbacks: [p.ssrc] }),
  }).serialize(),
}));
const sdes = u32.map((ssrc) => ({
  werift: new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: ssrc, items: [new SourceDescriptionItem({ type: 1, text: 'viewer@drake' })] })] }).serialize(),
}));
const compound = fc.array(fc.oneof(rr, sr, nack, pli, remb, sdes), { minLength: 1, maxLength: 6 }).map((parts) => Buffer.concat(parts.map((p) => p.werift)));

/** RFC 5104 FIR with one entry per ssrc (werift has no FIR serializer). */
function fir(sender: number, ssrcs: number[]): Buffer {
  const b = Buffer.alloc(12 + 8 * ssrcs.length);
  b[0] = 0x80 | 4;
  b[1] = 206;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(sender, 4);
  ssrcs.forEach((s, i) => {
    b.writeUInt32BE(s, 12 + 8 * i);
    b[16 + 8 * i] = i;
  });
  return b;
}

describe('rtcpReader', () => {
  test('reads what werift decodes: report blocks, every NACKed seq, PLI', () => {
    fc.assert(
      fc.property(compound, (buf) => {
        const { n, events } = collect(buf);
        assert.ok(n >= 1);
        assert.deepEqual(events, expected(buf));
      }),
      { numRuns: 400 },
    );
  });

  test('FIR entries each ask their SSRC for a keyframe; padding is not read as content', () => {
    const { n, events } = collect(Buffer.concat([new RtcpRrPacket({ ssrc: 1 }).serialize(), fir(1, [0xaabbccdd, 42])]));
    assert.equal(n, 2);
    assert.deepEqual(events, [
      ['key', 0xaabbccdd],
      ['key', 42],
    ]);
    // A NACK with 4 bytes of padding (P set, last byte = 4): one FCI read, not two.
    const padded = Buffer.alloc(20);
    padded[0] = 0x80 | 0x20 | 1;
    padded[1] = 205;
    padded.writeUInt16BE(4, 2);
    padded.writeUInt32BE(7, 8);
    padded.writeUInt16BE(100, 12);
    padded[19] = 4;
    assert.deepEqual(collect(padded).events, [['nack', 7, 100]]);
  });

  test('truncated, lying or random input: -1 or a count, never a throw or a read past len', () => {
    const good = Buffer.concat([new RtcpRrPacket({ ssrc: 1, reports: [new RtcpReceiverInfo({ ssrc: 2, fractionLost: 1, packetsLost: 0, highestSequence: 0, jitter: 0, lsr: 0, dlsr: 0 })] }).serialize(), fir(1, [3])]);
    for (let len = 0; len < good.length; len++) {
      // Bytes past `len` are garbage a reader must not look at.
      const buf = Buffer.concat([good.subarray(0, len), Buffer.alloc(64, 0xff)]);
      const { n } = collect(buf, len);
      assert.ok(len === 0 ? n === 0 : n === -1 || n === 1, `len ${len}: ${n}`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const { n } = collect(buf);
        assert.ok(n >= -1);
      }),
      { numRuns: 2000 },
    );
  });

  test('looksLikeRtcp tells RTCP from RTP, STUN and DTLS on one port', () => {
    assert.equal(looksLikeRtcp(new RtcpRrPacket({ ssrc: 1 }).serialize()), true);
    assert.equal(looksLikeRtcp(Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])), false); // RTP PT 96
    assert.equal(looksLikeRtcp(Buffer.from([0x80, 0xe0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])), false); // RTP PT 96 + marker
    assert.equal(looksLikeRtcp(Buffer.from([0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42])), false); // STUN
    assert.equal(looksLikeRtcp(Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0])), false); // DTLS
  });
});
