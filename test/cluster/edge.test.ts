// Viewers on any node (cluster, edge mode): node B does not run the stream; in edge mode it asks the
// owner A for one relay of the stream's RTP and serves its own viewers from it. Three werift viewers on
// B get media (with keyframes) from B's sessions, while A sends one copy of each packet to B, not three.
// The relay stops after B's last viewer left plus the linger. A node in auto mode redirects (307) while
// the owner has viewer slots left, and serves the viewer itself from a relay once the owner is full.
// Chromium on B's player page plays from the relay too. B may serve 3 viewers in all (webrtc.max_viewers_total).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { chromiumPath, launchChromium, playerFramesDecoded } from '../helpers/chromium.ts';
import { waitFor } from '../helpers/drake.ts';
import { startNodes, type DrakeNode } from '../helpers/drakeNodes.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { gatheredOffer, videoCount, viewerPeer, whepView, type WhepViewer } from '../helpers/whepClient.ts';
import { clusterEnv, waitReported } from './helpers.ts';
import { promSample } from '../helpers/promText.ts';

const TOKEN = 'edge-token-1234';
const auth = { authorization: `Bearer ${TOKEN}` };
const LINGER_S = 2;
const LEASE_S = 3;

const metric = promSample;

async function metrics(n: DrakeNode): Promise<string> {
  return (await fetch(`${n.url}/metrics`)).text();
}

