// SRTP for the fan-out send path, and SRTCP both ways: picks the native addon (native/srtp, Node's own OpenSSL,
// reusable cipher contexts, batch protect + sendmmsg) or falls back to pure JS (node:crypto, one cipher object
// per packet). Both give byte-identical output (test/srtp/srtp.test.ts checks them against werift's
// SrtpSession, test/srtp/srtcp.test.ts against its SrtcpSession).
//
// SRTCP: protectRtcp (drake's own RTCP, e.g. SR; context from DTLS's local key/salt, the same one protect uses)
// and unprotectRtcp (viewers' RR/NACK/PLI; a context from the remote key/salt) return lengths, or for
// unprotectRtcp a negative SRTCP_ERROR code (malformed, auth failure, replayed, too old, out too small), so the
// receive path needs no try/catch and, on the native backend, allocates nothing per packet. Replay windows
// (128 indexes per sender SSRC, 16 SSRCs per context) and E=0 handling are described in native/srtp/srtp.c.
//
//   DRAKE_SRTP=js      force the JS backend (tests, or to rule the addon out)
//   DRAKE_SRTP=native  require the addon: importing this module throws when it does not load
//   unset / other      native when it loads, else js
//
// Batched sends (sendBatch, native backend on Linux) put runs of equal-size packets to one address into UDP GSO
// trains (UDP_SEGMENT, Linux ≥ 4.18): a join burst's packets to a viewer leave as one message.
//   DRAKE_GSO=0        plain sendmmsg entries only (to compare, or to rule GSO out)
// A socket whose kernel or route refuses a train (no UDP_SEGMENT, no checksum offload, IPsec) loses nothing:
// the train goes again plain in the same call, and that socket sends plain from then on.
//
// Batched receive (BatchReceiver, native backend on Linux): a socket's datagrams are read with recvmmsg into one
// reused buffer and handed over in one call per readiness, instead of node's dgram 'message' per datagram (a
// malloc'd buffer and an rinfo object each).
//   DRAKE_NATIVE_RECV=0  node's dgram reading everywhere (to compare, or to rule the native reading out)
//
// Report `srtpBackendInfo` at start so a missing build is visible (the install script does not fail npm
// install when the compiler is missing; it warns and the JS path runs ≈ 5× slower per packet).
import type { Socket } from 'node:dgram';
import { jsBackend } from './jsBackend.ts';
import { loadAddon, nativeBackend, type SrtpAddon } from './nativeBackend.ts';
import { ADDRESS_SLOT, SEND_COUNTER, SEND_COUNTERS, type SrtpBackend } from './types.ts';

export * from './types.ts';
export { jsBackend } from './jsBackend.ts';

const mode = process.env.DRAKE_SRTP;
const loaded: { addon: SrtpAddon | null; error: string | null } =
  mode === 'js' ? { addon: null, error: 'forced by DRAKE_SRTP=js' } : loadAddon();
if (mode === 'native' && loaded.addon === null) {
  throw new Error(`DRAKE_SRTP=native but the SRTP addon did not load (run npm install): ${loaded.error}`);
}
const addon = loaded.addon;

/** The native backend when the addon loaded (even when DRAKE_SRTP=js picked js, it is then null). */
export const nativeSrtp: SrtpBackend | null = addon ? nativeBackend(addon) : null;
/** The backend drake uses. */
export const srtp: SrtpBackend = nativeSrtp ?? jsBackend;
export const srtpBackend: 'native' | 'js' = srtp.name;
/** sendBatch asks for UDP GSO trains (native backend, Linux, DRAKE_GSO not 0). The kernel may still refuse. */
export const gsoEnabled: boolean = srtpBackend === 'native' && process.platform === 'linux' && process.env.DRAKE_GSO !== '0';
/** Native batched receive is used (native backend, Linux, DRAKE_NATIVE_RECV not 0, an addon that has it). */
export const nativeRecvEnabled: boolean =
  srtpBackend === 'native' && process.platform === 'linux' && process.env.DRAKE_NATIVE_RECV !== '0' && typeof addon?.recvOpen === 'function';
/** For the start-up log line: which backend, its OpenSSL, and why not native when it is not. */
export const srtpBackendInfo: Readonly<{ backend: 'native' | 'js'; openssl: string | null; reason: string | null; gso: boolean; recv: 'recvmmsg' | 'dgram' }> = Object.freeze({
  backend: srtpBackend,
  openssl: addon?.openssl ?? null,
  reason: loaded.error,
  gso: gsoEnabled,
  recv: nativeRecvEnabled ? 'recvmmsg' : 'dgram',
});

