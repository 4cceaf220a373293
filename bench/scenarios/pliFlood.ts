// pli-flood: viewers that send PLI 4 times a second (what libwebrtc does when it cannot decode) next to
// quiet ones on the same stream. Before the keyframe policy each such PLI got a GOP burst (≤ 1 a second),
// nearly doubling those viewers' egress; now a PLI is answered only when the viewer lacks a keyframe or
// lost video drake could not re-send, within a repair budget. Reported: what each kind of viewer received
// per second, over the stream's own rate, and drake's PLI/burst counters.
import type { WhepStatsDto } from '../../src/shared/protocol.ts';
import type { Generator } from '../lib/generator.ts';
import { fmt, table } from '../lib/report.ts';
import { startBenchDrake, type SendPath } from '../lib/source.ts';
import type { ViewerCounters } from '../loadViewer.ts';

export interface PliFloodOptions {
  normal: number;
  flooders: number;
  pliEveryMs: number;
  windowMs: number;
  settleMs: number;
}

export interface PliGroup {
  viewers: number;
  /** Per viewer, averaged over the group: what it received in the window. */
  kbitPerS: number;
  videoPktPerS: number;
  plisSentPerS: number;
  /** Max over min per-viewer video rate in the group (1 = all the same). */
  spread: number;
}

export interface PliFloodResult {
  path: SendPath;
  windowS: number;
  normal: PliGroup;
  flood: PliGroup;
  /** flooder video packets per second / quiet viewer's. */
  ratio: number;
  server: { plis: number; plisIgnored: number; bursts: number; retransmits: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function group(a: Array<{ at: number; counters: ViewerCounters }>, b: Array<{ at: number; counters: ViewerCounters }>): PliGroup {
  const rates = b.map((x, i) => {
    const s = (x.at - a[i]!.at) / 1000;
    return {
      kbit: ((x.counters.bytes - a[i]!.counters.bytes) * 8) / 1000 / s,
      video: (x.counters.videoPackets - a[i]!.counters.videoPackets) / s,
      plis: (x.counters.plisSent - a[i]!.counters.plisSent) / s,
    };
  });
  const avg = (f: (r: (typeof rates)[number]) => number) => rates.reduce((s, r) => s + f(r), 0) / Math.max(1, rates.length);
  const videos = rates.map((r) => r.video);
  return {
    viewers: rates.length,
    kbitPerS: avg((r) => r.kbit),
    videoPktPerS: avg((r) => r.video),
    plisSentPerS: avg((r) => r.plis),
    spread: Math.min(...videos) > 0 ? Math.max(...videos) / Math.min(...videos) : Infinity,
  };
}

export async function runPliFlood(paths: SendPath[], gen: Generator, opts: PliFloodOptions, log: (s: string) => void): Promise<PliFloodResult[]> {
  const out: PliFloodResult[] = [];
  for (const path of paths.filter((p) => p !== 'werift')) {
    log(`pli-flood: ${path}, ${opts.normal} quiet + ${opts.flooders} flooding viewers (PLI every ${opts.pliEveryMs} ms)`);
    const d = await startBenchDrake(path);
    try {
      const join = { joinTimeoutMs: 40_000, maxMs: 240_000 + opts.windowMs, joinConcurrency: 2, retries: 2 };
      const quiet = gen.join(d.whepUrl, opts.normal, join);
      const flood = gen.join(d.whepUrl, opts.flooders, { ...join, pliEveryMs: opts.pliEveryMs });
      await Promise.all([quiet.joined(120_000), flood.joined(120_000)]);
      await sleep(opts.settleMs);
      const [qa, fa, sa] = await Promise.all([quiet.mark('a'), flood.mark('a'), d.stats()]);
      await sleep(opts.windowMs);
      const [qb, fb, sb] = await Promise.all([quiet.mark('b'), flood.mark('b'), d.stats()]);
      await Promise.all([quiet.leave(), flood.leave()]);
      const normal = group(qa, qb);
      const flooders = group(fa, fb);
      const delta = (k: keyof WhepStatsDto) => (sb[k] as number) - (sa[k] as number);
      out.push({
        path,
        windowS: opts.windowMs / 1000,
        normal,
        flood: flooders,
        ratio: flooders.videoPktPerS / normal.videoPktPerS,
        server: { plis: delta('plis'), plisIgnored: delta('plisIgnored'), bursts: delta('bursts'), retransmits: delta('retransmits') },
      });
    } finally {
      await d.child.stop();
    }
  }
  return out;
}

export function pliFloodTable(rows: PliFloodResult[]): string {
  return table(
    ['path', 'viewer kind', 'viewers', 'PLI sent/s each', 'kbit/s each', 'video pkt/s each', 'max/min', 'flooder ÷ quiet', 'drake: PLIs / ignored / bursts / retransmits'],
    rows.flatMap((r) => [
      [r.path, 'quiet (werift RR + NACK)', r.normal.viewers, fmt(r.normal.plisSentPerS), fmt(r.normal.kbitPerS, 0), fmt(r.normal.videoPktPerS), fmt(r.normal.spread, 2), '', `${r.server.plis} / ${r.server.plisIgnored} / ${r.server.bursts} / ${r.server.retransmits}`],
      [r.path, 'PLI flood (+ RR + NACK)', r.flood.viewers, fmt(r.flood.plisSentPerS), fmt(r.flood.kbitPerS, 0), fmt(r.flood.videoPktPerS), fmt(r.flood.spread, 2), `${fmt(r.ratio, 3)}×`, ''],
    ]),
  );
}
