// Prometheus text exposition of drake's state, built per scrape from one supervisor snapshot plus
// the gateway's own HTTP counters. Names are drake_*; labels never carry a viewer id.
import type { ProcessSnapshot } from '../actors/supervisor/Supervisor.ts';
import { EXEC_STATES } from '../shared/processConfig.ts';
import type { RuntimeDto } from '../shared/runtime.ts';
import type { WhepStatsDto } from '../shared/protocol.ts';

export interface HttpCounter {
  method: string;
  route: string;
  code: number;
  count: number;
  seconds: number;
}

/** Requests by route pattern (not URL: bounded label values) and status. */
export class HttpStats {
  readonly #counters = new Map<string, HttpCounter>();

  record(method: string, route: string, code: number, seconds: number): void {
    const key = `${method} ${route} ${code}`;
    let c = this.#counters.get(key);
    if (!c) {
      c = { method, route, code, count: 0, seconds: 0 };
      this.#counters.set(key, c);
    }
    c.count++;
    c.seconds += seconds;
  }

  all(): HttpCounter[] {
    return [...this.#counters.values()];
  }
}

export interface MetricDescription {
  name: string;
  type: 'gauge' | 'counter';
  description: string;
  labels: string[];
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export class MetricSet {
  readonly #metrics = new Map<string, { desc: MetricDescription; samples: Sample[] }>();

  describe(name: string, type: MetricDescription['type'], description: string, labels: string[]): void {
    this.#metrics.set(name, { desc: { name, type, description, labels }, samples: [] });
  }

  add(name: string, labels: Record<string, string>, value: number): void {
    const m = this.#metrics.get(name);
    if (!m) throw new Error(`metric ${name} is not described`);
    if (Number.isFinite(value)) m.samples.push({ labels, value });
  }

  descriptions(): MetricDescription[] {
    return [...this.#metrics.values()].map((m) => m.desc);
  }

  values(): Array<{ name: string; labels: Record<string, string>; value: number }> {
    return [...this.#metrics.values()].flatMap((m) => m.samples.map((s) => ({ name: m.desc.name, ...s })));
  }

  text(): string {
    const out: string[] = [];
    for (const { desc, samples } of this.#metrics.values()) {
      out.push(`# HELP ${desc.name} ${desc.description}`, `# TYPE ${desc.name} ${desc.type}`);
      for (const s of samples) {
        const labels = Object.entries(s.labels)
          .map(([k, v]) => `${k}="${escape(v)}"`)
          .join(',');
        out.push(`${desc.name}${labels ? `{${labels}}` : ''} ${s.value}`);
      }
    }
    return `${out.join('\n')}\n`;
  }
}

/** An edge stream of this node (cluster): served here from a relay of its owner's RTP. */
export interface EdgeSnapshot {
  id: string;
  owner: string | null;
  whep: WhepStatsDto | null;
}

export function collectMetrics(
  processes: ProcessSnapshot[],
  http: HttpCounter[],
  uptimeSeconds: number,
  hls: { active: number; total: number; traffic_tx_mb: number },
  runtime: RuntimeDto | null = null,
  edges: EdgeSnapshot[] = [],
): MetricSet {
  const m = new MetricSet();
  m.describe('drake_relay_out_edges', 'gauge', 'Cluster: edge nodes this node relays a process\'s RTP to (one copy per packet each)', ['process']);
  m.describe('drake_relay_out_packets_total', 'counter', 'Cluster: RTP packets relayed to an edge node (since that relay started)', ['process', 'edge']);
  m.describe('drake_edge_viewers', 'gauge', 'Cluster: WHEP viewers this node serves from a relay of another node\'s process', ['process', 'owner']);
  m.describe('drake_edge_relay_packets_total', 'counter', 'Cluster: RTP packets this edge received over its relay', ['process', 'media']);
  m.describe('drake_edge_relay_lost_total', 'counter', 'Cluster: sequence gaps in the relay (packets lost between the nodes)', ['process', 'media']);
  m.describe('drake_edge_relay_hop_packets_total', 'counter', "Cluster: relayed packets by the time from the owner's ingest to arrival at this edge, per bucket (le_us: its upper bound in µs, +Inf last; not cumulative)", ['process', 'le_us']);
  m.describe('drake_whep_latency_viewer_packets_total', 'counter', "Viewer-packets by server-added latency (arrival at drake → hand-off to the viewer's socket; on an edge from the owner's ingest), per bucket (le_us: its upper bound in µs, +Inf last; not cumulative)", ['process', 'le_us']);
  const buckets = (name: string, process: string, l: WhepStatsDto['latency']) => {
    if (!l) return;
    l.counts.forEach((n, i) => m.add(name, { process, le_us: i < l.bounds_us.length ? String(l.bounds_us[i]) : '+Inf' }, n));
  };
  for (const e of edges) {
    const process = e.id;
    m.add('drake_edge_viewers', { process, owner: e.owner ?? '' }, e.whep?.viewers ?? 0);
    buckets('drake_whep_latency_viewer_packets_total', process, e.whep?.latency ?? null);
    const r = e.whep?.relay?.in;
    if (!r) continue;
    buckets('drake_edge_relay_hop_packets_total', process, r.hop);
    for (const media of ['video', 'audio'] as const) {
      m.add('drake_edge_relay_packets_total', { process, media }, r[media].packets);
      m.add('drake_edge_relay_lost_total', { process, media }, r[media].lost);
    }
  }
  m.describe('drake_uptime_seconds', 'gauge', 'Seconds since drake started', []);
  m.describe('drake_process_state', 'gauge', '1 for the exec state each process is in', ['process', 'state']);
  m.describe('drake_process_order', 'gauge', '1 when the process is meant to run (order start)', ['process']);
  m.describe('drake_process_cpu_percent', 'gauge', 'CPU of the FFmpeg child in % of all cores', ['process']);
  m.describe('drake_process_memory_bytes', 'gauge', 'Resident memory of the FFmpeg child', ['process']);
  m.describe('drake_process_frames', 'gauge', 'Frames FFmpeg reported in the current run', ['process']);
  m.describe('drake_process_fps', 'gauge', 'Frames per second FFmpeg reports', ['process']);
  m.describe('drake_process_speed', 'gauge', 'FFmpeg speed (1 = real time)', ['process']);
  m.describe('drake_process_time_seconds', 'gauge', 'Media time FFmpeg reports in the current run', ['process']);
  m.describe('drake_process_size_kbytes', 'gauge', 'Output size FFmpeg reports in the current run', ['process']);
  m.describe('drake_process_bitrate_kbit', 'gauge', 'Output bitrate FFmpeg reports', ['process']);
  m.describe('drake_process_drop_frames', 'gauge', 'Dropped frames in the current run', ['process']);
  m.describe('drake_process_dup_frames', 'gauge', 'Duplicated frames in the current run', ['process']);
  m.describe('drake_process_worker_crashes', 'gauge', 'Stream worker crashes within the last minute', ['process']);
  m.describe('drake_whep_viewers', 'gauge', 'WHEP viewers connected or connecting', ['process']);
  m.describe('drake_whep_sent_packets_total', 'counter', 'RTP packets sent to WHEP viewers', ['process']);
  m.describe('drake_whep_sent_bytes_total', 'counter', 'RTP bytes sent to WHEP viewers (before SRTP)', ['process']);
  m.describe('drake_whep_nacks_total', 'counter', 'NACK packets received from viewers', ['process']);
  m.describe('drake_whep_retransmits_total', 'counter', 'Packets re-sent for NACKs', ['process']);
  m.describe('drake_whep_plis_total', 'counter', 'PLI/FIR received from viewers', ['process']);
  m.describe('drake_whep_bursts_total', 'counter', 'Keyframe bursts sent (joins and PLIs)', ['process']);
  m.describe('drake_whep_plis_ignored_total', 'counter', 'PLI/FIR answered without a burst (viewer had the keyframe and lost nothing since, or over its repair budget)', ['process']);
  m.describe('drake_whep_gop_cache_packets', 'gauge', 'Packets in the GOP cache', ['process']);
  m.describe('drake_whep_port_datagrams_total', 'counter', 'datagrams that arrived at the shared viewer ports (kind: received, dropped = no viewer or an unauthenticated STUN request, kernel_dropped = the port\'s receive buffer was full)', ['process', 'kind']);
  m.describe('drake_whep_port_reads_total', 'counter', 'read callbacks of the shared viewer ports (reader: recvmmsg = one per batch of datagrams, dgram = one per datagram)', ['process', 'reader']);
  m.describe('drake_whep_stun_total', 'counter', 'STUN on the shared viewer ports (kind: answered = ICE-lite binding requests the port answered, sent = requests werift sent with full ICE)', ['process', 'kind']);
  m.describe('drake_whep_send_syscalls_total', 'counter', 'sendmmsg calls of batched sends on the shared port (kind: live fan-out, burst = join/PLI bursts and NACK answers)', ['process', 'kind']);
  m.describe('drake_whep_send_packets_total', 'counter', 'Packets the kernel took from batched sends on the shared port', ['process', 'kind']);
  m.describe('drake_whep_send_gso_packets_total', 'counter', 'Of those, packets that left in UDP GSO trains', ['process', 'kind']);
  m.describe('drake_rtp_ingest_packets_total', 'counter', 'RTP packets FFmpeg sent to drake', ['process', 'media']);
  m.describe('drake_rtp_ingest_dropped_total', 'counter', 'Packets on the RTP sockets that were not RTP (RTCP, garbage)', ['process', 'media']);
  m.describe('drake_rtp_ingest_kernel_dropped_total', 'counter', "Datagrams to the RTP sockets the kernel dropped because a socket's receive buffer was full (drake did not read fast enough)", ['process', 'media']);
  m.describe('drake_http_requests_total', 'counter', 'HTTP requests by route and status', ['method', 'route', 'code']);
  m.describe('drake_http_request_seconds_total', 'counter', 'Time spent answering, by route and status', ['method', 'route', 'code']);

  m.describe('drake_hls_sessions', 'gauge', 'HLS/HTTP viewers reading media from /memfs or /data now', []);
  m.describe('drake_hls_sessions_total', 'counter', 'HLS/HTTP viewer sessions since start', []);
  m.describe('drake_hls_sent_bytes_total', 'counter', 'Media bytes served to HLS/HTTP viewers', []);
  m.describe('drake_runtime_threads', 'gauge', 'JavaScript threads of drake: the main thread, one per stream actor, one per peer shard worker', []);
  m.describe('drake_runtime_heap_used_bytes', 'gauge', 'Live objects in the V8 heaps of all those threads', []);
  m.describe('drake_runtime_active_resources', 'gauge', 'Live event-loop resources of all those threads by type (timers, sockets, ports; process.getActiveResourcesInfo)', ['type']);
  m.add('drake_uptime_seconds', {}, uptimeSeconds);
  if (runtime) {
    m.add('drake_runtime_threads', {}, runtime.threads);
    m.add('drake_runtime_heap_used_bytes', {}, runtime.heapUsedBytes);
    for (const [type, n] of Object.entries(runtime.resources)) m.add('drake_runtime_active_resources', { type }, n);
  }
  m.add('drake_hls_sessions', {}, hls.active);
  m.add('drake_hls_sessions_total', {}, hls.total);
  m.add('drake_hls_sent_bytes_total', {}, hls.traffic_tx_mb * 1e6);
  for (const p of processes) {
    const process = p.id;
    const s = p.state;
    for (const state of EXEC_STATES) m.add('drake_process_state', { process, state }, s.exec === state ? 1 : 0);
    m.add('drake_process_order', { process }, s.order === 'start' ? 1 : 0);
    m.add('drake_process_cpu_percent', { process }, s.cpu_usage);
    m.add('drake_process_memory_bytes', { process }, s.memory_bytes);
    m.add('drake_process_frames', { process }, s.progress.frame);
    m.add('drake_process_fps', { process }, s.progress.fps);
    m.add('drake_process_speed', { process }, s.progress.speed);
    m.add('drake_process_time_seconds', { process }, s.progress.time);
    m.add('drake_process_size_kbytes', { process }, s.progress.size_kb);
    m.add('drake_process_bitrate_kbit', { process }, s.progress.bitrate_kbit);
    m.add('drake_process_drop_frames', { process }, s.progress.drop);
    m.add('drake_process_dup_frames', { process }, s.progress.dup);
    m.add('drake_process_worker_crashes', { process }, p.crashes);
    const w = p.whep;
    if (!w) continue;
    m.add('drake_whep_viewers', { process }, w.viewers);
    m.add('drake_whep_sent_packets_total', { process }, w.packets);
    m.add('drake_whep_sent_bytes_total', { process }, w.bytes);
    m.add('drake_whep_nacks_total', { process }, w.nacks);
    m.add('drake_whep_retransmits_total', { process }, w.retransmits);
    m.add('drake_whep_plis_total', { process }, w.plis);
    m.add('drake_whep_bursts_total', { process }, w.bursts);
    m.add('drake_whep_plis_ignored_total', { process }, w.plisIgnored);
    m.add('drake_whep_gop_cache_packets', { process }, w.gopPackets);
    buckets('drake_whep_latency_viewer_packets_total', process, w.latency);
    if (w.relay) {
      m.add('drake_relay_out_edges', { process }, w.relay.out.length);
      for (const r of w.relay.out) m.add('drake_relay_out_packets_total', { process, edge: r.node }, r.packets);
    }
    if (w.port) {
      m.add('drake_whep_port_datagrams_total', { process, kind: 'received' }, w.port.received);
      m.add('drake_whep_port_datagrams_total', { process, kind: 'dropped' }, w.port.dropped);
      m.add('drake_whep_port_datagrams_total', { process, kind: 'kernel_dropped' }, w.port.kernelDropped);
      m.add('drake_whep_port_reads_total', { process, reader: w.port.reader }, w.port.reads);
      m.add('drake_whep_stun_total', { process, kind: 'answered' }, w.port.stunAnswered);
      m.add('drake_whep_stun_total', { process, kind: 'sent' }, w.port.stunRequestsSent);
    }
    for (const kind of ['live', 'burst'] as const) {
      const c = w.send?.[kind];
      if (!c) continue;
      m.add('drake_whep_send_syscalls_total', { process, kind }, c.syscalls);
      m.add('drake_whep_send_packets_total', { process, kind }, c.packets);
      m.add('drake_whep_send_gso_packets_total', { process, kind }, c.gsoPackets);
    }
    for (const media of ['video', 'audio'] as const) {
      const c = w.ingest?.[media];
      if (!c) continue;
      m.add('drake_rtp_ingest_packets_total', { process, media }, c.packets);
      m.add('drake_rtp_ingest_dropped_total', { process, media }, c.dropped);
      m.add('drake_rtp_ingest_kernel_dropped_total', { process, media }, c.kernelDropped);
    }
  }
  for (const c of http) {
    const labels = { method: c.method, route: c.route, code: String(c.code) };
    m.add('drake_http_requests_total', labels, c.count);
    m.add('drake_http_request_seconds_total', labels, c.seconds);
  }
  return m;
}
