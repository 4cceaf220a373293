// The viewers of one stream that live on one thread. The stream actor hands it every RTP packet
// once; the shard fans it out to its sessions and keeps the GOP cache for fast joins and PLIs.
import { randomBytes } from 'node:crypto';
import { RTCDtlsTransport } from 'werift';
import {
  CapacityError,
  NotAcceptableError,
  NotFoundError,
  PreconditionFailedError,
  PreconditionRequiredError,
  TimeoutError,
  ValidationError,
} from '../../shared/errors.ts';
import { LatencyHistogram } from '../../shared/latencyHistogram.ts';
import { Logger } from '../../shared/log.ts';
import type { SendCountersDto, WhepCreatedDto, WhepPatchedDto, WhepSessionDto, WhepStatsDto } from '../../shared/protocol.ts';
import { gsoActive, RUN_AUDIO, RUN_VIDEO, SEND_COUNTER } from '../../shared/srtp/index.ts';
import { GopCache } from '../stream/GopCache.ts';
import { BatchSend } from './BatchSend.ts';
import { BurstBatch } from './BurstBatch.ts';
import { LiveQueue } from './LiveQueue.ts';
import { LiveStage } from './LiveStage.ts';
import { CodecMismatchError, GatheringTimeoutError, PeerSession, type IceOptions } from './PeerSession.ts';
import { parseSdpFrag, SdpError } from './sdp.ts';
import { UdpMux } from './UdpMux.ts';

const log = new Logger('PeerShard');

/**
 * Join and PLI bursts (a GOP, often 100+ packets per viewer) are paced for the whole shard: every tick
 * the bursting viewers share one budget, round robin, so a crowd joining at once cannot starve the live
 * packets of everyone else (≈ 48k burst packets/s per shard, ≤ 6k/s per viewer).
 */
const BURST_TICK_MS = 5;
const SHARD_BURST_PER_TICK = 240;
const SESSION_BURST_PER_TICK = 30;

/**
 * Shared port: live packets wait in a LiveQueue for the end of the event loop's I/O pass (what one pass
 * reads leaves together; a shard worker flushes after each read of the ring) and then leave viewer by
 * viewer, protected into one batch and sent with one sendmmsg, a viewer's run of FU-A fragments as one UDP
 * GSO train. A flush happens early at LIVE_MAX packets or LIVE_MAX_COPIES viewer-copies (the out buffer's
 * size and the last viewer's wait).
 *   DRAKE_LIVE_BATCH=frame   also hold a video frame's packets until its last one (RTP marker, ≤ 3 ms): for
 *                            sources that pace a frame's packets over several passes (bench: lean-frame)
 *   DRAKE_LIVE_BATCH=packet  each live packet to every viewer as it arrives (bench: lean-packet)
 * While every viewer of the shard is connected, the shared port is read right after each live flush
 * (UdpMux.setPaced): the viewers' RTCP and consent checks wait for the awake thread instead of each waking it;
 * reports are timed by their kernel arrival stamp, so round-trip times are not biased by the wait.
 * Only where the port is read natively (its reads carry the stamps).
 *   DRAKE_RTCP_PACED=0       read the shared port as datagrams arrive (bench: lean-unpaced)
 */
const LIVE_BATCH = process.env.DRAKE_LIVE_BATCH === 'packet' ? 'packet' : process.env.DRAKE_LIVE_BATCH === 'frame' ? 'frame' : 'pass';
const LIVE_FRAME_WAIT_MS = 3;
const RTCP_PACED = process.env.DRAKE_RTCP_PACED !== '0';
const LIVE_MAX = 64;
const LIVE_MAX_COPIES = 256;

