// SRTP micro-benchmark (tinybench): the per-viewer protect (+ send) step, stock werift beside drake's paths.
//   node --import tsx bench/srtpMicro.ts            (SRTP_BENCH_TIME=ms per task, SRTP_BENCH_PIN=0 to not pin)
// Rows, for AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM, one 1200-byte RTP packet (12-byte header):
//   werift SrtpSession.encrypt            stock: new cipher + HMAC objects per packet, Buffer.concat
//   js protect                            drake's pure-JS fallback (node:crypto, per-packet cipher objects)
//   native protect                        addon, reused EVP context (+ SHA1 ipad/opad states), no allocation
//   native protectBatch K=50              one call protects one source packet for 50 viewers (own keys/SSRC/seq)
//   native protectBatch+sendBatch K=50    ... and one sendmmsg of the 50 packets to 50 ports of a drain process
//   native sendBatch only K=50            the sendmmsg alone (ready packets), the kernel share of the row above
// "µs/viewer-pkt" divides by K. "cpu µs/op" is process.cpuUsage (user+sys) over the measured run / calls.
// The drain is a separate process (50 UDP sockets, see Drain) pinned to the last CPU, this process to CPU 0 (taskset),
// like reference/srtp-limit.md. Loopback send cost includes the receive-side softirq. Writes
// bench/results/srtp-micro-<ISO>.json.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { RtpHeader, SrtpSession } from 'werift';
import {
  Destinations,
  HEADER_SLOT,
  MAX_TAG,
  PROFILE_ID,
  SALT_LENGTH,
  jsBackend,
  nativeSrtp,
  sendBatch,
  srtpBackendInfo,
  type SrtpContext,
  type SrtpProfile,
} from '../src/shared/srtp/index.ts';

const K = 50;
const PACKET = 1200;
const TIME_MS = Number(process.env.SRTP_BENCH_TIME ?? 1500);
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const PROFILES: SrtpProfile[] = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'];
const SHORT: Record<SrtpProfile, string> = { AES_CM_128_HMAC_SHA1_80: 'CM', AEAD_AES_128_GCM: 'GCM' };

if (!nativeSrtp) {
  console.error(`native SRTP addon not loaded (${srtpBackendInfo.reason}); run npm install (and unset DRAKE_SRTP=js)`);
  process.exit(1);
}
const native = nativeSrtp;

// ------------------------------------------------------------------------------------------ pinning + drain

const cores = os.cpus().length;
const pin = process.env.SRTP_BENCH_PIN !== '0' && cores >= 2 && hasTaskset();
function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
if (pin) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

