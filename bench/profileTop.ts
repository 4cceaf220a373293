// Where a drake thread's time goes: reads the V8 CPU profiles that `npm run bench -- --cpu-prof`
// (node --cpu-prof) wrote, one per thread, and prints per thread the busy share, the self time by
// origin (drake, werift, node internals, GC, native) and the functions with the most self time.
//
//   node --import tsx bench/profileTop.ts <dir | file.cpuprofile ...> [--top 20] [--min-busy-ms 200]
//
// The profiles can also be opened in Chrome DevTools (Performance → Load profile) or speedscope.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { fmt, table } from './lib/report.ts';

const profileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
    }),
  ),
  startTime: z.number(),
  endTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
type Profile = z.infer<typeof profileSchema>;

const ORIGINS = ['drake', 'werift', 'other npm', 'node', 'gc', 'native/program', 'idle'] as const;
type Origin = (typeof ORIGINS)[number];

function originOf(fn: string, url: string): Origin {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)' || url === '') return 'native/program';
  if (url.includes('/node_modules/werift')) return 'werift';
  if (url.includes('/node_modules/')) return 'other npm';
  if (url.startsWith('node:')) return 'node';
  return 'drake';
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('/node_modules/');
  if (i >= 0) return url.slice(i + '/node_modules/'.length);
  const s = url.indexOf('/src/');
  if (s >= 0) return url.slice(s + 1);
  return url.replace(/^file:\/\//, '');
}

export interface ThreadSummary {
  file: string;
  /** The drake module with the most self time: names the thread (stream actor, shard worker, gateway). */
  role: string;
  wallMs: number;
  busyMs: number;
  byOrigin: Record<Origin, number>;
  top: { fn: string; where: string; origin: Origin; selfMs: number }[];
}

export function summarize(file: string, p: Profile, topN: number): ThreadSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time between sample i-1 and i; it is charged to sample i.
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byOrigin = Object.fromEntries(ORIGINS.map((o) => [o, 0])) as Record<Origin, number>;
  const byFn = new Map<string, { fn: string; where: string; origin: Origin; selfMs: number }>();
  const byModule = new Map<string, number>();
  for (const [id, us] of self) {
    const cf = byId.get(id)!;
    const origin = originOf(cf.functionName, cf.url);
    const ms = us / 1000;
    byOrigin[origin] += ms;
    if (origin === 'idle') continue;
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}@${where}`;
    const e = byFn.get(key) ?? { fn: cf.functionName || '(anonymous)', where, origin, selfMs: 0 };
    e.selfMs += ms;
    byFn.set(key, e);
    if (origin === 'drake') byModule.set(shortUrl(cf.url), (byModule.get(shortUrl(cf.url)) ?? 0) + ms);
  }
  const wallMs = (p.endTime - p.startTime) / 1000;
  const busyMs = Object.entries(byOrigin).reduce((s, [o, ms]) => (o === 'idle' ? s : s + ms), 0);
  const role = [...byModule].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '(no drake code)';
  const top = [...byFn.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, topN);
  return { file, role, wallMs, busyMs, byOrigin, top };
}

function profileFiles(args: string[]): string[] {
  return args.flatMap((a) =>
    statSync(a).isDirectory()
      ? readdirSync(a)
          .filter((f) => f.endsWith('.cpuprofile'))
          .sort()
          .map((f) => join(a, f))
      : [a],
  );
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '20' }, 'min-busy-ms': { type: 'string', default: '200' } },
  });
  if (positionals.length === 0) {
    console.error('usage: node --import tsx bench/profileTop.ts <dir | file.cpuprofile ...> [--top 20] [--min-busy-ms 200]');
    process.exit(2);
  }
  const topN = Number(values.top);
  const minBusy = Number(values['min-busy-ms']);
  const threads = profileFiles(positionals)
    .map((f) => summarize(f, profileSchema.parse(JSON.parse(readFileSync(f, 'utf8'))), topN))
    .sort((a, b) => b.busyMs - a.busyMs);
  const shown = threads.filter((t) => t.busyMs >= minBusy);
  console.log(`${threads.length} profiles; ${shown.length} with ≥ ${minBusy} ms busy shown (busiest first).\n`);
  for (const t of shown) {
    const pct = (ms: number) => `${fmt((100 * ms) / t.busyMs, 1)} %`;
    console.log(`## ${basename(t.file)} — ${t.role}`);
    console.log(`wall ${fmt(t.wallMs / 1000, 1)} s, busy ${fmt(t.busyMs / 1000, 2)} s (${fmt((100 * t.busyMs) / t.wallMs, 1)} % of one core over the thread's life)\n`);
    console.log(table(['origin', 'self ms', 'of busy'], ORIGINS.filter((o) => o !== 'idle').map((o) => [o, fmt(t.byOrigin[o], 0), pct(t.byOrigin[o])]), ['l', 'r', 'r']));
    console.log();
    console.log(table(['function', 'where', 'origin', 'self ms', 'of busy'], t.top.map((f) => [f.fn, f.where, f.origin, fmt(f.selfMs, 0), pct(f.selfMs)]), ['l', 'l', 'l', 'r', 'r']));
    console.log();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
