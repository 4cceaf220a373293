// The packet ring: one SharedArrayBuffer of fixed slots that the stream actor writes every RTP packet into
// once, and that peer shards in other threads read without a message per packet (DESIGN.md §2).
//
// One writer, any number of readers. The writer never waits: a reader that falls more than a ring behind
// jumps to the oldest packet still held and counts what it skipped. Each slot carries a seqlock stamp,
// even when complete and odd while being written, so a reader can tell that the slot it is looking at was
// overwritten under it, and count that packet as missed instead of delivering torn bytes.
//
// Sequences are unsigned 32-bit and wrap; every comparison is a modular difference, which stays exact
// while a reader is less than 2^32 packets behind (days at any real packet rate). Slot stamps keep 31
// bits of the sequence: a stale slot could only pass for a newer one after 2^31 writes during one visit.
//
// Layout (byte offsets):
//   0                     header, HEADER_WORDS Int32 words (named below)
//   64                    stamps        Int32[slots]
//   64 + 4·slots          info          Uint32[slots × 4]: length, RTP seq, RTP timestamp, flags
//   64 + 20·slots         arrivedAt     Float64[slots]
//   64 + 28·slots         payload       slots × slotBytes

export interface PacketRingOptions {
  /** Slot count, a power of two (2 … 2^20). Default 2048. */
  slots?: number;
  /** Largest packet a slot holds. Default 1536. */
  slotBytes?: number;
  /** First sequence the writer uses (uint32). Only tests need it: it puts the 32-bit wrap within reach. */
  initialSequence?: number;
}

export type MediaKind = 'video' | 'audio';

export interface PacketMeta {
  /** RTP sequence number as FFmpeg sent it. */
  seq: number;
  /** RTP timestamp (uint32). */
  timestamp: number;
  /** Arrival time in ms (performance.timeOrigin + performance.now(), or any clock the writer picks). */
  arrivedAt: number;
  kind: MediaKind;
  /** The packet starts a keyframe (IDR, or the SPS/PPS ahead of it). */
  keyframeStart: boolean;
  marker: boolean;
}

/** What a reader sees of one packet. The reader reuses one such object for every packet it visits. */
export interface RingSlotMeta extends PacketMeta {
  /** The ring's sequence number of this packet (uint32, wraps). */
  sequence: number;
  /** Packet bytes: the packet is view[0, length). */
  length: number;
}

/**
 * Called once per packet. `view` is the whole payload area of the slot inside the SharedArrayBuffer (no
 * copy): the packet is `view.subarray(0, meta.length)`, and both are only valid during the call.
 */
export type RingVisitor = (view: Buffer, meta: RingSlotMeta) => void;

export type RingWait = 'ok' | 'timed-out' | 'closed';

// Header words. HEAD shares its cache line only with words that change rarely (WAITERS: once per reader wait).
const HEAD = 0; // next sequence the writer will use (= packets written, mod 2^32); readers wait on it
const WAITERS = 1; // readers parked in waitAsync: with none, notify() skips Atomics.notify (it takes a lock)
const CLOSED = 2; // 1 once the writer closed the ring
const OVERSIZE = 3; // packets refused for not fitting a slot
const SLOTS = 4;
const SLOT_BYTES = 5;
const MAGIC = 6;
const HEADER_WORDS = 16;
const HEADER_BYTES = HEADER_WORDS * 4;
const MAGIC_VALUE = 0x52494e47; // 'RING'

// info words per slot
const INFO_STRIDE = 4;
const I_LENGTH = 0;
const I_SEQ = 1;
const I_TS = 2;
const I_FLAGS = 3;

const F_AUDIO = 1;
const F_KEYFRAME = 2;
const F_MARKER = 4;

/** Stamp of a complete slot holding `sequence`; `| 1` of it means "being written". Odd never matches. */
const stampOf = (sequence: number): number => (sequence << 1) | 0;
/** Never-written slots hold this: odd, so no reader takes them for a packet. */
const EMPTY_STAMP = 1;

interface Views {
  header: Int32Array;
  stamps: Int32Array;
  info: Uint32Array;
  arrivedAt: Float64Array;
  payload: Uint8Array;
}

const VIEWS = Symbol('views');

