// A drake in its own process for the benchmarks, so that its CPU and memory can be read from
// /proc/<pid> apart from the load generator's.
//
//   node --import tsx bench/serveDrake.ts '<config JSON>'      (spawned by bench/lib/drakeChild.ts with an IPC channel)
//
// Listens on 127.0.0.1, port 0, with throw-away directories; sends {type:'ready', url, pid, ffmpeg}
// over IPC, then answers {id, method, args} requests (whepStats, pidOf, crashShard) with {id, result | error}.
// Stops (drake.close(): FFmpeg stopped gracefully) on SIGTERM/SIGINT, on {method:'stop'}, and when
// the parent goes away (IPC disconnect).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDrake, type Drake } from '../src/app.ts';
import { configSchema, type DrakeConfigInput } from '../src/shared/config.ts';

export interface ServeRequest {
  id: number;
  method: 'whepStats' | 'pidOf' | 'crashShard' | 'stop';
  args: unknown[];
}
export type ServeMessage =
  | { type: 'ready'; url: string; pid: number; ffmpeg: { path: string; version: string } }
  | { type: 'reply'; id: number; result?: unknown; error?: string };

if (!process.send) {
  console.error('serveDrake.ts must be spawned with an IPC channel (see bench/lib/drakeChild.ts)');
  process.exit(2);
}
const send = (m: ServeMessage) => {
  if (process.connected) process.send!(m);
};

const overrides = JSON.parse(process.argv[2] ?? '{}') as DrakeConfigInput;
const dir = mkdtempSync(join(tmpdir(), 'drake-bench-'));
let drake: Drake | null = null;
let stopping: Promise<void> | null = null;

function stop(code: number): Promise<void> {
  stopping ??= (async () => {
    const hardStop = setTimeout(() => process.exit(code || 1), 10_000);
    hardStop.unref();
    await drake?.close().catch((err: unknown) => console.error(`serveDrake: close: ${String(err)}`));
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  })();
  return stopping;
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
process.on('disconnect', () => void stop(0));

try {
  const config = configSchema.parse({
    demo: false,
    ...overrides,
    api: { ...(overrides.api ?? {}), host: '127.0.0.1', port: 0 },
    db: { dir: join(dir, 'config') },
    storage: { disk: { dir: join(dir, 'data') } },
    ffmpeg: { stop_timeout_seconds: 3, ...(overrides.ffmpeg ?? {}) },
    log: { level: process.env.DRAKE_LOG_LEVEL ?? 'warn' },
  });
  drake = await createDrake(config);
} catch (err) {
  console.error(`serveDrake: start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await stop(1);
}
const d = drake!;
process.on('message', (raw) => {
  const req = raw as ServeRequest;
  void (async () => {
    try {
      let result: unknown;
      if (req.method === 'whepStats') {
        // whip:<name>: a stream published over WHIP (its viewers' shard lives in the publication's actor).
        const id = String(req.args[0]);
        result = id.startsWith('whip:') && d.whip ? await d.whip.whepStats(id.slice(5)) : await d.supervisor.whepStats(id);
      }
      else if (req.method === 'pidOf') result = d.supervisor.pidOf(String(req.args[0]));
      else if (req.method === 'crashShard') result = await d.supervisor.crashShardForTest(String(req.args[0]), Number(req.args[1]));
      else if (req.method === 'stop') {
        send({ type: 'reply', id: req.id, result: true });
        await stop(0);
        return;
      } else throw new Error(`unknown method ${String(req.method)}`);
      send({ type: 'reply', id: req.id, result });
    } catch (err) {
      send({ type: 'reply', id: req.id, error: err instanceof Error ? err.message : String(err) });
    }
  })();
});
send({ type: 'ready', url: d.url, pid: process.pid, ffmpeg: { path: d.ffmpeg.path, version: d.ffmpeg.version } });
