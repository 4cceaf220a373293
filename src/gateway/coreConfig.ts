// drake's config seen through datarhei Core's config.json v3 layout (GET/PUT /api/v3/config), for
// Core's clients: Restreamer UI reads config.address, config.rtmp.*, config.srt.*,
// config.storage.memory.auth.*, config.api.auth.*, config.host.name, config.tls.enable … and saves
// the whole object back. Fields drake has carry its values under Core's names and types; Core fields
// drake has no feature for show Core's "off" values and may be sent back unchanged (anything else is
// refused with the field's name); drake's own keys (webrtc, cluster, api.port, …) ride along as extra
// keys. drake's JSON file and DRAKE_* variables stay drake's layout: this is only the API's view.
import { isDeepStrictEqual } from 'node:util';
import { configSchema, envName, type DrakeConfig } from '../shared/config.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export const CORE_CONFIG_VERSION = 3;

/** Core field → drake field, for the fields both have (same meaning and type). */
const SAME: ReadonlyArray<string> = [
  'name',
  'log.level',
  'db.dir',
  'api.auth.enable',
  'api.auth.disable_localhost',
  'api.auth.username',
  'api.auth.password',
  'api.auth.jwt.secret',
  'storage.disk.dir',
  'storage.memory.auth.enable',
  'storage.memory.auth.username',
  'storage.memory.auth.password',
  'storage.memory.max_size_mbytes',
  'storage.memory.purge',
  'ffmpeg.binary',
  'ffmpeg.max_processes',
  'ffmpeg.log.max_lines',
  'ffmpeg.log.max_history',
  'metrics.range_sec',
  'metrics.interval_sec',
  'rtmp.enable',
  'rtmp.address',
  'rtmp.app',
  'rtmp.token',
  'rtmp.enable_tls',
  'rtmp.address_tls',
  'tls.cert_file',
  'tls.key_file',
  'srt.enable',
  'srt.address',
  'srt.passphrase',
  'srt.token',
];

/** drake-only keys shown as extra keys in Core's layout (and taken back from it). */
const EXTRA: ReadonlyArray<string> = [
  'demo',
  'api.host',
  'api.port',
  'api.max_body_bytes',
  'api.allow_public_without_auth',
  'api.auth.login_failure_delay_ms',
  'storage.memory.max_upload_mbytes',
  'ffmpeg.stop_timeout_seconds',
  'webrtc',
  'cluster',
];

function get(o: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((cur, k) => (isObj(cur) ? cur[k] : undefined), o);
}

function set(o: Obj, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    if (!isObj(cur[k])) cur[k] = {};
    cur = cur[k] as Obj;
  }
  cur[keys[keys.length - 1]!] = value;
}