export const createContext = srtp.createContext;
export const protect = srtp.protect;
export const protectBatch = srtp.protectBatch;
export const protectInto = srtp.protectInto;
export const protectRun = srtp.protectRun;
export const protectRtcp = srtp.protectRtcp;
export const unprotectRtcp = srtp.unprotectRtcp;
export const setRtcpIndex = srtp.setRtcpIndex;

// ------------------------------------------------------------------------------------------ batched send

const WORDS_PER_ADDRESS = ADDRESS_SLOT >> 2;

/**
 * Destinations of a batched send, by index (index i pairs with packet i of sendBatch). Holds both the raw
 * `struct sockaddr` records the native sendmmsg takes and host/port for the JS fallback. Set at viewer join,
 * not per packet. IPv4 records only work on a udp4 socket, IPv6 ones on udp6 (use ::ffff:a.b.c.d there).
 */
export class Destinations {
  readonly capacity: number;
  /** capacity × ADDRESS_SLOT bytes: struct sockaddr_in / sockaddr_in6 records. */
  readonly addrs: Buffer;
  readonly #hosts: string[];
  readonly #ports: Uint16Array;
  /** The records as 32-bit words (ADDRESS_SLOT is 7 words): copyFrom moves them without a native call. */
  readonly #words: Int32Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    // Buffer.alloc never uses the shared pool: byteOffset is 0, so the word view is aligned.
    this.addrs = Buffer.alloc(capacity * ADDRESS_SLOT);
    this.#words = new Int32Array(this.addrs.buffer, this.addrs.byteOffset, (capacity * ADDRESS_SLOT) >> 2);
    this.#hosts = new Array<string>(capacity).fill('');
    this.#ports = new Uint16Array(capacity);
  }

  /** Makes slot `index` the same destination as `src`'s slot `from` (per packet in a batch: no parsing, no allocation). */
  copyFrom(index: number, src: Destinations, from: number): void {
    const w = this.#words;
    const sw = src.#words;
    const a = index * WORDS_PER_ADDRESS;
    const b = from * WORDS_PER_ADDRESS;
    for (let i = 0; i < WORDS_PER_ADDRESS; i++) w[a + i] = sw[b + i]!;
    this.#hosts[index] = src.#hosts[from]!;
    this.#ports[index] = src.#ports[from]!;
  }

  /** Sets destination `index` to a numeric IPv4/IPv6 address and port. */
  set(index: number, address: string, port: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) throw new RangeError(`index ${index} outside 0..${this.capacity - 1}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`);
    if (addon) addon.setAddress(this.addrs, index, address, port);
    this.#hosts[index] = address;
    this.#ports[index] = port;
  }

  host(index: number): string {
    return this.#hosts[index]!;
  }

  port(index: number): number {
    return this.#ports[index]!;
  }
}

interface DgramHandle {
  fd?: unknown;
  recvStart?: () => number;
  recvStop?: () => number;
}
interface DgramState {
  handle?: DgramHandle | null;
  connectState?: number;
}
let stateSymbol: symbol | null | undefined;

/**
 * The OS file descriptor of a bound node dgram socket, for the native sendmmsg. TRAPS (Linux only):
 * - There is no public API. The fd is UDPWrap's `fd` getter on the socket's internal handle. The usual
 *   `socket._handle.fd` works but `_handle` is a deprecated accessor on dgram sockets (DEP0112 warning on first
 *   use), so this reads the same handle through the socket's internal `Symbol(state symbol)` state object and
 *   uses `_handle` only when that is not there (a future Node).
 * - It is -1 until the socket is bound (libuv creates the OS socket lazily at bind), -1 on Windows, and the
 *   handle is null after close(): this throws in those cases. Do not cache the number past the socket's life:
 *   after close the fd can be reused by an unrelated file or socket.
 * - Sends on the raw fd bypass libuv: nothing is queued (a full send buffer drops, reported as fewer sent), no
 *   'error' event fires, and a connect()ed socket refuses per-message addresses (EISCONN): this throws for one.
 */
