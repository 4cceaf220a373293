// The fuzz campaign shared by test/fuzz/fuzz.test.ts (fixed seeds, a few rounds) and
// `npm run bench -- --scenario fuzz` (more and bigger rounds): one drake with API auth on and a live
// WebRTC process, one werift viewer watching from before the first round, then rounds of hostile input
// (arbitraries.ts) against the HTTP API and WHEP, the shared WebRTC port and the RTP ingest sockets.
// After every round drake must answer /ping, the first viewer must still be connected and receiving,
// and a new viewer must join and get a keyframe. Findings are collected with the input that caused them.
import dgram from 'node:dgram';
import net from 'node:net';
import fc from 'fast-check';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { startDrake, testProcess, waitFor, type TestDrake } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { gatheredOffer, videoCount, viewerPeer, whepView, type WhepViewer } from '../helpers/whepClient.ts';
import { headerList, ingestDatagram, jsonBody, sdpFrag, sdpOffer, webrtcDatagram, type HeaderList, type StunCredentials } from './arbitraries.ts';

export const FUZZ_TARGETS = ['sdp-offer', 'sdpfrag-patch', 'json-body', 'headers', 'udp-shared', 'udp-ingest'] as const;
export type FuzzTarget = (typeof FUZZ_TARGETS)[number];

/** Cases per round and target (json-body: per route). */
export type RoundSizes = Record<FuzzTarget, number>;
export const TEST_SIZES: RoundSizes = { 'sdp-offer': 10, 'sdpfrag-patch': 10, 'json-body': 5, headers: 12, 'udp-shared': 250, 'udp-ingest': 250 };
export const BENCH_SIZES: RoundSizes = { 'sdp-offer': 40, 'sdpfrag-patch': 40, 'json-body': 25, headers: 50, 'udp-shared': 2000, 'udp-ingest': 2000 };

export interface Finding {
  round: number;
  target: FuzzTarget | 'health';
  what: string;
  /** The input, shortened (datagrams in hex). */
  input: string;
}

export interface FuzzStats {
  rounds: number;
  cases: Record<FuzzTarget, number>;
  /** Wall time spent per target (the datagram targets share theirs). */
  ms: Record<FuzzTarget | 'health', number>;
  findings: Finding[];
}

export const PROCESS = 'cam';
const PASSWORD = 'fuzz-password';
/** Statuses drake documents as "try again later" (capacity, worker restart, gathering timeout). */
const RETRY_STATUSES = new Set([503, 504]);

export interface FuzzRig {
  drake: TestDrake;
  token: string;
  /** Watching since before the first round: must never be dropped. */
  viewer: WhepViewer;
  /** A real werift offer: the seed of the SDP mutations and the PATCH victims. */
  offer: string;
  sharedPort: number;
  ingest: { video: number; audio: number };
  close(): Promise<void>;
}

const auth = (rig: FuzzRig): Record<string, string> => ({ authorization: `Bearer ${rig.token}` });

export async function startRig(): Promise<FuzzRig> {
  const drake = await startDrake({
    api: { auth: { enable: true, username: 'admin', password: PASSWORD, jwt: { secret: 'fuzz-jwt-secret' }, login_failure_delay_ms: 0 } },
    webrtc: { send_path: 'lean', shared_port: true },
  });
  try {
    const login = await drake.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: PASSWORD });
    if (login.status !== 200) throw new Error(`login: ${login.status}`);
    const token = login.body.access_token;
    const headers = { authorization: `Bearer ${token}` };
    const created = await drake.api('POST', '/api/v3/process', webrtcProcess(PROCESS), headers);
    if (created.status !== 200) throw new Error(`create ${PROCESS}: ${created.status} ${JSON.stringify(created.body)}`);
    await waitFor('media', async () => (await drake.supervisor.whepStats(PROCESS)).gopPackets > 0, 30_000);
    const viewer = await whepView(`${drake.url}/whep/${PROCESS}`, { keepVideo: 0 });
    if (viewer.status !== 201) throw new Error(`first viewer: ${viewer.status}`);
    await waitFor('the first viewer receives', async () => videoCount(viewer) > 20, 15_000);
    const pc = viewerPeer();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const offer = await gatheredOffer(pc);
    await pc.close();
    const sharedPort = (await drake.supervisor.whepStats(PROCESS)).sharedPort;
    if (typeof sharedPort !== 'number') throw new Error('no shared WebRTC port');
    const state = await drake.api<{ command: string[] }>('GET', `/api/v3/process/${PROCESS}/state`, undefined, headers);
    const ports = [...state.body.command.join(' ').matchAll(/udp:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    if (ports.length < 2) throw new Error(`no RTP ingest ports in the command: ${state.body.command.join(' ')}`);
    return {
      drake,
      token,
      viewer,
      offer,
      sharedPort,
      ingest: { video: ports[0]!, audio: ports[1]! },
      async close() {
        await viewer.close();
        await drake.stop(true);
      },
    };
  } catch (err) {
    await drake.stop(true);
    throw err;
  }
}

