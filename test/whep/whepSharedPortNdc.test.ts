// libdatachannel (libsrtp, an independent stack) viewers on the shared port. Their peers live in the helper's
// child process (test/helpers/ndcHost.ts): libdatachannel tearing down has crashed test processes at exit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { gsoEnabled } from '../../src/shared/srtp/index.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { closeNdcHost, ndcView } from '../helpers/ndcViewer.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';

function candidatePorts(answer: string): number[] {
  return [...answer.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gim)].map((m) => Number(m[1]));
}

describe('shared UDP port with libdatachannel viewers', () => {
  let drake: TestDrake;
  const base = 43_000 + Math.floor(Math.random() * 1000);
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: true, port_min: base, port_max: base + 20 } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    // drake first, so nothing arrives at libdatachannel while it tears its threads down (two full runs of
    // eight crashed this file at exit when cleanup ran with media still coming in).
    await drake.stop(true);
    await closeNdcHost();
  });

  test('libdatachannel (libsrtp) viewers share the port too and decrypt their batches', async () => {
    const b0 = (await drake.supervisor.whepStats('cam')).send?.burst ?? { packets: 0, gsoPackets: 0 };
    const libs = [await ndcView(`${drake.url}/whep/cam`), await ndcView(`${drake.url}/whep/cam`), await ndcView(`${drake.url}/whep/cam`)];
    try {
      const port = (await drake.supervisor.whepStats('cam')).sharedPort;
      for (const l of libs) {
        assert.equal(l.status, 201);
        assert.deepEqual([...new Set(candidatePorts(l.answer))], [port]);
        assert.match(l.answer, /^a=ice-lite\r?$/m, 'libdatachannel connects to an ICE-lite drake');
      }
      // A full-suite run once got no media here and the libdatachannel teardown then crashed the file with
      // no report: say what each viewer, its session and the shared port saw, on stderr at once.
      await waitFor('media through libsrtp', async () => libs.every((l) => l.video.length > 60 && l.audioCount() > 30), 20_000).catch(async (err: Error) => {
        const snap = await drake.supervisor.snapshot();
        const stats = await drake.supervisor.whepStats('cam');
        const why = `${err.message}: ${libs.map((l) => l.describe()).join(' | ')}; drake sessions: ${JSON.stringify(snap.find((p) => p.id === 'cam')?.sessions)}; port: ${JSON.stringify(stats.port)}; send: ${JSON.stringify(stats.send)}, batch drops ${stats.batchDrops}`;
        process.stderr.write(`whepSharedPortNdc: ${why}\n`);
        throw new Error(why);
      });
      // The join bursts reached libsrtp through the batched (GSO) burst path: SPS/PPS first, the GOP decodable.
      for (const l of libs) assert.deepEqual(h264NalTypesStarting(l.video[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
      const burst = (await drake.supervisor.whepStats('cam')).send!.burst;
      assert.ok(burst.packets - b0.packets >= 3 * 10, `burst packets ${b0.packets} → ${burst.packets}`);
      if (gsoEnabled) assert.ok(burst.gsoPackets - b0.gsoPackets > 0, `GSO packets ${b0.gsoPackets} → ${burst.gsoPackets}`);
    } finally {
      for (const l of libs) if (l.location) await fetch(new URL(l.location, drake.url), { method: 'DELETE' });
      // Close the peers once drake has stopped sending to them.
      await waitFor('sessions gone', async () => (await drake.supervisor.whepStats('cam')).viewers === 0, 5000).catch(() => undefined);
      for (const l of libs) l.close();
    }
  });
});
