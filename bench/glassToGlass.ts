// Glass-to-glass latency of drake's WHEP path in headless Chromium: from the moment the source
// FFmpeg generates a frame to the moment Chromium expects to display it.
//
//   node --import tsx bench/glassToGlass.ts [--seconds S] [--warmup W] [--modes lean,werift] [--json FILE]
//
// Method. The source is a drake process whose only input is a lavfi graph: a black 640x360@30
// `color` source read with -re, whose frames get the wall clock stamped into them as pixels:
//   settb=1/1000000, setpts=RTCTIME/(TB*1000000)   → the frame's t is the wall clock (µs) at the
//                                                      moment lavfi produced it
//   20 × drawbox (row 0, 32x32 px each, enable=bit k of floor(t*1000)) → wall-clock ms mod 2^20
//   16 × drawbox (row 1, y=48)                       → frame number n mod 2^16 (a cross-check)
//   setpts=N/(30*TB), settb=1/30                     → the original timestamps again
// so no clock offset has to be estimated: FFmpeg's RTCTIME is av_gettime() (gettimeofday), the
// same system clock as Chromium's performance.timeOrigin + performance.now() on this machine.
// With one input FFmpeg 5.1 reads in its main thread and -re makes it read a frame only when the
// previous one is due, so the stamp is the moment the frame enters the pipeline (a camera's
// capture), then x264 (veryfast, zerolatency) → RTP → drake → WebRTC → Chromium.
// In the page, video.requestVideoFrameCallback hands every frame's metadata; the callback draws
// the top 80 rows of the video to a canvas, reads the 36 box centres (threshold 128; a sample
// with any centre in 64..192 counts as unreadable) and records
//   display = performance.timeOrigin + meta.expectedDisplayTime   (wall ms)
//   receive = performance.timeOrigin + meta.receiveTime            (last packet of the frame in)
// latency = display − stamp, the stamp's full value recovered from its 20 low bits (17 min wrap).
// Error budget: the stamp is truncated to whole ms (+0..1 ms, corrected by +0.5 ms); Chromium's
// clock is coarsened to 0.1 ms; timeOrigin vs Date.now() is measured in the page and reported
// (clockSkewMs); expectedDisplayTime is the compositor's next-vsync estimate (headless: no real
// panel, so the last ~16 ms of a real screen's scan-out is not in the number).
// Modes run one after the other, each in its own drake (webrtc.send_path), no other viewers.
// Prints a markdown table and writes bench/results/glass-to-glass-<ISO time>.json (or --json FILE).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { chromiumPath, launchChromium } from '../test/helpers/chromium.ts';
import { startDrake, type TestDrake } from '../test/helpers/drake.ts';
import { webrtcProcess } from '../test/helpers/webrtcProcess.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'lean,werift' },
    json: { type: 'string' },
  },
  strict: true,
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
if (!(SECONDS > 0 && SECONDS <= 300)) throw new Error(`--seconds must be in (0, 300], got ${values.seconds}`);
if (!(WARMUP >= 0 && WARMUP <= 60)) throw new Error(`--warmup must be in [0, 60], got ${values.warmup}`);
const SEND_PATHS = ['drake', 'lean', 'werift'] as const;
type SendPath = (typeof SEND_PATHS)[number];
const MODES = values.modes.split(',').map((m) => m.trim()) as SendPath[];
for (const m of MODES) if (!SEND_PATHS.includes(m)) throw new Error(`--modes: unknown send path ${m} (${SEND_PATHS.join(', ')})`);
if (MODES.length === 0 || new Set(MODES).size !== MODES.length) throw new Error('--modes must list distinct send paths');
if (!chromiumPath()) {
  console.error('Chromium not found: apt-get install -y chromium, or set CHROMIUM_PATH');
  process.exit(2);
}

const PROCESS_ID = 'g2g';
const FPS = 30;
const TS_BITS = 20;
const N_BITS = 16;
const BOX = 32;
const N_ROW_Y = 48;
const PLAY_TIMEOUT_MS = 20_000;
const RUN_LIMIT_MS = 60_000 + MODES.length * (40_000 + (SECONDS + WARMUP) * 1000);
const guard = setTimeout(() => {
  console.error(`bench: gave up after ${RUN_LIMIT_MS} ms`);
  process.exit(1);
}, RUN_LIMIT_MS);
guard.unref();

/** The lavfi graph described at the top: wall-clock ms and frame number as bit strips. */
function stampedSource(): string {
  const parts = [`color=c=black:size=640x360:rate=${FPS}`, 'settb=1/1000000', 'setpts=RTCTIME/(TB*1000000)'];
  for (let k = 0; k < TS_BITS; k++) {
    parts.push(`drawbox=x=${k * BOX}:y=0:w=${BOX}:h=${BOX}:c=white:t=fill:enable='mod(floor(t*1000/${2 ** k}),2)'`);
  }
  for (let k = 0; k < N_BITS; k++) {
    parts.push(`drawbox=x=${k * BOX}:y=${N_ROW_Y}:w=${BOX}:h=${BOX}:c=white:t=fill:enable='mod(floor(n/${2 ** k}),2)'`);
  }
  parts.push(`setpts=N/(${FPS}*TB)`, `settb=1/${FPS}`);
  return parts.join(',');
}

