// The SRTP API both backends implement (native addon in native/srtp, pure JS in jsBackend.ts): RTP → SRTP
// for the send path, and SRTCP both ways. Output of either backend is byte-identical to werift's
// SrtpSession.encrypt / SrtcpSession.encrypt (test/srtp/srtp.test.ts, test/srtp/srtcp.test.ts).

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

/**
 * sendBatch's counters (a Float64Array of SEND_COUNTERS, added to by every call that gets it): sendmmsg calls,
 * messages, packets, UDP GSO messages, packets that went in GSO messages, GSO refusals (the kernel refused a
 * train, which then went plain).
 */
export const SEND_COUNTER = Object.freeze({ SYSCALLS: 0, MESSAGES: 1, PACKETS: 2, GSO_MESSAGES: 3, GSO_PACKETS: 4, GSO_REFUSED: 5 } as const);
export const SEND_COUNTERS = 6;

/** protectRun's `params` (a Uint32Array of RUN_PARAMS) and its `mask` bits. */
export const RUN_PARAM = Object.freeze({ VIDEO_SEQ: 0, AUDIO_SEQ: 1, VIDEO_SSRC: 2, AUDIO_SSRC: 3, VIDEO_PT: 4, AUDIO_PT: 5 } as const);
export const RUN_PARAMS = 6;
export const RUN_VIDEO = 1;
export const RUN_AUDIO = 2;

/** Largest auth tag: a batch `stride` of packet length + MAX_TAG always fits. */
export const MAX_TAG = 16;

/** SRTCP adds E|index (4 bytes) and the tag to an RTCP packet: protectRtcp's `out` needs packet length + this. */
export const SRTCP_OVERHEAD: Readonly<Record<SrtpProfile, number>> = { AES_CM_128_HMAC_SHA1_80: 14, AEAD_AES_128_GCM: 20 };

/** The larger SRTCP_OVERHEAD. */
export const MAX_SRTCP_OVERHEAD = 20;

/** SRTCP indexes per sender SSRC that unprotectRtcp remembers (a packet further behind is SRTCP_ERROR.TOO_OLD). */
export const SRTCP_REPLAY_WINDOW = 128;

/** Sender SSRCs per context with a replay window; one more evicts the least recently accepted. */
export const SRTCP_RX_SLOTS = 16;

/** unprotectRtcp's negative results (the native addon returns the same numbers). */
export const SRTCP_ERROR = Object.freeze({
  /** Shorter than 8-byte header + E|index + tag, or not RTCP version 2. */
  MALFORMED: -1,
  /** The tag does not match (HMAC-SHA1-80, or GCM). */
  AUTH_FAILED: -2,
  /** This index of this sender SSRC was already accepted. */
  REPLAYED: -3,
  /** SRTCP_REPLAY_WINDOW or more behind the highest index accepted from this sender SSRC. */
  TOO_OLD: -4,
  /** `out` is shorter than the plaintext. */
  OUT_TOO_SMALL: -5,
} as const);
export type SrtcpError = (typeof SRTCP_ERROR)[keyof typeof SRTCP_ERROR];

declare const contextBrand: unique symbol;
/**
 * One DTLS direction's SRTP + SRTCP state: session keys of both (derived once), reusable cipher state, ROC per
 * SSRC (protect), SRTCP index per sender SSRC (protectRtcp), SRTCP replay windows (unprotectRtcp). Make it
 * from DTLS's local key/salt to protect, from the remote ones to unprotect. Opaque; owned by one thread.
 */
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
  /**
   * Protects one (compound) RTCP packet (≥ 8 bytes, version 2; all of `packet`) into `out`: encrypts all after
   * the first 8 bytes, appends E=1|SRTCP index and the tag (RFC 3711 §3.4; RFC 7714 §9 for GCM: tag, then
   * E|index). The index counts per sender SSRC (bytes 4..7) from 1 and wraps 2^31−1 → 0, as werift's
   * SrtcpSession does. Returns packet length + SRTCP_OVERHEAD[profile]. In place as for protect(). Throws
   * (RangeError) on a packet that is not RTCP v2 or an `out` too small: drake's own packets, never peer input.
   */
  /**
   * Protects one packet into slot `slot` of a send batch (bursts, NACK answers: different packets that leave in
   * one sendBatch): src with bytes 1..11 of `header` (M/PT, seq, timestamp, SSRC) as its fixed header, written
   * to out[slot·stride ..]; lengths[slot] = the SRTP length, which is returned. stride ≥ src.length + tag.
   * The native backend allocates nothing.
   */
  protectInto(ctx: SrtpContext, src: Buffer, header: Buffer, out: Buffer, slot: number, stride: number, lengths: Uint32Array): number;
  /**
   * One viewer's share of a live flush in one call (what protectInto does per packet, without a call per
   * packet). Of the `count` staged packets — packet i = stage[offsets[i], +lens[i]], kinds[i] 0 video, 1 audio —
   * those whose kind bit is set in `mask` (1 video, 2 audio): every video packet first, then every audio one,
   * each in staging order, protected into out from slot `slot` on (lengths[slot + j] = SRTP length), each with
   * the viewer's header for its kind from `params` (RUN_PARAM: seq, SSRC and payload type per kind); marker,
   * timestamp, byte 0, CSRCs, extension and payload come from the packet. The seqs count up one per packet
   * sent (mod 2^16) and are written back into params. A staged packet that is not RTP v2 is skipped (no slot,
   * no seq). Everything is checked (RangeError) before anything is written. Returns the slots written.
   */
  protectRun(
    ctx: SrtpContext,
    stage: Buffer,
    offsets: Uint32Array,
    lens: Uint32Array,
    kinds: Uint8Array,
    count: number,
    mask: number,
    params: Uint32Array,
    out: Buffer,
    slot: number,
    stride: number,
    lengths: Uint32Array,
  ): number;
  protectRtcp(ctx: SrtpContext, packet: Buffer, out: Buffer): number;
  /**
   * Authenticates and decrypts one SRTCP packet (all of `packet`, peer input: any bytes) into `out`. Returns
   * the RTCP length (≥ 8; the plaintext is out[0, n)), or a negative SRTCP_ERROR code; never throws for any
   * content of `packet` (only for arguments of the wrong type). In place: `out === packet`. Replay: a window
   * of SRTCP_REPLAY_WINDOW indexes per sender SSRC, updated only by authenticated packets. An authenticated
   * packet with E=0 (sent unencrypted) is accepted and returned as is. On failure `out`'s bytes are unspecified.
   * The native backend allocates nothing.
   */
  unprotectRtcp(ctx: SrtpContext, packet: Buffer, out: Buffer): number;
  /** The next protectRtcp of `ssrc` uses index + 1 (0 after 2^31 − 1); index < 2^31. Like werift's Context.setIndex. */
  setRtcpIndex(ctx: SrtpContext, ssrc: number, index: number): void;
}
