// `npm run bench [-- flags]`: drake's load benchmarks, both send paths (webrtc.send_path drake and
// werift) in the same run. See bench/README.md.
//
//   --scenario micro|cpu-per-viewer|join-storm|ttff|glass|pli-flood|fuzz|soak|cluster|restreamer-ui   run one (default: all but fuzz, soak, cluster, restreamer-ui)
//   --pli-viewers 10 --pli-flooders 2 --pli-every 250   pli-flood: quiet viewers, PLI-flooding ones, ms between PLIs
//   --full                                       longer profile: levels 0..200, 20 s windows, 3 storm rounds, 8 ttff joins
//   --paths drake,lean,werift                    send paths to compare (drake, lean, lean-solo, lean-nogso = lean with DRAKE_GSO=0, lean-packet = lean with DRAKE_LIVE_BATCH=packet, lean-frame = DRAKE_LIVE_BATCH=frame, lean-unpaced = DRAKE_RTCP_PACED=0, lean-dgram = DRAKE_NATIVE_RECV=0, werift; werift is the ratios' baseline)
//   --viewers werift,libwebrtc                   cpu-per-viewer's load viewers: werift (gentle) and/or libwebrtc (browser-like, PLI ≈ 5/s); default both
//   --levels 0,10,25,50   --window 10   --settle 3   --workers 2   --storm-viewers 20   --storm-rounds 1
//   --ttff-joins 3   --timeout <s> (whole run)
//   --skip-pion                                  cpu-per-viewer without the Pion v3 path (built from bench/pion when Go + Debian's Pion are installed)
//   --cpu-prof                                   V8 CPU profile of every drake thread → bench/results/prof-<stamp>/ (see bench/profileTop.ts)
//   --glass-levels 0,20   --glass-window 6   --glass-ingest rtp,srt,rtmp-server,srt-server,whip   (glass-to-glass in Chromium; --full: 0,20,50, 15 s, all six)
//   --fuzz-rounds 20   --minutes 0   --fuzz-seed 1   (fuzz only: rounds, or as many as fit in the minutes)
//   --minutes 10   --soak-viewers 12                 (the leak soak: churn length, viewer slots; only with --scenario soak)
//   --record   --shots /tmp/rui-shots                (restreamer-ui: also write test/api/fixtures/restreamer-ui-calls.json; where the PNGs go)
import os from 'node:os';
import { parseArgs } from 'node:util';
import { killAllDrakes, setDrakeNodeArgs, stopAllDrakes } from './lib/drakeChild.ts';
import { Generator, VIEWER_KINDS, type LoadGenerator, type ViewerKind } from './lib/generator.ts';
import { killLibwebrtcViewers, LibwebrtcGenerator } from './lib/libwebrtcGenerator.ts';
import { CLK_TCK } from './lib/proc.ts';
import { fmt, isoStamp, machineInfo, RESULTS_DIR, writeJson, writeText, type MachineInfo } from './lib/report.ts';
import { activate, ALL_PATHS, PROCESS_ID, SEND_PATHS, selectPaths, SOURCE, startBenchDrake, startBenchPion, waitNoViewers, type BenchDrake, type SendPath } from './lib/source.ts';
import { buildPion, killAllPions } from './lib/pionChild.ts';
import { runMicro, type MicroResult } from './micro.ts';
import { cpuChart, cpuTables, machineSaturated, runCpuPerViewer, summarize, type LevelResult } from './scenarios/cpuPerViewer.ts';
import { gsoComparison, runJoinStorm, stormChart, stormRows, stormTable } from './scenarios/joinStorm.ts';
import { killTtff, runTtff, ttffChart } from './scenarios/ttff.ts';
import { pliFloodTable, runPliFlood } from './scenarios/pliFlood.ts';
import { clusterTable, runCluster } from './scenarios/cluster.ts';
import { runFuzz } from './scenarios/fuzz.ts';
import { runSoak, SOAK_DEFAULTS, soakChart, soakTable } from './scenarios/soak.ts';
import { restreamerUiTable, runRestreamerUi } from './scenarios/restreamerUi.ts';
import { ALL_INGESTS, closeGlass, defaultIngestPaths, GLASS_SOURCE, glassChart, glassJson, glassTables, killGlass, runGlass, type Ingest } from './scenarios/glass.ts';

