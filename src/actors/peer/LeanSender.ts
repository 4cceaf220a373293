// drake's lean send step for one viewer's sender: the RTP header is rewritten into a reused scratch
// buffer (SSRC, payload type, sequence number, timestamp), protected by the native SRTP addon with a
// context that lives across packets, and handed to the viewer's ICE connection. It replaces werift's
// sendRtp (which re-parses, rebuilds extensions and creates a cipher per packet). werift keeps ICE,
// DTLS, RTCP; its sender-report fields are fed here so SRs stay right for A/V sync.
import type { Socket } from 'node:dgram';
import { ntpTime, type RTCRtpSender } from 'werift';
import { createContext, Destinations, protect, SALT_LENGTH, sendBatch, type SrtpContext, type SrtpProfile } from '../../shared/srtp/index.ts';
import type { BatchSend } from './BatchSend.ts';
import type { BurstBatch } from './BurstBatch.ts';

const MTU = 1500;
/** Sends may queue inside the socket: a protected packet's buffer is not reused before this many later ones. */
const OUT_RING = 64;
/** Sender-report fields are refreshed every this many packets (an SR goes out every 0.5–1.5 s). */
const SR_EVERY = 8;

interface DtlsInternals {
  dtls?: {
    srtp: { srtpProfile?: number };
    extractSessionKeys(keyLength: number, saltLength: number): { localKey: Buffer; localSalt: Buffer; remoteKey: Buffer; remoteSalt: Buffer };
  };
  iceTransport: { connection: IceConnectionInternals };
}

interface IceConnectionInternals {
  send(data: Buffer): Promise<void>;
  nominated?: { protocol?: { type?: string }; remoteCandidate: { host: string; port: number } };
}

interface SenderInternals {
  ssrc: number;
  codec?: { payloadType: number };
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  runRtcp(): void;
}

/**
 * SRTP contexts per DTLS transport: with BUNDLE, audio and video of a viewer share them (the ROC is per
 * SSRC). `send` protects drake's packets with the local keys; `receive` unprotects the viewer's SRTCP
 * with the remote ones.
 */
export function srtpContextsFor(sender: RTCRtpSender): { send: SrtpContext; receive: SrtpContext } | null {
  const dtls = (sender.dtlsTransport as unknown as DtlsInternals).dtls;
  const profileId = dtls?.srtp.srtpProfile;
  if (!dtls || (profileId !== 1 && profileId !== 7)) return null;
  const profile: SrtpProfile = profileId === 7 ? 'AEAD_AES_128_GCM' : 'AES_CM_128_HMAC_SHA1_80';
  const { localKey, localSalt, remoteKey, remoteSalt } = dtls.extractSessionKeys(16, SALT_LENGTH[profile]);
  return { send: createContext(profile, localKey, localSalt), receive: createContext(profile, remoteKey, remoteSalt) };
}

export class LeanSender {
  readonly #sender: SenderInternals;
  readonly #ctx: SrtpContext;
  readonly #connection: IceConnectionInternals;
  readonly #pt: number;
  /** The viewer's address for batched sends, refreshed when ICE nominates another pair. */
  readonly #dest = new Destinations(1);
  #destPair: unknown = null;
  readonly #scratch = Buffer.allocUnsafe(MTU);
  readonly #ring: Buffer[] = Array.from({ length: OUT_RING }, () => Buffer.allocUnsafe(MTU + 16));
  #at = 0;
  #count = 0;
  #started = false;
  /** The shard's shared socket (shared-port path): single packets go out on it directly, not through werift's send. */
  readonly #socket: Socket | null;
  readonly #length = new Uint32Array(1);
  /** Bytes 1..11 of a packet's RTP header for BurstBatch.add (byte 0 comes from the packet). */
  readonly #header = Buffer.alloc(12);

  constructor(sender: RTCRtpSender, ctx: SrtpContext, socket: Socket | null = null) {
    this.#socket = socket;
    this.#sender = sender as unknown as SenderInternals;
    this.#ctx = ctx;
    this.#connection = (sender.dtlsTransport as unknown as DtlsInternals).iceTransport.connection;
    this.#pt = this.#sender.codec?.payloadType ?? 96;
  }

