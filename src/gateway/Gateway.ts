// The HTTP front door (uWebSockets.js, main thread). It holds no stream state: routes ask the
// supervisor and answer. Listening and closing live here; the routes live in ./routes.
import uWS from 'uWebSockets.js';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ClusterNode } from '../actors/cluster/ClusterNode.ts';
import type { SkillsCache } from '../actors/supervisor/skills.ts';
import type { Supervisor } from '../actors/supervisor/Supervisor.ts';
import type { RtmpServer } from '../ingest/rtmp/RtmpServer.ts';
import type { SrtServer } from '../ingest/srt/SrtServer.ts';
import type { SessionSource } from '../shared/ingestSessions.ts';
import type { WhipIngest } from '../ingest/whip/WhipIngest.ts';
import { WHIP_CORS, whipRoutes } from './routes/whipRoutes.ts';
import { CORE_API_MAJOR, CORE_API_VERSION, type BuildInfo } from '../shared/buildInfo.ts';
import { DrakeError, UnauthorizedError } from '../shared/errors.ts';
import { json, mount, text, type Request, type Route } from './http.ts';
import type { ApiAuth } from './auth/ApiAuth.ts';
import { needsApiToken } from './auth/guarded.ts';
import type { DiskFs } from './fs/DiskFs.ts';
import type { MemFs } from './fs/MemFs.ts';
import { diskAtRoot, fsRoutes, type FsRoutesOptions } from './routes/fsRoutes.ts';
import { authRoutes } from './routes/authRoutes.ts';
import { HttpSessions } from './HttpSessions.ts';
import { HttpStats } from './metrics.ts';
import { CoreMonitor } from './coreMetrics.ts';
import { clusterRoutes } from './routes/clusterRoutes.ts';
import { configRoutes, type ConfigHolder } from './routes/configRoutes.ts';
import { observeRoutes } from './routes/observeRoutes.ts';
import { pageRoutes } from './routes/pageRoutes.ts';
import { buildOpenApi } from './openapi.ts';
import { processRoutes } from './routes/processRoutes.ts';
import { skillsRoutes } from './routes/skillsRoutes.ts';
import { ingestRoutes } from './routes/ingestRoutes.ts';
import { swaggerRoutes } from './routes/swaggerRoutes.ts';
import { WHEP_CORS, whepRoutes } from './routes/whepRoutes.ts';
import { widgetRoutes } from './routes/widgetRoutes.ts';
import { graphRoutes } from './routes/graphRoutes.ts';
import { playoutRoutes } from './routes/playoutRoutes.ts';
import type { About } from './graph/schema.ts';
import { GRANT_PARAM, grantValid } from '../actors/cluster/whepGrant.ts';
import { WhepEvents } from './whepEvents.ts';

/** uWS's listen(host, port, options, cb): its typings only declare the options form without a host. */
interface ExclusiveListen {
  listen(host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void): void;
}
const LISTEN_EXCLUSIVE_PORT = 1;

export interface GatewayOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  name: string;
  /** drake's own version (package.json). */
  version: string;
  /** The checkout drake runs from (empty fields when unknown). */
  build?: BuildInfo;
  instanceId: string;
  startedAt: Date;
  iceServers: Array<{ urls: string; username?: string; credential?: string }>;
  /** API auth; null when off. */
  auth: ApiAuth | null;
  config: ConfigHolder;
  skills: SkillsCache;
  fs: { mem: MemFs; disk: DiskFs; routes: FsRoutesOptions };
  /** false while the store loads and actors start: the API then answers 503 and /ping does not say pong. */
  ready: () => boolean;
  /** This node's cluster membership (null: cluster off, or not started yet). */
  cluster?: () => ClusterNode | null;
  /** The built-in RTMP server (null: rtmp.enable is off). */
  rtmp?: () => RtmpServer | null;
  /** The built-in SRT server (null: srt.enable is off). */
  srt?: () => SrtServer | null;
  /** WHIP ingest (null: whip.enable is off). */
  whip?: () => WhipIngest | null;
  /** Core's metric history (POST /api/v3/metrics); defaults 300 s / 2 s. */
  metrics?: { range_sec: number; interval_sec: number };
}

const CORS_API = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, PUT, POST, DELETE, PATCH, OPTIONS',
  'access-control-allow-headers': 'Origin, Content-Length, Content-Type, Authorization',
  'access-control-expose-headers': 'Content-Length',
  'access-control-max-age': '86400',
};

export class Gateway {
  /** WHEP server-sent event streams (the draft's SSE extension). */
  readonly events: WhepEvents;
  readonly #app: TemplatedApp;
  readonly #opts: GatewayOptions;
  readonly routes: Route[];
  readonly http = new HttpStats();
  readonly sessions = new HttpSessions();
  /** Core's metrics (cpu_*, mem_*, filesystem_*, session_*, ffmpeg_process) with their history. */
  readonly monitor: CoreMonitor;
  #listen: us_listen_socket | null = null;
  #closed = false;
  #port = 0;