const SCENARIOS = ['micro', 'cpu-per-viewer', 'join-storm', 'ttff', 'glass', 'pli-flood', 'fuzz', 'soak', 'cluster', 'restreamer-ui'] as const;
type Scenario = (typeof SCENARIOS)[number];
/** Asked for by name only: the fuzz campaign measures no performance; the soak takes its own minutes (10 by default); restreamer-ui needs a UI build. */
const NOT_IN_ALL: readonly Scenario[] = ['fuzz', 'soak', 'cluster', 'restreamer-ui'];

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    paths: { type: 'string' },
    viewers: { type: 'string' },
    full: { type: 'boolean', default: false },
    levels: { type: 'string' },
    window: { type: 'string' },
    settle: { type: 'string' },
    warmup: { type: 'string' },
    workers: { type: 'string' },
    'storm-viewers': { type: 'string' },
    'storm-rounds': { type: 'string' },
    'ttff-joins': { type: 'string' },
    'glass-levels': { type: 'string' },
    'glass-window': { type: 'string' },
    'glass-ingest': { type: 'string' },
    'pli-viewers': { type: 'string' },
    'pli-flooders': { type: 'string' },
    'pli-every': { type: 'string' },
    'fuzz-rounds': { type: 'string' },
    minutes: { type: 'string' },
    'fuzz-seed': { type: 'string' },
    'soak-viewers': { type: 'string' },
    'cluster-joins': { type: 'string' },
    record: { type: 'boolean', default: false },
    shots: { type: 'string' },
    'cluster-edge-viewers': { type: 'string' },
    'cluster-edge-window': { type: 'string' },
    timeout: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'skip-pion': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(
    'npm run bench -- [--scenario micro|cpu-per-viewer|join-storm|ttff|glass|pli-flood|fuzz|soak|cluster|restreamer-ui] [--paths drake,lean,werift] [--viewers werift,libwebrtc] [--full] [--levels 0,10,25,50] [--window s] [--settle s] [--warmup s] [--workers n] [--storm-viewers k] [--storm-rounds r] [--ttff-joins j] [--glass-levels 0,20] [--glass-window s] [--glass-ingest rtp,srt,rtmp,rtmp-server,srt-server,whip] [--pli-viewers n] [--pli-flooders n] [--pli-every ms] [--fuzz-rounds n] [--minutes m] [--fuzz-seed s] [--soak-viewers k] [--cluster-joins n] [--cluster-edge-viewers n] [--cluster-edge-window s] [--record] [--shots dir] [--timeout s] [--cpu-prof]',
  );
  process.exit(0);
}

