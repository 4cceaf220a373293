// Scenario cpu-per-viewer: what each viewer costs drake's process, on both send paths.
//
// Two drakes run side by side for the whole scenario, one per send path (webrtc.send_path drake /
// werift), each with its own identical source process (720p30 testsrc2 → H264 2 Mbit/s, 2 s GOP +
// Opus). For each level N the paths take turns (order alternating per level: drake, werift, then
// werift, drake, ...): only the turn's drake runs its FFmpeg (the other's process is stopped, so
// one switch per level), join N load viewers, wait until every viewer has video, settle, then read
// CPU over a fixed window from /proc: drake's node process (all threads: gateway, supervisor,
// stream actor with its peer shard), its FFmpeg child separately, the load generator (its
// cpuSeconds(): this process, plus the child processes of libwebrtc viewers) and the whole machine.
// Then the viewers leave and the next turn starts once drake counts no viewer. The idle drake's node
// process stays up (≈ 0 CPU). The whole level loop runs once per viewer kind (werift, then libwebrtc):
// a browser's RTCP (PLI ≈ 5/s when it cannot decode) costs drake more than werift's.
import os from 'node:os';
import { latencyPercentile } from '../../src/shared/latencyHistogram.ts';
import { busiestThread, childCpuDelta, type ProcSample } from '../lib/drakeChild.ts';
import type { LoadGenerator, ViewerKind } from '../lib/generator.ts';
import { machineCpu, udpCounters, udpDrops } from '../lib/proc.ts';
import { COLORS, fmt, lineChart, table, type Series } from '../lib/report.ts';
import { activate, SEND_PATHS, waitNoViewers, type BenchDrake, type SendPath } from '../lib/source.ts';
import type { ViewerCounters, ViewerResult } from '../loadViewer.ts';

export interface CpuOptions {
  levels: number[];
  windowMs: number;
  settleMs: number;
  joinConcurrency: number;
  /** The paths to measure (default SEND_PATHS; run.ts adds pion when it was built). */
  paths?: SendPath[];
}

