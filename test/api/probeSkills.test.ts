import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDrake, testProcess, type TestDrake } from '../helpers/drake.ts';

describe('GET /api/v3/process/:id/probe and /api/v3/skills over HTTP', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake();
  });
  after(() => drake.stop(true));

  test('probe reports the streams of a process\'s inputs', async () => {
    await drake.api('POST', '/api/v3/process', testProcess('p', { autostart: false }));
    const res = await drake.api<{ streams: Array<{ type: string; width: number; codec: string }>; log: string[] }>('GET', '/api/v3/process/p/probe');
    assert.equal(res.status, 200);
    assert.equal(res.body.streams.length, 1);
    assert.equal(res.body.streams[0]!.type, 'video');
    assert.equal(res.body.streams[0]!.width, 160);
  });

  test('probe of an unreachable input is 200 with the reason in the log; unknown process is 404', async () => {
    await drake.api('POST', '/api/v3/process', testProcess('gone', { autostart: false, input: [{ id: 'in', address: '{diskfs}/missing.mp4' }] }));
    const res = await drake.api<{ streams: unknown[]; log: string[] }>('GET', '/api/v3/process/gone/probe');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.streams, []);
    assert.ok(res.body.log.some((l) => /No such file or directory/.test(l)), res.body.log.slice(-3).join('\n'));
    assert.equal((await drake.api('GET', '/api/v3/process/nope/probe')).status, 404);
  });

  test('skills list the FFmpeg in use; reload answers the same', async () => {
    const res = await drake.api<{ ffmpeg: { version: string }; codecs: { video: Array<{ id: string; encoders: string[] }> }; protocols: { input: Array<{ id: string }> } }>('GET', '/api/v3/skills');
    assert.equal(res.status, 200);
    assert.match(res.body.ffmpeg.version, /^\d+\.\d+/);
    assert.ok(res.body.codecs.video.find((c) => c.id === 'h264')?.encoders.includes('libx264'));
    assert.ok(res.body.protocols.input.some((p) => p.id === 'udp'));
    const again = await drake.api<{ ffmpeg: { version: string } }>('GET', '/api/v3/skills/reload');
    assert.equal(again.body.ffmpeg.version, res.body.ffmpeg.version);
  });
});
