// Parent side of bench/serveDrake.ts: spawns drake as `node --import tsx` in its own process group,
// talks to it over IPC (whepStats, pidOf), reads its CPU/RSS and its FFmpeg children's CPU from /proc,
// and makes sure nothing it started outlives the benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WhepStatsDto } from '../../src/shared/protocol.ts';
import type { ServeMessage, ServeRequest } from '../serveDrake.ts';
import { alive, cpuSeconds, descendantsOf, rssMiB, threadCount, threadCpu } from './proc.ts';

const SERVE = fileURLToPath(new URL('../serveDrake.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every child still running, so that exit handlers can kill them. */
const live = new Set<DrakeChild>();

/**
 * Extra node flags for every drake started from now on (e.g. --cpu-prof from `npm run bench -- --cpu-prof`),
 * after those in DRAKE_BENCH_NODE_ARGS (space-separated: V8 flags NODE_OPTIONS refuses, such as
 * --trace-deopt or --perf-basic-prof for `perf record` of a drake child).
 */
const envNodeArgs = (process.env.DRAKE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
let nodeArgs: string[] = [...envNodeArgs];
export function setDrakeNodeArgs(args: string[]): void {
  nodeArgs = [...envNodeArgs, ...args];
}

export interface ProcSample {
  at: number;
  drakeCpu: number;
  /** pid → CPU seconds of every descendant (FFmpeg) at this moment. */
  childCpu: Map<number, number>;
  rss: number;
  threads: number;
  /** tid → CPU seconds of each of drake's threads. */
  threadCpu: Map<number, number>;
}

/** A server process's CPU (all threads), RSS and threads, and the CPU of its FFmpeg processes `children`. */
export function procSample(pid: number, children: readonly number[]): ProcSample {
  const childCpu = new Map<number, number>();
  for (const c of children) {
    const cpu = cpuSeconds(c);
    if (cpu !== null) childCpu.set(c, cpu);
  }
  return {
    at: performance.now(),
    drakeCpu: cpuSeconds(pid) ?? NaN,
    childCpu,
    rss: rssMiB(pid) ?? NaN,
    threads: threadCount(pid) ?? NaN,
    threadCpu: threadCpu(pid),
  };
}

export class DrakeChild {
  readonly label: string;
  readonly #child: ChildProcess;
  url = '';
  pid = 0;
  ffmpeg = { path: '', version: '' };
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #exited = false;
  readonly #exit: Promise<number | null>;

  private constructor(label: string, child: ChildProcess) {
    this.label = label;
    this.#child = child;
    this.#exit = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.#exited = true;
        live.delete(this);
        for (const p of this.#pending.values()) p.reject(new Error(`${label}: drake exited (${code})`));
        this.#pending.clear();
        resolve(code);
      }),
    );
  }

  static async start(label: string, config: Record<string, unknown>, timeoutMs = 30_000, env: Record<string, string> = {}): Promise<DrakeChild> {
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', SERVE, JSON.stringify(config)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      detached: true, // own process group: FFmpeg can be killed with it as a last resort
      env: { ...process.env, DRAKE_LOG_LEVEL: process.env.DRAKE_LOG_LEVEL ?? 'warn', ...env },
    });
    const d = new DrakeChild(label, child);
    live.add(d);
    let tail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      for (const line of chunk.split('\n')) if (line.trim()) process.stderr.write(`[drake ${label}] ${line}\n`);
    });
    child.on('message', (raw) => {
      const m = raw as ServeMessage;
      if (m.type === 'reply') {
        const p = d.#pending.get(m.id);
        d.#pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      }
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: drake did not start within ${timeoutMs} ms\n${tail}`)), timeoutMs);
      const onMsg = (raw: unknown) => {
        const m = raw as ServeMessage;
        if (m.type !== 'ready') return;
        clearTimeout(timer);
        child.off('message', onMsg);
        d.url = m.url;
        d.pid = m.pid;
        d.ffmpeg = m.ffmpeg;
        resolve();
      };
      child.on('message', onMsg);
      void d.#exit.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${label}: drake exited during start (${code})\n${tail}`));
      });
    });
    return d;
  }

  #call<T>(method: ServeRequest['method'], ...args: unknown[]): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`${this.label}: drake is not running`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.send({ id, method, args } satisfies ServeRequest);
    });
  }

  whepStats(processId: string): Promise<WhepStatsDto> {
    return this.#call('whepStats', processId);
  }

  ffmpegPid(processId: string): Promise<number | null> {
    return this.#call('pidOf', processId);
  }

  /** drake's test hook: an uncaught exception in peer shard worker `index` (1-based, in start order). */
  crashShard(processId: string, index: number): Promise<void> {
    return this.#call('crashShard', processId, index);
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // plain text
    }
    return { status: res.status, body: parsed as T };
  }

  /** CPU of drake's node process (all its threads) and of each of its descendants (FFmpeg), RSS. */
  sample(): ProcSample {
    return procSample(this.pid, descendantsOf(this.pid));
  }

  /** Graceful stop (drake closes its FFmpeg), then SIGKILL to the whole group if anything is left. */
  async stop(graceMs = 8000): Promise<void> {
    if (!this.#exited) {
      try {
        process.kill(this.pid || this.#child.pid!, 'SIGTERM');
      } catch {
        // gone
      }
      const timer = setTimeout(() => this.kill(), graceMs);
      await this.#exit;
      clearTimeout(timer);
    }
    this.kill();
  }

  /** Synchronous last resort: SIGKILL to drake's process group (drake and its FFmpeg). */
  kill(): void {
    const pgid = this.#child.pid;
    if (!pgid) return;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // group already empty
    }
  }

  get running(): boolean {
    return !this.#exited && alive(this.pid);
  }
}

/** Synchronous: for process.on('exit') and fatal paths. */
export function killAllDrakes(): void {
  for (const d of live) d.kill();
}

export async function stopAllDrakes(): Promise<void> {
  await Promise.all([...live].map((d) => d.stop().catch(() => d.kill())));
}

/** The thread of drake that used the most CPU between two samples: [tid, CPU seconds]. */
export function busiestThread(a: ProcSample, b: ProcSample): [number, number] {
  let best: [number, number] = [0, 0];
  for (const [tid, cpu] of b.threadCpu) {
    const d = cpu - (a.threadCpu.get(tid) ?? 0);
    if (d > best[1]) best = [tid, d];
  }
  return best;
}

/** CPU seconds that processes present in both samples used in between (a restarted FFmpeg counts from its start). */
export function childCpuDelta(a: ProcSample, b: ProcSample): number {
  let s = 0;
  for (const [pid, cpu] of b.childCpu) s += cpu - (a.childCpu.get(pid) ?? 0);
  return s;
}