describe('cluster: WHEP on a node that does not run the stream (edge relay)', () => {
  let redis: TestRedis;
  let nodes: DrakeNode[] = [];
  let a: DrakeNode;
  let b: DrakeNode;
  const viewers: WhepViewer[] = [];

  before(async () => {
    redis = await startRedis();
    nodes = await startNodes(2, (i) => ({
      ...clusterEnv(redis.url, ['node-a', 'node-b'][i]!),
      DRAKE_CLUSTER_WHEP_MODE: i === 1 ? 'edge' : 'auto',
      DRAKE_CLUSTER_EDGE_LINGER_SECONDS: String(LINGER_S),
      DRAKE_CLUSTER_RELAY_LEASE_SECONDS: String(LEASE_S),
      ...(i === 1 ? { DRAKE_WEBRTC_MAX_VIEWERS_TOTAL: '3' } : {}),
    }));
    [a, b] = nodes as [DrakeNode, DrakeNode];
    await waitFor('two nodes online', async () => (await b.api<{ totals: { online: number } }>('GET', '/api/v3/cluster')).body.totals?.online === 2, 10_000);
    for (const [id, node] of [['cam', 'node-a'], ['cam2', 'node-b']]) {
      const res = await b.api('POST', '/api/v3/process', webrtcProcess(id!, { node }, { token: TOKEN }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    await waitFor('cam has media on A', async () => metric(await metrics(a), 'drake_whep_gop_cache_packets', { process: 'cam' }) > 0, 30_000);
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close().catch(() => undefined)));
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('three viewers posting to B are served by B from one relay: media with keyframes, sessions on B, A sends one copy', async () => {
    for (let i = 0; i < 3; i++) viewers.push(await whepView(`${b.url}/whep/cam`, { headers: auth }));
    for (const v of viewers) {
      assert.equal(v.status, 201, v.answer);
      assert.ok(v.answeredBy.startsWith(`${b.url}/whep/cam`), `answered by ${v.answeredBy}, not redirected`);
      assert.ok(v.sessionUrl!.startsWith(`${b.url}/whep/cam/`), `session ${v.sessionUrl}`);
      assert.ok(!(v.headers.get('link') ?? '').includes('server-sent-events'), 'an edge session offers no SSE extension');
    }
    await waitFor('media on all three', async () => viewers.every((v) => videoCount(v) > 60 && v.audio > 20), 20_000).catch(async (err: Error) => {
      const sessions = await b.api('GET', '/api/v3/session/active?collectors=whep');
      throw new Error(`${err.message}: video ${viewers.map((v) => videoCount(v)).join(', ')}, audio ${viewers.map((v) => v.audio).join(', ')}, ` +
        `connected ${viewers.map((v) => v.connectedAt !== null).join(', ')}; B's sessions ${JSON.stringify(sessions.body)}\n${b.output().slice(-3000)}`);
    });
    for (const v of viewers) {
      assert.ok(v.video.some((p) => h264NalTypesStarting(p).includes(NAL.IDR)), 'a keyframe arrived');
      assert.ok(v.video.every((p) => p.readUInt32BE(8) === v.video[0]!.readUInt32BE(8)), 'one video SSRC per viewer');
    }

    // The sessions live on B (listed with node-b from any node); A serves no viewer of cam.
    const listed = await a.api<{ whep: Array<{ id: string; reference: string; node: string }> }>('GET', '/api/v3/session/active?collectors=whep');
    const cam = listed.body.whep.filter((s) => s.reference === 'cam');
    assert.equal(cam.length, 3, JSON.stringify(listed.body));
    assert.ok(cam.every((s) => s.node === 'node-b'), JSON.stringify(cam));
    for (const v of viewers) assert.ok(cam.some((s) => v.sessionUrl!.endsWith(s.id)));

    // A relays to one edge, one copy per packet: over a window, what it relays equals what it ingests.
    const mA0 = await metrics(a);
    const mB0 = await metrics(b);
    await new Promise((r) => setTimeout(r, 2000));
    const mA1 = await metrics(a);
    const mB1 = await metrics(b);
    assert.equal(metric(mA1, 'drake_relay_out_edges', { process: 'cam' }), 1);
    assert.equal(metric(mA1, 'drake_whep_viewers', { process: 'cam' }), 0, 'no viewer on A');
    assert.equal(metric(mB1, 'drake_edge_viewers', { process: 'cam', owner: 'node-a' }), 3);
    const relayed = metric(mA1, 'drake_relay_out_packets_total', { process: 'cam', edge: 'node-b' }) - metric(mA0, 'drake_relay_out_packets_total', { process: 'cam', edge: 'node-b' });
    const ingested = metric(mA1, 'drake_rtp_ingest_packets_total', { process: 'cam' }) - metric(mA0, 'drake_rtp_ingest_packets_total', { process: 'cam' });
    const received = metric(mB1, 'drake_edge_relay_packets_total', { process: 'cam' }) - metric(mB0, 'drake_edge_relay_packets_total', { process: 'cam' });
    const sentToViewers = metric(mB1, 'drake_whep_sent_packets_total', { process: 'cam' });
    assert.ok(ingested > 50, `A ingested ${ingested} packets in 2 s`);
    assert.ok(Math.abs(relayed - ingested) <= ingested * 0.1 + 5, `A relayed ${relayed} packets for ${ingested} ingested: one copy each, not one per viewer`);
    assert.ok(received > 0, `B received ${received} packets in 2 s`);
    // The two nodes' counters are read one after the other, so the windows differ by the scrape time;
    // the totals do not: B (read first) never has more than A sent.
    const receivedTotal = metric(await metrics(b), 'drake_edge_relay_packets_total', { process: 'cam' });
    const relayedTotal = metric(await metrics(a), 'drake_relay_out_packets_total', { process: 'cam', edge: 'node-b' });
    assert.ok(receivedTotal <= relayedTotal, `B received ${receivedTotal} of the ${relayedTotal} packets A relayed`);
    assert.equal(sentToViewers, 0, 'B has no process of its own named cam: its viewers are edge viewers');
    assert.equal(metric(mB1, 'drake_edge_relay_lost_total', { process: 'cam' }), 0, 'no relay loss on loopback');

    // The cluster's totals count the relay and the edge viewers.
    await waitFor('heartbeats carry the relay', async () => {
      const t = (await b.api<{ totals: { relays_out: number; relays_in: number; edge_viewers: number; viewers: number } }>('GET', '/api/v3/cluster')).body.totals;
      return t.relays_out === 1 && t.relays_in === 1 && t.edge_viewers === 3 && t.viewers === 3;
    }, 5000);

    // PATCH and DELETE go to B with the stream's token.
    const gone = await fetch(viewers[0]!.sessionUrl!, { method: 'DELETE', headers: auth });
    assert.equal(gone.status, 200);
    await viewers.shift()!.close();
  });

  test('the relay stops after the last edge viewer left and the linger passed; a new viewer gets a new one', async () => {
    for (const v of viewers.splice(0)) {
      await fetch(v.sessionUrl!, { method: 'DELETE', headers: auth });
      await v.close();
    }
    const left = Date.now();
    await waitFor('A relays nothing any more', async () => metric(await metrics(a), 'drake_relay_out_edges', { process: 'cam' }) === 0, (LINGER_S + LEASE_S) * 1000 + 6000);
    assert.ok(Date.now() - left >= LINGER_S * 1000 - 500, 'not before the linger');
    assert.equal(metric(await metrics(b), 'drake_edge_viewers', { process: 'cam' }), 0);
    assert.ok(!(await metrics(b)).includes('drake_edge_viewers{process="cam"'), 'the edge stream on B is gone');

    const v = await whepView(`${b.url}/whep/cam`, { headers: auth });
    viewers.push(v);
    assert.equal(v.status, 201, v.answer);
    await waitFor('media again', async () => videoCount(v) > 30, 15_000);
  });

  test("Chromium on B's player page is served by B from the relay and decodes video", { timeout: 60_000, skip: chromiumPath() ? false : 'Chromium not installed' }, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${b.url}/player/cam?token=${TOKEN}`);
      const decoded = await waitFor('frames decoded from the edge', async () => {
        const n = await playerFramesDecoded(page);
        return n > 10 ? n : null;
      }, 30_000);
      assert.ok(decoded > 10);
      const session = (await page.evaluate('window.drakePlayer.sessionUrl')) as string;
      assert.ok(session.startsWith(`${b.url}/whep/cam/`), `the page's session is on B, not redirected: ${session}`);
      assert.equal(metric(await metrics(a), 'drake_relay_out_edges', { process: 'cam' }), 1, 'still one relay from A for all of B\'s viewers');
      await waitReported(b, session);
      await page.close();
      // The next test counts B's viewer slots: the page's session must be gone first.
      await waitFor("the page's session on B ends", async () => metric(await metrics(b), 'drake_edge_viewers', { process: 'cam' }) === 1, 25_000);
    } finally {
      await browser.close();
    }
  });

  test('auto mode (A) with room on the owner redirects (307); the edge checks the token', async () => {
    const pc = viewerPeer();
    pc.addTransceiver('video', { direction: 'recvonly' });
    const offer = await gatheredOffer(pc);
    await pc.close();
    const r = await fetch(`${a.url}/whep/cam2`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/sdp', ...auth }, body: offer });
    assert.equal(r.status, 307);
    assert.ok(r.headers.get('location')!.startsWith(`${b.url}/whep/cam2?`));
    const denied = await fetch(`${b.url}/whep/cam`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
    assert.equal(denied.status, 401);
    // The relay routes are for nodes only.
    const direct = await fetch(`${a.url}/api/v3/cluster/relay/cam`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ node: 'x', host: '127.0.0.1', port: 9, token: '00'.repeat(8), lease_ms: 5000 }) });
    assert.equal(direct.status, 401);
  });

  test('auto mode (A) with the owner full: A serves the viewer itself from a relay of B\'s stream', async () => {
    // B has one edge viewer from the test before; two more fill its 3 slots (edge viewers count on B).
    for (let i = 0; i < 2; i++) {
      const v = await whepView(`${b.url}/whep/cam`, { headers: auth });
      viewers.push(v);
      assert.equal(v.status, 201, v.answer);
    }
    const full = await whepView(`${b.url}/whep/cam`, { headers: auth });
    assert.equal(full.status, 503, `B refuses a 4th viewer: ${full.status} ${full.answer}`);
    await waitFor("B's heartbeat says it is full", async () => {
      const n = (await a.api<{ nodes: Array<{ id: string; load: { viewers_left: number } }> }>('GET', '/api/v3/cluster')).body.nodes.find((x) => x.id === 'node-b');
      return n?.load.viewers_left === 0;
    }, 5000);
    const v = await whepView(`${a.url}/whep/cam2`, { headers: auth });
    viewers.push(v);
    assert.equal(v.status, 201, v.answer);
    assert.ok(v.answeredBy.startsWith(`${a.url}/whep/cam2`) && v.sessionUrl!.startsWith(`${a.url}/whep/cam2/`), `served by A: ${v.answeredBy} ${v.sessionUrl}`);
    await waitFor('media on A from B', async () => videoCount(v) > 30, 15_000);
    assert.equal(metric(await metrics(b), 'drake_relay_out_edges', { process: 'cam2' }), 1);
    assert.equal(metric(await metrics(a), 'drake_edge_viewers', { process: 'cam2', owner: 'node-b' }), 1);
  });
});
