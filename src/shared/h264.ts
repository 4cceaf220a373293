// Pure helpers over one RTP packet carrying H264 (RFC 3550 header, RFC 6184 payload, packetization-mode 1:
// single NAL units, STAP-A, FU-A). Every function is total: a short, truncated or otherwise malformed
// packet never throws; it reads as "no payload" (-1) / "not a keyframe" ([] / empty parameter sets).
//
// What FFmpeg's RTP muxer (libavformat rtpenc_h264) actually sends, checked with FFmpeg 5.1 + libx264:
// - SPS and PPS go in-band before every IDR, aggregated into one STAP-A (the first one also carries x264's
//   SEI) with the IDR's RTP timestamp and the marker bit clear; the IDR itself follows in FU-As.
// - With `-tune zerolatency` x264 uses sliced threads, so one picture is several slices: an IDR access
//   unit holds several FU-A runs that each START an IDR NAL unit, and small P frames arrive as one STAP-A
//   of several slices (type 1). The marker bit is set only on the last packet of the access unit.

export const NAL = { IDR: 5, SEI: 6, SPS: 7, PPS: 8, AUD: 9, STAP_A: 24, FU_A: 28 } as const;

const RTP_HEADER = 12;

function isBytes(pkt: unknown): pkt is Buffer {
  return pkt instanceof Uint8Array;
}

function headerOk(pkt: Buffer): boolean {
  return isBytes(pkt) && pkt.length >= RTP_HEADER && pkt[0]! >> 6 === 2;
}

/** Offset of the header's end (CSRCs and extension skipped), without looking at padding; -1 when malformed. */
export function rtpHeaderEnd(pkt: Buffer): number {
  if (!headerOk(pkt)) return -1;
  let off = RTP_HEADER + 4 * (pkt[0]! & 0x0f);
  if (pkt[0]! & 0x10) {
    if (off + 4 > pkt.length) return -1;
    off += 4 + 4 * ((pkt[off + 2]! << 8) | pkt[off + 3]!);
  }
  return off <= pkt.length ? off : -1;
}

/** End of the payload (padding excluded) given a valid header end; -1 when the padding is malformed. */
function payloadEnd(pkt: Buffer, off: number): number {
  if (off < 0) return -1;
  let end = pkt.length;
  if (pkt[0]! & 0x20) {
    const pad = end > 0 ? pkt[end - 1]! : 0;
    if (pad === 0) return -1; // the padding count includes itself, so it is at least 1
    end -= pad;
  }
  return end >= off ? end : -1;
}

/** Where the payload starts: after the 12-byte header, the CSRCs and the header extension. -1 when malformed/too short. */
export function rtpPayloadOffset(pkt: Buffer): number {
  const off = rtpHeaderEnd(pkt);
  return payloadEnd(pkt, off) < 0 ? -1 : off;
}

/** Where the payload ends (exclusive), padding excluded. -1 when malformed. */
export function rtpPayloadEnd(pkt: Buffer): number {
  return payloadEnd(pkt, rtpHeaderEnd(pkt));
}

/** Sequence number (0..65535), -1 when the header is malformed. */
export function rtpSeq(pkt: Buffer): number {
  return headerOk(pkt) ? (pkt[2]! << 8) | pkt[3]! : -1;
}

/** RTP timestamp (unsigned 32-bit), -1 when the header is malformed. */
export function rtpTimestamp(pkt: Buffer): number {
  return headerOk(pkt) ? pkt[4]! * 0x1000000 + ((pkt[5]! << 16) | (pkt[6]! << 8) | pkt[7]!) : -1;
}

/** Marker bit; false when the header is malformed. */
export function rtpMarker(pkt: Buffer): boolean {
  return headerOk(pkt) && (pkt[1]! & 0x80) !== 0;
}

/** Payload type (0..127), -1 when the header is malformed. */
export function rtpPayloadType(pkt: Buffer): number {
  return headerOk(pkt) ? pkt[1]! & 0x7f : -1;
}

/**
 * Bit set of the NAL unit types that START in this packet (bit `1 << type`), 0 when none or malformed.
 * Allocation-free twin of {@link h264NalTypesStarting}, for per-packet paths.
 */
export function h264NalTypeMask(pkt: Buffer): number {
  const off = rtpHeaderEnd(pkt);
  const end = payloadEnd(pkt, off);
  if (end < 0 || end - off < 1) return 0;
  const type = pkt[off]! & 0x1f;
  if (type >= 1 && type <= 23) return 1 << type;
  if (type === NAL.STAP_A) {
    let mask = 0;
    let o = off + 1;
    while (o < end) {
      if (o + 2 > end) return 0;
      const size = (pkt[o]! << 8) | pkt[o + 1]!;
      o += 2;
      if (size === 0 || o + size > end) return 0; // truncated or garbage aggregate: trust none of it
      const inner = pkt[o]! & 0x1f;
      if (inner >= 1 && inner <= 23) mask |= 1 << inner;
      o += size;
    }
    return mask;
  }
  if (type === NAL.FU_A) {
    if (end - off < 2) return 0;
    const fu = pkt[off + 1]!;
    if ((fu & 0xc0) === 0xc0) return 0; // S and E both set is forbidden (RFC 6184 5.8)
    const inner = fu & 0x1f;
    return fu & 0x80 && inner >= 1 && inner <= 23 ? 1 << inner : 0;
  }
  return 0; // 0, STAP-B, MTAP16/24, FU-B, reserved: not used in packetization-mode 1
}

