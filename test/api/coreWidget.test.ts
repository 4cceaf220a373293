// GET /api/v3/widget/process/:id as Core answers it (http/handler/api/widget.go): public while API
// auth is on, {current_sessions, total_sessions, uptime}, 404 "Unknown process ID". Against a real
// drake with a real FFmpeg writing HLS into memfs, a client reading it and a werift WHEP viewer.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { whepView } from '../helpers/whepClient.ts';

interface Widget {
  current_sessions: number;
  total_sessions: number;
  uptime: number;
}

/** GET from a given loopback address: another viewer, as drake tells HLS viewers apart by address. */
function getFrom(url: string, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const HLS_OUT = { id: 'hls', address: '{memfs}/{reference}.m3u8', options: ['-map', '0:v', '-c:v', 'mpeg4', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '3', '-method', 'PUT'] };

describe("Core's process widget: /api/v3/widget/process/:id", () => {
  let drake: TestDrake;
  let auth: Record<string, string>;
  const widget = (id: string) => drake.api<Widget>('GET', `/api/v3/widget/process/${id}`);
  const api = <T>(method: string, path: string, body?: unknown) => drake.api<T>(method, path, body, auth);

  /** Reads the playlist and one segment, as a player does: one HLS session. */
  async function watchHls(name: string, from = '127.0.0.1'): Promise<void> {
    await waitFor(`a segment of ${name}`, async () => {
      const pl = await getFrom(`${drake.url}/memfs/${name}.m3u8`, from);
      if (pl.status !== 200) return false;
      const seg = pl.body.split('\n').find((l) => l.endsWith('.ts'));
      if (!seg) return false;
      return (await getFrom(`${drake.url}/memfs/${seg}`, from)).status === 200;
    }, 30_000);
  }

  before(async () => {
    drake = await startDrake({ api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } } });
    const login = await drake.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
    auth = { authorization: `Bearer ${login.body.access_token}` };
  });
  after(() => drake.stop(true));

  test('an unknown process: 404 with Core\'s message, without a token; the rest of /api/v3 still wants one', async () => {
    const res = await widget('nosuch');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { code: 404, message: 'Unknown process ID', details: ['unknown process'] });
    assert.equal((await drake.api('GET', '/api/v3/process/nosuch')).status, 401, 'only the widget is public');
    assert.equal((await drake.api('GET', `/api/v3/widget/process/${'x'.repeat(300)}`)).status, 404);
  });

  test('a stopped process: no viewers, uptime 0', async () => {
    assert.equal((await api('POST', '/api/v3/process', { ...webrtcProcess('idle'), autostart: false })).status, 200);
    const res = await widget('idle');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { current_sessions: 0, total_sessions: 0, uptime: 0 });
  });

  test('a running process: uptime from its state, HLS readers of its reference and WHEP viewers counted, others not', async () => {
    const res = await api('POST', '/api/v3/process', webrtcProcess('live', { reference: 'cam1', output: [HLS_OUT] }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('running with media', async () => (await drake.supervisor.whepStats('live')).gopPackets > 0, 30_000);

    // A reader of a playlist with another name: not a viewer of this process.
    mkdirSync(join(drake.dir, 'data'), { recursive: true });
    writeFileSync(join(drake.dir, 'data', 'other.m3u8'), '#EXTM3U\n');
    assert.equal((await fetch(`${drake.url}/data/other.m3u8`)).status, 200);

    await watchHls('cam1');
    let w = (await widget('live')).body;
    assert.equal(w.current_sessions, 1, 'the HLS reader of cam1.m3u8');
    assert.equal(w.total_sessions, 1);

    const viewer = await whepView(`${drake.url}/whep/live`);
    assert.equal(viewer.status, 201, viewer.answer);
    try {
      await waitFor('the WHEP viewer counted', async () => (await widget('live')).body.current_sessions === 2, 10_000);
      w = (await widget('live')).body;
      assert.equal(w.total_sessions, 2);
    } finally {
      await viewer.close();
      if (viewer.sessionUrl) await fetch(viewer.sessionUrl, { method: 'DELETE' });
    }
    await waitFor('the WHEP viewer gone', async () => (await widget('live')).body.current_sessions === 1, 15_000);
    assert.equal((await widget('live')).body.total_sessions, 2, 'a viewer that left still counts in the total');

    const state = await api<{ exec: string; runtime_seconds: number }>('GET', '/api/v3/process/live/state');
    assert.equal(state.body.exec, 'running');
    w = (await widget('live')).body;
    assert.ok(Number.isInteger(w.uptime) && Math.abs(w.uptime - state.body.runtime_seconds) <= 1, `uptime ${w.uptime} ≈ runtime ${state.body.runtime_seconds}`);

    assert.equal((await api('PUT', '/api/v3/process/live/command', { command: 'stop' })).status, 200);
    await waitFor('stopped', async () => (await api<{ exec: string }>('GET', '/api/v3/process/live/state')).body.exec === 'finished', 15_000);
    assert.equal((await widget('live')).body.uptime, 0, 'not running: uptime 0, as Core');
  });

  test('an empty reference: HLS readers matched by the process id (Core would count every reader)', async () => {
    const res = await api('POST', '/api/v3/process', webrtcProcess('noref', { output: [{ ...HLS_OUT, address: '{memfs}/{processid}.m3u8' }] }, { enabled: false }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await watchHls('noref', '127.0.0.2');
    const w = (await widget('noref')).body;
    assert.equal(w.current_sessions, 1, 'its own reader, not the readers of cam1 and other');
    assert.equal((await api('DELETE', '/api/v3/process/noref')).status, 200);
    assert.equal((await widget('noref')).status, 404);
  });
});
