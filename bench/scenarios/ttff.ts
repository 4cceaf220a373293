// Scenario ttff: time to first decoded frame in a real Chromium, via bench/ttffChromium.ts (run as
// a child process in its own process group, so a timeout can kill it with its browser and FFmpegs).
// Modes: drake path with GOP cache on, drake path with GOP cache off, and the other selected paths.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromiumPath } from '../../test/helpers/chromium.ts';
import { COLORS, lineChart, type Series } from '../lib/report.ts';

const SCRIPT = fileURLToPath(new URL('../ttffChromium.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface TtffOptions {
  joins: number;
  warmup: number;
  jsonFile: string;
  timeoutMs: number;
  /** ttffChromium.ts modes: on, off (drake path, GOP cache on/off), lean, werift. */
  modes: string[];
}

export interface TtffOutcome {
  skipped?: string;
  table?: string;
  stdout?: string;
  jsonFile?: string;
  data?: { results: Array<Record<string, unknown>>; modes: Array<{ mode: string; samples: number[] }> };
}

let running: { pid: number } | null = null;

/** Synchronous: kill the ttff child's whole group (browser, drakes' FFmpeg) if it still runs. */
export function killTtff(): void {
  if (!running) return;
  try {
    process.kill(-running.pid, 'SIGKILL');
  } catch {
    // gone
  }
  running = null;
}

export async function runTtff(opts: TtffOptions, log: (s: string) => void): Promise<TtffOutcome> {
  if (!chromiumPath()) return { skipped: 'Chromium not found (apt-get install -y chromium, or set CHROMIUM_PATH): ttff skipped' };
  const args = ['--import', 'tsx', SCRIPT, '--joins', String(opts.joins), '--warmup', String(opts.warmup), '--modes', opts.modes.join(','), '--json', opts.jsonFile];
  log(`ttff: node ${args.slice(2).join(' ')}`);
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running = { pid: child.pid! };
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    for (const line of c.split('\n')) if (line.trim()) process.stderr.write(`[ttff] ${line}\n`);
  });
  const timer = setTimeout(() => {
    log(`ttff: gave up after ${opts.timeoutMs} ms`);
    killTtff();
  }, opts.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  killTtff(); // stragglers in its group (it exits with process.exit)
  if (code !== 0 || !existsSync(opts.jsonFile)) return { skipped: `ttff failed (exit ${code})`, stdout };
  const table = stdout
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .join('\n');
  const data = JSON.parse(readFileSync(opts.jsonFile, 'utf8')) as TtffOutcome['data'];
  return { table, stdout, jsonFile: opts.jsonFile, ...(data ? { data } : {}) };
}

export function ttffChart(outcome: TtffOutcome, subtitle: string): string | null {
  if (!outcome.data) return null;
  const colors: Record<string, string> = { 'gop_cache on': COLORS.drake, 'gop_cache off': COLORS.extra, 'lean path': COLORS.lean, 'lean-solo path': COLORS['lean-solo'], 'werift path': COLORS.werift };
  const series: Series[] = outcome.data.modes.map((m) => {
    const xs = [...m.samples].sort((a, b) => a - b);
    return {
      name: m.mode.endsWith(' path') ? m.mode : `drake path, ${m.mode}`,
      color: colors[m.mode] ?? COLORS.grey,
      points: xs.map((x, i) => [x, ((i + 1) / xs.length) * 100] as [number, number]),
    };
  });
  return lineChart({ title: 'Chromium: WHEP POST → first video frame (CDF)', subtitle, xLabel: 'ms', yLabel: '% of joins', series });
}
