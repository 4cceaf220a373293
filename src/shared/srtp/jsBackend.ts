// Pure-JS SRTP + SRTCP (node:crypto), the fallback when the native addon is missing or DRAKE_SRTP=js.
// Same API, byte-identical output and the same SRTCP replay rules (window, slots, eviction) as the addon. Node's crypto has no reusable counter-mode/GCM context
// for a new IV, so every packet creates one cipher (and one HMAC for CM) object: ≈ 5–7 µs per packet
// (reference/srtp-limit.md), versus ≈ 1 µs in the addon.
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import {
  HEADER_SLOT,
  RUN_PARAM,
  RUN_PARAMS,
  MAX_TAG,
  SALT_LENGTH,
  SRTCP_ERROR,
  SRTCP_OVERHEAD,
  SRTCP_REPLAY_WINDOW,
  SRTCP_RX_SLOTS,
  TAG_LENGTH,
  type SrtpBackend,
  type SrtpContext,
  type SrtpProfile,
} from './types.ts';

interface SsrcState {
  roc: number;
  /** s_l: highest sequence number sent so far (with roc). */
  seq: number;
}

class JsContext {
  readonly profile: SrtpProfile;
  readonly tagLength: number;
  readonly key: Buffer;
  /** 14 bytes; GCM uses the first 12. */
  readonly salt: Buffer;
  /** 20 bytes, CM only. */
  readonly authKey: Buffer;
  readonly states = new Map<number, SsrcState>();
  readonly iv: Buffer;
  readonly roc4 = Buffer.alloc(4);
  // SRTCP (KDF labels 3, 4, 5)
  readonly rtcpKey: Buffer;
  readonly rtcpSalt: Buffer;
  readonly rtcpAuthKey: Buffer;
  /** Last SRTCP index sent, per sender SSRC. */
  readonly rtcpTx = new Map<number, number>();
  readonly rtcpRx: RxSlot[] = Array.from({ length: SRTCP_RX_SLOTS }, () => new RxSlot());
  rtcpTick = 0;
  readonly trailer = Buffer.alloc(4);

  constructor(profile: SrtpProfile, masterKey: Buffer, masterSalt: Buffer) {
    this.profile = profile;
    this.tagLength = TAG_LENGTH[profile];
    const salt14 = Buffer.alloc(14);
    masterSalt.copy(salt14);
    const cm = profile === 'AES_CM_128_HMAC_SHA1_80';
    this.key = kdf(masterKey, salt14, 0x00, 16);
    this.salt = kdf(masterKey, salt14, 0x02, 14);
    this.authKey = cm ? kdf(masterKey, salt14, 0x01, 20) : Buffer.alloc(0);
    this.rtcpKey = kdf(masterKey, salt14, 0x03, 16);
    this.rtcpSalt = kdf(masterKey, salt14, 0x05, 14);
    this.rtcpAuthKey = cm ? kdf(masterKey, salt14, 0x04, 20) : Buffer.alloc(0);
    this.iv = Buffer.alloc(cm ? 16 : 12);
  }
}

/** One sender SSRC's SRTCP replay window (see replay_check/replay_accept in native/srtp/srtp.c). */
class RxSlot {
  /** Bit (i mod WINDOW): index i accepted, for i in (highest − WINDOW, highest]. */
  readonly seen = new Uint32Array(SRTCP_REPLAY_WINDOW / 32);
  /** rtcpTick when this slot last accepted a packet; 0: free. */
  lastUsed = 0;
  ssrc = 0;
  highest = 0;
}

const INDEX_MASK = 0x7fffffff;
const HALF = 0x40000000;

/**
 * RFC 3711 §4.3.1 key derivation with key_derivation_rate 0: AES-CM keystream of the master key with
 * IV = ((label << 48) XOR master_salt) · 2^16. A 96-bit GCM master salt is zero-padded at the end to 112 bits
 * (as libsrtp and werift do).
 */
export function kdf(masterKey: Buffer, masterSalt14: Buffer, label: number, length: number): Buffer {
  const out = Buffer.alloc(Math.ceil(length / 16) * 16);
  const block = Buffer.alloc(16);
  masterSalt14.copy(block, 0, 0, 14);
  block[7]! ^= label;
  for (let i = 0; i * 16 < length; i++) {
    block.writeUInt16BE(i, 14);
    const c = createCipheriv('aes-128-ecb', masterKey, null);
    c.setAutoPadding(false);
    c.update(block).copy(out, i * 16);
    c.final();
  }
  return out.subarray(0, length);
}

