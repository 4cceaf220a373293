// Scenario fuzz: the campaign of test/fuzz (same generators, same health checks) with bigger rounds, for
// a number of rounds or minutes, plus a longer run of the SRTP argument fuzzer in a child process.
// Not part of the default run: `npm run bench -- --scenario fuzz [--fuzz-rounds N | --minutes M] [--fuzz-seed S]`.
import { runCampaign, startRig, BENCH_SIZES, FUZZ_TARGETS, type FuzzStats } from '../../test/fuzz/campaign.ts';
import { fuzzSrtpInChild, type SrtpFuzzResult } from '../../test/fuzz/srtpFuzz.ts';
import { fmt, table } from '../lib/report.ts';

export interface FuzzOptions {
  seed: number;
  rounds: number;
  /** Stop starting rounds after this many minutes (0: no limit). */
  minutes: number;
  srtpCalls: number;
}

export interface FuzzOutcome {
  stats: FuzzStats;
  srtp: SrtpFuzzResult & { crashed: string | null };
  durationS: number;
  table: string;
}

export async function runFuzz(o: FuzzOptions, log: (s: string) => void): Promise<FuzzOutcome> {
  const t0 = performance.now();
  log(`fuzz: SRTP backends, ${o.srtpCalls} random calls (child process)`);
  const srtp = fuzzSrtpInChild(o.seed, o.srtpCalls, Math.max(60_000, o.srtpCalls * 5));
  log(`fuzz: starting drake with a live process and the first viewer`);
  const rig = await startRig();
  let stats: FuzzStats;
  try {
    const deadline = o.minutes > 0 ? Date.now() + o.minutes * 60_000 : undefined;
    stats = await runCampaign(rig, { seed: o.seed, rounds: o.rounds, sizes: BENCH_SIZES, ...(deadline ? { deadline } : {}), log: (s) => log(`fuzz: ${s}`) });
  } finally {
    await rig.close();
  }
  const rounds = Math.max(1, stats.rounds);
  const per = (t: string) => stats.findings.filter((f) => f.target === t).length;
  const rows = FUZZ_TARGETS.map((t) => [t, stats.cases[t], fmt(stats.cases[t] / rounds, 0), t === 'udp-ingest' ? '(with udp-shared)' : fmt(stats.ms[t] / 1000, 1), per(t)]);
  rows.push(['health checks', stats.rounds, '1', fmt(stats.ms.health / 1000, 1), per('health')]);
  rows.push(['srtp addon calls', srtp.calls, '–', '–', srtp.findings.length + (srtp.crashed ? 1 : 0)]);
  const text = table(['target', 'cases', 'per round', 'seconds', 'findings'], rows);
  return { stats, srtp, durationS: (performance.now() - t0) / 1000, table: text };
}
