// GET/PUT /api/v3/config and GET /api/v3/config/reload. PUT validates the whole result and saves it
// (atomically) to the config file; it takes effect on reload, which restarts drake in place:
// processes are in the store and come back as they were.
import { renameSync, writeFileSync } from 'node:fs';
import { configSchema, formatZodIssues, SECRET_MAPS, SECRET_MASK, SECRET_PATHS, type DrakeConfig } from '../../shared/config.ts';
import { ConflictError, DrakeError, ValidationError } from '../../shared/errors.ts';
import { readJson } from '../body.ts';
import { CORE_CONFIG_VERSION, coreOverrides, fromCoreConfig, toCoreConfig } from '../coreConfig.ts';
import { json, type Route } from '../http.ts';

export interface ConfigHolder {
  /** The config drake runs with. */
  config: DrakeConfig;
  /** The raw JSON of the file (what PUT merges into and saves). */
  raw: Record<string, unknown>;
  file: string;
  overrides: string[];
  loadedAt: Date;
  updatedAt: Date;
  /** This drake's instance id (Core's config.id). */
  id?: string;
  /** The port the API listens on (set once listening): Core's `address` shows it when api.port is 0 (any). */
  listenPort?: number;
  /** Restarts drake with the saved config; absent when drake is embedded (tests). */
  reload?: () => void;
}

class NotImplementedError extends DrakeError {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function getPath(o: unknown, path: string[]): unknown {
  return path.reduce<unknown>((cur, k) => (isObj(cur) ? cur[k] : undefined), o);
}

function setPath(o: Obj, path: string[], value: unknown): void {
  let cur = o;
  for (const k of path.slice(0, -1)) {
    if (!isObj(cur[k])) cur[k] = {};
    cur = cur[k] as Obj;
  }
  cur[path[path.length - 1]!] = value;
}

/** Keys that would set a prototype instead of a field when merged into a plain object. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function merge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (UNSAFE_KEYS.has(k)) continue;
    // Objects are always rebuilt, so a nested unsafe key is dropped too.
    out[k] = isObj(v) ? merge(isObj(out[k]) ? (out[k] as Obj) : {}, v) : v;
  }
  return out;
}

export function maskSecrets(config: DrakeConfig): Obj {
  const copy = structuredClone(config) as unknown as Obj;
  for (const path of SECRET_PATHS) if (getPath(copy, path)) setPath(copy, path, SECRET_MASK);
  for (const path of SECRET_MAPS) {
    const map = getPath(copy, path);
    if (isObj(map)) for (const k of Object.keys(map)) map[k] = SECRET_MASK;
  }
  return copy;
}

function coreView(holder: ConfigHolder): Obj {
  const masked = maskSecrets(holder.config) as unknown as DrakeConfig;
  const view = toCoreConfig(masked, holder.id ?? '', holder.updatedAt);
  if (masked.api.port === 0 && holder.listenPort) view.address = toCoreConfig({ ...masked, api: { ...masked.api, port: holder.listenPort } }, '').address;
  return view;
}

export function configRoutes(holder: ConfigHolder): Route[] {
  return [
    {
      method: 'get',
      pattern: '/api/v3/config',
      summary: "The running config in Core's config v3 layout (drake's own keys as extras, secrets masked), the names DRAKE_* variables override, and the file PUT saves to",
      handler: () =>
        json(200, {
          created_at: holder.updatedAt.toISOString(),
          loaded_at: holder.loadedAt.toISOString(),
          updated_at: holder.updatedAt.toISOString(),
          config: coreView(holder),
          overrides: coreOverrides(holder.overrides),
          // drake's additions: where PUT saves, and the variables behind `overrides`.
          file: holder.file,
          override_vars: holder.overrides,
        }),
    },
    {
      method: 'put',
      pattern: '/api/v3/config',
      body: true,
      summary: "Merge a partial config (Core's layout with \"version\": 3, or drake's own without) into the config file, validate, save; applied by /api/v3/config/reload",
      handler: (req) => {
        const raw = readJson(req);
        if (!isObj(raw)) throw new ValidationError('Invalid config', ['(root): expected an object']);
        let body: Obj = raw;
        // Core's clients send Core's layout (with its version); drake's own layout has no version key.
        if (body.version !== undefined) {
          // Core also takes its older layouts 1 and 2; drake only the current one.
          if (body.version !== CORE_CONFIG_VERSION) throw new ValidationError('Invalid config version', [`version ${JSON.stringify(body.version)}: drake takes Core's layout ${CORE_CONFIG_VERSION}`]);
          const { partial, errors } = fromCoreConfig(body, coreView(holder));
          if (errors.length) throw new ConflictError('invalid configuration', errors);
          body = partial;
        }
        const next = merge(holder.raw, body);
        // A masked secret sent back unchanged keeps the stored one.
        for (const path of SECRET_PATHS) if (getPath(body, path) === SECRET_MASK) setPath(next, path, getPath(holder.raw, path) ?? '');
        for (const path of SECRET_MAPS) {
          const sent = getPath(body, path);
          const stored = getPath(holder.raw, path);
          const merged = getPath(next, path);
          if (!isObj(sent) || !isObj(merged)) continue;
          for (const [k, v] of Object.entries(sent)) if (v === SECRET_MASK) merged[k] = isObj(stored) ? (stored[k] ?? '') : '';
        }
        const parsed = configSchema.safeParse(next);
        if (!parsed.success) throw new ConflictError('invalid configuration', formatZodIssues(parsed.error));
        const tmp = `${holder.file}.tmp`;
        writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
        renameSync(tmp, holder.file);
        holder.raw = next;
        holder.updatedAt = new Date();
        return json(200, 'OK');
      },
    },
    {
      method: 'get',
      pattern: '/api/v3/config/reload',
      summary: 'Restart drake with the saved config; processes stay (they are in the store)',
      handler: () => {
        const reload = holder.reload;
        if (!reload) throw new NotImplementedError('reload is available when drake runs as `npm start`');
        setTimeout(reload, 100);
        return json(200, 'OK');
      },
    },
  ];
}
