// The cluster's node registry with a real redis-server and real drake nodes (separate processes):
// nodes see each other, a SIGKILLed node turns lost within the lease, Redis going away and coming back
// (also empty) is survived, and a node started while Redis is down joins by itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clusterSchema, type ClusterDto } from '../../src/shared/cluster.ts';
import { startDrake, testProcess, waitFor } from '../helpers/drake.ts';
import { startNode, startNodes, type DrakeNode } from '../helpers/drakeNodes.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

async function view(node: DrakeNode): Promise<ClusterDto> {
  const res = await node.api<ClusterDto>('GET', '/api/v3/cluster');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return clusterSchema.parse(res.body);
}

const states = (v: ClusterDto) => Object.fromEntries(v.nodes.map((n) => [n.id, n.state]));

describe('cluster node registry', () => {
  let redis: TestRedis;
  let nodes: DrakeNode[] = [];

  before(async () => {
    redis = await startRedis();
    const cluster = { DRAKE_CLUSTER_ENABLE: 'true', DRAKE_CLUSTER_REDIS_URL: redis.url, DRAKE_CLUSTER_KEY_PREFIX: 'test' };
    // a and b get their ids from the config, c generates one and keeps it in its db dir.
    nodes = await startNodes(3, (i) => (i < 2 ? { ...cluster, DRAKE_CLUSTER_NODE_ID: `node-${'ab'[i]}` } : cluster));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('three nodes: each lists all three online, with address and load; a process shows in its node load', async () => {
    const [a, b, c] = nodes as [DrakeNode, DrakeNode, DrakeNode];
    const cId = (JSON.parse(readFileSync(join(c.dir, 'config', 'cluster.json'), 'utf8')) as { node_id: string }).node_id;
    assert.match(cId, /^node-[0-9a-f]{12}$/);
    for (const [node, id] of [[a, 'node-a'], [b, 'node-b'], [c, cId]] as const) {
      const v = await waitFor(`${node.name} lists three online nodes`, async () => {
        const v = await view(node);
        return v.totals.online === 3 ? v : null;
      }, 10_000);
      assert.equal(v.node_id, id);
      assert.deepEqual(v.nodes.map((n) => n.id).sort(), ['node-a', 'node-b', cId].sort());
      assert.deepEqual(v.nodes.filter((n) => n.self).map((n) => n.id), [id]);
      assert.equal(v.redis.connected, true);
      assert.equal(v.totals.lost, 0);
      for (const n of v.nodes) {
        const owner = n.id === 'node-a' ? a : n.id === 'node-b' ? b : c;
        assert.equal(n.advertise_url, owner.url, 'the API URL is advertised when none is configured');
        assert.equal(n.advertise_host, '127.0.0.1');
        assert.equal(n.name, owner.name);
        assert.equal(n.load.cpu_cores, availableParallelism());
        assert.ok(n.load.memory_total_bytes > 0 && n.load.memory_available_bytes <= n.load.memory_total_bytes);
        assert.ok(n.load.rss_bytes > 10e6, 'a drake process uses some memory');
        const l = n.load;
        const least = Math.min(1 - l.cpu_usage, l.memory_available_bytes / l.memory_total_bytes, l.viewers_left / l.max_viewers);
        assert.ok(Math.abs(l.room - least) < 0.002, `room ${l.room} is the least free share (${least})`);
        assert.equal(n.load.max_viewers, 2000);
        assert.equal(n.load.processes_left, null, 'no ffmpeg.max_processes');
      }
      assert.equal(v.totals.cpu_cores, 3 * availableParallelism());
    }
    // Pinned to a (a process without `node` is placed by load, on any of the three).
    assert.equal((await a.api('POST', '/api/v3/process', testProcess('on-a', { autostart: false, node: 'node-a' }))).status, 200);
    await waitFor('b sees a carry one process', async () => {
      const v = await view(b);
      return v.nodes.find((n) => n.id === 'node-a')?.load.processes === 1 && v.totals.processes === 1;
    }, 5000);
  });

  test('kill -9 of a node: the others show it lost within the 4 s lease', async () => {
    const [a, b, c] = nodes as [DrakeNode, DrakeNode, DrakeNode];
    const cId = (await view(c)).node_id;
    const t0 = Date.now();
    await c.kill();
    await Promise.all(
      [a, b].map((n) => waitFor(`${n.name} shows ${cId} lost`, async () => states(await view(n))[cId] === 'lost', 8000, 100)),
    );
    const took = Date.now() - t0;
    assert.ok(took <= 5000, `lost after ${took} ms`);
    const v = await view(a);
    assert.deepEqual([v.totals.online, v.totals.lost], [2, 1]);
    assert.equal(v.nodes.find((n) => n.id === cId)!.load.processes, 0, 'a lost node is listed with its last load');
    // The restarted node comes back under its kept id, once the lease of its killed run has lapsed.
    await c.start();
    await waitFor(`${cId} online again`, async () => states(await view(a))[cId] === 'online', 10_000);
    assert.equal((await view(c)).node_id, cId);
  });

  test('Redis stops: nodes keep serving and say so; a node started meanwhile waits; Redis back (empty): all rejoin', async () => {
    const [a, b] = nodes as [DrakeNode, DrakeNode];
    await redis.stop();
    const down = await a.api<{ code: number; message: string }>('GET', '/api/v3/cluster');
    assert.equal(down.status, 503);
    assert.match(down.body.message, /Redis \(redis:\/\/127\.0\.0\.1:\d+\) is unreachable: this node serves its own processes/);
    await waitFor('a logs the lost Redis', async () => /cluster: lost Redis at redis:\/\/127\.0\.0\.1:\d+ \(\w+\): this node keeps serving its own processes/.test(a.output()), 5000);
    assert.equal((await a.api('POST', '/api/v3/process', testProcess('while-down', { autostart: false }))).status, 200, 'the local API works without Redis');

    const d = await startNode('d', { env: { DRAKE_CLUSTER_ENABLE: 'true', DRAKE_CLUSTER_REDIS_URL: redis.url, DRAKE_CLUSTER_KEY_PREFIX: 'test', DRAKE_CLUSTER_NODE_ID: 'node-d' } });
    nodes.push(d);
    await waitFor('d logs that Redis is unreachable', async () => /cluster: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): this node keeps serving its own processes and joins the cluster when Redis answers/.test(d.output()), 5000);
    assert.equal((await d.api('POST', '/api/v3/process', testProcess('on-d', { autostart: false }))).status, 200);
    assert.equal((await d.api('GET', '/api/v3/cluster')).status, 503);

    await redis.start();
    const v = await waitFor('a, b and d online again', async () => {
      const v = await view(b);
      const s = states(v);
      return s['node-a'] === 'online' && s['node-b'] === 'online' && s['node-d'] === 'online' ? v : null;
    }, 10_000);
    assert.equal(v.nodes.find((n) => n.id === 'node-d')!.load.processes, 1);
    // a's log line travels through its stdout pipe; it can reach us after b already sees a online.
    await waitFor('a logs that it rejoined', async () => /cluster: rejoined as node node-a/.test(a.output()), 5000);
    assert.match(d.output(), /cluster: joined as node node-d/);
  });

  test('a second node with a taken id does not join while the first one lives', async () => {
    const e = await startNode('e', { env: { DRAKE_CLUSTER_ENABLE: 'true', DRAKE_CLUSTER_REDIS_URL: redis.url, DRAKE_CLUSTER_KEY_PREFIX: 'test', DRAKE_CLUSTER_NODE_ID: 'node-a' } });
    nodes.push(e);
    await waitFor('e says the id is taken', async () => /cluster: node id node-a is held by another live node/.test(e.output()), 5000);
    const a = nodes[0]!;
    const rec = (await view(a)).nodes.find((n) => n.id === 'node-a')!;
    assert.equal(rec.advertise_url, a.url, 'the record stays the first node');
    assert.equal(rec.name, 'a');
  });
});

describe('cluster off', () => {
  test('GET /api/v3/cluster says how to turn it on; auth guards it like every /api/v3 route', async () => {
    const plain = await startDrake();
    try {
      const res = await plain.api<{ message: string }>('GET', '/api/v3/cluster');
      assert.equal(res.status, 404);
      assert.match(res.body.message, /not part of a cluster: set cluster\.enable/);
      assert.equal(plain.cluster, null);
    } finally {
      await plain.stop(true);
    }
    const guarded = await startDrake({ api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } } });
    try {
      assert.equal((await guarded.api('GET', '/api/v3/cluster')).status, 401);
    } finally {
      await guarded.stop(true);
    }
  });
});
