// H264 copied from an MP4 (parameter sets only in the avcC header, out of band) and AAC audio:
// viewers must still get SPS/PPS in band before every IDR, and the AAC must arrive as Opus.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { h264NalTypesStarting, NAL, rtpTimestamp } from '../../src/shared/h264.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';

describe('WebRTC from an MP4 with H264 copy and AAC audio', () => {
  let drake: TestDrake;
  let viewer: WhepViewer | null = null;
  before(async () => {
    drake = await startDrake();
    const clip = join(drake.config.storage.disk.dir, 'clip.mp4');
    await execa(drake.ffmpeg.path, [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=4',
      '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=44100:duration=4',
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '25', '-bf', '0',
      '-c:a', 'aac', '-b:a', '96k', '-movflags', '+faststart', clip,
    ]);
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'clip',
      input: [{ id: 'in', address: '{diskfs}/clip.mp4', options: ['-re', '-stream_loop', '-1'] }],
      output: [{ id: 'null', address: '-', options: ['-map', '0:a', '-f', 'null'] }],
      webrtc: { enabled: true, video: 'copy', audio: 'opus' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('media', async () => (await drake.supervisor.whepStats('clip')).gopPackets > 0, 30_000);
  });
  after(async () => {
    await viewer?.close();
    await drake.stop(true);
  });

  test('every keyframe the viewer gets is preceded by SPS/PPS, and the audio arrives as Opus', async () => {
    viewer = await whepView(`${drake.url}/whep/clip`, { keepVideo: 100_000 });
    assert.equal(viewer.status, 201, viewer.answer);
    const v = viewer;
    await waitFor('2.5 s of live video with audio', async () => videoCount(v) > 0 && v.audio > 100, 20_000);
    const idrTimestamps = new Set<number>();
    const spsTimestamps = new Set<number>();
    for (const p of v.video) {
      const nals = h264NalTypesStarting(p);
      if (nals.includes(NAL.IDR)) idrTimestamps.add(rtpTimestamp(p));
      if (nals.includes(NAL.SPS) && nals.includes(NAL.PPS)) spsTimestamps.add(rtpTimestamp(p));
    }
    assert.ok(idrTimestamps.size >= 2, `at least two keyframes seen (${idrTimestamps.size})`);
    for (const ts of idrTimestamps) assert.ok(spsTimestamps.has(ts), `keyframe at ${ts} has SPS/PPS in band`);
    assert.deepEqual(h264NalTypesStarting(v.video[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
  });
});
