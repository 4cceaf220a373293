// The root actor (main thread): registry of processes, persistence, one stream actor (worker) per
// process, and recovery of a worker that dies. It never waits on FFmpeg itself: actors do.
import { existsSync, readFileSync } from 'node:fs';
import type { DrakeConfig } from '../../shared/config.ts';
import { CapacityError, ConflictError, errorText, LimitError, NotFoundError, ValidationError, WorkerClosedError } from '../../shared/errors.ts';
import { TypedEmitter } from '../../shared/events.ts';
import { Logger } from '../../shared/log.ts';
import { addRuntime, threadRuntime } from '../../shared/runtime.ts';
import {
  parseProcessConfig,
  shortId,
  type ExecState,
  type ProcessConfig,
  type ProcessOrder,
} from '../../shared/processConfig.ts';
import type {
  ProcessStateDto,
  ReportEntryDto,
  RuntimeDto,
  StreamCommand,
  StreamEvent,
  StreamSettings,
  WhepCreatedDto,
  ProbeDto,
  WhepPatchedDto,
  WhepSessionDto,
  WhepStatsDto,
  RelayTargetDto,
} from '../../shared/protocol.ts';
import { CommandError, normalizeIds, resolveConfig } from '../stream/command.ts';
import type { FfmpegBinary } from './ffmpegBinary.ts';
import { applyCleanup, cleanupRules, purgeFiles, type CleanupFs } from './outputCleanup.ts';
import { Store, type Metadata, type StoredProcess } from './Store.ts';
import { StreamHandle } from './StreamHandle.ts';

const log = new Logger('Supervisor');

export type ProcessFilter = 'config' | 'state' | 'report' | 'metadata';
export const PROCESS_FILTERS: readonly ProcessFilter[] = ['config', 'state', 'report', 'metadata'];

export interface ReportDto extends ReportEntryDto {
  history: ReportEntryDto[];
}

export interface ProcessDto {
  id: string;
  type: 'ffmpeg';
  reference: string;
  created_at: number;
  updated_at: number;
  config?: ProcessConfig;
  state?: ProcessStateDto;
  report?: ReportDto;
  metadata?: Metadata | null;
}

export interface ProcessSnapshot {
  id: string;
  reference: string;
  state: ProcessStateDto;
  whep: WhepStatsDto | null;
  sessions: WhepSessionDto[];
  /** Stream workers that died within the last minute (restart back-off). */
  crashes: number;
}

export interface ListQuery {
  ids?: string[];
  reference?: string;
  idpattern?: string;
  refpattern?: string;
  filter: readonly ProcessFilter[];
}

export interface SupervisorEvents {
  newprocess: [id: string];
  deleteprocess: [id: string];
  statechange: [id: string, from: ExecState, to: ExecState, reason: string | undefined];
  viewers: [id: string, now: number, before: number];
}

export interface SupervisorOptions {
  config: DrakeConfig;
  ffmpeg: FfmpegBinary;
  diskDir: string;
  memfsUrl: string;
  memfsAuthorization?: string;
  /** {rtmp}'s template when the built-in RTMP server runs. */
  rtmpUrl?: string;
  /** {srt}'s template when the built-in SRT server runs. */
  srtUrl?: string;
  /** {whip}'s template when WHIP ingest is on. */
  whipUrl?: string;
  /** WHEP viewers drake serves outside processes (of published WHIP streams): they count toward webrtc.max_viewers_total. */
  otherViewers?: () => number;
  /** Where output cleanup rules apply (absent: rules are kept but not applied). */
  filesystems?: Record<'mem' | 'disk', CleanupFs>;
  /**
   * Whether a process may run its FFmpeg now (a cluster node: only what it owns, and only while its
   * lease is fresh). A process with order start that may not run is held: its order is kept, its FFmpeg
   * does not run, until applyGate() lets it. Absent: every process may run (single drake).
   */
  gate?: (id: string) => boolean;
}

/** A process as the cluster's table holds it (the supervisor's stored entry plus its metadata). */
export interface ProcessRecord extends StoredProcess {
  metadata: Metadata;
}

