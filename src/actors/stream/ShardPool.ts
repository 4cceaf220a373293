// The stream actor's extra peer shards: worker threads that read the stream's packet ring and serve
// viewers beyond what the actor's own thread takes (webrtc.viewers_per_shard each). New viewers go to the
// first shard with room; a shard that dies takes only its own viewers with it (they can re-join) and the
// next viewer that needs room starts a fresh one.
import { MessageChannel, type Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from '../../shared/comlinkNode.ts';
import { NotFoundError, rebuildError, WorkerClosedError } from '../../shared/errors.ts';
import { Logger } from '../../shared/log.ts';
import type { CallResult, RuntimeDto, SendCountersDto, ShardEvent, ShardInit, ShardWorkerApi, WhepCreatedDto, WhepSessionDto, WhepStatsDto } from '../../shared/protocol.ts';
import { siblingModule, startWorker } from '../../shared/startWorker.ts';

const log = new Logger('ShardPool');
const SHARD_ENTRY = siblingModule('../peer/shardWorker', import.meta.url);

class ShardHandle {
  readonly index: number;
  readonly worker: Worker;
  readonly remote: Comlink.Remote<ShardWorkerApi>;
  readonly sessions = new Set<string>();
  viewers = 0;
  pending = 0;
  dead = false;
  /** Settles when the worker has taken its init (joins that chose this shard wait for it). */
  ready: Promise<void> = Promise.resolve();
  readonly #closed: Promise<never>;
  #reject!: (err: Error) => void;

  constructor(index: number, processId: string, onEvent: (e: ShardEvent) => void, onDeath: (reason: string) => void) {
    this.index = index;
    const { port1, port2 } = new MessageChannel();
    this.worker = startWorker(SHARD_ENTRY, { workerData: { port: port2 }, transferList: [port2], name: `shard:${processId}:${index}` });
    this.#closed = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.#closed.catch(() => undefined);
    this.remote = Comlink.wrap<ShardWorkerApi>(nodeEndpoint(port1));
    port1.on('message', (data: ShardEvent) => {
      if (data && typeof data === 'object' && 'event' in data) setImmediate(() => onEvent(data));
    });
    let lastError = '';
    this.worker.on('error', (err) => {
      lastError = err.message;
    });
    this.worker.on('exit', (code) => {
      this.dead = true;
      port1.close();
      const reason = lastError ? `crashed: ${lastError}` : `exited with code ${code}`;
      this.#reject(new WorkerClosedError(`peer shard ${index} ${reason}`));
      onDeath(reason);
    });
  }

  async call<T>(invoke: () => Promise<CallResult<T>>): Promise<T> {
    if (this.dead) throw new WorkerClosedError(`peer shard ${this.index} is gone`);
    const result = await Promise.race([invoke(), this.#closed]);
    if (!result.ok) throw rebuildError(result.error);
    return result.value;
  }
}

export class ShardPool {
  readonly #init: Omit<ShardInit, 'index'>;
  readonly #onCount: () => void;
  readonly #shards: ShardHandle[] = [];
  readonly #owner = new Map<string, ShardHandle>();
  #next = 1;
  #closed = false;

  constructor(init: Omit<ShardInit, 'index'>, onCount: () => void) {
    this.#init = init;
    this.#onCount = onCount;
  }

  get viewers(): number {
    let n = 0;
    for (const s of this.#shards) n += s.viewers + s.pending;
    return n;
  }

  get size(): number {
    return this.#shards.length;
  }

  owns(sessionId: string): boolean {
    return this.#owner.has(sessionId);
  }

  async create(offer: string, hasAudio: boolean, perShard: number): Promise<WhepCreatedDto> {
    if (this.#closed) throw new WorkerClosedError('the stream is closing');
    // Choose and reserve without an await in between: joins arriving while a new shard starts must see
    // the place this one took, or a burst overfills the shard and its last joins get a 503.
    const shard = this.#shards.find((s) => !s.dead && s.viewers + s.pending < perShard) ?? this.#spawn();
    shard.pending++;
    try {
      await shard.ready;
      const created = await shard.call(() => shard.remote.create(offer, hasAudio, perShard));
      shard.sessions.add(created.id);
      this.#owner.set(created.id, shard);
      return created;
    } finally {
      shard.pending--;
    }
  }

  #spawn(): ShardHandle {
    const index = this.#next++;
    const shard: ShardHandle = new ShardHandle(
      index,
      this.#init.processId,
      (e) => {
        if (e.event === 'shard.viewers') shard.viewers = e.viewers;
        else {
          shard.sessions.delete(e.sessionId);
          this.#owner.delete(e.sessionId);
        }
        this.#onCount();
      },
      (reason) => this.#died(shard, reason),
    );
    this.#shards.push(shard);
    shard.ready = shard.call(() => shard.remote.init({ ...this.#init, index })).then(
      () => log.info(`${this.#init.processId}: peer shard ${index} started`),
      (err: unknown) => {
        void shard.worker.terminate();
        throw err;
      },
    );
    return shard;
  }

  #died(shard: ShardHandle, reason: string): void {
    const i = this.#shards.indexOf(shard);
    if (i >= 0) this.#shards.splice(i, 1);
    for (const id of shard.sessions) this.#owner.delete(id);
    if (!this.#closed) log.warn(`${this.#init.processId}: peer shard ${shard.index} ${reason}; its ${shard.sessions.size} viewer(s) were dropped`);
    shard.sessions.clear();
    shard.viewers = 0;
    this.#onCount();
  }

  #shardOf(sessionId: string): ShardHandle {
    const s = this.#owner.get(sessionId);
    if (!s) throw new NotFoundError(`unknown WHEP session ${sessionId}`);
    return s;
  }

  patch(sessionId: string, frag: string, ifMatch: string | null) {
    const s = this.#shardOf(sessionId);
    return s.call(() => s.remote.patch(sessionId, frag, ifMatch));
  }

  remove(sessionId: string): Promise<boolean> {
    const s = this.#owner.get(sessionId);
    return s ? s.call(() => s.remote.remove(sessionId)) : Promise.resolve(false);
  }

  async stats(): Promise<WhepStatsDto[]> {
    const all = await Promise.all(this.#shards.map((s) => s.call(() => s.remote.stats()).catch(() => null)));
    return all.filter((s): s is WhepStatsDto => s !== null);
  }

  async sessions(): Promise<WhepSessionDto[]> {
    const all = await Promise.all(this.#shards.map((s) => s.call(() => s.remote.sessions()).catch(() => [])));
    return all.flat();
  }

  async runtimes(): Promise<RuntimeDto[]> {
    const all = await Promise.all(this.#shards.map((s) => s.call(() => s.remote.runtime()).catch(() => null)));
    return all.filter((r): r is RuntimeDto => r !== null);
  }

  resetMedia(): void {
    for (const s of this.#shards) void s.call(() => s.remote.resetMedia()).catch(() => undefined);
  }

  /** Test hook: crash shard `index` (1-based, in start order). */
  async crashForTest(index: number): Promise<void> {
    const s = this.#shards.find((x) => x.index === index);
    if (!s) throw new NotFoundError(`no peer shard ${index}`);
    await s.call(() => s.remote.crash());
  }

  async close(reason: string): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#shards.map(async (s) => {
        await s.call(() => s.remote.close(reason)).catch(() => undefined);
        await s.worker.terminate();
      }),
    );
  }
}

/** One stats view of several shards: counters add up, latency histograms merge. */
export function mergeStats(parts: WhepStatsDto[]): WhepStatsDto {
  const [first, ...rest] = parts;
  const out: WhepStatsDto = { ...first!, latency: first!.latency ? { ...first!.latency, counts: [...first!.latency.counts] } : null };
  if (first!.send) out.send = { live: { ...first!.send.live }, burst: { ...first!.send.burst }, gso: first!.send.gso };
  if (first!.port) out.port = { ...first!.port };
  for (const p of rest) {
    out.viewers += p.viewers;
    out.packets += p.packets;
    out.bytes += p.bytes;
    out.nacks += p.nacks;
    out.retransmits += p.retransmits;
    out.plis += p.plis;
    out.bursts += p.bursts;
    out.plisIgnored += p.plisIgnored;
    out.batchDrops += p.batchDrops;
    out.batched += p.batched;
    if (p.send) {
      if (!out.send) out.send = { live: { ...p.send.live }, burst: { ...p.send.burst }, gso: p.send.gso };
      else {
        for (const k of Object.keys(p.send.live) as Array<keyof SendCountersDto>) {
          out.send.live[k] += p.send.live[k];
          out.send.burst[k] += p.send.burst[k];
        }
        out.send.gso &&= p.send.gso;
      }
    }
    if (p.port) {
      if (!out.port) out.port = { ...p.port };
      else {
        for (const k of ['received', 'reads', 'dropped', 'kernelDropped', 'stunAnswered', 'stunRequestsSent'] as const) out.port[k] += p.port[k];
        // Every shard reads its port the same way (one addon, one switch); 'dgram' if any one does not.
        if (p.port.reader === 'dgram') out.port.reader = 'dgram';
        out.port.paced ||= p.port.paced;
      }
    }
    out.ringMissed = (out.ringMissed ?? 0) + (p.ringMissed ?? 0);
    if (p.latency) {
      if (!out.latency) out.latency = { ...p.latency, counts: [...p.latency.counts] };
      else {
        p.latency.counts.forEach((c, i) => (out.latency!.counts[i]! += c));
        out.latency.max_us = Math.max(out.latency.max_us, p.latency.max_us);
      }
    }
  }
  out.shards = parts.length;
  return out;
}
