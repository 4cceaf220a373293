// Scenario glass: glass-to-glass latency in headless Chromium — from the moment the source makes a
// frame to the moment Chromium expects to display it — per send path, per load level (N werift load
// viewers on the same stream), and per ingest: RTP (the source is drake's own process), RTMP and SRT
// (a separate "encoder" FFmpeg pushes to drake's process, which listens).
//
// Method. The source is a lavfi graph: testsrc2 640x360@30 read with -re (moving content, so x264
// makes ≈ 1 Mbit/s; 720p would saturate a 2-core box together with Chromium's decoder), whose frames get the wall
// clock stamped into them as pixels:
//   settb=1/1000000, setpts=RTCTIME/(TB*1000000)   → the frame's t is the wall clock (µs) at the
//                                                      moment lavfi produced it
//   drawbox (black, 640x80 at the top left)        → a clean background for the bits
//   20 × drawbox (row 0, 32x32 px each, enable=bit k of floor(t*1000)) → wall-clock ms mod 2^20
//   16 × drawbox (row 1, y=48)                       → frame number n mod 2^16 (a cross-check)
//   setpts=N/(30*TB), settb=1/30                     → the original timestamps again
// plus a sine in the same lavfi graph (one input: FFmpeg 5.1 reads a single input in its main thread,
// and -re lets it read a frame only when the previous one is due, so the stamp is the moment the
// frame enters the pipeline, like a camera's capture; with two inputs each would get a reader thread
// that fills an 8-packet queue ahead of -re and the stamps would come early). No clock offset has to
// be estimated: FFmpeg's RTCTIME is gettimeofday, the same clock as Chromium's
// performance.timeOrigin + performance.now() on this machine (the page measures the difference).
// In the page, video.requestVideoFrameCallback hands every frame's metadata; the callback draws the
// top rows of the video to a canvas, reads the 36 box centres (threshold 128; a sample with any
// centre in 64..192, or whose stamp decodes to after its display time or > 10 s before it, counts as
// unreadable) and records
//   display = performance.timeOrigin + meta.expectedDisplayTime   (wall ms)
//   receive = performance.timeOrigin + meta.receiveTime            (last packet of the frame in)
// latency = display − stamp (the stamp's full value recovered from its 20 low bits; +0.5 ms for the
// truncation to whole ms). stamp → received is the arrival at the viewer (encode + ingest + drake +
// loopback + the browser's RTP receive). The load viewers (werift, bench/loadViewer.ts) decode nothing,
// so they have no stamp → received; drake's own histogram (arrival at its RTP socket → hand-off to
// each viewer's socket, every viewer-packet of the window, load viewers included) is reported next to it.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { Browser } from 'playwright-core';
import { latencyPercentile } from '../../src/shared/latencyHistogram.ts';
import type { WhepStatsDto } from '../../src/shared/protocol.ts';
import { chromiumPath, launchChromium } from '../../test/helpers/chromium.ts';
import { whipPublish } from '../../test/helpers/whipPublisher.ts';
import { DrakeChild } from '../lib/drakeChild.ts';
import type { Generator, LoadSession } from '../lib/generator.ts';
import { cpuSeconds, machineCpu } from '../lib/proc.ts';
import { COLORS, fmt, percentile, table } from '../lib/report.ts';
import { pathEnv, waitFor, type SendPath } from '../lib/source.ts';

/**
 * rtp: drake's process makes the source. rtmp / srt: an encoder pushes to an FFmpeg listener that is the
 * process's input. rtmp-server: the encoder publishes to drake's built-in RTMP server and the process reads it
 * through {rtmp,name=glass}, as an OBS user would set drake up; srt-server: the same with drake's SRT server
 * and {srt,name=glass,mode=request}. whip: a werift WHIP publisher (FFmpeg encodes the same stamped source to RTP
 * for it) publishes to drake and Chromium watches whip:glass: no FFmpeg inside drake at all.
 */
export type Ingest = 'rtp' | 'rtmp' | 'srt' | 'rtmp-server' | 'srt-server' | 'whip';
export const ALL_INGESTS: readonly Ingest[] = ['rtp', 'rtmp', 'srt', 'rtmp-server', 'srt-server', 'whip'];
/** datarhei's WebRTC fork: p95 glass-to-glass bars by ingest. RTP (FFmpeg's own, loopback) has none: the stricter one is shown. */
export const DATARHEI_BAR_MS: Record<Ingest, number> = { rtp: 200, rtmp: 300, srt: 200, 'rtmp-server': 300, 'srt-server': 200, whip: 200 };
/** The ingests an encoder publishes to, and the transport its port is on. */
type Pushed = 'rtmp' | 'srt' | 'rtmp-server' | 'srt-server';
const PORT_KIND: Record<Pushed, 'tcp' | 'udp'> = { rtmp: 'tcp', srt: 'udp', 'rtmp-server': 'tcp', 'srt-server': 'udp' };
const PUSHED: readonly Pushed[] = ['rtmp', 'srt', 'rtmp-server', 'srt-server'];

const FPS = 30;
const WIDTH = 640;
const HEIGHT = 360;
const KBIT = 1000;
const GOP_S = 2;
const TS_BITS = 20;
const N_BITS = 16;
const BOX = 32;
const N_ROW_Y = 48;
const PLAY_TIMEOUT_MS = 20_000;
const PROCESS_IDS: Record<Ingest, string> = { rtp: 'glass', rtmp: 'glass-rtmp', srt: 'glass-srt', 'rtmp-server': 'glass-rtmp-server', 'srt-server': 'glass-srt-server', whip: 'whip:glass' };

