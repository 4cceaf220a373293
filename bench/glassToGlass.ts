// Glass-to-glass latency in headless Chromium, standalone: the `glass` scenario of `npm run bench`
// (bench/scenarios/glass.ts describes the method) without the other scenarios.
//
//   node --import tsx bench/glassToGlass.ts [--seconds 8] [--warmup 2] [--modes lean,werift] [--levels 0,20]
//                                           [--ingest rtp,srt,rtmp] [--workers n] [--json FILE]
//
// --modes: the send paths (default: drake,lean,werift); --levels: load viewers per measurement;
// --ingest: rtp (drake's process is the stamped source), rtmp, srt (an encoder FFmpeg pushes to
// drake's listening process; measured at load 0, on lean (else the first fan-out path) and werift).
// Prints markdown tables and writes bench/results/glass-<ISO time>.json (or --json FILE) + .svg.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { killAllDrakes } from './lib/drakeChild.ts';
import { Generator } from './lib/generator.ts';
import { isoStamp, machineInfo, writeJson, writeText } from './lib/report.ts';
import { ALL_PATHS, type SendPath } from './lib/source.ts';
import { ALL_INGESTS, closeGlass, defaultIngestPaths, glassChart, glassJson, glassTables, GLASS_SOURCE, killGlass, runGlass, type Ingest } from './scenarios/glass.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    modes: { type: 'string', default: ALL_PATHS.join(',') },
    levels: { type: 'string', default: '0,20' },
    ingest: { type: 'string', default: 'rtp,srt,rtmp' },
    workers: { type: 'string', default: String(Math.max(1, Math.min(4, os.cpus().length))) },
    json: { type: 'string' },
  },
  strict: true,
});
const list = <T extends string>(name: string, raw: string, allowed: readonly T[]): T[] => {
  const xs = raw.split(',').map((x) => x.trim()) as T[];
  for (const x of xs) if (!allowed.includes(x)) throw new Error(`--${name}: unknown ${x} (${allowed.join(', ')})`);
  if (xs.length === 0 || new Set(xs).size !== xs.length) throw new Error(`--${name} must list distinct values`);
  return xs;
};
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
if (!(SECONDS > 0 && SECONDS <= 300)) throw new Error(`--seconds must be in (0, 300], got ${values.seconds}`);
if (!(WARMUP >= 0 && WARMUP <= 60)) throw new Error(`--warmup must be in [0, 60], got ${values.warmup}`);
const paths = list<SendPath>('modes', values.modes, ALL_PATHS);
const ingests = list<Ingest>('ingest', values.ingest, ALL_INGESTS);
const levels = values.levels.split(',').map((x) => Number(x.trim()));
if (levels.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--levels must be whole numbers ≥ 0, got ${values.levels}`);

const cells = (ingests.includes('rtp') ? levels.length * paths.length : 0) + (ingests.length - (ingests.includes('rtp') ? 1 : 0)) * defaultIngestPaths(paths).length;
const RUN_LIMIT_MS = 60_000 + cells * (30_000 + (SECONDS + WARMUP) * 1000) + levels.reduce((s, n) => s + n, 0) * 1000;
let gen: Generator | null = null;
const log = (s: string) => process.stderr.write(`${s}\n`);
async function cleanup(code: number, why?: string): Promise<never> {
  if (why) log(why);
  await Promise.race([closeGlass(), new Promise((r) => setTimeout(r, 15_000))]);
  await Promise.race([gen?.close(), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(code);
}
process.on('exit', () => {
  killGlass();
  killAllDrakes();
});
process.on('SIGINT', () => void cleanup(130, 'interrupted'));
process.on('SIGTERM', () => void cleanup(143, 'terminated'));
setTimeout(() => void cleanup(1, `bench: gave up after ${RUN_LIMIT_MS} ms`), RUN_LIMIT_MS).unref();

try {
  const startedAt = new Date();
  if (levels.some((n) => n > 0)) gen = new Generator(Number(values.workers));
  const o = await runGlass(
    { paths, levels, ingests, ingestPaths: defaultIngestPaths(paths), windowMs: SECONDS * 1000, warmupMs: WARMUP * 1000 },
    gen,
    log,
  );
  if (o.skipped) {
    console.error(o.skipped);
    await cleanup(2);
  }
  const machine = machineInfo('ffmpeg');
  console.log(
    `Glass-to-glass in Chromium ${o.chromium}: ${GLASS_SOURCE.video}; ${GLASS_SOURCE.audio}. ${WARMUP} s warm-up then ${SECONDS} s of frames per measurement.\n` +
      `${machine.cpu}, ${machine.cores} cores, node ${machine.node}, FFmpeg ${machine.ffmpeg}\n`,
  );
  console.log(glassTables(o));
  const body = { bench: 'glass', startedAt: startedAt.toISOString(), machine, ...glassJson(o) };
  const stamp = isoStamp(startedAt);
  let file: string;
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify(body, null, 2)}\n`);
    file = values.json;
  } else file = writeJson(`glass-${stamp}.json`, body);
  const svg = writeText(`glass-${stamp}.svg`, glassChart(o, `${machine.cpu}, ${machine.cores} cores; ${SECONDS} s per bar`));
  console.log(`\nwrote ${file}\nwrote ${svg}`);
  await cleanup(0);
} catch (err) {
  await cleanup(1, err instanceof Error ? (err.stack ?? err.message) : String(err));
}
