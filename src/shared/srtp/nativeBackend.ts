// Loads the N-API addon native/srtp (built by `npm install` through the root package's install script) and
// wraps it as an SrtpBackend. Returns null, with the reason, when the addon is not there or will not load.
import { createRequire } from 'node:module';
import { PROFILE_ID, type SrtpBackend, type SrtpContext } from './types.ts';

/** The raw exports of native/srtp/srtp.c. */
export interface SrtpAddon {
  createContext(profile: 1 | 7, masterKey: Buffer, masterSalt: Buffer, ssrc?: number): SrtpContext;
  protect(ctx: SrtpContext, packet: Buffer, out: Buffer): number;
  protectBatch(ctxs: readonly SrtpContext[], src: Buffer, headers: Buffer, out: Buffer, stride: number, lengths: Uint32Array, count?: number): number;
  protectInto(ctx: SrtpContext, src: Buffer, header: Buffer, out: Buffer, slot: number, stride: number, lengths: Uint32Array): number;
  protectRun: SrtpBackend['protectRun'];
  protectRtcp(ctx: SrtpContext, packet: Buffer, out: Buffer): number;
  /** Plaintext length, or SRTCP_ERROR (types.ts; the SRTCP_* defines in srtp.c). */
  unprotectRtcp(ctx: SrtpContext, packet: Buffer, out: Buffer): number;
  setRtcpIndex(ctx: SrtpContext, ssrc: number, index: number): void;
  /** Writes a struct sockaddr_in/_in6 for ip:port into 28-byte record `index`; returns 4 or 6. */
  setAddress(addrs: Buffer, index: number, ip: string, port: number): 4 | 6;
  /**
   * sendmmsg of count packets (out[i·stride], lengths[i]) to addrs records on a raw fd; returns how many packets
   * went. gso: runs to one address of equal length go as UDP_SEGMENT trains. counters: see SEND_COUNTER.
   */
  sendBatch(fd: number, out: Buffer, stride: number, lengths: Uint32Array, addrs: Buffer, count: number, gso?: boolean, counters?: Float64Array): number;
  /** Tests: SO_NO_CHECK on a UDP socket, with which the kernel refuses GSO trains but sends single datagrams. */
  setNoChecksum(fd: number, on: boolean): void;
  /** errno of the last failed message in this thread's last sendBatch, 0 when all went. */
  lastSendError(): number;
  /**
   * Reads a bound UDP socket (through a dup of `fd`) with recvmmsg whenever it is readable: up to `max` datagrams
   * into buf slots of `slot` bytes, meta[4i..] = length, IPv4 address (host order; 0: not IPv4), port, flags
   * (RECV_TRUNCATED), then onBatch(count); with `arrivals`, each datagram's kernel arrival time (ms since the
   * epoch, 0: none). Linux only.
   */
  recvOpen(fd: number, buf: Buffer, slot: number, meta: Uint32Array, max: number, onBatch: (count: number) => void, arrivals?: Float64Array): unknown;
  /** One batch read now, without polling (onBatch not called): how many datagrams it holds. */
  recvDrain(receiver: unknown): number;
  /** Datagrams the kernel dropped at the socket (receive buffer full), as the last datagram read reported it. */
  recvDropped(receiver: unknown): number;
  recvSet(receiver: unknown, on: boolean): void;
  recvClose(receiver: unknown): void;
  /** OpenSSL version string of the running node, which the addon links against. */
  readonly openssl: string;
}

export const ADDON_PATH = '../../../native/srtp/build/Release/srtp.node';

export function loadAddon(): { addon: SrtpAddon | null; error: string | null } {
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as SrtpAddon;
    return { addon, error: null };
  } catch (e) {
    return { addon: null, error: (e as Error).message.split('\n')[0] ?? String(e) };
  }
}

export function nativeBackend(addon: SrtpAddon): SrtpBackend {
  return {
    name: 'native',
    createContext: (profile, masterKey, masterSalt, ssrc) => {
      const id = PROFILE_ID[profile];
      if (id === undefined) throw new TypeError(`unknown SRTP profile ${String(profile)}`);
      return addon.createContext(id, masterKey, masterSalt, ssrc);
    },
    protect: addon.protect,
    protectBatch: addon.protectBatch,
    protectInto: addon.protectInto,
    protectRun: addon.protectRun,
    // The addon's functions themselves: no wrapper, nothing allocated per packet on the JS side either.
    protectRtcp: addon.protectRtcp,
    unprotectRtcp: addon.unprotectRtcp,
    setRtcpIndex: addon.setRtcpIndex,
  };
}
