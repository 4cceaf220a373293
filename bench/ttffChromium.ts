// Time to first decoded frame in a real Chromium, GOP cache ON vs OFF, for a 2 s-GOP source.
//
//   node --import tsx bench/ttffChromium.ts [--joins N] [--warmup W] [--modes on,off[,lean][,lean-solo][,werift]] [--json FILE]
//
// Two drakes run side by side (webrtc.gop_cache true / false), each with one 640x360@30 testsrc2 +
// sine process (H264 + Opus, gop_seconds 2). `--modes` picks the drakes: on (drake send path, GOP
// cache on), off (drake send path, GOP cache off), lean (drake's lean send path, GOP cache on),
// lean-solo (lean without the shared port), werift (werift's stock send path: no join burst);
// default on,off. Joins are interleaved: join i goes to every mode,
// the order alternating (ABBA...) so that drift in the machine's load hits both alike. A join opens
// /player/<id> in a fresh page of one shared browser, waits for drakePlayer.ttffMs (measured by the
// page: from just before the WHEP POST to the first video frame callback), closes the page, waits
// until drake counts no viewer, then sleeps a random 300–700 ms so that joins land at different
// points of the GOP. W warm-up joins per mode (default 1) go first and are kept out of the stats.
// Prints a markdown table and writes bench/results/ttff-chromium-<ISO time>.json (or --json FILE).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import type { WhepStatsDto } from '../src/shared/protocol.ts';
import { chromiumPath, launchChromium } from '../test/helpers/chromium.ts';
import { startDrake, waitFor, type TestDrake } from '../test/helpers/drake.ts';
import { webrtcProcess } from '../test/helpers/webrtcProcess.ts';
import { pathConfig, type SendPath } from './lib/source.ts';

const { values } = parseArgs({
  options: {
    joins: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'on,off' },
    json: { type: 'string' },
  },
  strict: true,
});
const JOINS = Number(values.joins);
const WARMUP = Number(values.warmup);
if (!Number.isInteger(JOINS) || JOINS < 1) throw new Error(`--joins must be a positive integer, got ${values.joins}`);
if (!Number.isInteger(WARMUP) || WARMUP < 0) throw new Error(`--warmup must be a non-negative integer, got ${values.warmup}`);
const MODE_KEYS = { on: 'gop_cache on', off: 'gop_cache off', lean: 'lean path', 'lean-solo': 'lean-solo path', werift: 'werift path' } as const;
const MODES = values.modes.split(',').map((m) => m.trim());
for (const m of MODES) if (!(m in MODE_KEYS)) throw new Error(`--modes: unknown mode ${m} (${Object.keys(MODE_KEYS).join(', ')})`);
if (MODES.length === 0 || new Set(MODES).size !== MODES.length) throw new Error('--modes must list distinct modes');
if (!chromiumPath()) {
  console.error('Chromium not found: apt-get install -y chromium, or set CHROMIUM_PATH');
  process.exit(2);
}

const PROCESS_ID = 'ttff';
const GOP_SECONDS = 2;
const JOIN_TIMEOUT_MS = 20_000;
// Whole-run guard: the script must stop by itself even if something hangs.
const RUN_LIMIT_MS = 60_000 + (JOINS + WARMUP) * MODES.length * 25_000;
const guard = setTimeout(() => {
  console.error(`bench: gave up after ${RUN_LIMIT_MS} ms`);
  process.exit(1);
}, RUN_LIMIT_MS);
guard.unref();

