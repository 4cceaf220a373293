// The load generator: a piscina pool whose workers run bench/loadViewer.ts. A LoadSession spreads
// N viewers over the workers (one task each, with a MessagePort to steer it) and collects marks
// and results. atomics 'disabled': with the default 'sync' an idle worker's event loop freezes,
// and these workers own sockets and timers.
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { MainToWorker, ViewerCounters, ViewerResult, ViewerTask, WorkerToMain } from '../loadViewer.ts';
import { cpuSeconds } from './proc.ts';
import type { LoadTask } from './whepViewer.ts';

const WORKER = new URL('../loadWorker.mjs', import.meta.url).href;

export interface JoinOptions {
  joinTimeoutMs: number;
  /** Upper bound of the session's life (the workers leave by themselves after it). */
  maxMs: number;
  /** POSTs in flight per worker (0: all at once). */
  joinConcurrency: number;
  /** Retries of a failed POST per viewer. */
  retries?: number;
  waitGo?: boolean;
  /** The viewers send a PLI this often (PLI flood); 0 or absent: never. */
  pliEveryMs?: number;
}

/** Who the load viewers are: werift peers (gentle: RTCP RR and NACKs) or libwebrtc ones that cannot decode (RR, NACKs and PLI ≈ 5/s, like a browser). */
export const VIEWER_KINDS = ['werift', 'libwebrtc'] as const;
export type ViewerKind = (typeof VIEWER_KINDS)[number];

/** What a scenario needs from a load generator, whichever kind of viewer it runs. */
export interface LoadGenerator {
  readonly kind: ViewerKind;
  join(url: string, n: number, opts: JoinOptions): LoadSession;
  /** CPU seconds the generator has used so far (every process and thread it runs in). */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** Splits n viewers over `parts` runners: each part's count and first viewer index. */
export function shares(n: number, parts: number): Array<{ count: number; first: number }> {
  const k = Math.min(parts, n);
  const out: Array<{ count: number; first: number }> = [];
  let first = 0;
  for (let i = 0; i < k; i++) {
    const count = Math.floor(n / k) + (i < n % k ? 1 : 0);
    out.push({ count, first });
    first += count;
  }
  return out;
}

/** One runner's part of a session. */
export function loadTask(url: string, viewers: number, firstIndex: number, opts: JoinOptions): LoadTask {
  return {
    url,
    viewers,
    firstIndex,
    durationMs: opts.maxMs,
    joinTimeoutMs: opts.joinTimeoutMs,
    joinConcurrency: opts.joinConcurrency,
    retries: opts.retries ?? 0,
    waitGo: opts.waitGo ?? false,
  };
}

export class Generator implements LoadGenerator {
  readonly kind = 'werift' as const;
  readonly workers: number;
  readonly pool: Piscina<ViewerTask, ViewerResult[]>;

  /** tasksPerWorker > 1: many small sessions at once (the soak's one-viewer sessions), each task async in its worker. */
  constructor(workers: number, tasksPerWorker = 1) {
    this.workers = workers;
    this.pool = new Piscina({
      filename: WORKER,
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: tasksPerWorker,
      atomics: 'disabled',
      idleTimeout: 60_000,
    });
  }

  /** Starts N viewers on `url` spread over the workers. */
  join(url: string, n: number, opts: JoinOptions): LoadSession {
    return new LoadSession(
      n,
      shares(n, this.workers).map(({ count, first }) => {
        const { port1, port2 } = new MessageChannel();
        const h = new TaskHandle(
          (m) => port1.postMessage(m),
          () => port1.close(),
        );
        port1.on('message', (m: WorkerToMain) => h.deliver(m));
        const task: ViewerTask = { ...loadTask(url, count, first, opts), pliEveryMs: opts.pliEveryMs ?? 0, port: port2 };
        h.track(this.pool.run(task, { transferList: [port2] }));
        return h;
      }),
    );
  }

