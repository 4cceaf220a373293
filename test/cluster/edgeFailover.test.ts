// Edge mode across a failover: B serves viewers of a stream A runs, from a relay. A is killed with -9;
// the stream moves to C (B has no process slot left); B's renewal finds the new owner and re-attaches,
// and its viewers, still connected to B, get media again, now relayed from C.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/drake.ts';
import { startNode, type DrakeNode } from '../helpers/drakeNodes.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';
import { clusterEnv, markedProcess, placements } from './helpers.ts';
import { promSample } from '../helpers/promText.ts';

const metric = promSample;
const metrics = async (n: DrakeNode) => (await fetch(`${n.url}/metrics`)).text();

describe('cluster: an edge re-attaches to the new owner after a failover', () => {
  let redis: TestRedis;
  const nodes: DrakeNode[] = [];
  let a: DrakeNode;
  let b: DrakeNode;
  let c: DrakeNode;
  const viewers: WhepViewer[] = [];

  before(async () => {
    redis = await startRedis();
    const env = (id: string, extra: Record<string, string> = {}) => ({ env: { ...clusterEnv(redis.url, id), DRAKE_CLUSTER_RELAY_LEASE_SECONDS: '3', ...extra } });
    [a, b] = await Promise.all([startNode('a', env('node-a')), startNode('b', env('node-b', { DRAKE_CLUSTER_WHEP_MODE: 'edge', DRAKE_FFMPEG_MAX_PROCESSES: '1' }))]);
    nodes.push(a, b);
    await waitFor('two nodes online', async () => (await b.api<{ totals: { online: number } }>('GET', '/api/v3/cluster')).body.totals?.online === 2, 10_000);
    // B's one process slot is taken, so cam goes to A now and to C (started later) when A is lost.
    assert.equal((await b.api('POST', '/api/v3/process', markedProcess('filler', { node: 'node-b' }))).status, 200);
    await waitFor('B reports its slot taken', async () => {
      const n = (await a.api<{ nodes: Array<{ id: string; load: { processes_left: number | null } }> }>('GET', '/api/v3/cluster')).body.nodes.find((x) => x.id === 'node-b');
      return n?.load.processes_left === 0;
    }, 10_000);
    assert.equal((await b.api('POST', '/api/v3/process', webrtcProcess('cam'))).status, 200);
    assert.equal((await placements(redis.url)).cam?.node, 'node-a');
    c = await startNode('c', env('node-c'));
    nodes.push(c);
    await waitFor('cam has media on A', async () => metric(await metrics(a), 'drake_whep_gop_cache_packets', { process: 'cam' }) > 0, 30_000);
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close().catch(() => undefined)));
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('kill -9 of the owner: the stream runs on C, B relays from C, and B\'s viewers get media again without re-joining', async () => {
    for (let i = 0; i < 2; i++) viewers.push(await whepView(`${b.url}/whep/cam`));
    for (const v of viewers) assert.equal(v.status, 201, v.answer);
    // Generous: on a loaded 2-core box the first viewers' ICE/DTLS can take seconds.
    await waitFor('media from A through B', async () => viewers.every((v) => videoCount(v) > 30), 30_000).catch(async (err: Error) => {
      const m = await metrics(b);
      throw new Error(`${err.message}: video ${viewers.map((v) => videoCount(v)).join(', ')}, connected ${viewers.map((v) => v.connectedAt !== null).join(', ')}; ` +
        `B relay packets ${metric(m, 'drake_edge_relay_packets_total', { process: 'cam' })}, B edge viewers ${metric(m, 'drake_edge_viewers', { process: 'cam' })}\n${b.output().slice(-3000)}`);
    });
    assert.equal(metric(await metrics(b), 'drake_edge_viewers', { process: 'cam', owner: 'node-a' }), 2);

    await a.kill();
    const killedAt = Date.now();
    await waitFor('cam placed on C', async () => (await placements(redis.url)).cam?.node === 'node-c', 15_000);
    await waitFor('B relays from C', async () => metric(await metrics(b), 'drake_edge_viewers', { process: 'cam', owner: 'node-c' }) === 2, 20_000).catch(async (err: Error) => {
      const m = await metrics(b);
      throw new Error(`${err.message}: ${m.split('\n').filter((l) => l.startsWith('drake_edge')).join('; ')}; ` +
        `connected ${viewers.map((v) => v.connectedAt !== null).join(', ')}\n${b.output().slice(-3000)}`);
    });
    const counts = viewers.map((v) => videoCount(v));
    await waitFor('media again on both viewers', async () => viewers.every((v, i) => videoCount(v) > counts[i]! + 30), 20_000);
    assert.equal(metric(await metrics(c), 'drake_relay_out_edges', { process: 'cam' }), 1, 'C relays to B once');
    assert.equal(metric(await metrics(c), 'drake_whep_viewers', { process: 'cam' }), 0, 'the viewers stayed on B');
    const sessions = await b.api<{ whep: Array<{ reference: string; node: string }> }>('GET', '/api/v3/session/active?collectors=whep');
    assert.equal(sessions.body.whep.filter((s) => s.reference === 'cam' && s.node === 'node-b').length, 2, JSON.stringify(sessions.body));
    assert.ok(Date.now() - killedAt < 40_000);
  });
});