type ModeName = (typeof MODE_KEYS)[keyof typeof MODE_KEYS];
interface Mode {
  name: ModeName;
  gopCache: boolean;
  sendPath: 'drake' | 'lean' | 'werift';
  drake: TestDrake;
  samples: number[];
  warmup: number[];
  joins: Array<{ ttffMs: number; wallMs: number; posts: number; warmup: boolean; at: string }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  // Nearest rank: the smallest value with at least p % of the samples at or below it.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

async function startMode(name: ModeName, gopCache: boolean, path: SendPath = 'drake'): Promise<Mode> {
  const webrtc = pathConfig(path);
  const sendPath = webrtc.send_path;
  const drake = await startDrake({ webrtc: { gop_cache: gopCache, ...webrtc } });
  const res = await drake.api(
    'POST',
    '/api/v3/process',
    webrtcProcess(
      PROCESS_ID,
      {
        input: [
          { id: 'v', address: 'testsrc2=size=640x360:rate=30', options: ['-re', '-f', 'lavfi'] },
          { id: 'a', address: 'sine=frequency=440:beep_factor=4:sample_rate=48000', options: ['-re', '-f', 'lavfi'] },
        ],
      },
      { gop_seconds: GOP_SECONDS, video_bitrate_kbit: 1000 },
    ),
  );
  if (res.status >= 300) throw new Error(`${name}: creating the process failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { name, gopCache, sendPath, drake, samples: [], warmup: [], joins: [] };
}

const stats = (m: Mode) => m.drake.supervisor.whepStats(PROCESS_ID) as Promise<WhepStatsDto>;
/** Media is flowing into drake: the GOP cache holds packets (on), or the ingest counts video and audio (off: no cache). */
async function hasMedia(m: Mode): Promise<boolean> {
  const s = await stats(m);
  return m.gopCache ? s.gopPackets > 0 : (s.ingest?.video.packets ?? 0) > 0 && (s.ingest?.audio.packets ?? 0) > 0;
}

async function join(browser: Browser, m: Mode, warmup: boolean): Promise<void> {
  const page = await browser.newPage();
  const started = Date.now();
  try {
    await page.goto(`${m.drake.url}/player/${PROCESS_ID}`);
    await page.waitForFunction(`typeof window.drakePlayer?.ttffMs === 'number'`, null, { timeout: JOIN_TIMEOUT_MS, polling: 10 });
    const wallMs = Date.now() - started;
    const { ttffMs, posts } = (await page.evaluate(`(({ ttffMs, posts }) => ({ ttffMs, posts }))(window.drakePlayer)`)) as { ttffMs: number; posts: number };
    (warmup ? m.warmup : m.samples).push(ttffMs);
    m.joins.push({ ttffMs, wallMs, posts, warmup, at: new Date(started).toISOString() });
    process.stderr.write(`${warmup ? 'warm-up ' : ''}${m.name}: ${ttffMs} ms${posts > 1 ? ` (${posts} POSTs)` : ''}\n`);
  } finally {
    await page.close();
  }
  // The page DELETEs its session on pagehide; wait for it so that joins do not overlap.
  await waitFor(`${m.name}: no viewer left`, async () => (await stats(m)).viewers === 0, 15_000, 20).catch((err: unknown) =>
    process.stderr.write(`${m.name}: ${String(err)}\n`),
  );
  await sleep(300 + Math.random() * 400);
}

const modes: Mode[] = [];
let browser: Browser | null = null;
const startedAt = new Date();
try {
  for (const m of MODES) {
    // werift mode keeps the GOP cache filled (so media readiness reads the same) but never bursts from it.
    if (m === 'werift' || m === 'lean' || m === 'lean-solo') modes.push(await startMode(MODE_KEYS[m], true, m));
    else modes.push(await startMode(MODE_KEYS[m as 'on' | 'off'], m === 'on'));
  }
  for (const m of modes) await waitFor(`${m.name}: media`, () => hasMedia(m), 20_000);
  browser = await launchChromium();
  const total = WARMUP + JOINS;
  for (let i = 0; i < total; i++) {
    const order = i % 2 === 0 ? modes : [...modes].reverse();
    for (const m of order) await join(browser, m, i < WARMUP);
  }
  const finalStats: Record<string, WhepStatsDto> = {};
  for (const m of modes) finalStats[m.name] = await stats(m);

  const rows = modes.map((m) => {
    const s = [...m.samples].sort((a, b) => a - b);
    return { mode: m.name, joins: s.length, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1]!, min: s[0]! };
  });
  const table = [
    '| mode | joins | p50 ms | p95 ms | max ms | min ms |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.mode} | ${r.joins} | ${r.p50} | ${r.p95} | ${r.max} | ${r.min} |`),
  ].join('\n');
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const machine = {
    cpu,
    cores: os.cpus().length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    chromium: browser.version(),
    ffmpeg: modes[0]!.drake.ffmpeg.version,
  };
  console.log(
    `TTFF in Chromium (${machine.chromium}), 640x360@30 H264 + Opus, ${GOP_SECONDS} s GOP; ${JOINS} joins per mode after ${WARMUP} warm-up; ` +
      `modes interleaved per join (order alternating), ${modes.length} drakes side by side; random 300–700 ms between joins.\n` +
      `TTFF = page's drakePlayer.ttffMs: WHEP POST sent → first video frame callback. percentiles: nearest rank.\n` +
      `${cpu}, ${machine.cores} cores, node ${machine.node}\n`,
  );
  console.log(table);
  for (const m of modes) {
    const s = finalStats[m.name]!;
    console.log(`\n${m.name}: drake counted ${s.bursts} GOP-cache bursts and ${s.plis} PLIs`);
  }

  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = values.json ? pathToFileURL(resolve(values.json)) : new URL(`ttff-chromium-${startedAt.toISOString().replace(/:/g, '-')}.json`, dir);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        bench: 'ttff-chromium',
        startedAt: startedAt.toISOString(),
        machine,
        settings: { joins: JOINS, warmup: WARMUP, gopSeconds: GOP_SECONDS, video: '640x360@30 testsrc2, 1000 kbit/s', modes: MODES, interleaved: 'per join, order alternating', pauseMs: [300, 700], percentile: 'nearest-rank' },
        results: rows,
        modes: modes.map((m) => ({ mode: m.name, gopCache: m.gopCache, sendPath: m.sendPath, samples: m.samples, warmup: m.warmup, joins: m.joins, whepStats: finalStats[m.name] })),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${file.pathname}`);
} finally {
  await browser?.close().catch(() => undefined);
  await Promise.all(modes.map((m) => m.drake.stop(true).catch(() => undefined)));
}
process.exit(0);
