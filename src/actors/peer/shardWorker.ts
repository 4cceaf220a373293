// Entry of a peer shard worker: a PeerShard on its own thread (its own shared UDP port and werift peers)
// fed from the stream's packet ring instead of the stream actor's sockets. The stream actor starts it when
// its own thread has as many viewers as webrtc.viewers_per_shard, and routes WHEP calls to it.
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { toCallResult as guard } from '../../shared/callResult.ts';
import { nodeEndpoint } from '../../shared/comlinkNode.ts';
import { Logger } from '../../shared/log.ts';
import type { ShardEvent, ShardInit, ShardWorkerApi } from '../../shared/protocol.ts';
import { PacketRing, RingReader, type RingSlotMeta } from '../../shared/ring.ts';
import { threadRuntime } from '../../shared/runtime.ts';
import { PeerShard } from './PeerShard.ts';

const log = new Logger('shardWorker');
const port = (workerData as { port: MessagePort }).port;
/** Longest a reader sleeps without a notify (a stream with no packets still notices close). */
const WAIT_MS = 200;

let shard: PeerShard | null = null;
let reader: RingReader | null = null;
let closed = false;

function need(): PeerShard {
  if (!shard) throw new Error('shard worker not initialised');
  return shard;
}

const post = (e: ShardEvent) => port.postMessage(e);

/** One copy per packet (not per viewer): the GOP cache and NACK histories keep it past the ring's lap. */
function deliver(view: Buffer, meta: RingSlotMeta): void {
  const pkt = Buffer.allocUnsafe(meta.length);
  view.copy(pkt, 0, 0, meta.length);
  if (!reader!.intact()) return; // overwritten while copying: counted as missed
  // The writer stamps arrival on its clock origin; this thread's performance.now() has another origin.
  const at = meta.arrivedAt - performance.timeOrigin;
  if (meta.kind === 'video') shard!.video(pkt, at);
  else shard!.audio(pkt, at);
}

async function pump(): Promise<void> {
  while (!closed && reader) {
    const r = await reader.waitAsync(WAIT_MS);
    if (r === 'closed') break;
    reader.read(deliver);
    // What this read found leaves now, viewer by viewer (not at the next turn of the event loop).
    shard?.flushLive();
  }
}

const api: ShardWorkerApi = {
  init: (init: ShardInit) =>
    guard(() => {
      if (shard) throw new Error('shard worker already initialised');
      shard = new PeerShard(init.webrtc, {
        onCount: (viewers) => post({ event: 'shard.viewers', viewers }),
        onClosed: (sessionId) => post({ event: 'shard.closed', sessionId }),
      });
      // From the oldest packet the ring still holds: the GOP cache is warm before the first viewer.
      reader = new RingReader(PacketRing.attach(init.ring), { startAt: 'oldest' });
      reader.read(deliver);
      void pump().catch((err: unknown) => {
        log.error(`shard ${init.index} of ${init.processId}: ring reader stopped: ${String(err)}`);
      });
    }),
  create: (offer, hasAudio, max) => guard(() => need().create(offer, hasAudio, max)),
  patch: (id, frag, ifMatch) => guard(() => need().patch(id, frag, ifMatch)),
  remove: (id) => guard(() => need().remove(id)),
  stats: () =>
    guard(() => {
      const s = need().stats();
      // Packets this shard's reader lost to the ring lapping it, reported as ingest-side drops.
      return { ...s, ringMissed: reader?.missed ?? 0 };
    }),
  sessions: () => guard(() => need().sessions()),
  resetMedia: () => guard(() => need().resetMedia()),
  runtime: () => guard(() => threadRuntime()),
  close: (reason) =>
    guard(async () => {
      closed = true;
      await shard?.dispose(reason);
    }),
  crash: () =>
    guard(() => {
      setImmediate(() => {
        throw new Error('forced shard crash (test hook)');
      });
    }),
};

Comlink.expose(api, nodeEndpoint(port));
