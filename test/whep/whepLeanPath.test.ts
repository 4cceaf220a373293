// send_path = lean: drake protects with its own (native) SRTP and sends on the viewer's ICE
// connection. Two independent stacks must decrypt it: werift and libdatachannel (libsrtp).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import ndc from 'node-datachannel';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView } from '../helpers/whepClient.ts';

describe('the lean send path (drake\'s SRTP)', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean' } });
    await drake.api('POST', '/api/v3/process', webrtcProcess('cam'));
    await waitFor('media', async () => (await drake.supervisor.whepStats('cam')).gopPackets > 0, 30_000);
  });
  after(async () => {
    ndc.cleanup();
    await drake.stop(true);
  });

  test('a werift viewer decrypts video (SPS/PPS first, continuous seq) and audio; a PLI gets a burst', async () => {
    const v = await whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 });
    try {
      assert.equal(v.status, 201);
      await waitFor('video and audio', async () => videoCount(v) > 60 && v.audio > 30, 15_000);
      assert.deepEqual(h264NalTypesStarting(v.video[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
      const seqs = v.video.slice(0, 60).map((p) => p.readUInt16BE(2));
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1]! + 1) & 0xffff);
      const before = (await drake.supervisor.whepStats('cam')).bursts;
      const mark = v.video.length;
      await v.sendPli();
      await waitFor('keyframe burst after PLI', async () => (await drake.supervisor.whepStats('cam')).bursts > before && v.video.slice(mark).some((p) => h264NalTypesStarting(p).includes(NAL.SPS)), 5000);
    } finally {
      await v.close();
    }
  });

  test('a node-datachannel (libsrtp) viewer decrypts it too', async () => {
    const pc = new ndc.PeerConnection('lean', { iceServers: [], bindAddress: '127.0.0.1' });
    const video = new ndc.Video('0', 'RecvOnly');
    video.addH264Codec(102);
    const audio = new ndc.Audio('1', 'RecvOnly');
    audio.addOpusCodec(111);
    let videoRtp = 0;
    let audioRtp = 0;
    pc.addTrack(video).onMessage((m) => {
      const pt = m[1]! & 0x7f;
      if (pt < 72 || pt > 79) videoRtp++;
    });
    pc.addTrack(audio).onMessage((m) => {
      const pt = m[1]! & 0x7f;
      if (pt < 72 || pt > 79) audioRtp++;
    });
    try {
      pc.setLocalDescription();
      await waitFor('gathering', async () => pc.gatheringState() === 'complete');
      const res = await fetch(`${drake.url}/whep/cam`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription()!.sdp });
      assert.equal(res.status, 201);
      pc.setRemoteDescription(await res.text(), 'answer');
      await waitFor('media through libsrtp', async () => videoRtp > 30 && audioRtp > 20, 15_000);
    } finally {
      pc.close();
    }
  });
});
