// Edge mode: this node serves WHEP viewers of a stream another node (the owner) runs. The first viewer
// opens an edge stream actor here (a stream worker with no FFmpeg: its packet ring, GOP cache, shards
// and send path are the owner's, fed by a relay) and asks the owner, over the signed node-to-node HTTP
// (POST /api/v3/cluster/relay/:id), to send the stream's RTP once to this node's relay port on
// cluster.advertise_host. The ask is a lease: it is renewed every third of relay_lease_seconds, and
// the owner stops sending when it lapses (a dead edge gets nothing for long). The renewal also looks
// the owner up again, so after a failover the edge re-attaches to the new owner within one renewal
// (its viewers stay; the new run's first keyframe replaces the cached GOP). The edge closes the relay
// (DELETE, then ends the worker) edge_linger_seconds after its last viewer left.
//
// The owner's side lives here too (OwnerRelays): which edges hold a relay of which stream, for the
// node's load (relays_out) and /metrics; the packets themselves go from the stream worker (RelayOut).
import type { NodeLoad } from '../../shared/cluster.ts';
import { CapacityError, errorText, NotFoundError, NotReadyError, UnavailableError } from '../../shared/errors.ts';
import { Logger } from '../../shared/log.ts';
import type { ProcessConfig } from '../../shared/processConfig.ts';
import type { StreamSettings, WhepCreatedDto, WhepPatchedDto, WhepSessionDto, WhepStatsDto } from '../../shared/protocol.ts';
import { StreamHandle } from '../supervisor/StreamHandle.ts';
import type { ClusterNode } from './ClusterNode.ts';

const log = new Logger('edge');

/** How long a first viewer waits for the relay's first media (the owner primes the GOP cache at once). */
const FIRST_MEDIA_MS = 6000;

export type WhepMode = 'auto' | 'redirect' | 'edge';

export interface EdgeOptions {
  mode: WhepMode;
  lingerMs: number;
  leaseMs: number;
  settings: (() => StreamSettings) | null;
  /** webrtc.max_viewers_total, and the viewers of this node's own processes. */
  maxViewersTotal: number;
  localViewers: () => number;
}

interface Edge {
  id: string;
  config: ProcessConfig;
  handle: StreamHandle;
  ready: Promise<void>;
  port: number;
  token: string;
  owner: { node: string; epoch: number; url: string } | null;
  viewers: number;
  pending: number;
  idleSince: number;
  holding: boolean;
  lastHoldError: string | null;
  closed: boolean;
}

/** Whether the owner's last heartbeat says it has no viewer slots left. */
export function ownerFull(load: NodeLoad | null): boolean {
  return load !== null && load.max_viewers > 0 && load.viewers_left <= 0;
}

export class EdgeRelays {
  readonly #node: ClusterNode;
  readonly #opts: EdgeOptions;
  readonly #edges = new Map<string, Edge>();
  readonly #timer: NodeJS.Timeout;
  /** Owner side: `${processId}\n${edgeNode}` → lease end (ms). */
  readonly #out = new Map<string, number>();
  #closed = false;

  constructor(node: ClusterNode, opts: EdgeOptions) {
    this.#node = node;
    this.#opts = opts;
    this.#timer = setInterval(() => this.#tick(), Math.max(300, Math.floor(opts.leaseMs / 3)));
    this.#timer.unref();
  }

  get mode(): WhepMode {
    return this.#opts.mode;
  }

