// The shared port's live packets on their way out: held (references, never copies) until they can leave
// together, then handed to the shard's flush in arrival order.
//
// What one I/O pass of the event loop read leaves at its end (setImmediate), or when the owner says a read
// ended (endOfRead: a shard worker after each ring read). A full queue (`limit`: the owner's bound on
// packets × viewers per send) leaves at once.
//
// byFrame also holds a video frame until its last packet (the RTP marker bit, which H264 packetizers set on
// a frame's last packet): a viewer cannot decode the frame before that packet anyway, so holding the earlier
// ones does not delay the picture, and a source that paces a frame's packets over several passes still gets
// one sendmmsg per frame. Audio leaves with the frame, or at the end of its pass when no frame is open. A
// frame whose marker has not come within `frameWaitMs` (lost, a source that sets none) leaves as far as it got.

/** Receives the first `n` queued packets; the queue forgets them when it returns. */
export type LiveFlush = (pkts: ReadonlyArray<Buffer | null>, arrivedAt: Float64Array, isVideo: Uint8Array, n: number) => void;

export interface LiveQueueOptions {
  /** Hold video until its frame's marker (false: everything read in a pass leaves at its end). */
  byFrame: boolean;
  /** Capacity: the most packets one flush hands over. */
  max: number;
  frameWaitMs: number;
}

export class LiveQueue {
  readonly #flush: LiveFlush;
  readonly #byFrame: boolean;
  readonly #frameWaitMs: number;
  readonly #pkts: Array<Buffer | null>;
  readonly #at: Float64Array;
  readonly #video: Uint8Array;
  readonly max: number;
  #count = 0;
  /** Packets [0, #closed) end where no video frame is open: they may leave at the end of the pass. */
  #closed = 0;
  /** The last queued video packet was not its frame's last. */
  #frameOpen = false;
  #limit: number;
  #scheduled = false;
  /** Armed while an open frame waits for its marker. */
  #timer: NodeJS.Timeout | null = null;
  /** Flushes by cause (the unit tests read them): end of a pass/read, queue full, frame wait over. */
  readonly flushes = { complete: 0, full: 0, late: 0 };

  readonly #atEndOfPass = (): void => {
    this.#scheduled = false;
    this.endOfRead();
  };
  readonly #late = (): void => {
    this.#timer = null;
    if (this.#count > 0) this.flushes.late++;
    this.flushAll();
  };

  constructor(flush: LiveFlush, opts: LiveQueueOptions) {
    this.#flush = flush;
    this.#byFrame = opts.byFrame;
    this.#frameWaitMs = opts.frameWaitMs;
    this.max = opts.max;
    this.#limit = opts.max;
    this.#pkts = new Array<Buffer | null>(opts.max).fill(null);
    this.#at = new Float64Array(opts.max);
    this.#video = new Uint8Array(opts.max);
  }

  get length(): number {
    return this.#count;
  }

  /** The most packets one flush may hand over from now on (1..max), e.g. fewer when there are more viewers. */
  set limit(n: number) {
    this.#limit = Math.max(1, Math.min(this.max, Math.floor(n)));
  }

  push(pkt: Buffer, arrivedAt: number, video: boolean): void {
    const i = this.#count++;
    this.#pkts[i] = pkt;
    this.#at[i] = arrivedAt;
    this.#video[i] = video ? 1 : 0;
    if (video) this.#frameOpen = this.#byFrame && (pkt[1]! & 0x80) === 0;
    if (!this.#frameOpen) this.#closed = i + 1;
    if (this.#count >= this.#limit) {
      this.flushes.full++;
      return this.flushAll();
    }
    if (this.#frameOpen) {
      this.#timer ??= setTimeout(this.#late, this.#frameWaitMs);
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#atEndOfPass);
    }
  }

  /** A read ended: what is complete leaves now; an open frame stays. */
  endOfRead(): void {
    if (this.#closed === 0) return;
    this.flushes.complete++;
    this.#take(this.#closed);
  }

  /** Everything leaves now (frame or not): the wait is over, the queue is full, or the owner closes. */
  flushAll(): void {
    if (this.#count > 0) this.#take(this.#count);
  }

  #take(n: number): void {
    const count = this.#count;
    const pkts = this.#pkts;
    const at = this.#at;
    const video = this.#video;
    try {
      this.#flush(pkts, at, video, n);
    } finally {
      // The open frame's packets move to the front (a handful of references).
      const rest = count - n;
      for (let j = 0; j < rest; j++) {
        pkts[j] = pkts[n + j]!;
        at[j] = at[n + j]!;
        video[j] = video[n + j]!;
      }
      pkts.fill(null, rest, count);
      this.#count = rest;
      this.#closed = 0;
      if (rest === 0) {
        this.#frameOpen = false;
        if (this.#timer) clearTimeout(this.#timer);
        this.#timer = null;
      } else {
        this.#timer ??= setTimeout(this.#late, this.#frameWaitMs);
      }
    }
  }
}
