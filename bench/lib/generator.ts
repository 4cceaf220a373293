// The load generator: a piscina pool whose workers run bench/loadViewer.ts. A LoadSession spreads
// N viewers over the workers (one task each, with a MessagePort to steer it) and collects marks
// and results. atomics 'disabled': with the default 'sync' an idle worker's event loop freezes,
// and these workers own sockets and timers.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { MainToWorker, ViewerCounters, ViewerResult, ViewerTask, WorkerToMain } from '../loadViewer.ts';

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

export class Generator {
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
    return new LoadSession(this, url, n, opts);
  }

  async close(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
  }
}

interface TaskHandle {
  port: MessagePort;
  inbox: WorkerToMain[];
  waiters: Array<() => void>;
  result: Promise<ViewerResult[]>;
  settled: boolean;
  error: Error | null;
}

export class LoadSession {
  readonly n: number;
  readonly #tasks: TaskHandle[] = [];

  constructor(gen: Generator, url: string, n: number, opts: JoinOptions) {
    this.n = n;
    const parts = Math.min(gen.workers, n);
    let first = 0;
    for (let i = 0; i < parts; i++) {
      const count = Math.floor(n / parts) + (i < n % parts ? 1 : 0);
      const { port1, port2 } = new MessageChannel();
      const h: TaskHandle = { port: port1, inbox: [], waiters: [], result: Promise.resolve([]), settled: false, error: null };
      port1.on('message', (m: WorkerToMain) => {
        h.inbox.push(m);
        for (const w of h.waiters.splice(0)) w();
      });
      const task: ViewerTask = {
        url,
        viewers: count,
        firstIndex: first,
        durationMs: opts.maxMs,
        joinTimeoutMs: opts.joinTimeoutMs,
        joinConcurrency: opts.joinConcurrency,
        retries: opts.retries ?? 0,
        waitGo: opts.waitGo ?? false,
        pliEveryMs: opts.pliEveryMs ?? 0,
        port: port2,
      };
      h.result = gen.pool.run(task, { transferList: [port2] }).then(
        (r) => {
          h.settled = true;
          for (const w of h.waiters.splice(0)) w();
          return r;
        },
        (err: unknown) => {
          h.settled = true;
          h.error = err instanceof Error ? err : new Error(String(err));
          for (const w of h.waiters.splice(0)) w();
          return [];
        },
      );
      this.#tasks.push(h);
      first += count;
    }
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
    for (const h of this.#tasks) if (!h.settled) h.port.postMessage(m);
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
    for (const h of this.#tasks) h.port.close();
    const errors = this.#tasks.filter((h) => h.error).map((h) => h.error!.message);
    if (errors.length) process.stderr.write(`load worker failed: ${errors.join('; ')}\n`);
    return all.flat();
  }
}
