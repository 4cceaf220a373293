// drake's lean send step for one viewer's sender: the RTP header is rewritten into a reused scratch
// buffer (SSRC, payload type, sequence number, timestamp), protected by the native SRTP addon with a
// context that lives across packets, and handed to the viewer's ICE connection. It replaces werift's
// sendRtp (which re-parses, rebuilds extensions and creates a cipher per packet). werift keeps ICE and
// DTLS; the sender reports are drake's too (senderReport(): native SRTCP, no werift timer per sender).
import type { Socket } from 'node:dgram';
import type { RTCRtpSender } from 'werift';
import { createContext, Destinations, MAX_SRTCP_OVERHEAD, protect, protectRtcp, sendBatch, type SrtpContext, type SrtpProfile } from '../../shared/srtp/index.ts';
import type { BatchSend } from './BatchSend.ts';
import type { BurstBatch } from './BurstBatch.ts';

const MTU = 1500;
/** Sends may queue inside the socket: a protected packet's buffer is not reused before this many later ones. */
const OUT_RING = 64;
/** Seconds from the NTP epoch (1900) to the Unix epoch. */
const NTP_UNIX_OFFSET = 2_208_988_800;
const SR_LENGTH = 28;

interface DtlsInternals {
  /**
   * werift's own SRTP session, keyed from the DTLS exporter at the moment the handshake completed: the
   * keys the viewer has too. dtls.extractSessionKeys() is not: werift's DTLS client runs flight 5 again
   * when a retransmitted flight 4 arrives after it connected (a browser resends it when the answer was
   * slow) and derives a new master secret the viewer never sees.
   */
  srtp?: { config: { profile: number; keys: { localMasterKey: Buffer; localMasterSalt: Buffer; remoteMasterKey: Buffer; remoteMasterSalt: Buffer } } };
  iceTransport: { connection: IceConnectionInternals };
}

interface IceConnectionInternals {
  send(data: Buffer): Promise<void>;
  nominated?: { protocol?: { type?: string }; remoteCandidate: { host: string; port: number } };
}

interface SenderInternals {
  ssrc: number;
  codec?: { payloadType: number; clockRate: number };
  cname?: string;
  packetCount: number;
  octetCount: number;
}

/**
 * SRTP contexts per DTLS transport: with BUNDLE, audio and video of a viewer share them (the ROC is per
 * SSRC). `send` protects drake's packets with the local keys; `receive` unprotects the viewer's SRTCP
 * with the remote ones. null before werift started SRTP or for a profile drake's addon does not do.
 */
