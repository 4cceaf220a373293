// The stream actor: owns one process's FFmpeg child and everything about its life: the wanted order
// (start/stop) kept apart from the observed exec state, reconnect, stale detection and limits.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redact } from '../../shared/redact.ts';
import type { ExecState, ProcessConfig, ProcessOrder } from '../../shared/processConfig.ts';
import { errorText } from '../../shared/errors.ts';
import type {
  ProbeDto,
  ProcessStateDto,
  ProgressDto,
  ReportEntryDto,
  RuntimeDto,
  StreamCommand,
  StreamEvent,
  StreamInit,
  StreamSettings,
} from '../../shared/protocol.ts';
import { CapacityError, NotFoundError, NotReadyError } from '../../shared/errors.ts';
import { rtpMarker, rtpSeq, rtpTimestamp } from '../../shared/h264.ts';
import { PacketRing, type MediaKind } from '../../shared/ring.ts';
import { PeerShard, type ShardStats, type WhepCreated, type WhepPatched } from '../peer/PeerShard.ts';
import { mergeStats, ShardPool } from './ShardPool.ts';
import { buildArgs, resolveConfig } from './command.ts';
import { probeInputs } from './probe.ts';
import { RtpIngest } from './RtpIngest.ts';
import { ParamSetInjector, parameterSetsFromSdp } from './ParamSetInjector.ts';
import { BOTH_LEGS, isListeningInput, legsFromProbe, VIDEO_PT, webrtcOutputArgs, webrtcOutputIds, type WebrtcLegs } from './webrtcOutputs.ts';
import { ExecStates } from './execStates.ts';
import { FfmpegParser } from './ffmpegParse.ts';
import { FfmpegRunner, type ExitInfo } from './FfmpegRunner.ts';
import { ResourceSampler } from './resources.ts';
import { RelayOut } from './RelayOut.ts';
import { RelayIn } from './RelayIn.ts';
import type { RelayTargetDto } from '../../shared/protocol.ts';

const TICK_MS = 1000;
/** A stream whose last video packet is older than this has "no media" for new viewers. */
const MEDIA_FRESH_MS = 3000;
/**
 * The probe that decides the WebRTC legs. Local inputs answer in ≈ 50 ms; a network input costs its
 * connect and stream analysis once (the verdict is kept until the config changes or a run fails).
 * A probe that takes longer than this is abandoned and both legs are tried, as without a probe.
 */
const LEG_PROBE_TIMEOUT_MS = 5000;
/**
 * A WebRTC leg that carried packets in a run and then none for this long, while FFmpeg lives, makes
 * the run stale when the process has no stale_timeout_seconds of its own. FFmpeg's progress cannot
 * show it: the other outputs move on. Opus sends a packet every 20 ms even in silence, and H264 at
 * least one per frame, so 10 s of nothing is not a quiet source.
 */
const LEG_STALE_DEFAULT_S = 10;

interface Run {
  runner: FfmpegRunner;
  parser: FfmpegParser;
  sampler: ResourceSampler | null;
  createdAt: number;
  /** Why drake ended this run itself, if it did (stop, limit, stale); goes into the report. */
  endReason: string | null;
  /** True when drake ended the run on a command: no reconnect afterwards. */
  intentional: boolean;
  lastProgressAt: number;
  lastProgressKey: string;
  cpuOverSince: number | null;
  memOverSince: number | null;
  /** The ingest's packet counts when the run started: a leg counts as live once it passed them. */
  legBase: Record<MediaKind, number>;
  /** Start FFmpeg again when this run ends, also with reconnect off (a stale leg). */
  restart: boolean;
  /** video: copy: where FFmpeg writes its SDP (the parameter sets the injector needs). */
  sdpFile: string | null;
}

function emptyProgress(): ProgressDto {
  return { inputs: [], outputs: [], frame: 0, packet: 0, fps: 0, q: 0, size_kb: 0, time: 0, bitrate_kbit: 0, speed: 0, drop: 0, dup: 0 };
}