export function emptyStats(): FuzzStats {
  const zero = () => Object.fromEntries(FUZZ_TARGETS.map((t) => [t, 0]));
  return { rounds: 0, cases: zero() as FuzzStats['cases'], ms: { ...zero(), health: 0 } as FuzzStats['ms'], findings: [] };
}

// ------------------------------------------------------------------------------------------ HTTP checks

const show = (s: string | Buffer, max = 300): string => {
  const t = typeof s === 'string' ? s : s.toString('hex');
  return t.length > max ? `${t.slice(0, max)}… (${t.length} chars)` : t;
};

/** What is wrong with an answer, or null: no 5xx but the documented ones, and errors as Core's JSON. */
function badAnswer(status: number, contentType: string | null, body: string): string | null {
  if (status >= 500 && !RETRY_STATUSES.has(status)) return `answered ${status}: ${show(body, 200)}`;
  if (status >= 400 && status !== 431) {
    if (!(contentType ?? '').includes('application/json')) return `error ${status} is not JSON (${contentType})`;
    try {
      const e = JSON.parse(body) as { code?: unknown; message?: unknown };
      if (typeof e.code !== 'number' || typeof e.message !== 'string') return `error ${status} without code/message: ${show(body, 200)}`;
    } catch {
      return `error ${status} with a body that is not JSON: ${show(body, 200)}`;
    }
  }
  return null;
}

async function request(url: string, init: RequestInit): Promise<{ status: number; type: string | null; body: string; headers: Headers }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text(), headers: res.headers };
}

// ------------------------------------------------------------------------------------------ the round

interface Victim {
  location: string;
  etag: string;
  creds: StunCredentials;
  frag: { ufrag: string; pwd: string; candidates: string[] };
}

