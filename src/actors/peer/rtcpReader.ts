// Reads a viewer's plaintext compound RTCP in place, for the shared port's receive fast path: werift
// builds objects for every packet (a header, a report list, a NACK's lost[] array) and routes them
// through its event emitters; a libwebrtc viewer sends several of these per second, and most of it
// (SDES, REMB, reports about the audio) is of no use to a send-only server. This walks the bytes and
// calls the sink for the three things drake acts on. Nothing is allocated.
//
// Bounds: every length is checked against `len` before a field is read, so a malformed or hostile
// packet ends the walk (returns -1) instead of reading past it.

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_RTPFB = 205;
export const RTCP_PSFB = 206;
const FMT_NACK = 1;
const FMT_PLI = 1;
const FMT_FIR = 4;
const REPORT_BLOCK = 24;
const SENDER_INFO = 20;

export interface RtcpSink {
  /** A reception report block about `ssrc` (SR or RR): fraction lost (0–255), LSR and DLSR (NTP short). */
  report(ssrc: number, fractionLost: number, lsr: number, dlsr: number): void;
  /**
   * A generic NACK (RFC 4585 §6.2.1): its FCI entries are the 4-byte words in buf[from, end), each a
   * packet id and the bitmask of the 16 after it (read them with forEachNacked).
   */
  nack(mediaSsrc: number, buf: Buffer, from: number, end: number): void;
  /** PLI, or one FIR entry (RFC 5104 §4.3.1), asking `mediaSsrc` for a keyframe. */
  keyframeRequest(mediaSsrc: number): void;
}

/** true for the first two bytes of RTCP on a port shared with RTP, STUN and DTLS (RFC 5761 §4, RFC 7983). */
export function looksLikeRtcp(data: Uint8Array): boolean {
  return data.length >= 8 && (data[0]! & 0xc0) === 0x80 && data[1]! >= 192 && data[1]! <= 223;
}

/** Walks the packets of `buf[0, len)`; returns how many it read, or -1 at the first malformed one. */
export function readRtcp(buf: Buffer, len: number, sink: RtcpSink): number {
  let at = 0;
  let packets = 0;
  while (at < len) {
    if (at + 4 > len) return -1;
    const b0 = buf[at]!;
    if ((b0 & 0xc0) !== 0x80) return -1;
    const count = b0 & 0x1f;
    const type = buf[at + 1]!;
    const size = (buf.readUInt16BE(at + 2) + 1) * 4;
    if (at + size > len) return -1;
    // With P set the last byte counts padding octets inside `size` (RFC 3550 §6.4.1).
    const end = b0 & 0x20 ? at + size - buf[at + size - 1]! : at + size;
    if (end < at + 4) return -1;
    switch (type) {
      case RTCP_SR:
        readReports(buf, at + 8 + SENDER_INFO, end, count, sink);
        break;
      case RTCP_RR:
        readReports(buf, at + 8, end, count, sink);
        break;
      case RTCP_RTPFB:
        if (count === FMT_NACK && end >= at + 16) sink.nack(buf.readUInt32BE(at + 8), buf, at + 12, at + 12 + ((end - at - 12) & ~3));
        break;
      case RTCP_PSFB:
        if (count === FMT_PLI && end >= at + 12) sink.keyframeRequest(buf.readUInt32BE(at + 8));
        else if (count === FMT_FIR) for (let f = at + 12; f + 8 <= end; f += 8) sink.keyframeRequest(buf.readUInt32BE(f));
        break;
      default:
        // SDES, BYE, APP, XR, REMB (PSFB 15), transport-cc: nothing drake uses.
        break;
    }
    at += size;
    packets++;
  }
  return packets;
}

function readReports(buf: Buffer, from: number, end: number, count: number, sink: RtcpSink): void {
  for (let i = 0, b = from; i < count && b + REPORT_BLOCK <= end; i++, b += REPORT_BLOCK) {
    sink.report(buf.readUInt32BE(b), buf[b + 4]!, buf.readUInt32BE(b + 16), buf.readUInt32BE(b + 20));
  }
}

/** Calls `fn` with each sequence number a NACK's FCI words in buf[from, end) ask for, in order. */
export function forEachNacked(buf: Buffer, from: number, end: number, fn: (seq: number) => void): void {
  for (let f = from; f + 4 <= end; f += 4) {
    const pid = buf.readUInt16BE(f);
    const blp = buf.readUInt16BE(f + 2);
    fn(pid);
    for (let i = 0; i < 16; i++) if (blp & (1 << i)) fn((pid + i + 1) & 0xffff);
  }
}