export function socketFd(socket: Socket): number {
  const { state, handle } = dgramInternals(socket);
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new Error(handle ? 'dgram socket has no fd yet: bind() it first (its fd is -1 before bind)' : 'dgram socket is closed');
  }
  if (state && typeof state.connectState === 'number' && state.connectState !== 0) {
    throw new Error('dgram socket is connect()ed: sendmmsg with per-packet destinations needs an unconnected socket');
  }
  return fd;
}

/** The socket's internal state object and UDPWrap handle (see socketFd's traps); handle null once closed. */
function dgramInternals(socket: Socket): { state: DgramState | null; handle: DgramHandle | null } {
  if (stateSymbol === undefined) {
    stateSymbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol') ?? null;
  }
  const state = stateSymbol ? ((socket as unknown as Record<symbol, DgramState | undefined>)[stateSymbol] ?? null) : null;
  const handle = state ? state.handle : (socket as unknown as { _handle?: DgramHandle | null })._handle;
  return { state, handle: handle ?? null };
}

/**
 * Stops or restarts the event loop's reading of a bound dgram socket (its UDPWrap's recvStop/recvStart, which
 * node itself calls at bind and close; no public API). While stopped, datagrams wait in the socket's receive
 * buffer and no 'message' is emitted. false when the handle does not have them (another Node) or is closed.
 */
export function setReceiving(socket: Socket, on: boolean): boolean {
  const h = dgramInternals(socket).handle;
  const fn = on ? h?.recvStart : h?.recvStop;
  if (typeof fn !== 'function') return false;
  fn.call(h);
  return true;
}

/** Sockets whose kernel or route refused a GSO train: they send plain entries from then on. */
const gsoRefused = new WeakSet<Socket>();
/** Counters for calls that bring none (the refusal check reads them). */
const scratchCounters = new Float64Array(SEND_COUNTERS);

/** A new counters array for sendBatch (indexes: SEND_COUNTER). */
export function sendCounters(): Float64Array {
  return new Float64Array(SEND_COUNTERS);
}

/**
 * Sends packet i = out[i·stride, +lengths[i]] to dests index i, for i < count: one sendmmsg per up to 256
 * packets on the native backend (never blocks; stops at EAGAIN/ENOBUFS, skips a packet that fails on its own),
 * with runs of equal-size packets to one address as UDP GSO trains (see DRAKE_GSO above); `socket.send` per
 * packet (copied) on the JS one. Packets leave in index order. Returns how many packets the kernel took;
 * count − that are drops. `counters` (sendCounters()) are added to. `lastSendError()` tells the errno of the
 * last failure (native only).
 */
export function sendBatch(
  socket: Socket,
  out: Buffer,
  stride: number,
  lengths: Uint32Array,
  dests: Destinations,
  count: number,
  counters: Float64Array = scratchCounters,
): number {
  if (count > dests.capacity) throw new RangeError('count exceeds dests.capacity');
  if (srtpBackend === 'native' && addon) {
    const gso = gsoEnabled && !gsoRefused.has(socket);
    const refused = counters[SEND_COUNTER.GSO_REFUSED]!;
    const sent = addon.sendBatch(socketFd(socket), out, stride, lengths, dests.addrs, count, gso, counters);
    if (counters[SEND_COUNTER.GSO_REFUSED] !== refused) gsoRefused.add(socket);
    return sent;
  }
  for (let i = 0; i < count; i++) {
    const off = i * stride;
    // A copy: dgram may queue the buffer when it cannot send synchronously, and `out` is reused next batch.
    socket.send(Buffer.from(out.subarray(off, off + lengths[i]!)), dests.port(i), dests.host(i));
  }
  counters[SEND_COUNTER.SYSCALLS]! += count;
  counters[SEND_COUNTER.MESSAGES]! += count;
  counters[SEND_COUNTER.PACKETS]! += count;
  return count;
}

/** false once the socket's kernel or route refused a GSO train (it then sends plain entries). */
export function gsoActive(socket: Socket): boolean {
  return gsoEnabled && !gsoRefused.has(socket);
}

/** errno of the last failed packet of this thread's last native sendBatch (0: all went, or JS backend). */
export function lastSendError(): number {
  return srtpBackend === 'native' && addon ? addon.lastSendError() : 0;
}

// ------------------------------------------------------------------------------------------ batched receive

let recvOpenFailed = false;

/** BatchReceiver's flags: the datagram was longer than a slot and was cut (drop it). */
export const RECV_TRUNCATED = 1;
const RECV_META = 4;