export class StreamActor {
  readonly #id: string;
  readonly #settings: StreamSettings;
  readonly #emit: (event: StreamEvent) => void;
  #config: ProcessConfig;
  #order: ProcessOrder;
  readonly #exec: ExecStates;
  #run: Run | null = null;
  /** The last run's parser stays readable after it ends, as Core's report does. */
  #lastParser: FfmpegParser;
  #lastCreatedAt = 0;
  /** How the last run ended, shown in the report until the next run starts. */
  #lastExit: Pick<ReportEntryDto, 'exited_at' | 'exit_state' | 'exit_code' | 'exit_reason'> | null = null;
  #command: string[] = [];
  #reconnectTimer: NodeJS.Timeout | null = null;
  #reconnectAt = 0;
  #ticker: NodeJS.Timeout | null = null;
  #resources = { cpu_usage: 0, memory_bytes: 0 };
  /** Serialises commands so that start/stop/update never interleave. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** WebRTC: the sockets FFmpeg's RTP legs send to, and the viewers. Created when first needed. */
  #ingest: RtpIngest | null = null;
  #ports: { video: number; audio: number } | null = null;
  #shard: PeerShard | null = null;
  /** Every RTP packet once, for shard workers (made with the ingest sockets; cheap enough to always fill). */
  #ring: PacketRing | null = null;
  #pool: ShardPool | null = null;
  /** The legs the current (or last) run carries. */
  #legs: WebrtcLegs = { ...BOTH_LEGS };
  /** The last probe verdict and the inputs it was made for: reconnects of the same inputs reuse it. */
  #legsFor: { key: string; legs: WebrtcLegs; notes: string[] } | null = null;
  /** video: copy: puts SPS/PPS in front of the current run's keyframes. */
  #injector: ParamSetInjector | null = null;
  /** The ingest's video path past the injector. */
  #deliverVideo: ((pkt: Buffer, at: number) => void) | null = null;
  /** Every packet into the ring, the GOP cache, the local shard and the relays (made once). */
  #deliver: ((kind: MediaKind, pkt: Buffer, at: number) => void) | null = null;
  /** Cluster owner: the edges this stream's RTP is relayed to. */
  readonly #relayOut = new RelayOut();
  /** Cluster edge: this actor runs no FFmpeg; its media comes from the owner over this relay. */
  readonly #edge: boolean;
  #relayIn: RelayIn | null = null;

