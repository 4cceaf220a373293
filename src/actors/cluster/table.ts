// The cluster's process table in Redis, the source of truth for every process of the cluster:
// `<p>:proc` (hash id → record JSON: config, metadata, order, times), `<p>:place` (id → {node, epoch}),
// `<p>:deleted` (id → when: tombstones, so a node that was away cannot bring a deleted process back),
// `<p>:gen` (a random generation: gone or new means Redis lost its data and the nodes write back what
// they hold). Records are JSON rather than msgpack because the failover script reads `order` in Lua.
// Every read is validated: Redis is a boundary.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { processConfigSchema } from '../../shared/processConfig.ts';
import { CHOOSE_LUA, placementSchema, type Placement } from './placement.ts';

export const tableRecordSchema = z.object({
  id: z.string(),
  reference: z.string(),
  config: processConfigSchema,
  created_at: z.number().int(),
  updated_at: z.number().int(),
  order: z.enum(['start', 'stop']),
  metadata: z.record(z.string(), z.unknown()),
});
export type TableRecord = z.output<typeof tableRecordSchema>;

export interface TableKeys {
  nodes: string;
  proc: string;
  place: string;
  epoch: string;
  deleted: string;
  gen: string;
  leasePrefix: string;
}

export function tableKeys(prefix: string): TableKeys {
  return {
    nodes: `${prefix}:nodes`,
    proc: `${prefix}:proc`,
    place: `${prefix}:place`,
    epoch: `${prefix}:epoch`,
    deleted: `${prefix}:deleted`,
    gen: `${prefix}:gen`,
    leasePrefix: `${prefix}:alive:`,
  };
}

/**
 * KEYS: nodes, place, epoch, proc. ARGV: lease prefix. Every placement whose node has no lease: with a
 * record of order start → placed anew on the node with most room (new epoch); without a record (a create
 * that never finished) → dropped; order stop → left on the lost node (it takes it back when it returns,
 * a start command places it anew). Returns [pid, node, epoch, ...] of what moved. One script, so nodes
 * running it at the same moment move each process once.
 */
const FAILOVER_LUA = `
local leasePrefix = ARGV[1]
local nodesKey, placeKey = KEYS[1], KEYS[2]
${CHOOSE_LUA}
local moved = {}
local all = redis.call('HGETALL', placeKey)
for i = 1, #all, 2 do
  local pid = all[i]
  local ok, p = pcall(cjson.decode, all[i + 1])
  if ok and type(p) == 'table' and p.node and not online(p.node) then
    local raw = redis.call('HGET', KEYS[4], pid)
    if not raw then
      redis.call('HDEL', placeKey, pid)
    else
      local rok, rec = pcall(cjson.decode, raw)
      if rok and type(rec) == 'table' and rec.order == 'start' then
        local want = ''
        if type(rec.config) == 'table' and type(rec.config.node) == 'string' then want = rec.config.node end
        local chosen = nil
        if want ~= '' then
          if online(want) then chosen = want end
        else
          chosen = choose(pid, p.node)
        end
        if chosen then
          local epoch = redis.call('INCR', KEYS[3])
          redis.call('HSET', placeKey, pid, cjson.encode({ node = chosen, epoch = epoch }))
          table.insert(moved, pid)
          table.insert(moved, chosen)
          table.insert(moved, epoch)
        end
      end
    end
  end
end
return moved
`;

/**
 * KEYS: place, epoch. ARGV: pid, node, least epoch. Places pid on node unless it is placed already
 * (writing back after Redis lost its data); the epoch counter is first raised past every epoch the node
 * still remembers, so epochs never go back. Returns the placement JSON in force.
 */
const CLAIM_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then return cur end
local least = tonumber(ARGV[3])
if (tonumber(redis.call('GET', KEYS[2])) or 0) < least then redis.call('SET', KEYS[2], least) end
local epoch = redis.call('INCR', KEYS[2])
local out = cjson.encode({ node = ARGV[2], epoch = epoch })
redis.call('HSET', KEYS[1], ARGV[1], out)
return out
`;

/** KEYS: place. ARGV: pid, placement JSON. Deletes the placement only while it is still that one. */
const UNPLACE_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;

/**
 * KEYS: proc, place, deleted. ARGV: old id, new id, record JSON. A rename: refused ('exists') when the new
 * id is taken; the placement moves with the record.
 */
const RENAME_LUA = `
if ARGV[1] ~= ARGV[2] and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return 'exists' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local p = redis.call('HGET', KEYS[2], ARGV[1])
if p and ARGV[1] ~= ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[2], p)
end
redis.call('HDEL', KEYS[3], ARGV[2])
if ARGV[1] ~= ARGV[2] then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
return 'ok'
`;

/** KEYS: proc, place, deleted. ARGV: pid, now ms. */
const FORGET_LUA = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`;

/** KEYS: proc, deleted. ARGV: pid, record JSON. A create: 0 when the id is taken. */
const CREATE_LUA = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

interface TableRedis extends Redis {
  drakeFailover(nodes: string, place: string, epoch: string, proc: string, leasePrefix: string): Promise<Array<string | number>>;
  drakeClaim(place: string, epoch: string, pid: string, node: string, least: number): Promise<string>;
  drakeUnplace(place: string, pid: string, placement: string): Promise<number>;
  drakeRename(proc: string, place: string, deleted: string, from: string, to: string, record: string, now: number): Promise<string>;
  drakeForget(proc: string, place: string, deleted: string, pid: string, now: number): Promise<number>;
  drakeCreate(proc: string, deleted: string, pid: string, record: string): Promise<number>;
}

