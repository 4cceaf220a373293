// A node's reconcile pass, once a second and whenever it (re)gains its lease: the table in Redis is
// the truth, the supervisor (and its db.json) this node's cache of what it owns.
// 1. Generation: a table that is gone (Redis restarted empty) or new to this node gets the node's
//    processes written back (unless deleted meanwhile: tombstones), each placed on this node if unplaced.
// 2. Failover: the script re-places the processes of lost nodes (atomic: every node runs it, each
//    process moves once).
// 3. Ownership: placements naming this node are adopted (added, or config/order/metadata brought in
//    line with the table) and may run; local processes placed elsewhere, or deleted, are stopped and
//    dropped from the cache. A placement naming this node without a record is a create in flight.
import { randomBytes } from 'node:crypto';
import { errorText } from '../../shared/errors.ts';
import { Logger } from '../../shared/log.ts';
import type { ClusterNode, OwnedProcesses } from './ClusterNode.ts';

const log = new Logger('cluster');
const TOMBSTONE_MS = 7 * 24 * 3600 * 1000;

export class Reconciler {
  readonly #node: ClusterNode;
  readonly #sup: OwnedProcesses;
  #running = false;
  #again = false;
  #gen: string | null = null;
  #lastError = '';
  #passes = 0;

  constructor(node: ClusterNode, sup: OwnedProcesses) {
    this.#node = node;
    this.#sup = sup;
  }

  /** One pass now (or right after the one under way). */
  async tick(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        await this.#node.exclusive(() => this.#pass());
      } while (this.#again);
    } finally {
      this.#running = false;
    }
  }

  async #pass(): Promise<void> {
    const node = this.#node;
    if (!node.connected || !node.joined) return;
    const seq = node.joinSeq;
    const table = node.table;
    try {
      const { gen, created } = await table.generation(randomBytes(12).toString('hex'));
      if (created || gen !== this.#gen) await this.#writeBack(created);
      this.#gen = gen;
      await this.#flushDirty();
      for (const m of await table.failover()) log.warn(`cluster: process ${m.id} of a lost node placed on ${m.node} (epoch ${m.epoch})`);
      const { records, placements } = await table.all();
      if (seq !== node.joinSeq || !node.joined) return;
      const owned = new Map<string, number>();
      for (const [id, p] of placements) if (p.node === node.id && records.has(id)) owned.set(id, p.epoch);
      for (const id of this.#sup.ids()) {
        if (owned.has(id)) continue;
        const p = placements.get(id);
        if (p?.node === node.id) continue; // a create in flight: its record comes next
        if (!p && records.has(id)) {
          // In the table but unplaced (a write-back interrupted): this node holds it, so it takes it.
          const claimed = await table.claim(id, node.id, 0);
          if (claimed?.node === node.id) {
            owned.set(id, claimed.epoch);
            continue;
          }
        }
        node.owned.delete(id);
        const why = !records.has(id) ? 'deleted from the cluster table' : `placed on node ${p?.node ?? '(none)'}`;
        log.info(`cluster: process ${id} is ${why}: stopping it here`);
        await this.#sup.remove(id, { purge: false }).catch((err: unknown) => log.warn(`cluster: cannot drop ${id}: ${errorText(err)}`));
      }
      for (const [id, epoch] of owned) {
        node.owned.set(id, epoch);
        await this.#sup.adopt(records.get(id)!).catch((err: unknown) => log.error(`cluster: cannot take over process ${id}: ${errorText(err)}`));
      }
      for (const id of [...node.owned.keys()]) if (!owned.has(id)) node.owned.delete(id);
      await this.#sup.applyGateAll();
      if (++this.#passes % 3600 === 0) await table.pruneTombstones(TOMBSTONE_MS);
      this.#lastError = '';
    } catch (err) {
      const msg = errorText(err);
      if (msg !== this.#lastError && node.connected) log.warn(`cluster: reconcile failed: ${msg}`);
      this.#lastError = msg;
    }
  }

  /** What changed here without Redis goes into the table, unless the process was placed elsewhere meanwhile. */
  async #flushDirty(): Promise<void> {
    const node = this.#node;
    const table = node.table;
    const least = Math.max(0, ...node.owned.values());
    for (const id of [...node.dirty]) {
      const p = await table.placement(id);
      if (this.#sup.has(id)) {
        const rec = this.#sup.record(id);
        if (!(await table.record(id))) {
          if (await table.restore(rec)) await table.claim(id, node.id, least);
        } else if (!p || p.node === node.id) {
          await table.save(rec);
          if (!p) await table.claim(id, node.id, least);
        }
      } else if (p?.node === node.id) {
        await table.forget(id);
      }
      node.dirty.delete(id);
    }
  }

  /** Writes this node's processes back into a table that lacks them (new table, or Redis lost it). */
  async #writeBack(created: boolean): Promise<void> {
    const node = this.#node;
    const least = Math.max(0, ...node.owned.values());
    let n = 0;
    for (const id of this.#sup.ids()) {
      const rec = this.#sup.record(id);
      if (!(await node.table.restore(rec))) continue;
      await node.table.claim(id, node.id, least);
      n++;
    }
    if (created) log.warn(`cluster: the process table in Redis was empty (new cluster, or Redis lost its data): wrote back ${n} process(es) of this node`);
    else if (n) log.info(`cluster: wrote ${n} process(es) of this node into the cluster table`);
  }
}