  /** Sends `pkt` (FFmpeg's RTP) with this viewer's seq and timestamp; returns the bytes sent. */
  write(pkt: Buffer, seq: number, ts: number): number {
    const len = pkt.length;
    if (len > MTU || len < 12) return 0;
    const plain = this.#scratch;
    pkt.copy(plain, 0, 0, len);
    plain[1] = (pkt[1]! & 0x80) | this.#pt;
    plain.writeUInt16BE(seq, 2);
    plain.writeUInt32BE(ts >>> 0, 4);
    plain.writeUInt32BE(this.#sender.ssrc >>> 0, 8);
    const out = this.#ring[this.#at]!;
    this.#at = (this.#at + 1) & (OUT_RING - 1);
    const n = protect(this.#ctx, plain.subarray(0, len), out);
    if (this.#socket && this.#refreshDest()) {
      // Bursts and NACK answers on the shared port: one synchronous native send, without dgram's
      // per-packet address lookup and promise (a join burst is hundreds of packets per viewer).
      this.#length[0] = n;
      sendBatch(this.#socket, out, out.length, this.#length, this.#dest, 1);
    } else {
      void this.#connection.send(out.subarray(0, n)).catch(() => undefined);
    }
    this.#account(len, ts);
    return n;
  }

  /**
   * Burst packets and NACK answers: protected into the shard's `burst` batch (shared port, a pair to address),
   * which leaves in one sendmmsg at the end of the pacer tick or NACK; else write() at once.
   */
  sendInBurst(pkt: Buffer, seq: number, ts: number, burst: BurstBatch | null): void {
    const len = pkt.length;
    if (!burst || len > MTU || len < 12 || !this.#refreshDest()) {
      this.write(pkt, seq, ts);
      return;
    }
    const h = this.#header;
    h[1] = (pkt[1]! & 0x80) | this.#pt;
    h.writeUInt16BE(seq, 2);
    h.writeUInt32BE(ts >>> 0, 4);
    h.writeUInt32BE(this.#sender.ssrc >>> 0, 8);
    burst.add(this.#ctx, pkt, h, this.#dest);
    this.#account(len, ts);
  }

  /** Live packets: into the shard's batch when there is one (shared port) and a pair to address, else write(). */
  send(pkt: Buffer, seq: number, ts: number, batch: BatchSend | null): void {
    if (!batch || !this.stage(batch, pkt, seq, ts)) this.write(pkt, seq, ts);
  }

  /**
   * Stages `pkt` with this viewer's seq and timestamp into a shard batch (shared-port path). false when
   * ICE has no nominated pair yet: send it with write() instead.
   */
  stage(batch: BatchSend, pkt: Buffer, seq: number, ts: number): boolean {
    if (!this.#refreshDest()) return false;
    const at = batch.stage(this.#ctx, this.#dest);
    const h = batch.headers;
    h[at + 1] = (pkt[1]! & 0x80) | this.#pt;
    h.writeUInt16BE(seq, at + 2);
    h.writeUInt32BE(ts >>> 0, at + 4);
    h.writeUInt32BE(this.#sender.ssrc >>> 0, at + 8);
    this.#account(pkt.length, ts);
    return true;
  }

  /**
   * #dest = the nominated pair's remote address. false without a pair, for a pair through a TURN relay
   * (its packets must go to the relay, which werift's send does) or for a name instead of an IPv4 address.
   */
  #refreshDest(): boolean {
    const pair = this.#connection.nominated;
    if (!pair || pair.protocol?.type !== 'stun') return false;
    if (pair !== this.#destPair) {
      try {
        this.#dest.set(0, pair.remoteCandidate.host, pair.remoteCandidate.port);
      } catch {
        return false; // werift's own send resolves it
      }
      this.#destPair = pair;
    }
    return true;
  }

  #account(len: number, ts: number): void {
    const s = this.#sender;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.octetCount += len - 12;
    if ((this.#count++ & (SR_EVERY - 1)) === 0) {
      s.rtpTimestamp = ts >>> 0;
      s.ntpTimestamp = ntpTime();
      if (!this.#started) {
        this.#started = true;
        s.runRtcp();
      }
    }
  }
}