  constructor(sup: Supervisor, opts: GatewayOptions) {
    // The npm build falls back to a slow pure-JS server when no native binary fits this Node:
    // refuse that instead of running with different behaviour.
    if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== 'function') {
      throw new Error('uWebSockets.js has no native binary for this Node version (drake needs Node 20)');
    }
    this.#opts = opts;
    this.#app = uWS.App();
    this.events = new WhepEvents(sup);
    this.monitor = new CoreMonitor(
      {
        startedAt: opts.startedAt,
        mem: () => {
          const u = opts.fs.mem.usage;
          return { bytes: u.bytes, files: u.files, limit: u.limit };
        },
        diskFiles: () => opts.fs.disk.list(),
        hls: () => {
          const h = this.sessions.summary();
          return { active: h.active, total: h.total, txBytes: h.traffic_tx_mb * 1e6 };
        },
        // The supervisor is not there while drake starts: no WHEP or process numbers then.
        whep: () => (opts.ready() ? { active: sup.counts().viewers, limit: sup.maxViewersTotal } : null),
        stateChanges: () => (opts.ready() ? sup.stateChanges() : null),
      },
      opts.metrics ? { rangeSec: opts.metrics.range_sec, intervalSec: opts.metrics.interval_sec } : {},
    );
    this.monitor.start();
    const whip = opts.whip ?? (() => null);
    const whep = { iceServers: opts.iceServers, events: this.events, cluster: opts.cluster ?? (() => null), whip };
    this.routes = [
      ...systemRoutes(opts),
      ...(opts.auth ? authRoutes(opts.auth) : []),
      ...processRoutes(sup, opts.cluster ?? (() => null), opts.fs.mem),
      ...observeRoutes(sup, this.http, this.sessions, opts.startedAt, this.monitor, opts.cluster ?? (() => null), () => ingestSources(opts), async () => (await opts.whip?.()?.viewerSessions()) ?? []),
      ...configRoutes(opts.config),
      ...clusterRoutes(opts.cluster ?? (() => null), sup),
      ...widgetRoutes(sup, this.sessions, opts.cluster ?? (() => null)),
      ...graphRoutes(sup, () => about(opts), opts.cluster ?? (() => null)),
      ...playoutRoutes(sup, opts.cluster ?? (() => null)),
      ...skillsRoutes(opts.skills),
      ...ingestRoutes(opts.rtmp ?? (() => null), opts.srt ?? (() => null)),
      ...whipRoutes({ whip, auth: opts.auth, iceServers: opts.iceServers }),
      ...fsRoutes(opts.fs.mem, opts.fs.disk, opts.fs.routes),
      ...whepRoutes(sup, whep, '/whep'),
      ...whepRoutes(sup, whep, '/api/v3/whep'),
      ...pageRoutes(sup, opts.version, opts.cluster ?? (() => null), whip),
      ...swaggerRoutes(() => buildOpenApi(this.routes, { title: `drake API (${opts.name})`, version: opts.version })),
    ];
    const common = (req: Request) =>
      req.url.startsWith('/whep/') || req.url.startsWith('/api/v3/whep/') ? WHEP_CORS : req.url.startsWith('/whip/') ? WHIP_CORS : req.url.startsWith('/api') ? CORS_API : {};
    const auth = opts.auth;
    for (const route of this.routes) {
      // The admin API (/api/v3, /api/graph): a valid access token when auth is on.
      const guarded = auth !== null && needsApiToken(route.pattern);
      mount(this.#app, route, {
        // A route may take more than the API default (memfs uploads); every other route's own limit is smaller.
        maxBodyBytes: Math.max(opts.maxBodyBytes, route.maxBodyBytes ?? 0),
        commonHeaders: common,
        onReply: (r, status, seconds, req, bytes) => {
          this.http.record(r.method, r.pattern, status, seconds);
          if ((status === 200 || status === 206) && r.method === 'get' && (r.pattern.startsWith('/memfs/') || r.pattern.startsWith('/data/'))) {
            this.sessions.record(req.remoteAddress, req.url, bytes);
          }
        },
        isClosed: () => this.#closed,
        // A request another cluster node forwarded carries the cluster's signature instead of a token
        // (the client's token is only valid on the node it logged in to); its body is checked again
        // by the process routes once it has arrived.
        // A WHEP POST redirected by another node carries its grant instead (the redirect dropped the
        // Authorization header the other node checked).
        ...(guarded ? { authorize: (req: Request) => this.#forwardedOk(req) || this.#whepGrantOk(req) || auth.check(req) } : {}),
      });
    }
    const fromDisk = diskAtRoot(opts.fs.disk, opts.fs.routes);
    mount(this.#app, { method: 'options', pattern: '/*', summary: 'CORS preflight', handler: () => ({ status: 204 }) }, {
      maxBodyBytes: 0,
      commonHeaders: () => CORS_API,
    });
    mount(
      this.#app,
      {
        method: 'any',
        pattern: '/*',
        summary: 'Not found (GET/HEAD: a file of the disk filesystem at this path, as Core serves it at /)',
        handler: async (req) => (await fromDisk(req)) ?? json(404, { code: 404, message: `no route for ${req.method.toUpperCase()} ${req.url}`, details: [] }),
      },
      { maxBodyBytes: 0, commonHeaders: common },
    );
  }

  #forwardedOk(req: Request): boolean {
    const node = this.#opts.cluster?.();
    if (!node) return false;
    const q = req.query.toString();
    const check = node.checkForward(req.method, q ? `${req.url}?${q}` : req.url, req.headers);
    if (check && !check.ok) throw new UnauthorizedError(`forwarded request refused: ${check.reason}`);
    return check !== null;
  }

  #whepGrantOk(req: Request): boolean {
    const m = /^\/api\/v3\/whep\/([^/]+)$/.exec(req.url);
    if (!m || req.method !== 'post') return false;
    let id: string;
    try {
      id = decodeURIComponent(m[1]!);
    } catch {
      return false;
    }
    return grantValid(this.#opts.cluster?.()?.secret ?? null, id, req.query.get(GRANT_PARAM));
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    const host = this.#opts.host.includes(':') ? `[${this.#opts.host}]` : this.#opts.host;
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${this.#port}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      // Exclusive: uWS sets SO_REUSEPORT by default, and a second drake on the same port would then
      // take half of the connections instead of failing.
      (this.#app as unknown as ExclusiveListen).listen(this.#opts.host, this.#opts.port, LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) {
          reject(
            new DrakeError(
              `cannot listen on ${this.#opts.host}:${this.#opts.port} (in use, e.g. by another drake, or not an address of this machine): ` +
                'stop the other server or choose another api.port (DRAKE_API_PORT)',
            ),
          );
          return;
        }
        this.#listen = socket;
        this.#port = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
        this.#opts.config.listenPort = this.#port;
        resolve();
      });
    });
  }

  close(): void {
    this.#closed = true;
    this.events.close();
    this.monitor.close();
    if (this.#listen) uWS.us_listen_socket_close(this.#listen);
    this.#listen = null;
  }
}

