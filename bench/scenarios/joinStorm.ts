// Scenario join-storm: K viewers POST at the same instant (offers made beforehand in the load
// workers, then one 'go'); how long until every one of them receives media, on both send paths.
// Uses the same two drakes as cpu-per-viewer (one per send path), rounds alternate the order.
import { COLORS, fmt, lineChart, percentile, table, type Series } from '../lib/report.ts';
import type { Generator } from '../lib/generator.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { busiestThread, procSample, type DrakeChild } from '../lib/drakeChild.ts';
import { activate, SEND_PATHS, waitNoViewers, type BenchDrake, type SendPath } from '../lib/source.ts';
import type { ViewerResult } from '../loadViewer.ts';

export interface StormOptions {
  viewers: number;
  rounds: number;
  holdMs: number;
}

export interface StormRound {
  path: SendPath;
  round: number;
  viewers: number;
  /** From the common POST instant until every viewer that got a 201 has video, ms (null: none did). */
  allMediaMs: number | null;
  /** Every POST got a 201 and every viewer video. */
  complete: boolean;
  drakeCpuSeconds: number;
  /**
   * Shared-port paths: the bursts' (and NACK answers') batched sends from the POST instant to the end of the hold:
   * packets, sendmmsg calls, packets in UDP GSO trains. null elsewhere.
   */
  burst: { packets: number; syscalls: number; gsoPackets: number } | null;
  /** CPU-seconds of drake's busiest thread (the stream actor, whose shard sends the bursts) over the same span. */
  busiestThreadCpuSeconds: number;
  results: Array<Omit<ViewerResult, 'postedAt'> & { postSkewMs: number }>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function storm(d: BenchDrake, gen: Generator, opts: StormOptions, round: number, log: (s: string) => void): Promise<StormRound> {
  await waitNoViewers(d);
  const session = gen.join(d.whepUrl, opts.viewers, { joinTimeoutMs: 20_000, maxMs: 90_000, joinConcurrency: 0, waitGo: true });
  await session.prepared(60_000);
  const pid = (d.child as DrakeChild).pid;
  const send0 = (await d.stats()).send?.burst ?? null;
  const threads0 = procSample(pid, []);
  const cpu0 = cpuSeconds(d.child.pid) ?? NaN;
  const go = Date.now();
  session.go();
  await session.joined(40_000);
  const cpu1 = cpuSeconds(d.child.pid) ?? NaN;
  await sleep(opts.holdMs);
  const threads1 = procSample(pid, []);
  const send1 = (await d.stats()).send?.burst ?? null;
  const results = await session.leave();
  const withVideo = results.filter((r) => r.firstVideoMs !== null);
  const allMediaMs = withVideo.length ? Math.max(...withVideo.map((r) => r.postedAt + r.firstVideoMs! - go)) : null;
  const out: StormRound = {
    path: d.path,
    round,
    viewers: opts.viewers,
    allMediaMs,
    complete: withVideo.length === results.length,
    drakeCpuSeconds: cpu1 - cpu0,
    burst: send0 && send1 ? { packets: send1.packets - send0.packets, syscalls: send1.syscalls - send0.syscalls, gsoPackets: send1.gsoPackets - send0.gsoPackets } : null,
    busiestThreadCpuSeconds: busiestThread(threads0, threads1)[1],
    results: results.map(({ postedAt, ...rest }) => ({ ...rest, postSkewMs: postedAt - go })),
  };
  const ok = results.filter((r) => r.status === 201).length;
  const bad = results.filter((r) => r.status !== 201).map((r) => r.error ?? String(r.status));
  log(
    `join-storm ${d.path} round ${round}: ${ok}/${opts.viewers} × 201, ${withVideo.length} with video, those after ${allMediaMs ?? '–'} ms` +
      (bad.length ? `; failures: ${[...new Set(bad)].map((b) => b.slice(0, 120)).join(' | ')}` : ''),
  );
  return out;
}

export async function runJoinStorm(drakes: Partial<Record<SendPath, BenchDrake>>, gen: Generator, opts: StormOptions, log: (s: string) => void): Promise<StormRound[]> {
  const out: StormRound[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    const order = i % 2 === 0 ? SEND_PATHS : [...SEND_PATHS].reverse();
    for (const p of order) {
      await activate(drakes, p);
      out.push(await storm(drakes[p]!, gen, opts, i + 1, log));
    }
  }
  return out;
}

export interface StormRow {
  path: SendPath;
  posts: number;
  created: number;
  status503: number;
  otherFailures: number;
  failureStatuses: Record<string, number>;
  noMedia: number;
  answerP50: number | null;
  answerP95: number | null;
  firstP50: number | null;
  firstP95: number | null;
  firstMax: number | null;
  keyP50: number | null;
  keyP95: number | null;
  keyMax: number | null;
  allMediaMs: number | null;
  drakeCpuSeconds: number;
  /** Summed over the path's rounds; null where the path has no shared port. */
  burstPackets: number | null;
  burstSyscalls: number | null;
  burstGsoPackets: number | null;
  busiestThreadCpuSeconds: number;
}

export function stormRows(rounds: StormRound[]): StormRow[] {
  return SEND_PATHS.filter((p) => rounds.some((r) => r.path === p)).map((path) => {
    const rs = rounds.filter((r) => r.path === path);
    const all = rs.flatMap((r) => r.results);
    const num = (xs: Array<number | null>) => xs.filter((x): x is number => x !== null);
    // Times from the common 'go' (the POSTs left within a few ms of it: postSkewMs).
    const first = num(all.map((r) => (r.firstPacketMs === null ? null : r.firstPacketMs + r.postSkewMs)));
    const key = num(all.map((r) => (r.firstKeyframeMs === null ? null : r.firstKeyframeMs + r.postSkewMs)));
    const answer = num(all.map((r) => r.answerMs));
    const allMedia = rs.map((r) => r.allMediaMs);
    return {
      path,
      posts: all.length,
      created: all.filter((r) => r.status === 201).length,
      status503: all.filter((r) => r.status === 503).length,
      otherFailures: all.filter((r) => r.status !== 201 && r.status !== 503).length,
      failureStatuses: all.filter((r) => r.status !== 201).reduce<Record<string, number>>((m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {}),
      noMedia: all.filter((r) => r.status === 201 && r.firstVideoMs === null).length,
      answerP50: percentile(answer, 50),
      answerP95: percentile(answer, 95),
      firstP50: percentile(first, 50),
      firstP95: percentile(first, 95),
      firstMax: first.length ? Math.max(...first) : null,
      keyP50: percentile(key, 50),
      keyP95: percentile(key, 95),
      keyMax: key.length ? Math.max(...key) : null,
      allMediaMs: allMedia.every((x) => x === null) ? null : Math.max(...allMedia.filter((x): x is number => x !== null)),
      drakeCpuSeconds: rs.reduce((s, r) => s + r.drakeCpuSeconds, 0) / Math.max(1, rs.length),
      burstPackets: rs.every((r) => r.burst) ? rs.reduce((s, r) => s + r.burst!.packets, 0) : null,
      burstSyscalls: rs.every((r) => r.burst) ? rs.reduce((s, r) => s + r.burst!.syscalls, 0) : null,
      burstGsoPackets: rs.every((r) => r.burst) ? rs.reduce((s, r) => s + r.burst!.gsoPackets, 0) : null,
      busiestThreadCpuSeconds: rs.reduce((s, r) => s + r.busiestThreadCpuSeconds, 0) / Math.max(1, rs.length),
    };
  });
}

export function stormTable(rounds: StormRound[]): string {
  return table(
    ['path', 'POSTs', '201', '503', 'other failures', '201 but no media', 'POST→answer p50 / p95 ms', 'first RTP p50 / p95 / max ms', 'first keyframe p50 / p95 / max ms', 'every 201 has media after ms (worst round)', 'drake CPU-s per storm', 'busiest thread CPU-s per storm', 'burst + NACK packets per sendmmsg (% in GSO trains)'],
    stormRows(rounds).map((r) => [
      r.path,
      r.posts,
      r.created,
      r.status503,
      r.otherFailures ? `${r.otherFailures} (${Object.entries(r.failureStatuses).filter(([st]) => st !== '503').map(([st, c]) => `${c}×${st === '0' ? 'net' : st}`).join(', ')})` : 0,
      r.noMedia,
      `${fmt(r.answerP50, 0)} / ${fmt(r.answerP95, 0)}`,
      `${fmt(r.firstP50, 0)} / ${fmt(r.firstP95, 0)} / ${fmt(r.firstMax, 0)}`,
      `${fmt(r.keyP50, 0)} / ${fmt(r.keyP95, 0)} / ${fmt(r.keyMax, 0)}`,
      fmt(r.allMediaMs, 0),
      fmt(r.drakeCpuSeconds, 2),
      fmt(r.busiestThreadCpuSeconds, 2),
      r.burstPackets !== null && r.burstSyscalls ? `${fmt(r.burstPackets / r.burstSyscalls, 1)} (${fmt((100 * r.burstGsoPackets!) / Math.max(1, r.burstPackets), 0)} %)` : '–',
    ]),
  );
}

/**
 * lean beside lean-nogso (DRAKE_GSO=0) in the same run: what UDP GSO changes for the bursts. Ratios per
 * round pair (the rounds alternate), so the machine's noise hits both sides alike; null without both paths.
 */
export function gsoComparison(rounds: StormRound[]): string | null {
  const on = rounds.filter((r) => r.path === 'lean' && r.burst);
  const off = rounds.filter((r) => r.path === 'lean-nogso' && r.burst);
  const n = Math.min(on.length, off.length);
  if (n === 0) return null;
  const perCall = (r: StormRound) => r.burst!.packets / Math.max(1, r.burst!.syscalls);
  const lines = ['| round | burst pkts GSO on / off | pkts per sendmmsg on / off | % in GSO trains (on) | busiest thread CPU-s on / off (ratio) | drake CPU-s on / off (ratio) |', '|---|---|---|---|---|---|'];
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = on[i]!;
    const b = off[i]!;
    ratios.push(a.busiestThreadCpuSeconds / b.busiestThreadCpuSeconds);
    lines.push(
      `| ${i + 1} | ${a.burst!.packets} / ${b.burst!.packets} | ${fmt(perCall(a), 1)} / ${fmt(perCall(b), 1)} | ${fmt((100 * a.burst!.gsoPackets) / Math.max(1, a.burst!.packets), 0)} | ` +
        `${fmt(a.busiestThreadCpuSeconds, 2)} / ${fmt(b.busiestThreadCpuSeconds, 2)} (${fmt(a.busiestThreadCpuSeconds / b.busiestThreadCpuSeconds, 2)}) | ` +
        `${fmt(a.drakeCpuSeconds, 2)} / ${fmt(b.drakeCpuSeconds, 2)} (${fmt(a.drakeCpuSeconds / b.drakeCpuSeconds, 2)}) |`,
    );
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  lines.push('', `GSO on / off, busiest thread CPU per storm: median ratio ${fmt(sorted[Math.floor((sorted.length - 1) / 2)]!, 2)} over ${n} round pair(s).`);
  return lines.join('\n');
}

/** CDF of first-keyframe time per path. */
export function stormChart(rounds: StormRound[], subtitle: string): string {
  const series: Series[] = [];
  for (const path of SEND_PATHS.filter((p) => rounds.some((r) => r.path === p))) {
    for (const [what, pick, dashed] of [
      ['first RTP', (r: StormRound['results'][number]) => r.firstPacketMs, true],
      ['first keyframe', (r: StormRound['results'][number]) => r.firstKeyframeMs, false],
    ] as const) {
      const all = rounds.filter((r) => r.path === path).flatMap((r) => r.results);
      const xs = all
        .map((v) => (pick(v) === null ? null : pick(v)! + v.postSkewMs))
        .filter((x): x is number => x !== null)
        .sort((a, b) => a - b);
      // Out of every POST: viewers that never got there keep the curve below 100 %.
      series.push({ name: `${path}: ${what}`, color: COLORS[path], dashed, points: xs.map((x, i) => [x, ((i + 1) / all.length) * 100]) });
    }
  }
  return lineChart({ title: 'join storm: time from POST to media (CDF)', subtitle, xLabel: 'ms after the POST', yLabel: '% of viewers', series });
}
