// Output helpers: markdown tables, machine info, result files (JSON + a hand-written SVG chart).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export function table(head: string[], rows: Array<Array<string | number>>, align?: Array<'l' | 'r'>): string {
  const a = align ?? head.map((_, i) => (i === 0 ? 'l' : 'r'));
  return [
    `| ${head.join(' | ')} |`,
    `|${a.map((x) => (x === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(String).join(' | ')} |`),
  ].join('\n');
}

export function fmt(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return n.toFixed(digits);
}

/** Nearest rank: the smallest value with at least p % of the samples at or below it. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1]!;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  node: string;
  os: string;
  ffmpeg: string;
  ffmpegPath: string;
  loadavgAtStart: number[];
  clkTck: number;
}

export function machineInfo(ffmpegPath: string, ffmpegVersion = '', clkTck = 100): MachineInfo {
  let version = ffmpegVersion;
  if (!version) {
    try {
      const first = execFileSync(ffmpegPath, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0] ?? '';
      version = /ffmpeg version (\S+)/.exec(first)?.[1] ?? first;
    } catch {
      version = 'unknown';
    }
  }
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    // Some VMs report a bare family name in os.cpus(); lscpu has the same, but /proc/cpuinfo may say more.
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m && m[1]!.length > cpu.length) cpu = m[1]!.trim();
  } catch {
    // keep os.cpus()
  }
  return {
    cpu,
    cores: os.cpus().length,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    ffmpeg: version,
    ffmpegPath,
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    clkTck,
  };
}

export function isoStamp(d: Date): string {
  return d.toISOString().replace(/:/g, '-');
}

export function writeJson(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}`;
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

export function writeText(name: string, text: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}`;
  writeFileSync(file, text);
  return file;
}

export interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
  dashed?: boolean;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round-ish tick step for a range: 1, 2 or 5 × 10^k, about `count` ticks. */
function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(Math.round(v * 1e6) / 1e6);
  if (out[out.length - 1]! < max) out.push(Math.round((out[out.length - 1]! + step) * 1e6) / 1e6);
  return out;
}

/** A small line chart (polylines with point markers), axes from 0; no dependency. */
export function lineChart(opts: { title: string; subtitle?: string; xLabel: string; yLabel: string; series: Series[]; width?: number; height?: number }): string {
  const W = opts.width ?? 800;
  const H = opts.height ?? 420;
  const m = { l: 70, r: 230, t: opts.subtitle ? 58 : 42, b: 52 };
  const pts = opts.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xt = ticks(Math.max(1e-9, ...pts.map((p) => p[0])));
  const yt = ticks(Math.max(1e-9, ...pts.map((p) => p[1])));
  const xMax = xt[xt.length - 1]!;
  const yMax = yt[yt.length - 1]!;
  const X = (x: number) => m.l + (x / xMax) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - (y / yMax) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  if (opts.subtitle) out.push(`<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${esc(opts.subtitle)}</text>`);
  for (const v of yt) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  for (const v of xt) {
    out.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${m.t}" y2="${H - m.b}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${X(v)}" y="${H - m.b + 16}" text-anchor="middle">${v}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  opts.series.forEach((s, i) => {
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (p.length) {
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${p.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`);
      if (p.length <= 40) for (const [x, y] of p) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    const ly = m.t + 10 + i * 20;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${W - m.r + 14}" x2="${W - m.r + 38}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${W - m.r + 44}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export const COLORS = { drake: '#1f6fd1', lean: '#7a3fc4', 'lean-solo': '#c43f9a', 'lean-nogso': '#2a6f4a', 'lean-packet': '#8a7a1f', 'lean-frame': '#b0662a', 'lean-unpaced': '#5a8f1f', 'lean-dgram': '#6f6f2a', werift: '#d1551f', pion: '#0d8f8f', extra: '#2a9d4a', grey: '#888888' };
