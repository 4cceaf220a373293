// The owner's side of edge relays: every RTP packet of the stream goes once to each edge that asked for
// it (UDP, one frame per packet, see shared/relayFrame.ts), whatever number of viewers that edge serves.
// An edge holds its relay by asking again (a lease): one whose lease lapsed (a dead or partitioned edge)
// gets nothing more. Cost here: one copy and one send per packet per edge, never per viewer.
import { createSocket, type Socket } from 'node:dgram';
import { RELAY_HEADER, writeRelayHeader } from '../../shared/relayFrame.ts';
import type { RelayOutDto } from '../../shared/protocol.ts';

export interface RelayTarget {
  /** The edge's node id (one relay per edge and stream). */
  node: string;
  host: string;
  port: number;
  /** 16 hex digits: the edge's token for this relay. */
  token: string;
  leaseMs: number;
}

interface Live {
  target: RelayTarget;
  token: Buffer;
  expiresAt: number;
  since: number;
  packets: number;
  bytes: number;
  errors: number;
}

const SWEEP_MS = 500;

export class RelayOut {
  readonly #targets = new Map<string, Live>();
  #socket: Socket | null = null;
  #sweeper: NodeJS.Timeout | null = null;

  get size(): number {
    return this.#targets.size;
  }

  /**
   * Starts a relay or renews its lease (same edge: the new address and token replace the old). A new
   * relay first gets `prime` (the GOP cache: the edge's first viewer need not wait for a keyframe).
   */
  hold(target: RelayTarget, prime: () => readonly Buffer[]): void {
    const now = Date.now();
    const cur = this.#targets.get(target.node);
    if (cur && cur.target.host === target.host && cur.target.port === target.port && cur.target.token === target.token) {
      cur.expiresAt = now + target.leaseMs;
      return;
    }
    this.#targets.set(target.node, { target, token: Buffer.from(target.token, 'hex'), expiresAt: now + target.leaseMs, since: now, packets: 0, bytes: 0, errors: 0 });
    if (!this.#socket) {
      const s = createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 });
      s.on('error', () => undefined);
      this.#socket = s;
    }
    if (!this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
      this.#sweeper.unref();
    }
    const live = this.#targets.get(target.node)!;
    for (const pkt of prime()) this.#sendOne(live, 'video', pkt, performance.timeOrigin + performance.now());
  }

  drop(node: string): boolean {
    const had = this.#targets.delete(node);
    if (this.#targets.size === 0) this.#idle();
    return had;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [node, t] of this.#targets) if (t.expiresAt < now) this.#targets.delete(node);
    if (this.#targets.size === 0) this.#idle();
  }

  #idle(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    try {
      this.#socket?.close();
    } catch {
      // already closed
    }
    this.#socket = null;
  }

  /** One packet to every edge; arrivedAtWall: when it reached this node (Unix ms). */
  send(kind: 'video' | 'audio', pkt: Buffer, arrivedAtWall: number): void {
    const s = this.#socket;
    if (!s) return;
    for (const t of this.#targets.values()) this.#sendOne(t, kind, pkt, arrivedAtWall);
  }

  #sendOne(t: Live, kind: 'video' | 'audio', pkt: Buffer, stampMs: number): void {
    // A frame of its own per edge: the send is queued, so a shared buffer could be rewritten under it.
    const frame = Buffer.allocUnsafe(RELAY_HEADER + pkt.length);
    writeRelayHeader(frame, kind, stampMs, t.token);
    pkt.copy(frame, RELAY_HEADER);
    t.packets++;
    t.bytes += pkt.length;
    this.#socket!.send(frame, t.target.port, t.target.host, (err) => {
      if (err) t.errors++;
    });
  }

  stats(): RelayOutDto[] {
    const now = Date.now();
    return [...this.#targets.values()].map((t) => ({
      node: t.target.node,
      address: `${t.target.host}:${t.target.port}`,
      since: Math.floor(t.since / 1000),
      lease_left_ms: Math.max(0, t.expiresAt - now),
      packets: t.packets,
      bytes: t.bytes,
      errors: t.errors,
    }));
  }

  close(): void {
    this.#targets.clear();
    this.#idle();
  }
}
