// drake's configuration: one zod schema with defaults, read from an optional JSON file and
// overridden by DRAKE_* environment variables (DRAKE_ + the key path in upper case, e.g. DRAKE_API_PORT).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ValidationError } from './errors.ts';

const port = z.number().int().min(0).max(65535);
/** A cluster node's id: it appears in Redis keys and URLs. */
export const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** A WHIP stream name: what goes into /whip/<name>, /whep/whip:<name> and {whip,name=<name>}. */
export const WHIP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.~-]{0,63}$/;
export const WHIP_NAME_RULE = 'must be 1-64 characters of A-Z a-z 0-9 _ . ~ - and not start with . ~ or -';

export const configSchema = z.object({
  name: z.string().min(1).max(128).default('drake'),
  /** On a first start (no store yet) create and start the `demo` process: a test pattern with a tone, watchable over WHEP. */
  demo: z.boolean().default(true),
  api: z
    .object({
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(8080),
      max_body_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
      /** An admin API without credentials must not listen on a public interface unless this says so. */
      allow_public_without_auth: z.boolean().default(false),
      auth: z
        .object({
          enable: z.boolean().default(false),
          username: z.string().max(256).default('admin'),
          /** Empty with auth on: drake generates one on the first start, stores it in <db.dir>/auth.json and prints it once. */
          password: z.string().max(1024).default(''),
          jwt: z.object({ secret: z.string().max(1024).default('') }).prefault({}),
          /** Requests from 127.0.0.1 / ::1 need no token. */
          disable_localhost: z.boolean().default(false),
          /** Delay of a failed login (slows down guessing), as Core does. */
          login_failure_delay_ms: z.number().int().min(0).max(60_000).default(2000),
        })
        .prefault({}),
    })
    .prefault({}),
  db: z.object({ dir: z.string().min(1).default('./config') }).prefault({}),
  storage: z
    .object({
      disk: z.object({ dir: z.string().min(1).default('./data') }).prefault({}),
      memory: z
        .object({
          /** 0: no limit. */
          max_size_mbytes: z.number().int().min(0).default(0),
          /** When full: delete the oldest files to make room (else a write that does not fit fails). */
          purge: z.boolean().default(false),
          max_upload_mbytes: z.number().int().min(1).max(1024).default(64),
          auth: z
            .object({
              enable: z.boolean().default(true),
              username: z.string().min(1).regex(/^[^:]*$/, 'must not contain ":"').default('admin'),
              /** Empty: a random password per start ({memfs} carries it to FFmpeg). */
              password: z.string().default(''),
            })
            .prefault({}),
        })
        .prefault({}),
      cors: z.object({ origin: z.string().default('*') }).prefault({}),
    })
    .prefault({}),
  ffmpeg: z
    .object({
      binary: z.string().default(''),
      max_processes: z.number().int().min(0).default(0),
      stop_timeout_seconds: z.number().min(0.1).max(600).default(5),
      log: z
        .object({
          max_lines: z.number().int().min(1).max(10_000).default(50),
          max_history: z.number().int().min(0).max(100).default(3),
        })
        .prefault({}),
    })
    .prefault({}),
  log: z.object({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') }).prefault({}),
  /** Core's metric history behind POST /api/v3/metrics: a sample every interval_sec, kept for range_sec. */
  metrics: z
    .object({
      range_sec: z.number().int().min(10).max(86_400).default(300),
      interval_sec: z.number().int().min(1).max(60).default(2),
    })
    .prefault({}),
  webrtc: z
    .object({
      max_viewers_per_stream: z.number().int().min(1).default(500),
      max_viewers_total: z.number().int().min(1).default(2000),
      /** Keep the packets since the last keyframe and start new viewers with them. */
      gop_cache: z.boolean().default(true),
      /** lean: drake's send state (own sequence numbers, fast-join burst, PLI answer, 1024-packet NACK history)
       *  with drake's own SRTP + send step (native addon, reused contexts) — about half werift's CPU per viewer.
       *  drake: the same send state on werift's sender.sendRtp.
       *  werift: werift's stock track/sender path, kept so benchmarks compare in one run. */
      send_path: z.enum(['drake', 'lean', 'werift']).default('lean'),
      /** lean only: all viewers of a stream's shard share one UDP port (taken from port_min..port_max when
       *  set): ICE is demultiplexed by STUN username and address, and each live packet leaves for all of
       *  them in one native SRTP batch and one sendmmsg. false: one ICE socket per viewer, one send each. */
      shared_port: z.boolean().default(true),
      /** shared_port only: drake is an ICE-lite agent there (RFC 8445 §2.5): the port answers the viewers'
       *  checks itself, drake sends no checks or consent requests, the answer says a=ice-lite. A lite agent
       *  has host candidates only (ice_servers are then just announced to viewers), so drake must be
       *  reachable at them: a public address, or NAT 1:1 with announce_ips. auto: lite unless ice_servers
       *  are configured (drake behind another NAT needs the server-reflexive or relayed candidates it
       *  gathers from them, and full ICE to open its NAT with its own checks). on / off: always / never. */
      ice_lite: z.enum(['auto', 'on', 'off']).default('auto'),
      /** ice_lite: a viewer whose ICE checks (consent freshness, RFC 7675: every ~5 s) stopped this long is
       *  closed. Full ICE: werift's own consent checks, 30 s. */
      consent_timeout_seconds: z.number().min(10).max(600).default(30),
      /** Viewers the stream's own thread serves; beyond that the stream starts peer shard workers (each with
       *  this many viewers, its own shared port) that read its packet ring. 0: one thread for all viewers. */
      viewers_per_shard: z.number().int().min(0).default(150),
      /** PATCH and DELETE must carry If-Match with the session's ETag (428 otherwise). */
      strict_if_match: z.boolean().default(false),
      ice_gathering_timeout_ms: z.number().int().min(100).max(60_000).default(5000),
      /** A viewer that sent RTCP and then nothing for this long is removed (consent freshness catches the rest). */
      viewer_timeout_seconds: z.number().min(1).max(600).default(10),
      /** UDP ports for viewers' ICE (both 0: any). */
      port_min: port.default(0),
      port_max: port.default(0),
      /** Public addresses written into host candidates instead of the local ones (NAT 1:1). */
      announce_ips: z.array(z.string().min(1)).default([]),
      /** Local addresses to gather on; empty: every interface plus 127.0.0.1. */
      bind_addresses: z.array(z.string().min(1)).default([]),
      /** STUN/TURN servers, given to viewers in Link headers and used for gathering. */
      ice_servers: z
        .array(z.object({ urls: z.string().regex(/^(stun|stuns|turn|turns):/, 'must be a stun: or turn: URL'), username: z.string().optional(), credential: z.string().optional() }))
        .default([]),
    })
    .prefault({}),
  /** Built-in RTMP server (Core's rtmp.*): encoders publish rtmp://<address><app>/<name>, processes read it via {rtmp,name=…}. */
  rtmp: z
    .object({
      enable: z.boolean().default(false),
      /** host:port, :port (every interface) or [v6]:port. */
      address: z
        .string()
        .regex(/^(\[[0-9A-Fa-f:.]+\]|[^:[\]]*):\d{1,5}$/, 'must be host:port, :port or [v6]:port')
        .default('127.0.0.1:1935'),
      /** Streams are published and played under this path. */
      app: z.string().regex(/^\/([A-Za-z0-9_.~-]+\/?)*$/, 'must start with / and hold path elements of A-Z a-z 0-9 _ . ~ -').default('/'),
      /** Required of every publisher and player when set: ?token=… on the URL (or as the last path element). */
      token: z.string().max(256).regex(/^[^\s/?#&]*$/, 'must not contain spaces, /, ?, # or &').default(''),
      /** RTMPS: a TLS listener in front of the same server (Core's rtmp.enable_tls); needs tls.cert_file and tls.key_file. */
      enable_tls: z.boolean().default(false),
      address_tls: z
        .string()
        .regex(/^(\[[0-9A-Fa-f:.]+\]|[^:[\]]*):\d{1,5}$/, 'must be host:port, :port or [v6]:port')
        .default('127.0.0.1:1936'),
    })
    .prefault({}),
  /** Certificate and key (PEM files) for drake's TLS listeners; today RTMPS (rtmp.enable_tls), as Core's tls.cert_file/key_file. */
  tls: z
    .object({
      cert_file: z.string().default(''),
      key_file: z.string().default(''),
    })
    .prefault({}),
  /** Built-in SRT server (Core's srt.*): publishers and players connect to one port and say what they want in the stream id. */
  srt: z
    .object({
      enable: z.boolean().default(false),
      /** host:port, :port (every interface) or [v6]:port (UDP). */
      address: z
        .string()
        .regex(/^(\[[0-9A-Fa-f:.]+\]|[^:[\]]*):\d{1,5}$/, 'must be host:port, :port or [v6]:port')
        .default('127.0.0.1:6000'),
      /** SRT encryption (AES) for every connection when set: libsrt wants 10 to 79 characters. */
      passphrase: z
        .string()
        .regex(/^$|^[A-Za-z0-9_.~!*@$;:=/-]{10,79}$/, 'must be empty or 10-79 characters of A-Z a-z 0-9 _ . ~ ! * @ $ ; : = / -')
        .default(''),
      /** Required of every publisher and player when set: `token:…` (or `token=…`) in the stream id. */
      token: z.string().max(256).regex(/^[A-Za-z0-9_.~-]*$/, 'must hold only A-Z a-z 0-9 _ . ~ - (it travels in the stream id and the URL unescaped)').default(''),
    })
    .prefault({}),
  /**
   * WHIP ingest: publishers (OBS 30+, browsers) POST an SDP offer to /whip/<name>; WHEP viewers watch
   * /whep/whip:<name>, processes read {whip,name=…}.
   */
  whip: z
    .object({
      enable: z.boolean().default(false),
      /** Bearer token every publisher needs (unless `tokens` has one for its name); "" = none. */
      token: z.string().max(256).regex(/^[^\s]*$/, 'must not contain spaces').default(''),
      /** Per-name tokens: a name listed here needs exactly its own token (the global one does not open it). */
      tokens: z.record(z.string().regex(WHIP_NAME, WHIP_NAME_RULE), z.string().min(1).max(256).regex(/^\S+$/, 'must not contain spaces')).default({}),
      /** A publisher that sent no RTP for this long is gone (its ICE/DTLS may still look alive). */
      media_timeout_seconds: z.number().int().min(1).max(300).default(10),
    })
    .prefault({}),
  cluster: z
    .object({
      /** Join the cluster whose shared state is the Redis at redis_url. */
      enable: z.boolean().default(false),
      redis_url: z
        .string()
        .default('redis://127.0.0.1:6379')
        .refine((u) => /^rediss?:\/\/[^/?#]+(\/\d{1,2})?\/?$/.test(u), 'must be redis://host:port[/db] or rediss://… (TLS)'),
      /** Redis AUTH password (kept out of redis_url so GET /api/v3/config can mask it). */
      redis_password: z.string().max(1024).default(''),
      /** Empty: generated on the first start with the cluster on and kept in <db.dir>/cluster.json. */
      node_id: z.union([z.literal(''), z.string().regex(NODE_ID, 'use 1–64 of A-Z a-z 0-9 _ . -')]).default(''),
      /** The API base URL other nodes (and redirected viewers) use to reach this node; empty: http://<api.host>:<api.port>. */
      advertise_url: z.union([z.literal(''), z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })]).default(''),
      /** Address other nodes send relayed media to; empty: the host of advertise_url. */
      advertise_host: z.string().max(253).default(''),
      /** Every key this cluster keeps in Redis starts with this (several clusters can share one Redis). */
      key_prefix: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'use 1–64 of A-Z a-z 0-9 _ . : -').default('drake'),
      /** A node whose heartbeat (one a second) stops is lost after this long. */
      node_timeout_seconds: z.number().int().min(2).max(60).default(4),
      /**
       * A WHEP POST for a stream another node runs: `redirect` answers 307 to that node; `edge` serves the
       * viewer here from a relay of the owner's RTP (one copy per packet per edge); `auto` relays when the
       * owner is full (no viewer slots left, or room under 0.1 by its last heartbeat), else redirects.
       */
      whep_mode: z.enum(['auto', 'redirect', 'edge']).default('auto'),
      /** An edge keeps a stream's relay this long after its last viewer left (a quick re-join needs no new relay). */
      edge_linger_seconds: z.number().min(0).max(3600).default(30),
      /** The owner stops relaying to an edge that has not renewed the relay for this long (the edge renews every third of it). */
      relay_lease_seconds: z.number().min(2).max(120).default(6),
    })
    .prefault({}),
}).superRefine((c, ctx) => {
  // Checked with the config (file, environment, PUT /api/v3/config), not only at the next start.
  if (c.rtmp.enable && c.rtmp.enable_tls && (!c.tls.cert_file || !c.tls.key_file)) {
    ctx.addIssue({ code: 'custom', path: ['rtmp', 'enable_tls'], message: 'needs tls.cert_file and tls.key_file (PEM certificate and private key)' });
  }
});

export type DrakeConfig = z.output<typeof configSchema>;
export type DrakeConfigInput = z.input<typeof configSchema>;

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** Leaf paths of the defaults: these are the keys an environment variable can override. */
function leaves(obj: Record<string, unknown>, prefix: string[] = []): Array<{ path: string[]; sample: unknown }> {
  const out: Array<{ path: string[]; sample: unknown }> = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...leaves(v as Record<string, unknown>, [...prefix, k]));
    else out.push({ path: [...prefix, k], sample: v });
  }
  return out;
}

export function envName(path: string[]): string {
  return `DRAKE_${path.join('_').toUpperCase()}`;
}

function coerce(raw: string, sample: unknown, name: string): Json {
  if (Array.isArray(sample)) {
    if (raw.trim().startsWith('[')) {
      try {
        return JSON.parse(raw) as Json;
      } catch {
        throw new ValidationError(`${name} must be a JSON array or a comma-separated list`);
      }
    }
    return raw.split(',').map((s) => s.trim()).filter(Boolean);
  }
  if (typeof sample === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new ValidationError(`${name} must be a number, got "${raw}"`);
    return n;
  }
  if (typeof sample === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ValidationError(`${name} must be true or false, got "${raw}"`);
  }
  return raw;
}

function setPath(target: Record<string, Json>, path: string[], value: Json): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, Json>;
  }
  cur[path[path.length - 1]!] = value;
}

