// Peer shard workers: past webrtc.viewers_per_shard the stream actor starts worker threads that read its
// SharedArrayBuffer packet ring and take the next viewers, each shard on its own shared UDP port. A shard
// that crashes takes only its own viewers; the others keep playing and new viewers still get in.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { latencyPercentile } from '../../src/shared/latencyHistogram.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';

function hostPort(answer: string): number {
  const m = /^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/im.exec(answer);
  return Number(m?.[1]);
}

describe('peer shard workers on the packet ring (viewers_per_shard 2)', () => {
  let drake: TestDrake;
  const viewers: WhepViewer[] = [];
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean', viewers_per_shard: 2 } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await drake.stop(true);
  });

  test('five viewers fill three shards on three ports; every one decodes from SPS/PPS with continuous seq', async () => {
    for (let i = 0; i < 5; i++) viewers.push(await whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 }));
    for (const v of viewers) assert.equal(v.status, 201);
    const stats = await drake.supervisor.whepStats('cam');
    assert.equal(stats.shards, 3);
    assert.equal(stats.viewers, 5);
    const ports = viewers.map((v) => hostPort(v.answer));
    assert.equal(ports[0], ports[1], 'the first two share the stream thread\'s port');
    assert.equal(ports[2], ports[3], 'the next two share shard 1\'s port');
    assert.equal(new Set(ports).size, 3, `three shared ports: ${ports}`);
    await waitFor('every viewer gets video and audio', async () => viewers.every((v) => videoCount(v) > 90 && v.audio > 40), 20_000);
    for (const v of viewers) {
      assert.deepEqual(h264NalTypesStarting(v.video[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
      const seqs = v.video.map((p) => p.readUInt16BE(2));
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1]! + 1) & 0xffff);
    }
    const later = await drake.supervisor.whepStats('cam');
    assert.equal(later.ringMissed, 0);
    const counts = later.latency!.counts;
    assert.ok(counts.reduce((a, b) => a + b, 0) > 0, 'latency is recorded across shards');
    assert.ok(latencyPercentile(counts, 50) <= 20_000, `p50 server-added latency ≤ 20 ms: ${latencyPercentile(counts, 50)} µs`);
  });

  test('DELETE reaches the shard that holds the session', async () => {
    const v = viewers.pop()!;
    const res = await fetch(new URL(v.location!, drake.url), { method: 'DELETE' });
    assert.equal(res.status, 200);
    await v.close();
    await waitFor('four viewers', async () => (await drake.supervisor.whepStats('cam')).viewers === 4, 5000);
  });

  test('a crashed shard drops only its viewers; the rest play on and new viewers get in', async () => {
    await drake.supervisor.crashShardForTest('cam', 1);
    await waitFor('shard 1 viewers gone', async () => (await drake.supervisor.whepStats('cam')).viewers === 2, 10_000);
    const survivors = viewers.slice(0, 2);
    const marks = survivors.map((v) => videoCount(v));
    await waitFor('the stream thread\'s viewers keep receiving', async () => survivors.every((v, i) => videoCount(v) > marks[i]! + 60), 10_000);
    const fresh = await whepView(`${drake.url}/whep/cam`, { keepVideo: 10_000 });
    viewers.push(fresh);
    assert.equal(fresh.status, 201);
    await waitFor('a new viewer after the crash plays', async () => videoCount(fresh) > 30, 15_000);
    assert.equal((await drake.supervisor.whepStats('cam')).viewers, 3);
  });
});
