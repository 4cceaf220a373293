import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { startDrake, testProcess, waitFor } from '../helpers/drake.ts';

// The static FFmpeg 4.1 that `npm install` brings is what a machine without FFmpeg runs: the stderr
// parser and the stop path must work with it as with a current FFmpeg.
const bundled = (() => {
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return null;
  }
})();

test('the bundled FFmpeg 4.1 runs, reports progress and stops cleanly', { skip: bundled ? false : 'optional dependency not installed' }, async () => {
  const drake = await startDrake({ ffmpeg: { binary: bundled! } });
  try {
    assert.match(drake.ffmpeg.version, /^N-|^4\./);
    await drake.api('POST', '/api/v3/process', testProcess('old'));
    const s = await waitFor('frames from FFmpeg 4.1', async () => {
      const st = (await drake.api<ProcessStateDto>('GET', '/api/v3/process/old/state')).body;
      return st.exec === 'running' && st.progress.frame > 5 ? st : null;
    });
    assert.equal(s.progress.inputs[0]?.type, 'video');
    await drake.api('PUT', '/api/v3/process/old/command', { command: 'stop' });
    assert.equal((await drake.api<ProcessStateDto>('GET', '/api/v3/process/old/state')).body.exec, 'finished');
  } finally {
    await drake.stop(true);
  }
});