export function srtpContextsFor(sender: RTCRtpSender): { send: SrtpContext; receive: SrtpContext } | null {
  const config = (sender.dtlsTransport as unknown as DtlsInternals).srtp?.config;
  const profileId = config?.profile;
  if (!config || (profileId !== 1 && profileId !== 7)) return null;
  const profile: SrtpProfile = profileId === 7 ? 'AEAD_AES_128_GCM' : 'AES_CM_128_HMAC_SHA1_80';
  const k = config.keys;
  if (process.env.DRAKE_DBG) {
    const d = (sender.dtlsTransport as any).dtls;
    const x = d.extractSessionKeys(16, profileId === 7 ? 12 : 14);
    console.error(`DBG keys same=${Buffer.compare(x.localKey, k.localMasterKey) === 0} flight=${d.dtls.flight} session=${d.dtls.sessionId}`);
  }
  return { send: createContext(profile, k.localMasterKey, k.localMasterSalt), receive: createContext(profile, k.remoteMasterKey, k.remoteMasterSalt) };
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
  readonly #clockRate: number;
  #packets = 0;
  #octets = 0;
  /** The RTP timestamp last sent and when (performance.now()), to place the SR's RTP time on the wall clock. */
  #lastTs = 0;
  #lastTsAt = 0;
  /** SR + SDES (CNAME) in the clear: the SR part is rewritten per report, the SDES chunk is fixed. */
  readonly #report: Buffer;
  readonly #reportOut: Buffer;
  /** The middle 32 bits of the last SR's NTP time and when it left (s): RTT from the viewer's LSR/DLSR. */
  lastSRtimestamp = 0;
  lastSentSRTimestamp = 0;
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
    this.#clockRate = this.#sender.codec?.clockRate ?? 90000;
    this.#report = reportTemplate(this.#sender.ssrc >>> 0, this.#sender.cname ?? '');
    this.#reportOut = Buffer.allocUnsafe(this.#report.length + MAX_SRTCP_OVERHEAD);
  }

  get ssrc(): number {
    return this.#sender.ssrc >>> 0;
  }

  get payloadType(): number {
    return this.#pt;
  }

  get context(): SrtpContext {
    return this.#ctx;
  }

  /** The viewer's address for a batch (shared port), null while ICE has no pair to address directly. */
  destination(): Destinations | null {
    return this.#refreshDest() ? this.#dest : null;
  }

  /** `packets` went out in a batch without write()/stage()/sendInBurst(): counts them for the sender reports. */
  accountRun(packets: number, octets: number, lastTs: number): void {
    this.#packets += packets;
    this.#octets += octets;
    if (lastTs !== this.#lastTs) {
      this.#lastTs = lastTs;
      this.#lastTsAt = performance.now();
    }
  }

  /**
   * Sends an RTCP sender report (with the SDES CNAME) for this sender: the viewer maps RTP time to the
   * wall clock with it (lip sync) and echoes it in its receiver reports (RTT). Nothing before the first
   * packet. The RTP time is the last packet's, advanced by the time since it was sent.
   */
  senderReport(): void {
    if (this.#packets === 0) return;
    const b = this.#report;
    const nowMs = performance.timeOrigin + performance.now();
    const secs = Math.floor(nowMs / 1000);
    const frac = Math.floor(((nowMs - secs * 1000) / 1000) * 0x1_0000_0000) >>> 0;
    const ntpSecs = (secs + NTP_UNIX_OFFSET) >>> 0;
    b.writeUInt32BE(ntpSecs, 8);
    b.writeUInt32BE(frac, 12);
    b.writeUInt32BE((this.#lastTs + Math.round(((performance.now() - this.#lastTsAt) * this.#clockRate) / 1000)) >>> 0, 16);
    b.writeUInt32BE(this.#packets >>> 0, 20);
    b.writeUInt32BE(this.#octets >>> 0, 24);
    const n = protectRtcp(this.#ctx, b, this.#reportOut);
    this.lastSRtimestamp = (((ntpSecs & 0xffff) << 16) | (frac >>> 16)) >>> 0;
    this.lastSentSRTimestamp = nowMs / 1000;
    this.#sendOut(this.#reportOut, n);
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
    this.#sendOut(out, n);
    this.#account(len, ts);
    return n;
  }

  #sendOut(out: Buffer, n: number): void {
    if (this.#socket && this.#refreshDest()) {
      // Reports (and packets sent outside a batch) on the shared port: one synchronous native send, without dgram's
      // per-packet address lookup and promise (a join burst is hundreds of packets per viewer).
      this.#length[0] = n;
      sendBatch(this.#socket, out, out.length, this.#length, this.#dest, 1);
    } else {
      void this.#connection.send(out.subarray(0, n)).catch(() => undefined);
    }
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
    this.#packets++;
    this.#octets += len - 12;
    if (ts !== this.#lastTs) {
      this.#lastTs = ts;
      this.#lastTsAt = performance.now();
    }
  }
}

/** RFC 3550 SR (no report blocks; NTP, RTP time and counts filled per report) + SDES with one CNAME chunk. */
function reportTemplate(ssrc: number, cname: string): Buffer {
  const name = Buffer.from(cname.slice(0, 255), 'utf8').subarray(0, 255);
  // Chunk: SSRC, CNAME item (type, length, text), then 1–4 zero octets (end of items + padding to 32 bits).
  const chunk = 4 + 2 + name.length;
  const sdesLength = 4 + chunk + (4 - (chunk % 4));
  const b = Buffer.alloc(SR_LENGTH + sdesLength);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(SR_LENGTH / 4 - 1, 2);
  b.writeUInt32BE(ssrc, 4);
  const s = SR_LENGTH;
  b[s] = 0x81;
  b[s + 1] = 202;
  b.writeUInt16BE(sdesLength / 4 - 1, s + 2);
  b.writeUInt32BE(ssrc, s + 4);
  b[s + 8] = 1;
  b[s + 9] = name.length;
  name.copy(b, s + 10);
  return b;
}
