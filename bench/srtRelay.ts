// The built-in SRT server's relay latency (native/srt): a publisher and a player as libsrt callers in one
// C program (one clock, bench/srt/relayLatency.c, compiled here with cc against libsrt), through drake's SRT
// server, beside the same two without drake (one direct SRT leg). The relay is two SRT legs, each with its
// TSBPD latency: at latency L the relay path is about 2·L plus what drake's thread adds; latency 0 shows
// that addition best.
//   node --import tsx bench/srtRelay.ts [--latencies 0,20,120] [--messages 5000] [--rate 1000]
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSrtAddon } from '../src/ingest/srt/addon.ts';

const { values } = parseArgs({ options: { latencies: { type: 'string', default: '0,20,120' }, messages: { type: 'string', default: '5000' }, rate: { type: 'string', default: '1000' } } });
const { addon, error } = loadSrtAddon();
if (!addon) throw new Error(`the SRT addon is not built: ${error}`);

const dir = mkdtempSync(join(tmpdir(), 'drake-srt-bench-'));
const probe = join(dir, 'relayLatency');
const libs = spawnSync('pkg-config', ['--cflags', '--libs', 'srt'], { encoding: 'utf8' }).stdout.trim().split(/\s+/).filter(Boolean);
const cc = spawnSync('cc', ['-O2', '-o', probe, new URL('./srt/relayLatency.c', import.meta.url).pathname, ...(libs.length ? libs : ['-lsrt-gnutls']), '-lpthread'], { encoding: 'utf8' });
if (cc.status !== 0) throw new Error(`cc: ${cc.stderr}`);

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

interface Row { mode: string; latency_ms: number; messages: number; p50_ms: number; p99_ms: number; p999_ms: number; max_ms: number }
const run = (mode: 'relay' | 'direct', port: number, latency: number): Row => {
  const r = spawnSync(probe, [mode, String(port), String(latency), values.messages, values.rate], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${mode} at ${latency} ms: ${r.stderr}`);
  return JSON.parse(r.stdout) as Row;
};

const rows: Row[] = [];
try {
  for (const latency of values.latencies.split(',').map(Number)) {
    const server = addon.start({ host: '127.0.0.1', port: 0, passphrase: '', token: '', maxConnections: 8, latencyMs: latency }, () => undefined);
    try {
      rows.push(run('relay', addon.port(server), latency));
    } finally {
      addon.stop(server);
    }
    rows.push(run('direct', await freeUdpPort(), latency));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`SRT relay latency, ${values.messages} messages of 1316 bytes at ${values.rate}/s (libsrt ${addon.libsrt})\n`);
console.log('| SRT latency | path | p50 ms | p99 ms | p99.9 ms | max ms |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.latency_ms} ms | ${r.mode === 'relay' ? 'publisher → drake → player' : 'publisher → player (one leg)'} | ${r.p50_ms} | ${r.p99_ms} | ${r.p999_ms} | ${r.max_ms} |`);
