// The SRTP sender API both backends implement (native addon in native/srtp, pure JS in jsBackend.ts).
// Output of either backend is byte-identical to werift's SrtpSession.encrypt (test/srtp/srtp.test.ts).

export type SrtpProfile = 'AES_CM_128_HMAC_SHA1_80' | 'AEAD_AES_128_GCM';

/** DTLS-SRTP protection profile ids (RFC 5764 / RFC 7714), the numbers werift and the addon use. */
export const PROFILE_ID: Readonly<Record<SrtpProfile, 1 | 7>> = { AES_CM_128_HMAC_SHA1_80: 1, AEAD_AES_128_GCM: 7 };

/** Auth tag bytes each profile appends to a packet. */
export const TAG_LENGTH: Readonly<Record<SrtpProfile, number>> = { AES_CM_128_HMAC_SHA1_80: 10, AEAD_AES_128_GCM: 16 };

/** Master salt bytes each profile takes (the key is 16 bytes for both). */
export const SALT_LENGTH: Readonly<Record<SrtpProfile, number>> = { AES_CM_128_HMAC_SHA1_80: 14, AEAD_AES_128_GCM: 12 };

/** Bytes per viewer in protectBatch's `headers` buffer: the fixed RTP header. */
export const HEADER_SLOT = 12;

/** Bytes per destination in sendBatch's address buffer (room for a struct sockaddr_in6). */
export const ADDRESS_SLOT = 28;

/** Largest auth tag: a batch `stride` of packet length + MAX_TAG always fits. */
export const MAX_TAG = 16;

declare const contextBrand: unique symbol;
/** One sender's SRTP state (session keys, reusable cipher state, ROC per SSRC). Opaque; owned by one thread. */
export type SrtpContext = { readonly [contextBrand]: true };

export interface SrtpBackend {
  readonly name: 'native' | 'js';
  /**
   * Derives the session keys once (RFC 3711 §4.3 KDF, kdr 0; RFC 7714 for GCM) and keeps the cipher state.
   * `ssrc` only pre-registers that SSRC's rollover state; packets of any SSRC can be protected, each SSRC
   * has its own ROC, tracked across the 16-bit sequence wrap.
   */
  createContext(profile: SrtpProfile, masterKey: Buffer, masterSalt: Buffer, ssrc?: number): SrtpContext;
  /**
   * Protects one RTP packet (all of `packet`: pass a subarray for a packet inside a larger buffer) into `out`.
   * In place: `packet = buf.subarray(0, len)` with `out = buf` (same start, room for the tag); other overlaps
   * are undefined. Returns the SRTP length (packet length + tag). The native backend allocates nothing.
   */
  protect(ctx: SrtpContext, packet: Buffer, out: Buffer): number;
  /**
   * Protects ONE source packet for K = ctxs.length viewers in one call. `headers` holds K × 12 bytes: bytes
   * 1..11 of slot i (marker/PT, seq, timestamp, SSRC) become viewer i's fixed header; byte 0 (V, P, X, CC),
   * the CSRCs, the header extension and the payload come from `src`. Viewer i's SRTP packet is written to
   * out[i·stride ..] and its length to lengths[i]. stride ≥ src.length + MAX_TAG. Returns K.
   * `count` (≤ ctxs.length) makes K = count, so a caller can keep one grown array across packets.
   */
  protectBatch(ctxs: readonly SrtpContext[], src: Buffer, headers: Buffer, out: Buffer, stride: number, lengths: Uint32Array, count?: number): number;
}
