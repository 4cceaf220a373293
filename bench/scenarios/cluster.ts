// cluster: three drake nodes on one Redis (all on this box), one WebRTC process placed by load on a
// node (A). Measured: what the WHEP redirect adds to a join (POST to another node B → 307 → A, against
// POST to A),
// the edge relay (a fourth node D in edge mode serves V viewers of A's stream from one relay, against
// the same V viewers on A itself: CPU per viewer on origin and edge, the relay's cost at the owner, and
// the latency the relay hop adds),
// and failover: node A killed with SIGKILL → the process running on another node (its state says so,
// FFmpeg making frames) → a new viewer that POSTs to a surviving node gets video.
import { startNode, startNodes, type DrakeNode } from '../../test/helpers/drakeNodes.ts';
import { LATENCY_BOUNDS_US, latencyPercentile } from '../../src/shared/latencyHistogram.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { spawn } from 'node:child_process';
import { RelayOut } from '../../src/actors/stream/RelayOut.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { webrtcProcess } from '../../test/helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../../test/helpers/whepClient.ts';
import { fmt, table } from '../lib/report.ts';
import { promSample } from '../../test/helpers/promText.ts';

export interface ClusterOptions {
  joins: number;
  /** Viewers in the origin and the edge phase (0: no edge phase). */
  edgeViewers: number;
  /** Measuring window of each edge-phase step, ms. */
  edgeWindowMs: number;
}

export interface EdgeResult {
  viewers: number;
  windowS: number;
  /** CPU of the node processes (all their threads; FFmpeg is a child of its own), in % of one core. */
  ownerIdlePct: number;
  ownerWithViewersPct: number;
  ownerRelayingPct: number;
  edgeIdlePct: number;
  edgeWithViewersPct: number;
  /** After the edge viewers left, within the linger: the relay runs, nobody watches. */
  ownerRelayOnlyPct: number;
  edgeRelayOnlyPct: number;
  /** Origin: (with viewers − idle) / viewers; edge: (with viewers − relay only) / viewers; % of one core. */
  originPerViewerPct: number;
  edgePerViewerPct: number;
  /** What one relay costs: owner relay-only − idle; edge relay-only − idle (its stream worker, receive, ring, GOP). */
  relayOwnerPct: number;
  relayEdgePct: number;
  /** Server-added latency per viewer-packet: on A from A's ingest, on D from A's ingest (the relay hop included); bucket upper bounds, µs. */
  originP50Us: number | null;
  originP99Us: number | null;
  edgeP50Us: number | null;
  edgeP99Us: number | null;
  /** The relay hop alone (A's ingest stamp → arrival at D), µs. */
  hopP50Us: number | null;
  hopP99Us: number | null;
  /** Packets A ingested and relayed in the window, what D received, and relay loss (sequence gaps). */
  ingested: number;
  relayed: number;
  received: number;
  lost: number;
  /** The owner's send step alone (RelayOut.send: frame copy + one UDP send), CPU µs per packet, to a receiver in another process. */
  relaySendUs: number | null;
  relaySendPackets: number;
  relaySendReceived: number;
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
  edge: EdgeResult | null;
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
    log(`cluster: ${joins.length} joins measured`);
    const edge = opts.edgeViewers > 0 ? await measureEdge(redis.url, a, opts, log) : null;
    log(`cluster: killing ${ownerId} (SIGKILL)`);

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
    return { nodes: 3, joins, failover: { runningMs, videoMs, from: ownerId, to }, edge };
  } finally {
    await Promise.all(nodes.map((n) => n.close().catch(() => undefined)));
    await redis.close();
  }
}

const metric = promSample;

/** A latency histogram's bucket counts from /metrics (le_us labels, in bound order). */
function buckets(text: string, name: string, process: string): number[] {
  return [...LATENCY_BOUNDS_US.map(String), '+Inf'].map((le) => metric(text, name, { process, le_us: le }));
}

function pctOf(before: number[], after: number[], p: number): number | null {
  const d = after.map((n, i) => n - (before[i] ?? 0));
  return d.some((n) => n > 0) ? latencyPercentile(d, p) : null;
}

const scrape = async (n: DrakeNode) => (await fetch(`${n.url}/metrics`)).text();

/** CPU of each node process over a window, % of one core. */
async function cpuOver(pids: number[], ms: number): Promise<number[]> {
  const c0 = pids.map((p) => cpuSeconds(p) ?? 0);
  const t0 = performance.now();
  await sleep(ms);
  const dt = (performance.now() - t0) / 1000;
  return pids.map((p, i) => (((cpuSeconds(p) ?? 0) - c0[i]!) / dt) * 100);
}

