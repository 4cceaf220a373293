// The browser-like load generator: child processes running bench/libwebrtcViewers.ts (libwebrtc
// through @roamhq/wrtc, which cannot run in worker threads), each hosting a share of a session's
// viewers and steered over IPC with the same messages as the werift workers. The children live as
// long as the generator; killLibwebrtcViewers() ends them by pid when the bench exits abruptly.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildToParent, ParentToChild } from '../libwebrtcViewers.ts';
import type { ViewerResult } from '../loadViewer.ts';
import { loadTask, LoadSession, shares, TaskHandle, type JoinOptions, type LoadGenerator } from './generator.ts';
import { cpuSeconds } from './proc.ts';

const ENTRY = fileURLToPath(new URL('../libwebrtcViewers.ts', import.meta.url));
const live = new Set<ChildProcess>();

export function killLibwebrtcViewers(): void {
  for (const c of live) {
    try {
      process.kill(c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  live.clear();
}

function spawnChild(timeoutMs: number): Promise<ChildProcess> {
  const child = fork(ENTRY, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`libwebrtc viewer process: ${why}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    child.on('message', function first(m: ChildToParent) {
      if (m.type === 'failed') fail(m.message);
      if (m.type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', first);
      child.off('exit', early);
      resolve(child);
    });
    const early = (code: number | null, signal: string | null) => fail(`exited with ${signal ?? code} before it was ready`);
    child.once('exit', early);
  });
}

export class LibwebrtcGenerator implements LoadGenerator {
  readonly kind = 'libwebrtc' as const;
  readonly #children: ChildProcess[];

  private constructor(children: ChildProcess[]) {
    this.#children = children;
  }

  /** Spawns `processes` children; rejects (with none left running) when @roamhq/wrtc does not load. */
  static async start(processes: number, timeoutMs = 30_000): Promise<LibwebrtcGenerator> {
    const started = await Promise.allSettled(Array.from({ length: processes }, () => spawnChild(timeoutMs)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const children = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failed) {
      for (const c of children) c.kill('SIGKILL');
      throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    }
    return new LibwebrtcGenerator(children);
  }

  /** One share per child; a child runs one session at a time. */
  join(url: string, n: number, opts: JoinOptions): LoadSession {
    return new LoadSession(
      n,
      shares(n, this.#children.length).map(({ count, first }, i) => {
        const child = this.#children[i]!;
        const send = (m: ParentToChild) => {
          if (child.connected) child.send(m);
        };
        let onMessage: (m: ChildToParent) => void = () => undefined;
        let onExit: (code: number | null, signal: string | null) => void = () => undefined;
        const h = new TaskHandle(send, () => {
          child.off('message', onMessage);
          child.off('exit', onExit);
        });
        h.track(
          new Promise<ViewerResult[]>((resolve, reject) => {
            onMessage = (m) => {
              if (m.type === 'result') resolve(m.results);
              else if (m.type === 'failed') reject(new Error(m.message));
              else if (m.type !== 'ready') h.deliver(m);
            };
            onExit = (code, signal) => reject(new Error(`libwebrtc viewer process exited with ${signal ?? code}`));
            child.on('message', onMessage);
            child.once('exit', onExit);
          }),
        );
        send({ type: 'task', task: loadTask(url, count, first, opts) });
        return h;
      }),
    );
  }

  /** This process (it steers the children over IPC) plus the children. */
  cpuSeconds(): number {
    return this.#children.reduce((s, c) => s + (cpuSeconds(c.pid!) ?? 0), cpuSeconds(process.pid) ?? NaN);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 3000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  }
}