function leaves(o: Obj, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (isObj(v) && Object.keys(v).length ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Core's layout of a (masked) drake config. `id` is this drake's instance id. */
export function toCoreConfig(config: DrakeConfig, id: string, createdAt: Date = new Date(0)): Obj {
  const list = () => ({ allow: [] as string[], block: [] as string[] });
  const out: Obj = {
    created_at: createdAt.toISOString(),
    version: CORE_CONFIG_VERSION,
    id,
    name: config.name,
    address: hostPort(config.api.host, config.api.port),
    update_check: false,
    log: { level: config.log.level, topics: [], max_lines: 1000 },
    db: { dir: config.db.dir },
    host: { name: [], auto: false },
    api: {
      read_only: false,
      access: { http: list(), https: list() },
      auth: {
        enable: config.api.auth.enable,
        disable_localhost: config.api.auth.disable_localhost,
        username: config.api.auth.username,
        password: config.api.auth.password,
        jwt: { secret: config.api.auth.jwt.secret },
        auth0: { enable: false, tenants: [] },
      },
    },
    tls: { address: ':8181', enable: false, auto: false, email: '', cert_file: config.tls.cert_file, key_file: config.tls.key_file },
    storage: {
      disk: { dir: config.storage.disk.dir, max_size_mbytes: 0, cache: { enable: false, max_size_mbytes: 0, ttl_seconds: 0, max_file_size_mbytes: 0, types: list() } },
      memory: {
        auth: { enable: config.storage.memory.auth.enable, username: config.storage.memory.auth.username, password: config.storage.memory.auth.password },
        max_size_mbytes: config.storage.memory.max_size_mbytes,
        purge: config.storage.memory.purge,
      },
      s3: [],
      cors: { origins: [config.storage.cors.origin] },
      mimetypes_file: '',
    },
    rtmp: { enable: config.rtmp.enable, enable_tls: config.rtmp.enable_tls, address: config.rtmp.address, address_tls: config.rtmp.address_tls, app: config.rtmp.app, token: config.rtmp.token },
    srt: { enable: config.srt.enable, address: config.srt.address, passphrase: config.srt.passphrase, token: config.srt.token, log: { enable: false, topics: [] } },
    ffmpeg: {
      binary: config.ffmpeg.binary,
      max_processes: config.ffmpeg.max_processes,
      access: { input: list(), output: list() },
      log: { max_lines: config.ffmpeg.log.max_lines, max_history: config.ffmpeg.log.max_history },
    },
    playout: { enable: false, min_port: 0, max_port: 0 },
    debug: { profiling: false, force_gc: 0, memory_limit_mbytes: 0 },
    metrics: { enable: true, enable_prometheus: true, range_sec: config.metrics.range_sec, interval_sec: config.metrics.interval_sec },
    sessions: { enable: true, ip_ignorelist: [], session_timeout_sec: 30, persist: false, persist_interval_sec: 0, max_bitrate_mbit: 0, max_sessions: 0 },
    service: { enable: false, token: '', url: '' },
    router: { blocked_prefixes: ['/api'], routes: {}, ui_path: '' },
  };
  for (const path of EXTRA) set(out, path, structuredClone(get(config, path)));
  return out;
}

/**
 * A PUT body in Core's layout → the drake-layout partial config it means, or the fields drake cannot
 * take. `current` is the masked Core view of the running config: a Core-only field sent back with
 * the value shown is accepted (clients save the whole object), any other value of it is refused.
 */
export function fromCoreConfig(body: Obj, current: Obj): { partial: Obj; errors: string[] } {
  const partial: Obj = {};
  const errors: string[] = [];
  // id and created_at are Core's bookkeeping: shown, never taken.
  const mapped = new Set<string>(['version', 'id', 'created_at', 'address', 'storage.cors.origins']);
  for (const path of SAME) {
    mapped.add(path);
    const v = get(body, path);
    if (v !== undefined) set(partial, path, v);
  }
  for (const path of EXTRA) {
    mapped.add(path);
    const v = get(body, path);
    if (v !== undefined) set(partial, path, v);
  }
  const address = get(body, 'address');
  if (address !== undefined) {
    const m = typeof address === 'string' ? /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address) : null;
    if (!m) errors.push('address: must be "host:port" or ":port"');
    else {
      const host = m[1] ?? m[2] ?? '';
      // ":port" is Core's "every interface"; drake keeps its host then (binding wider is an explicit api.host).
      if (host && get(body, 'api.host') === undefined) set(partial, 'api.host', host);
      if (get(body, 'api.port') === undefined) set(partial, 'api.port', Number(m[3]));
    }
  }
  const origins = get(body, 'storage.cors.origins');
  if (origins !== undefined) {
    if (!Array.isArray(origins) || origins.length !== 1 || typeof origins[0] !== 'string') errors.push('storage.cors.origins: drake takes exactly one origin (or "*")');
    else set(partial, 'storage.cors.origin', origins[0]);
  }
  for (const path of leaves(body)) {
    if ([...mapped].some((m) => path === m || path.startsWith(`${m}.`))) continue;
    const shown = get(current, path);
    if (shown === undefined) errors.push(`${path}: unknown field`);
    else if (!isDeepStrictEqual(get(body, path), shown)) errors.push(`${path}: not supported by drake (only ${JSON.stringify(shown)})`);
  }
  return { partial, errors };
}

/** Core's `overrides`: the config names (dotted, Core's where mapped) that DRAKE_* variables set. */
export function coreOverrides(envVars: readonly string[]): string[] {
  const set = new Set(envVars);
  const names: string[] = [];
  for (const path of leaves(configSchema.parse({}) as unknown as Obj)) {
    if (!set.has(envName(path.split('.')))) continue;
    names.push(path === 'api.host' || path === 'api.port' ? 'address' : path === 'storage.cors.origin' ? 'storage.cors.origins' : path);
    if (path === 'api.host' || path === 'api.port') names.push(path);
  }
  return [...new Set(names)];
}

