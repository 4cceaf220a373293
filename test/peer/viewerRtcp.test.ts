// ViewerRtcp times a viewer's receiver reports by when they reached the port, not by when they were read: with
// paced reads (the default) a report waits in the socket buffer for up to a flush interval, which would
// otherwise add to every round-trip time.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { RtcpReceiverInfo, RtcpRrPacket } from 'werift';
import { ViewerRtcp, type SrClock } from '../../src/actors/peer/ViewerRtcp.ts';
import { createContext, protectRtcp } from '../../src/shared/srtp/index.ts';

test('RTT from a receiver report uses its arrival time; lastAt is the arrival too', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const viewer = createContext('AES_CM_128_HMAC_SHA1_80', key, salt);
  const drake = createContext('AES_CM_128_HMAC_SHA1_80', key, salt);
  // The SR went out 5.040 s ago (on the sender-report clock), the report arrived 10 ms ago (wall clock).
  const sentAt = (performance.timeOrigin + performance.now()) / 1000 - 5.04;
  const clock: SrClock = { ssrc: 0x1234, lastSRtimestamp: 0xabcd0000, lastSentSRTimestamp: sentAt };
  const asks: string[] = [];
  const rtcp = new ViewerRtcp(drake, clock, { keyframeRequest: () => asks.push('key'), nack: () => asks.push('nack') });
  const report = (dlsrSeconds: number) => {
    const rr = new RtcpRrPacket({
      ssrc: 99,
      reports: [new RtcpReceiverInfo({ ssrc: 0x1234, fractionLost: 64, packetsLost: 0, highestSequence: 1, jitter: 0, lsr: 0xabcd0000, dlsr: Math.round(dlsrSeconds * 65536) })],
    }).serialize();
    const out = Buffer.alloc(rr.length + 64);
    return out.subarray(0, protectRtcp(viewer, rr, out));
  };
  // Arrived 5.030 s after the SR with a DLSR of 5 s: 30 ms round trip, though it is read 10 ms later.
  const arrived = Date.now() - 10;
  rtcp.receive(report(5), arrived);
  assert.equal(rtcp.counters.packets, 1);
  assert.ok(Math.abs(rtcp.rttMs - 30) < 1, `rtt ${rtcp.rttMs}`);
  assert.equal(rtcp.lastAt, arrived);
  assert.equal(rtcp.fractionLost, 0.25);
  assert.deepEqual(asks, []);
});