function views(sab: SharedArrayBuffer, slots: number, slotBytes: number): Views {
  let off = HEADER_BYTES;
  const stamps = new Int32Array(sab, off, slots);
  off += 4 * slots;
  const info = new Uint32Array(sab, off, slots * INFO_STRIDE);
  off += 4 * INFO_STRIDE * slots;
  const arrivedAt = new Float64Array(sab, off, slots); // 8-aligned: slots is a power of two ≥ 2
  off += 8 * slots;
  const payload = new Uint8Array(sab, off, slots * slotBytes);
  return { header: new Int32Array(sab, 0, HEADER_WORDS), stamps, info, arrivedAt, payload };
}

function byteLength(slots: number, slotBytes: number): number {
  return HEADER_BYTES + slots * (4 + 4 * INFO_STRIDE + 8 + slotBytes);
}

export class PacketRing {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly slotBytes: number;
  /** Typed-array views, for RingReader (the symbol is not exported). */
  readonly [VIEWS]: Views;
  readonly #mask: number;
  // Writer-side state. Only the one instance that writes uses it (the sequence is re-read from HEAD on attach).
  #next: number;
  #closed = false;

  private constructor(sab: SharedArrayBuffer, slots: number, slotBytes: number) {
    this.buffer = sab;
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.#mask = slots - 1;
    this[VIEWS] = views(sab, slots, slotBytes);
    this.#next = Atomics.load(this[VIEWS].header, HEAD) >>> 0;
  }

  static create(opts: PacketRingOptions = {}): PacketRing {
    const slots = opts.slots ?? 2048;
    const slotBytes = opts.slotBytes ?? 1536;
    if (!Number.isInteger(slots) || slots < 2 || slots > 1 << 20 || (slots & (slots - 1)) !== 0) {
      throw new RangeError(`slots must be a power of two in 2..2^20, got ${slots}`);
    }
    if (!Number.isInteger(slotBytes) || slotBytes < 12 || slotBytes > 65536) throw new RangeError(`slotBytes must be 12..65536, got ${slotBytes}`);
    const first = opts.initialSequence ?? 0;
    if (!Number.isInteger(first) || first < 0 || first > 0xffffffff) throw new RangeError(`initialSequence must be a uint32, got ${first}`);
    const sab = new SharedArrayBuffer(byteLength(slots, slotBytes));
    const v = views(sab, slots, slotBytes);
    v.stamps.fill(EMPTY_STAMP);
    v.header[HEAD] = first | 0;
    v.header[SLOTS] = slots;
    v.header[SLOT_BYTES] = slotBytes;
    Atomics.store(v.header, MAGIC, MAGIC_VALUE); // last: publishes the plain stores above to attach() elsewhere
    return new PacketRing(sab, slots, slotBytes);
  }

