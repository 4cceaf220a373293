// Viewers on any node (cluster, redirect mode): a WHEP POST to a node that does not run the stream is
// answered 307 with the endpoint of the node that does; the stream's token is checked on the first node,
// which puts a signed grant into the Location because a cross-origin redirect drops Authorization. A
// werift viewer and Chromium's player page on the other node follow it and get media from the owner.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GRANT_PARAM } from '../../src/actors/cluster/whepGrant.ts';
import { chromiumPath, launchChromium, playerFramesDecoded } from '../helpers/chromium.ts';
import { waitFor } from '../helpers/drake.ts';
import { startNodes, type DrakeNode } from '../helpers/drakeNodes.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { gatheredOffer, videoCount, viewerPeer, whepView } from '../helpers/whepClient.ts';
import { clusterEnv, waitReported } from './helpers.ts';

const TOKEN = 'viewer-token-1234';

/** A werift viewer's recvonly offer with its candidates (the POSTs below reuse it). */
async function recvonlyOffer(): Promise<string> {
  const pc = viewerPeer();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const offer = await gatheredOffer(pc);
  await pc.close();
  return offer;
}

/** Waits until `endpoint` (on the node that runs the stream) answers a POST with 201: its GOP cache has media (409 before). */
async function waitPlays(endpoint: string, headers: Record<string, string>, offer: string): Promise<void> {
  await waitFor('the stream plays on A', async () => {
    const r = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/sdp', ...headers }, body: offer });
    const loc = r.headers.get('location');
    if (loc) await fetch(new URL(loc, endpoint), { method: 'DELETE', headers });
    return r.status === 201;
  }, 30_000);
}
const auth = { authorization: `Bearer ${TOKEN}` };

