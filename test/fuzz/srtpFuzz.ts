// Random arguments to the SRTP backends (the native addon raw and wrapped, and the JS fallback), SRTCP
// included: lengths, strides, counts, indices, contexts and plain wrong types. Every call must return or throw a JS error;
// every Buffer it is given sits between canary bytes, so a write past its end shows even when it does not
// crash. Run in a child process (srtpChild.ts): a crash there is reported, not suffered.
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { jsBackend, socketFd, type SrtpBackend, type SrtpContext } from '../../src/shared/srtp/index.ts';
import { loadAddon, nativeBackend, type SrtpAddon } from '../../src/shared/srtp/nativeBackend.ts';

const CANARY = 0xa5;
const GUARD = 64;

interface Guarded {
  buf: Buffer;
  check(): boolean;
}

/** `n` bytes inside a larger allocation with canary bytes on both sides (and an unaligned start, sometimes). */
function guarded(n: number, fill: number, shift: number): Guarded {
  const whole = Buffer.alloc(GUARD + shift + n + GUARD, CANARY);
  const buf = whole.subarray(GUARD + shift, GUARD + shift + n);
  buf.fill(fill);
  return {
    buf,
    check: () => {
      for (let i = 0; i < GUARD + shift; i++) if (whole[i] !== CANARY) return false;
      for (let i = GUARD + shift + n; i < whole.length; i++) if (whole[i] !== CANARY) return false;
      return true;
    },
  };
}

/** A plausible RTP packet of `len` bytes (CSRC count and extension from the arbitrary, so often truncated). */
function rtp(g: Guarded, b0: number): Buffer {
  if (g.buf.length > 0) g.buf[0] = b0;
  return g.buf;
}

export interface SrtpFuzzResult {
  calls: number;
  returned: number;
  threw: number;
  /** Calls that threw something that is not an Error, or wrote outside their buffers. */
  findings: string[];
}

type Fn = 'createContext' | 'protect' | 'protectBatch' | 'protectRtcp' | 'unprotectRtcp' | 'setRtcpIndex' | 'setAddress' | 'sendBatch';

const size = fc.oneof(fc.constantFrom(0, 1, 11, 12, 13, 16, 28, 72, 1200, 1500, 1516), fc.nat({ max: 4096 }));
const number = fc.oneof(
  fc.constantFrom(0, 1, 12, 16, 27, 28, 29, 1516, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, -(2 ** 31), 0.5, NaN, Infinity, -Infinity),
  fc.integer(),
  fc.double(),
);
const wrongType = fc.constantFrom<unknown>(undefined, null, 'x', '12', {}, [], true, Symbol('s'), 10n, () => 1, new Uint8Array(4), new Float64Array(2), new DataView(new ArrayBuffer(8)), new ArrayBuffer(16));

const callArb = fc.record({
  fn: fc.constantFrom<Fn>('createContext', 'protect', 'protectBatch', 'protectRtcp', 'unprotectRtcp', 'setRtcpIndex', 'setAddress', 'sendBatch'),
  backend: fc.constantFrom('raw', 'wrapped', 'js'),
  sizes: fc.array(size, { minLength: 4, maxLength: 4 }),
  shifts: fc.array(fc.nat({ max: 3 }), { minLength: 4, maxLength: 4 }),
  b0: fc.oneof(fc.constant(0x80), fc.integer({ min: 0, max: 255 })),
  extLen: fc.integer({ min: 0, max: 0xffff }),
  nums: fc.array(number, { minLength: 4, maxLength: 4 }),
  ctxs: fc.array(fc.constantFrom('cm', 'gcm', 'js', 'foreign', 'hole'), { maxLength: 6 }),
  lengthsLen: fc.nat({ max: 8 }),
  lengthVals: fc.array(fc.oneof(fc.nat({ max: 2000 }), fc.constant(2 ** 32 - 1)), { maxLength: 8 }),
  profile: fc.oneof(fc.constantFrom<unknown>(1, 7, 'AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'), number, wrongType),
  wrong: fc.option(fc.tuple(fc.nat({ max: 6 }), wrongType), { freq: 4 }),
  ip: fc.oneof(fc.constantFrom('127.0.0.1', '::1', '::ffff:127.0.0.1', '', '999.1.1.1', 'localhost', '1'.repeat(200), 'fe80::1%eth0'), fc.string({ maxLength: 70 })),
  fd: fc.constantFrom('own', -1, 2 ** 31 - 1, 1_000_000, NaN, '3'),
  // Sizes that fit each other (then nudged by delta): the paths past the argument checks get exercised too.
  coherent: fc.boolean(),
  delta: fc.integer({ min: -2, max: 2 }),
});

type Call = typeof callArb extends fc.Arbitrary<infer T> ? T : never;

