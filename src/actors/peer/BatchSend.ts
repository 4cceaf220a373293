// One source packet to every viewer of a shard that takes it live: each viewer's fixed header, SRTP
// context and address are staged into reused buffers, then one protectBatch (native SRTP for all of them)
// and one sendmmsg on the shard's shared socket. Buffers grow when the audience does, never per packet.
import type { Socket } from 'node:dgram';
import { Destinations, HEADER_SLOT, MAX_TAG, protectBatch, sendBatch, sendCounters, type SrtpContext } from '../../shared/srtp/index.ts';

/** Largest RTP packet taken (FFmpeg's RTP legs use pkt_size=1200). */
export const BATCH_MTU = 1500;
const STRIDE = BATCH_MTU + MAX_TAG;

export class BatchSend {
  readonly #socket: Socket;
  #capacity = 0;
  #headers = Buffer.alloc(0);
  #out = Buffer.alloc(0);
  #lengths = new Uint32Array(0);
  #dests = new Destinations(1);
  readonly #ctxs: SrtpContext[] = [];
  #count = 0;
  /** Viewer-packets the kernel did not take (socket buffer full): the viewers NACK them. */
  drops = 0;
  /** Viewer-packets the kernel took. */
  sent = 0;
  /** sendmmsg calls, messages, packets (SEND_COUNTER). */
  readonly counters = sendCounters();

  constructor(socket: Socket, initialCapacity = 64) {
    this.#socket = socket;
    this.#grow(initialCapacity);
  }

  get socket(): Socket {
    return this.#socket;
  }

  get pending(): number {
    return this.#count;
  }

  /**
   * Reserves the next viewer slot with its SRTP context and address; the caller writes bytes 1..11 of the
   * RTP header into `headers` at the returned offset (marker/PT, seq, timestamp, SSRC).
   */
  stage(ctx: SrtpContext, dest: Destinations): number {
    if (this.#count === this.#capacity) this.#grow(this.#capacity * 2);
    const i = this.#count++;
    this.#ctxs[i] = ctx;
    this.#dests.copyFrom(i, dest, 0);
    return i * HEADER_SLOT;
  }

  get headers(): Buffer {
    return this.#headers;
  }

  /** Protects and sends the staged viewers' copies of `src`; returns how many went out. */
  flush(src: Buffer): number {
    const k = this.#count;
    if (k === 0) return 0;
    this.#count = 0;
    if (src.length > BATCH_MTU || src.length < 12) return 0;
    protectBatch(this.#ctxs, src, this.#headers, this.#out, STRIDE, this.#lengths, k);
    const sent = sendBatch(this.#socket, this.#out, STRIDE, this.#lengths, this.#dests, k, this.counters);
    this.drops += k - sent;
    this.sent += sent;
    return sent;
  }

  #grow(capacity: number): void {
    const headers = Buffer.alloc(capacity * HEADER_SLOT);
    this.#headers.copy(headers);
    const dests = new Destinations(capacity);
    for (let i = 0; i < this.#count; i++) dests.copyFrom(i, this.#dests, i);
    this.#headers = headers;
    this.#dests = dests;
    this.#out = Buffer.allocUnsafe(capacity * STRIDE);
    this.#lengths = new Uint32Array(capacity);
    this.#capacity = capacity;
  }
}
