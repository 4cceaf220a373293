// One UDP port for all viewers of a shard. werift gives every peer its own ICE sockets, which rules out
// sending one packet to many viewers with one sendmmsg (that needs one socket). Here werift's ICE agent
// still exists per viewer, but its UDP transport is a thin view on the shard's shared socket: packets are
// routed to a viewer by remote address, a new address is learnt from a STUN request's USERNAME (our local
// ufrag), and STUN responses go back to the transport that sent the request (by transaction id). DTLS
// then flows as usual; a viewer's SRTCP goes to its PeerSession's ViewerRtcp once SRTP keys exist
// (MuxTransport.rtcp), not through werift. Operators get one port per shard to open or map (NAT,
// containers) instead of one per viewer.
// ICE-lite (webrtc.ice_lite; auto: unless drake gathers from ice_servers): werift's agent runs in its
// lite mode (no checks, no consent timers) and the mux answers the viewer's Binding requests itself;
// werift sees only the nominations it must act on. The viewer's checks are then drake's only sign of
// life for it (see LiteViewer).
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { UdpTransport } from 'werift';
import { Logger } from '../../shared/log.ts';
import { BatchReceiver, ipv4Number, ipv4Text, setReceiving } from '../../shared/srtp/index.ts';
import { looksLikeRtcp } from './rtcpReader.ts';
import {
  ATTR_ICE_CONTROLLED,
  ATTR_USE_CANDIDATE,
  BINDING_REQUEST,
  bindingError,
  bindingSuccess,
  CLASS_MASK,
  hasAttribute,
  integrityOk,
  isStun,
  localUfrag,
} from './stun.ts';

const log = new Logger('UdpMux');

/** Transactions remembered for routing responses; older ones are forgotten first (werift gives up after ~8 s). */
const MAX_PENDING = 8192;

type Address = [string, number];
/** Natively read datagrams (BatchReceiver): slot size (a WebRTC datagram stays under the path MTU; longer ones are cut and dropped) and batch. */
const RECV_SLOT = 8192;
const RECV_BATCH = 32;
/** Paced reads with the native reader: batches read after a flush at most (the rest waits for the next one). */
const PACED_DRAIN_BATCHES = 4;
/**
 * The part of werift's ICE Connection the mux reads: its current local ufrag and password (both change on
 * ICE restart) and the passwords of earlier ufrags, which werift still answers with.
 */
type IceAgent = { readonly localUsername: string; readonly localPassword?: string; readonly userHistory?: Record<string, string> };
/** What a lite viewer's werift Connection (lite mode) adds: its selected pair, dropped to follow a new nomination. */
type LiteAgent = IceAgent & {
  readonly nominated?: { readonly remoteCandidate: { readonly host: string; readonly port: number } };
  resetNominatedPair(): void;
};

/**
 * One ICE-lite viewer as the mux sees it. A lite agent sends no checks of its own (RFC 8445 §2.5), so
 * consent freshness (RFC 7675) rests on the viewer's: it must keep sending them, and lastCheckAt says
 * when an authenticated one last came (the session's start until the first).
 */
export class LiteViewer {
  lastCheckAt = Date.now();
  /** Binding requests answered by the mux. */
  checks = 0;
  readonly agent: LiteAgent;

  constructor(agent: LiteAgent) {
    this.agent = agent;
  }
}

/** What werift's StunProtocol uses of a UdpTransport. */
export class MuxTransport {
  readonly type = 'udp';
  readonly socketType = 'udp4';
  closed = false;
  /** The ICE agent this transport belongs to, set by UdpMux.claim once gathering is done. */
  owner: IceAgent | null = null;
  /**
   * The viewer's SRTCP, taken before werift sees it (set by its PeerSession once SRTP keys exist); `at`: when
   * it reached the port (ms since the epoch: the kernel's stamp where the port is read natively).
   */
  rtcp: ((data: Buffer, at: number) => void) | null = null;
  /** Set when the agent is ICE-lite: the mux answers its checks. Shared by the agent's transports. */
  lite: LiteViewer | null = null;
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
/** libuv reads at most this many datagrams per readiness of a UDP socket in one loop iteration. */
const LIBUV_READ_BATCH = 32;
/**
 * Paced reads: after this long without a live flush (the media stalled, or frames come further apart) the port
 * is read as datagrams come until the next flush; checked on a fixed interval of this length, so a stall is
 * noticed within two of it.
 */
const PACED_IDLE_MS = 100;
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
  /** Read callbacks: a recvmmsg batch each (reader 'recvmmsg'), or a 'message' per datagram ('dgram'). */
  reads: number;
  /** Datagrams from an address no viewer owns that were not a STUN request with a known ufrag. */
  dropped: number;
  /** Datagrams the kernel dropped because the port's receive buffer was full (native reader only; 0 otherwise). */
  kernelDropped: number;
  /** Binding requests of ICE-lite viewers answered by the mux (success and 487 responses). */
  stunAnswered: number;
  /** STUN requests werift sent from this port (full ICE: checks and consent; ICE-lite: none). */
  stunRequestsSent: number;
}

