// What operators watch: Prometheus /metrics, /api/v3/metrics (JSON), /api/v3/session[/active]
// (WHEP and HLS viewers, the ingest servers' publishers and players), /api/v3/log (drake's own recent log).
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import type { Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { metricsQuerySchema } from '../../shared/apiSchemas.ts';
import { ValidationError } from '../../shared/errors.ts';
import type { SessionSource } from '../../shared/ingestSessions.ts';
import type { WhepSessionDto } from '../../shared/protocol.ts';
import { recentLog } from '../../shared/log.ts';
import { readJson } from '../body.ts';
import { json, text, type Request, type Route } from '../http.ts';
import type { HttpSessions } from '../HttpSessions.ts';
import { CORE_METRIC_NAMES, toSeries, type CoreMonitor } from '../coreMetrics.ts';
import { collectMetrics, type HttpStats } from '../metrics.ts';

/** A metrics query names at most 1000 metrics: 64 KiB is plenty. */
const METRICS_QUERY_MAX_BYTES = 64 * 1024;

export function observeRoutes(
  sup: Supervisor,
  http: HttpStats,
  hls: HttpSessions,
  startedAt: Date,
  monitor: CoreMonitor,
  cluster: () => ClusterNode | null = () => null,
  ingest: () => SessionSource[] = () => [],
  whepOfPublished: () => Promise<Array<{ name: string; sessions: WhepSessionDto[] }>> = async () => [],
): Route[] {
  const uptime = () => (Date.now() - startedAt.getTime()) / 1000;
  const collect = async () => {
    const [snap, runtime, edges] = await Promise.all([sup.snapshot(), sup.runtime(), cluster()?.edges.snapshot() ?? []]);
    return collectMetrics(snap, http.all(), uptime(), hls.summary(), runtime, edges);
  };
  const hlsActive = (now: number) =>
    hls.active().map((s) => ({
      id: s.id,
      // Core's HLS reference is the playlist's name (/memfs/abc.m3u8 → abc): Restreamer UI counts a
      // channel's viewers by `reference.startsWith(<channel id>)`. The directory read is in `local`.
      reference: s.name,
      created_at: s.created_at,
      local: s.reference,
      remote: s.remote,
      extra: `${s.requests} requests`,
      bytes_rx: 0,
      bytes_tx: s.bytes_tx,
      bandwidth_rx_kbit: 0,
      bandwidth_tx_kbit: (s.bytes_tx * 8) / 1000 / Math.max(1, now - s.created_at),
    }));
  return [
    {
      method: 'get',
      pattern: '/metrics',
      summary: 'Prometheus text: process states, CPU, memory, FFmpeg progress, WHEP viewers and traffic, HTTP',
      handler: async () => text(200, (await collect()).text(), 'text/plain; version=0.0.4; charset=utf-8'),
    },
    {
      method: 'get',
      pattern: '/api/v3/metrics',
      summary: "The metrics /api/v3/metrics answers: Core's (cpu_*, mem_*, filesystem_*, session_*, ffmpeg_process, uptime_uptime) and drake's drake_*, as [{name, description, labels}]",
      // The list of metrics does not depend on their values: no need to ask every stream actor.
      handler: () => {
        const drake = collectMetrics([], [], 0, { active: 0, total: 0, traffic_tx_mb: 0 }).descriptions().map(({ name, description, labels }) => ({ name, description, labels }));
        return json(200, [...monitor.descriptions(), ...drake].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
      },
    },
    {
      method: 'post',
      pattern: '/api/v3/metrics',
      body: true,
      maxBodyBytes: METRICS_QUERY_MAX_BYTES,
      summary: "Query metrics as Core: {timerange_sec, interval_sec, metrics:[{name, labels}]} → series of [unix_ts, value]; timerange_sec 0: the current values",
      handler: async (req) => {
        const parsed = metricsQuerySchema.safeParse(readJson(req));
        if (!parsed.success) throw new ValidationError('Invalid JSON', parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
        const q = parsed.data;
        const core = q.metrics.filter((m) => CORE_METRIC_NAMES.has(m.name));
        const own = q.metrics.filter((m) => m.name.startsWith('drake_'));
        const points = q.timerange_sec === 0 ? [monitor.current()] : monitor.history(q.timerange_sec, q.interval_sec);
        const metrics = toSeries(points, core);
        if (own.length) {
          // drake's own families keep no history: their current value, whatever the timerange.
          const now = Math.floor(Date.now() / 1000);
          metrics.push(...toSeries([{ ts: now, values: (await collect()).values() }], own));
        }
        // As Core: the monitor's resolution, not the query's.
        return json(200, { timerange_sec: monitor.rangeSec, interval_sec: monitor.intervalSec, metrics });
      },
    },
    {
      method: 'get',
      pattern: '/api/v3/session',
      summary: 'Sessions per protocol (whep, hls; rtmp, srt, whip when those ingests run; ?collectors= picks, as Core): active count, bandwidth, per-process/per-stream totals',
      handler: async (req) => {
        const snap = await sup.snapshot();
        const all = snap.flatMap((p) => p.sessions);
        const bytes = snap.reduce((n, p) => n + (p.whep?.bytes ?? 0), 0);
        const now = Date.now() / 1000;
        const bandwidth = all.reduce((n, s) => n + (s.bytes_tx * 8) / Math.max(1, now - s.created_at), 0) / 1e6;
        const reference: Record<string, number> = {};
        for (const p of snap) if (p.whep) reference[p.id] = p.whep.viewers;
        const h = hlsActive(now);
        const hlsReference: Record<string, number> = {};
        for (const s of h) hlsReference[s.reference] = (hlsReference[s.reference] ?? 0) + 1;
        const hlsSummary = hls.summary();
        const summaries: Record<string, SessionSummary> = {
          whep: {
            active: { ...emptyActive(), list: all.map((s) => s.id), sessions: all.length, bandwidth_tx_mbit: bandwidth, max_sessions: sup.maxViewersTotal },
            summary: { ...emptySummary(), reference, sessions: all.length, traffic_tx_mb: bytes / 1e6 },
          },
          hls: {
            active: { ...emptyActive(), list: h.map((s) => s.id), sessions: h.length, bandwidth_tx_mbit: h.reduce((n, s) => n + s.bandwidth_tx_kbit, 0) / 1000 },
            summary: { ...emptySummary(), reference: hlsReference, sessions: hlsSummary.total, traffic_tx_mb: hlsSummary.traffic_tx_mb },
          },
        };
        for (const src of ingest()) {
          const list = await src.sessions(now);
          const t = src.totals();
          const ref: Record<string, number> = {};
          for (const x of list) ref[x.reference] = (ref[x.reference] ?? 0) + 1;
          summaries[src.collector] = {
            active: {
              ...emptyActive(),
              list: list.map((x) => x.id),
              sessions: list.length,
              bandwidth_rx_mbit: list.reduce((n, x) => n + x.bandwidth_rx_kbit, 0) / 1000,
              bandwidth_tx_mbit: list.reduce((n, x) => n + x.bandwidth_tx_kbit, 0) / 1000,
              max_sessions: src.maxSessions,
            },
            summary: { ...emptySummary(), reference: ref, sessions: t.sessions, traffic_rx_mb: t.bytesRx / 1e6, traffic_tx_mb: t.bytesTx / 1e6 },
          };
        }
        return json(200, byCollector(req.query.get('collectors'), summaries, () => ({ active: emptyActive(), summary: emptySummary() })));
      },
    },
    {
      method: 'get',
      pattern: '/api/v3/session/active',
      summary: 'Active sessions per protocol (whep, hls; rtmp, srt, whip when those ingests run; ?collectors= picks, as Core): id, reference (the process; for HLS the playlist name, its directory in local; the stream), remote address, bytes, average bandwidth',
      handler: async (req) => {
        const now = Date.now() / 1000;
        // Viewers this node serves as a cluster edge are listed with the process they watch.
        const snap = [...(await sup.snapshot()), ...((await cluster()?.edges.snapshot()) ?? [])];
        const lists: Record<string, unknown[]> = {
          hls: hlsActive(now),
          whep: snap.flatMap((p) => p.sessions.map((x) => whepEntry(x, p.id, now))),
        };
        for (const src of ingest()) lists[src.collector] = await src.sessions(now);
        // Viewers of streams published over WHIP are WHEP sessions too (reference whip:<name>).
        for (const { name, sessions } of await whepOfPublished()) lists.whep!.push(...sessions.map((x) => whepEntry(x, `whip:${name}`, now)));
        const here = byCollector(req.query.get('collectors'), lists, () => []);
        return json(200, await withOtherNodes(cluster(), req, here));
      },
    },
    {
      method: 'get',
      pattern: '/api/v3/log',
      summary: "drake's own recent log (?format=console, default, or raw)",
      handler: (req) => {
        const entries = recentLog();
        if (req.query.get('format') === 'raw') return json(200, entries.map((e) => ({ ts: new Date(e.ts).toISOString(), level: e.level, component: e.component, message: e.message })));
        return json(200, entries.map((e) => `${new Date(e.ts).toISOString()} ${e.level} [${e.component}] ${e.message}`));
      },
    },
  ];
}

/** A WHEP viewer in Core's session shape, with drake's additions (what the viewer's RTCP says). */
function whepEntry(s: WhepSessionDto, reference: string, now: number) {
  return {
    id: s.id,
    reference,
    created_at: s.created_at,
    local: '',
    remote: s.remote,
    extra: s.connected ? 'connected' : 'connecting',
    bytes_rx: 0,
    bytes_tx: s.bytes_tx,
    bandwidth_rx_kbit: 0,
    bandwidth_tx_kbit: (s.bytes_tx * 8) / 1000 / Math.max(1, now - s.created_at),
    nacks: s.nacks,
    plis: s.plis,
    plis_ignored: s.plis_ignored,
    bursts: s.bursts,
    rtt_ms: s.rtt_ms,
    fraction_lost: s.fraction_lost,
    rtcp_rx: s.rtcp_rx,
    rtcp_dropped: s.rtcp_dropped,
  };
}

/** Core's session summary of one collector (drake fills what it measures; rx is always 0: viewers only receive). */
interface SessionSummary {
  active: ReturnType<typeof emptyActive> & { list: string[] };
  summary: ReturnType<typeof emptySummary>;
}

function emptyActive() {
  return { list: [] as string[], sessions: 0, bandwidth_rx_mbit: 0, bandwidth_tx_mbit: 0, max_sessions: 0, max_bandwidth_rx_mbit: 0, max_bandwidth_tx_mbit: 0 };
}

function emptySummary() {
  return { remote: {} as Record<string, unknown>, local: {} as Record<string, unknown>, reference: {} as Record<string, unknown>, sessions: 0, traffic_rx_mb: 0, traffic_tx_mb: 0 };
}

/**
 * `?collectors=a,b` as Core answers it: exactly the named collectors, a name drake does not have (rtmp, srt,
 * …) with an empty entry. Without the parameter drake lists all of its own (Core would list one empty "").
 */
function byCollector<T>(raw: string | null, all: Record<string, T>, empty: () => T): Record<string, T> {
  if (raw === null) return all;
  const out: Record<string, T> = {};
  for (const name of raw.split(',').map((n) => n.trim()).slice(0, 32)) {
    if (name === '' || name === '__proto__') continue;
    out[name] = Object.hasOwn(all, name) ? all[name]! : empty();
  }
  return out;
}

/**
 * A cluster node lists the sessions of every online node, each entry with the `node` that serves it: the
 * other nodes are asked with one signed hop (their answer is their own sessions only). A node that does not
 * answer in time is left out. Without a cluster, or for a forwarded request, the local list as it is.
 */
async function withOtherNodes(node: ClusterNode | null, req: Request, here: Record<string, unknown[]>): Promise<Record<string, unknown[]>> {
  if (!node) return here;
  const q = req.query.toString();
  const pathAndQuery = q ? `${req.url}?${q}` : req.url;
  const tag = (list: unknown[], id: string) => list.map((e) => (e && typeof e === 'object' ? { ...e, node: id } : e));
  const out: Record<string, unknown[]> = {};
  for (const [k, list] of Object.entries(here)) out[k] = tag(list, node.id);
  if (node.checkForward(req.method, pathAndQuery, req.headers) !== null || !node.connected) return out;
  const view = await node.view().catch(() => null);
  const others = (view?.nodes ?? []).filter((n) => n.id !== node.id && n.state === 'online' && n.advertise_url);
  const answers = await Promise.all(
    others.map(async (n) => {
      try {
        const r = await node.forward(n.id, n.advertise_url, 'get', pathAndQuery, Buffer.alloc(0));
        return r.status === 200 ? { id: n.id, body: JSON.parse(r.body.toString()) as unknown } : null;
      } catch {
        return null;
      }
    }),
  );
  for (const a of answers) {
    if (!a || !a.body || typeof a.body !== 'object') continue;
    for (const [k, list] of Object.entries(a.body as Record<string, unknown>)) {
      if (Array.isArray(list) && Object.hasOwn(out, k)) out[k] = [...out[k]!, ...tag(list, a.id)];
    }
  }
  return out;
}
