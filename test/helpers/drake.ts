// Starts a real drake in-process on 127.0.0.1 with a random port and throw-away directories.
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './tempDir.ts';
import { createDrake, type Drake } from '../../src/app.ts';
import { configSchema, type DrakeConfigInput } from '../../src/shared/config.ts';
import type { ProcessConfigInput } from '../../src/shared/processConfig.ts';

export interface TestDrake extends Drake {
  dir: string;
  api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }>;
  /** Closes drake; the directories stay unless `cleanup` is true. */
  stop(cleanup?: boolean): Promise<void>;
}

export async function startDrake(overrides: DrakeConfigInput = {}, dir = tempDir('drake-test-')): Promise<TestDrake> {
  const config = configSchema.parse({
    demo: false,
    ...overrides,
    api: { host: '127.0.0.1', port: 0, ...(overrides.api ?? {}) },
    db: { dir: join(dir, 'config'), ...(overrides.db ?? {}) },
    storage: { disk: { dir: join(dir, 'data') } },
    ffmpeg: { stop_timeout_seconds: 3, ...(overrides.ffmpeg ?? {}) },
    log: { level: process.env.DRAKE_LOG_LEVEL ?? 'warn' },
  });
  const drake = await createDrake(config);
  return Object.assign(drake, {
    dir,
    async api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${drake.url}${path}`, init);
      const raw = await res.text();
      let parsed: unknown = raw;
      try {
        parsed = JSON.parse(raw);
      } catch {
        // plain text reply
      }
      return { status: res.status, body: parsed as T, headers: res.headers };
    },
    async stop(cleanup = false) {
      await drake.close();
      if (cleanup) rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** A light, endless FFmpeg job: a small test pattern at real-time speed into the null muxer. */
/** A drake with API auth on (admin / sesame, no delay after a failed login), and the Bearer header of a login. */
export async function startDrakeWithLogin(): Promise<{ drake: TestDrake; auth: Record<string, string> }> {
  const drake = await startDrake({ api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } } });
  const login = await drake.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
  return { drake, auth: { authorization: `Bearer ${login.body.access_token}` } };
}

export function testProcess(id: string, extra: Partial<ProcessConfigInput> = {}): ProcessConfigInput {
  return {
    id,
    input: [{ id: 'in', address: 'testsrc=size=160x120:rate=10', options: ['-re', '-f', 'lavfi'] }],
    output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
    options: ['-loglevel', 'info'],
    autostart: true,
    ...extra,
  };
}

export { waitFor } from './waitFor.ts';

/** A loopback TCP port that was free a moment ago (for tests that need a fixed port up front). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0): look at its state.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