export const GLASS_SOURCE = {
  video: `testsrc2 ${WIDTH}x${HEIGHT}@${FPS} (-re) with the wall clock drawn in (20-bit ms strip + 16-bit frame number), H264 x264 veryfast/zerolatency baseline ${KBIT} kbit/s, keyframe every ${GOP_S} s`,
  audio: 'sine 440 Hz in the same lavfi graph → Opus 96 kbit/s (RTMP/SRT: AAC 128 kbit/s from the encoder, Opus from drake)',
};

/** The lavfi graph described at the top: [out0] stamped video, [out1] a tone. */
export function stampedGraph(): string {
  const v = [`testsrc2=size=${WIDTH}x${HEIGHT}:rate=${FPS}`, 'settb=1/1000000', 'setpts=RTCTIME/(TB*1000000)'];
  v.push(`drawbox=x=0:y=0:w=${TS_BITS * BOX}:h=${N_ROW_Y + BOX}:c=black:t=fill`);
  for (let k = 0; k < TS_BITS; k++) v.push(`drawbox=x=${k * BOX}:y=0:w=${BOX}:h=${BOX}:c=white:t=fill:enable='mod(floor(t*1000/${2 ** k}),2)'`);
  for (let k = 0; k < N_BITS; k++) v.push(`drawbox=x=${k * BOX}:y=${N_ROW_Y}:w=${BOX}:h=${BOX}:c=white:t=fill:enable='mod(floor(n/${2 ** k}),2)'`);
  v.push(`setpts=N/(${FPS}*TB)`, `settb=1/${FPS}`);
  return `${v.join(',')}[out0];sine=frequency=440:sample_rate=48000[out1]`;
}

/**
 * The process as a drake user would write it. rtp: the stamped graph is the process's input and
 * drake transcodes it for WebRTC (its usual path). rtmp/srt: the process listens for an encoder
 * and passes its H264 through (`webrtc.video: copy`), audio AAC → Opus; the stored output is a
 * null sink (a real setup would record or restream here).
 */
export function glassProcess(ingest: Ingest, port = 0): Record<string, unknown> {
  const common = { autostart: false, reconnect: true, reconnect_delay_seconds: 1 };
  if (ingest === 'rtp') {
    return {
      id: PROCESS_IDS.rtp,
      input: [{ id: 'src', address: stampedGraph(), options: ['-re', '-f', 'lavfi'] }],
      output: [{ id: 'null', address: '-', options: ['-map', '0:a', '-f', 'null'] }],
      ...common,
      webrtc: { enabled: true, video_bitrate_kbit: KBIT, gop_seconds: GOP_S },
    };
  }
  if (ingest === 'rtmp-server' || ingest === 'srt-server') {
    return {
      id: PROCESS_IDS[ingest],
      // SRT: a shorter MPEG-TS probe (FFmpeg's default takes ≈ 6 s to start reading).
      input: ingest === 'rtmp-server' ? [{ id: 'in', address: '{rtmp,name=glass}', options: [] }] : [{ id: 'in', address: '{srt,name=glass,mode=request}', options: ['-analyzeduration', '1000000'] }],
      output: [{ id: 'null', address: '-', options: ['-map', '0', '-c', 'copy', '-f', 'null'] }],
      ...common,
      webrtc: { enabled: true, video: 'copy' },
    };
  }
  const address = ingest === 'rtmp' ? `rtmp://127.0.0.1:${port}/live/glass` : `srt://127.0.0.1:${port}?mode=listener`;
  return {
    id: PROCESS_IDS[ingest],
    input: [{ id: 'in', address, options: ingest === 'rtmp' ? ['-listen', '1'] : [] }],
    output: [{ id: 'null', address: '-', options: ['-map', '0', '-c', 'copy', '-f', 'null'] }],
    ...common,
    webrtc: { enabled: true, video: 'copy' },
  };
}

/** x264 as drake's own transcode of the glass source: the encoders and the WHIP publisher use it. */
const GLASS_X264 = [
  '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0',
  '-force_key_frames', `expr:gte(t,n_forced*${GOP_S})`, '-sc_threshold', '0',
  '-b:v', `${KBIT}k`, '-maxrate', `${KBIT}k`, '-bufsize', `${KBIT * 2}k`,
];

/** The encoder that pushes to drake's RTMP/SRT listener: same graph, same x264 settings as drake's transcode, AAC audio. */
export function encoderArgs(ingest: Pushed, port: number): string[] {
  const target =
    ingest === 'rtmp' ? ['-f', 'flv', `rtmp://127.0.0.1:${port}/live/glass`]
    : ingest === 'rtmp-server' ? ['-f', 'flv', `rtmp://127.0.0.1:${port}/glass`]
    : ingest === 'srt-server' ? ['-f', 'mpegts', `srt://127.0.0.1:${port}?mode=caller&transtype=live&latency=20000&streamid=glass,mode:publish`]
    : ['-f', 'mpegts', `srt://127.0.0.1:${port}?mode=caller`];
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-nostdin',
    '-re', '-f', 'lavfi', '-i', stampedGraph(),
    '-map', '0:v', '-map', '0:a',
    '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', ...GLASS_X264,
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000',
    ...target,
  ];
}

export interface GlassOptions {
  paths: SendPath[];
  /** Load viewers per measurement, e.g. [0, 20]. */
  levels: number[];
  /** Extra ingests (rtmp, srt) are measured at load 0 on these paths. */
  ingests: Ingest[];
  ingestPaths: SendPath[];
  windowMs: number;
  warmupMs: number;
}