/** A WHEP session from the real offer whose peer never answers: PATCH and STUN with its right credentials go here. */
async function victim(rig: FuzzRig): Promise<Victim> {
  // 409/503 pass (a restarting stream): wait a little, a later round's health check says why.
  const r = await waitFor(
    'a WHEP session for the PATCH and STUN cases',
    async () => {
      const x = await request(`${rig.drake.url}/whep/${PROCESS}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: rig.offer });
      if (x.status !== 201) throw new Error(`${x.status} ${x.body}`);
      return x;
    },
    20_000,
    500,
  );
  const remoteUfrag = /a=ice-ufrag:(\S+)/.exec(r.body)![1]!;
  const remotePwd = /a=ice-pwd:(\S+)/.exec(r.body)![1]!;
  const ufrag = /a=ice-ufrag:(\S+)/.exec(rig.offer)![1]!;
  const pwd = /a=ice-pwd:(\S+)/.exec(rig.offer)![1]!;
  const candidates = [...rig.offer.matchAll(/^a=candidate:.*$/gm)].map((m) => m[0]);
  return {
    location: r.headers.get('location')!,
    etag: r.headers.get('etag')!,
    creds: { username: `${remoteUfrag}:${ufrag}`, password: remotePwd },
    frag: { ufrag, pwd, candidates },
  };
}

/** The first viewer's credentials as seen on the wire, with a password that is NOT its own (integrity fails). */
function viewerCreds(rig: FuzzRig): StunCredentials {
  const drakeUfrag = /a=ice-ufrag:(\S+)/.exec(rig.viewer.answer)![1]!;
  const viewerUfrag = /a=ice-ufrag:(\S+)/.exec(rig.viewer.pc.localDescription!.sdp)![1]!;
  return { username: `${drakeUfrag}:${viewerUfrag}`, password: 'an-attacker-guess-0123456789' };
}

export interface RoundOptions {
  round: number;
  seed: number;
  sizes: RoundSizes;
  stats: FuzzStats;
  log?: (s: string) => void;
}

/** One round over every target; findings go to stats.findings. */
export async function fuzzRound(rig: FuzzRig, o: RoundOptions): Promise<void> {
  const seedOf = (t: FuzzTarget) => o.seed * 16 + FUZZ_TARGETS.indexOf(t);
  const find = (target: Finding['target'], what: string, input: string | Buffer) => o.stats.findings.push({ round: o.round, target, what, input: show(input) });
  let v: Victim;
  try {
    v = await victim(rig);
  } catch (err) {
    find('health', `cannot start the round: ${(err as Error).message}`, '');
    o.stats.rounds++;
    return;
  }
  try {
    const timed = async (t: FuzzTarget, run: () => Promise<void>) => {
      const t0 = performance.now();
      await run();
      o.stats.ms[t] += performance.now() - t0;
    };
    await timed('sdp-offer', () => fuzzOffers(rig, fc.sample(sdpOffer(rig.offer), { seed: seedOf('sdp-offer'), numRuns: o.sizes['sdp-offer'] }), o.stats, find));
    await timed('sdpfrag-patch', () =>
      fuzzPatches(rig, v, fc.sample(sdpFrag(v.frag.ufrag, v.frag.pwd, v.frag.candidates), { seed: seedOf('sdpfrag-patch'), numRuns: o.sizes['sdpfrag-patch'] }), o.stats, find),
    );
    await timed('json-body', () => fuzzJson(rig, seedOf('json-body'), o.sizes['json-body'], o.stats, find));
    await timed('headers', () => fuzzHeaders(rig, v, seedOf('headers'), o.sizes.headers, o.stats, find));
    const v2 = await victim(rig);
    try {
      await timed('udp-shared', () => fuzzDatagrams(rig, v2, seedOf('udp-shared'), seedOf('udp-ingest'), o.sizes, o.stats));
    } finally {
      await request(`${rig.drake.url}${v2.location}`, { method: 'DELETE' }).catch(() => undefined);
    }
  } finally {
    await request(`${rig.drake.url}${v.location}`, { method: 'DELETE' }).catch(() => undefined);
    await cleanupProcesses(rig);
  }
  o.stats.rounds++;
}

type Find = (target: Finding['target'], what: string, input: string | Buffer) => void;

async function fuzzOffers(rig: FuzzRig, offers: string[], stats: FuzzStats, find: Find): Promise<void> {
  for (const sdp of offers) {
    stats.cases['sdp-offer']++;
    const r = await request(`${rig.drake.url}/whep/${PROCESS}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: sdp }).catch((err: Error) => ({ error: err.message }));
    if ('error' in r) {
      find('sdp-offer', `no answer: ${r.error}`, sdp);
      continue;
    }
    const bad = r.status === 201 ? null : badAnswer(r.status, r.type, r.body);
    if (bad) find('sdp-offer', bad, sdp);
    const location = r.headers.get('location');
    if (r.status === 201 && location) await request(`${rig.drake.url}${location}`, { method: 'DELETE' }).catch(() => undefined);
  }
}

