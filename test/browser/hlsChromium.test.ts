// A live HLS stream through memfs in a real Chromium: FFmpeg pushes a 320x240 test pattern with
// HTTP PUT into /memfs, and a page plays /memfs/test/index.m3u8 with hls.js (Chromium has no native
// HLS): the video decodes at 320 px and its currentTime advances.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { basicAuthHeader } from '../../src/gateway/routes/fsRoutes.ts';
import { chromiumPath, launchChromium } from '../helpers/chromium.ts';
import { waitFor } from '../helpers/drake.ts';
import { haveFfmpeg, hlsPushArgs, runFfmpeg, startFsServer } from '../helpers/fsServer.ts';

const HLS_JS = readFileSync(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>hls.js over memfs</title>
<video id="v" muted autoplay playsinline width="320" height="240"></video>
<script src="/hls.js"></script>
<script>
  window.hlsErrors = [];
  const video = document.getElementById('v');
  if (!Hls.isSupported()) window.hlsErrors.push('Hls.isSupported() is false');
  const hls = new Hls({ liveSyncDurationCount: 2 });
  hls.on(Hls.Events.ERROR, (_e, d) => window.hlsErrors.push((d.fatal ? 'fatal ' : '') + d.type + ': ' + d.details));
  hls.loadSource('/memfs/test/index.m3u8');
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => window.hlsErrors.push('play: ' + e.message)));
</script>`;

const skip = !chromiumPath()
  ? 'Chromium not installed (apt-get install -y chromium, or set CHROMIUM_PATH)'
  : !haveFfmpeg()
    ? 'no /usr/bin/ffmpeg'
    : false;

test('Chromium plays FFmpeg\'s live HLS from memfs with hls.js: 320 px video, currentTime advancing', { timeout: 30_000, skip }, async () => {
  const user = 'admin';
  const pass = 'hls-Test-pass';
  const s = await startFsServer({
    routes: { memfsAuth: { username: user, password: pass } },
    extra: [
      { method: 'get', pattern: '/hls.js', summary: 'hls.js', handler: () => ({ status: 200, headers: { 'content-type': 'text/javascript; charset=utf-8' }, body: HLS_JS }) },
      { method: 'get', pattern: '/hls.html', summary: 'page', handler: () => ({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: PAGE }) },
    ],
  });
  const ff = runFfmpeg(
    hlsPushArgs(`http://127.0.0.1:${s.port}/memfs/test/index.m3u8`, 25, ['-headers', `Authorization: ${basicAuthHeader(user, pass)}\r\n`], 4),
    28_000,
  );
  let browser: Awaited<ReturnType<typeof launchChromium>> | null = null;
  try {
    await waitFor('two segments in the playlist', async () => {
      const res = await fetch(`${s.url}/memfs/test/index.m3u8`);
      return res.status === 200 && [...(await res.text()).matchAll(/\.ts$/gm)].length >= 2;
    }, 10_000, 100);
    browser = await launchChromium();
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${s.url}/hls.html`);
    const video = () =>
      page.evaluate(`(() => { const v = document.getElementById('v'); return { width: v.videoWidth, height: v.videoHeight, time: v.currentTime, errors: window.hlsErrors }; })()`) as Promise<{
        width: number;
        height: number;
        time: number;
        errors: string[];
      }>;
    const first = await waitFor('decoded video', async () => {
      const v = await video();
      if (v.errors.some((e) => e.startsWith('fatal') || e.includes('isSupported'))) throw new Error(v.errors.join('; '));
      return v.width > 0 && v.time > 0 ? v : null;
    }, 12_000, 100);
    assert.equal(first.width, 320);
    assert.equal(first.height, 240);
    const later = await waitFor('currentTime to advance by a second', async () => {
      const v = await video();
      return v.time >= first.time + 1 ? v : null;
    }, 6_000, 100);
    assert.ok(later.time > first.time);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(later.errors.filter((e) => e.startsWith('fatal')), []);
  } finally {
    await browser?.close();
    ff.kill();
    await ff.done;
    s.close();
  }
});