interface RawSample {
  ts: number; // stamp: wall ms mod 2^20
  n: number; // frame number mod 2^16
  display: number; // wall ms
  receive: number | null; // wall ms
  presented: number; // meta.presentedFrames
  bad: boolean;
}
export interface GlassSample {
  n: number;
  /** Stamp → expected display (ms). */
  latencyMs: number;
  /** Stamp → last packet of the frame received (ms). */
  receiveMs: number | null;
}

export interface GlassCell {
  ingest: Ingest;
  path: SendPath;
  load: number;
  /** Load viewers with video / failed (their POSTs are retried up to 3 times). */
  loadJoined: number;
  loadFailed: number;
  frames: number;
  /** Callbacks with a box centre between black and white, or a stamp after the display time / > 10 s before it (misread). */
  unreadable: number;
  /** Frames the source made (by frame number) that Chromium never called back for. */
  skipped: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
  min: number | null;
  receiveP50: number | null;
  receiveP95: number | null;
  receiveMax: number | null;
  receiveToDisplayP50: number | null;
  /** Chromium's getStats() in the window: jitter-buffer delay per emitted frame/sample, mean and worst 1 s. */
  jitterBuffer: {
    video: { meanMs: number | null; maxSecondMs: number | null };
    audio: { meanMs: number | null; maxSecondMs: number | null };
    videoFreezes: number | null;
  };
  /** drake's server-added latency in the window (RTP socket → viewer socket, every viewer-packet), bucket upper bounds in µs. */
  serverP50Us: number | null;
  serverP99Us: number | null;
  machineCpuPct: number;
  drakeCpuPct: number;
  clockSkewMs: { min: number; max: number };
  video: string;
  /** ms spent on: starting the source, joining the load, Chromium's join to 'playing'; whole cell. */
  phasesMs: { source: number; load: number; play: number; total: number };
  error?: string;
  samples: GlassSample[];
}

export interface GlassOutcome {
  skipped?: string;
  chromium?: string;
  cells: GlassCell[];
  options?: GlassOptions;
  order?: string[];
  processes?: Partial<Record<Ingest, Record<string, unknown>>>;
  encoder?: Partial<Record<Pushed, string[]>>;
}

// Runs in the page: collects samples for `ms` milliseconds. A string, so that tsc's DOM-less lib
// does not have to know HTMLVideoElement.requestVideoFrameCallback.
const COLLECT = `(async ({ ms, tsBits, nBits, box, nRowY }) => {
  const video = document.getElementById('video');
  const canvas = document.createElement('canvas');
  canvas.width = tsBits * box; canvas.height = nRowY + box;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const out = [];
  const skew = [];
  // Chromium's inbound-rtp counters, every second: tells the jitter buffer (and A/V sync, which
  // raises the video buffer to match audio's) apart from decode and compositing in receive→display.
  const pc = window.drakePlayer && window.drakePlayer.pc;
  const jb = [];
  const readJb = async () => {
    if (!pc) return;
    const o = { at: performance.now() };
    (await pc.getStats()).forEach((x) => {
      if (x.type === 'inbound-rtp' && (x.kind === 'video' || x.kind === 'audio'))
        o[x.kind] = { delay: x.jitterBufferDelay || 0, emitted: x.jitterBufferEmittedCount || 0, freezes: x.freezeCount || 0 };
    });
    jb.push(o);
  };
  await readJb();
  const jbTimer = setInterval(readJb, 1000);
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
  clearInterval(jbTimer);
  await readJb();
  return { samples: out, skew, width: video.videoWidth, height: video.videoHeight, jb };
})`;

interface JbRead {
  at: number;
  video?: { delay: number; emitted: number; freezes: number };
  audio?: { delay: number; emitted: number; freezes: number };
}

/** Mean jitter-buffer delay (ms) over the window and its largest 1 s interval, per kind; video freezes in the window. */
function jitterBuffer(reads: JbRead[]): GlassCell['jitterBuffer'] {
  const kind = (k: 'video' | 'audio') => {
    const r = reads.filter((x) => x[k]);
    const mean = (a: JbRead, b: JbRead) => {
      const n = b[k]!.emitted - a[k]!.emitted;
      return n > 0 ? ((b[k]!.delay - a[k]!.delay) / n) * 1000 : null;
    };
    if (r.length < 2) return { meanMs: null, maxSecondMs: null };
    const seconds = r.slice(1).map((b, i) => mean(r[i]!, b)).filter((x): x is number => x !== null);
    return { meanMs: r1(mean(r[0]!, r[r.length - 1]!)), maxSecondMs: seconds.length ? r1(Math.max(...seconds)) : null };
  };
  const v = reads.filter((x) => x.video);
  return { video: kind('video'), audio: kind('audio'), videoFreezes: v.length >= 2 ? v[v.length - 1]!.video!.freezes - v[0]!.video!.freezes : null };
}

const r1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

/** Stamps more than this before the display time, or any after it, are misreads (a bit flipped by the encoder). */
const PLAUSIBLE_MS = 10_000;

function toSample(s: RawSample): GlassSample | null {
  const wrap = 2 ** TS_BITS;
  // The stamp's full value: the wall ms nearest to the display time whose low 20 bits are ts.
  let delta = (((Math.floor(s.display) - s.ts) % wrap) + wrap) % wrap;
  if (delta > wrap / 2) delta -= wrap;
  const genMs = Math.floor(s.display) - delta + 0.5; // +0.5: the stamp was truncated to whole ms
  const latencyMs = s.display - genMs;
  if (latencyMs < -2 || latencyMs > PLAUSIBLE_MS) return null;
  return { n: s.n, latencyMs: r1(latencyMs)!, receiveMs: s.receive === null ? null : r1(s.receive - genMs) };
}