  constructor(init: StreamInit, emit: (event: StreamEvent) => void) {
    this.#id = init.processId;
    this.#settings = init.settings;
    this.#config = init.config;
    this.#order = init.order;
    this.#emit = emit;
    this.#exec = new ExecStates(init.recoveredFrom ? 'failed' : 'finished');
    this.#lastParser = this.#newParser();
    this.#edge = init.edge === true;
    if (this.#edge) {
      this.#order = 'stop';
    } else if (init.recoveredFrom) {
      this.#lastParser.feed(`[drake] ${init.recoveredFrom}`);
      if (this.#order === 'start') this.#scheduleReconnect();
    } else if (this.#order === 'start') {
      void this.#enqueue(() => this.#spawn());
    }
  }

  command(cmd: StreamCommand): Promise<void> {
    return this.#enqueue(async () => {
      switch (cmd) {
        case 'start':
          this.#order = 'start';
          this.#cancelReconnect();
          if (!this.#run) await this.#spawn();
          return;
        case 'stop':
          this.#order = 'stop';
          this.#cancelReconnect();
          await this.#closeViewers('process stopped');
          await this.#endRun('stopped by command');
          return;
        case 'restart':
          // Core kills and relies on reconnect (so reconnect=false leaves it stopped); drake restarts
          // at once, which is what the command promises. No-op when the order is stop, as in Core.
          if (this.#order !== 'start') return;
          this.#cancelReconnect();
          await this.#endRun('restarted by command');
          await this.#spawn();
          return;
        case 'inputlost':
          // Not intentional: the exit goes through reconnect like any input error.
          if (this.#run) this.#abortRun(this.#run, 'an input went away (its WHIP publisher left), stopping FFmpeg', true);
          return;
        case 'reload':
          this.#cancelReconnect();
          this.#legsFor = null;
          if (this.#order !== 'start') {
            this.#command = buildArgs(resolveConfig(this.#config, this.#ctx()));
            return;
          }
          await this.#endRun('reloaded by command');
          await this.#spawn();
          return;
      }
    });
  }

  /** A new config (PUT): the running child is replaced when the order is start. */
  update(config: ProcessConfig): Promise<void> {
    return this.#enqueue(async () => {
      const wasRunning = this.#run !== null || this.#reconnectTimer !== null;
      this.#cancelReconnect();
      await this.#endRun('config updated');
      if (!config.webrtc.enabled) await this.#closeViewers('WebRTC disabled by a config update');
      this.#config = config;
      this.#command = [];
      this.#legsFor = null;
      if (this.#order === 'start' && (wasRunning || config.autostart)) await this.#spawn();
    });
  }

  state(): ProcessStateDto {
    const parser = this.#run?.parser ?? this.#lastParser;
    const progress = emptyProgress();
    const sample = parser.progress;
    if (sample) Object.assign(progress, sample);
    progress.inputs = parser.progressIO('input', this.#config.input.map((io) => io.id));
    const outIds = this.#config.output.map((io) => io.id);
    if (this.#config.webrtc.enabled) outIds.push(...webrtcOutputIds(this.#config.webrtc, this.#legs));
    progress.outputs = parser.progressIO('output', outIds);
    // drake receives the WebRTC legs itself, so their packet and byte counts are exact.
    const ingest = this.#ingest?.counters;
    if (ingest) {
      for (const io of progress.outputs) {
        const c = io.id === 'webrtc:video' ? ingest.video : io.id === 'webrtc:audio' ? ingest.audio : null;
        if (!c) continue;
        io.packet = c.packets;
        io.size_kb = Math.round(c.bytes / 1024);
      }
    }
    const running = this.#run !== null;
    return {
      order: this.#order,
      exec: this.#exec.state,
      runtime_seconds: Math.floor(this.#exec.age / 1000),
      reconnect_seconds: this.#reconnectTimer ? Math.max(0, Math.ceil((this.#reconnectAt - Date.now()) / 1000)) : -1,
      last_logline: parser.lastLogline,
      progress,
      memory_bytes: running ? this.#resources.memory_bytes : 0,
      cpu_usage: running ? this.#resources.cpu_usage : 0,
      command: (this.#command.length ? this.#command : this.#tryBuildCommand()).map(redact),
    };
  }

  report(): ReportEntryDto {
    if (this.#run) return { created_at: this.#run.createdAt, prelude: this.#run.parser.prelude, log: this.#run.parser.log };
    return { created_at: this.#lastCreatedAt, prelude: this.#lastParser.prelude, log: this.#lastParser.log, ...(this.#lastExit ?? {}) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelReconnect();
    await this.#closeViewers('process deleted or drake shutting down');
    await this.#shard?.dispose('process deleted or drake shutting down');
    await this.#enqueue(() => this.#endRun('drake is shutting down'));
    this.#ingest?.close();
    this.#relayOut.close();
    this.#relayIn?.close();
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(job, job);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #ctx() {
    const auth = this.#settings.memfsAuthorization;
    const { rtmpUrl, srtUrl, whipUrl } = this.#settings;
    return {
      diskDir: this.#settings.diskDir,
      memfsUrl: this.#settings.memfsUrl,
      ...(auth ? { memfsAuthorization: auth } : {}),
      ...(rtmpUrl ? { rtmpUrl } : {}),
      ...(srtUrl ? { srtUrl } : {}),
      ...(whipUrl ? { whipUrl } : {}),
    };
  }

  #tryBuildCommand(): string[] {
    try {
      const args = buildArgs(resolveConfig(this.#config, this.#ctx()));
      if (this.#config.webrtc.enabled && this.#ports) args.push(...webrtcOutputArgs(this.#config.webrtc, this.#ports, this.#legs));
      return args;
    } catch {
      return [];
    }
  }

  #ensureDeliver(): (kind: MediaKind, pkt: Buffer, at: number) => void {
    if (this.#deliver) return this.#deliver;
    const shard = this.#ensureShard();
    const ring = (this.#ring ??= PacketRing.create());
    const relays = this.#relayOut;
    const meta = { seq: 0, timestamp: 0, arrivedAt: 0, kind: 'video' as MediaKind, keyframeStart: false, marker: false };
    this.#deliver = (kind: MediaKind, pkt: Buffer, at: number): void => {
      meta.seq = rtpSeq(pkt);
      meta.timestamp = rtpTimestamp(pkt);
      meta.arrivedAt = performance.timeOrigin + at;
      meta.kind = kind;
      meta.marker = rtpMarker(pkt);
      ring.write(pkt, meta);
      ring.notify();
      if (relays.size > 0) relays.send(kind, pkt, meta.arrivedAt);
      if (kind === 'video') shard.video(pkt, at);
      else shard.audio(pkt, at);
    };
    return this.#deliver;
  }

  async #openIngest(): Promise<{ video: number; audio: number }> {
    if (this.#ports) return this.#ports;
    const deliver = this.#ensureDeliver();
    const ingest = new RtpIngest((kind, pkt, at) => {
      if (kind === 'video' && this.#injector) this.#injector.push(pkt, at);
      else deliver(kind, pkt, at);
    });
    this.#deliverVideo = (pkt, at) => deliver('video', pkt, at);
    this.#ports = await ingest.open();
    this.#ingest = ingest;
    return this.#ports;
  }

  #ensureShard(): PeerShard {
    this.#shard ??= new PeerShard(this.#settings.webrtc, { onCount: () => this.#emitViewers() });
    return this.#shard;
  }

  /** WHEP POST: 404 when WebRTC is off, 409 while there is nothing to watch yet. */
  async whepCreate(offer: string): Promise<WhepCreated> {
    const cfg = this.#config.webrtc;
    if (!cfg.enabled || this.#closed) throw new NotFoundError(`WebRTC is not enabled for process ${this.#config.id}`);
    if (!this.#edge && (!this.#run || this.#exec.state !== 'running')) {
      throw new NotReadyError(`process ${this.#config.id} is not running (${this.#exec.state})`);
    }
    const legs = this.#legs;
    const counters = this.#edge ? this.#relayIn?.counters : this.#ingest?.counters;
    // A run without a video leg (audio-only input) is ready with audio alone.
    const lastMedia = legs.video ? (counters?.video.lastAt ?? 0) : (counters?.audio.lastAt ?? 0);
    if (Date.now() - lastMedia > MEDIA_FRESH_MS) throw new NotReadyError(`process ${this.#config.id} has no media yet`);
    const max = cfg.max_viewers > 0 ? cfg.max_viewers : this.#settings.webrtc.maxViewersPerStream;
    const local = this.#ensureShard();
    const hasAudio = cfg.audio !== 'none' && legs.audio;
    const perShard = this.#settings.webrtc.viewersPerShard;
    if (perShard === 0 || !this.#ring) return local.create(offer, hasAudio, max);
    if (local.size + (this.#pool?.viewers ?? 0) >= max) throw new CapacityError(`this stream has reached its viewer limit (${max})`);
    try {
      return await local.create(offer, hasAudio, Math.min(perShard, max));
    } catch (err) {
      if (!(err instanceof CapacityError)) throw err;
    }
    const { maxViewersPerStream: _max, viewersPerShard: _per, ...webrtc } = this.#settings.webrtc;
    this.#pool ??= new ShardPool({ processId: this.#config.id, ring: this.#ring.buffer, webrtc }, () => this.#emitViewers());
    return this.#pool.create(offer, hasAudio, perShard);
  }

  #emitViewers(): void {
    this.#emit({ event: 'stream.viewers', viewers: (this.#shard?.size ?? 0) + (this.#pool?.viewers ?? 0) });
  }

  whepPatch(sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatched> {
    if (this.#pool?.owns(sessionId)) return this.#pool.patch(sessionId, frag, ifMatch);
    if (!this.#shard) throw new NotFoundError(`unknown WHEP session ${sessionId}`);
    return this.#shard.patch(sessionId, frag, ifMatch);
  }

  async whepDelete(sessionId: string): Promise<boolean> {
    if (this.#pool?.owns(sessionId)) return this.#pool.remove(sessionId);
    return this.#shard ? this.#shard.remove(sessionId) : false;
  }

  async whepStats(): Promise<ShardStats> {
    const empty: ShardStats = { viewers: 0, packets: 0, bytes: 0, nacks: 0, retransmits: 0, plis: 0, plisIgnored: 0, bursts: 0, gopPackets: 0, sharedPort: null, batchDrops: 0, batched: 0, latency: null };
    const own = this.#shard?.stats() ?? empty;
    const all = this.#pool ? mergeStats([own, ...(await this.#pool.stats())]) : { ...own, shards: 1 };
    return { ...all, ingest: this.#ingest?.counters ?? null, relay: { out: this.#relayOut.stats(), in: this.#relayIn?.stats() ?? null } };
  }

  /** Owner: an edge asks for (or renews) the relay of this stream's RTP. */
  relayHold(target: RelayTargetDto): WebrtcLegs {
    if (!this.#config.webrtc.enabled || this.#closed || this.#edge) throw new NotFoundError(`WebRTC is not enabled for process ${this.#config.id}`);
    this.#ensureDeliver();
    this.#relayOut.hold({ node: target.node, host: target.host, port: target.port, token: target.token, leaseMs: target.lease_ms }, () => this.#shard?.gopPackets() ?? []);
    return { ...this.#legs };
  }

  relayDrop(node: string): boolean {
    return this.#relayOut.drop(node);
  }

  /** Edge: the socket the owner relays to. */
  async edgeOpen(host: string): Promise<{ port: number; token: string }> {
    if (!this.#edge) throw new Error('not an edge stream');
    if (!this.#relayIn) {
      const relay = new RelayIn(this.#ensureDeliver(), () => {
        this.#shard?.resetMedia();
        this.#pool?.resetMedia();
      });
      const port = await relay.open(host);
      this.#relayIn = relay;
      return { port, token: relay.token.toString('hex') };
    }
    throw new Error('relay already open');
  }

  /** Edge: what the owner's stream carries; a new source (another owner, a new run) drops the GOP cache. */
  edgeSource(legs: WebrtcLegs, newSource: boolean): void {
    this.#legs = { video: legs.video, audio: legs.audio };
    if (!newSource) return;
    this.#relayIn?.resetSequence();
    this.#shard?.resetMedia();
    this.#pool?.resetMedia();
  }

  /** Heap and resources of each live shard worker (the stream thread's own are the caller's). */
  shardRuntimes(): Promise<RuntimeDto[]> {
    return this.#pool?.runtimes() ?? Promise.resolve([]);
  }

  /** Test hook: crash peer shard worker `index` (1-based). */
  async crashShard(index: number): Promise<void> {
    if (!this.#pool) throw new NotFoundError('this stream has no peer shard workers');
    await this.#pool.crashForTest(index);
  }

  /** Core's probe: FFmpeg on the inputs alone; problems land in the log, never as an error. */
  async probe(timeoutMs: number): Promise<ProbeDto> {
    let resolved: ProcessConfig;
    try {
      resolved = resolveConfig(this.#config, this.#ctx());
    } catch (err) {
      return { streams: [], log: [errorText(err)] };
    }
    return probeInputs(this.#settings.ffmpegBinary, resolved, { timeoutMs });
  }

  async whepSessions() {
    return [...(this.#shard?.sessions() ?? []), ...((await this.#pool?.sessions()) ?? [])];
  }

  /** Viewers leave; extra shard workers stop (the next crowd starts new ones). */
  async #closeViewers(reason: string): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    await Promise.all([this.#shard?.closeAll(reason), pool?.close(reason)]);
    if (pool) this.#emitViewers();
  }

  #newParser(): FfmpegParser {
    return new FfmpegParser({ maxLogLines: this.#settings.maxLogLines });
  }

  #setState(to: ExecState, reason?: string): void {
    const from = this.#exec.state;
    if (from === to) return;
    if (!this.#exec.set(to)) {
      // A transition outside Core's table means drake's own bookkeeping is off: go through the
      // nearest legal path rather than report an impossible state.
      if (to === 'starting' || !this.#exec.set('failed')) return;
    }
    this.#emit({ event: 'stream.statechange', from, to: this.#exec.state, ...(reason ? { reason } : {}) });
  }

  async #spawn(): Promise<void> {
    if (this.#closed || this.#run) return;
    const parser = this.#newParser();
    this.#lastParser = parser;
    this.#lastExit = null;
    this.#lastCreatedAt = Math.floor(Date.now() / 1000);
    this.#setState('starting');
    let args: string[];
    let sdpFile: string | null = null;
    try {
      const resolved = resolveConfig(this.#config, this.#ctx());
      args = buildArgs(resolved);
      if (this.#config.webrtc.enabled) {
        const ports = await this.#openIngest();
        const { legs, notes } = await this.#webrtcLegs(resolved);
        if (this.#closed) return;
        for (const note of notes) parser.feed(`[drake] ${note}`);
        this.#legs = legs;
        args.push(...webrtcOutputArgs(this.#config.webrtc, ports, legs));
        if (legs.video && this.#config.webrtc.video === 'copy') {
          sdpFile = join(tmpdir(), `drake-${this.#id.replace(/[^\w.-]/g, '_').slice(0, 64)}-${randomBytes(6).toString('hex')}.sdp`);
          args.unshift('-sdp_file', sdpFile);
        }
      }
    } catch (err) {
      const text = `invalid process config: ${errorText(err)}`;
      parser.feed(`[drake] ${text}`);
      this.#lastExit = { exited_at: Math.floor(Date.now() / 1000), exit_state: 'failed', exit_code: null, exit_reason: text };
      this.#setState('failed', text);
      this.#afterExit(text);
      return;
    }
    this.#command = args;
    const deliverVideo = this.#deliverVideo;
    const sdpPath = sdpFile;
    this.#injector = sdpPath && deliverVideo ? new ParamSetInjector(deliverVideo, () => readParameterSets(sdpPath)) : null;
    this.#shard?.resetMedia();
    this.#pool?.resetMedia();
    this.#ingest?.expectNewSender();
    const runner = new FfmpegRunner({
      binary: this.#settings.ffmpegBinary,
      args,
      stopTimeoutMs: this.#settings.stopTimeoutMs,
      onLine: (line) => parser.feed(line),
      ...(this.#settings.setprivPath ? { setpriv: this.#settings.setprivPath } : {}),
    });
    const run: Run = {
      runner,
      parser,
      sampler: runner.pid ? new ResourceSampler(runner.pid) : null,
      createdAt: this.#lastCreatedAt,
      endReason: null,
      intentional: false,
      lastProgressAt: Date.now(),
      lastProgressKey: '',
      cpuOverSince: null,
      memOverSince: null,
      legBase: { video: this.#ingest?.counters.video.packets ?? 0, audio: this.#ingest?.counters.audio.packets ?? 0 },
      restart: false,
      sdpFile,
    };
    this.#run = run;
    if (runner.pid) {
      this.#emit({ event: 'stream.spawned', pid: runner.pid });
      this.#setState('running');
      this.#startTicker();
    }
    void runner.exited.then((exit) => this.#onExit(run, exit));
  }

  /**
   * FFmpeg ends a run at once when an output has no stream to carry ("Output file #N does not
   * contain any stream"), so a leg whose medium the inputs lack is left out. Optional maps (`0:a?`)
   * do not help: the output is still there, only empty. The verdict comes from FFmpeg itself, run
   * on the inputs with their options, and is kept for the same inputs until a run fails.
   */
  async #webrtcLegs(resolved: ProcessConfig): Promise<{ legs: WebrtcLegs; notes: string[] }> {
    const cfg = this.#config.webrtc;
    const key = JSON.stringify([resolved.options, resolved.input.map((io) => [io.address, io.options]), cfg.audio, cfg.video_map, cfg.audio_map]);
    if (this.#legsFor?.key === key) return this.#legsFor;
    if (resolved.input.some(isListeningInput)) return { legs: { ...BOTH_LEGS }, notes: [] };
    // The streams are read from FFmpeg's input dump, which a quieter -loglevel of the process hides.
    const loud = { ...resolved, options: [...resolved.options, '-loglevel', 'info'] };
    const probe = await probeInputs(this.#settings.ffmpegBinary, loud, { timeoutMs: LEG_PROBE_TIMEOUT_MS });
    if (probe.streams.length === 0) {
      const why = probe.log.at(-1) ?? 'no output';
      return { legs: { ...BOTH_LEGS }, notes: [`WebRTC: probing the inputs found no streams (${why}); both legs are tried`] };
    }
    this.#legsFor = { key, ...legsFromProbe(cfg, probe.streams) };
    return this.#legsFor;
  }

  #onExit(run: Run, exit: ExitInfo): void {
    if (this.#run === run) this.#run = null;
    if (run.sdpFile) rmSync(run.sdpFile, { force: true });
    this.#stopTicker();
    if (run.runner.pid) this.#emit({ event: 'stream.exited', pid: run.runner.pid });
    let to: ExecState;
    let reason: string;
    if (exit.spawnError) {
      to = 'failed';
      reason = `cannot start FFmpeg (${this.#settings.ffmpegBinary}): ${exit.spawnError}`;
      run.parser.feed(`[drake] ${reason}`);
    } else if (exit.signal) {
      to = 'killed';
      reason = run.endReason ?? `FFmpeg was killed by ${exit.signal}`;
    } else if (exit.code === 0 || exit.code === 255) {
      // 255 is FFmpeg's exit status after a signal-initiated clean stop.
      to = 'finished';
      reason = run.endReason ?? `FFmpeg exited with status ${exit.code}`;
    } else {
      to = 'failed';
      reason = run.endReason ?? `FFmpeg exited with status ${exit.code}`;
    }
    if (!run.endReason && !exit.spawnError) run.parser.feed(`[drake] ${reason}`);
    this.#lastExit = { exited_at: Math.floor(Date.now() / 1000), exit_state: to, exit_code: exit.code, exit_reason: reason };
    this.#setState(to, reason);
    this.#emit({
      event: 'stream.runended',
      entry: { created_at: run.createdAt, prelude: run.parser.prelude, log: run.parser.log, ...this.#lastExit },
    });
    // The inputs may have changed under a verdict that ended in failure: probe them again next time.
    if (to === 'failed') this.#legsFor = null;
    if (!run.intentional) this.#afterExit(reason, run.restart);
  }

  /**
   * Exit that drake did not ask for: reconnect if the order is still start. `restart`: drake ended the
   * run to repair it, so it comes back at once when reconnect is off (a leg's stall is no reason to
   * leave a process stopped that nobody asked to stop).
   */
  #afterExit(_reason: string, restart = false): void {
    if (this.#closed || this.#order !== 'start') return;
    if (this.#config.reconnect) this.#scheduleReconnect();
    else if (restart) void this.#enqueue(() => this.#spawn());
  }

  #scheduleReconnect(): void {
    if (!this.#config.reconnect || this.#closed) return;
    this.#cancelReconnect();
    const delay = this.#config.reconnect_delay_seconds * 1000;
    this.#reconnectAt = Date.now() + delay;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#order === 'start') void this.#enqueue(() => this.#spawn());
    }, delay);
  }

  #cancelReconnect(): void {
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
  }

  /** Ends the current run gracefully and waits for it; reason is logged. */
  async #endRun(reason: string): Promise<void> {
    const run = this.#run;
    if (!run) return;
    run.endReason = reason;
    run.intentional = true;
    run.parser.feed(`[drake] ${reason}`);
    this.#setState('finishing', reason);
    await run.runner.stop();
  }

  /** Kills the run for a limit or stale input; the order stays start so reconnect applies. */
  #abortRun(run: Run, reason: string, graceful: boolean): void {
    if (run.endReason !== null) return;
    run.endReason = reason;
    run.parser.feed(`[drake] ${reason}`);
    void (graceful ? run.runner.stop() : run.runner.kill());
  }

  #startTicker(): void {
    this.#stopTicker();
    this.#ticker = setInterval(() => void this.#tick(), TICK_MS);
    this.#ticker.unref();
    // A first resource sample at once: a fast source can have viewers (and be scraped) before the
    // first tick, and memory_bytes 0 for a running FFmpeg reads as a broken process.
    void this.#tick();
  }

  #stopTicker(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = null;
  }

  /** Why the run is stale because one of its WebRTC legs went silent, or null. */
  #staleLeg(run: Run, now: number): string | null {
    const counters = this.#ingest?.counters;
    if (!this.#config.webrtc.enabled || !counters) return null;
    const seconds = this.#config.stale_timeout_seconds > 0 ? this.#config.stale_timeout_seconds : LEG_STALE_DEFAULT_S;
    for (const kind of ['video', 'audio'] as const) {
      const c = counters[kind];
      if (!this.#legs[kind] || c.packets <= run.legBase[kind] || now - c.lastAt <= seconds * 1000) continue;
      return `stale: the WebRTC ${kind} leg has sent no RTP for ${seconds} s while FFmpeg runs, restarting FFmpeg`;
    }
    return null;
  }

  async #tick(): Promise<void> {
    const run = this.#run;
    if (!run || run.endReason !== null) return;
    const now = Date.now();
    const cfg = this.#config;

    const p = run.parser.progress;
    const key = p ? `${p.frame}/${p.size_kb}/${p.time}` : '';
    if (key !== run.lastProgressKey) {
      run.lastProgressKey = key;
      run.lastProgressAt = now;
    }
    if (cfg.stale_timeout_seconds > 0 && now - run.lastProgressAt > cfg.stale_timeout_seconds * 1000) {
      this.#abortRun(run, `stale: no progress for ${cfg.stale_timeout_seconds} s, stopping FFmpeg`, true);
      return;
    }
    const stale = this.#staleLeg(run, now);
    if (stale) {
      this.#abortRun(run, stale, true);
      run.restart = true;
      return;
    }

    const sample = run.sampler ? await run.sampler.sample() : null;
    if (!sample || this.#run !== run || run.endReason !== null) return;
    this.#resources = sample;
    const { cpu_usage: cpuLimit, memory_mbytes: memLimit, waitfor_seconds: waitfor } = cfg.limits;
    run.cpuOverSince = cpuLimit > 0 && sample.cpu_usage > cpuLimit ? (run.cpuOverSince ?? now) : null;
    const memLimitBytes = memLimit * 1024 * 1024;
    run.memOverSince = memLimit > 0 && sample.memory_bytes > memLimitBytes ? (run.memOverSince ?? now) : null;
    const waitMs = waitfor * 1000;
    if (run.cpuOverSince !== null && now - run.cpuOverSince >= waitMs) {
      this.#abortRun(run, `killed: CPU limit exceeded (${sample.cpu_usage.toFixed(1)} % > ${cpuLimit} % for ${waitfor} s)`, false);
    } else if (run.memOverSince !== null && now - run.memOverSince >= waitMs) {
      const mb = (sample.memory_bytes / 1048576).toFixed(1);
      this.#abortRun(run, `killed: memory limit exceeded (${mb} MB > ${memLimit} MB for ${waitfor} s)`, false);
    }
  }
}

/** FFmpeg's SDP of a run, read when the first keyframe needs the parameter sets (FFmpeg writes it before any packet). */
function readParameterSets(sdpFile: string): ReturnType<typeof parameterSetsFromSdp> {
  try {
    return parameterSetsFromSdp(readFileSync(sdpFile, 'utf8'), VIDEO_PT);
  } catch {
    return null;
  }
}
