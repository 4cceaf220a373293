// Replays, in order, every HTTP call datarhei Restreamer UI made to drake in a recorded browser run
// (test/api/fixtures/restreamer-ui-calls.json, from `npm run bench -- --scenario restreamer-ui --record`)
// against a real drake with API auth and its RTMP server, a real FFmpeg publishing the channel's test
// source, and real FFmpeg processes for the channel. Each answer must have the status the UI got and
// the fields the UI reads (src/utils/restreamer.js and src/utils/api.js of the UI, v1.14.0). Runs
// without the UI and without a browser, so CI checks the UI's API contract.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { freePort, startDrake, type TestDrake } from '../helpers/drake.ts';
import { FFMPEG, haveFfmpeg } from '../helpers/fsServer.ts';
import { STEP_PUBLISH, startPublisher, UI_PASSWORD, UI_RTMP_TOKEN, UI_USER, type Fixture, type FixtureCall } from '../helpers/restreamerUi.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/restreamer-ui-calls.json', import.meta.url), 'utf8')) as Fixture;
const channel = fixture.channel_id;
const ingestId = `restreamer-ui:ingest:${channel}`;

type J = Record<string, unknown>;
const isObj = (v: unknown): v is J => v !== null && typeof v === 'object' && !Array.isArray(v);
/** The UI's own RFC 3339 parser (restreamer.js parseRFC3339Date). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.?(\d+))?(?:(?:([+-]\d{2}):?(\d{2}))|Z)?$/;

/** What the UI reads from each answer, as a list of problems (empty: the UI can use it). */
function uiReads(c: FixtureCall, body: unknown, ctx: { hlsRead: boolean }): string[] {
  const p: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) p.push(what);
  };
  const path = decodeURIComponent(c.path.split('?')[0]!);
  const query = new URLSearchParams(c.path.split('?')[1] ?? '');
  if (c.status >= 400) {
    // api.js: a JSON error body with code and message becomes the UI's error message
    need(isObj(body) && typeof body.code === 'number' && typeof body.message === 'string', 'error body {code, message}');
    return p;
  }
  const state = (s: unknown, where: string) => {
    need(isObj(s), `${where}: state object`);
    if (!isObj(s)) return;
    need(['starting', 'running', 'finishing', 'finished', 'killed', 'failed'].includes(String(s.exec)), `${where}.exec`);
    need(s.order === 'start' || s.order === 'stop', `${where}.order`);
    need(Array.isArray(s.command), `${where}.command[]`);
    need(typeof s.runtime_seconds === 'number' && typeof s.reconnect_seconds === 'number', `${where}.runtime_seconds/reconnect_seconds`);
    need(typeof s.last_logline === 'string' && typeof s.cpu_usage === 'number' && typeof s.memory_bytes === 'number', `${where}.last_logline/cpu_usage/memory_bytes`);
    const pr = s.progress;
    need(isObj(pr) && ['fps', 'bitrate_kbit', 'speed', 'q', 'drop', 'dup'].every((k) => typeof pr[k] === 'number'), `${where}.progress numbers`);
    need(isObj(pr) && Array.isArray(pr.inputs) && Array.isArray(pr.outputs), `${where}.progress.inputs/outputs[]`);
  };
  const report = (r: unknown, where: string) => {
    // Core's log lines are [unix seconds as a string, line]; the UI multiplies the first by 1000
    const lines = (l: unknown) => Array.isArray(l) && (l as unknown[]).every((e) => Array.isArray(e) && /^\d+$/.test(String(e[0])) && typeof e[1] === 'string');
    need(isObj(r) && Array.isArray(r.prelude) && lines(r.log), `${where}: prelude[], log[["<unix seconds>", line]]`);
    need(isObj(r) && Array.isArray(r.history) && (r.history as J[]).every((h) => Array.isArray(h.prelude) && lines(h.log)), `${where}.history[{prelude[], log[]}]`);
  };
  if (path === '/api') {
    need(isObj(body) && body.app === 'datarhei-core', 'app datarhei-core (About() refuses anything else)');
    if (isObj(body) && c.auth) {
      need(typeof body.id === 'string' && body.id.length > 0, 'id (empty id: login fails)');
      need(typeof body.name === 'string' && RFC3339.test(String(body.created_at)), 'name, created_at RFC 3339');
      const v = isObj(body.version) ? String(body.version.number) : '';
      const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
      need(!!m && Number(m[1]) === 16 && Number(m[2]) >= 11, `version.number within ^16.11.0 (got ${v})`);
    }
    if (isObj(body)) need(Array.isArray(body.auths), 'auths[]');
  } else if (path === '/api/login' || path === '/api/login/refresh') {
    need(isObj(body) && typeof body.access_token === 'string', 'access_token');
    if (path === '/api/login') need(isObj(body) && typeof body.refresh_token === 'string', 'refresh_token');
    if (isObj(body) && typeof body.access_token === 'string') {
      const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1] ?? '', 'base64url').toString() || '{}') as J;
      need(typeof claims.exi === 'number' && claims.exi > 60, 'the access token\'s exi claim (the UI refreshes exi − 60 s later)');
    }
  } else if (path === '/api/v3/skills') {
    need(isObj(body) && isObj(body.ffmpeg) && /^\d+\.\d+\.\d+$/.test(String(body.ffmpeg.version)), 'ffmpeg.version as x.y.z (semver)');
    if (!isObj(body)) return p;
    const codecs = body.codecs;
    for (const kind of ['audio', 'video'])
      need(isObj(codecs) && Array.isArray(codecs[kind]) && (codecs[kind] as J[]).every((x) => typeof x.id === 'string' && 'encoders' in x && 'decoders' in x), `codecs.${kind}[{id, encoders, decoders}]`);
    need(Array.isArray(body.hwaccels) && Array.isArray(body.filter), 'hwaccels[], filter[]');
    need(isObj(body.formats) && Array.isArray(body.formats.demuxers) && Array.isArray(body.formats.muxers), 'formats.demuxers/muxers[]');
    const protocols = body.protocols;
    need(isObj(protocols) && Array.isArray(protocols.input) && (protocols.input as J[]).some((x) => x.id === 'rtmp') && (protocols.input as J[]).some((x) => x.id === 'http'), 'protocols.input[] with rtmp and http (the wizard offers the RTMP source by it)');
    need(isObj(body.devices) && Array.isArray(body.devices.demuxers) && Array.isArray(body.devices.muxers), 'devices.demuxers/muxers[]');
  } else if (path === '/api/v3/rtmp') {
    need(Array.isArray(body) && (body as J[]).every((x) => typeof x.name === 'string'), '[{name}]');
  } else if (path === '/api/v3/config') {
    need(isObj(body) && [body.created_at, body.loaded_at, body.updated_at].every((d) => RFC3339.test(String(d))), 'created_at/loaded_at/updated_at RFC 3339');
    need(isObj(body) && Array.isArray(body.overrides), 'overrides[]');
    const cfg = isObj(body) ? body.config : null;
    need(isObj(cfg), 'config');
    if (!isObj(cfg)) return p;
    const at = (path: string) => path.split('.').reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), cfg);
    need(Array.isArray(at('host.name')) && typeof at('tls.enable') === 'boolean', 'config.host.name[], tls.enable');
    need(/:\d+$/.test(String(at('address'))), 'config.address host:port');
    for (const k of ['rtmp.enable', 'rtmp.enable_tls', 'srt.enable', 'storage.memory.auth.enable', 'api.auth.enable']) need(typeof at(k) === 'boolean', `config.${k}`);
    for (const k of ['rtmp.app', 'rtmp.token', 'rtmp.address', 'rtmp.address_tls', 'srt.address', 'srt.passphrase', 'srt.token', 'storage.memory.auth.username', 'storage.memory.auth.password', 'api.auth.username', 'api.auth.password'])
      need(typeof at(k) === 'string', `config.${k}`);
    need(at('rtmp.enable') === true, 'config.rtmp.enable (the wizard\'s RTMP server source needs it)');
  } else if (path === '/api/v3/process' && c.method === 'GET') {
    need(Array.isArray(body), 'a list');
    for (const proc of Array.isArray(body) ? (body as J[]) : []) {
      need(typeof proc.id === 'string' && typeof proc.reference === 'string', 'id, reference');
      const filter = (query.get('filter') ?? '').split(',');
      if (filter.includes('metadata')) need('metadata' in proc && (proc.metadata === null || isObj(proc.metadata)), 'metadata (object or null)');
      if (filter.includes('state')) state(proc.state, `${String(proc.id)}.state`);
    }
  } else if (path === '/api/v3/process' && c.method === 'POST') {
    need(isObj(body) && typeof body.id === 'string', 'the created config with its id');
  } else if (/^\/api\/v3\/process\/[^/]+\/report$/.test(path)) {
    report(body, 'report');
  } else if (/^\/api\/v3\/process\/[^/]+$/.test(path) && c.method === 'GET') {
    // _getProcessDebug(): ?filter=config,state,report, every list it maps over must be there
    need(isObj(body) && typeof body.id === 'string', 'id');
    const filter = (query.get('filter') ?? '').split(',');
    if (isObj(body) && filter.includes('config')) {
      const cfg = body.config;
      need(isObj(cfg) && Array.isArray(cfg.options), 'config.options[]');
      for (const io of ['input', 'output'])
        need(isObj(cfg) && Array.isArray(cfg[io]) && (cfg[io] as J[]).every((x) => typeof x.address === 'string' && Array.isArray(x.options)), `config.${io}[{address, options[]}]`);
    }
    if (isObj(body) && filter.includes('state')) state(body.state, 'state');
    if (isObj(body) && filter.includes('report')) report(body.report, 'report');
  } else if (/^\/api\/v3\/process\/[^/]+\/state$/.test(path)) {
    state(body, 'state');
  } else if (/^\/api\/v3\/process\/[^/]+\/probe$/.test(path)) {
    const streams = isObj(body) && Array.isArray(body.streams) ? (body.streams as J[]) : null;
    need(!!streams && isObj(body) && Array.isArray(body.log), 'streams[], log[]');
    if (streams) {
      const video = streams.find((s) => s.type === 'video');
      const audio = streams.find((s) => s.type === 'audio');
      need(!!video && video.codec === 'h264' && Number(video.width) > 0 && Number(video.height) > 0 && typeof video.pix_fmt === 'string' && typeof video.fps === 'number', 'a video stream: codec h264, width, height, pix_fmt, fps');
      need(!!audio && audio.codec === 'aac' && Number(audio.sampling_hz) > 0 && typeof audio.layout === 'string' && Number(audio.channels) > 0, 'an audio stream: codec, sampling_hz, layout, channels');
      need(streams.every((s) => typeof s.url === 'string' && typeof s.index === 'number' && typeof s.stream === 'number'), 'url, index, stream of each stream');
    }
  } else if (/^\/api\/v3\/(process\/[^/]+\/)?metadata\/restreamer-ui$/.test(path) && c.method === 'GET') {
    need(isObj(body), 'the stored metadata object');
  } else if (path === '/api/v3/metrics') {
    const metrics = isObj(body) && Array.isArray(body.metrics) ? (body.metrics as J[]) : [];
    const asked = isObj(c.requestBody) && Array.isArray(c.requestBody.metrics) ? (c.requestBody.metrics as J[]).map((m) => String(m.name)) : [];
    for (const name of asked) {
      const m = metrics.find((x) => x.name === name);
      // the UI reads values[0][1] of each (the first value: with timerange 0 the current one)
      need(!!m && isObj(m.labels) && Array.isArray(m.values) && Array.isArray(m.values[0]) && typeof (m.values[0] as unknown[])[1] === 'number', `metric ${name}: {labels, values[0][1]}`);
    }
    const idle = metrics.find((x) => x.name === 'cpu_idle');
    if (idle) need(((idle.values as number[][])[0]?.[1] ?? -1) >= 0 && ((idle.values as number[][])[0]?.[1] ?? 101) <= 100, 'cpu_idle in 0..100');
  } else if (path === '/api/v3/session/active') {
    const wanted = (query.get('collectors') ?? '').split(',').filter(Boolean);
    need(isObj(body) && wanted.every((k) => Array.isArray(body[k])), `one list per collector asked (${wanted.join(',')})`);
    for (const k of wanted)
      for (const s of isObj(body) && Array.isArray(body[k]) ? (body[k] as J[]) : []) need(typeof s.reference === 'string' && typeof s.bandwidth_tx_kbit === 'number', `${k}: reference, bandwidth_tx_kbit`);
    // CurrentSessions(): a viewer of the channel is a session whose reference starts with its id and that moved bytes
    const viewers = (v: unknown) => (isObj(v) && Array.isArray(v.hls) ? (v.hls as J[]).filter((s) => String(s.reference).startsWith(channel) && s.bandwidth_tx_kbit !== 0).length : 0);
    // (the UI's player read the playlist from a worker the recording does not see: count from the replay's own first read)
    if (ctx.hlsRead && viewers(c.responseBody) > 0) need(viewers(body) > 0, 'the HLS reader of the channel is counted (reference starts with the channel id)');
  } else if (path.startsWith('/memfs/')) {
    // the UI's player (video.js) and thumbnail: plain files
  } else if (c.method === 'PUT' && path.startsWith('/api/v3/fs/')) {
    // created or replaced: the UI only looks at the error
  }
  return p;
}

