// cluster: three drake nodes on one Redis (all on this box), one WebRTC process placed by load on a
// node (A). Measured: what the WHEP redirect adds to a join (POST to another node B → 307 → A, against
// POST to A),
// and failover: node A killed with SIGKILL → the process running on another node (its state says so,
// FFmpeg making frames) → a new viewer that POSTs to a surviving node gets video. The edge relay (a node
// serving a stream it does not run) is not built yet, so nothing here measures a relay hop.
import { startNodes, type DrakeNode } from '../../test/helpers/drakeNodes.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { webrtcProcess } from '../../test/helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../../test/helpers/whepClient.ts';
import { fmt, table } from '../lib/report.ts';

export interface ClusterOptions {
  joins: number;
}

export interface JoinSample {
  via: 'direct' | 'redirect';
  /** POST → 201 (the redirect's extra round trip included), ms. */
  answerMs: number;
  /** POST → first video packet at the viewer, ms. */
  videoMs: number;
}

export interface ClusterResult {
  nodes: number;
  joins: JoinSample[];
  failover: {
    /** SIGKILL of the owner → another node reports the process running with frames, ms. */
    runningMs: number | null;
    /** SIGKILL → a new viewer that POSTs to a surviving node has video, ms. */
    videoMs: number | null;
    from: string;
    to: string | null;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PREFIX = 'bench';

async function firstVideo(url: string, timeoutMs: number): Promise<{ v: WhepViewer; answerMs: number; videoMs: number } | null> {
  const t0 = performance.now();
  const v = await whepView(url);
  const answerMs = performance.now() - t0;
  if (v.status !== 201) {
    await v.close();
    return null;
  }
  while (videoCount(v) === 0) {
    if (performance.now() - t0 > timeoutMs) {
      await v.close();
      return null;
    }
    await sleep(5);
  }
  return { v, answerMs, videoMs: performance.now() - t0 };
}

export async function runCluster(opts: ClusterOptions, log: (s: string) => void): Promise<ClusterResult> {
  const redis = await startRedis();
  const ids = ['node-a', 'node-b', 'node-c'];
  let nodes: DrakeNode[] = [];
  try {
    nodes = await startNodes(3, (i) => ({
      DRAKE_CLUSTER_ENABLE: 'true',
      DRAKE_CLUSTER_REDIS_URL: redis.url,
      DRAKE_CLUSTER_KEY_PREFIX: PREFIX,
      DRAKE_CLUSTER_NODE_ID: ids[i]!,
      DRAKE_LOG_LEVEL: 'warn',
    }));
    const first = nodes[0]!;
    for (let i = 0; i < 100; i++) {
      if ((await first.api<{ totals?: { online: number } }>('GET', '/api/v3/cluster')).body.totals?.online === 3) break;
      await sleep(100);
    }
    // Placed by load (not pinned: a process pinned to a node stays with it when that node is lost).
    const created = await first.api('POST', '/api/v3/process', webrtcProcess('cam'));
    if (created.status !== 200) throw new Error(`cluster bench: create failed: ${created.status} ${JSON.stringify(created.body)}`);
    const ownerId = await runningOn(first, null);
    if (!ownerId) throw new Error('cluster bench: no node reports the process running');
    const a = nodes[ids.indexOf(ownerId)]!;
    const b = nodes.find((n) => n !== a)!;
    log(`cluster: 3 nodes online, process cam placed on ${ownerId}; waiting for its media`);
    for (let i = 0; i < 300; i++) {
      const probe = await firstVideo(`${a.url}/whep/cam`, 3000);
      if (probe) {
        await probe.v.close();
        break;
      }
      await sleep(200);
    }

    const joins: JoinSample[] = [];
    for (let i = 0; i < opts.joins * 2; i++) {
      const via = i % 2 === 0 ? 'redirect' : 'direct';
      const r = await firstVideo(`${via === 'redirect' ? b.url : a.url}/whep/cam`, 10_000);
      if (r) {
        joins.push({ via, answerMs: r.answerMs, videoMs: r.videoMs });
        await r.v.close();
      }
      await sleep(200);
    }
    log(`cluster: ${joins.length} joins measured; killing node-a (SIGKILL)`);

    const killedAt = performance.now();
    await a.kill();
    let runningMs: number | null = null;
    let to: string | null = null;
    let videoMs: number | null = null;
    const deadline = killedAt + 30_000;
    let lastNote = '';
    while (performance.now() < deadline && (runningMs === null || videoMs === null)) {
      if (runningMs === null) {
        const s = await b.api<{ exec?: string; progress?: { frame?: number } }>('GET', '/api/v3/process/cam/state').catch(() => null);
        const note = `state ${s?.status} ${s?.body.exec} frame ${s?.body.progress?.frame}`;
        if (note !== lastNote) log(`cluster: ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill: ${(lastNote = note)}`);
        if (s?.status === 200 && s.body.exec === 'running' && (s.body.progress?.frame ?? 0) > 0) {
          runningMs = performance.now() - killedAt;
        }
      }
      if (videoMs === null) {
        const r = await firstVideo(`${b.url}/whep/cam`, 3000).catch(() => null);
        if (r) {
          videoMs = performance.now() - killedAt;
          await r.v.close();
        }
      }
      await sleep(100);
    }
    if (runningMs !== null) to = await runningOn(b, ownerId, 30);
    return { nodes: 3, joins, failover: { runningMs, videoMs, from: ownerId, to } };
  } finally {
    await Promise.all(nodes.map((n) => n.close().catch(() => undefined)));
    await redis.close();
  }
}

/** The node (other than `not`) whose heartbeat says it runs a process, polled for up to `tries` × 100 ms. */
async function runningOn(node: DrakeNode, not: string | null, tries = 100): Promise<string | null> {
  for (let i = 0; i < tries; i++) {
    const view = await node.api<{ nodes?: Array<{ id: string; state: string; load?: { running?: number } }> }>('GET', '/api/v3/cluster').catch(() => null);
    const found = (view?.body.nodes ?? []).find((n) => n.id !== not && n.state === 'online' && (n.load?.running ?? 0) > 0);
    if (found) return found.id;
    await sleep(100);
  }
  return null;
}

function pct(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function clusterTable(r: ClusterResult): string {
  const rows: Array<Array<string | number>> = [];
  for (const via of ['direct', 'redirect'] as const) {
    const js = r.joins.filter((j) => j.via === via);
    rows.push([
      via === 'direct' ? 'POST to the node that runs it' : 'POST to another node (307)',
      js.length,
      fmt(pct(js.map((j) => j.answerMs), 50), 0),
      fmt(pct(js.map((j) => j.answerMs), 95), 0),
      fmt(pct(js.map((j) => j.videoMs), 50), 0),
      fmt(pct(js.map((j) => j.videoMs), 95), 0),
    ]);
  }
  const joinsT = table(['join', 'joins', 'answer p50 ms', 'answer p95 ms', 'first video p50 ms', 'first video p95 ms'], rows);
  const f = r.failover;
  const failT = table(
    ['failover', 'from', 'to', 'kill → running elsewhere ms', 'kill → new viewer has video ms'],
    [['SIGKILL of the owner', f.from, f.to ?? '–', fmt(f.runningMs, 0), fmt(f.videoMs, 0)]],
  );
  return `${joinsT}\n\n${failT}`;
}
