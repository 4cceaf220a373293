// Scenario soak: one drake child under churn for a long time, to see what grows. K viewer slots each
// join, stay a random while, leave and join again; the stream's FFmpeg is SIGKILLed every few minutes
// (drake's reconnect restarts it); one peer shard worker is crashed once (drake's test hook). Every
// sample reads drake's RSS, open fds, UDP sockets and OS threads from /proc and its heap, event-loop
// resources and JavaScript threads from drake_runtime_* on /metrics. The result has a least-squares
// slope per hour of each series over the churn, and the levels before the first viewer and after the
// last one left (test/soak/soak.test.ts runs a short one and fails when fds or sockets grew).
import { COLORS, fmt, lineChart, table, type Series } from '../lib/report.ts';
import { Generator } from '../lib/generator.ts';
import { descendantsOf, fdKinds, rssMiB, threadCount } from '../lib/proc.ts';
import { PROCESS_ID, startBenchDrake, waitFreshMedia, waitNoViewers, type BenchDrake, type SendPath, type SourceVideo } from '../lib/source.ts';
import { rng } from '../../test/helpers/rng.ts';

export interface SoakOptions {
  /** Length of the churn. */
  minutes: number;
  /** Viewer slots: at most this many viewers at once. */
  viewers: number;
  /** A viewer stays a random time in [minLifeS, maxLifeS] after it has video. */
  minLifeS: number;
  maxLifeS: number;
  ffmpegKillEveryS: number;
  /** When the churn crashes peer shard worker 1 (null: never). */
  shardCrashAtS: number | null;
  sampleEveryS: number;
  /** After the last viewer left, how long drake gets before the closing samples (ICE/DTLS timers, keep-alive sockets). */
  settleS: number;
  viewersPerShard: number;
  /** Load worker threads (werift viewers) in this process. */
  workers: number;
  path: SendPath;
  /** null: the bench's 720p30 source. */
  video: SourceVideo | null;
  /** Seed of the viewer lifetimes and pauses (the same seed, the same schedule). */
  seed: number;
}

export const SOAK_DEFAULTS: SoakOptions = {
  minutes: 10,
  viewers: 12,
  minLifeS: 3,
  maxLifeS: 60,
  ffmpegKillEveryS: 180,
  shardCrashAtS: null,
  sampleEveryS: 10,
  settleS: 10,
  viewersPerShard: 4,
  workers: 2,
  path: 'lean',
  video: null,
  seed: 1,
};

export type SoakPhase = 'before' | 'churn' | 'after';

export interface SoakSample {
  /** Seconds since the churn started (negative before it). */
  t: number;
  phase: SoakPhase;
  /** Viewers drake counts. */
  viewers: number;
  rssMiB: number;
  heapMiB: number;
  fds: number;
  udpSockets: number;
  /** The fds by kind (udp, tcp, unix, pipe, anon, file, ...). */
  fdKinds: Record<string, number>;
  /** Event-loop resources of all drake threads, and the timers (Timeout) among them. */
  handles: number;
  timers: number;
  /** JavaScript threads: main + stream actor + peer shard workers. */
  jsThreads: number;
  osThreads: number;
  resources: Record<string, number>;
}

export const SOAK_SERIES = ['rssMiB', 'heapMiB', 'fds', 'udpSockets', 'handles', 'timers', 'jsThreads', 'osThreads'] as const;
export type SoakSeries = (typeof SOAK_SERIES)[number];

export interface SoakEvent {
  t: number;
  what: string;
}

export interface SoakResult {
  options: SoakOptions;
  drakePid: number;
  samples: SoakSample[];
  events: SoakEvent[];
  /** Last sample before the first churn viewer (after a burst of every slot at once had left), and after the churn and the same burst again had left and drake settled. */
  before: SoakSample;
  after: SoakSample;
  /** Least-squares slope over the churn samples, per hour, per series. */
  slopePerHour: Record<SoakSeries, number>;
  joins: { ok: number; failed: number; errors: Record<string, number> };
  ffmpegKills: number;
  shardCrashed: boolean;
  durationS: number;
}

