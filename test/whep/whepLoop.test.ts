// A file looped into WebRTC with H264 copy must go on past its loop points, and a leg that stops
// while FFmpeg lives must be noticed (stale) and FFmpeg restarted.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import type { ReportDto } from '../../src/actors/supervisor/Supervisor.ts';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { h264NalTypesStarting, NAL, rtpTimestamp } from '../../src/shared/h264.ts';
import { alive, startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';

const CLIP_SECONDS = 2;

describe('WebRTC legs that stop: looped files and stale legs', () => {
  let drake: TestDrake;
  const viewers: WhepViewer[] = [];
  before(async () => {
    drake = await startDrake();
  });
  after(async () => {
    for (const v of viewers) await v.close();
    await drake.stop(true);
  });

  const state = async (id: string) => (await drake.api<ProcessStateDto>('GET', `/api/v3/process/${id}/state`)).body;
  const report = async (id: string) => (await drake.api<ReportDto>('GET', `/api/v3/process/${id}/report`)).body;
  const allLines = (r: ReportDto) => [...r.log, ...r.history.flatMap((h) => h.log)].map(([, l]) => l);

  test('a file looped with -stream_loop and video copy keeps sending video past three loop points', async () => {
    const clip = join(drake.config.storage.disk.dir, 'loop.mp4');
    await execa(drake.ffmpeg.path, [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${CLIP_SECONDS}`,
      '-f', 'lavfi', '-i', `sine=frequency=330:sample_rate=44100:duration=${CLIP_SECONDS}`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '25', '-bf', '0',
      '-c:a', 'aac', '-b:a', '96k', '-movflags', '+faststart', clip,
    ]);
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'loop',
      input: [{ id: 'in', address: '{diskfs}/loop.mp4', options: ['-re', '-stream_loop', '-1'] }],
      output: [{ id: 'null', address: '-', options: ['-map', '0:a', '-f', 'null'] }],
      webrtc: { enabled: true, video: 'copy', audio: 'opus' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('media', async () => (await drake.supervisor.whepStats('loop')).gopPackets > 0, 20_000);
    const pid = drake.supervisor.pidOf('loop');
    const viewer = await whepView(`${drake.url}/whep/loop`, { keepVideo: 100_000 });
    viewers.push(viewer);
    assert.equal(viewer.status, 201, viewer.answer);
    await waitFor('video at the viewer', async () => videoCount(viewer) > 0, 10_000);

    // Watch the viewer until the run is past its third loop point, noting the longest video gap.
    let lastCount = videoCount(viewer);
    let lastGrowth = Date.now();
    let longestGap = 0;
    const audioAtStart = viewer.audio;
    await waitFor('three loop points', async () => {
      const now = Date.now();
      const count = videoCount(viewer);
      if (count !== lastCount) {
        lastCount = count;
        lastGrowth = now;
      }
      longestGap = Math.max(longestGap, now - lastGrowth);
      return (await state('loop')).runtime_seconds >= 3 * CLIP_SECONDS + 2;
    }, 30_000, 100);
    assert.ok(longestGap < 1500, `video never paused for more than 1.5 s (longest gap ${longestGap} ms)`);
    assert.ok(viewer.audio - audioAtStart > 100, 'audio went on too');

    // One run did it all: no restart hid a dead leg.
    assert.equal(drake.supervisor.pidOf('loop'), pid);
    const lines = allLines(await report('loop'));
    assert.ok(!lines.some((l) => /bitstream filter|stale/i.test(l)), lines.filter((l) => /bitstream filter|stale/i.test(l)).join('\n'));
    // A keyframe a second, each with SPS/PPS in band, and the media time of the viewer's video spans the loops.
    const idr = new Set<number>();
    const sps = new Set<number>();
    for (const p of viewer.video) {
      const nals = h264NalTypesStarting(p);
      if (nals.includes(NAL.IDR)) idr.add(rtpTimestamp(p));
      if (nals.includes(NAL.SPS) && nals.includes(NAL.PPS)) sps.add(rtpTimestamp(p));
    }
    assert.ok(idr.size >= 3 * CLIP_SECONDS, `keyframes went on (${idr.size})`);
    for (const ts of idr) assert.ok(sps.has(ts), `keyframe at ${ts} has SPS/PPS in band`);
    await drake.api('DELETE', '/api/v3/process/loop');
  });

  test('a leg that stops while FFmpeg runs makes the process stale: FFmpeg is restarted', async () => {
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'deaf',
      input: [
        { id: 'v', address: 'testsrc=size=320x240:rate=25', options: ['-re', '-f', 'lavfi'] },
        // The audio ends after 2 s; the video (and FFmpeg) go on.
        { id: 'a', address: 'sine=frequency=440:sample_rate=48000:duration=2', options: ['-re', '-f', 'lavfi'] },
      ],
      output: [{ id: 'null', address: '-', options: ['-map', '0:v', '-f', 'null'] }],
      stale_timeout_seconds: 2,
      webrtc: { enabled: true, gop_seconds: 1, video_bitrate_kbit: 500 },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('running', async () => (await state('deaf')).exec === 'running');
    const firstPid = drake.supervisor.pidOf('deaf');
    const r = await waitFor('a stale run in the history', async () => {
      const rep = await report('deaf');
      return rep.history.some((h) => (h.exit_reason ?? '').startsWith('stale')) ? rep : null;
    }, 20_000);
    const entry = r.history.find((h) => (h.exit_reason ?? '').startsWith('stale'))!;
    assert.match(entry.exit_reason!, /^stale: the WebRTC audio leg has sent no RTP for 2 s while FFmpeg runs/);
    assert.ok(allLines(r).some((l) => l.includes('stale: the WebRTC audio leg')));
    // Restarted although reconnect is off: the order is still start.
    await waitFor('running again', async () => (await state('deaf')).exec === 'running' && drake.supervisor.pidOf('deaf') !== firstPid, 10_000);
    assert.equal(firstPid !== null && alive(firstPid), false);
    await waitFor('audio again', async () => {
      const ingest = (await drake.supervisor.whepStats('deaf')).ingest;
      return ingest && Date.now() - ingest.audio.lastAt < 500;
    }, 10_000);
    await drake.api('DELETE', '/api/v3/process/deaf');
  });
});