/** The stream's WebRTC settings a shard uses (StreamWebrtcSettings has these and more). */
export interface ShardSettings {
  ice: IceOptions;
  gopCache: boolean;
  strictIfMatch: boolean;
  /** A viewer that sent RTCP and then stayed silent this long is gone (browsers report every second). */
  viewerTimeoutMs: number;
  sendPath: 'drake' | 'lean' | 'werift';
  /** lean: every viewer of the shard on one UDP port, live packets in one protect + sendmmsg batch. */
  sharedPort: boolean;
  /** sharedPort: drake is an ICE-lite agent on that port (the port answers checks, drake sends none). */
  iceLite: boolean;
  /** iceLite: a viewer whose ICE checks stopped this long is gone (RFC 7675's 30 s by default). */
  consentTimeoutMs: number;
}

export interface ShardHooks {
  onClosed?: (sessionId: string) => void;
  onCount: (viewers: number) => void;
  /** A viewer needs a keyframe (see PeerSessionOptions.keyframeWanted). */
  onKeyframeWanted?: () => void;
}

type ShardOptions = ShardSettings & ShardHooks;

export type WhepCreated = WhepCreatedDto;
export type WhepPatched = WhepPatchedDto;
export type ShardStats = WhepStatsDto;

export class PeerShard {
  readonly #opts: ShardOptions;
  readonly #sessions = new Map<string, PeerSession>();
  readonly #gop = new GopCache();
  /** Counters of sessions that are gone, so totals do not drop when viewers leave. */
  readonly #past = { packets: 0, bytes: 0, nacks: 0, retransmits: 0, plis: 0, plisIgnored: 0, bursts: 0 };
  #pending = 0;
  /** Arrival → hand-off to the viewer's socket, for packets sent live (not queued behind a burst). */
  readonly #latency = new LatencyHistogram();
  #sweeper: NodeJS.Timeout | null = null;
  #mux: Promise<UdpMux> | null = null;
  #batch: BatchSend | null = null;
  /** Shared port: the pacer tick's burst packets (and NACK answers) leave in one sendmmsg through it. */
  #burst: BurstBatch | null = null;
  /** The shared port once open: paced reads, its port and counters (what reached it, what the mux answered) for stats. */
  #muxOpen: UdpMux | null = null;
  #disposed = false;
  /** Viewers with a burst to send, in the order the pacer serves them next. */
  readonly #bursting = new Set<PeerSession>();
  /** Sessions closed by a DELETE or by the stream (not by their own failure): their end is not news. */
  readonly #deliberate = new WeakSet<PeerSession>();
  #pacer: NodeJS.Timeout | null = null;
  /** Shared port, grouped live path: the batch the live packets are protected into. */
  #live: BurstBatch | null = null;
  /** The live packets waiting for #flushLive (references, in arrival order). */
  readonly #liveQueue = new LiveQueue((pkts, at, isVideo, n) => this.#flushLive(pkts, at, isVideo, n), {
    byFrame: LIVE_BATCH === 'frame',
    max: LIVE_MAX,
    frameWaitMs: LIVE_FRAME_WAIT_MS,
  });
  readonly #liveCopies = new Uint32Array(LIVE_MAX);
  /** The flush's packets staged once for every viewer's protectRun. */
  readonly #stage = new LiveStage(LIVE_MAX);

  constructor(settings: ShardSettings, hooks: ShardHooks) {
    const { ice, gopCache, strictIfMatch, viewerTimeoutMs, sendPath, sharedPort, iceLite, consentTimeoutMs } = settings;
    this.#opts = { ice, gopCache, strictIfMatch, viewerTimeoutMs, sendPath, sharedPort, iceLite, consentTimeoutMs, ...hooks };
    // werift makes one DTLS certificate per thread, on the first peer; make it now so the first viewer
    // does not wait for the key generation (every viewer of the thread shares it).
    void RTCDtlsTransport.SetupCertificate().catch(() => undefined);
  }

  #sweep(): void {
    const now = Date.now();
    for (const s of this.#sessions.values()) {
      s.sendReports();
      if (s.silentFor(now) > this.#opts.viewerTimeoutMs) void s.close(`no RTCP from the viewer for ${this.#opts.viewerTimeoutMs} ms`);
      // ICE-lite's counterpart of werift's consent expiry (full ICE closes on 'failed').
      else if (s.checksSilentFor(now) > this.#opts.consentTimeoutMs) void s.close(`connection lost (consent freshness: no ICE checks from the viewer for ${this.#opts.consentTimeoutMs} ms)`);
    }
  }

  get size(): number {
    return this.#sessions.size;
  }

  video(pkt: Buffer, arrivedAt: number): void {
    if (this.#live) return this.#queueLive(pkt, arrivedAt, true);
    if (this.#opts.gopCache) this.#gop.push(pkt);
    this.#fanOut(pkt, arrivedAt, true);
  }

  audio(pkt: Buffer, arrivedAt: number): void {
    if (this.#live) return this.#queueLive(pkt, arrivedAt, false);
    this.#fanOut(pkt, arrivedAt, false);
  }

  #queueLive(pkt: Buffer, arrivedAt: number, video: boolean): void {
    if (this.#sessions.size === 0 && this.#liveQueue.length === 0) {
      if (video && this.#opts.gopCache) this.#gop.push(pkt);
      return;
    }
    this.#liveQueue.push(pkt, arrivedAt, video);
  }

  /** The end of a read: what is complete leaves now (a shard worker calls this after each read of the ring). */
  flushLive(): void {
    this.#liveQueue.endOfRead();
  }

  /**
   * The first `n` waiting live packets, viewer by viewer: each viewer's video (in order), then its audio,
   * protected into the live batch, which leaves in one sendBatch. The GOP cache takes them here, not on
   * arrival, so a join between arrival and flush gets each packet once (in its burst or live, never both).
   */
  #flushLive(pkts: ReadonlyArray<Buffer | null>, at: Float64Array, isVideo: Uint8Array, n: number): void {
    const copies = this.#liveCopies;
    copies.fill(0, 0, n);
    if (this.#opts.gopCache) for (let i = 0; i < n; i++) if (isVideo[i]) this.#gop.push(pkts[i]!);
    const live = this.#live;
    const stage = this.#stage;
    let connecting = this.#pending > 0;
    if (live && stage.fill(pkts, isVideo, n)) {
      // Each viewer's share in one native call (protectRun); copies per packet follow from the kinds taken.
      let videoCopies = 0;
      let audioCopies = 0;
      for (const s of this.#sessions.values()) {
        if (!s.connected) connecting = true;
        const took = s.sendLive(stage, live);
        if (took & RUN_VIDEO) videoCopies++;
        if (took & RUN_AUDIO) audioCopies++;
      }
      for (let i = 0; i < n; i++) copies[i] = isVideo[i] ? videoCopies : audioCopies;
      stage.clear();
    } else {
      for (const s of this.#sessions.values()) {
        if (!s.connected) connecting = true;
        for (let i = 0; i < n; i++) if (isVideo[i] && s.sendVideo(pkts[i]!, null, live)) copies[i]++;
        for (let i = 0; i < n; i++) if (!isVideo[i] && s.sendAudio(pkts[i]!, null, live)) copies[i]++;
      }
    }
    live?.flush();
    const now = performance.now();
    for (let i = 0; i < n; i++) if (copies[i]! > 0) this.#latency.record((now - at[i]!) * 1000, copies[i]!);
    const mux = this.#muxOpen;
    // Paced only where the port is read natively: its kernel arrival stamps keep the wait out of the RTT.
    if (mux && RTCP_PACED && mux.reader === 'recvmmsg') {
      // After the send (and its latency): the viewers' RTCP is read while the thread is awake, and never holds up live media.
      mux.setPaced(!connecting && this.#sessions.size > 0);
      mux.readWindow();
    }
    this.#liveQueue.limit = LIVE_MAX_COPIES / Math.max(1, this.#sessions.size);
  }

  /** Every session sends or stages `pkt`; the staged ones leave in one flush. Latency per viewer-packet sent. */
  #fanOut(pkt: Buffer, arrivedAt: number, video: boolean): void {
    const batch = this.#batch;
    for (const s of this.#sessions.values()) {
      const staged = batch ? batch.pending : 0;
      const sent = video ? s.sendVideo(pkt, batch) : s.sendAudio(pkt, batch);
      // Staged copies are timed once, at the flush below.
      if (sent && (!batch || batch.pending === staged)) this.#latency.record((performance.now() - arrivedAt) * 1000);
    }
    const staged = batch ? batch.pending : 0;
    if (staged === 0) return;
    batch!.flush(pkt);
    this.#latency.record((performance.now() - arrivedAt) * 1000, staged);
  }

  /** The shard's shared UDP port (opened with the first viewer that uses it). */
  #sharedMux(): Promise<UdpMux> | null {
    if (!this.#opts.sharedPort || this.#opts.sendPath !== 'lean' || this.#disposed) return null;
    if (!this.#mux) {
      const ice = this.#opts.ice;
      const opening = UdpMux.open(ice.interfaceAddress ?? '0.0.0.0', ice.portRange);
      opening.then(
        (mux) => {
          if (this.#disposed) return void mux.close();
          this.#batch = new BatchSend(mux.socket);
          this.#burst = new BurstBatch(mux.socket);
          if (LIVE_BATCH !== 'packet') this.#live = new BurstBatch(mux.socket);
          this.#muxOpen = mux;
          log.info(`viewers share UDP port ${mux.port}`);
        },
        () => {
          this.#mux = null; // the next viewer tries again
        },
      );
      this.#mux = opening;
    }
    return this.#mux;
  }

  #pace(s: PeerSession): void {
    this.#bursting.add(s);
    if (this.#pacer) return;
    this.#pacer = setInterval(() => this.#paceTick(), BURST_TICK_MS);
    this.#paceTick(); // the first packets go now: a joining viewer should not wait a tick
  }

  #paceTick(): void {
    let budget = SHARD_BURST_PER_TICK;
    const burst = this.#burst;
    for (const s of [...this.#bursting]) {
      if (budget <= 0) break;
      if (s.bursting) budget -= s.drainBurst(Math.min(SESSION_BURST_PER_TICK, budget), burst);
      // Served (or finished): to the back, so the next tick starts with someone else.
      this.#bursting.delete(s);
      if (s.bursting) this.#bursting.add(s);
    }
    burst?.flush();
    if (this.#bursting.size === 0 && this.#pacer) {
      clearInterval(this.#pacer);
      this.#pacer = null;
    }
  }

  /** The GOP cache's packets (last keyframe onward), e.g. to prime a new edge relay. */
  gopPackets(): readonly Buffer[] {
    return this.#opts.gopCache ? this.#gop.packets() : [];
  }

  /** The stream restarted (new FFmpeg): an old GOP would not match the new encoder's state. */
  resetMedia(): void {
    this.#gop.clear();
  }

  async create(offer: string, hasAudio: boolean, maxViewers: number): Promise<WhepCreated> {
    if (this.#sessions.size + this.#pending >= maxViewers) {
      throw new CapacityError(`this stream has reached its viewer limit (${maxViewers})`);
    }
    this.#pending++;
    this.#muxOpen?.setPaced(false); // its ICE and DTLS want the port read at once
    try {
      const id = randomBytes(16).toString('hex');
      const mux = await this.#sharedMux();
      const { session, answer } = await PeerSession.create({
        id,
        offer,
        hasAudio,
        ice: this.#opts.ice,
        keyframeBurst: () => (this.#opts.gopCache ? this.#gop.packets() : []),
        sendPath: this.#opts.sendPath,
        ...(mux ? { mux, iceLite: this.#opts.iceLite } : {}),
        ...(mux && this.#burst ? { burst: this.#burst } : {}),
        onClose: (s, reason) => this.#onClose(s, reason),
        pace: (s) => this.#pace(s),
        ...(this.#opts.onKeyframeWanted ? { keyframeWanted: this.#opts.onKeyframeWanted } : {}),
      });
      this.#sessions.set(id, session);
      this.#sweeper ??= setInterval(() => this.#sweep(), 1000);
      this.#opts.onCount(this.#sessions.size);
      return { id, answer, etag: session.etag };
    } catch (err) {
      if (err instanceof SdpError) throw new ValidationError(`malformed SDP offer: ${err.message}`);
      if (err instanceof CodecMismatchError) throw new NotAcceptableError(err.message);
      if (err instanceof GatheringTimeoutError) throw new TimeoutError(err.message);
      throw err;
    } finally {
      this.#pending--;
    }
  }

  #get(id: string): PeerSession {
    const s = this.#sessions.get(id);
    if (!s) throw new NotFoundError(`unknown WHEP session ${id}`);
    return s;
  }

  async patch(id: string, fragText: string, ifMatch: string | null): Promise<WhepPatched> {
    const session = this.#get(id);
    if (ifMatch === null && this.#opts.strictIfMatch) throw new PreconditionRequiredError('If-Match with the session ETag is required');
    if (ifMatch !== null && !ifMatchAllows(ifMatch, session.etag)) {
      throw new PreconditionFailedError(`If-Match ${ifMatch} does not match the session ETag ${session.etag}`);
    }
    let frag;
    try {
      frag = parseSdpFrag(fragText);
    } catch (err) {
      throw new ValidationError(`malformed trickle-ice-sdpfrag: ${(err as Error).message}`);
    }
    if (frag.ufrag && frag.ufrag !== session.remoteUfrag) {
      let body: string;
      try {
        body = await session.restartIce(frag);
      } catch (err) {
        // A new ufrag without a pwd is the fragment's fault, like any parse error above: 400, not 500.
        if (err instanceof SdpError) throw new ValidationError(`malformed trickle-ice-sdpfrag: ${err.message}`);
        throw err;
      }
      return { status: 200, body, etag: session.etag };
    }
    session.addCandidates(frag);
    return { status: 204, etag: session.etag };
  }

  /** false when the session is unknown (the route answers that as the draft says). */
  async remove(id: string): Promise<boolean> {
    const s = this.#sessions.get(id);
    if (!s) return false;
    await this.#end(s, 'DELETE by the viewer');
    return true;
  }

  async closeAll(reason: string): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((s) => this.#end(s, reason)));
  }

  /** Closes a session on the viewer's or the stream's behalf (not for a failure of its own). */
  #end(s: PeerSession, reason: string): Promise<void> {
    this.#deliberate.add(s);
    return s.close(reason);
  }

  /** Closes every viewer and the shared port; the shard takes no new viewers after this. */
  async dispose(reason: string): Promise<void> {
    this.#disposed = true;
    await this.closeAll(reason);
    if (this.#pacer) clearInterval(this.#pacer);
    this.#pacer = null;
    this.#bursting.clear();
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    const mux = await this.#mux?.catch(() => null);
    this.#liveQueue.flushAll(); // leaves it empty, its frame timer stopped
    this.#batch = null;
    this.#burst = null;
    this.#live = null;
    await mux?.close();
  }

  #onClose(s: PeerSession, reason: string): void {
    if (this.#sessions.get(s.id) !== s) return;
    this.#sessions.delete(s.id);
    this.#bursting.delete(s);
    // No viewer left: no flush reads the port, and the paced stall check would wake the thread for
    // nothing; read as datagrams come (none, until the next viewer joins).
    if (this.#sessions.size === 0) this.#muxOpen?.setPaced(false);
    const c = s.counters;
    this.#past.packets += c.videoPackets + c.audioPackets;
    this.#past.bytes += c.bytes;
    this.#past.nacks += c.nacks;
    this.#past.retransmits += c.retransmits;
    this.#past.plis += c.plis;
    this.#past.bursts += c.bursts;
    this.#past.plisIgnored += c.plisIgnored;
    if (s.everConnected || this.#deliberate.has(s)) log.debug(`session ${s.id} closed: ${reason}`);
    else log.info(`session ${s.id} closed before it connected: ${reason}`);
    this.#opts.onClosed?.(s.id);
    if (this.#sessions.size === 0 && this.#sweeper) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
    this.#opts.onCount(this.#sessions.size);
  }

  sessions(): WhepSessionDto[] {
    return [...this.#sessions.values()].map((s) => ({
      id: s.id,
      created_at: Math.floor(s.createdAt / 1000),
      remote: s.remoteAddress,
      connected: s.connected,
      bytes_tx: s.counters.bytes,
      packets_tx: s.counters.videoPackets + s.counters.audioPackets,
      nacks: s.counters.nacks,
      plis: s.counters.plis,
      bursts: s.counters.bursts,
      plis_ignored: s.counters.plisIgnored,
      rtt_ms: s.reception && s.reception.rttMs >= 0 ? Math.round(s.reception.rttMs * 10) / 10 : null,
      fraction_lost: s.reception?.fractionLost ?? null,
      rtcp_rx: s.rtcpCounters.packets,
      rtcp_dropped: s.rtcpCounters.dropped,
    }));
  }

  stats(): ShardStats {
    const t = { ...this.#past };
    for (const s of this.#sessions.values()) {
      const c = s.counters;
      t.packets += c.videoPackets + c.audioPackets;
      t.bytes += c.bytes;
      t.nacks += c.nacks;
      t.retransmits += c.retransmits;
      t.plis += c.plis;
      t.bursts += c.bursts;
      t.plisIgnored += c.plisIgnored;
    }
    return {
      viewers: this.#sessions.size,
      gopPackets: this.#gop.packets().length,
      sharedPort: this.#muxOpen?.port || null,
      port: this.#muxOpen ? { ...this.#muxOpen.counters, reader: this.#muxOpen.reader, paced: this.#muxOpen.paced } : null,
      batchDrops: (this.#batch?.drops ?? 0) + (this.#burst?.drops ?? 0) + (this.#live?.drops ?? 0),
      batched: (this.#batch?.sent ?? 0) + (this.#burst?.sent ?? 0) + (this.#live?.sent ?? 0),
      send:
        this.#batch && this.#burst
          ? { live: sendCountersDto(this.#live?.counters ?? this.#batch.counters), burst: sendCountersDto(this.#burst.counters), gso: gsoActive(this.#batch.socket) }
          : null,
      ...t,
      latency: this.#latency.snapshot(),
    };
  }
}

function sendCountersDto(c: Float64Array): SendCountersDto {
  return {
    syscalls: c[SEND_COUNTER.SYSCALLS]!,
    messages: c[SEND_COUNTER.MESSAGES]!,
    packets: c[SEND_COUNTER.PACKETS]!,
    gsoMessages: c[SEND_COUNTER.GSO_MESSAGES]!,
    gsoPackets: c[SEND_COUNTER.GSO_PACKETS]!,
    gsoRefused: c[SEND_COUNTER.GSO_REFUSED]!,
  };
}

/**
 * If-Match per RFC 9110 13.1.1: "*" (the draft's ICE restart sends it, some clients quoted) or a list
 * of entity tags, one of which must be the session's; weak tags never match (strong comparison).
 */
export function ifMatchAllows(header: string, etag: string): boolean {
  const value = header.trim();
  if (value === '*' || value === '"*"') return true;
  return value.split(',').some((tag) => tag.trim() === etag);
}
