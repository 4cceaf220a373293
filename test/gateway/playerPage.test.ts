// The WHEP player page in a real Chromium against a stub WHEP endpoint (no drake server):
// it must POST recvonly audio+video SDP offers and honour 503/409 + Retry-After by retrying.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { chromiumPath, launchChromium } from '../helpers/chromium.ts';

const PLAYER = readFileSync(new URL('../../src/gateway/static/player.html', import.meta.url), 'utf8');
const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

test(
  'player page POSTs recvonly SDP offers and retries on 503/409 with Retry-After',
  { timeout: 20_000, skip: chromiumPath() ? false : 'Chromium not installed (apt-get install -y chromium, or set CHROMIUM_PATH)' },
  async () => {
    const seen: Seen[] = [];
    const posts = () => seen.filter((r) => r.method === 'POST' && r.url === '/whep/x');
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        if (req.method === 'GET' && req.url === '/player/x') {
          const page = PLAYER.replaceAll('{{PROCESS_ID}}', html('x'))
            .replaceAll('{{WHEP_URL}}', html('/whep/x'))
            .replaceAll('{{TOKEN}}', html('t0ken'));
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
        } else if (req.method === 'POST' && req.url === '/whep/x') {
          const first = posts().length === 1;
          // The 503's wait is long enough (3 s) for a loaded box to read the page's state before the retry.
          res.writeHead(first ? 503 : 409, { 'retry-after': first ? '3' : '1', 'content-type': 'text/plain' }).end(first ? 'not ready' : 'busy');
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${base}/player/x`);
      assert.equal(await page.title(), 'drake · x');

      // Browser-side code is passed as strings: this tsconfig has no DOM lib.
      await page.waitForFunction(`window.drakePlayer?.state === 'retrying'`, null, { timeout: 5_000 });
      await page.waitForFunction(`/^retrying in \\d+ s — 503/.test(document.getElementById('state').textContent)`, null, { timeout: 3_000 });

      const start = Date.now();
      while (posts().length < 2 && Date.now() - start < 6_000) await new Promise((r) => setTimeout(r, 50));
      assert.ok(posts().length >= 2, `expected a retry, saw ${posts().length} POST(s)`);
      await page.waitForFunction(`/^retrying in \\d+ s — 409/.test(document.getElementById('state').textContent)`, null, { timeout: 3_000 });
      if (process.env.PLAYER_SCREENSHOT) await page.screenshot({ path: process.env.PLAYER_SCREENSHOT });

      for (const p of posts()) {
        assert.equal(p.headers['content-type'], 'application/sdp');
        assert.equal(p.headers.authorization, 'Bearer t0ken');
        assert.match(p.body, /^v=0\r\n/);
        assert.match(p.body, /^m=video /m);
        assert.match(p.body, /^m=audio /m);
        assert.equal(p.body.match(/^a=recvonly\r?$/gm)?.length, 2);
        assert.match(p.body, /^a=group:BUNDLE 0 1\r?$/m);
      }
      const player = await page.evaluate(`(({ state, ttffMs, sessionUrl, pc }) =>
        ({ state, ttffMs, sessionUrl, hasPc: pc instanceof RTCPeerConnection, muted: document.getElementById('video').muted }))(window.drakePlayer)`);
      assert.deepEqual(player, { state: 'retrying', ttffMs: null, sessionUrl: null, hasPc: false, muted: true });
      assert.ok(await page.isVisible('#unmute'));
      assert.deepEqual(pageErrors, []);
      // Self-contained: nothing but the page and the WHEP endpoint was requested (no DELETE: no session).
      assert.deepEqual([...new Set(seen.map((r) => `${r.method} ${r.url}`))].sort(), ['GET /player/x', 'POST /whep/x']);
    } finally {
      await browser.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  },
);
