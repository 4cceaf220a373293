// The frame one node sends another for each RTP packet of a relayed stream (owner → edge, UDP):
//   0..1  'D' 'R'            marks a relay frame
//   2     version (1)
//   3     kind: 0 video, 1 audio
//   4..11 float64 BE: when the packet reached the owner (Unix ms, fractional): the edge's latency
//         figures then span owner ingest → edge viewer hand-off (same clock, or NTP-synced machines)
//   12..19 the relay's token (8 random bytes the edge chose when it asked for the relay)
//   20..  the RTP packet as the owner's ring holds it (SPS/PPS already injected)
// The token makes a stray or forged datagram to the edge's relay port harmless: it is dropped, never
// spliced into the viewers' stream.
export const RELAY_HEADER = 20;
export const RELAY_TOKEN_BYTES = 8;
const VERSION = 1;

export function writeRelayHeader(out: Buffer, kind: 'video' | 'audio', stampMs: number, token: Buffer): void {
  out[0] = 0x44;
  out[1] = 0x52;
  out[2] = VERSION;
  out[3] = kind === 'video' ? 0 : 1;
  out.writeDoubleBE(stampMs, 4);
  token.copy(out, 12, 0, RELAY_TOKEN_BYTES);
}

/** 0 video, 1 audio, -1 not a frame of this relay (wrong magic, version or token, or too short). */
export function relayKind(frame: Buffer, token: Buffer): number {
  if (frame.length < RELAY_HEADER + 12 || frame[0] !== 0x44 || frame[1] !== 0x52 || frame[2] !== VERSION) return -1;
  if (frame.compare(token, 0, RELAY_TOKEN_BYTES, 12, 20) !== 0) return -1;
  const k = frame[3]!;
  return k === 0 || k === 1 ? k : -1;
}

export function relayStamp(frame: Buffer): number {
  return frame.readDoubleBE(4);
}