/** Least-squares slope of y over x. */
export function slope(points: Array<[number, number]>): number {
  const p = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (p.length < 2) return 0;
  const mx = p.reduce((s, [x]) => s + x, 0) / p.length;
  const my = p.reduce((s, [, y]) => s + y, 0) / p.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of p) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}


/** drake_runtime_* from drake's Prometheus text. */
function runtimeMetrics(text: string): { threads: number; heapBytes: number; resources: Record<string, number> } {
  const out = { threads: NaN, heapBytes: NaN, resources: {} as Record<string, number> };
  for (const line of text.split('\n')) {
    if (!line.startsWith('drake_runtime_')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('drake_runtime_threads ')) out.threads = value;
    else if (line.startsWith('drake_runtime_heap_used_bytes ')) out.heapBytes = value;
    else {
      const type = /^drake_runtime_active_resources\{type="([^"]*)"\}/.exec(line)?.[1];
      if (type !== undefined) out.resources[type] = value;
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function sample(d: BenchDrake, t: number, phase: SoakPhase): Promise<SoakSample> {
  const pid = d.child.pid;
  // /proc first: the scrape below opens a connection of its own to drake.
  const kinds = fdKinds(pid);
  const fds = Object.values(kinds).reduce((s, n) => s + n, 0);
  const rss = rssMiB(pid) ?? NaN;
  const osThreads = threadCount(pid) ?? NaN;
  const [metrics, stats] = await Promise.all([fetch(`${d.child.url}/metrics`).then((r) => r.text()), d.stats()]);
  const rt = runtimeMetrics(metrics);
  const handles = Object.values(rt.resources).reduce((s, n) => s + n, 0);
  return {
    t,
    phase,
    viewers: stats.viewers,
    rssMiB: rss,
    heapMiB: rt.heapBytes / 2 ** 20,
    fds,
    udpSockets: kinds.udp ?? 0,
    fdKinds: kinds,
    handles,
    timers: rt.resources.Timeout ?? 0,
    jsThreads: rt.threads,
    osThreads,
    resources: rt.resources,
  };
}

/**
 * Every slot at once, a few seconds, then all leave. Before the baseline it starts the shard workers the
 * churn will use (drake keeps an idle shard); after the churn it brings back one a crash took, so both
 * ends are measured with the same threads.
 */
async function burst(d: BenchDrake, gen: Generator, opts: SoakOptions, what: string, log: (s: string) => void): Promise<void> {
  const s = gen.join(d.whepUrl, opts.viewers, { joinTimeoutMs: 20_000, maxMs: 120_000, joinConcurrency: 0, retries: 2 });
  const j = await s.joined(60_000);
  await sleep(2000);
  const results = await s.leave();
  if (j.failed) log(`soak: ${what}: ${j.failed} of ${opts.viewers} viewers got no video: ${[...new Set(results.map((r) => r.error).filter(Boolean))].join(' | ')}`);
  await waitNoViewers(d, 30_000);
}

/** Runs the soak on a fresh drake child; stops it (and the load workers) before returning. */
export async function runSoak(opts: SoakOptions, log: (s: string) => void): Promise<SoakResult> {
  const started = performance.now();
  const random = rng(opts.seed);
  const d = await startBenchDrake(opts.path, { webrtc: { viewers_per_shard: opts.viewersPerShard } }, opts.video ?? undefined);
  // Each viewer is a one-viewer load session: a task of its own, many at once per worker.
  const gen = new Generator(opts.workers, Math.ceil(opts.viewers / opts.workers) + 2);
  const samples: SoakSample[] = [];
  const events: SoakEvent[] = [];
  const joins = { ok: 0, failed: 0, errors: {} as Record<string, number> };
  let churnStart = performance.now();
  const now = () => (performance.now() - churnStart) / 1000;
  const take = async (phase: SoakPhase) => {
    const s = await sample(d, now(), phase);
    samples.push(s);
    return s;
  };
  try {
    // Warm-up: every slot at once, so the shard workers that churn will use exist before the baseline.
    log(`soak: warm-up, ${opts.viewers} viewers at once (viewers_per_shard ${opts.viewersPerShard})`);
    await burst(d, gen, opts, 'warm-up', log);
    await sleep(opts.settleS * 1000);
    churnStart = performance.now();
    const before = await take('before');
    log(`soak: before: ${describe(before)}`);

    const endAt = churnStart + opts.minutes * 60_000;
    let ending: () => void = () => undefined;
    const ended = new Promise<void>((r) => (ending = r));
    const endTimer = setTimeout(ending, opts.minutes * 60_000);
    // Cut short when the churn ends, its timer cleared (a pending one would keep the process alive).
    const pause = (ms: number) =>
      new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        void ended.then(() => {
          clearTimeout(t);
          r();
        });
      });

    const slot = async (i: number) => {
      await pause(i * 500);
      while (performance.now() < endAt) {
        const lifeMs = (opts.minLifeS + random() * (opts.maxLifeS - opts.minLifeS)) * 1000;
        const s = gen.join(d.whepUrl, 1, { joinTimeoutMs: 15_000, maxMs: lifeMs + 60_000, joinConcurrency: 1, retries: 2 });
        const j = await s.joined(60_000).catch(() => ({ ok: 0, failed: 1 }));
        if (j.ok) await pause(lifeMs);
        const [r] = await s.leave();
        if (j.ok) joins.ok++;
        else {
          joins.failed++;
          const why = (r?.error ?? 'no result').replace(/\d+/g, 'N').slice(0, 80);
          joins.errors[why] = (joins.errors[why] ?? 0) + 1;
        }
        await pause(random() * 2000);
      }
    };

    let kills = 0;
    const killer = setInterval(() => {
      // Not as the churn ends: the closing burst would find FFmpeg restarting and get 409s.
      if (performance.now() > endAt - 10_000) return;
      void (async () => {
        const pid = await d.child.ffmpegPid(PROCESS_ID).catch(() => null);
        // Only a process drake started: a pid that is not its descendant (reused, gone) is left alone.
        if (pid === null || !descendantsOf(d.child.pid).includes(pid)) {
          events.push({ t: now(), what: 'no FFmpeg to kill' });
          return;
        }
        process.kill(pid, 'SIGKILL');
        kills++;
        events.push({ t: now(), what: `FFmpeg ${pid} SIGKILL` });
        log(`soak: ${fmt(now(), 0)} s: SIGKILL to FFmpeg ${pid}`);
      })();
    }, opts.ffmpegKillEveryS * 1000);

    let shardCrashed = false;
    const crashAt = opts.shardCrashAtS;
    const crasher =
      crashAt === null
        ? null
        : setTimeout(() => {
            void (async () => {
              // Shard 1 is the first shard worker; the warm-up started it and an idle shard is kept.
              try {
                await d.child.crashShard(PROCESS_ID, 1);
                shardCrashed = true;
                events.push({ t: now(), what: 'peer shard 1 crashed' });
                log(`soak: ${fmt(now(), 0)} s: crashed peer shard 1`);
              } catch (err) {
                events.push({ t: now(), what: `shard crash failed: ${err instanceof Error ? err.message : String(err)}` });
              }
            })();
          }, crashAt * 1000);

    const sampler = setInterval(() => {
      void take('churn').then(
        (s) => log(`soak: ${fmt(s.t, 0)} s: ${describe(s)}`),
        (err: unknown) => log(`soak: sample failed: ${String(err)}`),
      );
    }, opts.sampleEveryS * 1000);

    await Promise.all(Array.from({ length: opts.viewers }, (_, i) => slot(i)));
    clearInterval(sampler);
    clearInterval(killer);
    if (crasher) clearTimeout(crasher);
    clearTimeout(endTimer);
    log(`soak: churn over (${joins.ok} joins with video, ${joins.failed} without); waiting for drake to count no viewer`);
    await waitNoViewers(d, 30_000);
    // Media must flow again, so that the closing sample is of a running stream like the first one.
    await waitFreshMedia(d);
    log(`soak: closing burst, ${opts.viewers} viewers at once`);
    await burst(d, gen, opts, 'closing burst', log);
    await sleep(opts.settleS * 1000);
    const after = await take('after');
    log(`soak: after: ${describe(after)}`);

    const churn = samples.filter((s) => s.phase === 'churn');
    const slopePerHour = Object.fromEntries(SOAK_SERIES.map((k) => [k, slope(churn.map((s) => [s.t / 3600, s[k]]))])) as Record<SoakSeries, number>;
    return {
      options: opts,
      drakePid: d.child.pid,
      samples,
      events,
      before,
      after,
      slopePerHour,
      joins,
      ffmpegKills: kills,
      shardCrashed,
      durationS: (performance.now() - started) / 1000,
    };
  } finally {
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([d.child.stop(), gen.close()]), new Promise<void>((r) => (giveUp = setTimeout(r, 15_000)))]);
    clearTimeout(giveUp);
    d.child.kill();
  }
}