// ---- everything this scenario starts, so that it can be stopped from anywhere ----

const encoders = new Set<ChildProcess>();
const drakes = new Set<DrakeChild>();
let browser: Browser | null = null;

/** Synchronous last resort (process 'exit'): SIGKILL the encoders' groups; drakes via killAllDrakes, Chromium via playwright's own exit hook. */
export function killGlass(): void {
  for (const c of encoders) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  encoders.clear();
  for (const d of drakes) d.kill();
}

/** Stops everything the scenario started (idempotent). */
export async function closeGlass(): Promise<void> {
  killGlass();
  const b = browser;
  browser = null;
  await Promise.all([b?.close().catch(() => undefined), ...[...drakes].map((d) => d.stop().catch(() => d.kill()))]);
  drakes.clear();
}

/** A pushing encoder that reconnects until stopped (drake's listener may not be up yet, and restarts after the encoder leaves). */
class Encoder {
  #child: ChildProcess | null = null;
  #stopped = false;
  #tail = '';
  readonly starts: number[] = [];
  constructor(
    readonly ffmpeg: string,
    readonly args: string[],
    readonly label: string,
  ) {}

  start(): void {
    if (this.#stopped) return;
    const child = spawn(this.ffmpeg, this.args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.#child = child;
    encoders.add(child);
    this.starts.push(Date.now());
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (this.#tail = (this.#tail + c).slice(-2000)));
    child.once('exit', () => {
      encoders.delete(child);
      if (this.#child === child) this.#child = null;
      if (!this.#stopped) setTimeout(() => this.start(), 300);
    });
  }

  get tail(): string {
    return this.#tail.trim();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const c = this.#child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    try {
      process.kill(-c.pid!, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 3000);
    await gone;
    clearTimeout(t);
  }
}

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'tcp') {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    return port;
  }
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  await new Promise<void>((r) => sock.close(() => r()));
  return port;
}

/** Whether something listens on 127.0.0.1:port (TCP in LISTEN state, or a bound UDP socket), from /proc/net (no connection made: FFmpeg's listeners accept one peer). */
function listening(kind: 'tcp' | 'udp', port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    return readFileSync(`/proc/net/${kind}`, 'utf8')
      .split('\n')
      .slice(1)
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return f[1] === want && (kind === 'udp' || f[3] === '0A');
      });
  } catch {
    return false;
  }
}

function serverLatency(a: WhepStatsDto, b: WhepStatsDto): { p50: number | null; p99: number | null } {
  if (!a.latency || !b.latency) return { p50: null, p99: null };
  const counts = b.latency.counts.map((c, i) => c - (a.latency!.counts[i] ?? 0));
  if (!counts.some((c) => c > 0)) return { p50: null, p99: null };
  return { p50: latencyPercentile(counts, 50), p99: latencyPercentile(counts, 99) };
}

interface Cell {
  ingest: Ingest;
  path: SendPath;
  load: number;
}

/** drake's webrtc config for a bench path ('lean-solo': the lean path with webrtc.shared_port off; 'lean-nogso': lean, started with DRAKE_GSO=0). */
function webrtcFor(path: string): Record<string, unknown> {
  if (path === 'lean-solo') return { send_path: 'lean', shared_port: false };
  return { send_path: path.startsWith('lean-') ? 'lean' : path };
}
const colorOf = (path: string) => (COLORS as Record<string, string>)[path] ?? COLORS.grey;

/** Where the RTMP/SRT rows run by default: drake's default send path (lean; else the first fan-out path selected) and werift, the baseline. */
export function defaultIngestPaths(paths: readonly SendPath[]): SendPath[] {
  const fanout = paths.includes('lean') ? 'lean' : paths.find((p) => p !== 'werift');
  const out = paths.filter((p) => p === fanout || p === 'werift');
  return out.length ? out : [...paths];
}

/** RTP at every level with the paths in turn (order alternating per level), then each extra ingest at load 0 (order alternating on). */
export function glassOrder(o: Pick<GlassOptions, 'paths' | 'levels' | 'ingests' | 'ingestPaths'>): Cell[] {
  const cells: Cell[] = [];
  let turn = 0;
  const take = (ingest: Ingest, load: number, paths: SendPath[]) => {
    const order = turn++ % 2 ? [...paths].reverse() : paths;
    for (const path of order) cells.push({ ingest, path, load });
  };
  if (o.ingests.includes('rtp')) for (const load of o.levels) take('rtp', load, o.paths);
  for (const ingest of o.ingests) if (ingest !== 'rtp') take(ingest, 0, o.ingestPaths);
  return cells;
}