interface RawSample {
  ts: number; // stamp: wall ms mod 2^20
  n: number; // frame number mod 2^16
  display: number; // wall ms
  receive: number | null; // wall ms
  presented: number; // meta.presentedFrames
  bad: boolean;
}
interface Sample {
  n: number;
  genMs: number;
  latencyMs: number;
  receiveMs: number | null; // stamp → last packet received
  presented: number;
}

// Runs in the page: collects samples for `ms` milliseconds. Kept as a string so that tsc's DOM-less
// lib does not have to know HTMLVideoElement.requestVideoFrameCallback.
const COLLECT = `(async ({ ms, tsBits, nBits, box, nRowY }) => {
  const video = document.getElementById('video');
  const canvas = document.createElement('canvas');
  canvas.width = tsBits * box; canvas.height = nRowY + box;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const out = [];
  const skew = [];
  const end = performance.now() + ms;
  await new Promise((done) => {
    const onFrame = (now, meta) => {
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height, 0, 0, canvas.width, canvas.height);
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let ts = 0, n = 0, bad = false;
      const bit = (x, y) => {
        const v = px[(y * canvas.width + x) * 4 + 1];
        if (v > 64 && v < 192) bad = true;
        return v >= 128 ? 1 : 0;
      };
      for (let k = 0; k < tsBits; k++) ts += bit(k * box + box / 2, box / 2) * 2 ** k;
      for (let k = 0; k < nBits; k++) n += bit(k * box + box / 2, nRowY + box / 2) * 2 ** k;
      out.push({
        ts, n, bad, presented: meta.presentedFrames,
        display: performance.timeOrigin + meta.expectedDisplayTime,
        receive: typeof meta.receiveTime === 'number' ? performance.timeOrigin + meta.receiveTime : null,
      });
      skew.push(Date.now() - (performance.timeOrigin + performance.now()));
      if (performance.now() < end) video.requestVideoFrameCallback(onFrame); else done();
    };
    video.requestVideoFrameCallback(onFrame);
  });
  return { samples: out, skew, width: video.videoWidth, height: video.videoHeight };
})`;

function percentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}
const r1 = (x: number) => Math.round(x * 10) / 10;

function toSample(s: RawSample): Sample {
  const wrap = 2 ** TS_BITS;
  // Stamp's full value: the latest wall ms ≤ display whose low 20 bits are ts.
  const delta = (((Math.floor(s.display) - s.ts) % wrap) + wrap) % wrap;
  const genMs = Math.floor(s.display) - delta + 0.5; // +0.5: the stamp was truncated to whole ms
  return { n: s.n, genMs, latencyMs: s.display - genMs, receiveMs: s.receive === null ? null : s.receive - genMs, presented: s.presented };
}

interface ModeResult {
  sendPath: SendPath;
  frames: number;
  unreadable: number;
  skipped: number; // frames the source made that Chromium never called back for (by n)
  p50: number;
  p95: number;
  max: number;
  min: number;
  jitterP95: number; // p95 − min
  receiveP50: number | null;
  receiveToDisplayP50: number | null;
  clockSkewMs: { min: number; max: number };
  video: string;
  samples: Sample[];
}