export class UdpMux {
  readonly socket: Socket;
  /** The socket read with recvmmsg (null: node's 'message' per datagram). */
  #reader: BatchReceiver | null = null;
  /** A batch of the reader is being handled (its slots are in use). */
  #inBatch = false;
  readonly address: string;
  readonly counters: MuxCounters = { received: 0, reads: 0, dropped: 0, kernelDropped: 0, stunAnswered: 0, stunRequestsSent: 0 };
  closed = false;
  #port = 0;
  readonly #transports = new Set<MuxTransport>();
  /** By remote address: IPv4 as a number × 65536 + port. */
  readonly #byRemote = new Map<number, MuxTransport>();
  readonly #pending = new Map<string, MuxTransport>();
  /** Reads paced by the media (see `paced`). */
  #paced = false;
  #receiving = true;
  /** Datagrams read since reading last (re)started: a full libuv batch means more may wait. */
  #readInWindow = 0;
  /** Paced: notices a stall of the flushes (see PACED_IDLE_MS). */
  #idleCheck: NodeJS.Timeout | null = null;
  #idleMs = PACED_IDLE_MS;
  /** Paced, but no flush came for idleMs: reading as datagrams come until the next readWindow(). */
  #idle = false;
  /** When readWindow() last ran (performance.now()). */
  #windowAt = 0;
  readonly #checkIdle = (): void => {
    if (!this.#paced || this.#idle || this.closed || performance.now() - this.#windowAt < this.#idleMs) return;
    this.#idle = true;
    this.#setReceiving(true);
  };
  readonly #endWindow = (): void => {
    if (!this.#paced || this.#idle || this.closed) return;
    if (this.#readInWindow >= LIBUV_READ_BATCH) {
      this.#readInWindow = 0;
      setImmediate(this.#endWindow);
      return;
    }
    this.#setReceiving(false);
  };

  private constructor(socket: Socket, address: string) {
    this.socket = socket;
    this.address = address;
  }

  /**
   * Paced reads: while live flushes come, the port is read only right after each (readWindow) instead of
   * whenever a datagram arrives. The viewers' RTCP and consent checks then wait in the socket buffer (≤ one
   * flush interval) and are handled while the thread is awake and warm, instead of each waking it. When no
   * flush came for `idleMs` (the media stalled), the port is read as datagrams come until the next flush.
   * For viewers that are all connected: ICE and DTLS of a joining one want the port read at once. Turned
   * off, the port is read as datagrams come again.
   *
   * The stall check is a plain interval, never re-armed per flush: re-arming a timer at every flush (refresh)
   * still wakes the thread at each of its old deadlines, ≈ 50 times a second at 20 ms.
   */
  setPaced(on: boolean, idleMs = PACED_IDLE_MS): void {
    if (on === this.#paced || this.closed) return;
    this.#paced = on;
    this.#idle = false;
    if (on) {
      this.#idleMs = idleMs;
      this.#windowAt = performance.now();
      this.#idleCheck = setInterval(this.#checkIdle, idleMs);
      this.#idleCheck.unref();
      this.#setReceiving(false);
    } else {
      this.#stopIdleCheck();
      this.#setReceiving(true);
    }
  }

  #stopIdleCheck(): void {
    this.#idle = false;
    if (this.#idleCheck) clearInterval(this.#idleCheck);
    this.#idleCheck = null;
  }

  /** Paced, but the flushes stalled: the port is read as datagrams come until the next readWindow(). */
  get pacedIdle(): boolean {
    return this.#idle;
  }

  get paced(): boolean {
    return this.#paced;
  }

  /**
   * Paced: reads what waits now, then stops again: at once with the native reader (recvmmsg without polling),
   * else by letting node's dgram read in the loop's next poll.
   */
  readWindow(): void {
    if (!this.#paced || this.closed) return;
    this.#windowAt = performance.now();
    if (this.#idle) {
      this.#idle = false;
      this.#setReceiving(false);
    }
    const r = this.#reader;
    if (r) {
      // Not from inside a batch: drain() reuses the slots that batch is still reading.
      if (this.#inBatch) return;
      for (let b = 0; b < PACED_DRAIN_BATCHES && !this.closed; b++) {
        const n = r.drain();
        if (n > 0) this.#receiveBatch(n);
        if (n < r.max) break;
      }
      return;
    }
    if (this.#receiving) return;
    this.#setReceiving(true);
    setImmediate(this.#endWindow);
  }

  #setReceiving(on: boolean): void {
    if (this.#receiving === on) return;
    if (this.#reader) this.#reader.setReceiving(on);
    else if (!setReceiving(this.socket, on)) {
      // This Node's dgram handle cannot pause: read as datagrams come.
      this.#paced = false;
      this.#stopIdleCheck();
      return;
    }
    this.#receiving = on;
    this.#readInWindow = 0;
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
      mux.#reader = BatchReceiver.open(socket, RECV_SLOT, RECV_BATCH, (count) => mux.#receiveBatch(count), true);
      if (!mux.#reader) socket.on('message', (data, rinfo) => mux.#receiveMessage(data, rinfo));
      socket.on('error', (err) => log.warn(`shared port ${mux.#port}: ${err.message}`));
      muxes.set(mux.#port, mux);
      return mux;
    }
    throw new Error(`no free UDP port for the shared viewer socket${range ? ` in ${range[0]}-${range[1]}` : ''}: ${String(lastError)}`);
  }

  get port(): number {
    return this.#port;
  }

  /** How the port is read: recvmmsg batches through the addon, or node's dgram, one 'message' per datagram. */
  get reader(): 'recvmmsg' | 'dgram' {
    return this.#reader ? 'recvmmsg' : 'dgram';
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

  /**
   * Gives the transports werift created for `connection` their owner: from now on its ufrag routes to
   * them. `lite`: the connection is a werift agent in ICE-lite mode whose checks the mux answers; the
   * returned LiteViewer tells when the viewer last sent one.
   */
  claim(connection: IceAgent, lite = false): LiteViewer | null {
    const viewer = lite ? new LiteViewer(connection as LiteAgent) : null;
    const protocols = (connection as unknown as { protocols: Array<{ transport?: unknown }> }).protocols;
    for (const p of protocols) {
      if (!(p.transport instanceof MuxTransport) || !this.#transports.has(p.transport)) continue;
      p.transport.owner = connection;
      p.transport.lite = viewer;
    }
    return viewer;
  }

  /** Routes the SRTCP that reaches `connection`'s transports to `handler` instead of werift (null: back to werift). */
  takeRtcp(connection: IceAgent, handler: ((data: Buffer, at: number) => void) | null): void {
    for (const t of this.#transports) if (t.owner === connection) t.rtcp = handler;
  }

  sendFrom(t: MuxTransport, data: Buffer, addr: Address): void {
    if (isStun(data)) {
      const cls = data.readUInt16BE(0) & CLASS_MASK;
      // A request of ours: its response must reach this transport even from an address not yet routed.
      if (cls === 0) {
        this.counters.stunRequestsSent++;
        if (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
        this.#pending.set(data.toString('latin1', 8, 20), t);
      } else if (t.lite && cls !== 0x0010) {
        return; // werift's answer to a nomination the mux forwarded: the mux has answered it already
      }
    }
    this.socket.send(data, addr[1], addr[0]);
  }

  forget(t: MuxTransport): void {
    this.#transports.delete(t);
    for (const [k, v] of this.#byRemote) if (v === t) this.#byRemote.delete(k);
    for (const [k, v] of this.#pending) if (v === t) this.#pending.delete(k);
  }

  #receiveMessage(data: Buffer, rinfo: RemoteInfo): void {
    this.counters.reads++;
    this.#receive(data, ipv4Number(rinfo.address), rinfo.port, rinfo.address, false, Date.now());
  }

  #receiveBatch(count: number): void {
    const r = this.#reader!;
    this.counters.reads++;
    this.#inBatch = true;
    try {
      for (let i = 0; i < count && !this.closed; i++) {
        if (r.truncated(i) || r.ip(i) === 0) {
          this.counters.received++;
          this.counters.dropped++;
          continue;
        }
        this.#receive(r.view(i), r.ip(i), r.port(i), null, true, r.arrivedAt(i));
      }
    } finally {
      this.#inBatch = false;
    }
    this.counters.kernelDropped = r.kernelDropped;
  }

  /**
   * One datagram from ip:port (`address`: its text when known). `inPlace`: `data` is a reader slot that the next
   * batch overwrites, so what werift keeps gets a copy. `at`: when it reached the port (ms since the epoch).
   */
  #receive(data: Buffer, ip: number, port: number, address: string | null, inPlace: boolean, at: number): void {
    this.counters.received++;
    this.#readInWindow++;
    const key = ip * 65536 + port;
    let t: MuxTransport | undefined;
    if (isStun(data)) {
      const cls = data.readUInt16BE(0) & CLASS_MASK;
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
        if (t.lite && !this.#answer(t.lite, ufrag, data, (address ??= ipv4Text(ip)), port)) return;
      }
    }
    t ??= this.#byRemote.get(key);
    if (!t || t.closed) {
      this.counters.dropped++;
      return;
    }
    try {
      if (t.rtcp !== null && looksLikeRtcp(data)) t.rtcp(data, at);
      else t.onData(inPlace ? Buffer.from(data) : data, [address ?? ipv4Text(ip), port]);
    } catch (err) {
      log.debug(`viewer transport threw: ${String(err)}`);
    }
  }

  /**
   * ICE-lite: answers an authenticated request of `viewer` (RFC 8445 §7.3) and says whether werift must
   * see it too. werift takes part only in nomination: a USE-CANDIDATE for the current ufrag while it has
   * no selected pair (new session, ICE restart), or from an address other than the selected one (the
   * controlling viewer moved its selection: RFC 8445 leaves that to it, and an authenticated request
   * cannot come from anyone else). Everything else, consent checks above all, ends here.
   */
  #answer(viewer: LiteViewer, ufrag: string, data: Buffer, address: string, port: number): boolean {
    if (data.readUInt16BE(0) !== BINDING_REQUEST) {
      this.counters.dropped++;
      return false;
    }
    const agent = viewer.agent;
    const password = passwordFor(agent, ufrag);
    // Consent is given under the current credentials: a viewer that restarted ICE and went on with the
    // old ones only (an abandoned restart) is as good as gone.
    if (ufrag === agent.localUsername) viewer.lastCheckAt = Date.now();
    viewer.checks++;
    this.counters.stunAnswered++;
    // A lite agent is always controlled (RFC 8445 §6.1.1): a peer that thinks so too must switch (§7.3.1.1).
    if (hasAttribute(data, ATTR_ICE_CONTROLLED)) {
      this.socket.send(bindingError(data, 487, 'Role Conflict', password), port, address);
      return false;
    }
    const response = bindingSuccess(data, address, port, password);
    if (response) this.socket.send(response, port, address);
    if (ufrag !== agent.localUsername || !hasAttribute(data, ATTR_USE_CANDIDATE)) return false;
    const selected = agent.nominated?.remoteCandidate;
    if (!selected) return true;
    if (selected.host === address && selected.port === port) return false;
    agent.resetNominatedPair();
    return true;
  }

  #ownerOf(ufrag: string): MuxTransport | undefined {
    // First transport in creation order: a peer gathering on several addresses answers on its first.
    for (const t of this.#transports) if (t.owner?.localUsername === ufrag) return t;
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.#stopIdleCheck();
    if (muxes.get(this.#port) === this) muxes.delete(this.#port);
    for (const t of this.#transports) t.closed = true;
    this.#transports.clear();
    this.#byRemote.clear();
    this.#pending.clear();
    this.#reader?.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

function passwordFor(agent: IceAgent, ufrag: string): string {
  return (ufrag === agent.localUsername ? agent.localPassword : agent.userHistory?.[ufrag]) ?? agent.localPassword ?? '';
}

function shuffledPorts([min, max]: [number, number]): number[] {
  const ports = Array.from({ length: max - min + 1 }, (_, i) => min + i);
  for (let i = ports.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ports[i], ports[j]] = [ports[j]!, ports[i]!];
  }
  return ports;
}
