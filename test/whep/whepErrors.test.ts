import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDrake, testProcess, waitFor, type TestDrake } from '../helpers/drake.ts';
import { addLiveProcess, webrtcProcess } from '../helpers/webrtcProcess.ts';
import { whepView, type WhepViewer } from '../helpers/whepClient.ts';

const post = (url: string, body: string, type = 'application/sdp', headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': type, ...headers }, body });

describe('WHEP error matrix', () => {
  let drake: TestDrake;
  const viewers: WhepViewer[] = [];
  const view = async (path: string, opts = {}) => {
    const v = await whepView(`${drake.url}${path}`, opts);
    viewers.push(v);
    return v;
  };
  before(async () => {
    drake = await startDrake();
    await drake.api('POST', '/api/v3/process', webrtcProcess('cam'));
    await drake.api('POST', '/api/v3/process', webrtcProcess('one', {}, { max_viewers: 1 }));
    await drake.api('POST', '/api/v3/process', webrtcProcess('mute', {}, { audio: 'none' }));
    await drake.api('POST', '/api/v3/process', webrtcProcess('secret', {}, { token: 'let-me-in' }));
    await drake.api('POST', '/api/v3/process', webrtcProcess('idle', { autostart: false }));
    await drake.api('POST', '/api/v3/process', testProcess('plain'));
    for (const id of ['cam', 'one', 'mute', 'secret']) {
      await waitFor(`${id} has media`, async () => (await drake.supervisor.whepStats(id)).gopPackets > 0, 30_000);
    }
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await drake.stop(true);
  });

  test('empty body → 400', async () => {
    assert.equal((await post(`${drake.url}/whep/cam`, '')).status, 400);
  });
  test('malformed SDP → 400 with the reason', async () => {
    const res = await post(`${drake.url}/whep/cam`, 'hello, this is not SDP');
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /malformed SDP offer/);
    assert.equal((await post(`${drake.url}/whep/cam`, 'v=0\r\ns=-\r\n')).status, 400, 'no media section');
  });
  test('wrong Content-Type → 415', async () => {
    assert.equal((await post(`${drake.url}/whep/cam`, 'v=0', 'application/json')).status, 415);
  });
  test('body over the limit → 413', async () => {
    assert.equal((await post(`${drake.url}/whep/cam`, `v=0\r\n${'a=x\r\n'.repeat(20_000)}`)).status, 413);
  });
  test('unknown process → 404; WebRTC not enabled → 404', async () => {
    assert.equal((await post(`${drake.url}/whep/nope`, 'v=0')).status, 404);
    const v = await view('/whep/plain');
    assert.equal(v.status, 404);
  });
  test('process not running → 409 with Retry-After', async () => {
    const v = await view('/whep/idle');
    assert.equal(v.status, 409);
    assert.ok(Number(v.headers.get('retry-after')) >= 1);
  });
  test('offer without H264 → 406 naming the codec', async () => {
    const v = await view('/whep/cam', { video: 'vp8' });
    assert.equal(v.status, 406);
    assert.match(v.answer, /H264/);
  });
  test('offer without Opus where the process has audio → 406; fine where it has none', async () => {
    const v = await view('/whep/cam', { audio: false });
    assert.equal(v.status, 406);
    assert.match(v.answer, /Opus/);
    const m = await view('/whep/mute', { audio: false });
    assert.equal(m.status, 201);
  });
  test('per-stream cap → 503 with Retry-After', async () => {
    const first = await view('/whep/one');
    assert.equal(first.status, 201);
    const second = await view('/whep/one');
    assert.equal(second.status, 503);
    assert.match(second.answer, /this stream has reached its viewer limit \(1\)/);
    assert.ok(second.headers.get('retry-after'));
  });
  test('per-process token: 401 without, 201 with Authorization: Bearer', async () => {
    const denied = await view('/whep/secret');
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await view('/whep/secret', { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await view('/whep/secret', { headers: { authorization: 'Bearer let-me-in' } })).status, 201);
  });
  test('OPTIONS → 204 with Accept-Post and CORS; GET/HEAD → 2xx without content (the draft); PUT → 405', async () => {
    const res = await fetch(`${drake.url}/whep/cam`, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('accept-post'), 'application/sdp');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Location.*ETag.*Link/);
    const v = await view('/whep/cam');
    assert.equal(v.status, 201);
    for (const method of ['GET', 'HEAD']) {
      const r = await fetch(`${drake.url}/whep/cam`, { method });
      assert.equal(r.status, 204, method);
      assert.equal(r.headers.get('accept-post'), 'application/sdp', `${method}: the headers OPTIONS gives`);
      assert.equal(await r.text(), '');
      const live = await fetch(`${drake.url}${v.location}`, { method });
      assert.equal(live.status, 204, `${method} on a live session`);
      assert.equal(live.headers.get('accept-patch'), 'application/trickle-ice-sdpfrag');
      assert.equal((await fetch(`${drake.url}/whep/cam/${'a'.repeat(32)}`, { method })).status, 404, `${method} on an unknown session`);
      assert.equal((await fetch(`${drake.url}/whep/nosuchstream`, { method })).status, 404, `${method} on an unknown stream`);
      assert.equal((await fetch(`${drake.url}/whep/secret`, { method })).status, 401, `${method} needs the stream's token`);
    }
    const put = await fetch(`${drake.url}/whep/cam`, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.ok(put.headers.get('allow'));
    assert.equal((await fetch(`${drake.url}${v.location}`, { method: 'PUT' })).status, 405);
  });
});

describe('WHEP limits that need their own drake', () => {
  test('total viewer cap → 503 with its own message', async () => {
    const drake = await startDrake({ webrtc: { max_viewers_total: 1 } });
    const viewers: WhepViewer[] = [];
    try {
      await addLiveProcess(drake, 'a');
      viewers.push(await whepView(`${drake.url}/whep/a`));
      assert.equal(viewers[0]!.status, 201);
      await waitFor('counted', async () => drake.supervisor.totalViewers === 1);
      viewers.push(await whepView(`${drake.url}/whep/a`));
      assert.equal(viewers[1]!.status, 503);
      assert.match(viewers[1]!.answer, /total viewer limit \(1\)/);
    } finally {
      await Promise.all(viewers.map((v) => v.close()));
      await drake.stop(true);
    }
  });

  test('ICE gathering that does not finish in time → 504', async () => {
    // A STUN server that never answers (the discard port on loopback) keeps gathering open.
    const drake = await startDrake({ webrtc: { ice_gathering_timeout_ms: 300, ice_servers: [{ urls: 'stun:127.0.0.1:9' }] } });
    try {
      await addLiveProcess(drake, 'a');
      const v = await whepView(`${drake.url}/whep/a`);
      assert.equal(v.status, 504, v.answer);
      const options = await fetch(`${drake.url}/whep/a`, { method: 'OPTIONS' });
      assert.match(options.headers.get('link') ?? '', /<stun:127\.0\.0\.1:9>; rel="ice-server"/, 'configured ICE servers are announced');
      assert.equal((await drake.supervisor.whepStats('a')).viewers, 0, 'the half-made session is gone');
    } finally {
      await drake.stop(true);
    }
  });
});
