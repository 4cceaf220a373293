// /api/v3/process/*: process CRUD, commands, config/state/report and metadata (Core v3 shapes).
import { z } from 'zod';
import { globToRegExp, PROCESS_FILTERS, type ProcessFilter, type Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { NotFoundError, UnavailableError, ValidationError } from '../../shared/errors.ts';
import { idSchema } from '../../shared/processConfig.ts';
import { toApiConfig } from '../../shared/apiSchemas.ts';
import { readJson } from '../body.ts';
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import { json, type Reply, type Request, type Route } from '../http.ts';
import { routerFor, type ProcessRouter } from '../processRouter.ts';
import type { MemFs } from '../fs/MemFs.ts';
import { withMemfsBitrate } from '../memfsBitrate.ts';

const commandSchema = z.object({ command: z.enum(['start', 'stop', 'restart', 'reload']) });
const metadataKeySchema = z.string().min(1).max(256).regex(/^[A-Za-z0-9_.:-]+$/, 'metadata keys use A-Z a-z 0-9 _ . : -');

function id(req: Request): string {
  const parsed = idSchema.safeParse(req.params.id);
  if (!parsed.success) throw new ValidationError('Invalid process ID', [parsed.error.issues[0]?.message ?? 'invalid']);
  return parsed.data;
}

function key(req: Request): string {
  const parsed = metadataKeySchema.safeParse(req.params.key);
  if (!parsed.success) throw new ValidationError('Invalid metadata key', [parsed.error.issues[0]?.message ?? 'invalid']);
  return parsed.data;
}

export function parseFilter(raw: string | null): ProcessFilter[] {
  if (!raw) return [...PROCESS_FILTERS];
  const wanted = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((f) => !(PROCESS_FILTERS as readonly string[]).includes(f));
  if (unknown.length) throw new ValidationError('Invalid filter', unknown.map((f) => `unknown filter "${f}"; use ${PROCESS_FILTERS.join(', ')}`));
  return wanted as ProcessFilter[];
}

type Json = Record<string, unknown>;

/** A process in Core's reply shape (its config, when there, through toApiConfig). */
function coreProcess(p: Json): Json {
  return p.config && typeof p.config === 'object' ? { ...p, config: toApiConfig(p.config as Json) } : p;
}

/**
 * Core's shape on a 200 JSON reply, whoever made it: this node's supervisor, the cluster table, or the
 * owner a call was forwarded to (which shaped it already: the shaping is idempotent).
 */
function shaped(reply: Reply, as: (value: Json) => Json, many = false): Reply {
  if (reply.status !== 200 || reply.body === undefined || !(reply.headers?.['content-type'] ?? '').startsWith('application/json')) return reply;
  let value: unknown;
  try {
    value = JSON.parse(reply.body.toString());
  } catch {
    return reply;
  }
  if (many ? !Array.isArray(value) : value === null || typeof value !== 'object') return reply;
  return json(200, many ? (value as Json[]).map(as) : as(value as Json), Object.fromEntries(Object.entries(reply.headers ?? {}).filter(([k]) => k !== 'content-type')));
}

/**
 * `cluster`: this node's membership once it exists; with it every node answers for every process (processRouter.ts).
 * `mem`: the memory filesystem, whose write rate stands in for the bitrate FFmpeg cannot tell of its memfs outputs (memfsBitrate.ts).
 */
export function processRoutes(sup: Supervisor, cluster: () => ClusterNode | null = () => null, mem: MemFs | null = null): Route[] {
  const base = '/api/v3/process';
  const router = routerFor(sup, cluster);
  const withRate = (state: Json): Json => (mem ? (withMemfsBitrate(state, mem) as Json) : state);
  const asCore = (p: Json): Json => {
    const q = coreProcess(p);
    return q.state && typeof q.state === 'object' ? { ...q, state: withRate(q.state as Json) } : q;
  };
  return [
    {
      method: 'get',
      pattern: base,
      summary: 'List processes (?id=a,b &reference= &idpattern= &refpattern= &filter=config,state,report,metadata)',
      handler: async (req) => {
        const q = req.query;
        const ids = q.get('id');
        const query = {
          filter: parseFilter(q.get('filter')),
          ...(ids ? { ids: ids.split(',').map((s) => s.trim()) } : {}),
          ...(q.has('reference') ? { reference: q.get('reference')! } : {}),
          ...(q.get('idpattern') ? { idpattern: q.get('idpattern')! } : {}),
          ...(q.get('refpattern') ? { refpattern: q.get('refpattern')! } : {}),
        };
        const local = () => sup.list(query);
        const r = router();
        if (!r) return shaped(json(200, await local()), asCore, true);
        const all = await r.list(
          req,
          {
            ...query,
            ...(query.idpattern ? { idpattern: globToRegExp(query.idpattern) } : {}),
            ...(query.refpattern ? { refpattern: globToRegExp(query.refpattern) } : {}),
          } as Parameters<ProcessRouter['list']>[1],
          local,
        );
        return shaped(all, asCore, true);
      },
    },
    {
      method: 'post',
      pattern: base,
      body: true,
      summary: 'Add a process from a ProcessConfig; starts it when autostart (default true)',
      handler: async (req) => shaped((await router()?.create(req)) ?? json(200, await sup.add(readJson(req))), toApiConfig),
    },
    {
      method: 'get',
      pattern: `${base}/:id`,
      summary: 'One process (?filter=)',
      handler: async (req) => {
        const pid = id(req);
        const filter = parseFilter(req.query.get('filter'));
        const here = async () => json(200, await sup.get(pid, filter));
        return shaped(await (router()?.read(req, pid, here, (rec, node) => json(200, router()!.orphanDto(rec, filter, node))) ?? here()), asCore);
      },
    },
    {
      method: 'put',
      pattern: `${base}/:id`,
      body: true,
      summary: 'Replace a process config (merged over the current one at the top level; a new id renames)',
      handler: async (req) => shaped((await router()?.update(req, id(req))) ?? json(200, await sup.update(id(req), readJson(req))), toApiConfig),
    },
    {
      method: 'del',
      pattern: `${base}/:id`,
      summary: 'Stop and delete a process',
      handler: async (req) => {
        const r = router();
        if (r) return r.remove(req, id(req));
        await sup.remove(id(req));
        return json(200, 'OK');
      },
    },
    {
      method: 'put',
      pattern: `${base}/:id/command`,
      body: true,
      summary: 'Send a command: {"command":"start"|"stop"|"restart"|"reload"}',
      handler: async (req) => {
        const pid = id(req);
        const parsed = commandSchema.safeParse(readJson(req));
        if (!parsed.success) throw new ValidationError('Unknown command provided', ['command: must be one of start, stop, restart, reload']);
        const r = router();
        if (r) return r.command(req, pid, parsed.data.command);
        await sup.command(pid, parsed.data.command);
        return json(200, 'OK');
      },
    },
    {
      method: 'get',
      pattern: `${base}/:id/config`,
      summary: 'The stored config (placeholders not resolved)',
      handler: async (req) => {
        const pid = id(req);
        return shaped(await (router()?.fromTable(req, pid, () => sup.config(pid), (rec) => rec.config) ?? json(200, sup.config(pid))), toApiConfig);
      },
    },
    {
      method: 'get',
      pattern: `${base}/:id/state`,
      summary: 'Live state: order, exec, progress, CPU, memory, command',
      handler: async (req) => {
        const pid = id(req);
        const here = async () => json(200, await sup.state(pid));
        return shaped(await (router()?.read(req, pid, here, (rec, node) => json(200, router()!.orphanState(rec, node))) ?? here()), withRate);
      },
    },
    {
      method: 'get',
      pattern: `${base}/:id/report`,
      summary: 'Current log and prelude plus the history of the last runs',
      handler: async (req) => {
        const pid = id(req);
        const here = async () => json(200, await sup.report(pid));
        return router()?.read(req, pid, here, () => json(200, { created_at: 0, prelude: [], log: [], history: [] })) ?? here();
      },
    },
    {
      method: 'get',
      pattern: `${base}/:id/probe`,
      summary: "Streams of the process's inputs (FFmpeg run on the inputs alone, 20 s limit); problems are in `log`",
      handler: async (req) => {
        const pid = id(req);
        const here = async () => json(200, await sup.probe(pid));
        return (
          router()?.read(req, pid, here, (_rec, node) => {
            throw new UnavailableError(`node ${node ?? '(none)'} of process ${pid} is lost: probe it once a node runs it`);
          }) ?? here()
        );
      },
    },
    {
      method: 'get',
      pattern: `${base}/:id/metadata`,
      summary: 'All metadata of a process (null when none)',
      handler: async (req) => {
        const pid = id(req);
        const pick = (m: Record<string, unknown>) => (Object.keys(m).length ? m : null);
        return router()?.fromTable(req, pid, () => sup.getMetadata(pid), (rec) => pick(rec.metadata)) ?? json(200, sup.getMetadata(pid));
      },
    },
    {
      method: 'get',
      pattern: `${base}/:id/metadata/:key`,
      summary: 'One metadata value',
      handler: async (req) => {
        const pid = id(req);
        const k = key(req);
        return (
          router()?.fromTable(req, pid, () => sup.getMetadata(pid, k), (rec) => {
            if (!(k in rec.metadata)) throw new NotFoundError(`Unknown metadata key: ${k}`);
            return rec.metadata[k];
          }) ?? json(200, sup.getMetadata(pid, k))
        );
      },
    },
    {
      method: 'put',
      pattern: `${base}/:id/metadata/:key`,
      body: true,
      summary: 'Store any JSON under a key; null deletes it',
      handler: async (req) => {
        const pid = id(req);
        const k = key(req);
        const r = router();
        if (r) return r.setMetadata(req, pid, k);
        return json(200, await sup.setMetadata(pid, k, readJson(req)));
      },
    },
    {
      method: 'get',
      pattern: '/api/v3/metadata',
      summary: 'All global metadata',
      handler: () => json(200, sup.getSystemMetadata()),
    },
    {
      method: 'get',
      pattern: '/api/v3/metadata/:key',
      summary: 'One global metadata value',
      handler: (req) => json(200, sup.getSystemMetadata(key(req))),
    },
    {
      method: 'put',
      pattern: '/api/v3/metadata/:key',
      body: true,
      summary: 'Store global metadata; null deletes',
      handler: async (req) => {
        const k = key(req);
        return json(200, await sup.setSystemMetadata(k, readJson(req)));
      },
    },
  ];
}
