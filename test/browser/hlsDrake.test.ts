// The whole HLS path through drake: a process writes HLS to {memfs} (credentials sent up front by
// drake), drake serves it from /memfs, and Chromium plays it with hls.js from another origin. The source is
// a test pattern, or an encoder publishing to drake's built-in RTMP or SRT server, read through {rtmp,name=…}
// or {srt,name=…}.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { loadSrtAddon } from '../../src/ingest/srt/addon.ts';
import { chromiumPath, launchChromium } from '../helpers/chromium.ts';
import { freePort, startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { FFMPEG } from '../helpers/fsServer.ts';

const HLS_JS = readFileSync(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));
const page = (src: string) => `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script src="/hls.js"></script><script>
  window.hlsErrors = [];
  const video = document.getElementById('v');
  const hls = new Hls({ liveSyncDurationCount: 2 });
  hls.on(Hls.Events.ERROR, (_e, d) => window.hlsErrors.push((d.fatal ? 'fatal ' : '') + d.type + ': ' + d.details));
  hls.loadSource(${JSON.stringify(src)});
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => window.hlsErrors.push('play: ' + e.message)));
</script>`;

const skip = chromiumPath() ? false : 'Chromium not installed';
const HLS_OUT = ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '25', '-pix_fmt', 'yuv420p', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '4', '-hls_flags', 'delete_segments', '-method', 'PUT'];

/**
 * Waits for the process's playlist in /memfs, plays it in Chromium with hls.js from another origin, and checks
 * the picture (`width` px, currentTime advancing) and that drake counts the browser as an HLS session.
 */
async function playsInChromium(drake: TestDrake, id: string, width: number): Promise<void> {
  let server: Server | null = null;
  let browser: Awaited<ReturnType<typeof launchChromium>> | null = null;
  try {
    const playlist = await waitFor('two segments in memfs', async () => {
      const r = await fetch(`${drake.url}/memfs/${id}/index.m3u8`);
      const text = r.status === 200 ? await r.text() : '';
      return [...text.matchAll(/\.ts$/gm)].length >= 2 ? r : null;
    }, 20_000, 200);
    assert.equal(playlist.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    server = createServer((req, r) => {
      if (req.url === '/hls.js') r.writeHead(200, { 'content-type': 'text/javascript' }).end(HLS_JS);
      else r.writeHead(200, { 'content-type': 'text/html' }).end(page(`${drake.url}/memfs/${id}/index.m3u8`));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
    const tab = await browser.newPage();
    await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const video = () =>
      tab.evaluate(`(() => { const v = document.getElementById('v'); return { width: v.videoWidth, time: v.currentTime, errors: window.hlsErrors }; })()`) as Promise<{ width: number; time: number; errors: string[] }>;
    const first = await waitFor('decoded video', async () => {
      const v = await video();
      if (v.errors.some((e) => e.startsWith('fatal'))) throw new Error(v.errors.join('; '));
      return v.width > 0 && v.time > 0 ? v : null;
    }, 20_000, 200);
    assert.equal(first.width, width);
    await waitFor('playback advancing', async () => (await video()).time >= first.time + 1, 10_000, 200);
    const sessions = await drake.api<{ hls: Array<{ reference: string; local: string; remote: string; bytes_tx: number }> }>('GET', '/api/v3/session/active');
    // Core's reference: the playlist's name; the directory it is in: local
    const viewer = sessions.body.hls.find((x) => x.reference === 'index' && x.local === `/memfs/${id}`);
    assert.ok(viewer, `the browser is an HLS session: ${JSON.stringify(sessions.body.hls)}`);
    assert.ok(viewer.bytes_tx > 10_000);
    assert.match(viewer.remote, /127\.0\.0\.1/);
  } finally {
    await browser?.close();
    server?.close();
  }
}

test('a process writing HLS to {memfs} plays in Chromium from drake\'s /memfs', { timeout: 60_000, skip }, async () => {
  const drake = await startDrake();
  try {
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'hls',
      input: [{ id: 'in', address: 'testsrc=size=320x240:rate=25', options: ['-re', '-f', 'lavfi'] }],
      output: [{ id: 'out', address: '{memfs}/{processid}/index.m3u8', options: HLS_OUT }],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('a playlist in memfs', async () => (await fetch(`${drake.url}/memfs/hls/index.m3u8`)).status === 200, 20_000, 200);
    assert.equal((await fetch(`${drake.url}/memfs/hls/index.m3u8`, { method: 'PUT', body: 'x' })).status, 401, 'writes need the memfs credentials');
    await playsInChromium(drake, 'hls', 320);
  } finally {
    await drake.stop(true);
  }
});

test('an encoder publishing to drake\'s RTMP server, a process reading {rtmp,name=…} into HLS: Chromium plays it', { timeout: 60_000, skip }, async () => {
  const port = await freePort();
  const drake = await startDrake({ rtmp: { enable: true, address: `127.0.0.1:${port}`, token: 'hls-rtmp-token' } });
  let publisher: ChildProcess | null = null;
  try {
    publisher = spawn(
      FFMPEG,
      ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-t', '50', '-i', 'testsrc2=size=256x144:rate=25',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-f', 'flv', `rtmp://127.0.0.1:${port}/studio/cam?token=hls-rtmp-token`],
      { stdio: 'ignore' },
    );
    await waitFor('studio/cam is published', async () => (await drake.api<Array<{ name: string }>>('GET', '/api/v3/rtmp')).body.some((s) => s.name === '/studio/cam'), 15_000, 100);
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'rtmphls',
      reconnect: true,
      reconnect_delay_seconds: 1,
      input: [{ id: 'in', address: '{rtmp,name=studio/cam}', options: [] }],
      output: [{ id: 'out', address: '{memfs}/{processid}/index.m3u8', options: HLS_OUT }],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await playsInChromium(drake, 'rtmphls', 256);
  } finally {
    publisher?.kill('SIGKILL');
    await drake.stop(true);
  }
});

test('an encoder publishing to drake\'s SRT server, a process reading {srt,name=…} into HLS: Chromium plays it', { timeout: 60_000, skip: skip || (loadSrtAddon().addon ? false : 'the native/srt addon is not built (libsrt-gnutls-dev)') }, async () => {
  const port = await freePort();
  const drake = await startDrake({ srt: { enable: true, address: `127.0.0.1:${port}`, token: 'hlssrt' } });
  let publisher: ChildProcess | null = null;
  try {
    publisher = spawn(
      FFMPEG,
      ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-t', '50', '-i', 'testsrc2=size=192x108:rate=25',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-f', 'mpegts', `srt://127.0.0.1:${port}?streamid=studio/cam,mode:publish,token:hlssrt`],
      { stdio: 'ignore' },
    );
    await waitFor('studio/cam is published', async () => (await drake.api<{ publisher: Record<string, number> }>('GET', '/api/v3/srt')).body.publisher['studio/cam'] !== undefined, 15_000, 100);
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'srthls',
      reconnect: true,
      reconnect_delay_seconds: 1,
      input: [{ id: 'in', address: '{srt,name=studio/cam}', options: ['-analyzeduration', '1000000'] }],
      output: [{ id: 'out', address: '{memfs}/{processid}/index.m3u8', options: HLS_OUT }],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await playsInChromium(drake, 'srthls', 192);
  } finally {
    publisher?.kill('SIGKILL');
    await drake.stop(true);
  }
});