async function fuzzPatches(rig: FuzzRig, v: Victim, frags: string[], stats: FuzzStats, find: Find): Promise<void> {
  const ifMatch = ['', v.etag, '*', '"nope"', v.etag.slice(0, -1)];
  let i = 0;
  for (const frag of frags) {
    stats.cases['sdpfrag-patch']++;
    const im = ifMatch[i++ % ifMatch.length]!;
    const headers: Record<string, string> = { 'content-type': 'application/trickle-ice-sdpfrag', ...(im ? { 'if-match': im } : {}) };
    const r = await request(`${rig.drake.url}${v.location}`, { method: 'PATCH', headers, body: frag }).catch((err: Error) => ({ error: err.message }));
    if ('error' in r) find('sdpfrag-patch', `no answer: ${r.error}`, frag);
    else if (r.status !== 200 && r.status !== 204) {
      const bad = badAnswer(r.status, r.type, r.body);
      if (bad) find('sdpfrag-patch', bad, frag);
    }
  }
}

/** Every route that validates a JSON body (zod), with a valid body to mutate. */
function jsonRoutes(): Array<{ method: string; path: string; valid: unknown }> {
  return [
    { method: 'POST', path: '/api/v3/process', valid: testProcess('fzp', { autostart: false }) },
    { method: 'PUT', path: '/api/v3/process/fz', valid: testProcess('fz', { autostart: false }) },
    { method: 'PUT', path: '/api/v3/process/fzcmd/command', valid: { command: 'restart' } },
    { method: 'PUT', path: '/api/v3/process/fz/metadata/note', valid: { any: ['json', 1, true, null] } },
    { method: 'PUT', path: '/api/v3/metadata/fuzz', valid: { who: 'fuzz', n: 1 } },
    { method: 'PUT', path: '/api/v3/config', valid: { name: 'fuzzed', webrtc: { gop_cache: true }, log: { level: 'warn' } } },
    { method: 'POST', path: '/api/login', valid: { username: 'admin', password: PASSWORD } },
    { method: 'POST', path: '/api/v3/metrics', valid: { timerange_sec: 0, interval_sec: 0, metrics: [{ name: 'drake_process_state', labels: { id: PROCESS } }] } },
  ];
}

/** A process body that parses as an object never autostarts: a mutated FFmpeg command must not run. */
function neverStart(path: string, body: string): string {
  if (!path.startsWith('/api/v3/process') || path.includes('/command') || path.includes('/metadata')) return body;
  try {
    const v = JSON.parse(body) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return JSON.stringify({ ...v, autostart: false });
  } catch {
    // not JSON: sent as it is
  }
  return body;
}

async function ensureProcesses(rig: FuzzRig): Promise<void> {
  for (const id of ['fz', 'fzcmd']) {
    if (rig.drake.supervisor.has(id)) continue;
    await rig.drake.api('POST', '/api/v3/process', testProcess(id, { autostart: false }), auth(rig));
  }
}

/** Deletes what the round created (mutated process ids included); keeps the live process. */
async function cleanupProcesses(rig: FuzzRig): Promise<void> {
  const list = await rig.drake.api<Array<{ id: string }>>('GET', '/api/v3/process?filter=config', undefined, auth(rig));
  for (const p of Array.isArray(list.body) ? list.body : []) {
    if (p.id !== PROCESS) await rig.drake.api('DELETE', `/api/v3/process/${encodeURIComponent(p.id)}`, undefined, auth(rig));
  }
}

async function fuzzJson(rig: FuzzRig, seed: number, perRoute: number, stats: FuzzStats, find: Find): Promise<void> {
  await ensureProcesses(rig);
  let n = 0;
  for (const route of jsonRoutes()) {
    for (const raw of fc.sample(jsonBody(route.valid), { seed: seed + n++, numRuns: perRoute })) {
      stats.cases['json-body']++;
      const body = neverStart(route.path, raw);
      const r = await request(`${rig.drake.url}${route.path}`, { method: route.method, headers: { 'content-type': 'application/json', ...auth(rig) }, body }).catch((err: Error) => ({ error: err.message }));
      if ('error' in r) find('json-body', `${route.method} ${route.path}: no answer: ${r.error}`, body);
      else {
        const bad = badAnswer(r.status, r.type, r.body);
        if (bad) find('json-body', `${route.method} ${route.path}: ${bad}`, body);
      }
      // A successful rename or delete takes the targets away: bring them back for the next case.
      if (route.path.includes('/fz')) await ensureProcesses(rig);
    }
  }
}

