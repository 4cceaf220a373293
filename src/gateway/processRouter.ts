// The process API of a cluster node: every node answers for every process of the cluster.
// A process's placement says which node owns it. On the owner a request runs against the local
// supervisor, and a change is written through to the table in Redis (under the node's reconcile lock,
// so a reconcile pass never sees half of it). On any other node the request is forwarded to the owner
// (one signed hop: the owner never forwards it again), so the answer, status and error body are the
// owner's own. A process whose owner is lost (order stop stays with its node until started) is
// answered from the table, and changes to it are made in the table; a start places it anew.
// Without Redis a node answers for its own processes only, and writes what changed into the table
// when Redis is back.
import type { ClusterNode } from '../actors/cluster/ClusterNode.ts';
import { PlacementError } from '../actors/cluster/placement.ts';
import type { TableRecord } from '../actors/cluster/table.ts';
import type { ProcessDto, ProcessFilter, Supervisor } from '../actors/supervisor/Supervisor.ts';
import { ConflictError, NotFoundError, UnauthorizedError, UnavailableError, ValidationError } from '../shared/errors.ts';
import type { ProcessConfig } from '../shared/processConfig.ts';
import type { ProcessStateDto, StreamCommand } from '../shared/protocol.ts';
import { readJson } from './body.ts';
import { json, type Reply, type Request } from './http.ts';

const nowS = () => Math.floor(Date.now() / 1000);

export function pathAndQuery(req: Request): string {
  const q = req.query.toString();
  return q ? `${req.url}?${q}` : req.url;
}

function placementError(err: unknown): unknown {
  if (!(err instanceof PlacementError)) return err;
  return err.code === 'NODE_OFFLINE' ? new ValidationError('Invalid process config', [`node: ${err.message}`]) : new UnavailableError(err.message);
}

/** What can be said of a process whose node is lost. */
function orphanState(rec: TableRecord, node: string | undefined): ProcessStateDto {
  return {
    order: rec.order,
    exec: 'finished',
    runtime_seconds: 0,
    reconnect_seconds: -1,
    last_logline: node ? `[drake] node ${node} of this process is lost; it runs again when a node takes it` : '[drake] not placed on any node',
    progress: { inputs: [], outputs: [], frame: 0, packet: 0, fps: 0, q: 0, size_kb: 0, time: 0, bitrate_kbit: 0, speed: 0, drop: 0, dup: 0 },
    memory_bytes: 0,
    cpu_usage: 0,
    command: [],
  };
}

function recordDto(rec: TableRecord, filter: readonly ProcessFilter[], node: string | undefined): ProcessDto {
  const dto: ProcessDto = { id: rec.id, type: 'ffmpeg', reference: rec.reference, created_at: rec.created_at, updated_at: rec.updated_at };
  if (filter.includes('config')) dto.config = rec.config;
  if (filter.includes('state')) dto.state = orphanState(rec, node);
  if (filter.includes('report')) dto.report = { created_at: 0, prelude: [], log: [], history: [] };
  if (filter.includes('metadata')) dto.metadata = Object.keys(rec.metadata).length ? rec.metadata : null;
  return dto;
}

export interface ListFilter {
  ids?: string[];
  reference?: string;
  idpattern?: RegExp;
  refpattern?: RegExp;
  filter: ProcessFilter[];
}

type Where =
  | { kind: 'here' }
  | { kind: 'remote'; node: string; url: string }
  | { kind: 'orphan'; rec: TableRecord; node: string | undefined };

export class ProcessRouter {
  readonly #sup: Supervisor;
  readonly #node: ClusterNode;

  constructor(sup: Supervisor, node: ClusterNode) {
    this.#sup = sup;
    this.#node = node;
  }

