// One UDP port for all viewers of a shard. werift gives every peer its own ICE sockets, which rules out
// sending one packet to many viewers with one sendmmsg (that needs one socket). Here werift's ICE agent
// still runs per viewer, but its UDP transport is a thin view on the shard's shared socket: packets are
// routed to a viewer by remote address, a new address is learnt from a STUN request's USERNAME (our local
// ufrag), and STUN responses go back to the transport that sent the request (by transaction id). DTLS
// and consent checks then flow as usual; a viewer's SRTCP goes to its PeerSession's ViewerRtcp once SRTP
// keys exist (MuxTransport.rtcp), not through werift. Operators get one port per shard to open or map (NAT,
// containers) instead of one per viewer.
import { createHmac, timingSafeEqual } from 'node:crypto';
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { UdpTransport } from 'werift';
import { Logger } from '../../shared/log.ts';
import { looksLikeRtcp } from './rtcpReader.ts';

const log = new Logger('UdpMux');

const STUN_COOKIE = 0x2112a442;
const ATTR_USERNAME = 0x0006;
const ATTR_MESSAGE_INTEGRITY = 0x0008;
/** Transactions remembered for routing responses; older ones are forgotten first (werift gives up after ~8 s). */
const MAX_PENDING = 8192;

type Address = [string, number];
/**
 * The part of werift's ICE Connection the mux reads: its current local ufrag and password (both change on
 * ICE restart) and the passwords of earlier ufrags, which werift still answers with.
 */
type IceAgent = { readonly localUsername: string; readonly localPassword?: string; readonly userHistory?: Record<string, string> };

/** What werift's StunProtocol uses of a UdpTransport. */
export class MuxTransport {
  readonly type = 'udp';
  readonly socketType = 'udp4';
  closed = false;
  /** The ICE agent this transport belongs to, set by UdpMux.claim once gathering is done. */
  owner: IceAgent | null = null;
  /** The viewer's SRTCP, taken before werift sees it (set by its PeerSession once SRTP keys exist). */
  rtcp: ((data: Buffer) => void) | null = null;
  onData: (data: Buffer, addr: Address) => void = () => undefined;
  readonly #mux: UdpMux;

  constructor(mux: UdpMux) {
    this.#mux = mux;
  }

  get address(): { address: string; port: number; family: string } {
    return { address: this.#mux.address, port: this.#mux.port, family: 'IPv4' };
  }

  send = async (data: Buffer, addr?: Address): Promise<void> => {
    if (this.closed || !addr) return;
    this.#mux.sendFrom(this, data, addr);
  };

  close = async (): Promise<void> => {
    if (this.closed) return;
    this.closed = true;
    this.#mux.forget(this);
  };
}

/**
 * Muxes of this thread by port. A peer is pointed at one with icePortRange [port, port + MUX_RANGE_MARK]:
 * werift refuses min == max, and no real range ends above 65535, so the pair cannot mean anything else.
 */
const MUX_RANGE_MARK = 65536;
const muxes = new Map<number, UdpMux>();
let hooked = false;

function installHook(): void {
  if (hooked) return;
  hooked = true;
  const original = UdpTransport.init.bind(UdpTransport);
  (UdpTransport as unknown as { init: unknown }).init = async (type: 'udp4' | 'udp6', options: { portRange?: [number, number] } = {}) => {
    const range = options.portRange;
    const mux = type === 'udp4' && range && range[1] === range[0] + MUX_RANGE_MARK ? muxes.get(range[0]) : undefined;
    if (mux && !mux.closed) return mux.createTransport() as unknown as UdpTransport;
    return original(type, options as never);
  };
}

export interface MuxCounters {
  received: number;
  /** Datagrams from an address no viewer owns that were not a STUN request with a known ufrag. */
  dropped: number;
}

export class UdpMux {
  readonly socket: Socket;
  readonly address: string;
  readonly counters: MuxCounters = { received: 0, dropped: 0 };
  closed = false;
  #port = 0;
  readonly #transports = new Set<MuxTransport>();
  readonly #byRemote = new Map<string, MuxTransport>();
  readonly #pending = new Map<string, MuxTransport>();

  private constructor(socket: Socket, address: string) {
    this.socket = socket;
    this.address = address;
  }

  /**
   * Binds the shared port on `address` (0.0.0.0: all interfaces) with a port from `range` (any free
   * one when absent) and makes werift peers created with `iceRange` use it.
   */
  static async open(address: string, range?: [number, number]): Promise<UdpMux> {
    installHook();
    const ports = range ? shuffledPorts(range) : [0];
    let lastError: unknown;
    for (const port of ports) {
      if (port !== 0 && muxes.has(port)) continue;
      const socket = dgram.createSocket({ type: 'udp4' });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address, port, exclusive: true }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        lastError = err;
        socket.close();
        continue;
      }
      const mux = new UdpMux(socket, address);
      mux.#port = socket.address().port;
      socket.on('message', (data, rinfo) => mux.#receive(data, rinfo));
      socket.on('error', (err) => log.warn(`shared port ${mux.#port}: ${err.message}`));
      muxes.set(mux.#port, mux);
      return mux;
    }
    throw new Error(`no free UDP port for the shared viewer socket${range ? ` in ${range[0]}-${range[1]}` : ''}: ${String(lastError)}`);
  }

  get port(): number {
    return this.#port;
  }