function describe(s: SoakSample): string {
  const kinds = Object.entries(s.fdKinds)
    .map(([k, n]) => `${k} ${n}`)
    .join(' ');
  return `${s.viewers} viewers, RSS ${fmt(s.rssMiB)} MiB, heap ${fmt(s.heapMiB)} MiB, fds ${s.fds} (${kinds}), UDP ${s.udpSockets}, handles ${s.handles} (timers ${s.timers}), JS threads ${s.jsThreads}, OS threads ${s.osThreads}`;
}

const LABELS: Record<SoakSeries, string> = {
  rssMiB: 'RSS (MiB)',
  heapMiB: 'heap used, all threads (MiB)',
  fds: 'open fds',
  udpSockets: 'UDP sockets',
  handles: 'event-loop handles',
  timers: 'timers',
  jsThreads: 'JS threads',
  osThreads: 'OS threads',
};

export function soakTable(r: SoakResult): string {
  const churn = r.samples.filter((s) => s.phase === 'churn');
  return table(
    ['series', 'before', 'churn min', 'churn max', 'after', 'after − before', 'slope / hour'],
    SOAK_SERIES.map((k) => {
      const v = churn.map((s) => s[k]);
      const digits = k === 'rssMiB' || k === 'heapMiB' ? 1 : 0;
      return [LABELS[k], fmt(r.before[k], digits), fmt(Math.min(...v), digits), fmt(Math.max(...v), digits), fmt(r.after[k], digits), fmt(r.after[k] - r.before[k], digits), fmt(r.slopePerHour[k], 2)];
    }),
  );
}

