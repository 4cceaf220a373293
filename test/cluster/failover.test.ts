// Failover and fencing with a real redis-server, three real drake nodes and real FFmpeg: the owner
// of a process is killed with -9 → the process runs on another node within 10 s with config,
// metadata and order intact; sampled from /proc over the whole time, no two nodes ever run it at once,
// also when the killed node comes back. Redis going away makes every node stop its FFmpeg before its
// lease could lapse; Redis back (empty) → the nodes write the table back and nothing is lost.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ProcessDto } from '../../src/actors/supervisor/Supervisor.ts';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { waitFor } from '../helpers/drake.ts';
import { startNodes, type DrakeNode } from '../helpers/drakeNodes.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { clusterEnv, ffmpegPids, markedProcess, placements } from './helpers.ts';

describe('cluster failover', () => {
  let redis: TestRedis;
  let nodes: DrakeNode[] = [];
  const ids = ['node-a', 'node-b', 'node-c'];
  /** Process groups by node id, taken while the nodes run: a killed node's leftovers stay in its group. */
  const pgids = new Map<string, number[]>();
  const byId = (nid: string) => nodes[ids.indexOf(nid)]!;
  const runners = (pid: string) => ids.filter((nid) => pgids.get(nid)!.some((g) => ffmpegPids(g, pid).length > 0));
  let sampler: NodeJS.Timeout | null = null;
  const twins: string[] = [];

  /** Samples every 50 ms which nodes run each of `pids`; two at once is recorded as a failure. */
  function watch(pids: string[]): void {
    sampler = setInterval(() => {
      for (const pid of pids) {
        const on = runners(pid);
        if (on.length > 1) twins.push(`${new Date().toISOString()} ${pid} on ${on.join(' and ')}`);
      }
    }, 50);
  }

  before(async () => {
    redis = await startRedis();
    nodes = await startNodes(3, (i) => clusterEnv(redis.url, ids[i]!));
    nodes.forEach((n, i) => pgids.set(ids[i]!, [n.pid!]));
    await waitFor('three nodes online', async () => (await nodes[0]!.api<{ totals: { online: number } }>('GET', '/api/v3/cluster')).body.totals?.online === 3, 10_000);
  });
  after(async () => {
    if (sampler) clearInterval(sampler);
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('kill -9 of the owner: the process runs on another node within 10 s, config, metadata and order intact; never two at once', async (t) => {
    const [a] = nodes as [DrakeNode];
    assert.equal((await a.api('POST', '/api/v3/process', markedProcess('fo', { reference: 'failover' }))).status, 200);
    const owner = (await placements(redis.url))['fo']!.node;
    const survivors = ids.filter((i) => i !== owner);
    // A stopped process pinned to the same node: not moved (order stop), but nothing of it is lost.
    assert.equal((await a.api('POST', '/api/v3/process', markedProcess('fo-stop', { autostart: false, node: owner }))).status, 200);
    const via = byId(survivors[0]!);
    assert.equal((await via.api('PUT', '/api/v3/process/fo/metadata/ui', { color: 'blue' })).status, 200);
    assert.equal((await via.api('PUT', '/api/v3/process/fo-stop/metadata/note', JSON.stringify('kept'))).status, 200);
    await waitFor('fo runs on its owner', async () => JSON.stringify(runners('fo')) === JSON.stringify([owner]), 10_000);
    const before = (await via.api<ProcessDto>('GET', '/api/v3/process/fo?filter=config,metadata')).body;
    const epochBefore = (await placements(redis.url))['fo']!.epoch;
    watch(['fo']);

    const t0 = Date.now();
    await byId(owner).kill();
    const moved = await waitFor('fo runs on a survivor', async () => {
      const on = runners('fo');
      return on.length === 1 && survivors.includes(on[0]!) ? on[0]! : null;
    }, 12_000, 50);
    const took = Date.now() - t0;
    assert.ok(took < 10_000, `running again after ${took} ms`);
    t.diagnostic(`kill -9 → FFmpeg running on ${moved}: ${took} ms`);
    const p = (await placements(redis.url))['fo']!;
    assert.equal(p.node, moved);
    assert.ok(p.epoch > epochBefore, 'a new epoch fences the move');

    for (const nid of survivors) {
      const n = byId(nid);
      const s = await waitFor(`${nid} sees fo running`, async () => {
        const r = await n.api<ProcessStateDto>('GET', '/api/v3/process/fo/state');
        return r.body.exec === 'running' ? r.body : null;
      }, 5000);
      assert.equal(s.order, 'start');
      const now = (await n.api<ProcessDto>('GET', '/api/v3/process/fo?filter=config,metadata')).body;
      assert.deepEqual(now.config, before.config, 'config intact');
      assert.deepEqual(now.metadata, { ui: { color: 'blue' } }, 'metadata intact');
      assert.equal(now.reference, 'failover');
      const stopped = await n.api<ProcessDto>('GET', '/api/v3/process/fo-stop?filter=config,metadata,state');
      assert.equal(stopped.status, 200, 'the stopped process of the lost node is still listed');
      assert.equal(stopped.body.config?.node, owner);
      assert.deepEqual(stopped.body.metadata, { note: 'kept' });
      assert.equal(stopped.body.state?.order, 'stop');
    }

    // The killed node comes back: it rejoins, drops fo (placed elsewhere) and never starts a twin.
    const back = byId(owner);
    await back.start();
    pgids.get(owner)!.push(back.pid!);
    await waitFor(`${owner} online again`, async () => {
      const v = await back.api<{ nodes: Array<{ id: string; state: string }> }>('GET', '/api/v3/cluster');
      return v.body.nodes?.find((x) => x.id === owner)?.state === 'online';
    }, 15_000);
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(runners('fo'), [moved], 'fo still runs on the survivor alone');
    const fromBack = await back.api<ProcessStateDto>('GET', '/api/v3/process/fo/state');
    assert.equal(fromBack.body.exec, 'running', 'the returning node answers with the new owner\'s state');
    // fo-stop was left on its node: it is the returning node's again, and a start runs it there.
    assert.equal((await via.api('PUT', '/api/v3/process/fo-stop/command', { command: 'start' })).status, 200);
    await waitFor('fo-stop runs on its pinned node', async () => JSON.stringify(runners('fo-stop')) === JSON.stringify([owner]), 10_000);
    assert.deepEqual(twins, [], 'two nodes never ran the same process at once');
  });

  test('Redis stops: every node stops its FFmpeg before its lease could lapse; Redis back empty: the table is written back, nothing lost', async (t) => {
    const list = async (n: DrakeNode) => (await n.api<ProcessDto[]>('GET', '/api/v3/process?filter=config,metadata')).body;
    const beforeList = await list(nodes[0]!);
    assert.deepEqual(beforeList.map((p) => p.id).sort(), ['fo', 'fo-stop']);
    const owners = Object.fromEntries(Object.entries(await placements(redis.url)).map(([k, v]) => [k, v.node]));

    const t0 = Date.now();
    await redis.stop();
    await waitFor('no FFmpeg runs anywhere', async () => runners('fo').length === 0 && runners('fo-stop').length === 0, 6000, 50);
    const fenced = Date.now() - t0;
    assert.ok(fenced < 4000, `fenced after ${fenced} ms, inside the 4 s lease`);
    t.diagnostic(`Redis stopped → every FFmpeg stopped after ${fenced} ms`);
    // Each node still answers for what it holds.
    const local = await byId(owners['fo']!).api<ProcessDto>('GET', '/api/v3/process/fo?filter=config');
    assert.equal(local.status, 200);

    await redis.start();
    await waitFor('fo and fo-stop run again, each on one node', async () => runners('fo').length === 1 && runners('fo-stop').length === 1, 15_000);
    for (const n of nodes) {
      const after = await waitFor(`${n.name} lists both`, async () => {
        const l = await list(n);
        return l.length === 2 ? l : null;
      }, 5000);
      assert.deepEqual(
        after.map((p) => [p.id, p.config, p.metadata]).sort(),
        beforeList.map((p) => [p.id, p.config, p.metadata]).sort(),
        'config and metadata written back from the nodes',
      );
    }
    const place = await placements(redis.url);
    assert.equal(place['fo']!.node, owners['fo'], 'each process back on the node that held it');
    assert.equal(place['fo-stop']!.node, owners['fo-stop']);
    assert.deepEqual(twins, [], 'two nodes never ran the same process at once');
  });
});
