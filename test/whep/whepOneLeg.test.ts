// WebRTC on an input with only one medium: the leg with nothing to carry is left out of FFmpeg's
// command (an output without streams would end the run), the process runs, a viewer that offers both
// media gets the one that exists, and the log says which leg was skipped.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';

type State = { exec: string; command: string[]; progress: { outputs: Array<{ id: string }> } };
type Report = { log: Array<[string, string]> };

describe('WebRTC on a video-only or an audio-only input', () => {
  let drake: TestDrake;
  const viewers: WhepViewer[] = [];
  before(async () => {
    drake = await startDrake();
  });
  after(async () => {
    for (const v of viewers) await v.close();
    await drake.stop(true);
  });

  async function logText(id: string): Promise<string> {
    const report = await drake.api<Report>('GET', `/api/v3/process/${id}/report`);
    return report.body.log.map(([, line]) => line).join('\n');
  }

  test('a video-only input runs, the viewer gets keyframes, and the log says the audio leg was skipped', async () => {
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'vonly',
      input: [{ id: 'v', address: 'testsrc=size=320x240:rate=25', options: ['-re', '-f', 'lavfi'] }],
      output: [{ id: 'null', address: '-', options: ['-map', '0:v', '-f', 'null'] }],
      webrtc: { enabled: true, gop_seconds: 1, video_bitrate_kbit: 500 },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('video in the GOP cache', async () => (await drake.supervisor.whepStats('vonly')).gopPackets > 0, 20_000);
    const state = (await drake.api<State>('GET', '/api/v3/process/vonly/state')).body;
    assert.equal(state.exec, 'running');
    assert.ok(!state.command.includes('libopus'), `no audio leg in ${state.command.join(' ')}`);
    assert.deepEqual(state.progress.outputs.map((o) => o.id).filter((id) => id.startsWith('webrtc:')), ['webrtc:video']);
    assert.match(await logText('vonly'), /WebRTC: the inputs have no audio stream; the audio leg is skipped/);

    const viewer = await whepView(`${drake.url}/whep/vonly`, { keepVideo: 100_000 });
    viewers.push(viewer);
    assert.equal(viewer.status, 201, viewer.answer);
    await waitFor('a keyframe at the viewer', async () => viewer.video.some((p) => h264NalTypesStarting(p).includes(NAL.IDR)), 15_000);
    const before = videoCount(viewer);
    await waitFor('live video goes on', async () => videoCount(viewer) > before + 20, 10_000);
    assert.equal(viewer.audio, 0);
  });

  test('an audio-only input runs, the viewer gets audio, and the log says the video leg was skipped', async () => {
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'aonly',
      input: [{ id: 'a', address: 'sine=frequency=440:sample_rate=48000', options: ['-re', '-f', 'lavfi'] }],
      output: [{ id: 'null', address: '-', options: ['-map', '0:a', '-f', 'null'] }],
      webrtc: { enabled: true },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('audio at the ingest', async () => ((await drake.supervisor.whepStats('aonly')).ingest?.audio.packets ?? 0) > 10, 20_000);
    const state = (await drake.api<State>('GET', '/api/v3/process/aonly/state')).body;
    assert.equal(state.exec, 'running');
    assert.ok(!state.command.includes('libx264'), `no video leg in ${state.command.join(' ')}`);
    assert.deepEqual(state.progress.outputs.map((o) => o.id).filter((id) => id.startsWith('webrtc:')), ['webrtc:audio']);
    assert.match(await logText('aonly'), /WebRTC: the inputs have no video stream; the video leg is skipped/);

    // The viewer offers video and audio, as browsers do: the answer still carries both sections.
    const viewer = await whepView(`${drake.url}/whep/aonly`);
    viewers.push(viewer);
    assert.equal(viewer.status, 201, viewer.answer);
    assert.match(viewer.answer, /m=video/);
    assert.match(viewer.answer, /m=audio/);
    await waitFor('1 s of audio at the viewer', async () => viewer.audio > 50, 15_000);
    assert.equal(videoCount(viewer), 0);
  });
});