/** One raw HTTP/1.1 request (fetch cannot repeat a header or send bytes that are not ASCII); null when the server closed without answering. */
function rawRequest(port: number, method: string, path: string, headers: HeaderList, body: string, timeoutMs = 5000): Promise<{ status: number; head: string; body: string } | null | 'timeout'> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const payload = Buffer.from(body);
    const head = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers.map(([k, v]) => `${k}: ${v}`), `Content-Length: ${payload.length}`, 'Connection: close', '', ''].join('\r\n');
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('timeout');
    }, timeoutMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m) return resolve(null);
      const split = text.indexOf('\r\n\r\n');
      resolve({ status: Number(m[1]), head: text.slice(0, split), body: text.slice(split + 4) });
    });
    sock.end(Buffer.concat([Buffer.from(head, 'utf8'), payload]));
  });
}

async function fuzzHeaders(rig: FuzzRig, v: Victim, seed: number, count: number, stats: FuzzStats, find: Find): Promise<void> {
  const token = `Bearer ${rig.token}`;
  const targets = [
    { method: 'POST', path: `/whep/${PROCESS}`, type: 'application/sdp', body: rig.offer },
    { method: 'PATCH', path: v.location, type: 'application/trickle-ice-sdpfrag', body: `a=ice-ufrag:${v.frag.ufrag}\r\na=ice-pwd:${v.frag.pwd}\r\n` },
    { method: 'POST', path: '/api/v3/process', type: 'application/json', body: JSON.stringify(testProcess('fzh', { autostart: false })) },
    { method: 'GET', path: '/api/v3/process', type: 'application/json', body: '' },
    { method: 'POST', path: '/api/login', type: 'application/json', body: JSON.stringify({ username: 'admin', password: 'wrong' }) },
    { method: 'GET', path: '/api/login/refresh', type: 'application/json', body: '' },
    { method: 'DELETE', path: `/api/v3/whep/${PROCESS}/${'0'.repeat(32)}`, type: 'application/json', body: '' },
  ];
  let n = 0;
  for (const t of targets) {
    const arb = headerList({ contentType: t.type, authorization: token, ifMatch: v.etag });
    for (const headers of fc.sample(arb, { seed: seed + n++, numRuns: Math.max(1, Math.ceil(count / targets.length)) })) {
      stats.cases.headers++;
      // A request whose framing the fuzz broke (its own Content-Length, Transfer-Encoding, Expect) may wait for bytes that never come.
      const framing = headers.some(([k]) => /^(content-length|transfer-encoding|expect)$/i.test(k));
      const r = await rawRequest(rig.drake.gateway.port, t.method, t.path, headers, t.body, framing ? 1000 : 5000);
      const input = `${t.method} ${t.path} ${JSON.stringify(headers)}`;
      if (r === 'timeout' && !framing) find('headers', 'no answer within 5 s', input);
      if (r === null || r === 'timeout') continue;
      const type = /^content-type:\s*(.*)$/im.exec(r.head)?.[1] ?? null;
      const bad = r.status === 201 || r.status === 200 || r.status === 204 ? null : badAnswer(r.status, type, r.body);
      if (bad) find('headers', bad, input);
      if (r.status === 201) {
        const location = /^location:\s*(\S+)/im.exec(r.head)?.[1];
        if (location) await request(`${rig.drake.url}${location}`, { method: 'DELETE' }).catch(() => undefined);
      }
    }
  }
}

