// LiveQueue: live packets leave at the end of the I/O pass or read; with byFrame (DRAKE_LIVE_BATCH=frame) a
// frame at a time (at the RTP marker), audio with it or alone, a frame whose marker does not come after
// frameWaitMs; a full queue at once; order is arrival order and no packet leaves twice or is lost.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { LiveQueue } from '../../src/actors/peer/LiveQueue.ts';

/** A 12-byte RTP header with sequence number `seq` and the marker bit as given (payload type 96). */
function rtp(seq: number, marker: boolean): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | 96;
  b.writeUInt16BE(seq, 2);
  return b;
}

const endOfPass = () => new Promise<void>((r) => setImmediate(r));

function harness(opts: { byFrame?: boolean; max?: number; frameWaitMs?: number } = {}) {
  const flushes: number[][] = [];
  const q = new LiveQueue(
    (pkts, _at, isVideo, n) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(isVideo[i] ? pkts[i]!.readUInt16BE(2) : -pkts[i]!.readUInt16BE(2));
      flushes.push(out);
    },
    // Long by default: a test about ordering must not see the wait expire on a loaded box (50 ms did, with the suite running in parallel).
    { byFrame: opts.byFrame ?? true, max: opts.max ?? 64, frameWaitMs: opts.frameWaitMs ?? 5000 },
  );
  return { q, flushes };
}

describe('LiveQueue', () => {
  it('holds a frame read over several passes until its marker, then sends it whole', async () => {
    const { q, flushes } = harness();
    for (let seq = 1; seq <= 6; seq++) {
      q.push(rtp(seq, seq === 6), 0, true);
      await endOfPass(); // every packet in its own pass, as when the loop wakes per datagram
      if (seq < 6) assert.deepEqual(flushes, [], `nothing leaves before the frame's last packet (after ${seq})`);
    }
    assert.deepEqual(flushes, [[1, 2, 3, 4, 5, 6]]);
    assert.equal(q.length, 0);
    assert.deepEqual(q.flushes, { complete: 1, full: 0, late: 0 });
  });

  it('audio leaves at once when no frame is open, and waits with an open frame', async () => {
    const { q, flushes } = harness();
    q.push(rtp(100, false), 0, false); // audio: the marker bit means nothing for it
    await endOfPass();
    assert.deepEqual(flushes, [[-100]]);
    q.push(rtp(1, false), 0, true);
    q.push(rtp(101, false), 0, false);
    await endOfPass();
    assert.equal(flushes.length, 1, 'audio behind an open frame waits for the frame');
    q.push(rtp(2, true), 0, true);
    await endOfPass();
    assert.deepEqual(flushes, [[-100], [1, -101, 2]]);
  });

  it('a read that ends inside the next frame sends what is complete and keeps the rest in order', () => {
    const { q, flushes } = harness();
    q.push(rtp(1, false), 0, true);
    q.push(rtp(2, true), 0, true);
    q.push(rtp(50, false), 0, false);
    q.push(rtp(3, false), 0, true);
    q.endOfRead();
    assert.deepEqual(flushes, [[1, 2, -50]]);
    assert.equal(q.length, 1);
    q.push(rtp(4, true), 0, true);
    q.endOfRead();
    assert.deepEqual(flushes, [[1, 2, -50], [3, 4]]);
  });

  it('a frame without a marker leaves after frameWaitMs', async () => {
    const { q, flushes } = harness({ frameWaitMs: 300 });
    const pushedAt = performance.now();
    q.push(rtp(1, false), 0, true);
    q.push(rtp(2, false), 0, true);
    await endOfPass();
    if (performance.now() - pushedAt < 300) assert.deepEqual(flushes, []);
    while (flushes.length === 0 && performance.now() - pushedAt < 5000) await sleep(20);
    assert.ok(performance.now() - pushedAt >= 290, 'not before frameWaitMs (the timer counts from libuv\'s cached clock, a few ms earlier)');
    assert.deepEqual(flushes, [[1, 2]]);
    assert.equal(q.flushes.late, 1);
    // The frame's marker arriving after that leaves on its own, once.
    q.push(rtp(3, true), 0, true);
    await endOfPass();
    assert.deepEqual(flushes, [[1, 2], [3]]);
  });

  it('a full queue leaves at once, frame or not; the limit follows the owner', () => {
    const { q, flushes } = harness({ max: 8 });
    q.limit = 3;
    for (let seq = 1; seq <= 7; seq++) q.push(rtp(seq, false), 0, true);
    assert.deepEqual(flushes, [[1, 2, 3], [4, 5, 6]]);
    assert.equal(q.flushes.full, 2);
    q.limit = 100; // clamped to max
    for (let seq = 8; seq <= 14; seq++) q.push(rtp(seq, false), 0, true);
    assert.deepEqual(flushes.at(-1), [7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('byFrame off (the default): everything read in a pass leaves at its end, open frame or not', async () => {
    const { q, flushes } = harness({ byFrame: false });
    q.push(rtp(1, false), 0, true);
    q.push(rtp(2, false), 0, true);
    await endOfPass();
    assert.deepEqual(flushes, [[1, 2]]);
  });

  it('random arrivals: every packet leaves exactly once, in arrival order', async () => {
    const { q, flushes } = harness({ max: 16, frameWaitMs: 5 });
    let seq = 0;
    const sent: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const video = Math.random() < 0.8;
      const s = ++seq;
      q.push(rtp(s, video && Math.random() < 0.25), 0, video);
      sent.push(video ? s : -s);
      if (Math.random() < 0.3) q.endOfRead();
      if (Math.random() < 0.05) await endOfPass();
      if (Math.random() < 0.01) await sleep(8);
    }
    await sleep(20);
    assert.equal(q.length, 0);
    assert.deepEqual(flushes.flat(), sent);
  });
});