async function viewersWithVideo(url: string, n: number): Promise<WhepViewer[]> {
  const vs: WhepViewer[] = [];
  for (let i = 0; i < n; i++) vs.push(await whepView(url));
  const t0 = performance.now();
  while (vs.some((v) => videoCount(v) === 0) && performance.now() - t0 < 15_000) await sleep(50);
  const bad = vs.filter((v) => v.status !== 201 || videoCount(v) === 0).length;
  if (bad) {
    await Promise.all(vs.map((v) => v.close()));
    throw new Error(`cluster bench: ${bad} of ${n} viewers on ${url} got no video`);
  }
  return vs;
}

async function leave(vs: WhepViewer[]): Promise<void> {
  await Promise.all(vs.map(async (v) => {
    if (v.sessionUrl) await fetch(v.sessionUrl, { method: 'DELETE' }).catch(() => undefined);
    await v.close();
  }));
}

/** CPU of RelayOut.send per packet (1200-byte RTP, one edge), to a UDP receiver in a child process over loopback. */
async function relaySendCost(n = 30_000): Promise<{ us: number | null; sent: number; received: number }> {
  const rx = spawn(process.execPath, ['-e', "const s=require('dgram').createSocket({type:'udp4',recvBufferSize:8<<20});let n=0;s.on('message',()=>n++);s.bind(0,'127.0.0.1',()=>console.log(s.address().port));process.on('SIGTERM',()=>{console.log('n='+n);process.exit(0)})"], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  rx.stdout.on('data', (c) => (out += c));
  const t0 = performance.now();
  while (!/^\d+\n/.test(out) && performance.now() - t0 < 5000) await sleep(20);
  const port = Number(out.split('\n')[0]);
  if (!port) {
    rx.kill('SIGKILL');
    return { us: null, sent: 0, received: 0 };
  }
  const relay = new RelayOut();
  relay.hold({ node: 'bench', host: '127.0.0.1', port, token: '0123456789abcdef', leaseMs: 60_000 }, () => []);
  const pkt = Buffer.alloc(1200, 7);
  pkt[0] = 0x80;
  pkt[1] = 96;
  const c0 = process.cpuUsage();
  // In bursts of 100 with a turn of the event loop between them: the sends complete there, as they do
  // between packets in a stream worker.
  for (let i = 0; i < n; i++) {
    pkt.writeUInt16BE(i & 0xffff, 2);
    relay.send('video', pkt, Date.now());
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  const c = process.cpuUsage(c0);
  relay.close();
  await sleep(300);
  rx.kill('SIGTERM');
  await new Promise((r) => rx.once('exit', r));
  const received = Number(/n=(\d+)/.exec(out)?.[1] ?? 0);
  return { us: (c.user + c.system) / n, sent: n, received };
}

/**
 * Edge phase: an extra node D in edge mode. Idle window (A runs the stream, nobody watches), then V
 * viewers on A (origin), then V viewers on D (edge: one relay A → D). D leaves afterwards, so the
 * failover below runs on the three nodes as before.
 */
async function measureEdge(redisUrl: string, a: DrakeNode, opts: ClusterOptions, log: (s: string) => void): Promise<EdgeResult> {
  const d = await startNode('d', {
    env: {
      DRAKE_CLUSTER_ENABLE: 'true',
      DRAKE_CLUSTER_REDIS_URL: redisUrl,
      DRAKE_CLUSTER_KEY_PREFIX: PREFIX,
      DRAKE_CLUSTER_NODE_ID: 'node-d',
      DRAKE_CLUSTER_WHEP_MODE: 'edge',
      DRAKE_LOG_LEVEL: 'warn',
    },
  });
  try {
    for (let i = 0; i < 100; i++) {
      if ((await d.api<{ totals?: { online: number } }>('GET', '/api/v3/cluster')).body.totals?.online === 4) break;
      await sleep(100);
    }
    const V = opts.edgeViewers;
    const w = opts.edgeWindowMs;
    const pids = [a.pid!, d.pid!];
    // The joins' last sessions are still closing on A: let them go before the idle window.
    await sleep(3000);
    log(`cluster edge: idle window (${w / 1000} s)`);
    const [ownerIdle, edgeIdle] = await cpuOver(pids, w);

    log(`cluster edge: ${V} viewers on the owner`);
    const onA = await viewersWithVideo(`${a.url}/whep/cam`, V);
    await sleep(1000);
    const a0 = await scrape(a);
    const [ownerWith] = await cpuOver(pids, w);
    const a1 = await scrape(a);
    await leave(onA);
    await sleep(3000);

    log(`cluster edge: ${V} viewers on the edge node-d`);
    const onD = await viewersWithVideo(`${d.url}/whep/cam`, V);
    await sleep(1000);
    const [e0, r0] = await Promise.all([scrape(d), scrape(a)]);
    const [ownerRelaying, edgeWith] = await cpuOver(pids, w);
    const [e1, r1] = await Promise.all([scrape(d), scrape(a)]);
    await leave(onD);
    // Within the edge's linger (30 s by default) the relay still runs with nobody watching.
    await sleep(3000);
    log(`cluster edge: relay with no viewers (linger)`);
    const [ownerRelayOnly, edgeRelayOnly] = await cpuOver(pids, w);

    const lat = 'drake_whep_latency_viewer_packets_total';
    const la0 = buckets(a0, lat, 'cam');
    const la1 = buckets(a1, lat, 'cam');
    const le0 = buckets(e0, lat, 'cam');
    const le1 = buckets(e1, lat, 'cam');
    const h0 = buckets(e0, 'drake_edge_relay_hop_packets_total', 'cam');
    const h1 = buckets(e1, 'drake_edge_relay_hop_packets_total', 'cam');
    const diff = (x: string, y: string, name: string, labels: Record<string, string>) => metric(y, name, labels) - metric(x, name, labels);
    const send = await relaySendCost();
    return {
      viewers: V,
      windowS: w / 1000,
      ownerIdlePct: ownerIdle!,
      ownerWithViewersPct: ownerWith!,
      ownerRelayingPct: ownerRelaying!,
      edgeIdlePct: edgeIdle!,
      edgeWithViewersPct: edgeWith!,
      ownerRelayOnlyPct: ownerRelayOnly!,
      edgeRelayOnlyPct: edgeRelayOnly!,
      originPerViewerPct: (ownerWith! - ownerIdle!) / V,
      edgePerViewerPct: (edgeWith! - edgeRelayOnly!) / V,
      relayOwnerPct: ownerRelayOnly! - ownerIdle!,
      relayEdgePct: edgeRelayOnly! - edgeIdle!,
      originP50Us: pctOf(la0, la1, 50),
      originP99Us: pctOf(la0, la1, 99),
      edgeP50Us: pctOf(le0, le1, 50),
      edgeP99Us: pctOf(le0, le1, 99),
      hopP50Us: pctOf(h0, h1, 50),
      hopP99Us: pctOf(h0, h1, 99),
      ingested: diff(r0, r1, 'drake_rtp_ingest_packets_total', { process: 'cam' }),
      relayed: diff(r0, r1, 'drake_relay_out_packets_total', { process: 'cam', edge: 'node-d' }),
      received: diff(e0, e1, 'drake_edge_relay_packets_total', { process: 'cam' }),
      lost: diff(e0, e1, 'drake_edge_relay_lost_total', { process: 'cam' }),
      relaySendUs: send.us,
      relaySendPackets: send.sent,
      relaySendReceived: send.received,
    };
  } finally {
    await d.close().catch(() => undefined);
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
  const e = r.edge;
  if (!e) return `${joinsT}\n\n${failT}`;
  const us = (n: number | null) => (n === null ? '–' : Number.isFinite(n) ? `≤ ${n}` : '> 500000');
  const edgeT = table(
    ['viewers on', 'viewers', 'CPU idle %', 'CPU relay only %', 'CPU with viewers %', 'CPU per viewer % of a core', 'relay cost % of a core', 'latency p50 µs', 'latency p99 µs'],
    [
      ['owner A (origin)', e.viewers, fmt(e.ownerIdlePct), fmt(e.ownerRelayOnlyPct), fmt(e.ownerWithViewersPct), fmt(e.originPerViewerPct, 2), fmt(e.relayOwnerPct, 2), us(e.originP50Us), us(e.originP99Us)],
      ['edge D (relay from A)', e.viewers, fmt(e.edgeIdlePct), fmt(e.edgeRelayOnlyPct), fmt(e.edgeWithViewersPct), fmt(e.edgePerViewerPct, 2), fmt(e.relayEdgePct, 2), us(e.edgeP50Us), us(e.edgeP99Us)],
    ],
  );
  const hopT = table(
    ['relay hop', 'A ingested', 'A relayed to D', 'D received', 'lost (seq gaps)', 'hop p50 µs', 'hop p99 µs'],
    [['A → D (loopback UDP)', e.ingested, e.relayed, e.received, e.lost, us(e.hopP50Us), us(e.hopP99Us)]],
  );
  const sendT = table(
    ['relay send step (owner side, in-process)', 'packets', 'received by the other process', 'CPU µs per packet'],
    [['RelayOut.send, 1200-byte RTP, one edge, loopback UDP', e.relaySendPackets, e.relaySendReceived, fmt(e.relaySendUs, 2)]],
  );
  return `${joinsT}\n\n${edgeT}\n\n${hopT}\n\n${sendT}\n\n${failT}`;
}
