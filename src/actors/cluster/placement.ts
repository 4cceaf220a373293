// Placement of a process on a node, decided inside Redis by one Lua script: reading the nodes' load and
// writing the placement happen atomically, so two nodes placing at once can never both pick a node on
// the same stale figures (a read-then-write race would pile a burst of creates onto one node).
//
// Rule: an explicit `node` is taken when that node is online (its lease lives), else refused. Otherwise
// the online node with the most effective room wins, where effective room = the `room` of its last
// heartbeat − 0.05 per process placed on it since (placements it does not report yet), and nodes
// within 0.1 of the best count as equal (machine load moves by that much between samples): among
// those the fewest placed processes, then the id.
// Every placement takes a new epoch from one INCR counter: the fencing token an owner must hold to
// run the process (a returning node whose placement carries an older epoch, or another node, stops).
import type { Redis } from 'ioredis';
import { z } from 'zod';

export interface PlacementKeys {
  /** Hash: node id → record JSON (the registry). */
  nodes: string;
  /** Hash: process id → placement JSON. */
  place: string;
  /** Counter of epochs. */
  epoch: string;
  /** A node's lease key is this + its id. */
  leasePrefix: string;
}

export const placementSchema = z.object({ node: z.string(), epoch: z.number().int().positive() });
export type Placement = z.output<typeof placementSchema>;

/**
 * Lua: choose(pid, exclude) → the online node with most effective room (ARGV-free: takes the keys and
 * the lease prefix as upvalues `nodesKey`, `placeKey`, `leasePrefix`), or nil when none has room.
 * Shared by the placement and the failover scripts, so a failover follows the same rule as a create.
 */
export const CHOOSE_LUA = `
local function online(id) return redis.call('EXISTS', leasePrefix .. id) == 1 end
local function choose(pid, exclude)
  local placed = {}
  local entries = redis.call('HVALS', placeKey)
  for i = 1, #entries do
    local ok, p = pcall(cjson.decode, entries[i])
    if ok and type(p) == 'table' and p.node then placed[p.node] = (placed[p.node] or 0) + 1 end
  end
  local all = redis.call('HGETALL', nodesKey)
  local cands = {}
  for i = 1, #all, 2 do
    local id = all[i]
    if id ~= exclude and online(id) then
      local ok, rec = pcall(cjson.decode, all[i + 1])
      if ok and type(rec) == 'table' and type(rec.load) == 'table' then
        local n = placed[id] or 0
        local pending = math.max(0, n - (tonumber(rec.load.processes) or 0))
        local left = rec.load.processes_left
        if type(left) ~= 'number' or left - pending > 0 then
          table.insert(cands, { id = id, eff = (tonumber(rec.load.room) or 0) - 0.05 * pending, n = n })
        end
      end
    end
  end
  if #cands == 0 then return nil end
  local best = cands[1].eff
  for _, c in ipairs(cands) do if c.eff > best then best = c.eff end end
  local chosen = nil
  for _, c in ipairs(cands) do
    if c.eff >= best - 0.1 and (chosen == nil or c.n < chosen.n or (c.n == chosen.n and c.id < chosen.id)) then chosen = c end
  end
  return chosen.id
end
`;

/**
 * KEYS: nodes, place, epoch. ARGV: process id, wanted node ('' = any), lease key prefix, mode
 * ('keep': an existing placement on an online node stands; 'move': place anew, never on the current node).
 * Lease keys are derived in the script: fine for one Redis (not for Redis Cluster, which drake does not use).
 */
const PLACE_LUA = `
local pid, wanted, leasePrefix, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nodesKey, placeKey = KEYS[1], KEYS[2]
${CHOOSE_LUA}
local current = redis.call('HGET', KEYS[2], pid)
local cur = current and cjson.decode(current) or nil
if cur and mode == 'keep' and online(cur.node) and (wanted == '' or wanted == cur.node) then return current end
local chosen = nil
if wanted ~= '' then
  if not online(wanted) then return redis.error_reply('NODE_OFFLINE node ' .. wanted .. ' is not online') end
  chosen = wanted
else
  chosen = choose(pid, (mode == 'move' and cur) and cur.node or '')
  if chosen == nil then return redis.error_reply('NO_NODE no online node has room for process ' .. pid) end
end
local epoch = redis.call('INCR', KEYS[3])
local out = cjson.encode({ node = chosen, epoch = epoch })
redis.call('HSET', KEYS[2], pid, out)
return out
`;

interface PlacingRedis extends Redis {
  drakePlace(nodes: string, place: string, epoch: string, pid: string, wanted: string, leasePrefix: string, mode: string): Promise<string>;
}

export class PlacementError extends Error {
  constructor(
    readonly code: 'NODE_OFFLINE' | 'NO_NODE',
    message: string,
  ) {
    super(message);
  }
}

/** Registers the script on a connection (EVALSHA, loaded again after a Redis restart by ioredis). */
export function definePlacement(redis: Redis): void {
  redis.defineCommand('drakePlace', { numberOfKeys: 3, lua: PLACE_LUA });
}

/** Places (or with mode 'move' re-places) a process; throws PlacementError when no node fits. */
export async function place(redis: Redis, keys: PlacementKeys, processId: string, wanted = '', mode: 'keep' | 'move' = 'keep'): Promise<Placement> {
  let raw: string;
  try {
    raw = await (redis as PlacingRedis).drakePlace(keys.nodes, keys.place, keys.epoch, processId, wanted, keys.leasePrefix, mode);
  } catch (err) {
    const m = /^(NODE_OFFLINE|NO_NODE) (.*)$/.exec((err as Error).message);
    if (m) throw new PlacementError(m[1] as PlacementError['code'], m[2]!);
    throw err;
  }
  return placementSchema.parse(JSON.parse(raw));
}