async function runMode(browser: Browser, sendPath: SendPath): Promise<ModeResult> {
  let drake: TestDrake | null = null;
  const page = await browser.newPage();
  try {
    drake = await startDrake({ webrtc: { send_path: sendPath } });
    const res = await drake.api(
      'POST',
      '/api/v3/process',
      webrtcProcess(
        PROCESS_ID,
        { input: [{ id: 'v', address: stampedSource(), options: ['-re', '-f', 'lavfi'] }] },
        { audio: 'none', gop_seconds: 1, video_bitrate_kbit: 1000 },
      ),
    );
    if (res.status >= 300) throw new Error(`${sendPath}: creating the process failed: ${res.status} ${JSON.stringify(res.body)}`);
    // The player retries on its own until the process has media.
    await page.goto(`${drake.url}/player/${PROCESS_ID}`);
    await page.waitForFunction(`window.drakePlayer?.state === 'playing'`, null, { timeout: PLAY_TIMEOUT_MS, polling: 50 });
    await page.waitForTimeout(WARMUP * 1000);
    const got = (await page.evaluate(`${COLLECT}(${JSON.stringify({ ms: SECONDS * 1000, tsBits: TS_BITS, nBits: N_BITS, box: BOX, nRowY: N_ROW_Y })})`)) as {
      samples: RawSample[];
      skew: number[];
      width: number;
      height: number;
    };
    const good = got.samples.filter((s) => !s.bad);
    const samples = good.map(toSample);
    if (samples.length === 0) throw new Error(`${sendPath}: no readable frame`);
    const lat = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
    const recv = samples.flatMap((s) => (s.receiveMs === null ? [] : [s.receiveMs])).sort((a, b) => a - b);
    const r2d = samples.flatMap((s) => (s.receiveMs === null ? [] : [s.latencyMs - s.receiveMs])).sort((a, b) => a - b);
    const ns = samples.map((s) => s.n);
    const span = (((ns[ns.length - 1]! - ns[0]!) % 2 ** N_BITS) + 2 ** N_BITS) % 2 ** N_BITS;
    const distinct = new Set(ns).size;
    const min = lat[0]!;
    const result: ModeResult = {
      sendPath,
      frames: samples.length,
      unreadable: got.samples.length - good.length,
      skipped: Math.max(0, span + 1 - distinct),
      p50: r1(percentile(lat, 50)),
      p95: r1(percentile(lat, 95)),
      max: r1(lat[lat.length - 1]!),
      min: r1(min),
      jitterP95: r1(percentile(lat, 95) - min),
      receiveP50: recv.length ? r1(percentile(recv, 50)) : null,
      receiveToDisplayP50: r2d.length ? r1(percentile(r2d, 50)) : null,
      clockSkewMs: { min: r1(Math.min(...got.skew)), max: r1(Math.max(...got.skew)) },
      video: `${got.width}x${got.height}`,
      samples,
    };
    process.stderr.write(`${sendPath}: ${result.frames} frames, p50 ${result.p50} ms, p95 ${result.p95} ms, max ${result.max} ms\n`);
    return result;
  } finally {
    await page.close().catch(() => undefined);
    await drake?.stop(true).catch(() => undefined);
  }
}

let browser: Browser | null = null;
const startedAt = new Date();
const results: ModeResult[] = [];
try {
  browser = await launchChromium();
  for (const m of MODES) results.push(await runMode(browser, m));
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    chromium: browser.version(),
  };
  const table = [
    '| send path | frames | p50 ms | p95 ms | max ms | min ms | p95−min ms | stamp→received p50 ms | received→display p50 ms | unreadable | skipped |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.sendPath} | ${r.frames} | ${r.p50} | ${r.p95} | ${r.max} | ${r.min} | ${r.jitterP95} | ${r.receiveP50 ?? '–'} | ${r.receiveToDisplayP50 ?? '–'} | ${r.unreadable} | ${r.skipped} |`,
    ),
  ].join('\n');
  console.log(
    `Glass-to-glass in Chromium (${machine.chromium}), 640x360@${FPS} H264 (x264 veryfast zerolatency, 1000 kbit/s), no other viewers; ` +
      `${WARMUP} s warm-up then ${SECONDS} s of frames per send path.\n` +
      `latency = performance.timeOrigin + expectedDisplayTime − the wall-clock ms FFmpeg stamped into the frame's pixels (RTCTIME). percentiles: nearest rank.\n` +
      `${machine.cpu}, ${machine.cores} cores, node ${machine.node}\n`,
  );
  console.log(table);
  for (const r of results) console.log(`\n${r.sendPath}: video ${r.video}; page clock Date.now() − (timeOrigin + now()) in [${r.clockSkewMs.min}, ${r.clockSkewMs.max}] ms`);
  const worstP95 = Math.max(...results.map((r) => r.p95));
  console.log(
    `\ndatarhei's WebRTC bar: p95 < 300 ms (RTMP ingest), < 200 ms (SRT ingest). drake's ingest here is FFmpeg's own RTP on loopback (no network ingest): ` +
      `worst p95 ${worstP95} ms → ${worstP95 < 200 ? 'under both bars' : worstP95 < 300 ? 'under the RTMP bar only' : 'over both bars'}.`,
  );

  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = values.json ? pathToFileURL(resolve(values.json)) : new URL(`glass-to-glass-${startedAt.toISOString().replace(/:/g, '-')}.json`, dir);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        bench: 'glass-to-glass',
        startedAt: startedAt.toISOString(),
        machine,
        settings: {
          seconds: SECONDS,
          warmup: WARMUP,
          video: `640x360@${FPS} lavfi color + drawbox bit strips (wall ms mod 2^${TS_BITS}, frame number mod 2^${N_BITS}), x264 1000 kbit/s, gop 1 s, no audio`,
          modes: MODES,
          viewers: 0,
          percentile: 'nearest-rank',
          latency: 'performance.timeOrigin + meta.expectedDisplayTime − stamp (+0.5 ms for truncation)',
          source: stampedSource(),
        },
        results: results.map(({ samples: _s, ...r }) => r),
        samples: Object.fromEntries(results.map((r) => [r.sendPath, r.samples])),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${file.pathname}`);
} finally {
  await browser?.close().catch(() => undefined);
}
process.exit(0);
