// A second, independent WebRTC stack as viewer: libdatachannel (libjuice ICE, OpenSSL DTLS, libsrtp)
// through node-datachannel. drake must not only work against werift.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import ndc from 'node-datachannel';
import { h264NalTypesStarting, NAL, rtpPayloadType } from '../../src/shared/h264.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';

describe('WHEP with a node-datachannel (libdatachannel) viewer', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake();
    await drake.api('POST', '/api/v3/process', webrtcProcess('cam'));
    await waitFor('media', async () => (await drake.supervisor.whepStats('cam')).gopPackets > 0, 30_000);
  });
  after(async () => {
    ndc.cleanup();
    await drake.stop(true);
  });

  test('it connects and receives decryptable H264 (SPS/PPS first) and Opus', async () => {
    const pc = new ndc.PeerConnection('viewer', { iceServers: [], bindAddress: '127.0.0.1' });
    const video = new ndc.Video('0', 'RecvOnly');
    video.addH264Codec(102);
    const audio = new ndc.Audio('1', 'RecvOnly');
    audio.addOpusCodec(111);
    const vt = pc.addTrack(video);
    const at = pc.addTrack(audio);
    const rtp: Buffer[] = [];
    let audioPackets = 0;
    // RTCP arrives on the same callback: keep RTP (payload type outside 72-79) only.
    vt.onMessage((msg) => {
      const pt = msg[1]! & 0x7f;
      if (pt < 72 || pt > 79) rtp.push(Buffer.from(msg));
    });
    at.onMessage((msg) => {
      const pt = msg[1]! & 0x7f;
      if (pt < 72 || pt > 79) audioPackets++;
    });
    try {
      pc.setLocalDescription();
      await waitFor('gathering complete', async () => pc.gatheringState() === 'complete');
      const res = await fetch(`${drake.url}/whep/cam`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription()!.sdp });
      const answer = await res.text();
      assert.equal(res.status, 201, answer);
      assert.match(answer, /a=rtpmap:102 H264\/90000/, 'drake answers on the payload type the viewer chose');
      pc.setRemoteDescription(answer, 'answer');
      await waitFor('media through libsrtp', async () => rtp.length > 30 && audioPackets > 20, 15_000);
      assert.equal(rtpPayloadType(rtp[0]!), 102);
      assert.deepEqual(h264NalTypesStarting(rtp[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
      assert.ok(rtp.slice(0, 5).some((p) => h264NalTypesStarting(p).includes(NAL.IDR)));
      const del = await fetch(`${drake.url}${res.headers.get('location')}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
    } finally {
      pc.close();
    }
  });
});
