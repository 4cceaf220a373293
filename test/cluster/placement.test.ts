// Placement (src/actors/cluster/placement.ts): the Lua script on a real redis-server. The node records
// are written as a heartbeat writes them, with loads chosen by the test so the rules can be checked
// exactly; the last test places through real ClusterNode members.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ClusterNode } from '../../src/actors/cluster/ClusterNode.ts';
import { definePlacement, place, PlacementError, type PlacementKeys } from '../../src/actors/cluster/placement.ts';
import { configSchema } from '../../src/shared/config.ts';
import type { NodeLoad, NodeRecord } from '../../src/shared/cluster.ts';
import { waitFor } from '../helpers/drake.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { tempDir } from '../helpers/tempDir.ts';

const KEYS: PlacementKeys = { nodes: 't:nodes', place: 't:place', epoch: 't:epoch', leasePrefix: 't:alive:' };

function load(room: number, extra: Partial<NodeLoad> = {}): NodeLoad {
  return {
    cpu_cores: 4, cpu_usage: 1 - room, memory_total_bytes: 8e9, memory_available_bytes: 6e9, rss_bytes: 1e8,
    processes: 0, running: 0, viewers: 0, max_processes: 0, max_viewers: 2000, processes_left: null, viewers_left: 2000, room,
    relays_out: 0, relays_in: 0, edge_viewers: 0, ...extra,
  };
}

describe('placement script', () => {
  let redis: TestRedis;
  let r: Redis;

  /** A node as its heartbeat leaves it in Redis: the record, and the lease when online. */
  async function node(id: string, l: NodeLoad, online = true): Promise<void> {
    const rec: NodeRecord = { id, name: id, version: 't', advertise_url: `http://${id}`, advertise_host: id, started_at: 0, heartbeat_at: Date.now(), load: l };
    await r.hset(KEYS.nodes, id, JSON.stringify(rec));
    if (online) await r.set(`${KEYS.leasePrefix}${id}`, 'x', 'PX', 60_000);
    else await r.del(`${KEYS.leasePrefix}${id}`);
  }

  before(async () => {
    redis = await startRedis();
    r = new Redis(redis.url);
    definePlacement(r);
  });
  beforeEach(() => r.flushall());
  after(async () => {
    r.disconnect();
    await redis.close();
  });

  test('most room wins, lost nodes never; an explicit node is taken only when online; epochs grow', async () => {
    await node('n1', load(0.9));
    await node('n2', load(0.5));
    await node('n3', load(0.99), false);
    const p1 = await place(r, KEYS, 'p1');
    assert.deepEqual(p1, { node: 'n1', epoch: 1 });
    assert.deepEqual(JSON.parse((await r.hget(KEYS.place, 'p1'))!), p1, 'stored in the placement hash');
    assert.deepEqual(await place(r, KEYS, 'p2', 'n2'), { node: 'n2', epoch: 2 });
    for (const wanted of ['n3', 'nope']) {
      await assert.rejects(place(r, KEYS, 'p3', wanted), (e: unknown) => e instanceof PlacementError && e.code === 'NODE_OFFLINE' && e.message === `node ${wanted} is not online`);
    }
    assert.equal(await r.hexists(KEYS.place, 'p3'), 0, 'a refused placement writes nothing');
    assert.deepEqual(await place(r, KEYS, 'p1'), p1, "'keep': a placement on an online node stands, same epoch");
    const moved = await place(r, KEYS, 'p1', '', 'move');
    assert.equal(moved.node, 'n2', "'move' never picks the current node");
    assert.ok(moved.epoch > p1.epoch, 'a new placement fences the old one with a larger epoch');
    // The owner of p1 is lost now: keep re-places it on a live node.
    await node('n2', load(0.5), false);
    assert.deepEqual(await place(r, KEYS, 'p1'), { node: 'n1', epoch: moved.epoch + 1 });
  });

  test('full nodes are skipped; none left: NO_NODE; placements not yet reported count against room', async () => {
    await node('full', load(0.9, { max_processes: 2, processes: 2, processes_left: 0 }));
    await node('one-slot', load(0.2, { max_processes: 1, processes_left: 1 }));
    assert.equal((await place(r, KEYS, 'a')).node, 'one-slot');
    await assert.rejects(place(r, KEYS, 'b'), (e: unknown) => e instanceof PlacementError && e.code === 'NO_NODE');
    await r.flushall();
    // Heartbeats report room 0.9 vs 0.8, but three processes were placed on the first since.
    await node('busy', load(0.9));
    await node('quiet', load(0.8));
    for (const id of ['x1', 'x2', 'x3']) await r.hset(KEYS.place, id, JSON.stringify({ node: 'busy', epoch: 1 }));
    assert.equal((await place(r, KEYS, 'y')).node, 'quiet');
  });

  test('a burst of concurrent placements from three connections spreads evenly (atomic, no stale reads)', async () => {
    for (const id of ['a', 'b', 'c']) await node(id, load(0.8));
    const conns = [0, 1, 2].map(() => {
      const c = new Redis(redis.url);
      definePlacement(c);
      return c;
    });
    try {
      const placed = await Promise.all(Array.from({ length: 30 }, (_, i) => place(conns[i % 3]!, KEYS, `p${i}`)));
      const per: Record<string, number> = {};
      for (const p of placed) per[p.node] = (per[p.node] ?? 0) + 1;
      assert.deepEqual(per, { a: 10, b: 10, c: 10 });
      assert.deepEqual(placed.map((p) => p.epoch).sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1), 'each placement its own epoch');
    } finally {
      for (const c of conns) c.disconnect();
    }
  });

  test('through real cluster members: placed on a member; when it leaves, the placement moves to the other', async () => {
    const config = configSchema.parse({ cluster: { enable: true, redis_url: redis.url, key_prefix: 'real' } }).cluster;
    const member = (id: string, processes: number) =>
      ClusterNode.start({
        cluster: { ...config, node_id: id },
        dbDir: tempDir('drake-place-'),
        name: id,
        version: 't',
        apiUrl: `http://127.0.0.1:1`,
        apiHost: '127.0.0.1',
        counts: () => ({ processes, running: 0, started: 0, viewers: 0 }),
        limits: { maxProcesses: 0, maxViewers: 100 },
        // Members without processes of their own: this test is about placement alone.
        supervisor: {
          ids: () => [],
          has: () => false,
          record: () => {
            throw new Error('no processes');
          },
          adopt: async () => 'same' as const,
          remove: async () => undefined,
          applyGate: async () => undefined,
          applyGateAll: async () => undefined,
          killChildrenNow: () => undefined,
        },
      });
    const m1 = member('m1', 0);
    const m2 = member('m2', 0);
    try {
      await waitFor('both joined', async () => m1.joined && m2.joined, 5000);
      const first = await m1.place('proc');
      assert.ok(['m1', 'm2'].includes(first.node));
      assert.deepEqual(await m2.place('proc'), first, 'every member sees the same placement');
      const [owner, other] = first.node === 'm1' ? [m1, m2] : [m2, m1];
      await owner.close();
      const again = await other.place('proc');
      assert.deepEqual(again, { node: other.id, epoch: first.epoch + 1 });
      await assert.rejects(other.place('pinned', owner.id), /is not online/);
    } finally {
      await Promise.all([m1.close(), m2.close()]);
    }
  });
});
