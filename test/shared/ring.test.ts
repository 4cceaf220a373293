// PacketRing / RingReader (src/shared/ring.ts): order and meta across the slot wrap and the 32-bit
// sequence wrap, lapped readers counting exactly what they missed, late readers, oversize packets,
// waitAsync, and three readers in real worker threads checking every byte while the main thread writes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { PacketRing, RingReader, type RingSlotMeta } from '../../src/shared/ring.ts';
import { startWorker } from '../../src/shared/startWorker.ts';
import { checkPacket, fillPacket, metaFor, packetLength } from './fixtures/ringPackets.ts';
import type { ReaderReport } from './fixtures/ringReaderWorker.ts';

const SLOT_BYTES = 256;
const scratch = Buffer.alloc(1536);

/** Writes packets first..first+count-1 (packet index i, see ringPackets.ts). */
function writeRange(ring: PacketRing, first: number, count: number): void {
  for (let i = first; i < first + count; i++) {
    const len = fillPacket(scratch, i, ring.slotBytes);
    ring.write(scratch.subarray(0, len), metaFor(i));
  }
}

/** Reads what is there; returns the packet indexes seen (index = sequence − base) after checking each. */
function drain(reader: RingReader, ring: PacketRing, base = 0, max = Infinity): number[] {
  const seen: number[] = [];
  reader.read((view: Buffer, meta: RingSlotMeta) => {
    const i = (meta.sequence - base) >>> 0;
    assert.equal(checkPacket(view, meta, i, ring.slotBytes), null);
    seen.push(i);
  }, max);
  return seen;
}

const range = (a: number, n: number) => Array.from({ length: n }, (_, k) => a + k);

test('PacketRing.create() rejects a slot count that is not a power of two', () => {
  assert.throws(() => PacketRing.create({ slots: 1000 }), RangeError);
  assert.throws(() => PacketRing.create({ slots: 1 }), RangeError);
  assert.throws(() => PacketRing.attach(new SharedArrayBuffer(4096)), TypeError);
  const r = PacketRing.create();
  assert.equal(r.slots, 2048);
  assert.equal(r.slotBytes, 1536);
});

test('reader sees every packet in order with its meta across several laps of the slots', () => {
  const ring = PacketRing.create({ slots: 8, slotBytes: SLOT_BYTES });
  const reader = new RingReader(ring);
  const seen: number[] = [];
  for (let i = 0; i < 100; i += 5) {
    writeRange(ring, i, 5);
    seen.push(...drain(reader, ring));
  }
  assert.deepEqual(seen, range(0, 100));
  assert.equal(reader.missed, 0);
  assert.equal(reader.delivered, 100);
  assert.equal(ring.writeSequence, 100);
});

test('sequences wrap at 2^32: order, meta and lag stay right', () => {
  const base = 0xffffffff - 20;
  const ring = PacketRing.create({ slots: 16, slotBytes: SLOT_BYTES, initialSequence: base });
  const reader = new RingReader(ring);
  const seen: number[] = [];
  for (let i = 0; i < 60; i += 6) {
    writeRange(ring, i, 6);
    assert.equal(reader.lag, 6);
    seen.push(...drain(reader, ring, base));
  }
  assert.deepEqual(seen, range(0, 60));
  assert.equal(ring.writeSequence, (base + 60) >>> 0);
  assert.equal(reader.missed, 0);
  // and a reader lapped across the wrap counts exactly
  const late = new RingReader(ring);
  writeRange(ring, 60, 40);
  assert.deepEqual(drain(late, ring, base), range(84, 16));
  assert.equal(late.missed, 24);
});

test('a reader lapped by more than the ring skips to the oldest packet and counts exactly what it missed', () => {
  const ring = PacketRing.create({ slots: 8, slotBytes: SLOT_BYTES });
  const reader = new RingReader(ring);
  writeRange(ring, 0, 3);
  assert.deepEqual(drain(reader, ring), [0, 1, 2]);
  writeRange(ring, 3, 30); // 30 new, 8 still held
  assert.equal(reader.lag, 30);
  assert.deepEqual(drain(reader, ring), range(25, 8));
  assert.equal(reader.missed, 22);
  // exactly one ring behind is not a loss
  writeRange(ring, 33, 8);
  assert.deepEqual(drain(reader, ring), range(33, 8));
  assert.equal(reader.missed, 22);
  assert.equal(reader.delivered + reader.missed, ring.writeSequence);
});

test('read(visit, max) stops after max packets and resumes there', () => {
  const ring = PacketRing.create({ slots: 16, slotBytes: SLOT_BYTES });
  const reader = new RingReader(ring);
  writeRange(ring, 0, 10);
  assert.deepEqual(drain(reader, ring, 0, 4), [0, 1, 2, 3]);
  assert.equal(reader.lag, 6);
  assert.deepEqual(drain(reader, ring), range(4, 6));
});

