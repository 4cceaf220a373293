// A real redis-server for tests: its own free loopback port and temp dir, stopped by pid. stop() and
// start() again keep the port (the cluster's "Redis restarts" cases); with `persist` it writes an
// append-only file into its dir, so a restart keeps the data as a production Redis would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, freePort } from './drake.ts';

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  /** pid of the running redis-server, null while stopped. */
  readonly pid: number | null;
  /** Everything redis-server printed (all runs). */
  output(): string;
  /** Graceful stop (SIGTERM, SIGKILL after 5 s); resolves once the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL: Redis vanishes without a goodbye. */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir. */
  start(): Promise<void>;
  /** Stops it and removes its dir. */
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
// A test that throws before its cleanup must not leave a redis-server behind.
process.once('exit', () => {
  for (const c of running) if (c.pid && alive(c.pid)) process.kill(c.pid, 'SIGKILL');
});

export async function startRedis(opts: { persist?: boolean } = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'drake-redis-'));
  let child: ChildProcess | null = null;
  let output = '';

  const launch = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', ''];
    args.push('--appendonly', opts.persist ? 'yes' : 'no');
    if (opts.persist) args.push('--appendfsync', 'always');
    const from = output.length;
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(c);
    child = c;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.once('exit', () => running.delete(c));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not get ready on port ${port} in 10 s:\n${output}`)), 10_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.indexOf('Ready to accept connections', from) !== -1) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stdout!.on('data', onData);
      c.stderr!.on('data', onData);
      c.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run redis-server (${err.message}); install it (apt-get install redis-server)`));
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited before it was ready:\n${output}`));
      });
    });
  };

  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    const force = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(force);
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      const c = child as ChildProcess | null;
      return c?.pid ?? null;
    },
    output: () => output,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async start() {
      if (child) throw new Error('redis-server is running already');
      await launch();
    },
    async close() {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
