// Real drake nodes as separate processes (`node --import tsx src/main.ts`, as npm start runs it), each
// with its own free API port, db dir and data dir. Each node is the leader of its own process group,
// so cleanup also ends FFmpeg children a SIGKILLed node left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, freePort, waitFor } from './drake.ts';

const root = new URL('../../', import.meta.url).pathname;

export interface ApiReply<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface DrakeNode {
  name: string;
  port: number;
  url: string;
  dir: string;
  /** pid of the running node (the leader of its process group), null while stopped. */
  readonly pid: number | null;
  /** Everything the node printed (all runs). */
  output(): string;
  api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiReply<T>>;
  /** SIGKILL of the node process alone, as a crash: FFmpeg children it had are left to the group cleanup. */
  kill(): Promise<void>;
  /** SIGTERM (drake's graceful stop) and wait; SIGKILL of the whole group after 15 s. */
  stop(): Promise<void>;
  /** Starts the node again with the same port, dirs and environment. */
  start(): Promise<void>;
  /** Stops the node, kills whatever is left in its process group and removes its dirs. */
  close(): Promise<void>;
}

export interface NodeOptions {
  /** Extra DRAKE_* variables (on top of port, dirs, DRAKE_DEMO=false). */
  env?: Record<string, string>;
  /** Resolve as soon as the process runs instead of waiting for /ping to say pong. */
  noWait?: boolean;
}

const groups = new Set<number>();
process.once('exit', () => {
  for (const pgid of groups) killGroup(pgid);
});

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is empty
  }
}

export async function apiCall<T>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiReply<T>> {
  const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(15_000) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${base}${path}`, init);
  const raw = await res.text();
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // plain text reply
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export async function startNode(name: string, opts: NodeOptions = {}): Promise<DrakeNode> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `drake-node-${name}-`));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let pgid = 0;
  let output = '';

  const launch = async () => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      detached: true,
      env: {
        ...process.env,
        DRAKE_LOG_LEVEL: process.env.DRAKE_LOG_LEVEL ?? 'info',
        DRAKE_DEMO: 'false',
        DRAKE_NAME: name,
        DRAKE_API_HOST: '127.0.0.1',
        DRAKE_API_PORT: String(port),
        DRAKE_DB_DIR: join(dir, 'config'),
        DRAKE_STORAGE_DISK_DIR: join(dir, 'data'),
        DRAKE_FFMPEG_STOP_TIMEOUT_SECONDS: '3',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    pgid = c.pid!;
    groups.add(pgid);
    c.stdout!.on('data', (d) => (output += d));
    c.stderr!.on('data', (d) => (output += d));
    if (opts.noWait) return;
    await waitFor(`node ${name} answers /ping`, async () => {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`node ${name} exited:\n${output}`);
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) });
      return res.status === 200 && (await res.text()) === 'pong';
    }, 30_000, 100);
  };

  const waitExit = (c: ChildProcess, ms: number) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), ms);
          c.once('exit', () => {
            clearTimeout(t);
            resolve(true);
          });
        });

  await launch();
  const node: DrakeNode = {
    name,
    port,
    url,
    dir,
    get pid() {
      const c = child as ChildProcess | null;
      return c && c.exitCode === null && c.signalCode === null ? (c.pid ?? null) : null;
    },
    output: () => output,
    api: (method, path, body, headers) => apiCall(url, method, path, body, headers),
    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGKILL');
      await waitExit(c, 10_000);
    },
    async stop() {
      const c = child;
      if (!c) return;
      c.kill('SIGTERM');
      if (!(await waitExit(c, 15_000))) {
        killGroup(pgid);
        await waitExit(c, 5000);
      }
    },
    async start() {
      if (node.pid !== null) throw new Error(`node ${name} is running already`);
      // A node killed with SIGKILL may have left FFmpeg children in its old group.
      killGroup(pgid);
      groups.delete(pgid);
      await launch();
    },
    async close() {
      await node.stop();
      killGroup(pgid);
      groups.delete(pgid);
      if (child?.pid && alive(child.pid)) throw new Error(`node ${name} (pid ${child.pid}) did not stop`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return node;
}

/** N nodes started in parallel; names a, b, c, …; `env(i)` adds per-node variables. */
export function startNodes(n: number, env: (i: number) => Record<string, string> = () => ({})): Promise<DrakeNode[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => startNode(String.fromCharCode(97 + i), { env: env(i) })));
}
