// This node's membership in a drake cluster whose shared state is one Redis.
//
// Built so far: the node registry. Every second the node renews its lease `<p>:alive:<id>` (value: a
// random incarnation token, PX node_timeout) and writes its record (address, version, load) into the
// hash `<p>:nodes`, both in one Lua script. A node is `online` while its lease lives and `lost` once it
// lapsed; the record stays, so a lost node is listed with its last load (24 h, or until it returns).
// The incarnation makes the lease a fence: a second drake with the same node id (or a restarted node
// whose previous run's lease has not lapsed yet) is refused until that lease is gone.
// Redis unreachable, at start or later: one clear log line, the node keeps serving its own processes
// (the supervisor does not depend on this actor), ioredis reconnects with back-off, and the first
// heartbeat after that re-creates the lease and the record ("rejoined"), also after a Redis that
// restarted empty.
//
// The rest of issue 13 as built on this registry (table.ts, reconcile.ts, gateway/processRouter.ts;
// viewers on any node: whepGrant.ts for the 307, EdgeRelays.ts for the edge relay); not built: pub/sub
// notices (the 1 s loops stand in for them):
// * Process table: `<p>:proc` (hash id → {config, metadata, order, created_at, updated_at}, the source
//   of truth; each node's db.json stays its local cache) and `<p>:place` (hash id → {node, epoch}).
//   `<p>:epoch` is an INCR counter: every (re)placement gets a new, larger epoch.
// * Placement: one Lua script reads the node records and leases, takes the process's explicit `node`
//   when that node is online (else refuses), otherwise the online node with the most `room` (ties: the
//   fewest processes, counting placements made since its last heartbeat), INCRs the epoch and writes
//   the placement — all inside Redis, so two nodes placing at once cannot both read stale load.
// * Owners reconcile: each node, every second and on a `placed` event, compares `<p>:place` entries
//   naming it with its supervisor: it adds/updates what it owns (remembering the epoch) and stops and
//   removes locally what it no longer owns (a different node or a larger epoch). Fencing: a node runs
//   FFmpeg only while its own lease is younger than node_timeout minus a margin; when it cannot renew
//   for that long it stops its processes itself, before anyone may take them over (the lease expires
//   later than the self-fence fires). A returning node sees the larger epoch and does not start a twin.
// * Failover: every node runs, each second, a Lua script that re-places each process whose owner's
//   lease is gone (order start: onto the online node with most room, epoch+1; order stop: left
//   unplaced until started). Atomic, so concurrent runs on several nodes place each process once.
//   Lease 4 s + 1 s check + FFmpeg start ≈ 6 s < the 10 s goal.
// * API on any node: the gateway looks the process up in `<p>:place`; local → the supervisor, as
//   today; remote → the same request forwarded over HTTP to the owner's advertise_url (one hop,
//   marked so it is never forwarded again, authenticated with a token derived from a cluster secret).
//   HTTP rather than pub/sub request/reply: the owner answers with its own routes, status codes and
//   error bodies, so "any node answers the same" holds by construction, and there is no second
//   correlation/timeout layer to build. Pub/sub (`<p>:events`, msgpackr frames) carries only
//   fire-and-forget notices (placed, deleted, relay wanted) that wake reconcile loops early; the 1 s
//   loops make a lost notice harmless.
// * Redis restarted empty (no AOF): on "rejoined" each node writes back the processes it owns from
//   its db.json (HSETNX, keeping their epochs), so the table comes back. Production: AOF on.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { DrakeConfig } from '../../shared/config.ts';
import { nodeRecordSchema, type ClusterDto, type ClusterNodeDto, type NodeLoad, type NodeRecord } from '../../shared/cluster.ts';
import { errorText, UnavailableError } from '../../shared/errors.ts';
import { Logger } from '../../shared/log.ts';
import { redact } from '../../shared/redact.ts';
import { LoadSampler, type LocalCounts } from './load.ts';
import { definePlacement, place, type Placement, type PlacementKeys } from './placement.ts';
import { checkForward, signForward, type ForwardCheck } from './forwardAuth.ts';
import { resolveNodeId } from './nodeId.ts';
import type { ProcessRecord } from '../supervisor/Supervisor.ts';
import { defineTable, ProcessTable, tableKeys } from './table.ts';
import { Reconciler } from './reconcile.ts';
import { EdgeRelays } from './EdgeRelays.ts';
import type { StreamSettings } from '../../shared/protocol.ts';