function int(name: string, raw: string | undefined, dflt: number, min = 0): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${raw}`);
  return n;
}

const full = values.full;
const scenarios: Scenario[] = values.scenario ? [values.scenario as Scenario] : SCENARIOS.filter((s) => !NOT_IN_ALL.includes(s));
for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}, got ${s}`);
if (values.paths !== undefined) {
  const paths = values.paths.split(',').map((p) => p.trim()) as SendPath[];
  for (const p of paths) if (!ALL_PATHS.includes(p)) throw new Error(`--paths: unknown send path ${p} (${ALL_PATHS.join(', ')})`);
  if (paths.length === 0 || new Set(paths).size !== paths.length) throw new Error('--paths must list distinct send paths');
  selectPaths(paths);
}
const viewerKinds = (values.viewers ?? VIEWER_KINDS.join(',')).split(',').map((k) => k.trim()) as ViewerKind[];
for (const k of viewerKinds) if (!VIEWER_KINDS.includes(k)) throw new Error(`--viewers: unknown viewer kind ${k} (${VIEWER_KINDS.join(', ')})`);
if (viewerKinds.length === 0 || new Set(viewerKinds).size !== viewerKinds.length) throw new Error('--viewers must list distinct viewer kinds');
const levels = (values.levels ?? (full ? '0,10,25,50,100,200' : '0,10,25,50')).split(',').map((x) => int('levels', x.trim(), 0));
const settings = {
  profile: full ? 'full' : 'short',
  paths: SEND_PATHS,
  viewerKinds,
  levels,
  windowMs: int('window', values.window, full ? 20 : 10, 1) * 1000,
  settleMs: int('settle', values.settle, 3) * 1000,
  // JIT warm-up before anything is measured: V8 compiles the viewer path's functions over ≈ 20 s of viewers
  // at these packet rates (--trace-opt); a shorter warm-up leaves that compiling in the first level's window.
  warmupMs: int('warmup', values.warmup, 20) * 1000,
  workers: int('workers', values.workers, Math.max(1, Math.min(4, os.cpus().length)), 1),
  joinConcurrency: 2,
  stormViewers: int('storm-viewers', values['storm-viewers'], 20, 1),
  stormRounds: int('storm-rounds', values['storm-rounds'], full ? 3 : 1, 1),
  stormHoldMs: 2000,
  ttffJoins: int('ttff-joins', values['ttff-joins'], full ? 8 : 3, 1),
  ttffWarmup: 1,
  glassLevels: (values['glass-levels'] ?? (full ? '0,20,50' : '0,20')).split(',').map((x) => int('glass-levels', x.trim(), 0)),
  glassWindowMs: int('glass-window', values['glass-window'], full ? 15 : 6, 1) * 1000,
  glassWarmupMs: 1500,
  glassIngests: (values['glass-ingest'] ?? (full ? 'rtp,srt,rtmp,rtmp-server,srt-server,whip' : 'rtp,srt,rtmp-server,srt-server,whip')).split(',').map((x) => x.trim()) as Ingest[],
  // RTMP/SRT rows (load 0): lean and werift by default, every path with --full.
  glassIngestPaths: full ? [...SEND_PATHS] : defaultIngestPaths(SEND_PATHS),
  pliViewers: int('pli-viewers', values['pli-viewers'], 10, 0),
  pliFlooders: int('pli-flooders', values['pli-flooders'], 2, 1),
  pliEveryMs: int('pli-every', values['pli-every'], 250, 20),
  fuzzMinutes: int('minutes', values.minutes, 0),
  fuzzRounds: int('fuzz-rounds', values['fuzz-rounds'], values.minutes !== undefined ? 1_000_000 : full ? 100 : 20, 1),
  fuzzSeed: int('fuzz-seed', values['fuzz-seed'], 1),
  fuzzSrtpCalls: full ? 200_000 : 50_000,
  soakMinutes: int('minutes', values.minutes, SOAK_DEFAULTS.minutes, 0.1),
  soakViewers: int('soak-viewers', values['soak-viewers'], SOAK_DEFAULTS.viewers, 1),
  clusterJoins: int('cluster-joins', values['cluster-joins'], 5, 1),
  clusterEdgeViewers: int('cluster-edge-viewers', values['cluster-edge-viewers'], 10, 0),
  clusterEdgeWindowMs: int('cluster-edge-window', values['cluster-edge-window'], 8, 1) * 1000,
};
for (const i of settings.glassIngests) if (!ALL_INGESTS.includes(i)) throw new Error(`--glass-ingest: unknown ingest ${i} (${ALL_INGESTS.join(', ')})`);
// Whole-run guard: a rough upper bound of the profile, times two.
const estimateS =
  30 +
  (settings.warmupMs / 1000 + 15) * (SEND_PATHS.length + 1) * viewerKinds.length +
  (scenarios.includes('micro') ? 40 : 0) +
  (scenarios.includes('cpu-per-viewer')
    ? viewerKinds.length * ((levels.length + (levels.includes(0) ? 2 : 0)) * (SEND_PATHS.length + 1) * (settings.windowMs / 1000 + settings.settleMs / 1000 + 12) + levels.reduce((s, n) => s + n, 0) * 0.3)
    : 0) +
  (scenarios.includes('join-storm') ? settings.stormRounds * SEND_PATHS.length * 25 : 0) +
  (scenarios.includes('ttff') ? 40 + (settings.ttffJoins + settings.ttffWarmup) * (SEND_PATHS.length + 1) * 8 : 0) +
  (scenarios.includes('glass')
    ? 20 +
      ((settings.glassIngests.includes('rtp') ? settings.glassLevels.length * SEND_PATHS.length : 0) + settings.glassIngests.filter((i) => i !== 'rtp').length * settings.glassIngestPaths.length) *
        (settings.glassWindowMs / 1000 + 12) +
      settings.glassLevels.reduce((s, n) => s + n, 0) * SEND_PATHS.length * 0.3
    : 0) +
  (scenarios.includes('pli-flood') ? SEND_PATHS.length * (settings.windowMs / 1000 + settings.settleMs / 1000 + 40) : 0) +
  (scenarios.includes('fuzz') ? 60 + (settings.fuzzMinutes > 0 ? settings.fuzzMinutes * 60 + 60 : settings.fuzzRounds * 20) : 0) +
  (scenarios.includes('soak') ? settings.soakMinutes * 60 + 150 : 0) +
  (scenarios.includes('cluster') ? 90 + settings.clusterJoins * 2 * 3 + (settings.clusterEdgeViewers > 0 ? 60 + (4 * settings.clusterEdgeWindowMs) / 1000 : 0) : 0) +
  (scenarios.includes('restreamer-ui') ? 150 : 0);
const RUN_LIMIT_MS = int('timeout', values.timeout, Math.ceil(estimateS * 2), 10) * 1000;

