// The cluster's process table with a real redis-server and three real drake nodes (separate
// processes, real FFmpeg): a process created on any node is placed by load (or on its explicit node)
// and runs on exactly one node; every node answers the same for it (config, state, report, metadata,
// update, commands, delete), forwarding to the owner with a signed hop.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ProcessDto } from '../../src/actors/supervisor/Supervisor.ts';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { waitFor } from '../helpers/drake.ts';
import { startNodes, type DrakeNode } from '../helpers/drakeNodes.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { clusterEnv, ffmpegPids, markedProcess, placements } from './helpers.ts';

describe('cluster process table', () => {
  let redis: TestRedis;
  let nodes: DrakeNode[] = [];
  const ids = ['node-a', 'node-b', 'node-c'];
  const byId = (nid: string) => nodes[ids.indexOf(nid)]!;
  const groups = () => nodes.map((n) => ({ node: n, pgid: n.pid! }));
  const runners = (pid: string) => groups().filter((g) => ffmpegPids(g.pgid, pid).length > 0).map((g) => ids[nodes.indexOf(g.node)]);

  before(async () => {
    redis = await startRedis();
    nodes = await startNodes(3, (i) => clusterEnv(redis.url, ids[i]!));
    await waitFor('three nodes online', async () => {
      const v = await nodes[0]!.api<{ totals: { online: number } }>('GET', '/api/v3/cluster');
      return v.body.totals?.online === 3;
    }, 10_000);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('created on A, spread by load over the three nodes; each runs on its owner only; B and C read its state', async () => {
    const [a] = nodes as [DrakeNode];
    for (const pid of ['p1', 'p2', 'p3']) {
      const res = await a.api<{ id: string }>('POST', '/api/v3/process', markedProcess(pid));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.id, pid);
    }
    const place = await placements(redis.url);
    assert.deepEqual(['p1', 'p2', 'p3'].map((p) => place[p]!.node).sort(), ids, 'one process per node (equal room: fewest placed first)');
    for (const pid of ['p1', 'p2', 'p3']) {
      const owner = place[pid]!.node;
      await waitFor(`${pid} runs on ${owner} alone`, async () => JSON.stringify(runners(pid)) === JSON.stringify([owner]), 10_000);
      const states = await Promise.all(
        nodes.map((n) => waitFor(`${n.name} sees ${pid} running`, async () => {
          const s = await n.api<ProcessStateDto>('GET', `/api/v3/process/${pid}/state`);
          return s.status === 200 && s.body.exec === 'running' && s.body.progress.frame > 0 ? s.body : null;
        }, 10_000)),
      );
      assert.ok(states.every((s) => s.order === 'start' && JSON.stringify(s.command) === JSON.stringify(states[0]!.command)), 'the same FFmpeg, seen from every node');
      for (const n of nodes) {
        const rep = await n.api<{ log: unknown[]; prelude: unknown[] }>('GET', `/api/v3/process/${pid}/report`);
        assert.equal(rep.status, 200);
        assert.ok(rep.body.prelude.length > 0, `${n.name}: the owner's FFmpeg prelude`);
      }
    }
    const list = await nodes[2]!.api<ProcessDto[]>('GET', '/api/v3/process?filter=state,config');
    assert.deepEqual(list.body.map((p) => p.id), ['p1', 'p2', 'p3']);
    assert.ok(list.body.every((p) => p.state?.exec === 'running'), 'the list asks each owner for state');
  });

  test("Core's widget, playout routes and GraphQL playoutStatus answer the same from every node", async () => {
    await waitFor('p2 running for a second', async () => (await nodes[0]!.api<ProcessStateDto>('GET', '/api/v3/process/p2/state')).body.runtime_seconds >= 1, 10_000);
    for (const n of nodes) {
      const w = await n.api<{ current_sessions: number; total_sessions: number; uptime: number }>('GET', '/api/v3/widget/process/p2');
      assert.equal(w.status, 200, `${n.name}: ${JSON.stringify(w.body)}`);
      const state = await n.api<ProcessStateDto>('GET', '/api/v3/process/p2/state');
      assert.ok(w.body.uptime > 0 && Math.abs(w.body.uptime - state.body.runtime_seconds) <= 1, `${n.name}: the owner's uptime ${w.body.uptime} ≈ ${state.body.runtime_seconds}`);
      assert.deepEqual([w.body.current_sessions, w.body.total_sessions], [0, 0]);
      assert.equal((await n.api('GET', '/api/v3/widget/process/nope')).status, 404);

      const playout = await n.api<{ details: string[] }>('GET', '/api/v3/process/p2/playout/in/status');
      assert.equal(playout.status, 404);
      assert.deepEqual(playout.body.details, ["no playout for input ID 'in' and process 'p2'"], `${n.name}: p2 is known on every node`);
      const graph = await n.api<{ errors: Array<{ message: string }> }>('POST', '/api/graph/query', { query: '{ playoutStatus(id: "p2", input: "in") { id } }' });
      assert.equal(graph.status, 200);
      assert.equal(graph.body.errors[0]!.message, "unknown process or input: no playout for input ID 'in' and process 'p2'");
    }
  });

  test('update, metadata, commands and delete from a node that does not run the process', async () => {
    const owner = (await placements(redis.url))['p1']!.node;
    const others = ids.filter((i) => i !== owner).map(byId);
    const [x, y] = others as [DrakeNode, DrakeNode];

    assert.equal((await x.api('PUT', '/api/v3/process/p1/metadata/ui', { color: 'red' })).status, 200);
    for (const n of nodes) assert.deepEqual((await n.api('GET', '/api/v3/process/p1/metadata/ui')).body, { color: 'red' });
    assert.deepEqual((await byId(owner).api('GET', '/api/v3/process/p1/metadata')).body, { ui: { color: 'red' } });

    const upd = await y.api<{ reference: string }>('PUT', '/api/v3/process/p1', { reference: 'studio-1' });
    assert.equal(upd.status, 200, JSON.stringify(upd.body));
    for (const n of nodes) assert.equal((await n.api<{ reference: string }>('GET', '/api/v3/process/p1/config')).body.reference, 'studio-1');

    assert.equal((await x.api('PUT', '/api/v3/process/p1/command', { command: 'stop' })).status, 200);
    await waitFor('p1 stopped everywhere', async () => runners('p1').length === 0, 10_000);
    const stopped = await y.api<ProcessStateDto>('GET', '/api/v3/process/p1/state');
    assert.equal(stopped.body.order, 'stop');
    assert.equal((await y.api('PUT', '/api/v3/process/p1/command', { command: 'start' })).status, 200);
    await waitFor('p1 runs on its owner again', async () => JSON.stringify(runners('p1')) === JSON.stringify([owner]), 10_000);

    // Errors are the owner's own, the same from every node.
    const bad = await x.api<{ code: number; details: string[] }>('PUT', '/api/v3/process/p1/command', { command: 'dance' });
    assert.equal(bad.status, 400);
    const dup = await x.api<{ code: number; message: string }>('POST', '/api/v3/process', markedProcess('p2'));
    assert.equal(dup.status, 409);
    assert.match(dup.body.message, /already exists: p2/);
    for (const n of nodes) assert.equal((await n.api('GET', '/api/v3/process/nope/state')).status, 404);

    const del = await x.api('DELETE', '/api/v3/process/p3');
    assert.equal(del.status, 200);
    await waitFor('p3 gone', async () => runners('p3').length === 0, 10_000);
    for (const n of nodes) assert.equal((await n.api('GET', '/api/v3/process/p3')).status, 404);
    assert.equal((await placements(redis.url))['p3'], undefined);
  });

  test('explicit node: placed there; an offline node is refused', async () => {
    const [a] = nodes as [DrakeNode];
    const res = await a.api('POST', '/api/v3/process', markedProcess('pinned', { node: 'node-c' }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await placements(redis.url))['pinned']!.node, 'node-c');
    await waitFor('pinned runs on c', async () => JSON.stringify(runners('pinned')) === '["node-c"]', 10_000);
    const off = await a.api<{ details: string[] }>('POST', '/api/v3/process', markedProcess('nowhere', { node: 'node-z' }));
    assert.equal(off.status, 400);
    assert.match(off.body.details.join(), /node node-z is not online/);
    assert.equal((await a.api('GET', '/api/v3/process/nowhere')).status, 404);
  });

  test('a forged forwarding mark is refused', async () => {
    const [a] = nodes as [DrakeNode];
    const res = await a.api<{ message: string }>('DELETE', '/api/v3/process/p2', undefined, {
      'x-drake-forwarded-by': 'node-b',
      'x-drake-forwarded-at': String(Date.now()),
      'x-drake-forwarded-body': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-drake-forwarded-sig': 'f'.repeat(64),
    });
    assert.equal(res.status, 401);
    assert.match(res.body.message, /bad forwarding signature/);
    assert.equal((await a.api('GET', '/api/v3/process/p2')).status, 200);
  });
});