/** Sender-side ROC (RFC 3711 §3.3.1); the same rule as the addon's roc_for(), see native/srtp/srtp.c. */
function rocFor(states: Map<number, SsrcState>, ssrc: number, seq: number): number {
  const s = states.get(ssrc);
  if (s === undefined) {
    states.set(ssrc, { roc: 0, seq });
    return 0;
  }
  const roc = s.roc;
  let v = roc;
  if (s.seq < 32768) {
    if (seq - s.seq > 32768) {
      if (roc === 0) return 0;
      v = roc - 1;
    }
  } else if (s.seq - 32768 > seq) {
    v = roc + 1;
  }
  if (v > roc || (v === roc && seq > s.seq)) {
    s.roc = v;
    s.seq = seq;
  }
  return v;
}

function headerLength(pkt: Buffer, len: number): number {
  if (len < 12 || pkt[0]! >> 6 !== 2) return -1;
  let hl = 12 + 4 * (pkt[0]! & 0x0f);
  if (pkt[0]! & 0x10) {
    if (hl + 4 > len) return -1;
    hl += 4 + 4 * pkt.readUInt16BE(hl + 2);
  }
  return hl > len ? -1 : hl;
}

function asJs(ctx: SrtpContext): JsContext {
  if (!(ctx instanceof JsContext)) throw new TypeError('ctx is not an SRTP context of the js backend');
  return ctx;
}

/** Header (hl bytes) already in dst at dstOff; payload read from src[srcOff, srcOff+plen). */
function protectCore(c: JsContext, dst: Buffer, dstOff: number, hl: number, src: Buffer, srcOff: number, plen: number): void {
  const seq = dst.readUInt16BE(dstOff + 2);
  const ssrc = dst.readUInt32BE(dstOff + 8);
  const roc = rocFor(c.states, ssrc, seq);
  const iv = c.iv;
  const payload = src.subarray(srcOff, srcOff + plen);
  const body = dstOff + hl;
  if (c.profile === 'AES_CM_128_HMAC_SHA1_80') {
    c.salt.copy(iv, 0, 0, 14);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
    const enc = createCipheriv('aes-128-ctr', c.key, iv).update(payload);
    enc.copy(dst, body);
    c.roc4.writeUInt32BE(roc >>> 0, 0);
    const tag = createHmac('sha1', c.authKey)
      .update(dst.subarray(dstOff, body + plen))
      .update(c.roc4)
      .digest();
    tag.copy(dst, body + plen, 0, 10);
    return;
  }
  c.salt.copy(iv, 0, 0, 12);
  iv.writeUInt32BE((iv.readUInt32BE(2) ^ ssrc) >>> 0, 2);
  iv.writeUInt32BE((iv.readUInt32BE(6) ^ roc) >>> 0, 6);
  iv.writeUInt16BE(iv.readUInt16BE(10) ^ seq, 10);
  const cipher = createCipheriv('aes-128-gcm', c.key, iv);
  cipher.setAAD(dst.subarray(dstOff, body));
  const enc = cipher.update(payload);
  cipher.final();
  enc.copy(dst, body);
  cipher.getAuthTag().copy(dst, body + plen);
}

// ------------------------------------------------------------------------------------------ SRTCP

function windowBit(s: RxSlot, index: number): boolean {
  const b = index % SRTCP_REPLAY_WINDOW;
  return ((s.seen[b >>> 5]! >>> (b & 31)) & 1) === 1;
}

function replayCheck(s: RxSlot, index: number): number {
  const ahead = (index - s.highest) & INDEX_MASK;
  if (ahead === 0) return SRTCP_ERROR.REPLAYED;
  if (ahead < HALF) return 0;
  if (((s.highest - index) & INDEX_MASK) >= SRTCP_REPLAY_WINDOW) return SRTCP_ERROR.TOO_OLD;
  return windowBit(s, index) ? SRTCP_ERROR.REPLAYED : 0;
}

