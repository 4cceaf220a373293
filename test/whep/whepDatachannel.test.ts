// A second, independent WebRTC stack as viewer: libdatachannel (libjuice ICE, OpenSSL DTLS, libsrtp)
// through node-datachannel. drake must not only work against werift.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL, rtpPayloadType } from '../../src/shared/h264.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { closeNdcHost, ndcView } from '../helpers/ndcViewer.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';

describe('WHEP with a node-datachannel (libdatachannel) viewer', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake();
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await closeNdcHost();
    await drake.stop(true);
  });

  test('it connects and receives decryptable H264 (SPS/PPS first) and Opus', async () => {
    const v = await ndcView(`${drake.url}/whep/cam`);
    try {
      assert.equal(v.status, 201, v.answer);
      assert.match(v.answer, /a=rtpmap:102 H264\/90000/, 'drake answers on the payload type the viewer chose');
      // A rare CI run got no media here, and the libdatachannel teardown then took the report with it:
      // say what the viewer saw, and what drake saw, in the failure itself.
      await waitFor('media through libsrtp', async () => v.video.length > 30 && v.audioCount() > 20, 15_000).catch(async (err: Error) => {
        const s = await drake.supervisor.snapshot();
        const why = `${err.message}: ${v.describe()}; drake: ${JSON.stringify(s.find((p) => p.id === 'cam')?.sessions)}`;
        process.stderr.write(`whepDatachannel: ${why}\n`); // on stderr at once, in case teardown crashes the file
        throw new Error(why);
      });
      const rtp = v.video;
      assert.equal(rtpPayloadType(rtp[0]!), 102);
      assert.deepEqual(h264NalTypesStarting(rtp[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
      assert.ok(rtp.slice(0, 5).some((p) => h264NalTypesStarting(p).includes(NAL.IDR)));
      const del = await fetch(`${drake.url}${v.location}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
    } finally {
      v.close();
    }
  });
});