  /** Whether this request is answered here whatever the placement: forwarded to us, or no Redis. */
  #localOnly(req: Request): boolean {
    const check = this.#node.checkForward(req.method, pathAndQuery(req), req.headers, req.body);
    if (check) {
      if (!check.ok) throw new UnauthorizedError(`forwarded request refused: ${check.reason}`);
      return true;
    }
    return !this.#node.connected;
  }

  async #where(id: string): Promise<Where> {
    const o = await this.#node.owner(id);
    if (o.placement?.node === this.#node.id) return { kind: 'here' };
    if (o.placement && o.online && o.url) return { kind: 'remote', node: o.placement.node, url: o.url };
    const rec = await this.#node.table.record(id);
    if (!rec) {
      if (!o.placement && this.#sup.has(id)) return { kind: 'here' };
      throw new NotFoundError(`Unknown process ID: ${id}`);
    }
    return { kind: 'orphan', rec, node: o.placement?.node };
  }

  async #forward(req: Request, node: string, url: string, body: Buffer = req.body): Promise<Reply> {
    const res = await this.#node.forward(node, url, req.method, pathAndQuery(req), body, req.headers['content-type']);
    return { status: res.status, headers: res.contentType ? { 'content-type': res.contentType } : {}, body: res.body };
  }

  /** A change to a process this node holds, then written through to the table (later, without Redis). */
  async #change<T>(fn: () => Promise<T>, write: () => Promise<void>, ids: string[]): Promise<T> {
    return this.#node.exclusive(async () => {
      const out = await fn();
      if (!this.#node.connected) {
        for (const id of ids) this.#node.dirty.add(id);
        return out;
      }
      try {
        await write();
      } catch (err) {
        for (const id of ids) this.#node.dirty.add(id);
        if (this.#node.connected) throw err;
      }
      return out;
    });
  }

  async #save(id: string): Promise<void> {
    if (this.#sup.has(id)) await this.#node.table.save(this.#sup.record(id));
  }

  /** Reads and changes of one process: here, at its owner, or from the table when its node is lost. */
  async #dispatch(req: Request, id: string, here: () => Promise<Reply>, orphan: (rec: TableRecord, node: string | undefined) => Promise<Reply>): Promise<Reply> {
    if (this.#localOnly(req)) return here();
    const w = await this.#where(id);
    if (w.kind === 'here') return here();
    if (w.kind === 'remote') return this.#forward(req, w.node, w.url);
    return orphan(w.rec, w.node);
  }

  // ---- create -------------------------------------------------------------------------------------

  async create(req: Request): Promise<Reply> {
    const input = readJson(req);
    if (this.#localOnly(req)) return json(200, await this.#createHere(input));
    const config = this.#sup.validate(input);
    if (await this.#node.table.record(config.id)) throw new ConflictError(`process already exists: ${config.id}`);
    const p = await this.#node.place(config.id, config.node ?? '').catch((err: unknown) => {
      throw placementError(err);
    });
    if (p.node === this.#node.id) return json(200, await this.#createHere(config));
    const o = await this.#node.owner(config.id);
    if (!o.url) throw new UnavailableError(`node ${p.node} has no address in the cluster's table`);
    let ok = false;
    try {
      const reply = await this.#forward(req, p.node, o.url, Buffer.from(JSON.stringify(config)));
      ok = reply.status === 200;
      return reply;
    } finally {
      if (!ok && !(await this.#node.table.record(config.id).catch(() => null))) await this.#node.table.unplace(config.id, p).catch(() => undefined);
    }
  }

  #createHere(input: unknown): Promise<ProcessConfig> {
    const node = this.#node;
    if (!node.connected) return this.#change(() => this.#sup.add(input), async () => undefined, []).then((c) => (node.dirty.add(c.id), c));
    return node.exclusive(async () => {
      const config = this.#sup.validate(input);
      let p = await node.table.placement(config.id);
      if (p && p.node !== node.id) throw new ConflictError(`process ${config.id} is placed on node ${p.node}`);
      p ??= await node.place(config.id, node.id).catch((err: unknown) => {
        throw placementError(err);
      });
      node.owned.set(config.id, p.epoch);
      try {
        await this.#sup.add(config);
      } catch (err) {
        node.owned.delete(config.id);
        await node.table.unplace(config.id, p).catch(() => undefined);
        throw err;
      }
      const rec = this.#sup.record(config.id);
      if (!(await node.table.create(rec))) {
        node.owned.delete(config.id);
        await this.#sup.remove(config.id, { purge: false });
        throw new ConflictError(`process already exists: ${config.id}`);
      }
      return config;
    });
  }

  // ---- changes ------------------------------------------------------------------------------------

  update(req: Request, id: string): Promise<Reply> {
    return this.#dispatch(
      req,
      id,
      async () => {
        const body = readJson(req);
        const newId = body && typeof body === 'object' && !Array.isArray(body) && typeof (body as { id?: unknown }).id === 'string' ? (body as { id: string }).id : id;
        if (newId !== id && this.#node.connected && (await this.#node.table.record(newId))) throw new ConflictError(`process already exists: ${newId}`);
        const config = await this.#change(
          async () => {
            const c = await this.#sup.update(id, body);
            const epoch = this.#node.owned.get(id);
            if (c.id !== id && epoch !== undefined) {
              this.#node.owned.delete(id);
              this.#node.owned.set(c.id, epoch);
            }
            return c;
          },
          async () => {
            const cur = this.#sup.record(newId === id ? id : newId);
            if (!(await this.#node.table.rename(id, cur))) throw new ConflictError(`process already exists: ${cur.id}`);
          },
          [id, newId],
        );
        return json(200, config);
      },
      async (rec) => {
        const body = readJson(req);
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('Invalid process config', ['(root): expected an object']);
        const config = this.#sup.validate({ ...rec.config, ...(body as Record<string, unknown>) });
        const next: TableRecord = { ...rec, id: config.id, reference: config.reference, config, updated_at: nowS() };
        if (!(await this.#node.table.rename(id, next))) throw new ConflictError(`process already exists: ${config.id}`);
        return json(200, config);
      },
    );
  }

  remove(req: Request, id: string): Promise<Reply> {
    return this.#dispatch(
      req,
      id,
      async () => {
        await this.#change(
          async () => {
            await this.#sup.remove(id);
            this.#node.owned.delete(id);
          },
          () => this.#node.table.forget(id),
          [id],
        );
        return json(200, 'OK');
      },
      async () => {
        await this.#node.table.forget(id);
        return json(200, 'OK');
      },
    );
  }

  command(req: Request, id: string, cmd: StreamCommand): Promise<Reply> {
    return this.#dispatch(
      req,
      id,
      async () => {
        await this.#change(() => this.#sup.command(id, cmd), () => this.#save(id), [id]);
        return json(200, 'OK');
      },
      async (rec) => {
        if (cmd === 'start' || cmd === 'stop') {
          if (rec.order !== cmd) await this.#node.table.save({ ...rec, order: cmd, updated_at: rec.updated_at });
          // Its node is lost: a start places it anew, and the new owner starts it within a second.
          if (cmd === 'start') {
            await this.#node.place(id, rec.config.node ?? '', 'move').catch((err: unknown) => {
              throw placementError(err);
            });
          }
        }
        return json(200, 'OK');
      },
    );
  }

  setMetadata(req: Request, id: string, key: string): Promise<Reply> {
    return this.#dispatch(
      req,
      id,
      async () => {
        const value = readJson(req);
        return json(200, await this.#change(() => this.#sup.setMetadata(id, key, value), () => this.#save(id), [id]));
      },
      async (rec) => {
        const value = readJson(req);
        const metadata = { ...rec.metadata };
        if (value === null) delete metadata[key];
        else metadata[key] = value;
        await this.#node.table.save({ ...rec, metadata });
        return json(200, value);
      },
    );
  }

  // ---- reads --------------------------------------------------------------------------------------

  read(req: Request, id: string, here: () => Promise<Reply>, orphan: (rec: TableRecord, node: string | undefined) => Reply): Promise<Reply> {
    return this.#dispatch(req, id, here, async (rec, node) => orphan(rec, node));
  }

  /** Config and metadata are the table's: read from it on any node. */
  async fromTable(req: Request, id: string, here: () => unknown, pick: (rec: TableRecord) => unknown): Promise<Reply> {
    if (this.#localOnly(req)) return json(200, here());
    const rec = await this.#node.table.record(id);
    if (rec) return json(200, pick(rec));
    if (this.#sup.has(id)) return json(200, here());
    throw new NotFoundError(`Unknown process ID: ${id}`);
  }

  orphanDto = recordDto;
  orphanState = orphanState;

  /** The cluster's processes: from the table, with state and report asked of each owner (one call per node). */
  async list(req: Request, q: ListFilter, local: () => Promise<ProcessDto[]>): Promise<Reply> {
    if (this.#localOnly(req)) return json(200, await local());
    const { records, placements } = await this.#node.table.all();
    const chosen = [...records.values()]
      .filter(
        (r) =>
          (!q.ids || q.ids.includes(r.id)) &&
          (q.reference === undefined || r.reference === q.reference) &&
          (!q.idpattern || q.idpattern.test(r.id)) &&
          (!q.refpattern || q.refpattern.test(r.reference)),
      )
      .sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
    const live = q.filter.includes('state') || q.filter.includes('report');
    const out = new Map<string, ProcessDto>();
    const byNode = new Map<string, string[]>();
    for (const r of chosen) {
      const node = placements.get(r.id)?.node;
      if (live && node) byNode.set(node, [...(byNode.get(node) ?? []), r.id]);
      else out.set(r.id, recordDto(r, q.filter, node));
    }
    await Promise.all(
      [...byNode].map(async ([node, ids]) => {
        let dtos: ProcessDto[] | null = null;
        try {
          if (node === this.#node.id) {
            dtos = await Promise.all(ids.filter((id) => this.#sup.has(id)).map((id) => this.#sup.get(id, q.filter)));
          } else {
            const o = await this.#node.owner(ids[0]!);
            if (o.online && o.url) {
              const path = `/api/v3/process?${new URLSearchParams({ id: ids.join(','), filter: q.filter.join(',') }).toString()}`;
              const res = await this.#node.forward(node, o.url, 'get', path, Buffer.alloc(0));
              if (res.status === 200) dtos = JSON.parse(res.body.toString('utf8')) as ProcessDto[];
            }
          }
        } catch {
          dtos = null;
        }
        for (const d of dtos ?? []) out.set(d.id, d);
        for (const id of ids) if (!out.has(id)) out.set(id, recordDto(records.get(id)!, q.filter, node));
      }),
    );
    return json(200, chosen.map((r) => out.get(r.id)!));
  }
}

/** A ProcessRouter for this node's cluster membership once it exists (null without one), made again when the membership changes. */
export function routerFor(sup: Supervisor, cluster: () => ClusterNode | null): () => ProcessRouter | null {
  let cached: { node: ClusterNode; router: ProcessRouter } | null = null;
  return () => {
    const node = cluster();
    if (!node) return null;
    if (cached?.node !== node) cached = { node, router: new ProcessRouter(sup, node) };
    return cached.router;
  };
}