export function defineTable(redis: Redis): void {
  redis.defineCommand('drakeFailover', { numberOfKeys: 4, lua: FAILOVER_LUA });
  redis.defineCommand('drakeClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
  redis.defineCommand('drakeUnplace', { numberOfKeys: 1, lua: UNPLACE_LUA });
  redis.defineCommand('drakeRename', { numberOfKeys: 3, lua: RENAME_LUA });
  redis.defineCommand('drakeForget', { numberOfKeys: 3, lua: FORGET_LUA });
  redis.defineCommand('drakeCreate', { numberOfKeys: 2, lua: CREATE_LUA });
}

export function parseRecord(raw: string | null | undefined): TableRecord | null {
  if (!raw) return null;
  try {
    return tableRecordSchema.parse(JSON.parse(raw));
  } catch {
    return null;
  }
}

export function parsePlacement(raw: string | null | undefined): Placement | null {
  if (!raw) return null;
  try {
    return placementSchema.parse(JSON.parse(raw));
  } catch {
    return null;
  }
}

/** The process table of one cluster (key prefix) on one connection. */
export class ProcessTable {
  readonly keys: TableKeys;
  readonly #r: TableRedis;

  constructor(redis: Redis, keys: TableKeys) {
    this.#r = redis as TableRedis;
    this.keys = keys;
  }

  async record(id: string): Promise<TableRecord | null> {
    return parseRecord(await this.#r.hget(this.keys.proc, id));
  }

  async placement(id: string): Promise<Placement | null> {
    return parsePlacement(await this.#r.hget(this.keys.place, id));
  }

  /** Every record and placement; invalid entries are skipped (and named in `invalid`). */
  async all(): Promise<{ records: Map<string, TableRecord>; placements: Map<string, Placement>; invalid: string[] }> {
    const [[e1, rawProc], [e2, rawPlace]] = ((await this.#r.pipeline().hgetall(this.keys.proc).hgetall(this.keys.place).exec()) ?? []) as Array<[Error | null, Record<string, string>]>;
    if (e1 || e2) throw e1 ?? e2;
    const records = new Map<string, TableRecord>();
    const placements = new Map<string, Placement>();
    const invalid: string[] = [];
    for (const [id, raw] of Object.entries(rawProc ?? {})) {
      const rec = parseRecord(raw);
      if (rec && rec.id === id) records.set(id, rec);
      else invalid.push(id);
    }
    for (const [id, raw] of Object.entries(rawPlace ?? {})) {
      const p = parsePlacement(raw);
      if (p) placements.set(id, p);
    }
    return { records, placements, invalid };
  }

  /** A new record; false when the id is taken. */
  async create(rec: TableRecord): Promise<boolean> {
    return (await this.#r.drakeCreate(this.keys.proc, this.keys.deleted, rec.id, JSON.stringify(rec))) === 1;
  }

  /** Writes a record as it is now (its placement is untouched). */
  async save(rec: TableRecord): Promise<void> {
    await this.#r.hset(this.keys.proc, rec.id, JSON.stringify(rec));
  }

  /** Writes a record back only when the table lacks it and it was not deleted meanwhile; true when written. */
  async restore(rec: TableRecord): Promise<boolean> {
    if (await this.#r.hexists(this.keys.deleted, rec.id)) return false;
    return (await this.#r.hsetnx(this.keys.proc, rec.id, JSON.stringify(rec))) === 1;
  }

  /** A rename (or a plain save when from === rec.id); false when the new id is taken. */
  async rename(from: string, rec: TableRecord): Promise<boolean> {
    return (await this.#r.drakeRename(this.keys.proc, this.keys.place, this.keys.deleted, from, rec.id, JSON.stringify(rec), Date.now())) === 'ok';
  }

  async forget(id: string): Promise<void> {
    await this.#r.drakeForget(this.keys.proc, this.keys.place, this.keys.deleted, id, Date.now());
  }

  async unplace(id: string, p: Placement): Promise<void> {
    await this.#r.drakeUnplace(this.keys.place, id, JSON.stringify({ node: p.node, epoch: p.epoch }));
  }

  async claim(id: string, node: string, leastEpoch: number): Promise<Placement | null> {
    return parsePlacement(await this.#r.drakeClaim(this.keys.place, this.keys.epoch, id, node, leastEpoch));
  }

  /** Runs the failover script; what it moved. */
  async failover(): Promise<Array<{ id: string; node: string; epoch: number }>> {
    const flat = await this.#r.drakeFailover(this.keys.nodes, this.keys.place, this.keys.epoch, this.keys.proc, this.keys.leasePrefix);
    const out: Array<{ id: string; node: string; epoch: number }> = [];
    for (let i = 0; i + 2 < flat.length; i += 3) out.push({ id: String(flat[i]), node: String(flat[i + 1]), epoch: Number(flat[i + 2]) });
    return out;
  }

  /** The table's generation: created when missing. `created` means Redis had lost (or never had) the table. */
  async generation(fresh: string): Promise<{ gen: string; created: boolean }> {
    const set = await this.#r.set(this.keys.gen, fresh, 'NX');
    if (set === 'OK') return { gen: fresh, created: true };
    return { gen: (await this.#r.get(this.keys.gen)) ?? fresh, created: false };
  }

  /** Drops tombstones older than `ms`. */
  async pruneTombstones(ms: number): Promise<void> {
    const all = await this.#r.hgetall(this.keys.deleted);
    const old = Object.entries(all).filter(([, at]) => Date.now() - Number(at) > ms).map(([id]) => id);
    if (old.length) await this.#r.hdel(this.keys.deleted, ...old);
  }
}