/** NAL unit types that START in this packet: single NAL → [type]; STAP-A → every aggregated type; FU-A → [inner type] only when the S bit is set, else []. */
export function h264NalTypesStarting(pkt: Buffer): number[] {
  const off = rtpHeaderEnd(pkt);
  const end = payloadEnd(pkt, off);
  if (end < 0 || end - off < 1) return [];
  if ((pkt[off]! & 0x1f) === NAL.STAP_A) {
    if (h264NalTypeMask(pkt) === 0) return [];
    const out: number[] = [];
    for (let o = off + 1; o + 2 < end; ) {
      const size = (pkt[o]! << 8) | pkt[o + 1]!;
      out.push(pkt[o + 2]! & 0x1f);
      o += 2 + size;
    }
    return out.filter((t) => t >= 1 && t <= 23); // in order, repeats kept
  }
  const mask = h264NalTypeMask(pkt);
  return mask === 0 ? [] : [31 - Math.clz32(mask)];
}

/**
 * A copy in its own ArrayBuffer (never a slice of Node's shared 8 KiB pool), so keeping it pins nothing
 * else and it can be transferred to another thread.
 */
export function ownCopy(src: Uint8Array): Buffer {
  const b = Buffer.allocUnsafeSlow(src.length);
  b.set(src, 0);
  return b;
}

/** Builds an RTP packet carrying one STAP-A with the given NAL units (e.g. SPS and PPS), copying version/PT/SSRC from `template` and using the given seq/timestamp; marker bit clear. */
export function buildStapA(template: Buffer, nalUnits: Buffer[], seq: number, timestamp: number): Buffer {
  const units = Array.isArray(nalUnits) ? nalUnits.filter((u) => isBytes(u) && u.length > 0 && u.length <= 0xffff) : [];
  let size = RTP_HEADER + 1;
  let fnri = 0; // F bit: OR of the units'; NRI: the highest of the units' (RFC 6184 5.7.1)
  for (const u of units) {
    size += 2 + u.length;
    fnri = (fnri & 0x80) | (u[0]! & 0x80) | Math.max(fnri & 0x60, u[0]! & 0x60);
  }
  const pkt = Buffer.allocUnsafeSlow(size);
  const tpl = isBytes(template) ? template : Buffer.alloc(0);
  pkt[0] = 0x80; // version 2, no padding, no extension, no CSRC
  pkt[1] = tpl.length > 1 ? tpl[1]! & 0x7f : 0;
  const s = Number.isFinite(seq) ? Math.trunc(seq) & 0xffff : 0;
  pkt[2] = s >> 8;
  pkt[3] = s & 0xff;
  const ts = Number.isFinite(timestamp) ? Math.trunc(timestamp) >>> 0 : 0;
  pkt.writeUInt32BE(ts, 4);
  for (let i = 0; i < 4; i++) pkt[8 + i] = tpl.length >= RTP_HEADER ? tpl[8 + i]! : 0;
  pkt[RTP_HEADER] = fnri | NAL.STAP_A;
  let o = RTP_HEADER + 1;
  for (const u of units) {
    pkt[o] = u.length >> 8;
    pkt[o + 1] = u.length & 0xff;
    pkt.set(u, o + 2);
    o += 2 + u.length;
  }
  return pkt;
}

/** Extracts complete SPS and PPS NAL units found in a packet (single NAL or STAP-A). Returns copies: they outlive the packet's buffer. */
export function extractParameterSets(pkt: Buffer): { sps: Buffer[]; pps: Buffer[] } {
  const sps: Buffer[] = [];
  const pps: Buffer[] = [];
  const mask = h264NalTypeMask(pkt); // 0 when malformed
  if ((mask & ((1 << NAL.SPS) | (1 << NAL.PPS))) === 0) return { sps, pps };
  const off = rtpHeaderEnd(pkt);
  const end = payloadEnd(pkt, off);
  const keep = (start: number, stop: number): void => {
    const t = pkt[start]! & 0x1f;
    if (t === NAL.SPS) sps.push(ownCopy(pkt.subarray(start, stop)));
    else if (t === NAL.PPS) pps.push(ownCopy(pkt.subarray(start, stop)));
  };
  const type = pkt[off]! & 0x1f;
  if (type === NAL.STAP_A) {
    for (let o = off + 1; o + 2 < end; ) {
      const size = (pkt[o]! << 8) | pkt[o + 1]!;
      keep(o + 2, o + 2 + size);
      o += 2 + size;
    }
  } else if (type !== NAL.FU_A) {
    keep(off, end); // a fragmented SPS/PPS is not complete here
  }
  return { sps, pps };
}
