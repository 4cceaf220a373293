// What datarhei Restreamer UI needs from drake and did not get (found by driving the real UI in
// Chromium, test/helpers/restreamerUi.ts): each test is one such fix, against a real drake over HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDrakeWithLogin, testProcess, waitFor, type TestDrake } from '../helpers/drake.ts';

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, number | string>;

describe('Restreamer UI compatibility', () => {
  let drake: TestDrake;
  let auth: Record<string, string>;
  before(async () => {
    ({ drake, auth } = await startDrakeWithLogin());
  });
  after(() => drake.stop(true));

  test('tokens carry Core\'s `exi` claim (seconds they live): the UI schedules its refresh from it', async () => {
    const login = await drake.api<{ access_token: string; refresh_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
    const access = claims(login.body.access_token);
    const refresh = claims(login.body.refresh_token);
    assert.equal(access.exi, 600);
    assert.equal(Number(access.exp) - Number(access.iat), access.exi);
    assert.equal(refresh.exi, 86400);
    const again = await drake.api<{ access_token: string }>('GET', '/api/login/refresh', undefined, { authorization: `Bearer ${login.body.refresh_token}` });
    assert.equal(again.status, 200);
    assert.equal(claims(again.body.access_token).exi, 600, 'a refreshed access token has it too');
  });

  test('process ids with ":" (restreamer-ui:ingest:<uuid>) work on every process route', async () => {
    const id = 'restreamer-ui:ingest:7db170ae-a7cc-4769-b138-3ffdabb51d90';
    const path = `/api/v3/process/${encodeURIComponent(id)}`;
    assert.equal((await drake.api('GET', `${path}/state`, undefined, auth)).status, 404, 'unknown: 404, as the UI expects before it creates it');
    const created = await drake.api<{ id: string }>('POST', '/api/v3/process', { ...testProcess(id, { autostart: false }), type: 'ffmpeg', reference: '7db170ae-a7cc-4769-b138-3ffdabb51d90' }, auth);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.id, id);
    assert.equal((await drake.api<{ id: string }>('GET', path, undefined, auth)).body.id, id);
    assert.equal((await drake.api('PUT', `${path}/metadata/restreamer-ui`, { meta: { name: 'x' } }, auth)).status, 200);
    assert.deepEqual((await drake.api('GET', `${path}/metadata/restreamer-ui`, undefined, auth)).body, { meta: { name: 'x' } });
    const snap = `${id}_snapshot`;
    assert.equal((await drake.api('PUT', `/api/v3/process/${encodeURIComponent(snap)}`, testProcess(snap), auth)).status, 404, 'PUT of an unknown id: 404, so the UI POSTs it');
    const listed = await drake.api<Array<{ id: string }>>('GET', '/api/v3/process?reference=7db170ae-a7cc-4769-b138-3ffdabb51d90&filter=state', undefined, auth);
    assert.deepEqual(listed.body.map((p) => p.id), [id]);
    assert.equal((await drake.api('PUT', `${path}/command`, { command: 'start' }, auth)).status, 200);
    assert.equal((await drake.api('DELETE', path, undefined, auth)).status, 200);
    assert.equal((await drake.api('GET', path, undefined, auth)).status, 404);
    for (const bad of [':x', 'a/b', '.x']) {
      const res = await drake.api<{ message: string }>('POST', '/api/v3/process', testProcess(bad), auth);
      assert.equal(res.status, 400, `id ${bad}`);
    }
  });

  test('an HLS reader\'s session reference is the playlist name: the UI counts a channel\'s viewers by it', async () => {
    const channel = '0c3e2f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6';
    const id = `restreamer-ui:ingest:${channel}`;
    const hls = {
      ...testProcess(id),
      reference: channel,
      output: [
        {
          id: 'output_0',
          address: `{memfs}/${channel}_output_0.m3u8`,
          options: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '4', '-hls_flags', 'delete_segments', '-method', 'PUT'],
        },
      ],
    };
    assert.equal((await drake.api('POST', '/api/v3/process', hls, auth)).status, 200);
    try {
      const playlist = await waitFor('the playlist', async () => {
        const r = await fetch(`${drake.url}/memfs/${channel}_output_0.m3u8`);
        const text = r.ok ? await r.text() : '';
        return /\.ts/.test(text) ? text : null;
      }, 20_000);
      const segment = playlist.split('\n').find((l) => l.endsWith('.ts'))!;
      assert.equal((await fetch(`${drake.url}/memfs/${segment}`)).status, 200);
      const active = await drake.api<Record<string, Array<{ reference: string; local: string; bandwidth_tx_kbit: number }>>>('GET', '/api/v3/session/active?collectors=ffmpeg,hls,rtmp,srt', undefined, auth);
      assert.deepEqual(Object.keys(active.body).sort(), ['ffmpeg', 'hls', 'rtmp', 'srt']);
      const mine = active.body.hls!.filter((s) => s.reference.startsWith(channel));
      assert.equal(mine.length, 1, JSON.stringify(active.body.hls));
      assert.equal(mine[0]!.reference, `${channel}_output_0`);
      assert.equal(mine[0]!.local, '/memfs');
      assert.ok(mine[0]!.bandwidth_tx_kbit > 0, 'the UI skips sessions that moved nothing');
      // FFmpeg says bitrate=N/A for HLS over HTTP: the rate written into memfs stands in (the UI's kbit/s)
      const path = `/api/v3/process/${encodeURIComponent(id)}`;
      type St = { exec: string; progress: { bitrate_kbit: number } };
      const st = await waitFor('a bitrate', async () => {
        const r = await drake.api<St>('GET', `${path}/state`, undefined, auth);
        return r.body.progress.bitrate_kbit > 0 ? r.body : null;
      }, 15_000);
      assert.equal(st.exec, 'running');
      assert.ok(st.progress.bitrate_kbit > 10 && st.progress.bitrate_kbit < 50_000, `plausible: ${st.progress.bitrate_kbit} kbit/s`);
      const one = await drake.api<{ state: St }>('GET', `${path}?filter=state`, undefined, auth);
      assert.ok(one.body.state.progress.bitrate_kbit > 0, 'GET /process/:id?filter=state too');
      const list = await drake.api<Array<{ state: St }>>('GET', `/api/v3/process?reference=${channel}&filter=state`, undefined, auth);
      assert.ok(list.body[0]!.state.progress.bitrate_kbit > 0, 'and the list the UI polls');
    } finally {
      await drake.api('DELETE', `/api/v3/process/${encodeURIComponent(id)}`, undefined, auth);
    }
  });

  test('files the UI writes to the disk filesystem are served at / too (its player link /<channel>.html), as Core', async () => {
    const put = (path: string, body: string) => drake.api('PUT', `/api/v3/fs/disk${path}`, body, { ...auth, 'content-type': 'application/data' });
    assert.equal((await put('/0c3e2f4a.html', '<html>player</html>')).status, 201);
    assert.equal((await put('/player/videojs/dist/video.min.js', 'var v;')).status, 201);
    assert.equal((await put('/channels/0c3e2f4a/oembed.json', '{"version":"1.0"}')).status, 201);
    const page = await fetch(`${drake.url}/0c3e2f4a.html`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(await page.text(), '<html>player</html>');
    assert.equal(await (await fetch(`${drake.url}/player/videojs/dist/video.min.js`)).text(), 'var v;', 'deeper than drake\'s /player/:id page');
    assert.deepEqual(await (await fetch(`${drake.url}/channels/0c3e2f4a/oembed.json`)).json(), { version: '1.0' });
    assert.equal((await fetch(`${drake.url}/0c3e2f4a.html`, { method: 'HEAD' })).status, 200);
    assert.equal(await (await fetch(`${drake.url}/data/0c3e2f4a.html`)).text(), '<html>player</html>', 'still at /data/ as well');
    // drake's own page stays at /; unknown paths, writes, and paths outside the directory stay 404
    assert.match(await (await fetch(`${drake.url}/`)).text(), /drake/i);
    for (const path of ['/nope.html', '/..%2F..%2Fetc%2Fpasswd', '/%2e%2e/%2e%2e/etc/passwd']) {
      const res = await fetch(`${drake.url}${path}`);
      assert.equal(res.status, 404, path);
    }
    assert.equal((await fetch(`${drake.url}/0c3e2f4a.html`, { method: 'PUT', body: 'x' })).status, 404, 'read-only');
    await put('/api/v3/nope', 'x');
    const api = await fetch(`${drake.url}/api/v3/nope`);
    assert.equal(api.status, 404, 'the API is not the disk');
    assert.match(((await api.json()) as { message: string }).message, /no route/);
  });
});