  /** The same ring in another thread (the SharedArrayBuffer came through postMessage or workerData). */
  static attach(sab: SharedArrayBuffer): PacketRing {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES) throw new TypeError('not a packet ring buffer');
    const header = new Int32Array(sab, 0, HEADER_WORDS);
    const slots = header[SLOTS]!;
    const slotBytes = header[SLOT_BYTES]!;
    if (Atomics.load(header, MAGIC) !== MAGIC_VALUE || sab.byteLength !== byteLength(slots, slotBytes)) {
      throw new TypeError('not a packet ring buffer (bad magic or size)');
    }
    return new PacketRing(sab, slots, slotBytes);
  }

  /** Next sequence the writer will use: packets written so far, mod 2^32. */
  get writeSequence(): number {
    return Atomics.load(this[VIEWS].header, HEAD) >>> 0;
  }

  /** Packets refused because they did not fit a slot. */
  get oversize(): number {
    return Atomics.load(this[VIEWS].header, OVERSIZE);
  }

  get closed(): boolean {
    return Atomics.load(this[VIEWS].header, CLOSED) !== 0;
  }

  /**
   * Copies one packet into the next slot and publishes it. Returns its ring sequence, or -1 when the
   * packet is larger than a slot (counted in `oversize`, nothing written). Readers are not woken: call
   * notify() once per batch (per socket read), a wake per packet would cost more than the copy.
   */
  write(packet: Uint8Array, meta: PacketMeta): number {
    if (this.#closed) throw new Error('packet ring is closed');
    const len = packet.length;
    if (len > this.slotBytes) {
      Atomics.add(this[VIEWS].header, OVERSIZE, 1);
      return -1;
    }
    const { header, stamps, info, arrivedAt, payload } = this[VIEWS];
    const seq = this.#next;
    const slot = seq & this.#mask;
    Atomics.store(stamps, slot, stampOf(seq) | 1);
    // A load after the store keeps the plain writes below from being seen before the odd stamp on
    // weakly ordered CPUs (arm64 stlr; ldar); x86 orders stores anyway.
    Atomics.load(stamps, slot);
    payload.set(packet, slot * this.slotBytes);
    const i = slot * INFO_STRIDE;
    info[i + I_LENGTH] = len;
    info[i + I_SEQ] = meta.seq;
    info[i + I_TS] = meta.timestamp;
    info[i + I_FLAGS] = (meta.kind === 'audio' ? F_AUDIO : 0) | (meta.keyframeStart ? F_KEYFRAME : 0) | (meta.marker ? F_MARKER : 0);
    arrivedAt[slot] = meta.arrivedAt;
    Atomics.store(stamps, slot, stampOf(seq));
    this.#next = (seq + 1) >>> 0;
    Atomics.store(header, HEAD, this.#next | 0);
    return seq;
  }

  /** Wakes readers parked in waitAsync(); costs one atomic load when none is. */
  notify(): void {
    if (Atomics.load(this[VIEWS].header, WAITERS) !== 0) Atomics.notify(this[VIEWS].header, HEAD);
  }

  /** Marks the ring closed (readers drain what is left, then waitAsync answers 'closed'). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this[VIEWS].header, CLOSED, 1);
    Atomics.notify(this[VIEWS].header, HEAD);
  }
}

export interface RingReaderOptions {
  /** 'next' (default): only packets written from now on. 'oldest': everything the ring still holds. */
  startAt?: 'next' | 'oldest';
}

type WaitAsync = (ta: Int32Array, index: number, value: number, timeout?: number) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
const POLL_MS = 2;

export class RingReader {
  readonly #ring: PacketRing;
  readonly #v: Views;
  readonly #mask: number;
  readonly #size: number;
  readonly #slotViews: Buffer[];
  readonly #meta: RingSlotMeta = { sequence: 0, length: 0, seq: 0, timestamp: 0, arrivedAt: 0, kind: 'video', keyframeStart: false, marker: false };
  /** Private word for the re-check's ordering store (see #stillHeld). */
  readonly #fence = new Int32Array(new SharedArrayBuffer(4));
  #next: number;
  #missed = 0;
  #torn = 0;
  #delivered = 0;
  // The packet being visited: its slot and stamp, and 0 unchecked / 1 intact / 2 torn.
  #slot = 0;
  #want = 0;
  #verdict = 0;

  constructor(ring: PacketRing, opts: RingReaderOptions = {}) {
    this.#ring = ring;
    this.#v = ring[VIEWS];
    this.#size = ring.slots;
    this.#mask = ring.slots - 1;
    const { payload } = ring[VIEWS];
    this.#slotViews = Array.from({ length: ring.slots }, (_, s) =>
      Buffer.from(payload.buffer, payload.byteOffset + s * ring.slotBytes, ring.slotBytes),
    );
    const head = ring.writeSequence;
    this.#next = head;
    if (opts.startAt === 'oldest') {
      // The oldest slot whose stamp still matches; slots never written (or being rewritten) do not.
      let s = (head - this.#size) >>> 0;
      while (s !== head && Atomics.load(this.#v.stamps, s & this.#mask) !== stampOf(s)) s = (s + 1) >>> 0;
      this.#next = s;
    }
  }

  /** Packets lost to this reader: lapped by the writer before it got to them, or overwritten while visited. */
  get missed(): number {
    return this.#missed;
  }

  /** The part of `missed` that was overwritten while being visited. */
  get torn(): number {
    return this.#torn;
  }

  /** Packets delivered intact. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Packets written that this reader has not consumed yet (may exceed the ring size: those are lost). */
  get lag(): number {
    return (this.#ring.writeSequence - this.#next) >>> 0;
  }

  /** Next ring sequence this reader will look at. */
  get position(): number {
    return this.#next;
  }

  /**
   * Visits the packets written since the last call, in order, at most `max`. Returns how many were
   * delivered intact. A packet overwritten before or during its visit counts in `missed` instead: before,
   * it is not visited; during, the verdict is taken by intact() when the visitor calls it, else right
   * after the visitor returns. A visitor that acts on the bytes (sends them) should copy them out first,
   * then ask intact() before acting.
   */
  read(visit: RingVisitor, max = Infinity): number {
    const { stamps, info, arrivedAt } = this.#v;
    const head = Atomics.load(this.#v.header, HEAD) >>> 0;
    let lag = (head - this.#next) >>> 0;
    if (lag > this.#size) {
      this.#missed += lag - this.#size;
      this.#next = (head - this.#size) >>> 0;
      lag = this.#size;
    }
    const meta = this.#meta;
    let delivered = 0;
    let n = 0;
    for (; n < lag && delivered < max; n++) {
      const seq = (this.#next + n) >>> 0;
      const slot = seq & this.#mask;
      const want = stampOf(seq);
      if (Atomics.load(stamps, slot) !== want) {
        this.#missed++;
        continue;
      }
      const i = slot * INFO_STRIDE;
      const flags = info[i + I_FLAGS]!;
      meta.sequence = seq;
      // A torn length could exceed the slot; clamp so the visitor never indexes past it.
      meta.length = Math.min(info[i + I_LENGTH]!, this.#ring.slotBytes);
      meta.seq = info[i + I_SEQ]!;
      meta.timestamp = info[i + I_TS]!;
      meta.arrivedAt = arrivedAt[slot]!;
      meta.kind = flags & F_AUDIO ? 'audio' : 'video';
      meta.keyframeStart = (flags & F_KEYFRAME) !== 0;
      meta.marker = (flags & F_MARKER) !== 0;
      this.#slot = slot;
      this.#want = want;
      this.#verdict = 0;
      visit(this.#slotViews[slot]!, meta);
      if (this.#verdict === 0) this.#verdict = this.#stillHeld() ? 1 : 2;
      if (this.#verdict === 1) {
        delivered++;
      } else {
        this.#missed++;
        this.#torn++;
      }
    }
    this.#want = EMPTY_STAMP; // intact() outside a visit: no slot matches an odd stamp
    this.#verdict = 0;
    this.#next = (this.#next + n) >>> 0;
    this.#delivered += delivered;
    return delivered;
  }

  /**
   * Inside a visitor: true when the slot still holds the packet being visited, so everything read from it
   * so far (bytes and meta) is that packet. The first call settles the packet's verdict; later calls in
   * the same visit repeat it. Outside a visit: false.
   */
  intact(): boolean {
    if (this.#verdict === 0) this.#verdict = this.#stillHeld() ? 1 : 2;
    return this.#verdict === 1;
  }

  #stillHeld(): boolean {
    // Store then load (stlr; ldar on arm64) keeps the visitor's plain reads ahead of the re-check.
    Atomics.store(this.#fence, 0, 0);
    return Atomics.load(this.#v.stamps, this.#slot) === this.#want;
  }

  /**
   * Resolves 'ok' as soon as there is something to read (at once when there already is), 'closed' when
   * the ring is closed and drained, 'timed-out' after `timeoutMs`. Parks on the HEAD word with
   * Atomics.waitAsync; a timer of the same length keeps the event loop alive meanwhile (a pending
   * waitAsync alone does not) and is the poll fallback where waitAsync is missing.
   */
  async waitAsync(timeoutMs: number): Promise<RingWait> {
    const header = this.#v.header;
    const ready = (): RingWait | null => (this.lag > 0 ? 'ok' : Atomics.load(header, CLOSED) !== 0 ? 'closed' : null);
    const now = ready();
    if (now !== null) return now;
    if (!waitAsync) {
      const until = performance.now() + timeoutMs;
      while (performance.now() < until) {
        await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, until - performance.now()))));
        const r = ready();
        if (r !== null) return r;
      }
      return 'timed-out';
    }
    Atomics.add(header, WAITERS, 1);
    try {
      const w = waitAsync(header, HEAD, this.#next | 0, timeoutMs);
      if (w.async) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([w.value, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
        clearTimeout(timer);
      }
    } finally {
      Atomics.sub(header, WAITERS, 1);
    }
    return ready() ?? 'timed-out';
  }
}