  /** The workers are threads of this process. */
  cpuSeconds(): number {
    return cpuSeconds(process.pid) ?? NaN;
  }

  async close(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
  }
}

/** One runner's share of a session (a worker task or a child process), as the session sees it. */
export class TaskHandle {
  readonly inbox: WorkerToMain[] = [];
  readonly waiters: Array<() => void> = [];
  result: Promise<ViewerResult[]> = Promise.resolve([]);
  settled = false;
  error: Error | null = null;
  readonly send: (m: MainToWorker) => void;
  readonly close: () => void;

  constructor(send: (m: MainToWorker) => void, close: () => void) {
    this.send = send;
    this.close = close;
  }

  deliver(m: WorkerToMain): void {
    this.inbox.push(m);
    this.#wake();
  }

  /** The runner's results; its failure is kept in `error` and yields no results. */
  track(p: Promise<ViewerResult[]>): void {
    this.result = p.then(
      (r) => {
        this.settled = true;
        this.#wake();
        return r;
      },
      (err: unknown) => {
        this.settled = true;
        this.error = err instanceof Error ? err : new Error(String(err));
        this.#wake();
        return [];
      },
    );
  }

  #wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export class LoadSession {
  readonly n: number;
  readonly #tasks: TaskHandle[];

  constructor(n: number, tasks: TaskHandle[]) {
    this.n = n;
    this.#tasks = tasks;
  }

  async #await<T extends WorkerToMain['type']>(h: TaskHandle, type: T, timeoutMs: number, match?: (m: Extract<WorkerToMain, { type: T }>) => boolean): Promise<Extract<WorkerToMain, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = h.inbox.findIndex((m) => m.type === type && (!match || match(m as Extract<WorkerToMain, { type: T }>)));
      if (i >= 0) return h.inbox.splice(i, 1)[0] as Extract<WorkerToMain, { type: T }>;
      const err = h.inbox.find((m) => m.type === 'error');
      if (err && err.type === 'error') throw new Error(`load worker: ${err.message}`);
      if (h.settled) throw h.error ?? new Error(`load worker ended before '${type}'`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`load worker: no '${type}' within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        h.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  #send(m: MainToWorker): void {
    for (const h of this.#tasks) if (!h.settled) h.send(m);
  }

  /** waitGo sessions: resolves once every worker has made its offers. */
  async prepared(timeoutMs: number): Promise<void> {
    await Promise.all(this.#tasks.map((h) => this.#await(h, 'prepared', timeoutMs)));
  }

  go(): void {
    this.#send({ type: 'go' });
  }

  /** Resolves when every viewer has video or has failed; returns the counts. */
  async joined(timeoutMs: number): Promise<{ ok: number; failed: number }> {
    const r = await Promise.all(this.#tasks.map((h) => this.#await(h, 'joined', timeoutMs)));
    return { ok: r.reduce((n, m) => n + m.ok, 0), failed: r.reduce((n, m) => n + m.failed, 0) };
  }

  /** Every viewer's counters now (in viewer order), with the time each worker took them. */
  async mark(tag: string, timeoutMs = 10_000): Promise<Array<{ at: number; counters: ViewerCounters }>> {
    this.#send({ type: 'mark', tag });
    const r = await Promise.all(this.#tasks.map((h) => this.#await(h, 'mark', timeoutMs, (m) => m.tag === tag)));
    return r.flatMap((m) => m.counters.map((counters) => ({ at: m.at, counters })));
  }

  /** DELETEs and closes every viewer; returns their results (in viewer order). */
  async leave(): Promise<ViewerResult[]> {
    this.#send({ type: 'leave' });
    const all = await Promise.all(this.#tasks.map((h) => h.result));
    for (const h of this.#tasks) h.close();
    const errors = this.#tasks.filter((h) => h.error).map((h) => h.error!.message);
    if (errors.length) process.stderr.write(`load worker failed: ${errors.join('; ')}\n`);
    return all.flat();
  }
}