/** Whether a replayed answer has reached what the recording saw (the UI polls: drake may need a moment). */
function caughtUp(c: FixtureCall, status: number, body: unknown): boolean {
  // the channel's thumbnail: the UI polls it and shows a placeholder until the snapshot process made it
  if (/^\/memfs\/[^?]*\.jpg(\?|$)/.test(c.path)) return status === 200 || status === 404;
  if (status !== c.status) return false;
  const rec = c.responseBody;
  const ingest = (v: unknown): J | null => {
    if (Array.isArray(v)) return ((v as J[]).find((p) => p.id === ingestId)?.state as J | undefined) ?? null;
    return isObj(v) && 'exec' in v ? v : null;
  };
  const want = ingest(rec);
  if (!want) return true;
  const got = ingest(body);
  if (!got || got.exec !== want.exec || got.order !== want.order) return false;
  const fps = (s: J) => (isObj(s.progress) ? Number(s.progress.fps) : 0);
  // the UI says "connected" only after 10 s of running with frames
  if (fps(want) > 0 && (fps(got) <= 0 || Number(got.runtime_seconds) < Math.min(10, Number(want.runtime_seconds)))) return false;
  const kbit = (s: J) => (isObj(s.progress) ? Number(s.progress.bitrate_kbit) : 0);
  if (kbit(want) > 0 && kbit(got) <= 0) return false;
  return true;
}