interface Entry {
  stored: StoredProcess;
  metadata: Metadata;
  handle: StreamHandle;
  history: ReportEntryDto[];
  /** The run that ended last: still the "current" report until the next run starts (as in Core). */
  lastEnded: ReportEntryDto | null;
  /** Last state seen, served while a worker is being replaced. */
  exec: ExecState;
  lastReason: string;
  pid: number | null;
  viewers: number;
  /** Viewers that joined since this process was added (Core's widget total_sessions). */
  viewersJoined: number;
  crashes: number;
  lastCrashAt: number;
  /** The order the stream actor was given: the stored order unless the gate holds the process. */
  effective: ProcessOrder;
}

const now = () => Math.floor(Date.now() / 1000);
/** Core's probe limit. */
const PROBE_TIMEOUT_MS = 20_000;

/** The embedded default: something to watch right after `npm start`. */
export const DEMO_PROCESS = {
  id: 'demo',
  reference: 'drake demo',
  input: [
    { id: 'video', address: 'testsrc2=size=640x360:rate=30', options: ['-re', '-f', 'lavfi'] },
    { id: 'audio', address: 'sine=frequency=440:beep_factor=4:sample_rate=48000', options: ['-re', '-f', 'lavfi'] },
  ],
  output: [{ id: 'null', address: '-', options: ['-map', '1:a', '-f', 'null'] }],
  autostart: true,
  reconnect: true,
  reconnect_delay_seconds: 3,
  webrtc: { enabled: true, video: 'transcode', audio: 'opus', gop_seconds: 2, video_bitrate_kbit: 1000 },
};

export function webrtcSettings(config: DrakeConfig): StreamSettings['webrtc'] {
  const w = config.webrtc;
  const v4 = w.bind_addresses.filter((a) => !a.includes(':'));
  return {
    maxViewersPerStream: w.max_viewers_per_stream,
    gopCache: w.gop_cache,
    strictIfMatch: w.strict_if_match,
    viewerTimeoutMs: w.viewer_timeout_seconds * 1000,
    sendPath: w.send_path,
    sharedPort: w.shared_port,
    iceLite: w.ice_lite === 'on' || (w.ice_lite === 'auto' && w.ice_servers.length === 0),
    consentTimeoutMs: w.consent_timeout_seconds * 1000,
    viewersPerShard: w.viewers_per_shard,
    ice: {
      portRange: w.port_min > 0 && w.port_max > w.port_min ? [w.port_min, w.port_max] : undefined,
      // Loopback is always offered so that local players and tests connect out of the box.
      additionalHostAddresses: [...new Set(['127.0.0.1', ...v4])],
      interfaceAddress: v4[0],
      iceServers: w.ice_servers,
      gatheringTimeoutMs: w.ice_gathering_timeout_ms,
      announceIps: w.announce_ips,
    },
  };
}

/** SIGKILLs pid only if it still runs our FFmpeg binary: a pid may have been reused since we saw it. */
function killIfOurs(pid: number, binary: string): void {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0];
    if (argv0 === binary) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A cluster node's FFmpeg must die with it (see StreamSettings.setprivPath). */
function setprivSetting(): { setprivPath?: string } {
  const path = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (!path) log.warn('setpriv (util-linux) not found: FFmpeg of this cluster node would outlive a crash of drake and run beside its new owner\'s copy; install util-linux');
  return path ? { setprivPath: path } : {};
}

export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

export class Supervisor {
  readonly observer = new TypedEmitter<SupervisorEvents>();
  /** State changes of all processes since start, per target state (Core's ffmpeg_process metric). */
  readonly #stateChanges: Record<ExecState, number> = { finished: 0, starting: 0, running: 0, finishing: 0, failed: 0, killed: 0 };
  readonly #opts: SupervisorOptions;
  readonly #store: Store;
  readonly #settings: StreamSettings;
  readonly #entries = new Map<string, Entry>();
  #systemMetadata: Metadata = {};
  #closing = false;
  #cleanupTimer: NodeJS.Timeout | null = null;
  #cleaning = false;

