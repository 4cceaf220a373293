// send_path = lean: drake protects with its own (native) SRTP and sends on the viewer's ICE
// connection. Two independent stacks must decrypt it: werift and libdatachannel (libsrtp).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';
import { closeNdcHost, ndcView } from '../helpers/ndcViewer.ts';
import { videoCount, whepView } from '../helpers/whepClient.ts';

describe('the lean send path (drake\'s SRTP)', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean' } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await closeNdcHost();
    await drake.stop(true);
  });

  test('a werift viewer decrypts video (SPS/PPS first, continuous seq) and audio; a PLI after an unrepairable loss gets a burst', async () => {
    const v = await whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 });
    try {
      assert.equal(v.status, 201);
      await waitFor('video and audio', async () => videoCount(v) > 60 && v.audio > 30, 15_000);
      assert.deepEqual(h264NalTypesStarting(v.video[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
      const seqs = v.video.slice(0, 60).map((p) => p.readUInt16BE(2));
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1]! + 1) & 0xffff);
      const before = (await drake.supervisor.whepStats('cam')).bursts;
      const mark = v.video.length;
      // A NACK beyond drake's history: the loss cannot be repaired by retransmission, so the PLI needs the GOP.
      await v.sendNack([(v.video[mark - 1]!.readUInt16BE(2) + 20_000) & 0xffff]);
      await v.sendPli();
      await waitFor('keyframe burst after PLI', async () => (await drake.supervisor.whepStats('cam')).bursts > before && v.video.slice(mark).some((p) => h264NalTypesStarting(p).includes(NAL.SPS)), 5000);
    } finally {
      await v.close();
    }
  });

  test('a node-datachannel (libsrtp) viewer decrypts it too', async () => {
    const v = await ndcView(`${drake.url}/whep/cam`);
    try {
      assert.equal(v.status, 201);
      await waitFor('media through libsrtp', async () => v.video.length > 30 && v.audioCount() > 20, 15_000);
    } finally {
      v.close();
    }
  });
});