export function formatZodIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

export interface LoadedConfig {
  config: DrakeConfig;
  file: string | null;
  /** Names of the DRAKE_* variables that were applied. */
  overrides: string[];
  /** The file's own JSON, before environment overrides ({} without a file). */
  raw: Record<string, unknown>;
}

/** Builds the config from an optional file and the environment; throws ValidationError with every problem. */
export function loadConfig(opts: { file?: string | null; env?: NodeJS.ProcessEnv; overrides?: DrakeConfigInput } = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  // Without an explicit file, the one PUT /api/v3/config writes is used when it exists.
  const saved = defaultConfigFile(env);
  const file = opts.file ?? env.DRAKE_CONFIG ?? (existsSync(saved) ? saved : null);
  let base: Record<string, Json> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(resolve(file), 'utf8');
    } catch (err) {
      throw new ValidationError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      base = JSON.parse(text) as Record<string, Json>;
    } catch (err) {
      throw new ValidationError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (base === null || typeof base !== 'object' || Array.isArray(base)) throw new ValidationError(`config file ${file} must hold a JSON object`);
  }
  const raw = structuredClone(base) as Record<string, unknown>;
  const applied: string[] = [];
  for (const { path, sample } of leaves(configSchema.parse({}) as unknown as Record<string, unknown>)) {
    const name = envName(path);
    const raw = env[name];
    if (raw === undefined) continue;
    setPath(base, path, coerce(raw, sample, name));
    applied.push(name);
  }
  const merged = opts.overrides ? deepMerge(base, opts.overrides as Record<string, Json>) : base;
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new ValidationError('invalid configuration', formatZodIssues(parsed.error));
  return { config: parsed.data, file, overrides: applied, raw };
}

function deepMerge(a: Record<string, Json>, b: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
    const cur = out[k];
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = deepMerge(cur && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Record<string, Json>) : {}, v as Record<string, Json>);
    } else if (v !== undefined) {
      out[k] = v;
    }
  }
  return out;
}

/** Where PUT /api/v3/config saves when drake was started without a config file. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(join(env.DRAKE_DB_DIR ?? './config', 'drake.json'));
}

/** Paths of secrets: masked in GET /api/v3/config, kept when a PUT sends the mask back. */
export const SECRET_PATHS: string[][] = [
  ['api', 'auth', 'password'],
  ['api', 'auth', 'jwt', 'secret'],
  ['storage', 'memory', 'auth', 'password'],
  ['cluster', 'redis_password'],
  ['rtmp', 'token'],
  ['srt', 'passphrase'],
  ['srt', 'token'],
  ['whip', 'token'],
];
export const SECRET_MASK = '********';
/** Maps whose every value is a secret (masked and kept the same way). */
export const SECRET_MAPS: string[][] = [['whip', 'tokens']];

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