/** Runs `runs` random calls from `seed`; returns counts and anything that was not a clean return or JS error. */
export async function fuzzSrtpBackends(seed: number, runs: number): Promise<SrtpFuzzResult> {
  const loaded = loadAddon();
  const addon: SrtpAddon | null = loaded.addon;
  const native: SrtpBackend | null = addon ? nativeBackend(addon) : null;
  const key = Buffer.alloc(16, 1);
  const ctx = {
    cm: native?.createContext('AES_CM_128_HMAC_SHA1_80', key, Buffer.alloc(14, 2)) ?? null,
    gcm: native?.createContext('AEAD_AES_128_GCM', key, Buffer.alloc(12, 2)) ?? null,
    js: jsBackend.createContext('AES_CM_128_HMAC_SHA1_80', key, Buffer.alloc(14, 2)),
  };
  // sendBatch only ever gets this socket's fd and addresses of the sink below: nothing leaves 127.0.0.1.
  const sock = dgram.createSocket('udp4');
  const sink = dgram.createSocket('udp4');
  await Promise.all([new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r())), new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()))]);
  sink.on('message', () => undefined);
  const sinkPort = sink.address().port;
  const result: SrtpFuzzResult = { calls: 0, returned: 0, threw: 0, findings: [] };
  const samples = fc.sample(callArb, { seed, numRuns: runs });
  for (const c of samples) {
    let built: ReturnType<typeof build>;
    try {
      built = build(c, ctx, addon, sinkPort, socketFd(sock));
    } catch (err) {
      // A case the harness cannot set up (the addon's own setAddress refusing it, say) is not a finding.
      if (process.env.FUZZ_TRACE) process.stderr.write(`skipped: ${(err as Error).message}\n`);
      continue;
    }
    const { args, guards } = built;
    const target = pick(c, addon, native);
    if (!target) continue;
    result.calls++;
    // FUZZ_TRACE=1: the call goes to stderr before it runs, so a crash names its last call.
    if (process.env.FUZZ_TRACE) process.stderr.write(`${describe(c)}\n`);
    try {
      (target as (...a: unknown[]) => unknown)(...args);
      result.returned++;
    } catch (err) {
      result.threw++;
      if (process.env.FUZZ_TRACE) process.stderr.write(`  -> ${(err as Error).message}\n`);
      if (!(err instanceof Error)) result.findings.push(`${describe(c)} threw a non-Error: ${String(err)}`);
    }
    if (!guards.every((g) => g.check())) result.findings.push(`${describe(c)} wrote outside its buffers`);
  }
  sock.close();
  sink.close();
  return result;
}

function pick(c: Call, addon: SrtpAddon | null, native: SrtpBackend | null): unknown {
  if (c.backend === 'js' || !addon || !native) {
    return c.fn === 'setAddress' || c.fn === 'sendBatch' ? null : jsBackend[c.fn];
  }
  if (c.backend === 'wrapped' && c.fn !== 'setAddress' && c.fn !== 'sendBatch') return native[c.fn];
  return addon[c.fn];
}

function describe(c: Call): string {
  return `${c.backend} ${c.fn}(sizes ${c.sizes.join(',')}, nums ${c.nums.map(String).join(',')}, ctxs ${c.ctxs.join(',')}, wrong ${c.wrong ? `#${c.wrong[0]}=${typeof c.wrong[1]}` : '-'})`;
}