function systemRoutes(opts: GatewayOptions): Route[] {
  return [
    {
      method: 'get',
      pattern: '/ping',
      summary: 'Readiness: "pong" once the API takes work; 503 + Retry-After while drake starts',
      handler: () => (opts.ready() ? text(200, 'pong') : { status: 503, headers: { 'retry-after': '1', 'content-type': 'text/plain' }, body: 'starting' }),
    },
    {
      method: 'get',
      pattern: '/api',
      summary: 'About this drake: name, id, uptime; version.number is the datarhei Core API level it implements, version.drake its own',
      handler: (req) => {
        const auths = opts.auth ? ['localjwt'] : [];
        // `app` is Core's: Restreamer UI refuses any other (src/utils/restreamer.js About()); `variant` says what it really is.
        // Core answers 200 with a minimal body when the token is missing: clients use it to find out about auth.
        if (opts.auth && !opts.auth.allows(req)) return json(200, { app: 'datarhei-core', variant: 'drake', auths, version: { number: CORE_API_MAJOR } });
        const { app, ...rest } = about(opts);
        return json(200, { app, variant: 'drake', auths, ...rest });
      },
    },
  ];
}

/** What GET /api (with a token) and GraphQL's `about` say of this drake, in Core's fields. */
function about(opts: GatewayOptions): About {
  const build = opts.build ?? { repository_commit: '', repository_branch: '', build_date: '' };
  return {
    app: 'datarhei-core',
    name: opts.name,
    id: opts.instanceId,
    created_at: opts.startedAt,
    uptime_seconds: Math.floor((Date.now() - opts.startedAt.getTime()) / 1000),
    version: {
      number: CORE_API_VERSION,
      repository_commit: build.repository_commit,
      repository_branch: build.repository_branch,
      build_date: build.build_date,
      arch: `${process.platform}/${process.arch}`,
      compiler: `node ${process.version}`,
      drake: opts.version,
    },
  };
}

/** The ingest servers that run, as session collectors (Core lists their publishers and players). */
function ingestSources(opts: GatewayOptions): SessionSource[] {
  return [opts.rtmp?.() ?? null, opts.srt?.() ?? null, opts.whip?.() ?? null].filter((s): s is RtmpServer | SrtServer | WhipIngest => s !== null);
}
