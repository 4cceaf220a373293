// The stream actor's RTP sockets: only well-formed RTP from the FFmpeg run's own source port goes on
// to the viewers; anything else is dropped and counted.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, test } from 'node:test';
import { RtpIngest } from '../../src/actors/stream/RtpIngest.ts';
import { waitFor } from '../helpers/waitFor.ts';

function rtp(seq: number, first = 0x80): Buffer {
  const b = Buffer.alloc(20);
  b[0] = first;
  b[1] = 96;
  b.writeUInt16BE(seq, 2);
  b[12] = 0x65;
  return b;
}

const sockets: Socket[] = [];
async function sender(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  sockets.push(s);
  return s;
}
after(() => {
  for (const s of sockets) s.close();
});

test('RtpIngest: malformed RTP is dropped; the first good sender owns the leg; others are foreign until the next run', async () => {
  const got: number[] = [];
  const ingest = new RtpIngest((kind, pkt) => {
    if (kind === 'video') got.push(pkt.readUInt16BE(2));
  });
  const ports = await ingest.open();
  try {
    const ffmpeg = await sender();
    const stranger = await sender();
    const send = (s: Socket, b: Buffer) => new Promise<void>((r) => s.send(b, ports.video, '127.0.0.1', () => r()));
    // 15 CSRCs announced, none there: dropped, and it does not claim the leg.
    await send(stranger, rtp(1, 0x8f));
    await send(ffmpeg, rtp(2));
    await waitFor('the first good packet', async () => got.length === 1);
    await send(stranger, rtp(3));
    await send(ffmpeg, rtp(4));
    await waitFor('the second packet of the owner', async () => got.length === 2);
    assert.deepEqual(got, [2, 4]);
    assert.equal(ingest.counters.video.foreign, 1);
    assert.equal(ingest.counters.video.dropped, 2);
    // A new FFmpeg run sends from new ports.
    ingest.expectNewSender();
    await send(stranger, rtp(5));
    await send(ffmpeg, rtp(6));
    await waitFor('the new owner', async () => got.length === 3);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, [2, 4, 5]);
    assert.equal(ingest.counters.video.foreign, 2);
  } finally {
    ingest.close();
  }
});