function build(
  c: Call,
  ctx: { cm: SrtpContext | null; gcm: SrtpContext | null; js: SrtpContext },
  addon: SrtpAddon | null,
  sinkPort: number,
  ownFd: number,
): { args: unknown[]; guards: Guarded[] } {
  const sizes = c.coherent ? coherentSizes(c) : c.sizes;
  const guards = sizes.map((n, i) => guarded(n, i === 0 ? 0x11 : 0, c.shifts[i]!));
  const [g0, g1, g2, g3] = guards as [Guarded, Guarded, Guarded, Guarded];
  const one = (name: string): unknown => (name === 'cm' ? ctx.cm : name === 'gcm' ? ctx.gcm : name === 'js' ? ctx.js : name === 'foreign' ? {} : undefined);
  // Coherent calls get contexts of the backend they call, so that they reach the crypto and the copies.
  const valid = (name: string): string => (c.backend === 'js' ? 'js' : name === 'gcm' ? 'gcm' : 'cm');
  const names = c.coherent ? c.ctxs.map(valid) : c.ctxs;
  const ctxList = names.map(one);
  const lengths = new Uint32Array(c.coherent ? Math.max(0, c.ctxs.length + Math.sign(c.delta)) : c.lengthsLen);
  c.lengthVals.slice(0, lengths.length).forEach((v, i) => (lengths[i] = c.coherent ? v % 70 : v));
  const pkt = rtp(g0, c.coherent ? 0x80 | (c.b0 & 0x1f) : c.b0);
  // The extension's length word, where the header puts it when the packet is long enough, else right after the fixed header.
  const extAt = 12 + 4 * (c.b0 & 0x0f) + 2;
  if (pkt.length >= 16 && c.b0 & 0x10) pkt.writeUInt16BE(c.extLen, extAt + 2 <= pkt.length ? extAt : 14);
  const [n0, n1, n2] = (c.coherent ? coherentNums(c, sizes) : c.nums) as [number, number, number, number];
  let args: unknown[];
  switch (c.fn) {
    case 'createContext':
      args = [c.coherent ? (c.backend === 'raw' ? 7 : 'AEAD_AES_128_GCM') : c.profile, c.coherent ? Buffer.alloc(16) : g0.buf, c.coherent ? Buffer.alloc(12) : g1.buf, n0];
      break;
    case 'protect':
      args = [one(names[0] ?? (c.backend === 'js' ? 'js' : 'cm')), pkt, sizes[1] === 0 ? pkt : g1.buf];
      break;
    case 'protectBatch':
      args = [ctxList, pkt, g1.buf, g2.buf, n0, lengths, c.nums[3]! > 0 ? n1 : undefined];
      break;
    case 'protectRtcp':
    case 'unprotectRtcp':
      // sizes[1] === 0: in place (out is the packet itself)
      args = [one(names[0] ?? (c.backend === 'js' ? 'js' : 'cm')), pkt, sizes[1] === 0 ? pkt : g1.buf];
      break;
    case 'setRtcpIndex':
      args = [one(names[0] ?? (c.backend === 'js' ? 'js' : 'gcm')), n0, n1];
      break;
    case 'setAddress':
      args = [g0.buf, n0, c.ip, n1];
      break;
    case 'sendBatch': {
      // Only loopback records (or empty ones): the addon must refuse the rest, not send them anywhere.
      const addrs = g1.buf;
      addrs.fill(0);
      if (addon) for (let i = 0; (i + 1) * 28 <= addrs.length && i < (n2 >>> 0) % 8; i++) addon.setAddress(addrs, i, '127.0.0.1', sinkPort);
      const fd = c.fd === 'own' || c.coherent ? ownFd : c.fd;
      args = [fd, g2.buf, n0, lengths, addrs, n1];
      break;
    }
  }
  if (c.wrong && !c.coherent) args[c.wrong[0] % args.length] = c.wrong[1];
  // Guards for buffers the call no longer holds would only compare canaries: harmless.
  void g3;
  return { args, guards };
}

const STRIDE = 64;

/** [packet, out or headers, batch out, spare] sized for each other, then nudged by delta. */
function coherentSizes(c: Call): number[] {
  const len = Math.max(12, c.sizes[0]! % 1600);
  const k = c.ctxs.length;
  if (c.fn === 'protect') return [len, len + 16 + c.delta, 0, 0];
  // an SRTCP packet of len bytes unprotects into len − 14/20 bytes; out a little shorter or longer than that
  if (c.fn === 'protectRtcp') return [len, len + 20 + c.delta, 0, 0];
  if (c.fn === 'unprotectRtcp') return [len, c.delta === 0 ? 0 : Math.max(1, len - 20 + c.delta * 3), 0, 0];
  if (c.fn === 'protectBatch') return [len, Math.max(0, k * 12 + c.delta), Math.max(0, k * (len + 16) + c.delta), 0];
  if (c.fn === 'sendBatch') return [0, Math.max(0, 28 * k + c.delta), Math.max(0, STRIDE * k + c.delta), 0];
  return c.sizes;
}

function coherentNums(c: Call, sizes: number[]): number[] {
  const k = c.ctxs.length;
  if (c.fn === 'protectBatch') return [sizes[0]! + 16 + Math.min(0, c.delta), c.delta >= 0 ? k : k + 1, 0, c.nums[3]!];
  if (c.fn === 'sendBatch') return [STRIDE + Math.min(0, c.delta), k + Math.max(0, c.delta), k, 0];
  if (c.fn === 'setAddress') return [Math.max(0, Math.floor(sizes[0]! / 28) - 1 + c.delta), 9, 0, 0];
  return c.nums;
}

/** Runs fuzzSrtpBackends in a child process: a native crash becomes a finding instead of ending the caller. */
export function fuzzSrtpInChild(seed: number, runs: number, timeoutMs = 60_000): SrtpFuzzResult & { crashed: string | null } {
  const child = fileURLToPath(new URL('./srtpChild.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', child, String(seed), String(runs)], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return { ...(JSON.parse(last) as SrtpFuzzResult), crashed: null };
  const why = r.signal ? `killed by ${r.signal}` : r.error ? r.error.message : `exit code ${r.status}`;
  return { calls: 0, returned: 0, threw: 0, findings: [], crashed: `${why}: ${r.stderr.slice(-2000)}` };
}