describe('cluster: WHEP on a node that does not run the stream (redirect)', () => {
  let redis: TestRedis;
  let nodes: DrakeNode[] = [];
  let a: DrakeNode;
  let b: DrakeNode;
  let offer = '';

  before(async () => {
    redis = await startRedis();
    nodes = await startNodes(2, (i) => clusterEnv(redis.url, ['node-a', 'node-b'][i]!));
    [a, b] = nodes as [DrakeNode, DrakeNode];
    await waitFor('two nodes online', async () => (await b.api<{ totals: { online: number } }>('GET', '/api/v3/cluster')).body.totals?.online === 2, 10_000);
    // Created through B, placed on A by its config.
    const res = await b.api('POST', '/api/v3/process', webrtcProcess('cam', { node: 'node-a' }, { token: TOKEN }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    offer = await recvonlyOffer();
    await waitPlays(`${a.url}/whep/cam`, auth, offer);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('B answers 307 to A with a grant; the token is checked on B; A takes the grant in place of the token, for that stream only', async () => {
    const res = await fetch(`${b.url}/whep/cam?x=1`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/sdp', ...auth }, body: offer });
    assert.equal(res.status, 307);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', 'a browser follows a cross-origin 307 only with CORS headers');
    const to = new URL(res.headers.get('location')!);
    assert.equal(`${to.origin}${to.pathname}`, `${a.url}/whep/cam`);
    assert.equal(to.searchParams.get('x'), '1', 'the query string is kept');
    const grant = to.searchParams.get(GRANT_PARAM);
    assert.match(grant ?? '', /^\d+\.[0-9a-f]{64}$/);

    // No or a wrong token on B: refused there, no redirect.
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
      const r = await fetch(`${b.url}/whep/cam`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/sdp', ...headers }, body: offer });
      assert.equal(r.status, 401);
    }
    // The grant stands in for the token on A (a redirect across origins drops Authorization) ...
    const followed = await fetch(to, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
    assert.equal(followed.status, 201, await followed.clone().text());
    await fetch(new URL(followed.headers.get('location')!, a.url), { method: 'DELETE', headers: auth });
    // ... but a forged or altered one does not.
    for (const bad of ['1.00', `${grant!.split('.')[0]}.${'0'.repeat(64)}`, `${Number(grant!.split('.')[0]) + 1}.${grant!.split('.')[1]}`]) {
      const r = await fetch(`${a.url}/whep/cam?${GRANT_PARAM}=${bad}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
      assert.equal(r.status, 401, `grant ${bad}`);
    }
    // An unknown stream is still 404 on B.
    const unknown = await fetch(`${b.url}/whep/nothing`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/sdp' }, body: offer });
    assert.equal(unknown.status, 404);
  });

  test('a werift viewer posting to B follows the redirect and gets media from A; its session lives on A', async () => {
    const v = await whepView(`${b.url}/whep/cam`, { headers: auth });
    try {
      assert.equal(v.status, 201);
      assert.ok(v.answeredBy.startsWith(`${a.url}/whep/cam`), `answered by ${v.answeredBy}`);
      assert.ok(v.sessionUrl!.startsWith(`${a.url}/whep/cam/`), `session ${v.sessionUrl}`);
      await waitFor('media from A', async () => videoCount(v) > 30 && v.audio > 10, 15_000);
      const sessions = await a.api<{ whep: Array<{ reference: string }> }>('GET', '/api/v3/session/active');
      assert.equal(sessions.body.whep.filter((s) => s.reference === 'cam').length, 1);
      // Any node lists the cluster's viewers, each with the node that serves it.
      const fromB = await b.api<{ whep: Array<{ id: string; reference: string; node: string }> }>('GET', '/api/v3/session/active?collectors=whep');
      const mine = fromB.body.whep.filter((s) => s.reference === 'cam');
      assert.equal(mine.length, 1, JSON.stringify(fromB.body));
      assert.equal(mine[0]!.node, 'node-a');
      assert.ok(v.sessionUrl!.endsWith(mine[0]!.id));
      const gone = await fetch(v.sessionUrl!, { method: 'DELETE', headers: auth });
      assert.equal(gone.status, 200);
    } finally {
      await v.close();
    }
  });

  test('Chromium on B\'s player page follows the redirect and decodes video from A', { timeout: 60_000, skip: chromiumPath() ? false : 'Chromium not installed' }, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${b.url}/player/cam?token=${TOKEN}`);
      const decoded = await waitFor('frames decoded from A', async () => {
        const n = await playerFramesDecoded(page);
        return n > 10 ? n : null;
      }, 30_000);
      assert.ok(decoded > 10);
      const session = (await page.evaluate('window.drakePlayer.sessionUrl')) as string;
      assert.ok(session.startsWith(`${a.url}/whep/cam/`), `the page's session is on A: ${session}`);
      await waitReported(a, session);
      type Listed = { whep: Array<{ reference: string }> };
      const listed = async () => (await a.api<Listed>('GET', '/api/v3/session/active')).body.whep.filter((x) => x.reference === 'cam');
      await page.close();
      let left: unknown = null;
      await waitFor('the page left: its session on A ends', async () => {
        const l = await listed();
        left = l;
        return l.length === 0;
      }, 25_000).catch((err: unknown) => {
        console.log(`sessions on A: ${JSON.stringify(left)}\nA's log:\n${a.output().slice(-4000)}`);
        throw err;
      });
    } finally {
      await browser.close();
    }
  });
});

describe('cluster: /api/v3/whep redirect under the API auth (each node its own JWT secret)', () => {
  let redis: TestRedis;
  let nodes: DrakeNode[] = [];
  let a: DrakeNode;
  let b: DrakeNode;
  let offer = '';
  const login = async (n: DrakeNode) => ({ authorization: `Bearer ${(await n.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' })).body.access_token}` });
  const post = (url: string, headers: Record<string, string> = {}, redirect: 'manual' | 'follow' = 'manual') =>
    fetch(url, { method: 'POST', redirect, headers: { 'content-type': 'application/sdp', ...headers }, body: offer });

  before(async () => {
    redis = await startRedis();
    const authEnv = { DRAKE_API_AUTH_ENABLE: 'true', DRAKE_API_AUTH_USERNAME: 'admin', DRAKE_API_AUTH_PASSWORD: 'sesame' };
    nodes = await startNodes(2, (i) => ({ ...clusterEnv(redis.url, ['node-a', 'node-b'][i]!), ...authEnv }));
    [a, b] = nodes as [DrakeNode, DrakeNode];
    const onB = await login(b);
    await waitFor('two nodes online', async () => (await b.api<{ totals: { online: number } }>('GET', '/api/v3/cluster', undefined, onB)).body.totals?.online === 2, 10_000);
    const res = await b.api('POST', '/api/v3/process', webrtcProcess('cam', { node: 'node-a' }), onB);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    offer = await recvonlyOffer();
    await waitPlays(`${a.url}/api/v3/whep/cam`, await login(a), offer);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test("B checks its own login and redirects with a grant that opens A's WHEP POST for that stream, and nothing else", async () => {
    assert.equal((await post(`${b.url}/api/v3/whep/cam`)).status, 401, 'no login on B: refused there');
    const res = await post(`${b.url}/api/v3/whep/cam`, await login(b));
    assert.equal(res.status, 307);
    const to = new URL(res.headers.get('location')!);
    assert.equal(`${to.origin}${to.pathname}`, `${a.url}/api/v3/whep/cam`);
    // B's token means nothing on A; the grant is what gets through A's API auth.
    const followed = await post(to.href);
    assert.equal(followed.status, 201, await followed.clone().text());
    await fetch(new URL(followed.headers.get('location')!, a.url), { method: 'DELETE', headers: await login(a) });
    assert.equal((await post(`${a.url}/api/v3/whep/cam`)).status, 401, 'without the grant A wants its own login');
    const grant = to.searchParams.get(GRANT_PARAM)!;
    const other = await fetch(`${a.url}/api/v3/process?${GRANT_PARAM}=${grant}`);
    assert.equal(other.status, 401, 'a grant opens no other route');
    const put = await fetch(`${a.url}/api/v3/whep/cam?${GRANT_PARAM}=${grant}`, { method: 'PUT', body: offer });
    assert.equal(put.status, 401, 'nor another method');
  });
});
