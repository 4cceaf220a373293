// Core's /api/v3/metrics against a real drake with a real FFmpeg writing HLS into memfs and a client
// reading it. The query is the one Restreamer UI's dashboard sends (src/utils/restreamer.js
// _getResources()), and the values are read with that function's own getValue() logic.
import assert from 'node:assert/strict';
import { cpus, totalmem } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';

interface Series {
  name: string;
  labels: Record<string, string>;
  values: Array<[number, number]>;
}
interface Reply {
  timerange_sec: number;
  interval_sec: number;
  metrics: Series[];
}

/** _getResources(): the query, verbatim. */
const UI_QUERY = {
  metrics: [
    { name: 'uptime_uptime' },
    { name: 'cpu_ncpu' },
    { name: 'cpu_idle' },
    { name: 'mem_total' },
    { name: 'mem_free' },
    { name: 'filesystem_limit' },
    { name: 'filesystem_usage' },
    { name: 'session_limit' },
    { name: 'session_active' },
    { name: 'session_txbitrate' },
    { name: 'session_maxtxbitrate' },
  ],
};

/** _getResources()'s getMetrics/getValue: first series with the name whose labels include the wanted ones; its first value. */
function uiValue(metrics: Series[], name: string, labels: Record<string, string> | null = null): number {
  for (const m of metrics) {
    if (m.name !== name) continue;
    if (labels && !Object.entries(labels).every(([k, v]) => k in m.labels && m.labels[k] === v)) continue;
    return m.values[0]![1];
  }
  return 0;
}

