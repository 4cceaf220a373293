// UdpMux's paced reads (the default; DRAKE_RTCP_PACED=0 turns them off): while paced the shared port is not read as datagrams arrive; they
// wait in the socket buffer until readWindow(), which reads all of them (more than one libuv batch of 32), and
// turning pacing off reads as they come again. When the windows stop coming (no media), the port is read as
// datagrams come until the next one. Real sockets on 127.0.0.1.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, test } from 'node:test';
import { UdpMux } from '../../src/actors/peer/UdpMux.ts';
import { waitFor } from '../helpers/drake.ts';

const client = dgram.createSocket('udp4');
after(() => client.close());

const send = (port: number, n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((r, j) => client.send(Buffer.from(`datagram ${i}`), port, '127.0.0.1', (err) => (err ? j(err) : r())))));
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('paced: datagrams wait for readWindow(), which reads them all; unpaced reads them as they come', async () => {
  const mux = await UdpMux.open('127.0.0.1');
  try {
    await send(mux.port, 1);
    await waitFor('unpaced: read at once', async () => mux.counters.received === 1, 5000);

    mux.setPaced(true, 60_000); // no stall during the test
    assert.equal(mux.paced, true);
    await send(mux.port, 40);
    await turns(5);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(mux.counters.received, 1, 'nothing read while paced');

    mux.readWindow();
    // The native reader drains at once (recvmmsg without polling), in batches of 32; node's dgram in the next poll.
    if (mux.reader === 'recvmmsg') assert.deepEqual([mux.counters.received, mux.counters.reads], [41, 3], 'read within readWindow()');
    await waitFor('readWindow reads all 40 (two libuv batches)', async () => mux.counters.received === 41, 5000);
    await send(mux.port, 3);
    await turns(5);
    assert.equal(mux.counters.received, 41, 'reading stopped again after the window');
    mux.readWindow();
    await waitFor('the next window', async () => mux.counters.received === 44, 5000);

    mux.setPaced(false);
    await send(mux.port, 2);
    await waitFor('unpaced again: read as they come', async () => mux.counters.received === 46, 5000);
  } finally {
    await mux.close();
  }
});

test('paced, windows stalled: after idleMs the port is read as datagrams come, until the next window', async () => {
  const mux = await UdpMux.open('127.0.0.1');
  try {
    mux.setPaced(true, 1000);
    await send(mux.port, 5);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(mux.counters.received, 0, 'not stalled yet: waiting for a window');
    await waitFor('stalled: read without a window', async () => mux.counters.received === 5, 5000);
    assert.equal(mux.pacedIdle, true);
    await send(mux.port, 3);
    await waitFor('read as they come while stalled', async () => mux.counters.received === 8, 5000);

    mux.readWindow(); // a flush: paced again
    assert.equal(mux.pacedIdle, false);
    await turns(5); // node's dgram reads in the window's poll: let it end
    await send(mux.port, 2);
    await turns(5);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(mux.counters.received, 8, 'paced again after the window');
    await waitFor('read once the windows stall again', async () => mux.counters.received === 10, 5000);
  } finally {
    await mux.close();
  }
});