const log = new Logger('cluster');

const HEARTBEAT_MS = 1000;
const FORWARD_TIMEOUT_MS = 30_000;
/** A lost node's record is dropped after this long. */
const FORGET_LOST_MS = 24 * 3600 * 1000;

/**
 * KEYS[1] the lease, KEYS[2] the records hash, KEYS[3] the cluster secret; ARGV: incarnation, lease ms,
 * node id, record JSON, a secret to set when there is none. Returns {result, secret}: 'taken': a lease
 * of another incarnation lives; 'joined': there was no lease (first beat, lapsed, or Redis lost it);
 * 'renewed'.
 */
const HEARTBEAT_LUA = `
redis.call('SET', KEYS[3], ARGV[5], 'NX')
local secret = redis.call('GET', KEYS[3])
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return { 'taken', secret } end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
if cur then return { 'renewed', secret } end
return { 'joined', secret }
`;

/** KEYS[1] the lease, KEYS[2] the records hash; ARGV: incarnation, node id. Leaves only our own lease. */
const LEAVE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

interface ClusterRedis extends Redis {
  drakeHeartbeat(lease: string, nodes: string, secret: string, incarnation: string, leaseMs: number, id: string, record: string, newSecret: string): Promise<[string, string]>;
  drakeLeave(lease: string, nodes: string, incarnation: string, id: string): Promise<number>;
}

export interface ClusterNodeOptions {
  cluster: DrakeConfig['cluster'];
  dbDir: string;
  name: string;
  version: string;
  /** The gateway's own URL: the advertise_url when none is configured. */
  apiUrl: string;
  apiHost: string;
  counts: () => LocalCounts;
  limits: { maxProcesses: number; maxViewers: number };
  /** This node's processes; the cluster decides which of them may run. */
  supervisor: OwnedProcesses;
  /** What an edge stream actor gets (the supervisor's stream settings); without it this node serves no edge streams. */
  streamSettings?: () => StreamSettings;
}

/** What the cluster needs of the supervisor. */
export interface OwnedProcesses {
  ids(): string[];
  has(id: string): boolean;
  record(id: string): ProcessRecord;
  adopt(rec: ProcessRecord): Promise<'added' | 'updated' | 'same'>;
  remove(id: string, opts?: { purge?: boolean }): Promise<void>;
  applyGate(id: string): Promise<void>;
  applyGateAll(): Promise<void>;
  killChildrenNow(): void;
}