const startedAt = new Date();
const stamp = isoStamp(startedAt);
const t0 = performance.now();
const profDir = values['cpu-prof'] ? `${RESULTS_DIR}prof-${stamp}` : null;
// Profiles are written when a thread exits: drake's close() ends its workers, serveDrake then exits.
if (profDir) setDrakeNodeArgs(['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
const log = (s: string) => process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);

let gen: Generator | null = null;
/** cpu-per-viewer's browser-like viewers (child processes), when asked for and @roamhq/wrtc loads. */
let lw: LibwebrtcGenerator | null = null;
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killTtff();
    await Promise.race([Promise.all([stopAllDrakes(), closeGlass()]), new Promise((r) => setTimeout(r, 12_000))]);
    killAllDrakes();
    killAllPions();
    await Promise.race([Promise.all([gen?.close(), lw?.close()]), new Promise((r) => setTimeout(r, 5000))]);
    killLibwebrtcViewers();
  })();
  return cleaning;
}
async function fatal(code: number, why: string): Promise<never> {
  process.stderr.write(`bench: ${why}\n`);
  await cleanup();
  process.exit(code);
}
process.on('exit', () => {
  killAllPions();
  killLibwebrtcViewers();
  killTtff();
  killGlass();
  killAllDrakes();
});
process.on('SIGINT', () => void fatal(130, 'interrupted'));
process.on('SIGTERM', () => void fatal(143, 'terminated'));
process.on('uncaughtException', (err) => void fatal(1, `uncaught: ${err.stack ?? String(err)}`));
process.on('unhandledRejection', (err) => void fatal(1, `unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
setTimeout(() => void fatal(1, `gave up after the global timeout of ${RUN_LIMIT_MS / 1000} s (--timeout)`), RUN_LIMIT_MS).unref();

const out = (s = '') => process.stdout.write(`${s}\n`);
const files: string[] = [];
let machine: MachineInfo | null = null;

function method(): Record<string, string> {
  return {
    source: `${SOURCE.video}; ${SOURCE.audio}; one process '${PROCESS_ID}' per drake`,
    drakes:
      'one drake child process per send path (bench/serveDrake.ts, node --import tsx), both alive for the whole run, each with its own identical source process; only the drake whose turn it is runs its FFmpeg (the other process is stopped) and has viewers',
    interleaving: 'per level the paths take turns, order alternating per level (drake, werift, then werift, drake, ...)',
    cpu: `utime+stime from /proc/<pid>/stat over the window (CLK_TCK ${CLK_TCK}); drake = its node process with all threads; FFmpeg = its descendants; generator = this bench process (main thread + piscina workers), plus the libwebrtc viewer processes with libwebrtc viewers; machine = /proc/stat, % of one core`,
    viewers:
      'werift: a werift RTCPeerConnection per viewer in piscina workers (atomics disabled), real ICE + DTLS + SRTP on 127.0.0.1; counts RTP only; werift sends RTCP RR and NACKs itself. ' +
      'libwebrtc: an @roamhq/wrtc RTCPeerConnection per viewer in child processes, offer VP8 renamed H264 so libwebrtc cannot decode what it gets: RTCP RR, NACKs and PLI ≈ 5/s like a browser that cannot decode; counters from getStats()',
    perViewer: 'per viewer % = (CPU at N − CPU at 0 of the same path) / N; marginal = ΔCPU / Δviewers between consecutive levels; µs/viewer-pkt = CPU over the N=0 baseline / packets drake sent to viewers in the window',
    loss: 'video sequence gaps seen by the viewers in the window (expected − distinct received); dup = duplicates (mostly NACK retransmissions of packets that had arrived)',
    starved: 'viewers below 50 % of the average packet rate in the window',
  };
}

function limitLine(rows: LevelResult[]): string {
  const cores = os.cpus().length;
  const lines: string[] = [];
  if (rows.length === 0) return '';
  const top = Math.max(...rows.map((r) => r.viewers));
  for (const r of rows.filter((x) => x.viewers === top)) {
    const parts = [
      ['drake', r.drakeCpuPct],
      ['generator', r.generatorCpuPct],
      ['FFmpeg (this drake)', r.ffmpegCpuPct],
    ] as Array<[string, number]>;
    const other = r.machineCpuPct - parts.reduce((s, [, v]) => s + v, 0);
    const biggest = [...parts].sort((a, b) => b[1] - a[1])[0]!;
    const saturated = machineSaturated(r);
    const hot = parts.filter(([, v]) => v > 90).map(([n]) => n);
    if (r.drakeBusiestThreadPct > 90) hot.push("drake's busiest thread");
    lines.push(
      `${r.path} path, ${top} ${r.viewerKind} viewers: machine ${fmt(r.machineCpuPct)} % of ${cores * 100} % ` +
        `(drake ${fmt(r.drakeCpuPct)} with its busiest thread at ${fmt(r.drakeBusiestThreadPct)}, generator ${fmt(r.generatorCpuPct)}, FFmpeg ${fmt(r.ffmpegCpuPct)}, rest ${fmt(other)}); ` +
        (saturated
          ? `the machine is saturated, biggest consumer: ${biggest[0]}`
          : hot.length
            ? `not saturated, but ${hot.join(' and ')} is near one full core (a single-thread limit)`
            : 'not saturated') +
        `; ${r.joined}/${r.viewers} joined, starved ${r.starved}, video lost ${fmt(r.videoExpected ? (100 * r.videoLost) / r.videoExpected : 0, 2)} %, ` +
        `UDP drops generator/drake ${r.generatorUdpDrops}/${r.drakeUdpDrops}${r.generatorOverloaded ? ' (the generator could not keep up)' : ''}.`,
    );
  }
  return lines.join('\n');
}

try {
  log(`profile ${settings.profile}: ${scenarios.join(', ')}; global timeout ${RUN_LIMIT_MS / 1000} s`);
  // micro first, while nothing else of the bench runs; printed under the header below.
  let micro: MicroResult | null = null;
  if (scenarios.includes('micro')) micro = await runMicro({ stamp, log });
  const needDrakes = scenarios.includes('cpu-per-viewer') || scenarios.includes('join-storm');
  let drakes: Partial<Record<SendPath, BenchDrake>> | null = null;
  let viewerNote = '';
  let pionNote = '';
  const cpuPaths: SendPath[] = [...SEND_PATHS];
  if (needDrakes) {
    log(`starting one drake per send path (${SEND_PATHS.join(', ')}; child processes) with the 720p30 source`);
    const started = await Promise.all(SEND_PATHS.map((p) => startBenchDrake(p)));
    drakes = Object.fromEntries(started.map((d) => [d.path, d])) as Partial<Record<SendPath, BenchDrake>>;
    machine = machineInfo(started[0]!.child.ffmpeg.path, started[0]!.child.ffmpeg.version, CLK_TCK);
    if (scenarios.includes('cpu-per-viewer') && !values['skip-pion']) {
      const built = buildPion();
      if ('binary' in built) {
        log('starting the Pion v3 WHEP server (bench/pion) with its own FFmpeg on the same source');
        drakes.pion = await startBenchPion(built.binary);
        cpuPaths.push('pion');
      } else {
        pionNote = `Pion v3 path skipped: ${built.skipped}.`;
        log(pionNote);
      }
    }
    gen = new Generator(settings.workers);
    if (scenarios.includes('cpu-per-viewer') && viewerKinds.includes('libwebrtc')) {
      try {
        lw = await LibwebrtcGenerator.start(settings.workers);
      } catch (err) {
        viewerNote = `libwebrtc viewers left out: ${err instanceof Error ? err.message : String(err)}; werift viewers only.`;
        log(viewerNote);
      }
    }
    // Warm-up (not reported): JIT of the send paths, the worker pool, the first DTLS handshakes.
    log(`warm-up: 2 viewers per server and viewer kind for ${settings.warmupMs / 1000} s`);
    for (const g of [gen, lw]) {
      if (!g) continue;
      for (const p of cpuPaths) {
        await activate(drakes, p);
        const s = g.join(drakes[p]!.whepUrl, 2, { joinTimeoutMs: 15_000, maxMs: settings.warmupMs + 60_000, joinConcurrency: 2 });
        await s.joined(30_000);
        await new Promise((r) => setTimeout(r, settings.warmupMs));
        await s.leave();
        await waitNoViewers(drakes[p]!);
      }
    }
  } else {
    machine = machineInfo('ffmpeg', '', CLK_TCK);
  }
  const machineLine = `${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, node ${machine.node}, FFmpeg ${machine.ffmpeg}, ${machine.os}`;
  out(`# drake benchmarks (${settings.profile} profile), ${startedAt.toISOString()}\n\n${machineLine}\n`);
  if (micro) {
    out(`## micro\n\nPer-packet steps in isolation (bench/micro.ts, tinybench), drake beside werift.\n`);
    out(`${micro.text}\n`);
    if (micro.file) files.push(micro.file);
  }

  if (scenarios.includes('cpu-per-viewer') && drakes && gen) {
    const cs = Date.now();
    const gens = ([gen, lw] as Array<LoadGenerator | null>).filter((g): g is LoadGenerator => g !== null && viewerKinds.includes(g.kind));
    if (gens.length === 0) throw new Error(`no viewer kind left to run (${viewerNote})`);
    const { results, failures } = await runCpuPerViewer(drakes, gens, { ...settings, paths: cpuPaths }, log);
    const tables = cpuTables(results);
    const failed = failures.map((f) => `not measured: ${f.path} at ${f.viewers} ${f.viewerKind} viewers (${f.error}); its higher levels skipped.`).join('\n');
    const limits = [...gens.map((g) => limitLine(results.filter((r) => r.viewerKind === g.kind))), failed].filter(Boolean).join('\n');
    out(`## cpu-per-viewer\n`);
    out(
      `Source: ${SOURCE.video}; ${SOURCE.audio}. ${SEND_PATHS.length} drakes side by side (one per send path: ${SEND_PATHS.join(', ')}); only the measured one runs its FFmpeg (the other's process is stopped), ` +
        `levels ${levels.join(', ')}; paths interleaved per level, order alternating, after a ${settings.warmupMs / 1000} s warm-up with 2 viewers per server (JIT). Window ${settings.windowMs / 1000} s after all viewers have video + ${settings.settleMs / 1000} s settle. ` +
        `CPU in % of ONE core from /proc (drake = its node process, all threads; FFmpeg separately). ` +
        `Viewer kinds, one after the other: ${gens.map((g) => g.kind).join(', ')}. werift viewers (gentle: RTCP RR and NACKs) = ${settings.workers} piscina workers in this process (decrypting every packet until their first keyframe, then 1 in 32; the rest counted from the clear RTP header), generator CPU = this process; ` +
        `libwebrtc viewers (like a browser that cannot decode: RR, NACKs and PLI ≈ 5/s each) = ${settings.workers} child processes of @roamhq/wrtc, generator CPU = this process + those children.${viewerNote ? ` ${viewerNote}` : ''} ` +
        (cpuPaths.includes('pion')
          ? `pion = Pion WebRTC v3 (Debian's 3.1.56, bench/pion/main.go): one TrackLocalStaticRTP per medium written once per packet, default interceptors (NACK responder, RTCP reports, TWCC), fed by its own FFmpeg with drake's exact RTP outputs; its "drake CPU" is the Go process.\n`
          : `${pionNote}\n`),
    );
    out(tables);
    out(`\n${limits}\n`);
    const sub = `${machine.cpu}, ${machine.cores} cores; 720p30 2 Mbit/s + Opus; window ${settings.windowMs / 1000} s`;
    const json = writeJson(`cpu-per-viewer-${stamp}.json`, {
      bench: 'cpu-per-viewer',
      startedAt: new Date(cs).toISOString(),
      durationS: (Date.now() - cs) / 1000,
      machine,
      settings: { ...settings, viewerKinds: gens.map((g) => g.kind) },
      method: method(),
      summary: summarize(results),
      results,
      failures,
      table: tables,
      limits,
    });
    files.push(json, writeText(`cpu-per-viewer-${stamp}.svg`, cpuChart(results, sub)));
  }

  if (scenarios.includes('join-storm') && drakes && gen) {
    const ss = Date.now();
    const rounds = await runJoinStorm(drakes, gen, { viewers: settings.stormViewers, rounds: settings.stormRounds, holdMs: settings.stormHoldMs }, log);
    const t = stormTable(rounds);
    out(`## join-storm\n`);
    out(
      `${settings.stormViewers} viewers POST at the same instant (offers made beforehand, ${Math.min(settings.workers, settings.stormViewers)} load workers), ${settings.stormRounds} round(s) per path, order alternating. ` +
        `Times from the POST; "first keyframe" = first RTP that starts an IDR/SPS (what a decoder needs). The generator does ${settings.stormViewers} DTLS handshakes at once on ${settings.workers} threads too.\n`,
    );
    out(t);
    out();
    const gso = gsoComparison(rounds);
    if (gso) {
      out(`### GSO on / off (lean vs lean-nogso = DRAKE_GSO=0)\n`);
      out(
        'Join/PLI bursts and NACK answers on the shared port: packets per sendmmsg and the share that left in UDP GSO trains, from the POST to the end of the hold; ' +
          "the busiest thread is the stream actor (its shard sends the bursts, but also does the joins' DTLS and ICE), so the ratio understates what GSO saves on the send itself.\n",
      );
      out(gso);
      out();
    }
    const json = writeJson(`join-storm-${stamp}.json`, {
      bench: 'join-storm',
      startedAt: new Date(ss).toISOString(),
      durationS: (Date.now() - ss) / 1000,
      machine,
      settings,
      method: method(),
      summary: stormRows(rounds),
      rounds,
      table: t,
    });
    files.push(json, writeText(`join-storm-${stamp}.svg`, stormChart(rounds, `${settings.stormViewers} viewers at once; ${machine.cpu}, ${machine.cores} cores`)));
  }

  // ttff runs its own drakes and a browser: free the machine first.
  if (drakes) {
    log('stopping the benchmark drakes');
    await stopAllDrakes();
    killAllPions();
  }
  await Promise.all([gen?.close(), lw?.close()]);
  gen = null;
  lw = null;

  if (scenarios.includes('ttff')) {
    const jsonFile = `${RESULTS_DIR}ttff-${stamp}.json`;
    // GOP cache on and off on drake's path, plus every other selected path (cache on).
    const modes = ['on', 'off', ...SEND_PATHS.filter((p) => p !== 'drake')];
    const timeoutMs = 60_000 + (settings.ttffJoins + settings.ttffWarmup) * modes.length * 25_000;
    const r = await runTtff({ joins: settings.ttffJoins, warmup: settings.ttffWarmup, jsonFile, timeoutMs, modes }, log);
    out(`## ttff\n`);
    if (r.skipped) {
      out(`${r.skipped}\n`);
      if (r.stdout) out(r.stdout);
    } else {
      out(
        `Chromium opens /player/<id> per join (bench/ttffChromium.ts, 640x360@30 1 Mbit/s, 2 s GOP): ${settings.ttffJoins} joins per mode after ${settings.ttffWarmup} warm-up, ` +
          `drakes side by side (modes: drake path with GOP cache on / off, ${SEND_PATHS.filter((p) => p !== 'drake').map((p) => `${p} path`).join(', ')}), joins interleaved. TTFF = WHEP POST → first video frame callback.\n`,
      );
      out(r.table ?? '');
      out();
      files.push(jsonFile);
      const svg = ttffChart(r, `${settings.ttffJoins} joins per mode; ${machine.cpu}, ${machine.cores} cores`);
      if (svg) files.push(writeText(`ttff-${stamp}.svg`, svg));
    }
  }

  if (scenarios.includes('glass')) {
    const gs = Date.now();
    // Its own drakes (a stamped source), one source encoding at a time; load viewers from a fresh pool.
    if (settings.glassLevels.some((n) => n > 0)) gen = new Generator(settings.workers);
    const o = await runGlass(
      {
        paths: SEND_PATHS,
        levels: settings.glassLevels,
        ingests: settings.glassIngests,
        ingestPaths: settings.glassIngestPaths,
        windowMs: settings.glassWindowMs,
        warmupMs: settings.glassWarmupMs,
      },
      gen,
      log,
    );
    await gen?.close();
    gen = null;
    out(`## glass\n`);
    if (o.skipped) out(`${o.skipped}\n`);
    else {
      out(
        `Glass-to-glass in Chromium ${o.chromium} (headless, /player/<id>): ${GLASS_SOURCE.video}; ${GLASS_SOURCE.audio}. ` +
          `Per send path and load level (${settings.glassLevels.join(', ')} werift load viewers on the same stream, joined before Chromium): ${settings.glassWarmupMs / 1000} s warm-up, then every frame of a ${settings.glassWindowMs / 1000} s window. ` +
          `Ingest RTP = drake's process makes the stamped source; ${settings.glassIngests.filter((i) => i === 'rtmp' || i === 'srt').map((i) => i.toUpperCase()).join(' / ') || '(no listener ingest)'} = an encoder FFmpeg pushes to drake's listening process; ` +
          `RTMP / SRT (drake's server) = the encoder publishes to drake's built-in RTMP or SRT server (SRT: publisher and reading process both at {srt}'s 20 ms latency, as Core's URLs; the relay holds one window per leg) and the process reads {rtmp,name=glass} / {srt,name=glass,mode=request}; WHIP → WHEP = a werift WHIP publisher (FFmpeg encodes the same source for it) publishes to drake, Chromium plays whip:glass, no FFmpeg inside drake (load 0, ${settings.glassIngestPaths.join(' and ')}). ` +
          `Paths in turn, order alternating per level; one source encodes at a time.\n`,
      );
      out(glassTables(o));
      out();
      const json = writeJson(`glass-${stamp}.json`, { bench: 'glass', startedAt: new Date(gs).toISOString(), durationS: (Date.now() - gs) / 1000, machine, settings, ...glassJson(o) });
      files.push(json, writeText(`glass-${stamp}.svg`, glassChart(o, `${machine.cpu}, ${machine.cores} cores; ${settings.glassWindowMs / 1000} s per bar`)));
    }
  }

  if (scenarios.includes('pli-flood')) {
    const ps = Date.now();
    // Two load sessions at once (quiet and flooding viewers).
    gen = new Generator(settings.workers, 2);
    const rows = await runPliFlood(SEND_PATHS, gen, { normal: settings.pliViewers, flooders: settings.pliFlooders, pliEveryMs: settings.pliEveryMs, windowMs: settings.windowMs, settleMs: settings.settleMs }, log);
    await gen.close();
    gen = null;
    const t = pliFloodTable(rows);
    out(`## pli-flood\n`);
    out(
      `Source: ${SOURCE.video}. ${settings.pliViewers} quiet werift viewers (RTCP RR and NACK from werift) and ${settings.pliFlooders} that also send a PLI every ${settings.pliEveryMs} ms, ` +
        `as libwebrtc does when it cannot decode, on the same stream; per send path (werift's stock path has no GOP bursts and is left out). Window ${settings.windowMs / 1000} s after ${settings.settleMs / 1000} s settle. ` +
        `What each viewer received per second (RTP payload + 12-byte header); a flooder ÷ quiet ratio near 1 means PLIs no longer buy extra egress.\n`,
    );
    out(t);
    out();
    files.push(writeJson(`pli-flood-${stamp}.json`, { bench: 'pli-flood', startedAt: new Date(ps).toISOString(), durationS: (Date.now() - ps) / 1000, machine, settings, results: rows, table: t }));
  }

  if (scenarios.includes('fuzz')) {
    const fs = Date.now();
    const o = await runFuzz({ seed: settings.fuzzSeed, rounds: settings.fuzzRounds, minutes: settings.fuzzMinutes, srtpCalls: settings.fuzzSrtpCalls }, log);
    out(`## fuzz\n`);
    out(
      `test/fuzz/campaign.ts with bigger rounds: ${o.stats.rounds} round(s) from seed ${settings.fuzzSeed} against one drake (API auth on, one live WebRTC process, one werift viewer watching throughout). ` +
        `After each round: /ping, the first viewer still connected and receiving, a new viewer gets a keyframe. SRTP: ${o.srtp.calls} random calls to the native addon and the JS backend in a child, canary-guarded buffers.\n`,
    );
    out(o.table);
    out();
    const findings = [...o.stats.findings.map((f) => `round ${f.round}, ${f.target}: ${f.what}${f.input ? ` — input: ${f.input}` : ''}`), ...o.srtp.findings, ...(o.srtp.crashed ? [`SRTP child: ${o.srtp.crashed}`] : [])];
    out(findings.length ? `Findings:\n${findings.map((f) => `- ${f}`).join('\n')}\n` : 'No findings.\n');
    files.push(writeJson(`fuzz-${stamp}.json`, { bench: 'fuzz', startedAt: new Date(fs).toISOString(), durationS: o.durationS, machine, settings, stats: o.stats, srtp: o.srtp, table: o.table }));
  }

  if (scenarios.includes('cluster')) {
    const cs = Date.now();
    const r = await runCluster({ joins: settings.clusterJoins, edgeViewers: settings.clusterEdgeViewers, edgeWindowMs: settings.clusterEdgeWindowMs }, log);
    const t = clusterTable(r);
    out(`## cluster\n`);
    out(
      `Three drake nodes on one redis-server, all on this box (separate processes, own ports and dirs), one WebRTC process (testsrc 320x240@25, 500 kbit/s H264 + Opus) placed by load on one of them (A). ` +
        `${settings.clusterJoins} joins each way, alternating, one werift viewer at a time: POST straight to A, or to another node B, which answers 307 to A (the werift client follows it). ` +
        (r.edge
          ? `Edge: a fourth node D in edge mode; ${r.edge.windowS} s windows: A with no viewer, ${r.edge.viewers} werift viewers on A, then ${r.edge.viewers} on D (served from one relay A → D), then none (the relay runs on during D's linger). ` +
            `CPU is each node process's (all threads; FFmpeg is its own process and not counted), in % of one core; per viewer = (with viewers − idle) / viewers on A, (with viewers − relay only) / viewers on D; relay cost = relay only − idle. ` +
            `Latency: server-added per viewer-packet, from the packet reaching A's RTP socket to its hand-off to the viewer's socket (on D, A's ingest stamp travels with the relay: the hop is included); ` +
            `the hop alone is A's stamp → arrival at D. Bucket upper bounds (25, 50, 100, 200, 500 µs, …). The viewers run in the bench process on the same 2 cores. ` +
            `D leaves before the failover. `
          : '') +
        `Then A gets SIGKILL: time until B's API reports the process running with frames on another node, and until a new viewer POSTing to B (redirected to the new owner) has video.\n`,
    );
    out(t);
    out();
    files.push(writeJson(`cluster-${stamp}.json`, { bench: 'cluster', startedAt: new Date(cs).toISOString(), durationS: (Date.now() - cs) / 1000, machine, settings, ...r, table: t }));
  }

  if (scenarios.includes('restreamer-ui')) {
    const rs = Date.now();
    const r = await runRestreamerUi({ record: values.record, shotsDir: values.shots ?? '/tmp/rui-shots' }, log);
    out(`## restreamer-ui\n`);
    out(
      `datarhei Restreamer UI (a local build) in Chromium against a fresh drake with API auth and its RTMP server: log in, the wizard with the "RTMP server" source ` +
        `(an FFmpeg publishing a 640x360@25 test pattern + tone, as OBS would), save, the channel running with progress, Disconnect, Delete.\n`,
    );
    out(restreamerUiTable(r));
    out();
    if (r.run) files.push(writeJson(`restreamer-ui-${stamp}.json`, { bench: 'restreamer-ui', startedAt: new Date(rs).toISOString(), steps: r.run.steps, totalMs: r.run.totalMs, fixture: r.fixture }));
    if (r.run && !r.run.steps.every((s) => s.ok)) process.exitCode = 1;
  }

  if (scenarios.includes('soak')) {
    const ss = Date.now();
    // One drake on drake's default path; the FFmpeg kills every 3 min and the shard crash at 40 % of the churn.
    const opts = { ...SOAK_DEFAULTS, minutes: settings.soakMinutes, viewers: settings.soakViewers, workers: settings.workers, shardCrashAtS: Math.round(settings.soakMinutes * 60 * 0.4) };
    const r = await runSoak(opts, log);
    const t = soakTable(r);
    out(`## soak\n`);
    out(
      `${fmt(opts.minutes, 1)} min of churn on one drake (${opts.path} path, viewers_per_shard ${opts.viewersPerShard}, the 720p30 source): ${opts.viewers} viewer slots, each joins, stays ${opts.minLifeS}–${opts.maxLifeS} s, leaves, pauses up to 2 s, again; ` +
        `FFmpeg SIGKILLed every ${opts.ffmpegKillEveryS} s (${r.ffmpegKills} times; drake reconnects it), peer shard worker 1 crashed at ${opts.shardCrashAtS} s (${r.shardCrashed ? 'done' : 'did not happen'}). ` +
        `Samples every ${opts.sampleEveryS} s; *before* = after a warm-up of ${opts.viewers} viewers at once had left and ${opts.settleS} s of quiet, *after* = the same once the last churn viewer left. ` +
        `Joins: ${r.joins.ok} with video, ${r.joins.failed} without${r.joins.failed ? ` (${Object.entries(r.joins.errors).map(([k, v]) => `${v}× ${k}`).join('; ')})` : ''}. Slope = least squares over the churn samples.\n`,
    );
    out(t);
    out();
    const json = writeJson(`soak-${stamp}.json`, { bench: 'soak', startedAt: new Date(ss).toISOString(), machine, settings, ...r, table: t });
    files.push(json, writeText(`soak-${stamp}.svg`, soakChart(r, `${fmt(opts.minutes, 1)} min, ${machine.cpu}, ${machine.cores} cores`)));
  }

  const total = (performance.now() - t0) / 1000;
  out(`Total runtime ${fmt(total, 0)} s. Files:\n${files.map((f) => `- ${f}`).join('\n')}`);
  await cleanup();
  if (profDir) out(`CPU profiles (one per drake thread, written as drake stopped): ${profDir}\nsummary: node --import tsx bench/profileTop.ts ${profDir}`);
  process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
} catch (err) {
  await fatal(1, err instanceof Error ? (err.stack ?? err.message) : String(err));
}
