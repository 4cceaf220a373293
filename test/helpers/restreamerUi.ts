// datarhei Restreamer UI (a React build, not in this repository) driven in Chromium against a real
// drake: the test in test/browser and `npm run bench -- --scenario restreamer-ui` share this flow.
// The UI is served by a small static server on its own loopback port and told drake's address with
// `?address=` (its documented way to reach a Core elsewhere), so every API call crosses origins as it
// does with the UI's own container. Every call the UI makes to drake is recorded (secrets redacted):
// test/api/fixtures/restreamer-ui-calls.json is such a recording, replayed by restreamerUiReplay.test.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { Browser, BrowserContext, Page, Request as PwRequest } from 'playwright-core';
import { FFMPEG } from './fsServer.ts';

/** Where a built Restreamer UI is looked for: RESTREAMER_UI_DIR, else the default build path. */
export const DEFAULT_UI_DIR = '/tmp/rui-src/build';

/** The build directory when one with an index.html is there, else null. */
export function restreamerUiDir(): string | null {
  const dir = process.env.RESTREAMER_UI_DIR || DEFAULT_UI_DIR;
  return existsSync(join(dir, 'index.html')) ? resolve(dir) : null;
}

export const NO_UI_NOTE =
  `no Restreamer UI build at ${process.env.RESTREAMER_UI_DIR || DEFAULT_UI_DIR} (set RESTREAMER_UI_DIR): build it with ` +
  '`git --git-dir=<mirror of datarhei/restreamer-ui> archive HEAD | tar -x -C /tmp/rui-src && cd /tmp/rui-src && npm install --legacy-peer-deps && PUBLIC_URL=./ npm run build` (see README, "Restreamer UI")';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.jpg': 'image/jpeg',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `dir` read-only on 127.0.0.1 (a free port); unknown paths get index.html, as Caddy's SPA setup. */
export async function serveStatic(dir: string): Promise<StaticServer> {
  const root = resolve(dir);
  const server: Server = createServer((req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, 'index.html');
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

// ---- recording ----

export interface RecordedCall {
  /** Order in which the UI sent it. */
  seq: number;
  method: string;
  /** Path and query as sent (drake's origin removed). */
  path: string;
  requestHeaders: Record<string, string>;
  /** Parsed JSON when the body is JSON, else the text (null: none). */
  requestBody: unknown;
  status: number;
  responseContentType: string;
  responseBody: unknown;
  /** The UI step during which it was made. */
  step: string;
}

const REDACTED = '<redacted>';

/** Secrets out of a recorded value: passwords, tokens, the JWT secret, memfs credentials. */
export function redact(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (/^(password|access_token|refresh_token|secret|token|passphrase)$/.test(key) && value !== '') return REDACTED;
    // JWTs and URL credentials wherever they are
    return value.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, REDACTED).replace(/(\/\/[^/:@\s]+:)[^@/\s]+@/g, `$1${REDACTED}@`);
  }
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  return value;
}