/** Two charts in one SVG: memory (MiB) above, counts below; x = minutes since the churn started. */
export function soakChart(r: SoakResult, subtitle: string): string {
  const pts = (k: SoakSeries): Array<[number, number]> => r.samples.filter((s) => s.phase !== 'before').map((s) => [s.t / 60, s[k]]);
  const palette = [COLORS.lean, COLORS.werift, COLORS.drake, COLORS.extra, COLORS['lean-solo'], COLORS.grey];
  const mem: Series[] = [
    { name: 'RSS', color: COLORS.drake, points: pts('rssMiB') },
    { name: 'heap used (all threads)', color: COLORS.werift, points: pts('heapMiB') },
  ];
  const counts: Series[] = (['fds', 'udpSockets', 'handles', 'timers', 'jsThreads', 'osThreads'] as const).map((k, i) => ({
    name: LABELS[k],
    color: palette[i]!,
    points: pts(k),
  }));
  const kills = r.events.filter((e) => e.what.includes('SIGKILL')).length;
  const top = lineChart({ title: 'drake soak: memory', subtitle, xLabel: 'minutes since the churn started (last point: after every viewer left)', yLabel: 'MiB', series: mem });
  const bottom = lineChart({
    title: 'drake soak: descriptors, sockets, handles, threads',
    subtitle: `${r.options.viewers} viewer slots, ${r.joins.ok} joins; ${kills} FFmpeg kills; shard crash: ${r.shardCrashed ? 'yes' : 'no'}`,
    xLabel: 'minutes since the churn started (last point: after every viewer left)',
    yLabel: 'count',
    series: counts,
  });
  const inner = (svg: string, y: number) => svg.replace('<svg xmlns="http://www.w3.org/2000/svg"', `<svg y="${y}"`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="840" viewBox="0 0 800 840">\n${inner(top, 0)}${inner(bottom, 420)}</svg>\n`;
}