/**
 * A bound udp4 dgram socket read natively: when it is readable, up to `max` datagrams are read in one recvmmsg
 * into `buf` (datagram i at i·slot, see view/ip/port) and `onBatch(count)` runs once for them. The slots are
 * reused by the next batch: copy what must outlive the call. Node's own reading of the socket is stopped; it
 * still sends. close() before closing the socket (the receiver holds a duplicate of its fd).
 */
export class BatchReceiver {
  readonly buf: Buffer;
  readonly slot: number;
  readonly max: number;
  readonly #meta: Uint32Array;
  readonly #arrivals: Float64Array | null;
  readonly #handle: unknown;
  #closed = false;

  private constructor(socket: Socket, slot: number, max: number, onBatch: (count: number) => void, timestamps: boolean) {
    this.slot = slot;
    this.max = max;
    this.buf = Buffer.alloc(slot * max);
    this.#meta = new Uint32Array(max * RECV_META);
    this.#arrivals = timestamps ? new Float64Array(max) : null;
    this.#handle = addon!.recvOpen(socketFd(socket), this.buf, slot, this.#meta, max, onBatch, this.#arrivals ?? undefined);
  }

  /**
   * A receiver for `socket` (bound, udp4), or null where native reading is not available (JS backend,
   * not Linux, DRAKE_NATIVE_RECV=0, a Node whose dgram handle cannot stop reading): then keep using 'message'.
   * `timestamps`: the kernel stamps each datagram on arrival (arrivedAt). A receiver the addon cannot open (no
   * descriptor left, a poll that fails) is null too, with a warning once: node's reading goes on.
   */
  static open(socket: Socket, slot: number, max: number, onBatch: (count: number) => void, timestamps = false): BatchReceiver | null {
    if (!nativeRecvEnabled || !addon || socket.address().family !== 'IPv4') return null;
    if (!setReceiving(socket, false)) return null;
    try {
      return new BatchReceiver(socket, slot, max, onBatch, timestamps);
    } catch (err) {
      setReceiving(socket, true);
      if (!recvOpenFailed) process.emitWarning(`native UDP receive not available, node's dgram reads instead: ${(err as Error).message}`, 'DrakeWarning');
      recvOpenFailed = true;
      return null;
    }
  }

  length(i: number): number {
    return this.#meta[i * RECV_META]!;
  }

  /** Sender's IPv4 address as a 32-bit number (0: not IPv4). */
  ip(i: number): number {
    return this.#meta[i * RECV_META + 1]!;
  }

  port(i: number): number {
    return this.#meta[i * RECV_META + 2]!;
  }

  truncated(i: number): boolean {
    return (this.#meta[i * RECV_META + 3]! & RECV_TRUNCATED) !== 0;
  }

  /** When datagram i reached the socket (ms since the epoch, the kernel's stamp); now where there is none. */
  arrivedAt(i: number): number {
    const at = this.#arrivals ? this.#arrivals[i]! : 0;
    return at > 0 ? at : Date.now();
  }

  /**
   * Datagrams the kernel dropped at this socket because its receive buffer was full (SO_RXQ_OVFL). Drops show
   * with the next datagram that gets through.
   */
  get kernelDropped(): number {
    return this.#closed ? 0 : addon!.recvDropped(this.#handle);
  }

  /** Reads one batch now, without waiting for the loop's poll (paced reads); onBatch is not called. Returns its size. */
  drain(): number {
    return this.#closed ? 0 : addon!.recvDrain(this.#handle);
  }

  /** Datagram i in place (valid until the next batch). */
  view(i: number): Buffer {
    const at = i * this.slot;
    return this.buf.subarray(at, at + this.length(i));
  }

  /** Pauses (datagrams wait in the socket's buffer) or resumes reading. */
  setReceiving(on: boolean): void {
    if (!this.#closed) addon!.recvSet(this.#handle, on);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    addon!.recvClose(this.#handle);
  }
}

/** Dotted-quad text of an IPv4 address held as a 32-bit number. */
export function ipv4Text(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** An IPv4 dotted quad as a 32-bit number, -1 for anything else (per datagram on node's dgram path: no allocation). */
export function ipv4Number(text: string): number {
  let ip = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return -1;
      part = part * 10 + (c - 48);
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (part > 255) return -1;
      ip = ip * 256 + part;
      part = digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  return dots === 3 && digits > 0 && part <= 255 ? ip * 256 + part : -1;
}