  /** Serve a viewer of a stream another node runs here (edge), or redirect? */
  serveHere(id: string, ownerLoad: NodeLoad | null): boolean {
    if (!this.#opts.settings || this.#opts.mode === 'redirect') return false;
    if (this.#opts.mode === 'edge') return true;
    return this.#edges.has(id) || ownerFull(ownerLoad);
  }

  has(id: string): boolean {
    return this.#edges.has(id);
  }

  /** The stream's WHEP token ('' = none), from the cluster's copy of its config. */
  token(id: string): string {
    return this.#edges.get(id)?.config.webrtc.token ?? '';
  }

  get viewers(): number {
    let n = 0;
    for (const e of this.#edges.values()) n += e.viewers + e.pending;
    return n;
  }

  get streams(): number {
    return this.#edges.size;
  }

  /** WHEP POST served here from a relay (the token was checked by the caller). */
  async whepCreate(id: string, config: ProcessConfig, offer: string): Promise<WhepCreatedDto> {
    if (this.#closed) throw new UnavailableError('drake is shutting down');
    if (!config.webrtc.enabled) throw new NotFoundError(`WebRTC is not enabled for process ${id}`);
    const max = this.#opts.maxViewersTotal;
    if (this.#opts.localViewers() + this.viewers >= max) throw new CapacityError(`drake has reached its total viewer limit (${max})`);
    const e = this.#ensure(id, config);
    e.pending++;
    try {
      await e.ready;
      const until = Date.now() + FIRST_MEDIA_MS;
      for (;;) {
        try {
          return await e.handle.whepCreate(offer);
        } catch (err) {
          // The relay's first packets are on their way: a first viewer waits for them (bounded).
          if (!(err instanceof NotReadyError) || Date.now() > until || e.closed) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      e.pending--;
      if (e.viewers + e.pending === 0) e.idleSince = Date.now();
    }
  }

  whepPatch(id: string, sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    const e = this.#edges.get(id);
    if (!e) throw new NotFoundError(`unknown WHEP session ${sessionId}`);
    return e.handle.whepPatch(sessionId, frag, ifMatch);
  }

  async whepDelete(id: string, sessionId: string): Promise<boolean> {
    const e = this.#edges.get(id);
    return e ? e.handle.whepDelete(sessionId).catch(() => false) : false;
  }

  async whepSessionIds(id: string): Promise<Set<string>> {
    const e = this.#edges.get(id);
    if (!e) return new Set();
    return new Set((await e.handle.whepSessions().catch(() => [])).map((s) => s.id));
  }

  /** Each edge stream with its stats and sessions (for /metrics and the session lists). */
  async snapshot(): Promise<Array<{ id: string; owner: string | null; whep: WhepStatsDto | null; sessions: WhepSessionDto[] }>> {
    return Promise.all(
      [...this.#edges.values()].map(async (e) => {
        const [whep, sessions] = await Promise.all([e.handle.whepStats().catch(() => null), e.handle.whepSessions().catch(() => [])]);
        return { id: e.id, owner: e.owner?.node ?? null, whep, sessions };
      }),
    );
  }

  #ensure(id: string, config: ProcessConfig): Edge {
    const have = this.#edges.get(id);
    if (have) return have;
    const handle = new StreamHandle(id);
    const e: Edge = { id, config, handle, ready: Promise.resolve(), port: 0, token: '', owner: null, viewers: 0, pending: 0, idleSince: Date.now(), holding: false, lastHoldError: null, closed: false };
    this.#edges.set(id, e);
    handle.on('event', (ev) => {
      if (ev.event !== 'stream.viewers') return;
      e.viewers = ev.viewers;
      if (ev.viewers + e.pending === 0) e.idleSince = Date.now();
    });
    handle.on('died', (reason, expected) => {
      if (!expected) log.warn(`edge ${id}: its stream worker died (${reason}); viewers re-join and get a new relay`);
      void this.#close(e, 'worker gone');
    });
    e.ready = (async () => {
      if (!this.#opts.settings) throw new UnavailableError('this node serves no edge streams');
      await handle.init({ processId: id, config, order: 'stop', settings: this.#opts.settings(), edge: true });
      const { port, token } = await handle.edgeOpen(this.#node.advertiseHost);
      e.port = port;
      e.token = token;
      await this.#hold(e);
      log.info(`edge ${id}: relay from node ${e.owner?.node} to ${this.#node.advertiseHost}:${port}`);
    })();
    e.ready.catch((err: unknown) => {
      log.warn(`edge ${id}: no relay (${errorText(err)})`);
      void this.#close(e, 'no relay');
    });
    return e;
  }

  /** Asks the stream's owner (looked up again each time) for the relay, or renews it. */
  async #hold(e: Edge): Promise<void> {
    const node = this.#node;
    const o = await node.owner(e.id);
    if (!o.placement) throw new NotFoundError(`unknown stream ${e.id}`);
    if (o.placement.node === node.id) throw new NotFoundError(`stream ${e.id} runs on this node now`);
    if (!o.online || !o.url) throw new UnavailableError(`the node that runs stream ${e.id} is lost; the stream moves to another node within seconds`);
    const body = Buffer.from(JSON.stringify({ node: node.id, host: node.advertiseHost, port: e.port, token: e.token, lease_ms: this.#opts.leaseMs }));
    const res = await node.forward(o.placement.node, o.url, 'post', `/api/v3/cluster/relay/${encodeURIComponent(e.id)}`, body, 'application/json');
    if (res.status !== 200) {
      const why = `node ${o.placement.node} refused the relay of ${e.id} (${res.status}: ${res.body.toString('utf8').slice(0, 200)})`;
      throw res.status === 404 ? new NotFoundError(why) : new UnavailableError(why);
    }
    const legs = JSON.parse(res.body.toString('utf8')) as { video: boolean; audio: boolean };
    const prev = e.owner;
    const moved = prev !== null && (prev.node !== o.placement.node || prev.epoch !== o.placement.epoch);
    if (moved) {
      log.info(`edge ${e.id}: the stream moved from node ${prev.node} to ${o.placement.node}: relaying from there`);
      // The old owner stops sending once its lease lapses (or at once, when it still answers).
      const old = prev;
      void node.forward(old.node, old.url, 'delete', `/api/v3/cluster/relay/${encodeURIComponent(e.id)}/${encodeURIComponent(node.id)}`, Buffer.alloc(0)).catch(() => undefined);
    }
    e.owner = { node: o.placement.node, epoch: o.placement.epoch, url: o.url };
    await e.handle.edgeSource({ video: legs.video === true, audio: legs.audio === true }, moved);
    // The stream's token may have changed: new viewers here are checked against the table's copy.
    const rec = await node.table.record(e.id).catch(() => null);
    if (rec) e.config = rec.config;
  }

  #tick(): void {
    const now = Date.now();
    for (const e of this.#edges.values()) {
      if (e.owner === null || e.holding || e.closed) continue;
      if (e.viewers + e.pending === 0 && now - e.idleSince >= this.#opts.lingerMs) {
        void this.#close(e, `no viewers for ${Math.round(this.#opts.lingerMs / 1000)} s`);
        continue;
      }
      e.holding = true;
      this.#hold(e)
        .then(() => {
          if (e.lastHoldError) log.info(`edge ${e.id}: relay from node ${e.owner?.node} again`);
          e.lastHoldError = null;
        })
        .catch((err: unknown) => {
          const text = errorText(err);
          if (err instanceof NotFoundError) {
            void this.#close(e, text);
            return;
          }
          if (e.lastHoldError !== text) log.warn(`edge ${e.id}: cannot renew the relay (${text}); retrying`);
          e.lastHoldError = text;
        })
        .finally(() => {
          e.holding = false;
        });
    }
    for (const [key, until] of this.#out) if (until < now) this.#out.delete(key);
  }

  async #close(e: Edge, reason: string): Promise<void> {
    if (e.closed) return;
    e.closed = true;
    if (this.#edges.get(e.id) === e) this.#edges.delete(e.id);
    log.info(`edge ${e.id}: relay closed (${reason})`);
    const o = e.owner;
    if (o) {
      // Best effort and bounded (an owner that does not answer stops on its own when the lease lapses).
      const told = this.#node
        .forward(o.node, o.url, 'delete', `/api/v3/cluster/relay/${encodeURIComponent(e.id)}/${encodeURIComponent(this.#node.id)}`, Buffer.alloc(0))
        .catch(() => undefined);
      await Promise.race([told, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    await e.handle.close().catch(() => undefined);
  }

  // ---- owner side -------------------------------------------------------------------------------

  /** An edge holds (or renewed) a relay of a stream of this node. */
  relayHeld(id: string, edge: string, leaseMs: number): void {
    this.#out.set(`${id}\n${edge}`, Date.now() + leaseMs);
  }

  relayDropped(id: string, edge: string): void {
    this.#out.delete(`${id}\n${edge}`);
  }

  get relaysOut(): number {
    const now = Date.now();
    let n = 0;
    for (const until of this.#out.values()) if (until >= now) n++;
    return n;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.all([...this.#edges.values()].map((e) => this.#close(e, 'drake is shutting down')));
  }
}