export interface LevelResult {
  /** Who the load viewers were (see bench/README.md, viewer kinds). */
  viewerKind: ViewerKind;
  path: SendPath;
  viewers: number;
  /** Server-added latency in the window (arrival at drake's RTP socket → hand-off to a viewer's socket), bucket upper bounds in µs. */
  latencyP50Us: number | null;
  latencyP99Us: number | null;
  latencyP999Us: number | null;
  /** Viewers that got video (the per-viewer figures divide by this). */
  joined: number;
  joinFailed: number;
  /** POSTs that failed and were retried, by status (0: network error). */
  postFailures: Record<string, number>;
  joinWallMs: number;
  windowS: number;
  drakeCpuPct: number;
  /** drake's busiest thread (a stream's viewers share one thread: its single-core limit), % of one core, and whether it is the main thread. */
  drakeBusiestThreadPct: number;
  drakeBusiestIsMain: boolean;
  ffmpegCpuPct: number;
  generatorCpuPct: number;
  /** Whole machine, % of ONE core (so 200 = both cores of a 2-core box busy). */
  machineCpuPct: number;
  rssBeforeMiB: number;
  rssMiB: number;
  threads: number;
  /** Server side, during the window. */
  serverPackets: number;
  serverNacks: number;
  serverRetransmits: number;
  serverPlis: number;
  /** drake's shared-port live sends in the window: sendmmsg calls, viewer-packets, packets inside GSO trains (null: not that path). */
  liveSends: { syscalls: number; packets: number; gsoPackets: number } | null;
  /** Per viewer during the window (packets/s, video + audio). */
  pktPerSecMin: number | null;
  pktPerSecAvg: number | null;
  kbitPerSecAvg: number | null;
  starved: number;
  videoExpected: number;
  videoLost: number;
  videoDup: number;
  /** NACK packets the viewers sent in the window (both paths; drake's own NACK counters exist only on its path). */
  viewerNacks: number;
  /** PLIs the viewers sent in the window (libwebrtc viewers that cannot decode: ≈ 5/s each). */
  viewerPlis: number;
  /** UDP receive-buffer drops during the window on the generator's sockets / drake's sockets. */
  generatorUdpDrops: number;
  drakeUdpDrops: number;
  machineRcvbufErrors: number;
  /** The generator's sockets dropped more than 1 % of what the viewers received: it could not keep up, delivery figures are its limit. */
  generatorOverloaded: boolean;
  viewersAfter: number;
  /** 0 viewers: drake's CPU in each baseline window (% of one core); the row's figures are the median window's. */
  baselineWindowsPct?: number[];
  results?: Array<Omit<ViewerResult, 'postedAt'>>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Windows measured at 0 viewers; the median one is the baseline (see measure). */
const BASELINE_WINDOWS = 3;

interface Snap {
  proc: ProcSample;
  self: number;
  machine: { busy: number; total: number };
  udp: Record<string, number>;
  genDrops: number;
  drakeDrops: number;
  stats: Awaited<ReturnType<BenchDrake['stats']>>;
}

async function snap(d: BenchDrake, gen: LoadGenerator): Promise<Snap> {
  // /proc first (synchronous, same instant), then drake's own counters over IPC.
  const proc = d.child.sample();
  const self = gen.cpuSeconds();
  const machine = machineCpu();
  const udp = udpCounters();
  const genDrops = udpDrops(process.pid).drops;
  const drakeDrops = udpDrops(d.child.pid).drops;
  const stats = await d.stats();
  return { proc, self, machine, udp, genDrops, drakeDrops, stats };
}

async function measure(d: BenchDrake, gen: LoadGenerator, n: number, opts: CpuOptions, log: (s: string) => void): Promise<LevelResult> {
  await waitNoViewers(d);
  const rssBefore = d.child.sample().rss;
  const t0 = Date.now();
  const session = n > 0 ? gen.join(d.whepUrl, n, { joinTimeoutMs: 20_000, maxMs: 120_000 + n * 1000, joinConcurrency: opts.joinConcurrency, retries: 3 }) : null;
  let joined = { ok: 0, failed: 0 };
  if (session) {
    try {
      joined = await session.joined(30_000 + n * 600);
    } catch (err) {
      // The level is not measured; its viewers leave (or time out in drake) before anything else runs.
      await Promise.race([session.leave(), sleep(30_000)]);
      await waitNoViewers(d, 60_000);
      throw new Error(`joining ${n} viewers: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const joinWallMs = Date.now() - t0;
  await sleep(opts.settleMs);
  const marksA = session?.mark('start');
  let a = await snap(d, gen);
  const ca = (await marksA) ?? [];
  await sleep(opts.windowMs);
  const marksB = session?.mark('end');
  let b = await snap(d, gen);
  const cb = (await marksB) ?? [];
  // The 0-viewer baseline is what every per-viewer figure subtracts, and an idle drake's 10 s window now and
  // then catches a transient (a GC of the heap, a timer's sweep) worth 1–2 % of a core: the baseline is the
  // median of BASELINE_WINDOWS consecutive windows, the same for every path.
  let baselineWindowsPct: number[] | undefined;
  if (n === 0) {
    const windows: Array<[Snap, Snap]> = [[a, b]];
    for (let k = 1; k < BASELINE_WINDOWS; k++) {
      const prev = windows[k - 1]![1];
      await sleep(opts.windowMs);
      windows.push([prev, await snap(d, gen)]);
    }
    const cpu = ([x, y]: [Snap, Snap]) => (y.proc.drakeCpu - x.proc.drakeCpu) / (y.proc.at - x.proc.at);
    baselineWindowsPct = windows.map((w) => cpu(w) * 1000 * 100);
    [a, b] = [...windows].sort((u, v) => cpu(u) - cpu(v))[Math.floor(windows.length / 2)]!;
  }
  const results = session ? await session.leave() : [];
  const gone = await waitNoViewers(d, 20_000);
  const viewersAfter = gone ? 0 : (await d.stats()).viewers;

  const windowS = (b.proc.at - a.proc.at) / 1000;
  const pct = (sec: number) => (sec / windowS) * 100;
  const rates: number[] = [];
  let kbit = 0;
  let expected = 0;
  let unique = 0;
  let dup = 0;
  let nacks = 0;
  let plis = 0;
  let received = 0;
  const postFailures: Record<string, number> = {};
  for (const v of results) for (const st of v.failedStatuses) postFailures[st] = (postFailures[st] ?? 0) + 1;
  for (let i = 0; i < cb.length; i++) {
    // Viewers that never got video are counted as join failures, not as starved.
    if (results[i] && results[i]!.firstVideoMs === null) continue;
    const x: ViewerCounters = ca[i]!.counters;
    const y: ViewerCounters = cb[i]!.counters;
    const dt = (cb[i]!.at - ca[i]!.at) / 1000 || windowS;
    rates.push((y.packets - x.packets) / dt);
    kbit += ((y.bytes - x.bytes) * 8) / 1000 / dt;
    expected += y.videoExpected - x.videoExpected;
    unique += y.videoUnique - x.videoUnique;
    dup += y.videoDup - x.videoDup;
    nacks += y.nacksSent - x.nacksSent;
    plis += y.plisSent - x.plisSent;
    received += y.packets - x.packets;
  }
  const avg = rates.length ? rates.reduce((s, r) => s + r, 0) / rates.length : null;
  const la = a.stats.latency;
  const lb = b.stats.latency;
  const lcounts = la && lb ? lb.counts.map((c, i) => c - (la.counts[i] ?? 0)) : null;
  const lp = (p: number) => (lcounts && lcounts.some((c) => c > 0) ? latencyPercentile(lcounts, p) : null);
  const r: LevelResult = {
    viewerKind: gen.kind,
    path: d.path,
    viewers: n,
    latencyP50Us: lp(50),
    latencyP99Us: lp(99),
    latencyP999Us: lp(99.9),
    joined: joined.ok,
    joinFailed: joined.failed,
    postFailures,
    joinWallMs,
    windowS,
    drakeCpuPct: pct(b.proc.drakeCpu - a.proc.drakeCpu),
    drakeBusiestThreadPct: pct(busiestThread(a.proc, b.proc)[1]),
    drakeBusiestIsMain: busiestThread(a.proc, b.proc)[0] === d.child.pid,
    ffmpegCpuPct: pct(childCpuDelta(a.proc, b.proc)),
    generatorCpuPct: pct(b.self - a.self),
    machineCpuPct: ((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * 100 * os.cpus().length,
    rssBeforeMiB: rssBefore,
    rssMiB: b.proc.rss,
    threads: b.proc.threads,
    serverPackets: b.stats.packets - a.stats.packets,
    serverNacks: b.stats.nacks - a.stats.nacks,
    serverRetransmits: b.stats.retransmits - a.stats.retransmits,
    serverPlis: b.stats.plis - a.stats.plis,
    liveSends:
      a.stats.send && b.stats.send
        ? {
            syscalls: b.stats.send.live.syscalls - a.stats.send.live.syscalls,
            packets: b.stats.send.live.packets - a.stats.send.live.packets,
            gsoPackets: b.stats.send.live.gsoPackets - a.stats.send.live.gsoPackets,
          }
        : null,
    pktPerSecMin: rates.length ? Math.min(...rates) : null,
    pktPerSecAvg: avg,
    kbitPerSecAvg: rates.length ? kbit / rates.length : null,
    starved: avg === null ? 0 : rates.filter((x) => x < avg * 0.5).length,
    videoExpected: expected,
    videoLost: Math.max(0, expected - unique),
    videoDup: dup,
    viewerNacks: nacks,
    viewerPlis: plis,
    generatorUdpDrops: b.genDrops - a.genDrops,
    drakeUdpDrops: b.drakeDrops - a.drakeDrops,
    machineRcvbufErrors: (b.udp.RcvbufErrors ?? 0) - (a.udp.RcvbufErrors ?? 0),
    generatorOverloaded: b.genDrops - a.genDrops > 0.01 * Math.max(1, received),
    viewersAfter,
    ...(baselineWindowsPct ? { baselineWindowsPct } : {}),
    results: results.map(({ postedAt: _p, ...rest }) => rest),
  };
  log(
    `cpu-per-viewer ${d.path} N=${n} ${gen.kind} viewers: drake ${fmt(r.drakeCpuPct)} % (ffmpeg ${fmt(r.ffmpegCpuPct)} %, generator ${fmt(r.generatorCpuPct)} %, machine ${fmt(r.machineCpuPct)} %), ` +
      `joined ${r.joined}/${n} in ${joinWallMs} ms` +
      (r.liveSends && r.liveSends.packets > 0 ? `, live sendmmsg ${fmt(r.liveSends.syscalls / windowS)}/s (${fmt(r.liveSends.packets / Math.max(1, r.liveSends.syscalls))} viewer-packets each, ${fmt((r.liveSends.gsoPackets / r.liveSends.packets) * 100)} % in GSO trains)` : '') +
      `${Object.keys(postFailures).length ? ` (failed POSTs ${JSON.stringify(postFailures)})` : ''}, ${fmt(r.pktPerSecAvg)} pkt/s avg, lost ${r.videoLost}/${r.videoExpected}` +
      (baselineWindowsPct ? `; baseline windows ${baselineWindowsPct.map((x) => fmt(x)).join(' / ')} % (median used)` : ''),
  );
  return r;
}

/** A level that could not be measured (its viewers did not all join or fail in time), and why. */
export interface LevelFailure {
  viewerKind: ViewerKind;
  path: SendPath;
  viewers: number;
  error: string;
}

/** Every level on every path, once per viewer kind; a path that fails a level skips its higher levels with that kind (the others go on). */
export async function runCpuPerViewer(
  drakes: Partial<Record<SendPath, BenchDrake>>,
  gens: LoadGenerator[],
  opts: CpuOptions,
  log: (s: string) => void,
): Promise<{ results: LevelResult[]; failures: LevelFailure[] }> {
  const results: LevelResult[] = [];
  const failures: LevelFailure[] = [];
  for (const gen of gens) {
    for (let i = 0; i < opts.levels.length; i++) {
      const n = opts.levels[i]!;
      const paths = opts.paths ?? SEND_PATHS;
      const order = i % 2 === 0 ? paths : [...paths].reverse();
      for (const p of order) {
        if (failures.some((f) => f.path === p && f.viewerKind === gen.kind)) continue;
        await activate(drakes, p);
        try {
          results.push(await measure(drakes[p]!, gen, n, opts, log));
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          failures.push({ viewerKind: gen.kind, path: p, viewers: n, error });
          log(`cpu-per-viewer ${p} N=${n} ${gen.kind} viewers: not measured (${error}); its higher levels are skipped`);
        }
      }
    }
  }
  return { results, failures };
}

export interface CpuSummary {
  viewerKind: ViewerKind;
  path: SendPath;
  viewers: number;
  drakeCpuPct: number;
  perViewerPct: number | null;
  marginalPct: number | null;
  usPerViewerPacket: number | null;
}

/** Per path and level: CPU over the path's N=0 baseline per viewer, marginal per viewer from the previous level, µs per viewer-packet. */
export function summarize(results: LevelResult[]): CpuSummary[] {
  const out: CpuSummary[] = [];
  for (const viewerKind of kindsOf(results)) {
    for (const path of pathsOf(results)) {
      const rows = results.filter((r) => r.path === path && r.viewerKind === viewerKind).sort((a, b) => a.viewers - b.viewers);
      const base = rows.find((r) => r.viewers === 0);
      rows.forEach((r, i) => {
        const prev = rows[i - 1];
        const overBase = base ? r.drakeCpuPct - base.drakeCpuPct : null;
        out.push({
          viewerKind,
          path,
          viewers: r.viewers,
          drakeCpuPct: r.drakeCpuPct,
          perViewerPct: r.joined > 0 && overBase !== null ? overBase / r.joined : null,
          marginalPct: prev && r.joined > prev.joined ? (r.drakeCpuPct - prev.drakeCpuPct) / (r.joined - prev.joined) : null,
          // CPU-µs over the baseline per packet drake sent to a viewer in the window.
          usPerViewerPacket: r.joined > 0 && overBase !== null && r.serverPackets > 0 ? ((overBase / 100) * r.windowS * 1e6) / r.serverPackets : null,
        });
      });
    }
  }
  return out;
}

/** The viewer kinds in the results, in the order they ran. */
function kindsOf(results: Array<{ viewerKind: ViewerKind }>): ViewerKind[] {
  return [...new Set(results.map((r) => r.viewerKind))];
}

/** The paths in the results, in the order of SEND_PATHS, then Pion, then werift (the baseline) last. */
function pathsOf(results: Array<{ path: SendPath }>): SendPath[] {
  const seen = new Set(results.map((r) => r.path));
  return [...SEND_PATHS.filter((p) => p !== 'werift'), 'pion' as const, 'werift' as const].filter((p) => seen.has(p));
}

/** The whole machine was busy (> 90 % of all its cores) in this level's window: its figures include contention. */
export function machineSaturated(r: Pick<LevelResult, 'machineCpuPct'>): boolean {
  return r.machineCpuPct > os.cpus().length * 100 * 0.9;
}

export function cpuTables(results: LevelResult[]): string {
  const sum = summarize(results);
  const get = (k: ViewerKind, p: SendPath, n: number) => sum.find((s) => s.viewerKind === k && s.path === p && s.viewers === n);
  const saturated = (k: ViewerKind, n: number, ...ps: SendPath[]) => results.some((r) => r.viewerKind === k && r.viewers === n && ps.includes(r.path) && machineSaturated(r));
  const levels = [...new Set(results.map((r) => r.viewers))].sort((a, b) => a - b);
  const rows = kindsOf(results).flatMap((k) => levels.filter((n) => results.some((r) => r.viewerKind === k && r.viewers === n)).map((n) => [k, n] as const));
  const paths = pathsOf(results);
  const others = paths.filter((p) => p !== 'werift');
  const base = paths.includes('werift') ? ('werift' as const) : null;
  // drake's paths against Pion v3 (the issue's target: ≥ 3× lower CPU per viewer).
  const vsPion = paths.includes('pion') ? others.filter((p) => p !== 'pion') : [];
  const ratio = (a: number | null | undefined, b: number | null | undefined, sat = false) => (a && b && b > 0 ? `${fmt(a / b, 2)}×${sat ? ' ⚠' : ''}` : '–');
  const head = ['viewer kind', 'viewers'];
  for (const p of paths) head.push(`${p} path CPU %`);
  for (const p of paths) head.push(`${p} %/viewer`);
  if (base) for (const p of others) head.push(`werift/${p} per viewer`);
  for (const p of vsPion) head.push(`pion/${p} per viewer`);
  for (const p of paths) head.push(`${p} marginal %/viewer`);
  if (base) for (const p of others) head.push(`werift/${p} marginal`);
  for (const p of paths) head.push(`${p} µs/viewer-pkt`);
  const compare = table(
    head,
    rows.map(([k, n]) => {
      const row: Array<string | number> = [k, n];
      const w = base ? get(k, base, n) : undefined;
      for (const p of paths) row.push(fmt(get(k, p, n)?.drakeCpuPct));
      for (const p of paths) row.push(fmt(get(k, p, n)?.perViewerPct, 2));
      if (base) for (const p of others) row.push(ratio(w?.perViewerPct, get(k, p, n)?.perViewerPct, saturated(k, n, base, p)));
      for (const p of vsPion) row.push(ratio(get(k, 'pion', n)?.perViewerPct, get(k, p, n)?.perViewerPct, saturated(k, n, 'pion', p)));
      for (const p of paths) row.push(fmt(get(k, p, n)?.marginalPct, 2));
      if (base) for (const p of others) row.push(ratio(w?.marginalPct, get(k, p, n)?.marginalPct, saturated(k, n, base, p)));
      for (const p of paths) row.push(fmt(get(k, p, n)?.usPerViewerPacket, 1));
      return row;
    }),
  );
  const detail = table(
    ['viewer kind', 'viewers', 'path', 'joined (retried POSTs)', 'drake CPU %', "drake's busiest thread %", 'FFmpeg CPU %', 'generator CPU %', 'machine CPU % (rest)', 'drake RSS MiB (before join)', 'pkt/s per viewer min / avg', 'kbit/s avg', 'starved', 'video lost / expected', 'dup', 'viewer NACKs', 'viewer PLIs', 'drake NACKs / retx', 'UDP drops gen / drake'],
    results.map((r) => [
      r.viewerKind,
      r.viewers,
      r.path,
      `${r.joined}/${r.viewers}${Object.keys(r.postFailures).length ? ` (${Object.entries(r.postFailures).map(([st, c]) => `${c}×${st === '0' ? 'net' : st}`).join(', ')})` : ''}`,
      fmt(r.drakeCpuPct),
      `${fmt(r.drakeBusiestThreadPct)}${r.drakeBusiestIsMain ? ' (main)' : ''}`,
      fmt(r.ffmpegCpuPct),
      fmt(r.generatorCpuPct),
      `${fmt(r.machineCpuPct)} (${fmt(r.machineCpuPct - r.drakeCpuPct - r.ffmpegCpuPct - r.generatorCpuPct)})`,
      `${fmt(r.rssMiB, 0)} (${fmt(r.rssBeforeMiB, 0)})`,
      r.viewers ? `${fmt(r.pktPerSecMin, 0)} / ${fmt(r.pktPerSecAvg, 0)}` : '–',
      r.viewers ? fmt(r.kbitPerSecAvg, 0) : '–',
      r.viewers ? r.starved : '–',
      r.viewers ? `${r.videoLost} / ${r.videoExpected} (${fmt(r.videoExpected ? (100 * r.videoLost) / r.videoExpected : 0, 2)} %)` : '–',
      r.viewers ? r.videoDup : '–',
      r.viewers ? r.viewerNacks : '–',
      r.viewers ? r.viewerPlis : '–',
      r.path !== 'werift' ? `${r.serverNacks} / ${r.serverRetransmits}` : 'n/a',
      `${r.generatorUdpDrops} / ${r.drakeUdpDrops}${r.generatorOverloaded ? ' ⚠' : ''}`,
    ]),
  );
  const notes =
    'per viewer = (CPU − CPU at 0 viewers) / joined viewers; marginal = ΔCPU / Δjoined between consecutive levels; µs/viewer-pkt = CPU-µs over the 0-viewer baseline per packet drake sent to a viewer. ' +
    '⚠ after a ratio = the machine was saturated (> 90 % of all cores) in the window of one of the two paths at that level: that server\'s CPU includes contention and loss recovery, so the ratio says nothing about either. ' +
    "machine = /proc/stat, % of one core (200 = both cores of a 2-core box); rest = machine − drake − FFmpeg − generator: the idle drake, the kernel's softirq work not charged to these processes, and anything else running on the box. " +
    "busiest thread = drake's thread with the most CPU in the window (a stream's viewers are served by one thread; '(main)' = the gateway/supervisor thread). " +
    '⚠ = the generator dropped > 1 % of the packets at its sockets (it could not keep up: loss, NACKs and retransmissions at that level are partly its doing). ' +
    "drake NACKs / retx are drake's own counters (drake's paths only; werift answers NACKs inside its sender on its path); viewer NACKs / PLIs = RTCP NACK / PLI packets the viewers sent. " +
    'viewer kind: werift = werift peers (RTCP RR and NACKs only); libwebrtc = @roamhq/wrtc peers that cannot decode the H264 they get (RR, NACKs and PLI ≈ 5/s each, like a browser in that state); each kind has its own 0-viewer baseline, the median of ' + BASELINE_WINDOWS + ' consecutive windows (an idle window now and then catches a transient: a GC, a sweep).';
  const us = (v: number | null) => (v === null ? '–' : v === Infinity ? '> 500 ms' : v >= 1000 ? `≤ ${v / 1000} ms` : `≤ ${v} µs`);
  const latency = table(
    ['viewer kind', 'viewers', 'path', 'p50', 'p99', 'p99.9'],
    results.filter((r) => r.viewers > 0).map((r) => [r.viewerKind, r.viewers, r.path, us(r.latencyP50Us), us(r.latencyP99Us), us(r.latencyP999Us)]),
  );
  const latencyNote =
    'Server-added latency per viewer-packet in the window: from the packet reaching drake\'s RTP socket (event loop) to its hand-off to that viewer\'s socket, ' +
    'for packets sent live (those queued behind a join burst are not counted); log buckets, so each figure is the bucket\'s upper bound.';
  return `${compare}\n\n${detail}\n\n${notes}\n\n${latency}\n\n${latencyNote}`;
}

export function cpuChart(results: LevelResult[], subtitle: string): string {
  const series: Series[] = [];
  const kinds = kindsOf(results);
  // libwebrtc-viewer lines are dashed; the generator's CPU is drawn in grey.
  for (const who of ['drake', 'generator'] as const)
    for (const k of kinds)
      for (const path of pathsOf(results)) {
        const rows = results.filter((r) => r.path === path && r.viewerKind === k).sort((a, b) => a.viewers - b.viewers);
        series.push({
          name: who === 'drake' ? `drake process, ${path} path, ${k} viewers` : `generator (${path} run, ${k} viewers)`,
          color: who === 'drake' ? COLORS[path] : COLORS.grey,
          dashed: k === 'libwebrtc',
          points: rows.map((r) => [r.joined, who === 'drake' ? r.drakeCpuPct : r.generatorCpuPct]),
        });
      }
  return lineChart({ title: 'drake CPU vs viewers', subtitle, xLabel: 'viewers receiving video', yLabel: 'CPU, % of one core', series });
}