  /** The icePortRange that makes a werift peer in this thread gather on this mux. */
  get iceRange(): [number, number] {
    return [this.#port, this.#port + MUX_RANGE_MARK];
  }

  get viewers(): number {
    return this.#transports.size;
  }

  createTransport(): MuxTransport {
    const t = new MuxTransport(this);
    this.#transports.add(t);
    return t;
  }

  /** Gives the transports werift created for `connection` their owner: from now on its ufrag routes to them. */
  claim(connection: IceAgent): void {
    const protocols = (connection as unknown as { protocols: Array<{ transport?: unknown }> }).protocols;
    for (const p of protocols) if (p.transport instanceof MuxTransport && this.#transports.has(p.transport)) p.transport.owner = connection;
  }

  /** Routes the SRTCP that reaches `connection`'s transports to `handler` instead of werift (null: back to werift). */
  takeRtcp(connection: IceAgent, handler: ((data: Buffer) => void) | null): void {
    for (const t of this.#transports) if (t.owner === connection) t.rtcp = handler;
  }

  sendFrom(t: MuxTransport, data: Buffer, addr: Address): void {
    // A request of ours: its response must reach this transport even from an address not yet routed.
    if (isStun(data) && (data.readUInt16BE(0) & 0x0110) === 0) {
      if (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
      this.#pending.set(data.toString('latin1', 8, 20), t);
    }
    this.socket.send(data, addr[1], addr[0]);
  }

  forget(t: MuxTransport): void {
    this.#transports.delete(t);
    for (const [k, v] of this.#byRemote) if (v === t) this.#byRemote.delete(k);
    for (const [k, v] of this.#pending) if (v === t) this.#pending.delete(k);
  }

  #receive(data: Buffer, rinfo: RemoteInfo): void {
    this.counters.received++;
    const key = `${rinfo.address}:${rinfo.port}`;
    let t: MuxTransport | undefined;
    if (isStun(data)) {
      const cls = data.readUInt16BE(0) & 0x0110;
      if (cls === 0x0100 || cls === 0x0110) {
        t = this.#pending.get(data.toString('latin1', 8, 20));
      } else if (cls === 0) {
        // werift answers and acts on a Binding request (new peer-reflexive pair, role switch, nomination)
        // without checking its MESSAGE-INTEGRITY, and the address it came from would be routed to the
        // viewer: anyone who saw a viewer's ufrag could then feed that viewer's DTLS/SRTP stack (a crafted
        // datagram made its session fail). Only a request signed with the viewer's ICE password gets through.
        const ufrag = localUfrag(data);
        const owner = ufrag ? this.#ownerOf(ufrag) : undefined;
        const target = owner ?? this.#byRemote.get(key);
        if (!ufrag || !target?.owner || !integrityOk(data, passwordFor(target.owner, ufrag))) {
          this.counters.dropped++;
          return;
        }
        t = target;
        // The latest authenticated request decides where an address goes.
        if (owner) this.#byRemote.set(key, t);
      }
    }
    t ??= this.#byRemote.get(key);
    if (!t || t.closed) {
      this.counters.dropped++;
      return;
    }
    try {
      if (t.rtcp !== null && looksLikeRtcp(data)) t.rtcp(data);
      else t.onData(data, [rinfo.address, rinfo.port]);
    } catch (err) {
      log.debug(`viewer transport threw: ${String(err)}`);
    }
  }

  #ownerOf(ufrag: string): MuxTransport | undefined {
    // First transport in creation order: a peer gathering on several addresses answers on its first.
    for (const t of this.#transports) if (t.owner?.localUsername === ufrag) return t;
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (muxes.get(this.#port) === this) muxes.delete(this.#port);
    for (const t of this.#transports) t.closed = true;
    this.#transports.clear();
    this.#byRemote.clear();
    this.#pending.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

function isStun(data: Buffer): boolean {
  return data.length >= 20 && (data[0]! & 0xc0) === 0 && data.readUInt32BE(4) === STUN_COOKIE;
}

/** The part of a Binding request's USERNAME before ':' — the receiver's (our) ufrag. */
/** Offset and length of the first STUN attribute of `type` within the message, or null (also when malformed). */
function findAttribute(data: Buffer, type: number): { at: number; len: number } | null {
  const end = Math.min(data.length, 20 + data.readUInt16BE(2));
  let at = 20;
  while (at + 4 <= end) {
    const t = data.readUInt16BE(at);
    const len = data.readUInt16BE(at + 2);
    if (at + 4 + len > end) return null;
    if (t === type) return { at, len };
    at += 4 + ((len + 3) & ~3);
  }
  return null;
}

function localUfrag(data: Buffer): string | null {
  const a = findAttribute(data, ATTR_USERNAME);
  if (!a) return null;
  const name = data.toString('utf8', a.at + 4, a.at + 4 + a.len);
  const colon = name.indexOf(':');
  return colon > 0 ? name.slice(0, colon) : null;
}

function passwordFor(agent: IceAgent, ufrag: string): string {
  return (ufrag === agent.localUsername ? agent.localPassword : agent.userHistory?.[ufrag]) ?? agent.localPassword ?? '';
}

/** RFC 5389 §15.4: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, its length field covering that attribute. */
function integrityOk(data: Buffer, password: string): boolean {
  if (!password) return false;
  const a = findAttribute(data, ATTR_MESSAGE_INTEGRITY);
  if (!a || a.len !== 20) return false;
  const head = Buffer.from(data.subarray(0, a.at));
  head.writeUInt16BE(a.at - 20 + 24, 2);
  return timingSafeEqual(createHmac('sha1', password).update(head).digest(), data.subarray(a.at + 4, a.at + 24));
}

function shuffledPorts([min, max]: [number, number]): number[] {
  const ports = Array.from({ length: max - min + 1 }, (_, i) => min + i);
  for (let i = ports.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ports[i], ports[j]] = [ports[j]!, ports[i]!];
  }
  return ports;
}
