// datarhei Core's metric monitor, as /api/v3/metrics serves it to Restreamer UI's dashboard: Core's
// metric names and labels (cpu_*, mem_*, filesystem_*, session_*, ffmpeg_process, uptime_uptime), a
// sample every `intervalSec` into a ring that covers `rangeSec`, and queries for the current values or
// a resampled history. Everything here is measured by drake itself: os counters for CPU and memory,
// its memfs and disk directory, its HLS and WHEP sessions, the supervisor's state-change counters.
import { cpus, freemem, totalmem } from 'node:os';
import type { ExecState } from '../shared/processConfig.ts';
import { EXEC_STATES } from '../shared/processConfig.ts';

export interface CoreMetricDescription {
  name: string;
  description: string;
  labels: string[];
}

export interface CoreValue {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Sample {
  /** Unix seconds. */
  ts: number;
  values: CoreValue[];
}

export interface CoreMetricSources {
  startedAt: Date;
  /** memfs: bytes used, files, limit in bytes (0: none). */
  mem: () => { bytes: number; files: number; limit: number };
  /** The disk filesystem's files (walked at most every DISK_REFRESH_MS). */
  diskFiles: () => Promise<Array<{ size_bytes: number }>>;
  /** HLS/HTTP viewer sessions: active now, total since start, bytes sent. */
  hls: () => { active: number; total: number; txBytes: number };
  /** WHEP viewers now and the cap over all processes; null while drake starts. */
  whep: () => { active: number; limit: number } | null;
  /** State changes of all processes since start; null while drake starts. */
  stateChanges: () => Record<ExecState, number> | null;
}

const DESCRIPTIONS: CoreMetricDescription[] = [
  { name: 'cpu_idle', description: 'Percentage of idle CPU', labels: [] },
  { name: 'cpu_ncpu', description: 'Number of logical CPUs in the system', labels: [] },
  { name: 'cpu_other', description: 'Percentage of CPU used for other subsystems', labels: [] },
  { name: 'cpu_system', description: 'Percentage of CPU used for the system', labels: [] },
  { name: 'cpu_user', description: 'Percentage of CPU used for the user', labels: [] },
  { name: 'ffmpeg_process', description: 'Accumulated state changes of all ffmpeg processes', labels: ['state'] },
  { name: 'filesystem_files', description: 'Number of files on the filesystem (excluding directories)', labels: ['name'] },
  { name: 'filesystem_limit', description: 'Total size of the filesystem in bytes, negative if unlimited', labels: ['name'] },
  { name: 'filesystem_usage', description: 'Number of used bytes on the filesystem', labels: ['name'] },
  { name: 'mem_free', description: 'Free memory in bytes', labels: [] },
  { name: 'mem_total', description: 'Total available memory in bytes', labels: [] },
  { name: 'session_active', description: 'Number of current sessions', labels: ['collector'] },
  { name: 'session_limit', description: 'Max. number of concurrent sessions', labels: ['collector'] },
  { name: 'session_maxrxbitrate', description: 'Max. allowed receiving bitrate in bit per second', labels: ['collector'] },
  { name: 'session_maxtxbitrate', description: 'Max. allowed transmitting bitrate in bit per second', labels: ['collector'] },
  { name: 'session_rxbitrate', description: 'Current receiving bitrate in bit per second', labels: ['collector'] },
  { name: 'session_rxbytes', description: 'Number of received bytes', labels: ['collector'] },
  { name: 'session_total', description: 'Total sessions', labels: ['collector'] },
  { name: 'session_txbitrate', description: 'Current transmitting bitrate in bit per second', labels: ['collector'] },
  { name: 'session_txbytes', description: 'Number of transmitted bytes', labels: ['collector'] },
  { name: 'uptime_uptime', description: 'Current uptime in seconds', labels: [] },
];
export const CORE_METRIC_NAMES: ReadonlySet<string> = new Set(DESCRIPTIONS.map((d) => d.name));

const DISK_REFRESH_MS = 10_000;
/** Most points one series of a history answer may have. */
export const MAX_POINTS = 3600;

interface CpuTimes {
  user: number;
  system: number;
  idle: number;
  other: number;
}

function cpuTimes(): CpuTimes {
  const t = { user: 0, system: 0, idle: 0, other: 0 };
  for (const c of cpus()) {
    t.user += c.times.user;
    t.system += c.times.sys;
    t.idle += c.times.idle;
    t.other += c.times.nice + c.times.irq;
  }
  return t;
}

export class CoreMonitor {
  readonly rangeSec: number;
  readonly intervalSec: number;
  readonly #src: CoreMetricSources;
  readonly #ring: Sample[] = [];
  readonly #capacity: number;
  #timer: NodeJS.Timeout | null = null;
  #cpuLast: CpuTimes = cpuTimes();
  /** Percentages over the last interval (since boot until the first tick). */
  #cpu: CpuTimes;
  #disk = { bytes: 0, files: 0, at: 0, pending: false };
  #hlsLast: { ts: number; bytes: number } | null = null;
  #hlsTxBitrate = 0;