describe('Restreamer UI: the recorded API calls, replayed against a real drake', { skip: !haveFfmpeg() && `no FFmpeg at ${FFMPEG}` }, () => {
  let drake: TestDrake;
  let rtmpPort: number;
  let publisher: ChildProcess | null = null;
  before(async () => {
    rtmpPort = await freePort();
    drake = await startDrake({
      api: { auth: { enable: true, username: UI_USER, password: UI_PASSWORD, login_failure_delay_ms: 0 } },
      rtmp: { enable: true, address: `127.0.0.1:${rtmpPort}`, token: UI_RTMP_TOKEN },
    });
  });
  after(async () => {
    publisher?.kill('SIGKILL');
    await drake?.stop(true);
  });

  test(`${fixture.calls.length} calls (UI ${fixture.ui.version} ${fixture.ui.commit.slice(0, 8)}): each gets the status the UI got and the fields it reads`, { timeout: 240_000 }, async () => {
    assert.ok(fixture.calls.length > 50 && channel, 'a fixture with a channel');
    const login = await drake.api<{ access_token: string; refresh_token: string }>('POST', '/api/login', { username: UI_USER, password: UI_PASSWORD });
    const tokens = login.body;
    const publishAt = fixture.steps.findIndex((s) => s.name === STEP_PUBLISH);
    const stepIndex = (name: string) => fixture.steps.findIndex((s) => s.name === name);
    const problems: string[] = [];
    const seen = new Set<string>();
    let waitBudgetMs = 60_000;
    let hlsRead = false;
    for (const c of fixture.calls) {
      if (!publisher && publishAt >= 0 && stepIndex(c.step) >= publishAt) {
        publisher = startPublisher(`rtmp://127.0.0.1:${rtmpPort}/${channel}.stream?token=${UI_RTMP_TOKEN}`);
        const published = await waitUntil(async () => {
          const r = await drake.api<Array<{ name: string }>>('GET', '/api/v3/rtmp', undefined, { authorization: `Bearer ${tokens.access_token}` });
          return r.body.some((s) => s.name === `/${channel}.stream`);
        }, 15_000);
        assert.ok(published, 'the test source is published');
      }
      let path = c.path;
      if (/^\/memfs\/.*\.ts$/.test(path)) {
        // segment names depend on timing: ask for one the playlist lists now
        const pl = await fetch(`${drake.url}/memfs/${channel}_output_0.m3u8`).then((r) => (r.ok ? r.text() : ''));
        const seg = pl.split('\n').filter((l) => l.endsWith('.ts')).pop();
        if (seg) path = `/memfs/${seg}`;
      }
      const headers: Record<string, string> = {};
      if (c.requestContentType) headers['content-type'] = c.requestContentType;
      if (c.auth) headers.authorization = `Bearer ${c.path === '/api/login/refresh' ? tokens.refresh_token : tokens.access_token}`;
      let body: string | undefined;
      if (c.path === '/api/login') body = JSON.stringify({ username: UI_USER, password: UI_PASSWORD });
      else if (c.requestBody !== null) body = (typeof c.requestBody === 'string' ? c.requestBody : JSON.stringify(c.requestBody)).split('{drake}').join(drake.url);
      const read = c.method === 'GET' || c.method === 'HEAD' || (c.method === 'POST' && c.path === '/api/v3/metrics');
      const send = async () => {
        const res = await fetch(`${drake.url}${path}`, { method: c.method, headers, ...(body !== undefined ? { body } : {}) });
        const text = c.method === 'HEAD' ? '' : await res.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // plain text or media
        }
        return { status: res.status, body: parsed, type: res.headers.get('content-type') ?? '' };
      };
      let res = await send();
      // reads are polls in the UI: give drake the time the UI gave it (FFmpeg starting, the playlist appearing)
      // (60 s of waiting in all: a drake that never catches up fails in time, with every call listed)
      const waitStart = Date.now();
      const deadline = waitStart + Math.min(20_000, waitBudgetMs);
      while (read && !caughtUp(c, res.status, res.body) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        res = await send();
      }
      waitBudgetMs -= Date.now() - waitStart;
      const label = `#${c.seq} ${c.method} ${decodeURIComponent(c.path)} [${c.step}]`;
      if (res.status !== c.status && !caughtUp(c, res.status, res.body)) problems.push(`${label}: status ${res.status}, the UI got ${c.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
      else if (!caughtUp(c, res.status, res.body)) problems.push(`${label}: the channel never reached the state the UI saw`);
      if (c.responseContentType.includes('json') && !res.type.includes('application/json')) problems.push(`${label}: content-type ${res.type}, the UI expects JSON`);
      if (/^\/memfs\/.*\.m3u8$/.test(path) && res.status === 200) hlsRead = true;
      for (const p of uiReads(c, res.body, { hlsRead })) problems.push(`${label}: ${p}`);
      seen.add(`${c.method} ${c.path.split('?')[0]!.replace(/%3A/gi, ':').replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<ch>')}`);
    }
    assert.deepEqual(problems, [], `drake answered ${problems.length} calls differently from what the UI needs`);
    // the flow's essentials are in the recording (a fixture that lost them would test nothing)
    for (const must of ['POST /api/login', 'GET /api/v3/skills', 'GET /api/v3/config', 'POST /api/v3/process', 'GET /api/v3/process/restreamer-ui:ingest:<ch>_probe/probe', 'GET /api/v3/process/restreamer-ui:ingest:<ch>/state', 'PUT /api/v3/process/restreamer-ui:ingest:<ch>/command', 'DELETE /api/v3/process/restreamer-ui:ingest:<ch>'])
      assert.ok(seen.has(must), `the recording has ${must}`);
    const left = await drake.api<Array<{ id: string }>>('GET', '/api/v3/process', undefined, { authorization: `Bearer ${tokens.access_token}` });
    assert.deepEqual(left.body.filter((p) => p.id.includes(channel)), [], 'the channel was deleted');
  });
});

async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