async function fuzzDatagrams(rig: FuzzRig, v: Victim, sharedSeed: number, ingestSeed: number, sizes: RoundSizes, stats: FuzzStats): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.on('error', () => undefined);
  const send = (d: Buffer, port: number) => new Promise<void>((r) => sock.send(d, port, '127.0.0.1', () => r()));
  try {
    // Half aimed at the victim (right credentials: it may even nominate us), half at the first viewer (wrong password).
    const half = Math.ceil(sizes['udp-shared'] / 2);
    const shared = [
      ...fc.sample(webrtcDatagram(v.creds), { seed: sharedSeed, numRuns: half }),
      ...fc.sample(webrtcDatagram(viewerCreds(rig)), { seed: sharedSeed + 1, numRuns: half }),
    ];
    const ingest = fc.sample(ingestDatagram, { seed: ingestSeed, numRuns: sizes['udp-ingest'] });
    const n = Math.max(shared.length, ingest.length);
    for (let i = 0; i < n; i++) {
      if (i < shared.length) {
        await send(shared[i]!, rig.sharedPort);
        stats.cases['udp-shared']++;
      }
      if (i < ingest.length) {
        await send(ingest[i]!, i % 2 ? rig.ingest.audio : rig.ingest.video);
        stats.cases['udp-ingest']++;
      }
      // A trickle, not a flood: the point is what drake makes of each datagram, not its socket buffer.
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    sock.close();
  }
}

// ------------------------------------------------------------------------------------------ health

/** After a round: /ping, the first viewer still connected and receiving, a new viewer gets a keyframe. Returns the problems. */
export async function checkHealth(rig: FuzzRig): Promise<string[]> {
  const problems: string[] = [];
  const ping = await request(`${rig.drake.url}/ping`, {}).catch((err: Error) => ({ status: 0, body: err.message }));
  if (ping.status !== 200) problems.push(`/ping: ${ping.status} ${ping.body}`);
  const mark = videoCount(rig.viewer);
  try {
    await waitFor('the first viewer still receives', async () => videoCount(rig.viewer) > mark + 10, 8000);
  } catch {
    problems.push(`the first viewer stopped receiving (state ${rig.viewer.pc.connectionState}, ${videoCount(rig.viewer) - mark} packets in 8 s)`);
  }
  if (rig.viewer.pc.connectionState !== 'connected') problems.push(`the first viewer is ${rig.viewer.pc.connectionState}`);
  const id = rig.viewer.location?.split('/').pop();
  const sessions = (await rig.drake.supervisor.snapshot()).flatMap((p) => p.sessions);
  if (!sessions.some((s) => s.id === id && s.connected)) problems.push(`drake no longer has the first viewer's session ${id} connected`);
  const fresh = await whepView(`${rig.drake.url}/whep/${PROCESS}`, { keepVideo: 400 });
  try {
    if (fresh.status !== 201) problems.push(`a new viewer got ${fresh.status}: ${fresh.answer.slice(0, 200)}`);
    else {
      const key = (p: Buffer) => h264NalTypesStarting(p).some((t) => t === NAL.IDR || t === NAL.SPS);
      await waitFor('a keyframe for the new viewer', async () => fresh.video.some(key), 10_000).catch(() => problems.push(`a new viewer got no keyframe (${fresh.video.length} video packets)`));
    }
  } finally {
    await fresh.close();
    if (fresh.location) await request(`${rig.drake.url}${fresh.location}`, { method: 'DELETE' }).catch(() => undefined);
  }
  return problems;
}

/** Rounds until `rounds` are done or `deadline` (ms epoch) passes; a health problem is a finding of that round. */
export async function runCampaign(rig: FuzzRig, opts: { seed: number; rounds: number; deadline?: number; sizes: RoundSizes; log?: (s: string) => void }): Promise<FuzzStats> {
  const stats = emptyStats();
  for (let round = 0; round < opts.rounds && (opts.deadline === undefined || Date.now() < opts.deadline); round++) {
    const before = stats.findings.length;
    await fuzzRound(rig, { round, seed: opts.seed + round, sizes: opts.sizes, stats });
    const t0 = performance.now();
    for (const p of await checkHealth(rig)) stats.findings.push({ round, target: 'health', what: p, input: '' });
    stats.ms.health += performance.now() - t0;
    opts.log?.(`round ${round} (seed ${opts.seed + round}): ${stats.findings.length - before} finding(s)`);
  }
  return stats;
}
