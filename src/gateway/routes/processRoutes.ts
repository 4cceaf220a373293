// /api/v3/process/*: process CRUD, commands, config/state/report and metadata (Core v3 shapes).
import { z } from 'zod';
import { PROCESS_FILTERS, type ProcessDto, type ProcessFilter, type Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { toApiConfig } from '../../shared/apiSchemas.ts';
import { ValidationError } from '../../shared/errors.ts';
import { idSchema } from '../../shared/processConfig.ts';
import { readJson } from '../body.ts';
import { json, type Request, type Route } from '../http.ts';

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

/** A process in Core's reply shape (its config without empty cleanup lists). */
function apiProcess(p: ProcessDto) {
  return p.config ? { ...p, config: toApiConfig(p.config) } : p;
}

export function processRoutes(sup: Supervisor): Route[] {
  const base = '/api/v3/process';
  return [
    {
      method: 'get',
      pattern: base,
      summary: 'List processes (?id=a,b &reference= &idpattern= &refpattern= &filter=config,state,report,metadata)',
      handler: async (req) => {
        const q = req.query;
        const ids = q.get('id');
        const list = await sup.list({
          filter: parseFilter(q.get('filter')),
          ...(ids ? { ids: ids.split(',').map((s) => s.trim()) } : {}),
          ...(q.has('reference') ? { reference: q.get('reference')! } : {}),
          ...(q.get('idpattern') ? { idpattern: q.get('idpattern')! } : {}),
          ...(q.get('refpattern') ? { refpattern: q.get('refpattern')! } : {}),
        });
        return json(200, list.map(apiProcess));
      },
    },
    {
      method: 'post',
      pattern: base,
      body: true,
      summary: 'Add a process from a ProcessConfig; starts it when autostart (default true)',
      handler: async (req) => json(200, toApiConfig(await sup.add(readJson(req)))),
    },
    {
      method: 'get',
      pattern: `${base}/:id`,
      summary: 'One process (?filter=)',
      handler: async (req) => json(200, apiProcess(await sup.get(id(req), parseFilter(req.query.get('filter'))))),
    },
    {
      method: 'put',
      pattern: `${base}/:id`,
      body: true,
      summary: 'Replace a process config (merged over the current one at the top level; a new id renames)',
      handler: async (req) => json(200, toApiConfig(await sup.update(id(req), readJson(req)))),
    },
    {
      method: 'del',
      pattern: `${base}/:id`,
      summary: 'Stop and delete a process',
      handler: async (req) => {
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
        await sup.command(pid, parsed.data.command);
        return json(200, 'OK');
      },
    },
    {
      method: 'get',
      pattern: `${base}/:id/config`,
      summary: 'The stored config (placeholders not resolved)',
      handler: (req) => json(200, toApiConfig(sup.config(id(req)))),
    },
    {
      method: 'get',
      pattern: `${base}/:id/state`,
      summary: 'Live state: order, exec, progress, CPU, memory, command',
      handler: async (req) => json(200, await sup.state(id(req))),
    },
    {
      method: 'get',
      pattern: `${base}/:id/report`,
      summary: 'Current log and prelude plus the history of the last runs',
      handler: async (req) => json(200, await sup.report(id(req))),
    },
    {
      method: 'get',
      pattern: `${base}/:id/probe`,
      summary: "Streams of the process's inputs (FFmpeg run on the inputs alone, 20 s limit); problems are in `log`",
      handler: async (req) => json(200, await sup.probe(id(req))),
    },
    {
      method: 'get',
      pattern: `${base}/:id/metadata`,
      summary: 'All metadata of a process (null when none)',
      handler: (req) => json(200, sup.getMetadata(id(req))),
    },
    {
      method: 'get',
      pattern: `${base}/:id/metadata/:key`,
      summary: 'One metadata value',
      handler: (req) => json(200, sup.getMetadata(id(req), key(req))),
    },
    {
      method: 'put',
      pattern: `${base}/:id/metadata/:key`,
      body: true,
      summary: 'Store any JSON under a key; null deletes it',
      handler: async (req) => {
        const pid = id(req);
        const k = key(req);
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
