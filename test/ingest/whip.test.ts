// WHIP ingest end to end with real peers: a werift publisher (FFmpeg-encoded H264 + Opus) publishes to
// drake, werift WHEP viewers watch /whep/whip:<name> with no FFmpeg in between, drake asks the publisher
// for keyframes (PLI), and the bad cases (token, duplicate name, garbage SDP, VP8) answer cleanly.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { latencyPercentile } from '../../src/shared/latencyHistogram.ts';
import type { WhipPublisherDto } from '../../src/shared/protocol.ts';
import { haveFfmpeg } from '../helpers/fsServer.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';
import { whipPublish, type WhipPublisher } from '../helpers/whipPublisher.ts';

const TOKEN = 'pub-s3cret';
const CAM2_TOKEN = 'only-cam2';

describe('WHIP ingest (werift publisher, werift WHEP viewers)', { skip: haveFfmpeg() ? false : 'no FFmpeg' }, () => {
  let drake: TestDrake;
  const publishers: WhipPublisher[] = [];
  const viewers: WhepViewer[] = [];
  const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
  const publish = async (name: string, opts: Parameters<typeof whipPublish>[1] = { headers: auth() }) => {
    const p = await whipPublish(`${drake.url}/whip/${name}`, opts);
    publishers.push(p);
    return p;
  };
  const list = async () => (await drake.api<WhipPublisherDto[]>('GET', '/api/v3/whip')).body;

  before(async () => {
    drake = await startDrake({ whip: { enable: true, token: TOKEN, tokens: { cam2: CAM2_TOKEN }, media_timeout_seconds: 3 }, webrtc: { viewer_timeout_seconds: 5 } });
  });
  after(async () => {
    await Promise.all([...viewers.map((v) => v.close()), ...publishers.map((p) => p.vanish())]);
    await drake.stop(true);
  });

  test('publish: 201 with an SDP answer, Location, ETag; the stream is listed with its codecs and counters', async () => {
    const pub = await publish('cam');
    assert.equal(pub.status, 201, pub.answer);
    assert.equal(pub.headers.get('content-type'), 'application/sdp');
    assert.match(pub.location ?? '', /^\/whip\/cam\/[0-9a-f]{32}$/);
    assert.match(pub.etag ?? '', /^"[0-9a-f]{16}"$/);
    assert.match(pub.answer, /a=rtpmap:\d+ H264\/90000/);
    assert.match(pub.answer, /a=recvonly/);
    await waitFor('publisher connected and media counted', async () => {
      const [cam] = await list();
      return !!cam && cam.connected && cam.video.packets > 50 && cam.audio.packets > 20;
    }, 20_000);
    const [cam] = await list();
    assert.equal(cam!.name, 'cam');
    assert.match(cam!.codecs.video ?? '', /^H264/);
    assert.equal(cam!.codecs.audio, 'opus');
    assert.ok(cam!.video.bytes > cam!.video.packets * 12);
    assert.ok(cam!.since <= Date.now() / 1000 && cam!.since > Date.now() / 1000 - 60);
  });

  test('a WHEP viewer of whip:cam gets the publisher\'s video (starting with a keyframe) and audio, and drake sent the publisher a PLI', async () => {
    const plisBefore = publishers[0]!.plis;
    const v = await whepView(`${drake.url}/whep/whip:cam`);
    viewers.push(v);
    assert.equal(v.status, 201, v.answer);
    assert.match(v.location ?? '', /^\/whep\/whip:cam\/[0-9a-f]{32}$/);
    await waitFor('video and audio at the viewer', async () => videoCount(v) > 50 && v.audio > 20, 20_000);
    // The first packet a viewer gets is a keyframe's start: SPS (alone or in a STAP-A) or an IDR.
    const first = h264NalTypesStarting(v.video[0]!);
    assert.ok(first.includes(NAL.SPS) || first.includes(NAL.IDR), `first video packet starts NAL types ${first.join(',')}`);
    await waitFor('the publisher got a PLI for the joining viewer', async () => publishers[0]!.plis > plisBefore, 10_000);
    const [cam] = await list();
    assert.ok(cam!.plis_sent >= 1);
    // A viewer whose picture broke (it asked for video drake no longer has) and sends PLI: drake asks
    // the publisher again (past the 500 ms rate limit). A PLI from a viewer that lost nothing does not.
    await new Promise((r) => setTimeout(r, 700));
    const quiet = publishers[0]!.plis;
    await v.sendPli();
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(publishers[0]!.plis, quiet, 'a spurious PLI is not passed on');
    const last = v.video[v.video.length - 1]!.readUInt16BE(2);
    await v.sendNack([(last + 30_000) & 0xffff]);
    await new Promise((r) => setTimeout(r, 100));
    await v.sendPli();
    await waitFor('the viewer\'s PLI reached the publisher', async () => publishers[0]!.plis > quiet, 5000);
    const page = await fetch(`${drake.url}/player/whip:cam`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /data-whep-url="\/whep\/whip:cam"/);
    assert.equal((await fetch(`${drake.url}/player/whip:nobody`)).status, 404);
    assert.equal(cam!.viewers, 1);
    const stats = await drake.whip!.whepStats('cam');
    const counts = stats.latency?.counts ?? [];
    assert.ok(counts.reduce((a, b) => a + b, 0) > 0, 'live packets were timed from arrival to send');
    // The number the README quotes: publisher RTP in (decrypted) → SRTP out to the viewer, inside drake.
    console.log(`# whip→whep inside drake: p50 ≤ ${latencyPercentile(counts, 50)} µs, p99 ≤ ${latencyPercentile(counts, 99)} µs`);
  });

  test('the publisher is a session of the whip collector, its viewer a whep session of whip:cam', async () => {
    type Session = { id: string; reference: string; extra: string; bytes_rx: number; bytes_tx: number };
    const r = await drake.api<Record<string, Session[]>>('GET', '/api/v3/session/active?collectors=whip,whep');
    const pub = r.body.whip?.find((x) => x.reference === 'cam');
    assert.ok(pub && pub.extra === 'publish' && pub.bytes_rx > 10_000, JSON.stringify(r.body.whip));
    assert.equal(`/whip/cam/${pub.id}`, publishers[0]!.location);
    const viewer = r.body.whep?.find((x) => x.reference === 'whip:cam');
    assert.ok(viewer && viewer.bytes_tx > 10_000, JSON.stringify(r.body.whep));
    assert.equal(`/whep/whip:cam/${viewer.id}`, viewers[0]!.location);
    const summary = (await drake.api<{ whip: { active: { sessions: number }; summary: { sessions: number; traffic_rx_mb: number } } }>('GET', '/api/v3/session?collectors=whip')).body.whip;
    assert.ok(summary.active.sessions === 1 && summary.summary.sessions >= 1 && summary.summary.traffic_rx_mb > 0.01, JSON.stringify(summary));
  });

  test('the viewer\'s session answers PATCH/DELETE like any WHEP session; DELETE by the publisher ends the stream and its viewers', async () => {
    const v = viewers[0]!;
    const frag = 'a=ice-ufrag:' + /a=ice-ufrag:(\S+)/.exec(v.pc.localDescription!.sdp)![1] + '\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n';
    const patched = await fetch(v.sessionUrl!, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': v.etag! }, body: frag });
    assert.equal(patched.status, 204);
    const pub = publishers[0]!;
    const unknown = await fetch(`${drake.url}/whip/cam/${'0'.repeat(32)}`, { method: 'DELETE', headers: auth() });
    assert.equal(unknown.status, 404);
    const closedAt = Date.now();
    assert.equal(await pub.unpublish(auth()), 200);
    assert.deepEqual(await list(), []);
    await waitFor('the viewer\'s session is gone at drake', async () => (await fetch(v.sessionUrl!, { method: 'HEAD' })).status === 404, 5000);
    const countThen = videoCount(v);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(videoCount(v), countThen, 'no video after the publisher left');
    const late = await whepView(`${drake.url}/whep/whip:cam`);
    assert.equal(late.status, 404, 'nothing to watch once the publisher is gone');
    assert.ok(Date.now() - closedAt < 10_000);
  });

  test('the name is free again after DELETE; a second publisher of a live name gets 409', async () => {
    const again = await publish('cam');
    assert.equal(again.status, 201);
    const twin = await publish('cam');
    assert.equal(twin.status, 409, twin.answer);
    assert.equal(JSON.parse(twin.answer).code, 409);
    // Two at once for a free name: exactly one gets it.
    const race = await Promise.all([publish('race'), publish('race')]);
    assert.deepEqual(race.map((p) => p.status).sort(), [201, 409]);
    assert.equal(await race.find((p) => p.status === 201)!.unpublish(auth()), 200);
    await waitFor('first publisher still live', async () => (await list())[0]?.connected === true, 20_000);
  });

  test('tokens: none or a wrong one → 401; a per-name token replaces the global one', async () => {
    assert.equal((await publish('cam3', { headers: {} })).status, 401);
    assert.equal((await publish('cam3', { headers: auth('wrong') })).status, 401);
    assert.equal((await publish('cam2', { headers: auth(TOKEN) })).status, 401, 'cam2 has its own token');
    const cam2 = await publish('cam2', { headers: auth(CAM2_TOKEN), audio: false });
    assert.equal(cam2.status, 201);
    assert.equal((await cam2.unpublish(auth('wrong'))), 401, 'DELETE needs the token too');
    assert.equal((await fetch(cam2.sessionUrl!, { method: 'DELETE', headers: auth(CAM2_TOKEN) })).status, 200);
    // The tokens are secrets in GET /api/v3/config (drake's own layout is under `config`).
    const cfg = JSON.stringify((await drake.api('GET', '/api/v3/config')).body);
    assert.ok(!cfg.includes(TOKEN) && !cfg.includes(CAM2_TOKEN), 'tokens masked');
  });

  test('bad offers: garbage → 400, VP8 only → 406, wrong type → 415, too big → 413, bad name → 404; drake keeps serving', async () => {
    const post = (name: string, body: string, type = 'application/sdp') =>
      fetch(`${drake.url}/whip/${name}`, { method: 'POST', headers: { 'content-type': type, ...auth() }, body });
    const garbage = await post('junk', 'v=0\r\nthis is not sdp\r\n');
    assert.equal(garbage.status, 400);
    assert.match(((await garbage.json()) as { message: string }).message, /SDP/);
    assert.equal((await post('junk', '')).status, 400);
    assert.equal((await post('junk', 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n')).status, 400, 'no ICE/DTLS');
    assert.equal((await post('junk', 'v=0\r\n', 'text/plain')).status, 415);
    assert.equal((await post('junk', 'v=0\r\n' + 'a=x\r\n'.repeat(20_000))).status, 413);
    assert.equal((await post('bad%20name', 'v=0\r\n')).status, 404);
    const vp8 = await publish('vp8cam', { headers: auth(), vp8: true });
    assert.equal(vp8.status, 406, vp8.answer);
    // Still serving: the live publisher is untouched and a new name publishes.
    const names = (await list()).map((p) => p.name);
    assert.deepEqual(names, ['cam']);
    const other = await publish('cam4');
    assert.equal(other.status, 201);
    const preflight = await fetch(`${drake.url}/whip/cam4`, { method: 'OPTIONS' });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.match(preflight.headers.get('access-control-expose-headers') ?? '', /Location/);
  });

  test('a publisher that goes away without DELETE (peer closed, FFmpeg gone) ends the stream; its viewers are closed', async () => {
    const pub = publishers.find((p) => p.status === 201 && p.sessionUrl?.includes('/whip/cam4/'))!;
    await waitFor('cam4 media', async () => ((await list()).find((p) => p.name === 'cam4')?.video.packets ?? 0) > 20, 20_000);
    const v = await whepView(`${drake.url}/whep/whip:cam4`);
    viewers.push(v);
    assert.equal(v.status, 201, v.answer);
    await waitFor('viewer gets video', async () => videoCount(v) > 10, 15_000);
    await pub.vanish();
    await waitFor('cam4 is no longer listed', async () => !(await list()).some((p) => p.name === 'cam4'), 15_000);
    assert.equal((await fetch(v.sessionUrl!, { method: 'HEAD' })).status, 404);
  });

  test('a publisher whose media stops while ICE/DTLS stay up ends after whip.media_timeout_seconds', async () => {
    const pub = await publish('stall');
    assert.equal(pub.status, 201);
    await waitFor('stall media', async () => ((await list()).find((p) => p.name === 'stall')?.video.packets ?? 0) > 20, 20_000);
    pub.stopMedia();
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await list()).find((p) => p.name === 'stall')?.connected, true, 'still connected without media');
    await waitFor('stall is no longer listed', async () => !(await list()).some((p) => p.name === 'stall'), 15_000);
    const took = Date.now() - stoppedAt;
    assert.ok(took >= 2500, `ended after ${took} ms: the 3 s media timeout, not something sooner`);
    await pub.vanish();
  });

  test('API auth on: an API access token publishes too (and is needed when no WHIP token is set); /api/v3/whip needs it', async () => {
    const secured = await startDrake({ whip: { enable: true }, api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0, disable_localhost: false } } });
    try {
      const login = await secured.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
      const access = { authorization: `Bearer ${login.body.access_token}` };
      const refused = await whipPublish(`${secured.url}/whip/cam`, { headers: {} });
      assert.equal(refused.status, 401);
      const ok = await whipPublish(`${secured.url}/whip/cam`, { headers: access });
      publishers.push(ok);
      assert.equal(ok.status, 201, ok.answer);
      assert.equal((await secured.api('GET', '/api/v3/whip')).status, 401);
      const listed = await secured.api<WhipPublisherDto[]>('GET', '/api/v3/whip', undefined, access);
      assert.deepEqual(listed.body.map((p) => p.name), ['cam']);
      assert.equal(await ok.unpublish(access), 200);
    } finally {
      await secured.stop(true);
    }
  });

  test('viewers of published streams count toward webrtc.max_viewers_total', async () => {
    const capped = await startDrake({ whip: { enable: true }, webrtc: { max_viewers_total: 1 } });
    try {
      const pub = await whipPublish(`${capped.url}/whip/cam`);
      publishers.push(pub);
      assert.equal(pub.status, 201);
      await waitFor('media', async () => ((await capped.whip!.list())[0]?.video.packets ?? 0) > 20, 20_000);
      const first = await whepView(`${capped.url}/whep/whip:cam`);
      viewers.push(first);
      assert.equal(first.status, 201, first.answer);
      await waitFor('the viewer is counted', async () => capped.supervisor.totalViewers === 1, 10_000);
      const second = await whepView(`${capped.url}/whep/whip:cam`);
      assert.equal(second.status, 503, second.answer);
    } finally {
      await capped.stop(true);
    }
  });

  test('WHIP off: the routes answer 404', async () => {
    const off = await startDrake({});
    try {
      const res = await fetch(`${off.url}/whip/cam`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' });
      assert.equal(res.status, 404);
      assert.equal((await off.api('GET', '/api/v3/whip')).status, 404);
      assert.equal((await fetch(`${off.url}/whep/whip:cam`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' })).status, 404);
    } finally {
      await off.stop(true);
    }
  });
});
