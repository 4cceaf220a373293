// Different packets, to one or more viewers of a shard, that leave together: a pacer tick's burst packets for
// every bursting viewer (join and PLI repair bursts, ≤ 240 a tick), or the answers to one NACK. Each packet is
// protected into the next slot of a reused buffer as it is added (protectInto: nothing allocated per packet),
// and flush() hands them all to one sendBatch: one sendmmsg instead of one per packet, and a viewer's run of
// equal-size packets (FFmpeg's FU-A fragments fill pkt_size) becomes one UDP GSO train. Packets leave in the
// order they were added, so a viewer's order is kept.
import type { Socket } from 'node:dgram';
import { Destinations, MAX_TAG, protectInto, protectRun, sendBatch, sendCounters, type SrtpContext } from '../../shared/srtp/index.ts';
import { BATCH_MTU } from './BatchSend.ts';
import type { LiveStage } from './LiveStage.ts';

const STRIDE = BATCH_MTU + MAX_TAG;

export class BurstBatch {
  readonly #socket: Socket;
  #capacity = 0;
  #out = Buffer.alloc(0);
  #lengths = new Uint32Array(0);
  #dests = new Destinations(1);
  #count = 0;
  /** sendmmsg calls, messages, packets, GSO trains (SEND_COUNTER), for stats and the bench. */
  readonly counters = sendCounters();
  /** Packets the kernel did not take (socket buffer full): the viewers NACK them. */
  drops = 0;
  /** Packets the kernel took. */
  sent = 0;

  constructor(socket: Socket, initialCapacity = 256) {
    this.#socket = socket;
    this.#grow(initialCapacity);
  }

  get pending(): number {
    return this.#count;
  }

  /**
   * Protects `src` with bytes 1..11 of `header` (M/PT, seq, timestamp, SSRC) for the viewer at `dest` slot 0
   * into the next slot. `src` must be an RTP packet of 12..BATCH_MTU bytes (the caller checks).
   */
  add(ctx: SrtpContext, src: Buffer, header: Buffer, dest: Destinations): void {
    if (this.#count === this.#capacity) this.#grow(this.#capacity * 2);
    const i = this.#count;
    protectInto(ctx, src, header, this.#out, i, STRIDE, this.#lengths);
    this.#dests.copyFrom(i, dest, 0);
    this.#count = i + 1;
  }

  /**
   * A viewer's share of a staged live flush (the kinds in `mask`, video first; see protectRun) with its header
   * values in `params` (its seqs move on there), for the viewer at `dest` slot 0, in one native call. Returns
   * how many packets were added.
   */
  addRun(ctx: SrtpContext, stage: LiveStage, mask: number, params: Uint32Array, dest: Destinations): number {
    const at = this.#count;
    if (at + stage.count > this.#capacity) this.#grow(Math.max(this.#capacity * 2, at + stage.count));
    const k = protectRun(ctx, stage.buf, stage.offsets, stage.lens, stage.kinds, stage.count, mask, params, this.#out, at, STRIDE, this.#lengths);
    for (let j = 0; j < k; j++) this.#dests.copyFrom(at + j, dest, 0);
    this.#count = at + k;
    return k;
  }

  /** Sends every packet added since the last flush in one sendBatch; returns how many the kernel took. */
  flush(): number {
    const k = this.#count;
    if (k === 0) return 0;
    this.#count = 0;
    const sent = sendBatch(this.#socket, this.#out, STRIDE, this.#lengths, this.#dests, k, this.counters);
    this.drops += k - sent;
    this.sent += sent;
    return sent;
  }

  #grow(capacity: number): void {
    const out = Buffer.allocUnsafe(capacity * STRIDE);
    this.#out.copy(out, 0, 0, this.#count * STRIDE);
    const lengths = new Uint32Array(capacity);
    lengths.set(this.#lengths.subarray(0, this.#count));
    const dests = new Destinations(capacity);
    for (let i = 0; i < this.#count; i++) dests.copyFrom(i, this.#dests, i);
    this.#out = out;
    this.#lengths = lengths;
    this.#dests = dests;
    this.#capacity = capacity;
  }
}