  private constructor(opts: SupervisorOptions, store: Store) {
    this.#opts = opts;
    this.#store = store;
    this.#settings = {
      ffmpegBinary: opts.ffmpeg.path,
      diskDir: opts.diskDir,
      memfsUrl: opts.memfsUrl,
      ...(opts.memfsAuthorization ? { memfsAuthorization: opts.memfsAuthorization } : {}),
      ...(opts.rtmpUrl ? { rtmpUrl: opts.rtmpUrl } : {}),
      ...(opts.srtUrl ? { srtUrl: opts.srtUrl } : {}),
      ...(opts.whipUrl ? { whipUrl: opts.whipUrl } : {}),
      maxLogLines: opts.config.ffmpeg.log.max_lines,
      stopTimeoutMs: opts.config.ffmpeg.stop_timeout_seconds * 1000,
      webrtc: webrtcSettings(opts.config),
      ...(opts.config.cluster.enable ? setprivSetting() : {}),
    };
  }

  /** Loads the store and brings every process back; those with order=start start again. */
  static async open(opts: SupervisorOptions): Promise<Supervisor> {
    const store = new Store(opts.config.db.dir);
    const sup = new Supervisor(opts, store);
    const firstStart = !existsSync(store.file);
    const data = await store.load();
    sup.#systemMetadata = data.systemMetadata;
    await Promise.all(
      data.processes.map((stored) => sup.#spawnEntry(stored, data.processMetadata[stored.id] ?? {}, [])),
    );
    log.info(`loaded ${data.processes.length} process(es) from ${store.file}`);
    if (opts.filesystems) {
      sup.#cleanupTimer = setInterval(() => void sup.#cleanup(), 1000);
      sup.#cleanupTimer.unref();
    }
    if (firstStart && opts.config.demo) {
      await sup.add(DEMO_PROCESS);
      log.info('first start: created the "demo" process (test pattern + tone, WebRTC on); delete it any time');
    }
    return sup;
  }

  get storeFile(): string {
    return this.#store.file;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  async #spawnEntry(stored: StoredProcess, metadata: Metadata, history: ReportEntryDto[], recoveredFrom?: string): Promise<Entry> {
    const handle = new StreamHandle(stored.id);
    const prev = this.#entries.get(stored.id);
    const entry: Entry = prev ?? {
      stored,
      metadata,
      handle,
      history,
      lastEnded: null,
      exec: recoveredFrom ? 'failed' : 'finished',
      lastReason: '',
      pid: null,
      viewers: 0,
      viewersJoined: 0,
      crashes: 0,
      lastCrashAt: 0,
      effective: 'stop',
    };
    entry.handle = handle;
    entry.effective = this.#effective(stored);
    this.#entries.set(stored.id, entry);
    this.#wire(entry, handle);
    await handle.init({
      processId: stored.id,
      config: stored.config,
      order: entry.effective,
      settings: this.#settings,
      ...(recoveredFrom ? { recoveredFrom } : {}),
    });
    return entry;
  }

  #wire(entry: Entry, handle: StreamHandle): void {
    handle.on('event', (ev) => this.#onEvent(entry, handle, ev));
    handle.on('died', (reason, expected) => {
      if (expected || this.#closing || entry.handle !== handle) return;
      void this.#recover(entry, reason);
    });
  }

  #onEvent(entry: Entry, handle: StreamHandle, ev: StreamEvent): void {
    if (entry.handle !== handle) return;
    switch (ev.event) {
      case 'stream.statechange':
        if (ev.to === 'starting') this.#archive(entry);
        entry.exec = ev.to;
        if (ev.reason) entry.lastReason = ev.reason;
        this.#stateChanges[ev.to]++;
        this.observer.safeEmit('statechange', entry.stored.id, ev.from, ev.to, ev.reason);
        return;
      case 'stream.spawned':
        entry.pid = ev.pid;
        return;
      case 'stream.viewers': {
        const before = entry.viewers;
        entry.viewers = ev.viewers;
        // One event per join or leave: a rise is a join.
        if (ev.viewers > before) entry.viewersJoined += ev.viewers - before;
        this.observer.safeEmit('viewers', entry.stored.id, ev.viewers, before);
        return;
      }
      case 'stream.exited':
        if (entry.pid === ev.pid) entry.pid = null;
        return;
      case 'stream.runended':
        entry.lastEnded = ev.entry;
        return;
    }
  }

  #archive(entry: Entry): void {
    if (!entry.lastEnded) return;
    entry.history.push(entry.lastEnded);
    entry.lastEnded = null;
    while (entry.history.length > this.#opts.config.ffmpeg.log.max_history) entry.history.shift();
  }

  /** A worker died without being asked to: its FFmpeg must not outlive it, and the process comes back. */
  async #recover(entry: Entry, reason: string): Promise<void> {
    const id = entry.stored.id;
    log.error(`process ${id}: ${reason}; restarting its stream actor`);
    if (entry.pid !== null) killIfOurs(entry.pid, this.#settings.ffmpegBinary);
    entry.pid = null;
    // The crash is an ended run of its own in the report, whatever the dead worker's log held.
    this.#archive(entry);
    const t0 = Math.floor(Date.now() / 1000);
    entry.lastEnded = {
      created_at: t0,
      prelude: [],
      log: [[String(t0), `[drake] ${reason}`]],
      exited_at: t0,
      exit_state: 'failed',
      exit_code: null,
      exit_reason: reason,
    };
    const from = entry.exec;
    entry.exec = 'failed';
    entry.lastReason = reason;
    if (entry.viewers) {
      this.observer.safeEmit('viewers', id, 0, entry.viewers);
      entry.viewers = 0;
    }
    if (from !== 'failed') {
      this.#stateChanges.failed++;
      this.observer.safeEmit('statechange', id, from, 'failed', reason);
    }
    // A worker that keeps dying is restarted with a growing delay instead of in a tight loop.
    const t = Date.now();
    entry.crashes = t - entry.lastCrashAt < 60_000 ? entry.crashes + 1 : 1;
    entry.lastCrashAt = t;
    const delay = Math.min(30_000, 100 * 2 ** (entry.crashes - 1));
    await new Promise((r) => setTimeout(r, delay));
    if (this.#closing || this.#entries.get(id) !== entry) return;
    try {
      await this.#spawnEntry(entry.stored, entry.metadata, entry.history, reason);
    } catch (err) {
      log.error(`process ${id}: cannot restart its stream actor: ${errorText(err)}`);
    }
  }

  #effective(stored: StoredProcess): ProcessOrder {
    return stored.order === 'start' && (this.#opts.gate?.(stored.id) ?? true) ? 'start' : 'stop';
  }

  /** Starts or holds a process as the gate now says (cluster ownership and fencing). */
  async applyGate(id: string): Promise<void> {
    const entry = this.#entries.get(id);
    if (!entry || this.#closing) return;
    const want = this.#effective(entry.stored);
    if (want === entry.effective) return;
    entry.effective = want;
    if (want === 'stop') log.info(`process ${id}: held (this node may not run it now)`);
    await entry.handle.command(want);
  }

  async applyGateAll(): Promise<void> {
    await Promise.all([...this.#entries.keys()].map((id) => this.applyGate(id).catch((err) => log.warn(`process ${id}: ${errorText(err)}`))));
  }

  /** Whether a process's FFmpeg is held back by the gate although its order is start. */
  held(id: string): boolean {
    const e = this.#get(id);
    return e.stored.order === 'start' && e.effective === 'stop';
  }

  #get(id: string): Entry {
    const e = this.#entries.get(id);
    if (!e) throw new NotFoundError(`Unknown process ID: ${id}`);
    return e;
  }

  #persist(): Promise<void> {
    const processMetadata: Record<string, Metadata> = {};
    for (const [id, e] of this.#entries) processMetadata[id] = e.metadata;
    return this.#store.save({
      processes: [...this.#entries.values()].map((e) => e.stored),
      processMetadata,
      systemMetadata: this.#systemMetadata,
    });
  }

  /** Fills ids and checks that the addresses resolve, so a config that can never run is refused up front. */
  #prepare(config: ProcessConfig): ProcessConfig {
    const withId = config.id ? config : { ...config, id: shortId() };
    try {
      const normalized = normalizeIds(withId);
      const { rtmpUrl, srtUrl, whipUrl } = this.#settings;
      resolveConfig(normalized, {
        diskDir: this.#settings.diskDir,
        memfsUrl: this.#settings.memfsUrl,
        ...(rtmpUrl ? { rtmpUrl } : {}),
        ...(srtUrl ? { srtUrl } : {}),
        ...(whipUrl ? { whipUrl } : {}),
      });
      return normalized;
    } catch (err) {
      if (err instanceof CommandError) throw new ValidationError('Invalid process config', err.details.length ? err.details : [err.message]);
      throw err;
    }
  }

  #checkCapacity(exceptId: string | null): void {
    const max = this.#opts.config.ffmpeg.max_processes;
    if (max <= 0) return;
    let started = 0;
    for (const [id, e] of this.#entries) if (id !== exceptId && e.stored.order === 'start') started++;
    if (started >= max) throw new LimitError(`max. number of running processes (${max}) reached`);
  }

  /** A config as add() would take it (id filled, addresses checked), without adding it. */
  validate(input: unknown): ProcessConfig {
    return this.#prepare(parseProcessConfig(input));
  }

  async add(input: unknown): Promise<ProcessConfig> {
    const config = this.#prepare(parseProcessConfig(input));
    if (this.#entries.has(config.id)) throw new ConflictError(`process already exists: ${config.id}`);
    const order: ProcessOrder = config.autostart ? 'start' : 'stop';
    if (order === 'start') this.#checkCapacity(null);
    const t = now();
    const stored: StoredProcess = { id: config.id, reference: config.reference, config, created_at: t, updated_at: t, order };
    await this.#spawnEntry(stored, {}, []);
    await this.#persist();
    this.observer.safeEmit('newprocess', config.id);
    log.info(`process ${config.id} added (order ${order})`);
    return config;
  }

  /** PUT: the body is merged over the current config at the top level, as Core does; a new id renames. */
  async update(id: string, body: unknown): Promise<ProcessConfig> {
    const entry = this.#get(id);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('Invalid process config', ['(root): expected an object']);
    const merged = { ...entry.stored.config, ...(body as Record<string, unknown>) };
    const config = this.#prepare(parseProcessConfig(merged));
    if (config.id !== id && this.#entries.has(config.id)) throw new ConflictError(`process already exists: ${config.id}`);
    await entry.handle.update(config);
    entry.stored = { ...entry.stored, id: config.id, reference: config.reference, config, updated_at: now() };
    if (config.id !== id) {
      this.#entries.delete(id);
      this.#entries.set(config.id, entry);
      log.info(`process ${id} renamed to ${config.id}`);
    }
    await this.#persist();
    return config;
  }

  /** Output cleanup rules of every process, once a second (Core's ticker). */
  async #cleanup(): Promise<void> {
    const fss = this.#opts.filesystems;
    if (!fss || this.#cleaning) return;
    this.#cleaning = true;
    try {
      const nowS = Math.floor(Date.now() / 1000);
      for (const e of this.#entries.values()) {
        for (const rule of cleanupRules(e.stored.config)) await applyCleanup(rule, fss[rule.fs], nowS);
      }
    } catch (err) {
      log.warn(`output cleanup: ${errorText(err)}`);
    } finally {
      this.#cleaning = false;
    }
  }

  /** Stops and deletes a process; `purge: false` (a cluster move) leaves its files alone. */
  async remove(id: string, opts: { purge?: boolean } = {}): Promise<void> {
    const entry = this.#get(id);
    this.#entries.delete(id);
    await entry.handle.close();
    const fss = this.#opts.filesystems;
    if (fss && opts.purge !== false) {
      for (const rule of cleanupRules(entry.stored.config)) if (rule.purgeOnDelete) await purgeFiles(rule, fss[rule.fs]).catch(() => []);
    }
    await this.#persist();
    this.observer.safeEmit('deleteprocess', id);
    log.info(`process ${id} deleted`);
  }

  async command(id: string, cmd: StreamCommand): Promise<void> {
    const entry = this.#get(id);
    if (cmd === 'start' && entry.stored.order !== 'start') this.#checkCapacity(id);
    const order: ProcessOrder | null = cmd === 'start' ? 'start' : cmd === 'stop' ? 'stop' : null;
    if (order && order !== entry.stored.order) {
      entry.stored = { ...entry.stored, order };
      await this.#persist();
    }
    const want = this.#effective(entry.stored);
    if (cmd === 'start' || cmd === 'stop') {
      if (want === 'stop' && cmd === 'start') return;
      entry.effective = want;
    } else if (cmd === 'restart' && entry.effective !== 'start') {
      return;
    }
    await entry.handle.command(cmd);
  }

  async state(id: string): Promise<ProcessStateDto> {
    const entry = this.#get(id);
    try {
      // The order is what was asked for, also while the gate holds the process.
      return { ...(await entry.handle.state()), order: entry.stored.order };
    } catch (err) {
      if (!(err instanceof WorkerClosedError)) throw err;
      return this.#fallbackState(entry);
    }
  }

  /** What can be said of a process whose worker is being replaced. */
  #fallbackState(entry: Entry): ProcessStateDto {
    return {
      order: entry.stored.order,
      exec: entry.exec,
      runtime_seconds: 0,
      reconnect_seconds: -1,
      last_logline: `[drake] ${entry.lastReason}`,
      progress: { inputs: [], outputs: [], frame: 0, packet: 0, fps: 0, q: 0, size_kb: 0, time: 0, bitrate_kbit: 0, speed: 0, drop: 0, dup: 0 },
      memory_bytes: 0,
      cpu_usage: 0,
      command: [],
    };
  }

  async report(id: string): Promise<ReportDto> {
    const entry = this.#get(id);
    let current: ReportEntryDto = { created_at: 0, prelude: [], log: [] };
    try {
      current = await entry.handle.report();
    } catch (err) {
      if (!(err instanceof WorkerClosedError)) throw err;
    }
    return { ...current, history: [...entry.history] };
  }

  config(id: string): ProcessConfig {
    return this.#get(id).stored.config;
  }

  async get(id: string, filter: readonly ProcessFilter[] = PROCESS_FILTERS): Promise<ProcessDto> {
    const e = this.#get(id);
    const s = e.stored;
    const dto: ProcessDto = { id: s.id, type: 'ffmpeg', reference: s.reference, created_at: s.created_at, updated_at: s.updated_at };
    if (filter.includes('config')) dto.config = s.config;
    if (filter.includes('state')) dto.state = await this.state(id);
    if (filter.includes('report')) dto.report = await this.report(id);
    if (filter.includes('metadata')) dto.metadata = Object.keys(e.metadata).length ? e.metadata : null;
    return dto;
  }

  async list(q: ListQuery): Promise<ProcessDto[]> {
    const idRe = q.idpattern ? globToRegExp(q.idpattern) : null;
    const refRe = q.refpattern ? globToRegExp(q.refpattern) : null;
    const ids = [...this.#entries.values()]
      .map((e) => e.stored)
      .filter(
        (s) =>
          (!q.ids || q.ids.includes(s.id)) &&
          (q.reference === undefined || s.reference === q.reference) &&
          (!idRe || idRe.test(s.id)) &&
          (!refRe || refRe.test(s.reference)),
      )
      .map((s) => s.id);
    return Promise.all(ids.map((id) => this.get(id, q.filter)));
  }

  /** A process as the cluster's table keeps it. */
  record(id: string): ProcessRecord {
    const e = this.#get(id);
    return { ...e.stored, metadata: { ...e.metadata } };
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Makes the local copy of a process what the cluster's table says (this node owns it): added when
   * missing, else config, order and metadata brought in line. The config was validated by the node that
   * wrote it; it is parsed again here (Redis is a boundary).
   */
  async adopt(rec: ProcessRecord): Promise<'added' | 'updated' | 'same'> {
    const config = parseProcessConfig(rec.config);
    const stored: StoredProcess = { id: rec.id, reference: rec.reference, config, created_at: rec.created_at, updated_at: rec.updated_at, order: rec.order };
    const entry = this.#entries.get(rec.id);
    if (!entry) {
      await this.#spawnEntry(stored, { ...rec.metadata }, []);
      await this.#persist();
      this.observer.safeEmit('newprocess', rec.id);
      log.info(`process ${rec.id} taken over from the cluster table (order ${rec.order})`);
      return 'added';
    }
    let changed = false;
    if (JSON.stringify(entry.stored.config) !== JSON.stringify(config)) {
      await entry.handle.update(config);
      changed = true;
    }
    if (changed || entry.stored.order !== stored.order || entry.stored.updated_at !== stored.updated_at || entry.stored.reference !== stored.reference) {
      entry.stored = stored;
      changed = true;
    }
    if (JSON.stringify(entry.metadata) !== JSON.stringify(rec.metadata)) {
      entry.metadata = { ...rec.metadata };
      changed = true;
    }
    if (!changed) return 'same';
    await this.#persist();
    await this.applyGate(rec.id);
    return 'updated';
  }

  getMetadata(id: string, key?: string): unknown {
    const meta = this.#get(id).metadata;
    if (key === undefined) return Object.keys(meta).length ? meta : null;
    if (!(key in meta)) throw new NotFoundError(`Unknown metadata key: ${key}`);
    return meta[key];
  }

  /** `null` deletes the key, as in Core. */
  async setMetadata(id: string, key: string, value: unknown): Promise<unknown> {
    const entry = this.#get(id);
    if (value === null) delete entry.metadata[key];
    else entry.metadata[key] = value;
    await this.#persist();
    return value;
  }

  getSystemMetadata(key?: string): unknown {
    const meta = this.#systemMetadata;
    if (key === undefined) return Object.keys(meta).length ? meta : null;
    if (!(key in meta)) throw new NotFoundError(`Unknown metadata key: ${key}`);
    return meta[key];
  }

  async setSystemMetadata(key: string, value: unknown): Promise<unknown> {
    if (value === null) delete this.#systemMetadata[key];
    else this.#systemMetadata[key] = value;
    await this.#persist();
    return value;
  }

  /** What a cluster heartbeat reports of this node's processes. */
  counts(): { processes: number; running: number; started: number; viewers: number } {
    let running = 0;
    let started = 0;
    for (const e of this.#entries.values()) {
      if (e.exec === 'running') running++;
      if (e.stored.order === 'start') started++;
    }
    return { processes: this.#entries.size, running, started, viewers: this.totalViewers };
  }

  stateChanges(): Record<ExecState, number> {
    return { ...this.#stateChanges };
  }

  /** WHEP viewers of one process: now, and all that joined since it was added. */
  viewerCounts(id: string): { current: number; total: number } {
    const e = this.#get(id);
    return { current: e.viewers, total: e.viewersJoined };
  }

  get maxViewersTotal(): number {
    return this.#opts.config.webrtc.max_viewers_total;
  }

  get totalViewers(): number {
    let n = 0;
    for (const e of this.#entries.values()) n += e.viewers;
    return n + this.#pendingViewers + (this.#opts.otherViewers?.() ?? 0);
  }

  #pendingViewers = 0;

  /** WHEP POST, after the token check: the total cap is enforced here, the per-stream one by the actor. */
  async whepCreate(id: string, offer: string): Promise<WhepCreatedDto> {
    const entry = this.#get(id);
    if (!entry.stored.config.webrtc.enabled) throw new NotFoundError(`WebRTC is not enabled for process ${id}`);
    const max = this.#opts.config.webrtc.max_viewers_total;
    if (this.totalViewers >= max) throw new CapacityError(`drake has reached its total viewer limit (${max})`);
    this.#pendingViewers++;
    try {
      return await entry.handle.whepCreate(offer);
    } finally {
      this.#pendingViewers--;
    }
  }

  whepPatch(id: string, sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    return this.#get(id).handle.whepPatch(sessionId, frag, ifMatch);
  }

  /** Whether the WHEP session is live on the process (GET/HEAD on a session URL, the SSE extension). */
  async whepHasSession(id: string, sessionId: string): Promise<boolean> {
    return (await this.whepSessionIds(id)).has(sessionId);
  }

  /** The live WHEP sessions of a process (empty when it is unknown or has WebRTC off). */
  async whepSessionIds(id: string): Promise<Set<string>> {
    const entry = this.#entries.get(id);
    if (!entry || !entry.stored.config.webrtc.enabled) return new Set();
    const sessions = await entry.handle.whepSessions().catch(() => []);
    return new Set(sessions.map((s) => s.id));
  }

  /** false for an unknown process or session (WHEP DELETE is idempotent). */
  async whepDelete(id: string, sessionId: string): Promise<boolean> {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    try {
      return await entry.handle.whepDelete(sessionId);
    } catch (err) {
      if (err instanceof WorkerClosedError) return false;
      throw err;
    }
  }

  async whepStats(id: string): Promise<WhepStatsDto> {
    return this.#get(id).handle.whepStats();
  }

  /** Cluster owner: an edge holds (starts or renews) the relay of process id's RTP; answers the legs it carries. */
  relayHold(id: string, target: RelayTargetDto): Promise<{ video: boolean; audio: boolean }> {
    const entry = this.#get(id);
    if (!entry.stored.config.webrtc.enabled) throw new NotFoundError(`WebRTC is not enabled for process ${id}`);
    return entry.handle.relayHold(target);
  }

  /** Cluster owner: the edge no longer wants the relay (false: there was none). */
  async relayDrop(id: string, node: string): Promise<boolean> {
    const entry = this.#entries.get(id);
    return entry ? entry.handle.relayDrop(node).catch(() => false) : false;
  }

  /** What every stream actor gets (a cluster edge's stream actors too). */
  get streamSettings(): StreamSettings {
    return this.#settings;
  }

  probe(id: string): Promise<ProbeDto> {
    return this.#get(id).handle.probe(PROBE_TIMEOUT_MS);
  }

  /** Everything /metrics and /api/v3/session report, gathered from every actor at once. */
  async snapshot(): Promise<ProcessSnapshot[]> {
    return Promise.all(
      [...this.#entries.values()].map(async (e): Promise<ProcessSnapshot> => {
        const id = e.stored.id;
        const [state, whep, sessions] = await Promise.all([
          this.state(id).catch(() => this.#fallbackState(e)),
          e.stored.config.webrtc.enabled ? e.handle.whepStats().catch(() => null) : Promise.resolve(null),
          e.stored.config.webrtc.enabled ? e.handle.whepSessions().catch(() => []) : Promise.resolve([]),
        ]);
        return { id, reference: e.stored.reference, state, whep, sessions, crashes: e.crashes };
      }),
    );
  }

  /** Heap and event-loop resources of every drake thread: this one (gateway and supervisor), each stream actor and its shard workers. */
  async runtime(): Promise<RuntimeDto> {
    const workers = await Promise.all([...this.#entries.values()].map((e) => e.handle.runtime().catch(() => null)));
    return addRuntime([threadRuntime(), ...workers.filter((r): r is RuntimeDto => r !== null)]);
  }

  /** Processes with WebRTC on, for the index page. */
  webrtcProcesses(): Array<{ id: string; exec: ExecState; viewers: number; token: boolean }> {
    return [...this.#entries.values()]
      .filter((e) => e.stored.config.webrtc.enabled)
      .map((e) => ({ id: e.stored.id, exec: e.exec, viewers: e.viewers, token: e.stored.config.webrtc.token !== '' }));
  }

  /** The per-process WHEP token ('' = none). */
  whepToken(id: string): string {
    return this.#get(id).stored.config.webrtc.token;
  }

  /**
   * A WHIP publisher left: every process that reads its stream ({whip,name=…} in an input address) ends
   * its run as after an input error, so reconnect takes it (FFmpeg's RTP input would only wait).
   */
  async whipPublisherLeft(name: string): Promise<void> {
    const template = this.#settings.whipUrl;
    if (!template) return;
    const url = template.replace('{name}', name);
    const readers = [...this.#entries.values()].filter((e) => {
      if (e.effective !== 'start') return false;
      try {
        const resolved = resolveConfig(e.stored.config, { diskDir: this.#settings.diskDir, memfsUrl: this.#settings.memfsUrl, whipUrl: template });
        return resolved.input.some((io) => io.address === url);
      } catch {
        return false;
      }
    });
    await Promise.all(readers.map((e) => e.handle.command('inputlost').catch(() => undefined)));
  }

  /** Test hook: makes a process's worker throw an uncaught exception. */
  async crashWorkerForTest(id: string): Promise<void> {
    await this.#get(id).handle.crashForTest();
  }

  /** Test hook: crashes one of a process's peer shard workers (1-based, in start order). */
  async crashShardForTest(id: string, index: number): Promise<void> {
    await this.#get(id).handle.crashShardForTest(index);
  }

  /** FFmpeg pid of a process, when one runs (tests kill it from outside). */
  pidOf(id: string): number | null {
    return this.#get(id).pid;
  }

  /** SIGKILL to every FFmpeg, synchronously: for an exit that cannot wait for the graceful stop. */
  killChildrenNow(): void {
    for (const e of this.#entries.values()) if (e.pid !== null) killIfOurs(e.pid, this.#settings.ffmpegBinary);
  }

  /** Stops every FFmpeg gracefully, ends the workers, and makes sure no child is left behind. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#cleanupTimer) clearInterval(this.#cleanupTimer);
    const entries = [...this.#entries.values()];
    await Promise.all(entries.map((e) => e.handle.close().catch((err) => log.warn(`closing ${e.stored.id}: ${errorText(err)}`))));
    for (const e of entries) if (e.pid !== null) killIfOurs(e.pid, this.#settings.ffmpegBinary);
    await this.#store.flush();
  }
}