  constructor(src: CoreMetricSources, opts: { rangeSec?: number; intervalSec?: number } = {}) {
    this.#src = src;
    this.rangeSec = opts.rangeSec ?? 300;
    this.intervalSec = opts.intervalSec ?? 2;
    this.#capacity = Math.ceil(this.rangeSec / this.intervalSec) + 2;
    this.#cpu = CoreMonitor.#percent(this.#cpuLast, { user: 0, system: 0, idle: 0, other: 0 });
  }

  static #percent(now: CpuTimes, before: CpuTimes): CpuTimes {
    const d = { user: now.user - before.user, system: now.system - before.system, idle: now.idle - before.idle, other: now.other - before.other };
    const total = d.user + d.system + d.idle + d.other;
    if (total <= 0) return { user: 0, system: 0, idle: 100, other: 0 };
    return { user: (100 * d.user) / total, system: (100 * d.system) / total, idle: (100 * d.idle) / total, other: (100 * d.other) / total };
  }

  /** Starts sampling (unref'd timer: it never keeps drake alive). */
  start(): void {
    if (this.#timer) return;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.intervalSec * 1000);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  descriptions(): CoreMetricDescription[] {
    return DESCRIPTIONS.map((d) => ({ ...d, labels: [...d.labels] }));
  }

  #tick(): void {
    const times = cpuTimes();
    this.#cpu = CoreMonitor.#percent(times, this.#cpuLast);
    this.#cpuLast = times;
    const now = Date.now();
    const hls = this.#src.hls();
    if (this.#hlsLast && now > this.#hlsLast.ts) this.#hlsTxBitrate = Math.max(0, ((hls.txBytes - this.#hlsLast.bytes) * 8 * 1000) / (now - this.#hlsLast.ts));
    this.#hlsLast = { ts: now, bytes: hls.txBytes };
    this.#refreshDisk(now);
    this.#ring.push({ ts: Math.floor(now / 1000), values: this.#values(now) });
    if (this.#ring.length > this.#capacity) this.#ring.shift();
  }

  #refreshDisk(now: number): void {
    if (this.#disk.pending || now - this.#disk.at < DISK_REFRESH_MS) return;
    this.#disk.pending = true;
    this.#src
      .diskFiles()
      .then((files) => {
        this.#disk.bytes = files.reduce((n, f) => n + f.size_bytes, 0);
        this.#disk.files = files.length;
      })
      .catch(() => {})
      .finally(() => {
        this.#disk.at = Date.now();
        this.#disk.pending = false;
      });
  }

  #values(now: number): CoreValue[] {
    const out: CoreValue[] = [];
    const add = (name: string, value: number, labels: Record<string, string> = {}) => {
      if (Number.isFinite(value)) out.push({ name, labels, value });
    };
    add('uptime_uptime', (now - this.#src.startedAt.getTime()) / 1000);
    add('cpu_ncpu', cpus().length);
    add('cpu_system', this.#cpu.system);
    add('cpu_user', this.#cpu.user);
    add('cpu_idle', this.#cpu.idle);
    add('cpu_other', this.#cpu.other);
    add('mem_total', totalmem());
    add('mem_free', freemem());
    const mem = this.#src.mem();
    add('filesystem_limit', mem.limit > 0 ? mem.limit : -1, { name: 'memfs' });
    add('filesystem_usage', mem.bytes, { name: 'memfs' });
    add('filesystem_files', mem.files, { name: 'memfs' });
    add('filesystem_limit', -1, { name: 'diskfs' });
    add('filesystem_usage', this.#disk.bytes, { name: 'diskfs' });
    add('filesystem_files', this.#disk.files, { name: 'diskfs' });
    const hls = this.#src.hls();
    const sessions: Array<[string, { total: number | null; limit: number; active: number; txBytes: number | null; txBitrate: number | null }]> = [
      ['hls', { total: hls.total, limit: 0, active: hls.active, txBytes: hls.txBytes, txBitrate: this.#hlsTxBitrate }],
    ];
    const whep = this.#src.whep();
    if (whep) sessions.push(['whep', { total: null, limit: whep.limit, active: whep.active, txBytes: null, txBitrate: null }]);
    for (const [collector, s] of sessions) {
      const l = { collector };
      if (s.total !== null) add('session_total', s.total, l);
      add('session_limit', s.limit, l);
      add('session_active', s.active, l);
      add('session_rxbytes', 0, l);
      if (s.txBytes !== null) add('session_txbytes', s.txBytes, l);
      add('session_rxbitrate', 0, l);
      if (s.txBitrate !== null) add('session_txbitrate', s.txBitrate, l);
      // drake has no bitrate caps: 0 is Core's "unlimited".
      add('session_maxtxbitrate', 0, l);
      add('session_maxrxbitrate', 0, l);
    }
    const states = this.#src.stateChanges();
    if (states) for (const state of EXEC_STATES) add('ffmpeg_process', states[state], { state });
    return out;
  }

  /** The values now (Core's timerange_sec 0). */
  current(): { ts: number; values: CoreValue[] } {
    const now = Date.now();
    return { ts: Math.floor(now / 1000), values: this.#values(now) };
  }

  /**
   * The samples of the last `rangeSec`, one point every `intervalSec` (Core's resample: each point
   * takes the latest sample at or before it; points before the first sample are left out).
   */
  history(rangeSec: number, intervalSec: number): Array<{ ts: number; values: CoreValue[] }> {
    const range = Math.min(rangeSec, this.rangeSec);
    const step = Math.max(intervalSec || this.intervalSec, this.intervalSec);
    const to = Date.now() / 1000;
    const from = to - range;
    const points = Math.min(MAX_POINTS, Math.floor(range / step));
    const out: Array<{ ts: number; values: CoreValue[] }> = [];
    let j = 0;
    for (let i = 1; i <= points; i++) {
      const t = from + i * step;
      while (j + 1 < this.#ring.length && this.#ring[j + 1]!.ts <= t) j++;
      const s = this.#ring[j];
      if (!s || s.ts > t) continue;
      out.push({ ts: Math.floor(t), values: s.values });
    }
    return out;
  }
}

/** One metric asked for: Core's {name, labels}; a label matches its value exactly (no regular expressions). */
export interface CoreMetricQuery {
  name: string;
  labels: Record<string, string>;
}

/** Series of the wanted metrics over the given points, in Core's response shape. */
export function toSeries(points: Array<{ ts: number; values: CoreValue[] }>, wanted: CoreMetricQuery[]): Array<{ name: string; labels: Record<string, string>; values: Array<[number, number]> }> {
  const series = new Map<string, { name: string; labels: Record<string, string>; values: Array<[number, number]> }>();
  for (const p of points) {
    for (const v of p.values) {
      if (!wanted.some((w) => w.name === v.name && Object.entries(w.labels).every(([k, val]) => v.labels[k] === val))) continue;
      const key = `${v.name}${JSON.stringify(v.labels)}`;
      let s = series.get(key);
      if (!s) series.set(key, (s = { name: v.name, labels: v.labels, values: [] }));
      // Core: integers without decimals, other numbers with at most 3.
      s.values.push([p.ts, Number.isInteger(v.value) ? v.value : Math.round(v.value * 1000) / 1000]);
    }
  }
  return [...series.values()];
}