export class ClusterNode {
  readonly id: string;
  readonly advertiseUrl: string;
  readonly advertiseHost: string;
  readonly #opts: ClusterNodeOptions;
  readonly #redis: ClusterRedis;
  readonly #keys: { nodes: string; secret: string; lease: (id: string) => string; placement: PlacementKeys };
  readonly #incarnation = randomBytes(12).toString('hex');
  readonly #startedAt = Date.now();
  readonly #load: LoadSampler;
  readonly #redisUrl: string;
  #timer: NodeJS.Timeout | null = null;
  #beating = false;
  /** The lease is ours and was renewed by the last heartbeat. */
  #joined = false;
  #everJoined = false;
  /** null: no answer yet; false: the last attempt failed (logged once per outage). */
  #reachable: boolean | null = null;
  #taken = false;
  #closed = false;
  /** The cluster secret that signs forwarded requests (from Redis, with every heartbeat). */
  #secret: string | null = null;
  /** When the heartbeat that last renewed the lease was sent: the lease lives at least until then + lease ms. */
  #renewSentAt = 0;
  /** Bumped whenever the lease is (re)gained: a reconcile pass that began under an older one is void. */
  joinSeq = 0;
  /** Processes this node owns, with the epoch of their placement. */
  readonly owned = new Map<string, number>();
  /** Processes changed here while Redis was unreachable: written into the table when it is back. */
  readonly dirty = new Set<string>();
  readonly table: ProcessTable;
  /** Edge mode: streams of other nodes served here from a relay, and the relays this node sends. */
  readonly edges: EdgeRelays;
  readonly #reconciler: Reconciler;
  #fenceTimer: NodeJS.Timeout | null = null;
  #fenced = false;
  #killed = false;
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(opts: ClusterNodeOptions, id: string) {
    this.#opts = opts;
    this.id = id;
    const c = opts.cluster;
    this.advertiseUrl = (c.advertise_url || opts.apiUrl).replace(/\/+$/, '');
    this.advertiseHost = c.advertise_host || new URL(this.advertiseUrl).hostname;
    this.#redisUrl = redact(c.redis_url);
    const p = c.key_prefix;
    this.#keys = {
      nodes: `${p}:nodes`,
      secret: `${p}:secret`,
      lease: (nid) => `${p}:alive:${nid}`,
      placement: { nodes: `${p}:nodes`, place: `${p}:place`, epoch: `${p}:epoch`, leasePrefix: `${p}:alive:` },
    };
    this.#load = new LoadSampler(opts.limits);
    this.#redis = new Redis(c.redis_url, {
      ...(c.redis_password ? { password: c.redis_password } : {}),
      connectionName: `drake:${id}`,
      // Without Redis the node still serves its own processes: calls fail at once instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      connectTimeout: 3000,
      retryStrategy: (times) => Math.min(250 * times, 2000),
    }) as ClusterRedis;
    this.#redis.defineCommand('drakeHeartbeat', { numberOfKeys: 3, lua: HEARTBEAT_LUA });
    this.#redis.defineCommand('drakeLeave', { numberOfKeys: 2, lua: LEAVE_LUA });
    definePlacement(this.#redis);
    defineTable(this.#redis);
    this.table = new ProcessTable(this.#redis, tableKeys(p));
    this.#reconciler = new Reconciler(this, opts.supervisor);
    this.edges = new EdgeRelays(this, {
      mode: c.whep_mode,
      lingerMs: c.edge_linger_seconds * 1000,
      leaseMs: c.relay_lease_seconds * 1000,
      settings: opts.streamSettings ?? null,
      maxViewersTotal: opts.limits.maxViewers,
      localViewers: () => opts.counts().viewers,
    });
    this.#redis.on('error', (err: Error) => this.#unreachable(err));
    this.#redis.on('ready', () => void this.#beat());
  }

  /** Starts membership without waiting for Redis: the node serves its own processes either way. */
  static start(opts: ClusterNodeOptions): ClusterNode {
    const { id, source } = resolveNodeId(opts.dbDir, opts.cluster.node_id);
    const node = new ClusterNode(opts, id);
    log.info(`cluster: node ${id}${source === 'generated' ? ' (new id, kept in db.dir)' : ''}, advertised at ${node.advertiseUrl}, Redis ${node.#redisUrl}`);
    if (!opts.cluster.advertise_url && (opts.apiHost === '0.0.0.0' || opts.apiHost === '::')) {
      log.warn(`cluster: api.host ${opts.apiHost} and no cluster.advertise_url: other nodes are told ${node.advertiseUrl}, which only works on this machine; set cluster.advertise_url`);
    }
    node.#timer = setInterval(() => {
      void node.#beat();
      void node.#reconciler.tick();
    }, HEARTBEAT_MS);
    node.#timer.unref();
    node.#fenceTimer = setInterval(() => node.#fence(), 100);
    node.#fenceTimer.unref();
    return node;
  }

  get leaseMs(): number {
    return this.#opts.cluster.node_timeout_seconds * 1000;
  }

  /**
   * Whether this node may run FFmpeg: its lease was renewed recently enough that it still lives with a
   * margin. The lease was set no earlier than the heartbeat was sent, so it lives at least until
   * renewSentAt + lease ms; a node stops its FFmpeg well before that (self-fencing), and the others
   * take its processes only after it.
   */
  get leaseFresh(): boolean {
    return this.#joined && Date.now() - this.#renewSentAt < this.leaseMs - Math.max(1500, this.leaseMs / 4);
  }

  /** The supervisor's gate: a process runs here only while this node owns it and holds a fresh lease. */
  mayRun(id: string): boolean {
    return this.leaseFresh && this.owned.has(id);
  }

  get secret(): string | null {
    return this.#secret;
  }

  /** Runs fn alone among local table changes and reconcile passes (a pass must not undo a change half made). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  #fence(): void {
    if (this.#closed) return;
    const sup = this.#opts.supervisor;
    if (this.leaseFresh) {
      if (this.#fenced) {
        this.#fenced = false;
        this.#killed = false;
        log.info('cluster: lease renewed: this node runs its processes again');
        void sup.applyGateAll();
      }
      return;
    }
    if (!this.#everJoined) return;
    if (!this.#fenced) {
      this.#fenced = true;
      log.warn(`cluster: lease not renewed for ${Date.now() - this.#renewSentAt} ms: stopping this node's FFmpeg processes before the lease can lapse (another node may take them over)`);
      void sup.applyGateAll();
    }
    // Whatever did not stop gracefully by now is killed: the lease may lapse soon after.
    if (!this.#killed && Date.now() - this.#renewSentAt > this.leaseMs - 700) {
      this.#killed = true;
      sup.killChildrenNow();
    }
  }

  get connected(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Whether this node holds its lease (joined and renewed by the last heartbeat). */
  get joined(): boolean {
    return this.#joined;
  }

  #unreachable(err: Error): void {
    if (this.#closed) return;
    this.#joined = false;
    if (this.#reachable === false) return;
    const was = this.#reachable;
    this.#reachable = false;
    const why = (err as NodeJS.ErrnoException).code ?? errorText(err);
    log.error(
      was === null
        ? `cluster: cannot reach Redis at ${this.#redisUrl} (${why}): this node keeps serving its own processes and joins the cluster when Redis answers`
        : `cluster: lost Redis at ${this.#redisUrl} (${why}): this node keeps serving its own processes and rejoins when Redis answers`,
    );
  }

  #record(): NodeRecord {
    return {
      id: this.id,
      name: this.#opts.name,
      version: this.#opts.version,
      advertise_url: this.advertiseUrl,
      advertise_host: this.advertiseHost,
      started_at: this.#startedAt,
      heartbeat_at: Date.now(),
      load: this.#load.sample(this.#counts()),
    };
  }

  /** The supervisor's counts plus what the edge side serves (its viewers count on this node). */
  #counts(): LocalCounts {
    const c = this.#opts.counts();
    const edgeViewers = this.edges.viewers;
    return { ...c, viewers: c.viewers + edgeViewers, relaysOut: this.edges.relaysOut, relaysIn: this.edges.streams, edgeViewers };
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#closed || this.#redis.status !== 'ready') return;
    this.#beating = true;
    try {
      const leaseMs = this.leaseMs;
      const sentAt = Date.now();
      const [result, secret] = await this.#redis.drakeHeartbeat(
        this.#keys.lease(this.id),
        this.#keys.nodes,
        this.#keys.secret,
        this.#incarnation,
        leaseMs,
        this.id,
        JSON.stringify(this.#record()),
        randomBytes(32).toString('base64url'),
      );
      if (this.#closed) return;
      this.#secret = secret;
      if (this.#reachable === false) log.info(`cluster: Redis at ${this.#redisUrl} answers again`);
      this.#reachable = true;
      if (result === 'taken') {
        this.#joined = false;
        if (!this.#taken) {
          log.error(
            `cluster: node id ${this.id} is held by another live node (or this node's previous run, until its lease lapses in ≤ ${this.#opts.cluster.node_timeout_seconds} s); ` +
              'not joining while it lasts: give each node its own cluster.node_id',
          );
        }
        this.#taken = true;
        return;
      }
      this.#taken = false;
      if (result === 'joined') {
        log.info(this.#everJoined ? `cluster: rejoined as node ${this.id} (the lease had lapsed or Redis lost it)` : `cluster: joined as node ${this.id}`);
        this.#everJoined = true;
        // The lease was gone: others may have taken processes meanwhile. Nothing is owned until a
        // reconcile pass under this lease has read the placements again.
        this.joinSeq++;
        this.owned.clear();
      }
      this.#joined = true;
      this.#renewSentAt = sentAt;
      if (result === 'joined') void this.#reconciler.tick();
    } catch (err) {
      this.#joined = false;
      if (!this.#closed && this.#redis.status === 'ready') log.warn(`cluster: heartbeat failed: ${errorText(err)}`);
    } finally {
      this.#beating = false;
    }
  }

  /** GET /api/v3/cluster: every node known to Redis with its state and last load, and totals of the online ones. */
  async view(): Promise<ClusterDto> {
    if (this.#redis.status !== 'ready') {
      throw new UnavailableError(`the cluster's Redis (${this.#redisUrl}) is unreachable: this node serves its own processes meanwhile`);
    }
    let raw: Record<string, string>;
    let leases: Array<[Error | null, unknown]>;
    try {
      raw = await this.#redis.hgetall(this.#keys.nodes);
      const ids = Object.keys(raw);
      const pipe = this.#redis.pipeline();
      for (const id of ids) pipe.exists(this.#keys.lease(id));
      leases = ids.length ? ((await pipe.exec()) ?? []) : [];
    } catch (err) {
      throw new UnavailableError(`the cluster's Redis (${this.#redisUrl}) is unreachable: this node serves its own processes meanwhile`, [errorText(err)]);
    }
    const now = Date.now();
    const nodes: ClusterNodeDto[] = [];
    const forget: string[] = [];
    Object.entries(raw).forEach(([id, json], i) => {
      let rec: NodeRecord;
      try {
        rec = nodeRecordSchema.parse(JSON.parse(json));
      } catch {
        log.warn(`cluster: the record of node ${id} in Redis is not valid; skipping it`);
        return;
      }
      const [err, exists] = leases[i] ?? [null, 0];
      const online = !err && exists === 1;
      if (!online && now - rec.heartbeat_at > FORGET_LOST_MS) {
        forget.push(id);
        return;
      }
      nodes.push({
        id,
        name: rec.name,
        state: online ? 'online' : 'lost',
        self: id === this.id,
        version: rec.version,
        advertise_url: rec.advertise_url,
        advertise_host: rec.advertise_host,
        started_at: new Date(rec.started_at).toISOString(),
        last_seen: new Date(rec.heartbeat_at).toISOString(),
        load: rec.load,
      });
    });
    if (forget.length) await this.#redis.hdel(this.#keys.nodes, ...forget).catch(() => 0);
    nodes.sort((a, b) => a.id.localeCompare(b.id));
    const on = nodes.filter((n) => n.state === 'online');
    const sum = (f: (n: ClusterNodeDto) => number) => on.reduce((s, n) => s + f(n), 0);
    return {
      node_id: this.id,
      redis: { url: this.#redisUrl, connected: true },
      nodes,
      totals: {
        nodes: nodes.length,
        online: on.length,
        lost: nodes.length - on.length,
        cpu_cores: sum((n) => n.load.cpu_cores),
        memory_total_bytes: sum((n) => n.load.memory_total_bytes),
        memory_available_bytes: sum((n) => n.load.memory_available_bytes),
        processes: sum((n) => n.load.processes),
        running: sum((n) => n.load.running),
        viewers: sum((n) => n.load.viewers),
        processes_left: on.some((n) => n.load.processes_left === null) ? null : sum((n) => n.load.processes_left ?? 0),
        viewers_left: sum((n) => n.load.viewers_left),
        relays_out: sum((n) => n.load.relays_out),
        relays_in: sum((n) => n.load.relays_in),
        edge_viewers: sum((n) => n.load.edge_viewers),
      },
    };
  }

  /**
   * Places a process (atomically in Redis, see placement.ts): on `wanted` when given and online, else on
   * the node with most room; an existing placement on an online node stands unless mode is 'move'.
   */
  async place(processId: string, wanted = '', mode: 'keep' | 'move' = 'keep'): Promise<Placement> {
    if (this.#redis.status !== 'ready') throw new UnavailableError(`the cluster's Redis (${this.#redisUrl}) is unreachable: cannot place ${processId}`);
    return place(this.#redis, this.#keys.placement, processId, wanted, mode);
  }

  #ready(what: string): void {
    if (this.#redis.status !== 'ready') throw new UnavailableError(`the cluster's Redis (${this.#redisUrl}) is unreachable: cannot ${what}`);
  }

  /** Where a process is placed, and whether that node is online and at which URL. */
  async owner(processId: string): Promise<{ placement: Placement | null; url: string | null; online: boolean; load: NodeLoad | null }> {
    this.#ready(`find the node of process ${processId}`);
    const placement = await this.table.placement(processId);
    if (!placement) return { placement, url: null, online: false, load: null };
    if (placement.node === this.id) return { placement, url: this.advertiseUrl, online: this.#joined, load: null };
    const [[, raw], [, alive]] = ((await this.#redis.pipeline().hget(this.#keys.nodes, placement.node).exists(this.#keys.lease(placement.node)).exec()) ?? []) as Array<[Error | null, unknown]>;
    let rec: NodeRecord | null = null;
    try {
      rec = nodeRecordSchema.parse(JSON.parse(String(raw)));
    } catch {
      rec = null;
    }
    return { placement, url: rec?.advertise_url ?? null, online: alive === 1 && rec !== null, load: rec?.load ?? null };
  }

  /**
   * Sends a request on to another node (one hop: the receiver never forwards it again), signed with the
   * cluster secret. Answers what the other node answered; 503 when it does not answer.
   */
  async forward(node: string, url: string, method: string, pathAndQuery: string, body: Buffer, contentType?: string): Promise<{ status: number; contentType: string | null; body: Buffer }> {
    const secret = this.#secret;
    if (!secret) throw new UnavailableError('this node has not reached the cluster yet (no cluster secret): retry in a moment');
    const headers: Record<string, string> = signForward(secret, method, pathAndQuery, this.id, body);
    if (body.length) headers['content-type'] = contentType ?? 'application/json';
    let res: Response;
    try {
      res = await fetch(`${url}${pathAndQuery}`, {
        method: method.toUpperCase(),
        headers,
        ...(body.length && method.toLowerCase() !== 'get' ? { body } : {}),
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
    } catch (err) {
      throw new UnavailableError(`node ${node} (${url}), which runs this process, does not answer: retry in a moment (a lost node's processes move within a few seconds)`, [errorText(err)]);
    }
    return { status: res.status, contentType: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
  }

  /** Checks the marks of a forwarded request (see forwardAuth.ts). */
  checkForward(method: string, pathAndQuery: string, headers: Record<string, string>, body?: Buffer): ForwardCheck {
    return checkForward(this.#secret, method, pathAndQuery, headers, body);
  }

  /** Leaves the cluster (lease and record gone: not listed as lost) and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Stop this node's FFmpeg before the lease goes: the others take these processes over at once.
    this.owned.clear();
    await this.edges.close().catch(() => undefined);
    await this.exclusive(() => this.#opts.supervisor.applyGateAll()).catch(() => undefined);
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#fenceTimer) clearInterval(this.#fenceTimer);
    if (this.#redis.status === 'ready') {
      await this.#redis.drakeLeave(this.#keys.lease(this.id), this.#keys.nodes, this.#incarnation, this.id).catch((err: unknown) => {
        log.warn(`cluster: could not leave cleanly (${errorText(err)}); the others will see this node lost`);
      });
      await Promise.race([this.#redis.quit().catch(() => 'closed'), new Promise((r) => setTimeout(r, 1000))]);
    }
    this.#redis.disconnect();
  }
}