// The drain: K UDP sockets on 127.0.0.1 that count what arrives. Preferably a small C program (epoll +
// recvmmsg, as in reference/srtp-limit.md) compiled into the temp dir at start; a Node drain (≈ 3+ µs per
// received packet, cannot keep up) when no C compiler is there. Protocol on stdin/stdout lines: the ports
// first, then "reset" → "ok", "count" → N, "stop".
const DRAIN_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#define BATCH 64
int main(int argc, char **argv) {
  int k = argc > 1 ? atoi(argv[1]) : 50;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  for (int i = 0; i < k; i++) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sz = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    printf("%s%d", i ? " " : "", ntohs(a.sin_port));
    ev.data.fd = s;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  }
  printf("\n");
  fflush(stdout);
  static char bufs[BATCH][2048];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i]; iov[i].iov_len = sizeof bufs[i];
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long count = 0;
  struct epoll_event evs[64];
  char line[64];
  for (;;) {
    int n = epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == 0) {
        ssize_t r = read(0, line, sizeof line - 1);
        if (r <= 0) return 0;
        line[r] = 0;
        if (strncmp(line, "reset", 5) == 0) { count = 0; printf("ok\n"); }
        else if (strncmp(line, "count", 5) == 0) printf("%llu\n", count);
        else return 0;
        fflush(stdout);
        continue;
      }
      for (;;) {
        int r = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (r <= 0) break;
        count += (unsigned)r;
        if (r < BATCH) break;
      }
    }
  }
}
`;

const DRAIN_JS = `
const dgram = require('node:dgram');
const k = Number(process.argv[1]);
let count = 0, ready = 0;
const socks = [];
for (let i = 0; i < k; i++) {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  s.on('message', () => { count++; });
  s.bind(0, '127.0.0.1', () => { if (++ready === k) console.log(socks.map((x) => x.address().port).join(' ')); });
  socks.push(s);
}
require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'reset') { count = 0; console.log('ok'); }
  else if (l === 'count') console.log(String(count));
  else process.exit(0);
});
`;

function drainCommand(): { kind: 'c' | 'node'; argv: string[] } {
  const exe = path.join(os.tmpdir(), `drake-srtp-drain-${createHash('sha1').update(DRAIN_C).digest('hex').slice(0, 10)}`);
  try {
    if (!existsSync(exe)) {
      const src = `${exe}.c`;
      writeFileSync(src, DRAIN_C);
      execFileSync('cc', ['-O2', '-o', exe, src], { stdio: 'ignore' });
    }
    return { kind: 'c', argv: [exe, String(K)] };
  } catch {
    return { kind: 'node', argv: [process.execPath, '-e', DRAIN_JS, String(K)] };
  }
}

class Drain {
  readonly kind: 'c' | 'node';
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: Array<(l: string) => void> = [];
  ports: number[] = [];

  constructor() {
    const cmd = drainCommand();
    this.kind = cmd.kind;
    const argv = pin ? ['taskset', '-c', String(cores - 1), ...cmd.argv] : cmd.argv;
    this.#child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    this.#child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        const w = this.#waiters.shift();
        if (w) w(line);
        else this.#lines.push(line);
      }
    });
  }

  #next(): Promise<string> {
    const l = this.#lines.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => this.#waiters.push(r));
  }

  async ready(): Promise<void> {
    this.ports = (await this.#next()).split(' ').map(Number);
    if (this.ports.length !== K || this.ports.some((p) => !(p > 0))) throw new Error(`drain did not start: ${this.ports.join(' ')}`);
  }

  async reset(): Promise<void> {
    this.#child.stdin!.write('reset\n');
    await this.#next();
  }

  async count(): Promise<number> {
    this.#child.stdin!.write('count\n');
    return Number(await this.#next());
  }

  stop(): void {
    this.#child.stdin!.end('stop\n');
  }
}

// ------------------------------------------------------------------------------------------ fixtures

function keys(profile: SrtpProfile): { key: Buffer; salt: Buffer } {
  return { key: randomBytes(16), salt: randomBytes(SALT_LENGTH[profile]) };
}

function rtpPacket(): Buffer {
  const p = randomBytes(PACKET);
  p[0] = 0x80;
  p[1] = 96;
  p.writeUInt32BE(0x12345678, 8);
  return p;
}

interface Row {
  task: string;
  profile: string;
  k: number;
  opsPerSec: number;
  usPerOp: number;
  usPerViewerPacket: number;
  cpuUsPerOp: number | null;
  p99UsPerOp: number;
  samples: number;
  sent?: number;
  attempted?: number;
  received?: number;
}

interface Extra {
  k: number;
  profile: string;
  calls: number;
  cpu0: NodeJS.CpuUsage | null;
  cpuUs: number | null;
  send?: { sent: number; attempted: number; received: number | null };
}

const extras = new Map<string, Extra>();

function hooks(name: string, k: number, profile: string, drain: Drain | null, send: { sent: number; attempted: number } | null) {
  const x: Extra = { k, profile, calls: 0, cpu0: null, cpuUs: null };
  extras.set(name, x);
  return {
    beforeAll: async (mode?: string) => {
      if (mode !== 'run') return;
      if (send) {
        await new Promise((r) => setTimeout(r, 100)); // let warmup packets land before resetting
        await drain!.reset();
        send.sent = 0;
        send.attempted = 0;
      }
      x.calls = 0;
      x.cpu0 = process.cpuUsage();
    },
    afterAll: async (mode?: string) => {
      if (mode !== 'run') return;
      const d = process.cpuUsage(x.cpu0 ?? undefined);
      x.cpuUs = x.calls > 0 ? (d.user + d.system) / x.calls : null;
      if (send) {
        await new Promise((r) => setTimeout(r, 200));
        const count = await drain!.count();
        x.send = { sent: send.sent, attempted: send.attempted, received: count };
      }
    },
  };
}

// ------------------------------------------------------------------------------------------ tasks

const bench = new Bench({ name: 'srtp-micro', time: TIME_MS, warmupTime: 300 });
const drain = new Drain();
await drain.ready();
const tx = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
tx.bind(0, '127.0.0.1');
await once(tx, 'listening');
const dests = new Destinations(K);
drain.ports.forEach((p, i) => dests.set(i, '127.0.0.1', p));

for (const profile of PROFILES) {
  const s = SHORT[profile];
  const packet = rtpPacket();
  const out = Buffer.alloc(PACKET + MAX_TAG);

  {
    const k = keys(profile);
    const session = new SrtpSession({
      keys: { localMasterKey: k.key, localMasterSalt: k.salt, remoteMasterKey: k.key, remoteMasterSalt: k.salt },
      profile: PROFILE_ID[profile],
    });
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: 0, timestamp: 0, ssrc: 0x12345678 });
    const payload = packet.subarray(12);
    const name = `werift SrtpSession.encrypt ${s}`;
    const h = hooks(name, 1, profile, null, null);
    const x = extras.get(name)!;
    bench.add(name, () => {
      header.sequenceNumber = (header.sequenceNumber + 1) & 0xffff;
      session.encrypt(payload, header);
      x.calls++;
    }, h);
  }

  for (const [label, backend] of [['js', jsBackend], ['native', native]] as const) {
    const k = keys(profile);
    const ctx = backend.createContext(profile, k.key, k.salt);
    let seq = 0;
    const name = `${label} protect ${s}`;
    const h = hooks(name, 1, profile, null, null);
    const x = extras.get(name)!;
    bench.add(name, () => {
      seq = (seq + 1) & 0xffff;
      packet.writeUInt16BE(seq, 2);
      backend.protect(ctx, packet, out);
      x.calls++;
    }, h);
  }

  // K viewers, each with its own keys, SSRC and sequence numbers
  const ctxs: SrtpContext[] = [];
  const headers = Buffer.alloc(K * HEADER_SLOT);
  const seqs = new Uint16Array(K);
  for (let v = 0; v < K; v++) {
    const k = keys(profile);
    ctxs.push(native.createContext(profile, k.key, k.salt));
    headers[v * HEADER_SLOT + 1] = 96;
    headers.writeUInt32BE(0x20000000 + v, v * HEADER_SLOT + 8);
    seqs[v] = v * 1000;
  }
  const stride = PACKET + MAX_TAG;
  const outs = Buffer.alloc(K * stride);
  const lengths = new Uint32Array(K);
  const batch = (): void => {
    for (let v = 0; v < K; v++) {
      const seq = (seqs[v] = (seqs[v]! + 1) & 0xffff);
      headers[v * HEADER_SLOT + 2] = seq >> 8;
      headers[v * HEADER_SLOT + 3] = seq & 0xff;
    }
    native.protectBatch(ctxs, packet, headers, outs, stride, lengths);
  };
  {
    const name = `native protectBatch K=${K} ${s}`;
    const h = hooks(name, K, profile, null, null);
    const x = extras.get(name)!;
    bench.add(name, () => {
      batch();
      x.calls++;
    }, h);
  }
  {
    const name = `native protectBatch+sendBatch K=${K} ${s}`;
    const counters = { sent: 0, attempted: 0 };
    const h = hooks(name, K, profile, drain, counters);
    const x = extras.get(name)!;
    bench.add(name, () => {
      batch();
      counters.sent += sendBatch(tx, outs, stride, lengths, dests, K);
      counters.attempted += K;
      x.calls++;
    }, h);
  }
  if (profile === 'AEAD_AES_128_GCM') {
    const name = `native sendBatch only K=${K}`;
    const counters = { sent: 0, attempted: 0 };
    const h = hooks(name, K, '-', drain, counters);
    const x = extras.get(name)!;
    bench.add(name, () => {
      counters.sent += sendBatch(tx, outs, stride, lengths, dests, K);
      counters.attempted += K;
      x.calls++;
    }, h);
  }
}

await bench.run();
drain.stop();
tx.close();

// ------------------------------------------------------------------------------------------ report

const rows: Row[] = bench.tasks.map((t: Task) => {
  const r = t.result;
  const x = extras.get(t.name)!;
  if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state} ${'error' in r ? String(r.error) : ''}`);
  const usPerOp = r.period * 1000;
  return {
    task: t.name.replace(/ (CM|GCM)$/, ''),
    profile: x.profile === '-' ? '-' : SHORT[x.profile as SrtpProfile],
    k: x.k,
    opsPerSec: 1000 / r.period,
    usPerOp,
    usPerViewerPacket: usPerOp / x.k,
    cpuUsPerOp: x.cpuUs,
    p99UsPerOp: r.latency.p99 * 1000,
    samples: r.latency.samplesCount ?? t.runs,
    ...(x.send ? { sent: x.send.sent, attempted: x.send.attempted, received: x.send.received ?? undefined } : {}),
  };
});