function replayAccept(c: JsContext, found: RxSlot | undefined, ssrc: number, index: number): void {
  let s = found;
  if (s === undefined) {
    s = c.rtcpRx[0]!;
    for (let i = 1; i < SRTCP_RX_SLOTS && s.lastUsed !== 0; i++) if (c.rtcpRx[i]!.lastUsed < s.lastUsed) s = c.rtcpRx[i]!;
    s.seen.fill(0);
    s.ssrc = ssrc;
    s.highest = index;
  }
  const ahead = (index - s.highest) & INDEX_MASK;
  if (ahead !== 0 && ahead < HALF) {
    if (ahead >= SRTCP_REPLAY_WINDOW) s.seen.fill(0);
    else {
      for (let k = 1; k <= ahead; k++) {
        const b = (s.highest + k) % SRTCP_REPLAY_WINDOW;
        s.seen[b >>> 5]! &= ~(1 << (b & 31));
      }
    }
    s.highest = index;
  }
  const b = index % SRTCP_REPLAY_WINDOW;
  s.seen[b >>> 5]! |= 1 << (b & 31);
  s.lastUsed = ++c.rtcpTick;
}

/** CM: (k_s · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16); GCM: (0x0000 || SSRC || 0x0000 || index) XOR salt[0..12]. */
function rtcpIv(c: JsContext, ssrc: number, index: number): Buffer {
  const iv = c.iv;
  if (c.profile === 'AES_CM_128_HMAC_SHA1_80') {
    c.rtcpSalt.copy(iv, 0, 0, 14);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(10) ^ index) >>> 0, 10);
    return iv;
  }
  c.rtcpSalt.copy(iv, 0, 0, 12);
  iv.writeUInt32BE((iv.readUInt32BE(2) ^ ssrc) >>> 0, 2);
  iv.writeUInt32BE((iv.readUInt32BE(8) ^ index) >>> 0, 8);
  return iv;
}

function rtcpHmac(c: JsContext, data: Buffer): Buffer {
  return createHmac('sha1', c.rtcpAuthKey).update(data).digest();
}

function checkBuffers(packet: Buffer, out: Buffer): void {
  if (!Buffer.isBuffer(packet) || !Buffer.isBuffer(out)) throw new TypeError('packet and out must be Buffers');
}

function unprotectRtcp(c: JsContext, packet: Buffer, out: Buffer): number {
  const len = packet.length;
  const tag = c.tagLength;
  if (len < 8 + 4 + tag || packet[0]! >> 6 !== 2) return SRTCP_ERROR.MALFORMED;
  const plain = len - 4 - tag;
  if (out.length < plain) return SRTCP_ERROR.OUT_TOO_SMALL;
  const cm = c.profile === 'AES_CM_128_HMAC_SHA1_80';
  const at = cm ? plain : len - 4;
  const word = packet.readUInt32BE(at);
  const encrypted = word >>> 31 === 1;
  const index = word & INDEX_MASK;
  const ssrc = packet.readUInt32BE(4);
  let slot: RxSlot | undefined;
  for (const s of c.rtcpRx) {
    if (s.lastUsed !== 0 && s.ssrc === ssrc) {
      slot = s;
      break;
    }
  }
  if (slot !== undefined) {
    const r = replayCheck(slot, index);
    if (r !== 0) return r;
  }
  if (cm) {
    const want = rtcpHmac(c, packet.subarray(0, len - tag));
    if (!timingSafeEqual(want.subarray(0, tag), packet.subarray(len - tag, len))) return SRTCP_ERROR.AUTH_FAILED;
    if (encrypted) {
      const dec = createCipheriv('aes-128-ctr', c.rtcpKey, rtcpIv(c, ssrc, index)).update(packet.subarray(8, plain));
      if (out !== packet) packet.copy(out, 0, 0, 8);
      dec.copy(out, 8);
    } else if (out !== packet) {
      packet.copy(out, 0, 0, plain);
    }
  } else {
    const d = createDecipheriv('aes-128-gcm', c.rtcpKey, rtcpIv(c, ssrc, index));
    d.setAAD(packet.subarray(0, encrypted ? 8 : plain));
    d.setAAD(packet.subarray(at, len));
    d.setAuthTag(packet.subarray(plain, plain + 16));
    const dec = encrypted ? d.update(packet.subarray(8, plain)) : null;
    try {
      d.final();
    } catch {
      return SRTCP_ERROR.AUTH_FAILED;
    }
    if (dec !== null) {
      if (out !== packet) packet.copy(out, 0, 0, 8);
      dec.copy(out, 8);
    } else if (out !== packet) {
      packet.copy(out, 0, 0, plain);
    }
  }
  replayAccept(c, slot, ssrc, index);
  return plain;
}

