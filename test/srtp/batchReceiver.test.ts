// BatchReceiver: a bound udp4 socket read with recvmmsg through the addon (real sockets on 127.0.0.1).
import assert from 'node:assert/strict';
import dgram, { type Socket } from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { BatchReceiver, ipv4Number, ipv4Text, nativeRecvEnabled } from '../../src/shared/srtp/index.ts';

const SLOT = 256;

async function bound(): Promise<Socket> {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

function sendAll(from: Socket, port: number, msgs: Buffer[]): Promise<void> {
  let left = msgs.length;
  return new Promise((resolve, reject) => {
    for (const m of msgs) from.send(m, port, '127.0.0.1', (err) => (err ? reject(err) : --left === 0 && resolve()));
  });
}

const close = (s: Socket) => new Promise<void>((resolve) => s.close(() => resolve()));

test('ipv4Text and ipv4Number are inverse; anything but a dotted quad is -1', () => {
  assert.equal(ipv4Number('127.0.0.1'), 0x7f000001);
  assert.equal(ipv4Text(0x7f000001), '127.0.0.1');
  assert.equal(ipv4Text(ipv4Number('255.254.1.0')), '255.254.1.0');
  for (const bad of ['::1', '1.2.3', '1.2.3.256', '1.2.3.x', '', '01.2.3.4.5']) assert.equal(ipv4Number(bad), -1, bad);
});

describe('BatchReceiver (native, Linux)', { skip: !nativeRecvEnabled && 'native receive is off (JS backend, not Linux, or DRAKE_NATIVE_RECV=0)' }, () => {
  test('every datagram arrives in order with its length, sender and bytes, several per batch; a longer one than a slot is flagged cut', async () => {
    const rx = await bound();
    const tx = await bound();
    const got: Array<{ len: number; ip: number; port: number; body: string; cut: boolean }> = [];
    const batches: number[] = [];
    const reader = BatchReceiver.open(rx, SLOT, 16, (count) => {
      batches.push(count);
      for (let i = 0; i < count; i++) got.push({ len: reader!.length(i), ip: reader!.ip(i), port: reader!.port(i), body: reader!.view(i).toString('latin1', 0, 8), cut: reader!.truncated(i) });
    });
    assert.ok(reader);
    let sawMessage = false;
    rx.on('message', () => (sawMessage = true));
    const msgs = Array.from({ length: 100 }, (_, i) => Buffer.from(`msg${String(i).padStart(5, '0')}`.padEnd(20 + i, '.')));
    msgs.push(Buffer.alloc(SLOT + 100, 'z'));
    await sendAll(tx, rx.address().port, msgs);
    while (got.length < msgs.length) await new Promise((r) => setTimeout(r, 5));
    assert.equal(sawMessage, false, "node's own reading is stopped");
    for (let i = 0; i < 100; i++) {
      assert.deepEqual(got[i], { len: 20 + i, ip: 0x7f000001, port: tx.address().port, body: `msg${String(i).padStart(5, '0')}`, cut: false });
    }
    assert.equal(got[100]!.cut, true);
    assert.equal(got[100]!.len, SLOT);
    assert.ok(Math.max(...batches) > 1, `datagrams waiting together come in one batch (batches: ${batches.join(',')})`);
    assert.ok(Math.max(...batches) <= 16);
    // The socket still sends through node.
    const echo = once(tx, 'message');
    rx.send(Buffer.from('back'), tx.address().port, '127.0.0.1');
    assert.equal(String((await echo)[0]), 'back');
    reader!.close();
    await close(rx);
    await close(tx);
  });

  test('paused, datagrams wait in the socket buffer; resumed, they all come; closed, none comes and the port is free again', async () => {
    const rx = await bound();
    const tx = await bound();
    let n = 0;
    const reader = BatchReceiver.open(rx, SLOT, 8, (count) => (n += count))!;
    reader.setReceiving(false);
    await sendAll(tx, rx.address().port, Array.from({ length: 20 }, () => Buffer.from('x')));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(n, 0);
    reader.setReceiving(true);
    while (n < 20) await new Promise((r) => setTimeout(r, 5));
    reader.close();
    reader.close(); // idempotent
    await sendAll(tx, rx.address().port, [Buffer.from('late')]);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(n, 20);
    const port = rx.address().port;
    await close(rx);
    // The receiver's duplicate fd is closed too: an exclusive bind of the same port succeeds.
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind({ port, address: '127.0.0.1', exclusive: true }, resolve);
    });
    await close(again);
    await close(tx);
  });

  test('drain() reads what waits without polling; with timestamps, arrivedAt is when the kernel took each datagram, not when it was read', async () => {
    const rx = await bound();
    const tx = await bound();
    let polled = 0;
    const reader = BatchReceiver.open(rx, SLOT, 8, (count) => (polled += count), true)!;
    reader.setReceiving(false);
    assert.equal(reader.drain(), 0, 'nothing waits');
    // The kernel turns its receive stamping on a moment after the first socket asks (a deferred static key).
    await new Promise((r) => setTimeout(r, 50));
    const sentAt = Date.now();
    await sendAll(tx, rx.address().port, Array.from({ length: 12 }, (_, i) => Buffer.from(`d${i}`)));
    await new Promise((r) => setTimeout(r, 120));
    const readAt = Date.now();
    const first = reader.drain();
    assert.equal(first, 8, 'one batch of max');
    const seen = Array.from({ length: first }, (_, i) => [reader.view(i).toString(), reader.arrivedAt(i)] as const);
    const second = reader.drain();
    assert.equal(second, 4);
    for (let i = 0; i < second; i++) seen.push([reader.view(i).toString(), reader.arrivedAt(i)]);
    assert.equal(reader.drain(), 0);
    assert.deepEqual(seen.map(([d]) => d), Array.from({ length: 12 }, (_, i) => `d${i}`));
    for (const [, at] of seen) assert.ok(at >= sentAt - 5 && at <= readAt - 80, `arrived ${at - sentAt} ms after the send, read ${readAt - sentAt} ms after`);
    assert.equal(polled, 0, 'drain does not call onBatch');
    reader.close();
    assert.equal(reader.drain(), 0, 'closed: nothing');
    await close(rx);
    await close(tx);
  });

  test('datagrams the kernel drops for a full receive buffer are counted (with the next one that gets through)', async () => {
    const rx = dgram.createSocket({ type: 'udp4', recvBufferSize: 4096 });
    await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
    const tx = await bound();
    let got = 0;
    const reader = BatchReceiver.open(rx, 2048, 16, (count) => (got += count))!;
    reader.setReceiving(false);
    assert.equal(reader.kernelDropped, 0);
    const burst = 200;
    await sendAll(tx, rx.address().port, Array.from({ length: burst }, () => Buffer.alloc(1000, 1)));
    await new Promise((r) => setTimeout(r, 50));
    let kept = 0;
    for (let n = reader.drain(); n > 0; n = reader.drain()) kept += n;
    assert.ok(kept > 0 && kept < burst, `a ${rx.getRecvBufferSize()}-byte buffer kept ${kept} of ${burst}`);
    reader.setReceiving(true);
    await sendAll(tx, rx.address().port, [Buffer.from('after')]);
    while (got < 1) await new Promise((r) => setTimeout(r, 5));
    assert.equal(reader.kernelDropped, burst - kept);
    reader.close();
    await close(rx);
    await close(tx);
  });

  test('bad arguments are refused before anything is opened', async () => {
    const rx = await bound();
    const { addon } = await import('../../src/shared/srtp/nativeBackend.ts').then((m) => m.loadAddon());
    const meta = new Uint32Array(4 * 4);
    const noop = () => undefined;
    assert.throws(() => addon!.recvOpen(-1, Buffer.alloc(64), 16, meta, 4, noop), TypeError);
    assert.throws(() => addon!.recvOpen(0, Buffer.alloc(64), 16, meta, 4, noop), /not a datagram socket|fd/);
    assert.throws(() => addon!.recvOpen(3, Buffer.alloc(63), 16, meta, 4, noop), RangeError);
    assert.throws(() => addon!.recvOpen(3, Buffer.alloc(64), 16, new Uint32Array(15), 4, noop), RangeError);
    assert.throws(() => addon!.recvOpen(3, Buffer.alloc(64), 16, meta, 4, 'x' as never), TypeError);
    assert.throws(() => addon!.recvOpen(3, Buffer.alloc(64), 16, meta, 4, noop, new Float32Array(4) as never), TypeError);
    assert.throws(() => addon!.recvOpen(3, Buffer.alloc(64), 16, meta, 4, noop, new Float64Array(3)), RangeError);
    assert.throws(() => addon!.recvDrain(null), TypeError);
    assert.throws(() => addon!.recvDropped(undefined), TypeError);
    assert.throws(() => addon!.recvSet({}, true), TypeError);
    assert.throws(() => addon!.recvClose(Buffer.alloc(1)), TypeError);
    await close(rx);
  });

  test('a throw in onBatch reaches the thread like any I/O callback; a worker that exits with a receiver open closes it (no crash, port free)', async () => {
    const code = `
      const dgram = require('node:dgram');
      const { workerData, parentPort } = require('node:worker_threads');
      const { createRequire } = require('node:module');
      const addon = createRequire(workerData.base)(workerData.addon);
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const fd = s[Object.getOwnPropertySymbols(s).find((x) => x.description === 'state symbol')].handle.fd;
        s[Object.getOwnPropertySymbols(s).find((x) => x.description === 'state symbol')].handle.recvStop();
        const buf = Buffer.alloc(64 * 4);
        globalThis.keep = addon.recvOpen(fd, buf, 64, new Uint32Array(16), 4, (n) => {
          if (workerData.throwIt) throw new Error('onBatch threw ' + n);
          parentPort.postMessage({ got: n });
        });
        parentPort.postMessage({ port: s.address().port });
      });
    `;
    const base = new URL('../../src/shared/srtp/nativeBackend.ts', import.meta.url).href;
    const addonPath = '../../../native/srtp/build/Release/srtp.node';
    const tx = await bound();
    for (const throwIt of [true, false]) {
      const w = new Worker(code, { eval: true, workerData: { base, addon: addonPath, throwIt } });
      const [first] = (await once(w, 'message')) as [{ port: number }];
      const errored = once(w, 'error');
      const exited = new Promise((resolve) => w.once('exit', resolve)); // events.once would reject on 'error'
      await sendAll(tx, first.port, [Buffer.from('a')]);
      if (throwIt) {
        const [err] = (await errored) as [Error];
        assert.match(err.message, /onBatch threw 1/);
        await exited; // 'error' comes before the thread has torn down its handles
      } else {
        assert.deepEqual((await once(w, 'message'))[0], { got: 1 });
        await w.terminate();
      }
      // Either way the worker's receiver is gone with it: the port binds again.
      const again = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.bind({ port: first.port, address: '127.0.0.1', exclusive: true }, resolve);
      });
      await close(again);
    }
    await close(tx);
  });
});