function parseBody(raw: string | null, contentType: string): unknown {
  if (raw === null || raw === '') return null;
  if (contentType.includes('json') || /^[[{"]/.test(raw)) {
    try {
      return JSON.parse(raw);
    } catch {
      // not JSON after all
    }
  }
  return raw.length > 4000 ? `${raw.slice(0, 4000)}…(${raw.length} bytes)` : raw;
}

export class CallRecorder {
  readonly calls: RecordedCall[] = [];
  step = 'start';
  #seq = 0;
  #pending = new Set<Promise<void>>();

  /** Every page of the context: the UI and the player page it links. */
  constructor(context: BrowserContext, drakeUrl: string) {
    const origin = new URL(drakeUrl).origin;
    context.on('requestfinished', (req) => this.#track(req, origin));
    context.on('requestfailed', (req) => this.#track(req, origin));
  }

  #track(req: PwRequest, origin: string): void {
    if (!/^https?:/.test(req.url())) return; // blob: URLs of the players' media sources
    const url = new URL(req.url());
    if (url.origin !== origin || req.method() === 'OPTIONS') return;
    const seq = ++this.#seq;
    const step = this.step;
    const p = (async () => {
      const res = await req.response().catch(() => null);
      const ctype = res ? ((await res.allHeaders().catch(() => ({}) as Record<string, string>))['content-type'] ?? '') : '';
      let body: string | null = null;
      // the API's answers; files (the player's scripts, HLS, images) only by status
      if (res && req.method() !== 'HEAD' && url.pathname.startsWith('/api')) body = await res.text().catch(() => null);
      const headers = await req.allHeaders().catch(() => ({}) as Record<string, string>);
      const kept: Record<string, string> = {};
      for (const k of ['content-type', 'authorization']) if (headers[k]) kept[k] = k === 'authorization' ? headers[k]!.replace(/ .*/, ` ${REDACTED}`) : headers[k]!;
      this.calls.push({
        seq,
        method: req.method(),
        path: url.pathname + url.search,
        requestHeaders: kept,
        requestBody: redact(parseBody(req.postData(), headers['content-type'] ?? '')),
        status: res ? res.status() : 0,
        responseContentType: ctype,
        responseBody: redact(parseBody(body, ctype)),
        step,
      });
    })();
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async settle(): Promise<RecordedCall[]> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
    return this.calls.sort((a, b) => a.seq - b.seq);
  }
}

// ---- the publisher: Restreamer's "RTMP server" source, fed like OBS would ----

/** An FFmpeg that publishes a test pattern with a tone to `url` (RTMP) until killed. */
export function startPublisher(url: string): ChildProcess {
  return spawn(
    FFMPEG,
    [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25',
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', url,
    ],
    { stdio: 'ignore', detached: false },
  );
}

// ---- the flow ----

export interface FlowStep {
  name: string;
  ms: number;
  ok: boolean;
  error?: string;
}

export interface FlowOptions {
  browser: Browser;
  uiUrl: string;
  drakeUrl: string;
  username: string;
  password: string;
  /** drake's RTMP server: where the test source publishes (the UI's "RTMP server" source). */
  rtmp: { host: string; port: number; token: string };
  /** PNGs of the main screens go here when set. */
  shotsDir?: string;
  log?: (s: string) => void;
  /** Each step's limit (ms). */
  stepTimeoutMs?: number;
}

export interface FlowResult {
  steps: FlowStep[];
  calls: RecordedCall[];
  channelId: string | null;
  consoleErrors: string[];
}

export async function runRestreamerUiFlow(opts: FlowOptions): Promise<FlowResult> {
  const log = opts.log ?? (() => {});
  const context = await opts.browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  // The UI asks datarhei's update service once: nothing outside this machine is reached.
  await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
  const recorder = new CallRecorder(context, opts.drakeUrl);
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(opts.stepTimeoutMs ?? 30_000);
  const steps: FlowStep[] = [];
  let channelId: string | null = null;
  let publisher: ChildProcess | null = null;
  if (opts.shotsDir) mkdirSync(opts.shotsDir, { recursive: true });
  const shot = async (name: string) => {
    if (opts.shotsDir) await page.screenshot({ path: join(opts.shotsDir, `${name}.png`), fullPage: true }).catch(() => {});
  };
  let failed = false;
  const step = async (name: string, fn: () => Promise<void>) => {
    if (failed) {
      steps.push({ name, ms: 0, ok: false, error: 'skipped after an earlier failure' });
      return;
    }
    recorder.step = name;
    const t0 = performance.now();
    try {
      await fn();
      steps.push({ name, ms: Math.round(performance.now() - t0), ok: true });
      log(`ok   ${name} (${Math.round(performance.now() - t0)} ms)`);
    } catch (err) {
      failed = true;
      const error = err instanceof Error ? err.message.split('\n').slice(0, 6).join(' | ') : String(err);
      steps.push({ name, ms: Math.round(performance.now() - t0), ok: false, error });
      log(`FAIL ${name}: ${error}`);
      await shot(`fail-${name.replace(/\W+/g, '-')}`);
    }
  };

  try {
    await flowSteps(page, opts, step, shot, (id) => (channelId = id), (p) => (publisher = p));
  } finally {
    (publisher as ChildProcess | null)?.kill('SIGKILL');
    await context.close().catch(() => {});
  }
  return { steps, calls: await recorder.settle(), channelId, consoleErrors };
}

type StepFn = (name: string, fn: () => Promise<void>) => Promise<void>;

/** The step in which the test source starts publishing (the replay starts its publisher there too). */
export const STEP_PUBLISH = "publish a test source to drake's RTMP server (as OBS would)";

async function flowSteps(
  page: Page,
  opts: FlowOptions,
  step: StepFn,
  shot: (name: string) => Promise<void>,
  setChannel: (id: string) => void,
  setPublisher: (p: ChildProcess) => void,
): Promise<void> {
  const ui = `${opts.uiUrl}/?address=${encodeURIComponent(opts.drakeUrl)}`;
  const api = new DrakeApi(opts.drakeUrl, opts.username, opts.password);
  let channel = '';
  const next = () => page.getByRole('button', { name: /^next$/i }).click();

  await step('open the UI: login form', async () => {
    await page.goto(ui);
    await page.getByLabel(/username/i).waitFor();
    await shot('01-login');
  });
  await step('log in: welcome screen with a new channel', async () => {
    await page.getByLabel(/username/i).fill(opts.username);
    await page.getByLabel(/password/i).fill(opts.password);
    await page.getByRole('button', { name: /login/i }).click();
    await page.getByRole('button', { name: /next: video setup/i }).waitFor();
    const m = /#\/([0-9a-f-]{36})/.exec(page.url());
    if (!m) throw new Error(`no channel id in ${page.url()}`);
    channel = m[1]!;
    setChannel(channel);
    await shot('02-welcome');
  });
  await step('wizard: pick the RTMP server source', async () => {
    await page.getByRole('button', { name: /next: video setup/i }).click();
    await page.getByRole('button', { name: /rtmp server/i }).click();
    await page.getByText(/input stream/i).first().waitFor();
    const address = page.getByText(/^rtmp:\/\//);
    if (!(await address.count())) {
      await page.getByRole('combobox').first().click();
      await page.getByRole('option', { name: /send stream to address/i }).click();
    }
    await shot('03-wizard-rtmp-source');
  });
  await step(STEP_PUBLISH, async () => {
    const name = `${channel}.stream`;
    setPublisher(startPublisher(`rtmp://${opts.rtmp.host}:${opts.rtmp.port}/${name}?token=${encodeURIComponent(opts.rtmp.token)}`));
    await until(`${name} is published`, async () => ((await api.get('/api/v3/rtmp')) as Array<{ name: string }>).some((s) => s.name === `/${name}`), 15_000);
  });
  await step('wizard: probe the video', async () => {
    await next();
    await page.getByText(/the video source is compatible/i).waitFor({ timeout: 40_000 });
    await shot('04-wizard-video-probed');
  });
  await step('wizard: audio', async () => {
    await next();
    await page.getByText(/audio setup/i).first().waitFor();
    // the audio step probes again when it needs to; its Next button ends it
    await page.getByRole('button', { name: /^next$/i }).waitFor({ timeout: 40_000 });
    await shot('05-wizard-audio');
    await next();
  });
  await step('wizard: name and license, save', async () => {
    await page.getByText(/briefly describe/i).waitFor();
    const name = page.getByLabel(/^name$/i);
    if (await name.count()) await name.fill('drake test channel');
    await next();
    await page.getByRole('button', { name: /^save$/i }).click();
    await page.waitForURL(new RegExp(`#/${channel}$`), { timeout: 30_000 });
  });
  await step('main view: running with progress (fps, bitrate)', async () => {
    // Restreamer says "connected" after 10 s of running with frames
    await page.getByRole('button', { name: /^disconnect$/i }).waitFor({ timeout: 40_000 });
    await page.getByText(/^fps$/i).waitFor({ timeout: 40_000 });
    await until('the ingest process runs with frames', async () => {
      const st = (await api.get(`/api/v3/process/${encodeURIComponent(`restreamer-ui:ingest:${channel}`)}/state`)) as { exec: string; progress: { fps: number; bitrate_kbit: number } };
      return st.exec === 'running' && st.progress.fps > 0 && st.progress.bitrate_kbit > 0;
    }, 30_000);
    // the UI's own numbers: uptime, a kbit/s that is not 0, FPS
    await page.waitForFunction('/[1-9][0-9.]*\\s*kbit\\/s/i.test(document.body.innerText)', undefined, { timeout: 20_000, polling: 500 });
    await shot('06-main-running');
  });
  await step("the channel's player page (/<channel>.html, from the disk filesystem) plays", async () => {
    const player = await page.context().newPage();
    try {
      const res = await player.goto(`${opts.drakeUrl}/${channel}.html`);
      if (res?.status() !== 200) throw new Error(`GET /${channel}.html: ${res?.status()}`);
      // video.js with the channel's HLS from /memfs; the player does not autoplay by default: press play
      await player.locator('.vjs-big-play-button').click({ timeout: 15_000 });
      await player.waitForFunction('(() => { const v = document.querySelector("video"); return !!v && v.currentTime > 0.5 && v.videoWidth > 0; })()', undefined, { timeout: 30_000, polling: 250 });
      await player.screenshot({ path: opts.shotsDir ? join(opts.shotsDir, '07-player-page.png') : undefined }).catch(() => {});
    } finally {
      await player.close();
    }
  });
  await step('process details (log) and process report (debug JSON)', async () => {
    await page.getByText(/^process details$/i).click();
    await page.getByText(/^banner$/i).waitFor();
    await page.getByText(/^logging$/i).waitFor();
    // the command and the log lines the modal shows
    await page.locator('textarea').filter({ hasText: /-codec:v/ }).first().waitFor();
    await shot('08-process-details');
    await page.keyboard.press('Escape');
    await page.getByText(/^banner$/i).waitFor({ state: 'hidden' });
    await page.getByText(/^process report$/i).click();
    await page.locator('textarea').filter({ hasText: /"app": "datarhei-core"/ }).first().waitFor();
    await shot('09-process-report');
    await page.keyboard.press('Escape');
    await page.locator('textarea').filter({ hasText: /"app": "datarhei-core"/ }).first().waitFor({ state: 'hidden' });
  });
  await step('stop the channel (Disconnect)', async () => {
    await page.getByRole('button', { name: /^disconnect$/i }).click();
    await page.getByRole('button', { name: /^connect$/i }).waitFor({ timeout: 30_000 });
    await shot('10-main-stopped');
  });
  await step('delete the channel', async () => {
    await page.goto(`${ui}#/${channel}/edit`);
    await page.getByRole('button', { name: /^delete$/i }).first().click();
    // the confirmation's own Delete button (the dialog is not an ARIA dialog)
    await page.getByText(/do you want to delete/i).waitFor();
    await page.getByRole('button', { name: /^delete$/i }).last().click();
    await until('the channel\'s processes are gone', async () => {
      const list = (await api.get('/api/v3/process')) as Array<{ id: string }>;
      return !list.some((p) => p.id.includes(channel));
    }, 20_000);
    await shot('11-after-delete');
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** drake's API from the test side (checks what the UI did), logged in like the UI. */
class DrakeApi {
  #token: string | null = null;
  constructor(
    readonly url: string,
    readonly username: string,
    readonly password: string,
  ) {}

  async get(path: string): Promise<unknown> {
    if (!this.#token) {
      const res = await fetch(`${this.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: this.username, password: this.password }) });
      this.#token = ((await res.json()) as { access_token: string }).access_token;
    }
    const res = await fetch(`${this.url}${path}`, { headers: { authorization: `Bearer ${this.#token}` } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return res.json();
  }
}

// ---- everything together: drake (auth + RTMP), the UI's static server, Chromium ----

export const UI_USER = 'admin';
export const UI_PASSWORD = 'rui-Pa55word';
export const UI_RTMP_TOKEN = 'rui-t0ken';

export interface UiRun extends FlowResult {
  drakeUrl: string;
  totalMs: number;
}

/** Starts a drake with API auth and its RTMP server, serves `uiDir`, runs the whole flow in Chromium, and stops it all. */
export async function runAgainstFreshDrake(uiDir: string, o: { shotsDir?: string; log?: (s: string) => void; stepTimeoutMs?: number } = {}): Promise<UiRun> {
  const { startDrake, freePort } = await import('./drake.ts');
  const { launchChromium } = await import('./chromium.ts');
  const t0 = performance.now();
  const rtmpPort = await freePort();
  const drake = await startDrake({
    api: { auth: { enable: true, username: UI_USER, password: UI_PASSWORD, login_failure_delay_ms: 0 } },
    rtmp: { enable: true, address: `127.0.0.1:${rtmpPort}`, token: UI_RTMP_TOKEN },
  });
  const site = await serveStatic(uiDir);
  const browser = await launchChromium();
  try {
    const result = await runRestreamerUiFlow({
      browser,
      uiUrl: site.url,
      drakeUrl: drake.url,
      username: UI_USER,
      password: UI_PASSWORD,
      rtmp: { host: '127.0.0.1', port: rtmpPort, token: UI_RTMP_TOKEN },
      ...o,
    });
    return { ...result, drakeUrl: drake.url, totalMs: Math.round(performance.now() - t0) };
  } finally {
    await browser.close().catch(() => {});
    await site.close();
    await drake.stop(true);
  }
}

// ---- the fixture: what restreamerUiReplay.test.ts replays ----

export interface FixtureCall {
  seq: number;
  step: string;
  method: string;
  path: string;
  requestContentType: string | null;
  /** Whether the UI sent a Bearer token (the replay sends a fresh one of the same kind). */
  auth: boolean;
  requestBody: unknown;
  status: number;
  responseContentType: string;
  /** drake's answer when recorded (large ones cut down to their keys). */
  responseBody: unknown;
  /** The UI polls: how many identical calls in a row this one stands for. */
  repeats?: number;
}

export interface Fixture {
  about: string;
  recorded_at: string;
  ui: { version: string; commit: string };
  /** The drake origin and RTMP token at recording time (the replay puts its own in). */
  drake_origin: string;
  channel_id: string;
  steps: FlowStep[];
  calls: FixtureCall[];
}

function trimLarge(v: unknown): unknown {
  const s = JSON.stringify(v) ?? '';
  if (s.length <= 16_000) return v;
  if (v && typeof v === 'object' && !Array.isArray(v)) return { $cut: `${s.length} bytes`, keys: Object.keys(v) };
  if (typeof v === 'string') return `${v.slice(0, 2000)}…(${v.length} bytes)`;
  return { $cut: `${s.length} bytes` };
}

/** The recorded calls as a fixture: secrets redacted, drake's origin marked, runs of identical polls collapsed to their first and last. */
export function toFixture(run: UiRun, ui: { version: string; commit: string }): Fixture {
  const origin = new URL(run.drakeUrl).origin;
  const mark = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null).split(origin).join('{drake}'));
  const calls: FixtureCall[] = run.calls
    .filter((c) => c.status !== 0)
    .map((c) => ({
      seq: c.seq,
      step: c.step,
      method: c.method,
      path: c.path,
      requestContentType: c.requestHeaders['content-type'] ?? null,
      auth: 'authorization' in c.requestHeaders,
      requestBody: mark(c.requestBody),
      status: c.status,
      responseContentType: c.responseContentType,
      responseBody: trimLarge(mark(c.responseBody)),
    }));
  // The UI polls (state, lists, metrics, sessions) every second or two: within a stretch of reads in
  // one step, keep the first and the last of each identical call, the first counting the rest.
  const isRead = (c: FixtureCall) => c.method === 'GET' || c.method === 'HEAD' || (c.method === 'POST' && c.path === '/api/v3/metrics');
  const key = (c: FixtureCall) => `${c.method} ${c.path} ${c.status}`;
  const out: FixtureCall[] = [];
  let window: FixtureCall[] = [];
  const flush = () => {
    const count = new Map<string, number>();
    for (const c of window) count.set(key(c), (count.get(key(c)) ?? 0) + 1);
    window.forEach((c, i) => {
      const first = window.findIndex((d) => key(d) === key(c)) === i;
      const last = window.findLastIndex((d) => key(d) === key(c)) === i;
      if (first) out.push(count.get(key(c))! > 1 ? { ...c, repeats: count.get(key(c))! } : c);
      else if (last) out.push(c);
    });
    window = [];
  };
  for (const c of calls) {
    if (!isRead(c) || (window.length && window[0]!.step !== c.step)) flush();
    if (isRead(c)) window.push(c);
    else out.push(c);
  }
  flush();
  return {
    about:
      'Every HTTP call datarhei Restreamer UI made to drake in one run of `npm run bench -- --scenario restreamer-ui --record` ' +
      '(log in, wizard with the RTMP server source, channel running, Disconnect, Delete). Secrets are <redacted>; {drake} is drake\'s origin. ' +
      'Replayed by test/api/restreamerUiReplay.test.ts.',
    recorded_at: new Date().toISOString(),
    ui,
    drake_origin: '{drake}',
    channel_id: run.channelId ?? '',
    steps: run.steps,
    calls: out,
  };
}