export const jsBackend: SrtpBackend = {
  name: 'js',

  createContext(profile, masterKey, masterSalt, ssrc) {
    if (TAG_LENGTH[profile] === undefined) throw new TypeError(`unknown SRTP profile ${String(profile)}`);
    if (!Buffer.isBuffer(masterKey) || masterKey.length !== 16) throw new TypeError('masterKey must be a 16-byte Buffer');
    if (!Buffer.isBuffer(masterSalt) || masterSalt.length !== SALT_LENGTH[profile]) {
      throw new TypeError(`masterSalt must be a ${SALT_LENGTH[profile]}-byte Buffer`);
    }
    const c = new JsContext(profile, masterKey, masterSalt);
    if (ssrc !== undefined) {
      if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffffffff) throw new TypeError('ssrc must be a uint32');
    }
    return c as unknown as SrtpContext;
  },

  protect(ctx, packet, out) {
    const c = asJs(ctx);
    const len = packet.length;
    const hl = headerLength(packet, len);
    if (hl < 0) throw new RangeError('not an RTP v2 packet (or truncated header)');
    if (out.length < len + c.tagLength) throw new RangeError('out is too small for packet + auth tag');
    if (out !== packet) packet.copy(out, 0, 0, hl);
    protectCore(c, out, 0, hl, packet, hl, len - hl);
    return len + c.tagLength;
  },

  protectBatch(ctxs, src, headers, out, stride, lengths, count) {
    if (count !== undefined && count > ctxs.length) throw new RangeError('count exceeds ctxs.length');
    const k = count ?? ctxs.length;
    const len = src.length;
    const hl = headerLength(src, len);
    if (hl < 0) throw new RangeError('src is not an RTP v2 packet (or truncated header)');
    if (stride < len + MAX_TAG) throw new RangeError('stride must be at least src.length + 16');
    if (headers.length < k * HEADER_SLOT) throw new RangeError('headers must hold ctxs.length × 12 bytes');
    if (out.length < k * stride) throw new RangeError('out must hold ctxs.length × stride bytes');
    if (lengths.length < k) throw new RangeError('lengths must hold ctxs.length entries');
    const cs: JsContext[] = [];
    for (let i = 0; i < k; i++) cs.push(asJs(ctxs[i]!));
    for (let i = 0; i < k; i++) {
      const c = cs[i]!;
      const off = i * stride;
      src.copy(out, off, 0, hl);
      headers.copy(out, off + 1, i * HEADER_SLOT + 1, (i + 1) * HEADER_SLOT);
      protectCore(c, out, off, hl, src, hl, len - hl);
      lengths[i] = len + c.tagLength;
    }
    return k;
  },

  protectInto(ctx, src, header, out, slot, stride, lengths) {
    const c = asJs(ctx);
    const len = src.length;
    const hl = headerLength(src, len);
    if (hl < 0) throw new RangeError('src is not an RTP v2 packet (or truncated header)');
    if (header.length < HEADER_SLOT) throw new RangeError('header must hold 12 bytes');
    if (stride < len + c.tagLength) throw new RangeError('stride must be at least src.length + tag');
    if (!Number.isInteger(slot) || slot < 0 || slot >= lengths.length || (slot + 1) * stride > out.length) throw new RangeError('slot is beyond out or lengths');
    const off = slot * stride;
    src.copy(out, off, 0, hl);
    header.copy(out, off + 1, 1, HEADER_SLOT);
    protectCore(c, out, off, hl, src, hl, len - hl);
    return (lengths[slot] = len + c.tagLength);
  },

  protectRun(ctx, stage, offsets, lens, kinds, count, mask, params, out, slot, stride, lengths) {
    const c = asJs(ctx);
    if (!Number.isInteger(count) || count < 0 || count > offsets.length || count > lens.length || count > kinds.length) throw new RangeError('count exceeds offsets, lens or kinds');
    if (params.length < RUN_PARAMS) throw new RangeError('params must hold 6 values');
    if (stage.buffer === out.buffer && stage.byteOffset < out.byteOffset + out.length && out.byteOffset < stage.byteOffset + stage.length) throw new RangeError('out must not overlap stage');
    let k = 0;
    for (let i = 0; i < count; i++) {
      if (!(mask & (1 << (kinds[i]! & 1)))) continue;
      if (offsets[i]! + lens[i]! > stage.length) throw new RangeError('a staged packet lies beyond stage');
      if (stride < lens[i]! + c.tagLength) throw new RangeError("stride must be at least a packet's length + tag");
      k++;
    }
    if (!Number.isInteger(slot) || slot < 0 || slot + k > lengths.length || (slot + k) * stride > out.length) throw new RangeError('the run does not fit out or lengths');
    let at = slot;
    for (let kind = 0; kind < 2; kind++) {
      if (!(mask & (1 << kind))) continue;
      let seq = params[kind]! & 0xffff;
      for (let i = 0; i < count; i++) {
        if ((kinds[i]! & 1) !== kind) continue;
        const from = offsets[i]!;
        const len = lens[i]!;
        const src = stage.subarray(from, from + len);
        const hl = headerLength(src, len);
        if (hl < 0) continue;
        const off = at * stride;
        src.copy(out, off, 0, hl);
        out[off + 1] = (src[1]! & 0x80) | (params[RUN_PARAM.VIDEO_PT + kind]! & 0x7f);
        out.writeUInt16BE(seq, off + 2);
        out.writeUInt32BE(params[RUN_PARAM.VIDEO_SSRC + kind]! >>> 0, off + 8);
        protectCore(c, out, off, hl, src, hl, len - hl);
        lengths[at++] = len + c.tagLength;
        seq = (seq + 1) & 0xffff;
      }
      params[kind] = seq;
    }
    return at - slot;
  },

  protectRtcp(ctx, packet, out) {
    const c = asJs(ctx);
    checkBuffers(packet, out);
    const len = packet.length;
    if (len < 8 || packet[0]! >> 6 !== 2) throw new RangeError('not an RTCP v2 packet (or shorter than 8 bytes)');
    const total = len + SRTCP_OVERHEAD[c.profile];
    if (out.length < total) throw new RangeError('out is too small for packet + SRTCP index + auth tag');
    const ssrc = packet.readUInt32BE(4);
    let index = (c.rtcpTx.get(ssrc) ?? 0) + 1;
    if (index > INDEX_MASK) index = 0;
    const trailer = c.trailer;
    trailer.writeUInt32BE((0x80000000 | index) >>> 0, 0);
    const iv = rtcpIv(c, ssrc, index);
    if (c.profile === 'AES_CM_128_HMAC_SHA1_80') {
      const enc = createCipheriv('aes-128-ctr', c.rtcpKey, iv).update(packet.subarray(8, len));
      if (out !== packet) packet.copy(out, 0, 0, 8);
      enc.copy(out, 8);
      trailer.copy(out, len);
      rtcpHmac(c, out.subarray(0, len + 4)).copy(out, len + 4, 0, 10);
    } else {
      const cipher = createCipheriv('aes-128-gcm', c.rtcpKey, iv);
      cipher.setAAD(packet.subarray(0, 8));
      cipher.setAAD(trailer);
      const enc = cipher.update(packet.subarray(8, len));
      cipher.final();
      if (out !== packet) packet.copy(out, 0, 0, 8);
      enc.copy(out, 8);
      cipher.getAuthTag().copy(out, len);
      trailer.copy(out, len + 16);
    }
    c.rtcpTx.set(ssrc, index);
    return total;
  },

  unprotectRtcp(ctx, packet, out) {
    const c = asJs(ctx);
    checkBuffers(packet, out);
    return unprotectRtcp(c, packet, out);
  },

  setRtcpIndex(ctx, ssrc, index) {
    const c = asJs(ctx);
    if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffffffff) throw new TypeError('ssrc must be a uint32');
    if (!Number.isInteger(index) || index < 0) throw new TypeError('index must be a uint32');
    if (index > INDEX_MASK) throw new RangeError('index must be below 2^31');
    c.rtcpTx.set(ssrc, index);
  },
};
