import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { alive, freePort, testProcess, waitFor } from '../helpers/drake.ts';
import { tempDir } from '../helpers/tempDir.ts';

const root = new URL('../../', import.meta.url).pathname;

/** Runs `tsx src/main.ts` as npm start does, with its own dirs and a free port. */
function runDrake(env: Record<string, string>) {
  const dir = tempDir('drake-cli-');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, DRAKE_API_PORT: '0', DRAKE_DB_DIR: join(dir, 'config'), DRAKE_STORAGE_DISK_DIR: join(dir, 'data'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

test('npm start prints where it listens and Ctrl-C stops every FFmpeg before exiting', async () => {
  const drake = runDrake({});
  const url = await waitFor('listening line', async () => /listening on (http:\/\/\S+)/.exec(drake.output())?.[1], 20_000);
  assert.match(drake.output(), /FFmpeg \S+ at \S+ \(from /);
  assert.match(drake.output(), /store: \S+db\.json/);
  const res = await fetch(`${url}/api/v3/process`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(testProcess('cli')) });
  assert.equal(res.status, 200);
  assert.match(drake.output(), /watch the demo: http:\/\/\S+\/player\/demo/, 'the embedded demo is there on a first start');
  const pids = await waitFor('two FFmpeg children (demo and cli)', async () => {
    const state = (await (await fetch(`${url}/api/v3/process/cli/state`)).json()) as { exec: string };
    if (state.exec !== 'running') return null;
    const out = spawnSync('pgrep', ['-P', String(drake.child.pid)], { encoding: 'utf8' }).stdout.trim();
    const list = out ? out.split('\n').map(Number) : [];
    return list.length >= 2 ? list : null;
  }, 20_000);
  assert.ok(pids.every(alive));
  drake.child.kill('SIGINT');
  assert.equal(await drake.exited, 0, drake.output());
  assert.deepEqual(pids.filter(alive), [], 'no FFmpeg outlives drake');
  assert.match(drake.output(), /SIGINT: stopping every process/);
});

test('a missing FFmpeg is a clear error, not a stack trace', async () => {
  const drake = runDrake({ DRAKE_FFMPEG_BINARY: '/nonexistent/ffmpeg', DRAKE_DEMO: 'false' });
  assert.equal(await drake.exited, 1);
  assert.match(drake.output(), /drake: the configured FFmpeg \(ffmpeg\.binary \/ DRAKE_FFMPEG_BINARY = \/nonexistent\/ffmpeg\) does not run/);
  assert.doesNotMatch(drake.output(), /\n\s+at /, 'no stack trace');
});

test('drake refuses to open its admin API on a public address without credentials', async () => {
  const drake = runDrake({ DRAKE_API_HOST: '0.0.0.0', DRAKE_DEMO: 'false' });
  assert.equal(await drake.exited, 1);
  assert.match(drake.output(), /refusing to serve the admin API without credentials on 0\.0\.0\.0/);
});

test('a bad config value stops drake with the field path', async () => {
  const drake = runDrake({ DRAKE_FFMPEG_LOG_MAX_LINES: '0', DRAKE_DEMO: 'false' });
  assert.equal(await drake.exited, 1);
  assert.match(drake.output(), /invalid configuration\n\s+- ffmpeg\.log\.max_lines:/);
});

test('a second drake on a port in use stops with "cannot listen" instead of sharing it', async () => {
  const port = await freePort();
  const first = runDrake({ DRAKE_DEMO: 'false', DRAKE_API_PORT: String(port) });
  try {
    const url = await waitFor('listening line', async () => /listening on (http:\/\/\S+)/.exec(first.output())?.[1], 20_000);
    const second = runDrake({ DRAKE_DEMO: 'false', DRAKE_API_PORT: String(port) });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([second.exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), 15_000)))]);
    clearTimeout(timer);
    if (code === 'still running') second.child.kill('SIGKILL');
    assert.equal(code, 1, second.output());
    assert.match(second.output(), new RegExp(`drake: cannot listen on 127\\.0\\.0\\.1:${port} \\(in use`));
    assert.doesNotMatch(second.output(), /listening on/);
    // Every request reaches the one drake that listens (with SO_REUSEPORT the kernel would have split them).
    const ids = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${url}/api`, { headers: { connection: 'close' } });
      ids.add(((await res.json()) as { id: string }).id);
    }
    assert.equal(ids.size, 1);
  } finally {
    first.child.kill('SIGINT');
    await first.exited;
  }
});

test('PUT /api/v3/config then /api/v3/config/reload restarts drake in place; processes stay', async () => {
  // A fixed free port: DRAKE_API_PORT=0 would give the reloaded drake another one.
  const port = await freePort();
  const drake = runDrake({ DRAKE_DEMO: 'false', DRAKE_API_PORT: String(port) });
  try {
    const url = await waitFor('listening line', async () => /listening on (http:\/\/\S+)/.exec(drake.output())?.[1], 20_000);
    const post = (path: string, method: string, body: unknown) =>
      fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/api/v3/process', 'POST', testProcess('keep', { autostart: false }))).status, 200);
    assert.equal((await post('/api/v3/config', 'PUT', { name: 'reloaded' })).status, 200);
    assert.equal((await fetch(`${url}/api/v3/config/reload`)).status, 200);
    const about = await waitFor('drake back with the new name', async () => {
      const res = await fetch(`${url}/api`).catch(() => null);
      const body = res ? ((await res.json()) as { name: string }) : null;
      return body?.name === 'reloaded' ? body : null;
    }, 20_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}\n${drake.output()}`);
    });
    assert.equal(about.name, 'reloaded');
    // Connections kept alive from before the reload get one 503 (Retry-After) and are closed.
    const list = await waitFor('the process list', async () => {
      const res = await fetch(`${url}/api/v3/process`);
      return res.status === 200 ? ((await res.json()) as Array<{ id: string }>) : null;
    });
    assert.deepEqual(list.map((p) => p.id), ['keep']);
  } finally {
    drake.child.kill('SIGINT');
    await drake.exited;
  }
});

test('Ctrl-C on `npm start` (SIGINT to the whole process group, relayed by npm and tsx) stops gracefully', async () => {
  const dir = tempDir('drake-npm-');
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    detached: true,
    env: { ...process.env, DRAKE_API_PORT: '0', DRAKE_DB_DIR: join(dir, 'config'), DRAKE_STORAGE_DISK_DIR: join(dir, 'data') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = await waitFor('listening line', async () => /listening on (http:\/\/\S+)/.exec(output)?.[1], 30_000);
  await waitFor('the demo running', async () => ((await (await fetch(`${url}/api/v3/process/demo/state`)).json()) as { exec: string }).exec === 'running', 20_000);
  // Only this npm start's FFmpeg: its process group (FFmpeg is not detached from drake), not any
  // other drake demo running on the machine.
  const ffmpegPids = spawnSync('pgrep', ['-g', String(child.pid), '-x', 'ffmpeg'], { encoding: 'utf8' }).stdout.trim();
  assert.notEqual(ffmpegPids, '', 'the demo FFmpeg runs in the process group of npm start');
  process.kill(-child.pid!, 'SIGINT');
  await exited;
  await waitFor('drake stopped', async () => /\[drake\] stopped/.test(output), 10_000);
  assert.doesNotMatch(output, /again: killing every FFmpeg/, 'relayed copies of one Ctrl-C are not a second Ctrl-C');
  for (const pid of ffmpegPids.split('\n').filter(Boolean).map(Number)) assert.equal(alive(pid), false, `FFmpeg ${pid} is gone`);
});
