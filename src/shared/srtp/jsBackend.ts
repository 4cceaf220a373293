// Pure-JS SRTP sender (node:crypto), the fallback when the native addon is missing or DRAKE_SRTP=js.
// Same API and byte-identical output as the addon. Node's crypto has no reusable counter-mode/GCM context
// for a new IV, so every packet creates one cipher (and one HMAC for CM) object: ≈ 5–7 µs per packet
// (reference/srtp-limit.md), versus ≈ 1 µs in the addon.
import { createCipheriv, createHmac } from 'node:crypto';
import { HEADER_SLOT, MAX_TAG, SALT_LENGTH, TAG_LENGTH, type SrtpBackend, type SrtpContext, type SrtpProfile } from './types.ts';

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

  constructor(profile: SrtpProfile, masterKey: Buffer, masterSalt: Buffer) {
    this.profile = profile;
    this.tagLength = TAG_LENGTH[profile];
    const salt14 = Buffer.alloc(14);
    masterSalt.copy(salt14);
    this.key = kdf(masterKey, salt14, 0x00, 16);
    this.salt = kdf(masterKey, salt14, 0x02, 14);
    this.authKey = profile === 'AES_CM_128_HMAC_SHA1_80' ? kdf(masterKey, salt14, 0x01, 20) : Buffer.alloc(0);
    this.iv = Buffer.alloc(profile === 'AES_CM_128_HMAC_SHA1_80' ? 16 : 12);
  }
}

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
};