test('a late reader starts at the next packet, or at the oldest still held; attach() from the buffer works', () => {
  const ring = PacketRing.create({ slots: 16, slotBytes: SLOT_BYTES });
  writeRange(ring, 0, 10);
  const next = new RingReader(ring);
  const oldest = new RingReader(PacketRing.attach(ring.buffer), { startAt: 'oldest' });
  assert.equal(next.lag, 0);
  assert.deepEqual(drain(oldest, ring), range(0, 10)); // not full yet: everything from 0, nothing missed
  assert.equal(oldest.missed, 0);
  writeRange(ring, 10, 20);
  const oldestFull = new RingReader(ring, { startAt: 'oldest' });
  assert.deepEqual(drain(oldestFull, ring), range(14, 16));
  assert.equal(oldestFull.missed, 0);
  assert.deepEqual(drain(next, ring), range(14, 16));
  assert.equal(next.missed, 4);
});

test('a packet larger than a slot is refused and counted, nothing else changes', () => {
  const ring = PacketRing.create({ slots: 8, slotBytes: SLOT_BYTES });
  const reader = new RingReader(ring);
  writeRange(ring, 0, 1);
  assert.equal(ring.write(Buffer.alloc(SLOT_BYTES + 1, 0xee), metaFor(1)), -1);
  assert.equal(ring.oversize, 1);
  assert.equal(ring.writeSequence, 1);
  assert.equal(ring.write(Buffer.alloc(SLOT_BYTES, 1), metaFor(1)), 1); // exactly a slot fits
  const lengths: number[] = [];
  reader.read((_v, m) => lengths.push(m.length));
  assert.deepEqual(lengths, [packetLength(0, SLOT_BYTES), SLOT_BYTES]);
  assert.equal(PacketRing.attach(ring.buffer).oversize, 1);
});

test('intact() turns false once the slot is overwritten during the visit; the packet counts as missed', () => {
  const ring = PacketRing.create({ slots: 4, slotBytes: SLOT_BYTES });
  const reader = new RingReader(ring);
  writeRange(ring, 0, 2);
  const verdicts: boolean[] = [];
  const n = reader.read((_v, meta) => {
    if (meta.sequence === 0) writeRange(ring, 2, 3); // packet 4 lands in packet 0's slot
    verdicts.push(reader.intact());
  });
  assert.deepEqual(verdicts, [false, true]);
  assert.equal(n, 1);
  assert.equal(reader.missed, 1);
  assert.equal(reader.torn, 1);
  assert.equal(reader.intact(), false); // outside a visit
  assert.deepEqual(drain(reader, ring), [2, 3, 4]);
});

test('waitAsync() answers ok on a write + notify, timed-out without one, closed after close()', async () => {
  const ring = PacketRing.create({ slots: 8, slotBytes: SLOT_BYTES });
  const reader = new RingReader(ring);
  assert.equal(await reader.waitAsync(20), 'timed-out');
  const t0 = performance.now();
  setTimeout(() => {
    writeRange(ring, 0, 1);
    ring.notify();
  }, 30);
  assert.equal(await reader.waitAsync(5000), 'ok');
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(await reader.waitAsync(5000), 'ok'); // unread data: at once
  drain(reader, ring);
  setTimeout(() => ring.close(), 20);
  assert.equal(await reader.waitAsync(5000), 'closed');
  assert.throws(() => writeRange(ring, 1, 1), /closed/);
});

test('three readers in worker threads: each packet is delivered intact and in order, or counted missed', async (t) => {
  const COUNT = 20_000;
  const ring = PacketRing.create({ slots: 256, slotBytes: 1536 });
  const modes = ['fast', 'slow', 'batched'] as const;
  const workers: Worker[] = modes.map((mode) => startWorker(new URL('./fixtures/ringReaderWorker.ts', import.meta.url), { workerData: { sab: ring.buffer, mode } }));
  try {
    const reports = workers.map(
      (w) =>
        new Promise<ReaderReport>((resolve, reject) => {
          w.on('message', (m: { type: string; report?: ReaderReport }) => m.type === 'done' && resolve(m.report!));
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`reader worker exited (${code}) before reporting`)));
        }),
    );
    const ready = await Promise.all(workers.map((w) => once(w, 'message') as Promise<[{ type: string; position: number }]>));
    for (const [m] of ready) assert.deepEqual(m, { type: 'ready', position: 0 });

    const buf = Buffer.alloc(1536);
    for (let i = 0; i < COUNT; i++) {
      const len = fillPacket(buf, i, ring.slotBytes);
      assert.equal(ring.write(buf.subarray(0, len), metaFor(i)), i);
      if (i % 32 === 31) {
        ring.notify();
        await new Promise((r) => setImmediate(r));
      }
    }
    ring.close();
    const timeout = setTimeout(() => workers.forEach((w) => void w.terminate()), 20_000);
    const done = await Promise.all(reports);
    clearTimeout(timeout);
    for (const r of done) {
      t.diagnostic(`${r.mode}: delivered ${r.delivered}, missed ${r.missed} (torn ${r.torn}), waits ${JSON.stringify(r.waits)}`);
      assert.deepEqual(r.errors, [], r.mode);
      assert.equal(r.delivered, r.readerDelivered, r.mode);
      assert.equal(r.delivered + r.missed, COUNT, r.mode);
      assert.ok(r.delivered > 0, r.mode);
    }
    assert.ok(done.find((r) => r.mode === 'slow')!.missed > 0, 'the slow reader was lapped');
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
});