describe('Core metrics: /api/v3/metrics as Restreamer UI queries it', () => {
  let drake: TestDrake;
  let auth: Record<string, string>;
  const api = <T>(method: string, path: string, body?: unknown) => drake.api<T>(method, path, body, auth);

  before(async () => {
    drake = await startDrake({
      api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } },
      metrics: { range_sec: 20, interval_sec: 1 },
    });
    const login = await drake.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
    auth = { authorization: `Bearer ${login.body.access_token}` };
    const res = await api('POST', '/api/v3/process', {
      id: 'hls',
      input: [{ address: 'testsrc=size=160x120:rate=10', options: ['-re', '-f', 'lavfi'] }],
      output: [{ address: '{memfs}/{processid}.m3u8', options: ['-c:v', 'mpeg4', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '3', '-method', 'PUT'] }],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // A viewer: the playlist and a segment read over HTTP make one HLS session.
    await waitFor('a segment in memfs', async () => {
      const pl = await fetch(`${drake.url}/memfs/hls.m3u8`);
      if (pl.status !== 200) return false;
      const seg = (await pl.text()).split('\n').find((l) => l.endsWith('.ts'));
      if (!seg) return false;
      return (await fetch(`${drake.url}/memfs/${seg}`)).status === 200;
    }, 30_000);
  });
  after(() => drake.stop(true));

  test('the dashboard query: every value the UI shows comes from drake\'s own measurements', async () => {
    const res = await api<Reply>('POST', '/api/v3/metrics', UI_QUERY);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const m = res.body.metrics;
    assert.equal(res.body.timerange_sec, 20, "Core answers its monitor's resolution");
    assert.equal(res.body.interval_sec, 1);
    for (const s of m) {
      assert.equal(s.values.length, 1, `${s.name}: timerange 0 is the current value only`);
      assert.ok(Number.isInteger(s.values[0]![0]) && Math.abs(s.values[0]![0] - Date.now() / 1000) < 5, `${s.name}: unix seconds`);
    }
    assert.ok(uiValue(m, 'uptime_uptime') > 0);
    assert.equal(uiValue(m, 'cpu_ncpu'), cpus().length);
    const idle = uiValue(m, 'cpu_idle');
    assert.ok(idle >= 0 && idle <= 100, `cpu_used = 100 - cpu_idle: idle ${idle}`);
    assert.equal(uiValue(m, 'mem_total'), totalmem());
    const free = uiValue(m, 'mem_free');
    assert.ok(free > 0 && free <= totalmem(), 'mem_used = mem_total - mem_free');
    assert.ok(uiValue(m, 'filesystem_usage', { name: 'memfs' }) > 0, 'memfs_used_bytes: the HLS files');
    assert.equal(uiValue(m, 'filesystem_limit', { name: 'memfs' }), -1, 'no memfs limit: negative, as Core');
    assert.equal(uiValue(m, 'filesystem_limit', { name: 'diskfs' }), -1);
    assert.ok(m.some((s) => s.name === 'filesystem_usage' && s.labels.name === 'diskfs'), 'disk_used_bytes has a series');
    assert.equal(uiValue(m, 'session_active', { collector: 'hls' }), 1, 'session_used: the one HLS reader');
    assert.equal(uiValue(m, 'session_limit', { collector: 'hls' }), 0, '0: unlimited, as Core');
    assert.ok(uiValue(m, 'session_txbitrate', { collector: 'hls' }) >= 0);
    assert.equal(uiValue(m, 'session_maxtxbitrate', { collector: 'hls' }), 0);
    // Only what was asked for.
    assert.deepEqual([...new Set(m.map((s) => s.name))].sort(), UI_QUERY.metrics.map((q) => q.name).sort());
  });

  test('label filters, ffmpeg_process state changes, session_total, drake_* next to Core names', async () => {
    const res = await api<Reply>('POST', '/api/v3/metrics', {
      metrics: [
        { name: 'ffmpeg_process', labels: {} },
        { name: 'session_total', labels: { collector: 'hls' } },
        { name: 'filesystem_files', labels: { name: 'memfs' } },
        { name: 'drake_process_state', labels: { process: 'hls', state: 'running' } },
      ],
    });
    assert.equal(res.status, 200);
    const m = res.body.metrics;
    assert.deepEqual(m.filter((s) => s.name === 'ffmpeg_process').map((s) => s.labels.state).sort(), ['failed', 'finished', 'finishing', 'killed', 'running', 'starting']);
    assert.ok(uiValue(m, 'ffmpeg_process', { state: 'starting' }) >= 1);
    assert.ok(uiValue(m, 'ffmpeg_process', { state: 'running' }) >= 1);
    assert.equal(uiValue(m, 'session_total', { collector: 'hls' }), 1);
    assert.ok(uiValue(m, 'filesystem_files', { name: 'memfs' }) >= 2, 'playlist and segments');
    assert.equal(m.filter((s) => s.name === 'filesystem_files').length, 1, 'the diskfs series is filtered out');
    assert.equal(uiValue(m, 'drake_process_state', { process: 'hls', state: 'running' }), 1);
    // A stop is a state change too.
    assert.equal((await api('PUT', '/api/v3/process/hls/command', { command: 'stop' })).status, 200);
    const after = await api<Reply>('POST', '/api/v3/metrics', { metrics: [{ name: 'ffmpeg_process', labels: { state: 'finished' } }] });
    assert.ok(uiValue(after.body.metrics, 'ffmpeg_process', { state: 'finished' }) >= 1);
    assert.equal((await api('PUT', '/api/v3/process/hls/command', { command: 'start' })).status, 200);
  });

  test('history: timerange_sec > 0 gives a series of points from the sample ring', async () => {
    await new Promise((r) => setTimeout(r, 3500));
    const res = await api<Reply>('POST', '/api/v3/metrics', { timerange_sec: 10, interval_sec: 1, metrics: [{ name: 'uptime_uptime' }, { name: 'mem_total' }] });
    assert.equal(res.status, 200);
    const uptime = res.body.metrics.find((s) => s.name === 'uptime_uptime')!;
    assert.ok(uptime.values.length >= 3, `several points, got ${uptime.values.length}`);
    assert.ok(uptime.values.length <= 10);
    for (let i = 1; i < uptime.values.length; i++) {
      assert.ok(uptime.values[i]![0] > uptime.values[i - 1]![0], 'timestamps rise');
      assert.ok(uptime.values[i]![1] >= uptime.values[i - 1]![1], 'uptime does not go back');
    }
    assert.ok(res.body.metrics.find((s) => s.name === 'mem_total')!.values.every(([, v]) => v === totalmem()));
  });

  test('GET lists Core metrics with their labels (sorted, as Core) and drake_* families', async () => {
    const res = await api<Array<{ name: string; description: string; labels: string[] }>>('GET', '/api/v3/metrics');
    assert.equal(res.status, 200);
    const names = res.body.map((d) => d.name);
    assert.deepEqual(names, [...names].sort());
    const byName = new Map(res.body.map((d) => [d.name, d]));
    for (const n of UI_QUERY.metrics.map((q) => q.name)) assert.ok(byName.has(n), n);
    assert.deepEqual(byName.get('filesystem_usage')!.labels, ['name']);
    assert.deepEqual(byName.get('session_active')!.labels, ['collector']);
    assert.deepEqual(byName.get('ffmpeg_process')!.labels, ['state']);
    assert.deepEqual(byName.get('cpu_idle')!.labels, []);
    assert.ok(byName.get('drake_whep_viewers')!.labels.includes('process'));
    for (const d of res.body) assert.deepEqual(Object.keys(d).sort(), ['description', 'labels', 'name']);
  });

  test('bad queries: 400 with the field, 413 over 64 KiB, 401 without a token', async () => {
    for (const body of [{ metrics: 'cpu_idle' }, { metrics: [{ name: 'cpu_idle', labels: { a: 1 } }] }, { timerange_sec: -1 }, { timerange_sec: 1.5 }, [1]]) {
      const res = await api<{ code: number; details: string[] }>('POST', '/api/v3/metrics', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.code, 400);
      assert.ok(res.body.details.length > 0);
    }
    const big = { metrics: Array.from({ length: 900 }, (_, i) => ({ name: `x${i}`, labels: { pad: 'y'.repeat(100) } })) };
    assert.equal((await api('POST', '/api/v3/metrics', big)).status, 413);
    assert.equal((await drake.api('POST', '/api/v3/metrics', UI_QUERY)).status, 401);
    assert.equal((await drake.api('GET', '/api/v3/metrics')).status, 401);
    // Unknown names and an empty list: no series, as Core.
    assert.deepEqual((await api<Reply>('POST', '/api/v3/metrics', { metrics: [{ name: 'nope' }] })).body.metrics, []);
    assert.deepEqual((await api<Reply>('POST', '/api/v3/metrics', {})).body.metrics, []);
  });
});