export async function runGlass(opts: GlassOptions, gen: Generator | null, log: (s: string) => void): Promise<GlassOutcome> {
  if (!chromiumPath()) return { skipped: 'Chromium not found (apt-get install -y chromium, or set CHROMIUM_PATH): glass skipped', cells: [] };
  const cells = glassOrder(opts);
  if (cells.some((c) => c.load > 0) && !gen) throw new Error('glass: load levels need a generator');
  const usedPaths = [...new Set(cells.map((c) => c.path))];
  // A port per path and ingest: an FFmpeg listener and drake's own server of the same protocol must not meet.
  const ports: Record<string, Record<Pushed, number>> = {};
  for (const p of usedPaths) {
    const mine = {} as Record<Pushed, number>;
    for (const i of PUSHED) mine[i] = await freePort(PORT_KIND[i]);
    ports[p] = mine;
  }

  log(`glass: starting one drake per send path (${usedPaths.join(', ')}) and Chromium`);
  const children = new Map<SendPath, DrakeChild>();
  await Promise.all(
    usedPaths.map(async (p) => {
      const ingests = new Set(cells.filter((c) => c.path === p).map((c) => c.ingest));
      const rtmpServer = ingests.has('rtmp-server') ? { rtmp: { enable: true, address: `127.0.0.1:${ports[p]!['rtmp-server']}` } } : {};
      const srtServer = ingests.has('srt-server') ? { srt: { enable: true, address: `127.0.0.1:${ports[p]!['srt-server']}` } } : {};
      const whip = ingests.has('whip') ? { whip: { enable: true } } : {};
      const d = await DrakeChild.start(`glass-${p}`, { ...rtmpServer, ...srtServer, ...whip, webrtc: { ...webrtcFor(p), max_viewers_per_stream: 1000, max_viewers_total: 2000 } }, 30_000, pathEnv(p));
      drakes.add(d);
      children.set(p, d);
      for (const ingest of ingests) {
        if (ingest === 'whip') continue; // no process: the publication is the stream
        const res = await d.api('POST', '/api/v3/process', glassProcess(ingest, ingest === 'rtp' ? 0 : ports[p]![ingest]));
        if (res.status >= 300) throw new Error(`glass ${p}: creating the ${ingest} process failed: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }),
  );
  const ffmpeg = children.get(usedPaths[0]!)!.ffmpeg.path;
  browser = await launchChromium();
  const chromium = browser.version();

  let running: { path: SendPath; ingest: Ingest; encoder: { stop(): Promise<void>; readonly tail: string } | null } | null = null;
  const stopRunning = async () => {
    if (!running) return;
    const d = children.get(running.path)!;
    await running.encoder?.stop();
    if (running.ingest === 'whip') {
      running = null;
      return;
    }
    const r = await d.api('PUT', `/api/v3/process/${PROCESS_IDS[running.ingest]}/command`, { command: 'stop' });
    if (r.status !== 200) throw new Error(`glass ${running.path}: stop failed: ${r.status} ${JSON.stringify(r.body)}`);
    running = null;
  };
  /** Only one source encodes at a time: stop the previous one, start this one (and its encoder), wait for fresh media. */
  const activate = async (c: Cell) => {
    const d = children.get(c.path)!;
    const id = PROCESS_IDS[c.ingest];
    if (!running || running.path !== c.path || running.ingest !== c.ingest) {
      await stopRunning();
      let encoder: { stop(): Promise<void>; readonly tail: string } | null = null;
      if (c.ingest === 'whip') {
        const pub = await whipPublish(`${d.url}/whip/glass`, {
          source: { input: ['-re', '-f', 'lavfi', '-i', stampedGraph()], video: '0:v', audio: '0:a', x264: GLASS_X264 },
        });
        if (pub.status !== 201) throw new Error(`glass ${c.path}: WHIP publish answered ${pub.status}: ${pub.answer.slice(0, 200)}`);
        encoder = { stop: async () => void (await pub.unpublish()), tail: `WHIP publisher: ${pub.sent.video} video packets sent` };
        running = { path: c.path, ingest: c.ingest, encoder };
      } else {
        const r = await d.api('PUT', `/api/v3/process/${id}/command`, { command: 'start' });
        if (r.status !== 200) throw new Error(`glass ${c.path}: start failed: ${r.status} ${JSON.stringify(r.body)}`);
      }
      if (c.ingest !== 'rtp' && c.ingest !== 'whip') {
        const kind = PORT_KIND[c.ingest];
        const port = ports[c.path]![c.ingest];
        const pushing = new Encoder(ffmpeg, encoderArgs(c.ingest, port), `${c.ingest} encoder`);
        encoder = pushing;
        // drake's FFmpeg (or drake's RTMP server) has to be listening first (an SRT caller with no listener waits
        // out its 3 s connect timeout); the encoder still retries every 300 ms should it fail. With drake's RTMP
        // server the process reads a name nobody publishes yet: it fails and reconnects 1 s later.
        await waitFor(`glass ${c.path}: ${c.ingest} listener on ${port}`, async () => listening(kind, port), 15_000, 50).catch((err: unknown) => log(String(err)));
        pushing.start();
      }
      running = { path: c.path, ingest: c.ingest, encoder };
    }
    try {
      await waitFor(
        `glass ${c.path}/${c.ingest}: fresh media`,
        async () => {
          const s = await d.whepStats(id);
          if (c.ingest === 'whip') {
            const pubs = (await d.api<Array<{ name: string; video: { packets: number } }>>('GET', '/api/v3/whip')).body;
            return s.gopPackets > 0 && (pubs.find((p) => p.name === 'glass')?.video.packets ?? 0) > 0;
          }
          return s.gopPackets > 0 && !!s.ingest && Date.now() - s.ingest.video.lastAt < 500;
        },
        30_000,
        100,
      );
    } catch (err) {
      const tail = running?.encoder?.tail;
      throw new Error(`${String(err)}${tail ? `\nencoder: ${tail}` : ''}`);
    }
  };

  const results: GlassCell[] = [];
  const order = cells.map((c) => `${c.ingest}/${c.load}/${c.path}`);
  for (const c of cells) {
    const d = children.get(c.path)!;
    const id = PROCESS_IDS[c.ingest];
    const tag = `${c.ingest} ${c.path} +${c.load}`;
    let session: LoadSession | null = null;
    const tCell = performance.now();
    const page = await browser.newPage();
    try {
      await activate(c);
      const tSource = performance.now();
      let joined = { ok: 0, failed: 0 };
      if (c.load > 0) {
        session = gen!.join(`${d.url}/whep/${id}`, c.load, { joinTimeoutMs: 15_000, maxMs: opts.windowMs + opts.warmupMs + 90_000, joinConcurrency: 2, retries: 3 });
        joined = await session.joined(60_000);
      }
      const tLoad = performance.now();
      await page.goto(`${d.url}/player/${id}`);
      await page.waitForFunction(`window.drakePlayer?.state === 'playing'`, null, { timeout: PLAY_TIMEOUT_MS, polling: 50 });
      const tPlay = performance.now();
      await page.waitForTimeout(opts.warmupMs);
      const s0 = await d.whepStats(id);
      const m0 = machineCpu();
      const c0 = cpuSeconds(d.pid) ?? NaN;
      const t0 = performance.now();
      const got = (await page.evaluate(`${COLLECT}(${JSON.stringify({ ms: opts.windowMs, tsBits: TS_BITS, nBits: N_BITS, box: BOX, nRowY: N_ROW_Y })})`)) as {
        samples: RawSample[];
        skew: number[];
        width: number;
        height: number;
        jb: JbRead[];
      };
      const s1 = await d.whepStats(id);
      const m1 = machineCpu();
      const c1 = cpuSeconds(d.pid) ?? NaN;
      const dt = (performance.now() - t0) / 1000;
      const samples = got.samples.flatMap((s) => {
        const x = s.bad ? null : toSample(s);
        return x ? [x] : [];
      });
      const lat = samples.map((s) => s.latencyMs);
      const recv = samples.flatMap((s) => (s.receiveMs === null ? [] : [s.receiveMs]));
      const r2d = samples.flatMap((s) => (s.receiveMs === null ? [] : [s.latencyMs - s.receiveMs]));
      const ns = samples.map((s) => s.n);
      const span = ns.length ? (((ns[ns.length - 1]! - ns[0]!) % 2 ** N_BITS) + 2 ** N_BITS) % 2 ** N_BITS : -1;
      const server = serverLatency(s0, s1);
      const cell: GlassCell = {
        ...c,
        loadJoined: joined.ok,
        loadFailed: joined.failed,
        frames: samples.length,
        unreadable: got.samples.length - samples.length,
        skipped: Math.max(0, span + 1 - new Set(ns).size),
        p50: r1(percentile(lat, 50)),
        p95: r1(percentile(lat, 95)),
        max: lat.length ? r1(Math.max(...lat)) : null,
        min: lat.length ? r1(Math.min(...lat)) : null,
        receiveP50: r1(percentile(recv, 50)),
        receiveP95: r1(percentile(recv, 95)),
        receiveMax: recv.length ? r1(Math.max(...recv)) : null,
        receiveToDisplayP50: r1(percentile(r2d, 50)),
        jitterBuffer: jitterBuffer(got.jb),
        serverP50Us: server.p50,
        serverP99Us: server.p99,
        machineCpuPct: m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * os.cpus().length * 100 : NaN,
        drakeCpuPct: ((c1 - c0) / dt) * 100,
        clockSkewMs: { min: r1(Math.min(...got.skew)) ?? 0, max: r1(Math.max(...got.skew)) ?? 0 },
        video: `${got.width}x${got.height}`,
        phasesMs: { source: Math.round(tSource - tCell), load: Math.round(tLoad - tSource), play: Math.round(tPlay - tLoad), total: 0 },
        samples,
      };
      if (samples.length === 0) cell.error = 'no readable frame';
      results.push(cell);
      log(
        `glass ${tag}: ${cell.frames} frames, p50 ${fmt(cell.p50)} / p95 ${fmt(cell.p95)} / max ${fmt(cell.max)} ms, ` +
          `stamp→received p50 ${fmt(cell.receiveP50)} ms; load ${joined.ok}/${c.load}; machine ${fmt(cell.machineCpuPct, 0)} %; ` +
          `source ${fmt(cell.phasesMs.source / 1000)} s, load join ${fmt(cell.phasesMs.load / 1000)} s, play ${fmt(cell.phasesMs.play / 1000)} s`,
      );
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      log(`glass ${tag}: failed: ${msg}`);
      results.push({
        ...c, loadJoined: 0, loadFailed: c.load, frames: 0, unreadable: 0, skipped: 0, p50: null, p95: null, max: null, min: null,
        receiveP50: null, receiveP95: null, receiveMax: null, receiveToDisplayP50: null,
        jitterBuffer: { video: { meanMs: null, maxSecondMs: null }, audio: { meanMs: null, maxSecondMs: null }, videoFreezes: null }, serverP50Us: null, serverP99Us: null,
        machineCpuPct: NaN, drakeCpuPct: NaN, clockSkewMs: { min: 0, max: 0 }, video: '', phasesMs: { source: 0, load: 0, play: 0, total: 0 }, error: msg.split('\n')[0]!, samples: [],
      });
      // A failed start leaves state unknown: let the next cell start its source afresh.
      await stopRunning().catch(() => undefined);
      running = null;
    } finally {
      await page.close().catch(() => undefined);
      await session?.leave().catch(() => undefined);
      await waitFor(`glass ${c.path}: no viewers`, async () => (await d.whepStats(id)).viewers === 0, 15_000, 100).catch((err: unknown) => log(String(err)));
      results[results.length - 1]!.phasesMs.total = Math.round(performance.now() - tCell);
    }
  }
  await stopRunning().catch(() => undefined);
  log('glass: stopping its drakes and Chromium');
  await closeGlass();
  const procs = Object.fromEntries(ALL_INGESTS.filter((i) => i !== 'whip').map((i) => [i, glassProcess(i, i === 'rtp' ? 0 : 1935)])) as Partial<Record<Ingest, Record<string, unknown>>>;
  return {
    chromium,
    cells: results,
    options: opts,
    order,
    processes: procs,
    encoder: { rtmp: encoderArgs('rtmp', 1935), srt: encoderArgs('srt', 9000), 'rtmp-server': encoderArgs('rtmp-server', 1935), 'srt-server': encoderArgs('srt-server', 6000) },
  };
}

// ---- output ----

const INGEST_LABEL: Record<Ingest, string> = { rtp: 'RTP', rtmp: 'RTMP', srt: 'SRT', 'rtmp-server': "RTMP (drake's server)", 'srt-server': "SRT (drake's server)", whip: 'WHIP → WHEP (no FFmpeg in drake)' };
const us = (v: number | null) => (v === null ? '–' : v === Infinity ? '> 500 ms' : v >= 1000 ? `≤ ${v / 1000} ms` : `≤ ${v} µs`);
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? `${(a / b).toFixed(2)}×` : '–');

export function glassTables(o: GlassOutcome): string {
  const cells = o.cells;
  const paths = [...new Set(cells.map((c) => c.path))];
  const detail = table(
    ['ingest', 'load viewers', 'path', 'frames', 'p50 ms', 'p95 ms', 'max ms', 'stamp→received p50 / p95 / max ms', 'received→display p50 ms', 'jitter buffer video / audio mean (worst 1 s) ms', 'freezes', 'drake-added p50 / p99', 'machine CPU %', 'skipped / unreadable'],
    cells.map((c) => [
      INGEST_LABEL[c.ingest],
      c.load ? `${c.load}${c.loadJoined < c.load ? ` (${c.loadJoined} joined)` : ''}` : 0,
      c.path,
      c.error ? `${c.frames} (${c.error})` : c.frames,
      fmt(c.p50),
      fmt(c.p95),
      fmt(c.max),
      `${fmt(c.receiveP50)} / ${fmt(c.receiveP95)} / ${fmt(c.receiveMax)}`,
      fmt(c.receiveToDisplayP50),
      `${fmt(c.jitterBuffer.video.meanMs)} (${fmt(c.jitterBuffer.video.maxSecondMs)}) / ${fmt(c.jitterBuffer.audio.meanMs)} (${fmt(c.jitterBuffer.audio.maxSecondMs)})`,
      c.jitterBuffer.videoFreezes ?? '–',
      `${us(c.serverP50Us)} / ${us(c.serverP99Us)}`,
      fmt(c.machineCpuPct, 0),
      `${c.skipped} / ${c.unreadable}`,
    ]),
  );
  // Ratios werift / each other path, per ingest and load.
  const others = paths.filter((p) => p !== 'werift');
  const groups = [...new Map(cells.map((c) => [`${c.ingest}/${c.load}`, c])).values()].map((c) => [c.ingest, c.load] as const);
  const get = (i: Ingest, l: number, p: SendPath) => cells.find((c) => c.ingest === i && c.load === l && c.path === p);
  const compare = table(
    ['ingest', 'load viewers', ...paths.map((p) => `${p} p50 / p95 ms`), ...(paths.includes('werift') ? others.map((p) => `werift/${p} p50 / p95`) : [])],
    groups.map(([i, l]) => [
      INGEST_LABEL[i],
      l,
      ...paths.map((p) => {
        const c = get(i, l, p);
        return c ? `${fmt(c.p50)} / ${fmt(c.p95)}` : '–';
      }),
      ...(paths.includes('werift')
        ? others.map((p) => {
            const w = get(i, l, 'werift');
            const x = get(i, l, p);
            return `${ratio(w?.p50, x?.p50)} / ${ratio(w?.p95, x?.p95)}`;
          })
        : []),
    ]),
  );
  const bar = table(
    ['ingest', 'path', 'p95 ms at 0 load', "datarhei's bar", 'verdict'],
    cells
      .filter((c) => c.load === 0)
      .map((c) => [
        INGEST_LABEL[c.ingest],
        c.path,
        fmt(c.p95),
        c.ingest === 'rtp' || c.ingest === 'whip' ? `< 200 ms (SRT bar; none for ${INGEST_LABEL[c.ingest].split(' ')[0]})` : `< ${DATARHEI_BAR_MS[c.ingest]} ms`,
        c.p95 === null ? '–' : c.p95 < DATARHEI_BAR_MS[c.ingest] ? 'under' : '**over**',
      ]),
  );
  const notes =
    'latency = performance.timeOrigin + expectedDisplayTime (Chromium) − the wall-clock ms the source stamped into the frame (nearest-rank percentiles over the window). ' +
    "stamp→received = until the frame's last packet reached Chromium (rVFC receiveTime): the arrival at the viewer, from the frame entering the encoder; the werift load viewers decode nothing, so they have no such figure. received→display = Chromium's jitter buffer, decode and A/V sync (the stream has audio). jitter buffer = getStats() inbound-rtp jitterBufferDelay / jitterBufferEmittedCount over the window (worst 1 s interval in brackets), video and audio; A/V sync shows as a video buffer that follows audio's. freezes = video freezeCount in the window. " +
    "drake-added = drake's own histogram over every viewer-packet of the window, load viewers included: arrival at its RTP socket → hand-off to the viewer's socket (log buckets, upper bounds). " +
    "RTP: the stamped source is drake's process, which transcodes it; RTMP/SRT: a separate FFmpeg encodes (same x264 settings) and pushes to drake's process, which listens and copies the H264 (`webrtc.video: copy`); SRT at libsrt's default latency (120 ms receive buffer). " +
    'machine CPU: /proc/stat over the window, % of one core (Chromium, the encoder, drake and the load generator together).';
  return `${compare}\n\n${detail}\n\n${bar}\n\n${notes}`;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped bars per (ingest, load): bar = p50, lighter cap up to p95, with datarhei's bars as dashed lines. */
export function glassChart(o: GlassOutcome, subtitle: string): string {
  const cells = o.cells.filter((c) => c.p50 !== null && c.p95 !== null);
  const paths = [...new Set(o.cells.map((c) => c.path))];
  const groups = [...new Map(o.cells.map((c) => [`${c.ingest}/${c.load}`, c])).values()].map((c) => [c.ingest, c.load] as const);
  const W = 860;
  const H = 440;
  const m = { l: 70, r: 170, t: 58, b: 64 };
  const top = Math.max(50, ...cells.map((c) => c.p95!), ...(o.cells.some((c) => c.ingest !== 'rtp') ? [320] : []));
  const step = [10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000].find((s) => top / s <= 8) ?? 10_000;
  const yMax = Math.ceil((top * 1.05) / step) * step;
  const Y = (v: number) => H - m.b - (v / yMax) * (H - m.t - m.b);
  const gw = (W - m.l - m.r) / Math.max(1, groups.length);
  const bw = Math.min(36, (gw * 0.8) / Math.max(1, paths.length));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">glass-to-glass in Chromium: source stamp → expected display</text>`,
    `<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`,
  ];
  for (let v = 0; v <= yMax; v += step) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  for (const [label, v] of [
    ['datarhei SRT bar', 200],
    ['datarhei RTMP bar', 300],
  ] as const) {
    if (v > yMax) continue;
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(v)}" y2="${Y(v)}" stroke="#c00" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${W - m.r + 4}" y="${Y(v) + (v === 300 ? -2 : 10)}" fill="#c00">${label} (${v})</text>`);
  }
  groups.forEach(([ingest, load], gi) => {
    const x0 = m.l + gi * gw + (gw - bw * paths.length) / 2;
    paths.forEach((p, pi) => {
      const c = cells.find((x) => x.ingest === ingest && x.load === load && x.path === p);
      if (!c) return;
      const x = x0 + pi * bw;
      const color = colorOf(p);
      out.push(`<rect x="${x + 2}" y="${Y(c.p95!)}" width="${bw - 4}" height="${Y(c.p50!) - Y(c.p95!)}" fill="${color}" fill-opacity="0.35"/>`);
      out.push(`<rect x="${x + 2}" y="${Y(c.p50!)}" width="${bw - 4}" height="${H - m.b - Y(c.p50!)}" fill="${color}"/>`);
      out.push(`<text x="${x + bw / 2}" y="${Y(c.p95!) - 4}" text-anchor="middle" font-size="10">${Math.round(c.p95!)}</text>`);
    });
    out.push(`<text x="${m.l + gi * gw + gw / 2}" y="${H - m.b + 16}" text-anchor="middle">${INGEST_LABEL[ingest]}</text>`);
    out.push(`<text x="${m.l + gi * gw + gw / 2}" y="${H - m.b + 30}" text-anchor="middle">${load} load viewers</text>`);
  });
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">ms (bar: p50, light: up to p95, label: p95)</text>`);
  paths.forEach((p, i) => {
    const ly = m.t + 60 + i * 20;
    out.push(`<rect x="${W - m.r + 14}" y="${ly - 9}" width="14" height="12" fill="${colorOf(p)}"/>`);
    out.push(`<text x="${W - m.r + 34}" y="${ly + 2}">${p} path</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** JSON body: settings, every cell (samples by cell key). */
export function glassJson(o: GlassOutcome): Record<string, unknown> {
  return {
    chromium: o.chromium,
    options: o.options,
    order: o.order,
    source: GLASS_SOURCE,
    processes: o.processes,
    encoder: o.encoder,
    method: {
      latency: 'performance.timeOrigin + meta.expectedDisplayTime − stamp (+0.5 ms for truncation); stamp = wall-clock ms drawn into the frame by the source (lavfi setpts=RTCTIME + drawbox bits)',
      received: 'performance.timeOrigin + meta.receiveTime − stamp: arrival of the frame at the browser viewer (load viewers: not measured)',
      drakeAdded: "drake's histogram (whepStats.latency) diffed over the window: RTP socket → viewer socket per viewer-packet, all viewers",
      percentile: 'nearest rank',
      order: 'RTP at each load level with the paths in turn (order alternating per level), then RTMP/SRT at load 0 (order alternating on); one source encodes at a time',
      load: 'werift load viewers (bench/loadViewer.ts) in piscina workers join first, then Chromium opens /player/<id>, warm-up, window',
    },
    results: o.cells.map(({ samples: _s, ...c }) => c),
    samples: Object.fromEntries(o.cells.map((c) => [`${c.ingest}/${c.load}/${c.path}`, c.samples])),
  };
}