const f = (n: number | null | undefined, d = 2): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
const head = ['task', 'profile', 'ops/s', 'µs/op', 'µs/viewer-pkt', 'cpu µs/op', 'p99 µs/op', 'delivered'];
const lines = [
  `| ${head.join(' | ')} |`,
  `|---|---|${head.slice(2).map(() => '---:').join('|')}|`,
  ...rows.map((r) => {
    const delivered = r.attempted ? `${((100 * (r.received ?? 0)) / r.attempted).toFixed(1)}% (sent ${((100 * (r.sent ?? 0)) / r.attempted).toFixed(1)}%)` : '';
    return `| ${r.task} | ${r.profile} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${f(r.usPerOp)} | ${f(r.usPerViewerPacket, 3)} | ${f(r.cpuUsPerOp)} | ${f(r.p99UsPerOp)} | ${delivered} |`;
  }),
];

let cpu = os.cpus()[0]?.model ?? 'unknown';
try {
  const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  if (m && m[1]!.trim().length > cpu.length) cpu = m[1]!.trim();
} catch {
  // keep os.cpus()
}
const flags = (() => {
  try {
    const fl = /flags\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(' ') ?? [];
    return ['aes', 'sha_ni', 'vaes', 'vpclmulqdq', 'avx2', 'avx512f'].filter((x) => fl.includes(x));
  } catch {
    return [];
  }
})();
const machine = {
  cpu,
  cpuFlags: flags,
  cores,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  openssl: process.versions.openssl,
  addonOpenssl: srtpBackendInfo.openssl,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  loadavgAtEnd: os.loadavg(),
  drain: drain.kind === 'c' ? 'C epoll+recvmmsg, 50 sockets' : 'node dgram, 50 sockets',
  pinned: pin ? { bench: 'cpu0 (all threads)', drain: `cpu${cores - 1}` } : null,
};
const at = new Date().toISOString();
mkdirSync(RESULTS_DIR, { recursive: true });
const file = `${RESULTS_DIR}srtp-micro-${at.replace(/:/g, '-')}.json`;
writeFileSync(file, JSON.stringify({ bench: 'srtp-micro', at, config: { k: K, packetBytes: PACKET, timeMsPerTask: TIME_MS, warmupMs: 300 }, machine, rows }, null, 2));

console.log(`\nSRTP micro-bench: ${PACKET}-byte RTP packet, K=${K}; ${cpu}, ${cores} cores, Node ${process.version} (OpenSSL ${process.versions.openssl})${pin ? `, bench pinned to cpu0, drain to cpu${cores - 1}` : ''}\n`);
console.log(lines.join('\n'));
console.log(`\nwrote ${file}`);
process.exit(0);
