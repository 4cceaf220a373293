import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDrake, waitFor } from '../helpers/drake.ts';

test('output cleanup keeps max_files in memfs and purges on delete', { timeout: 60_000 }, async () => {
  const drake = await startDrake();
  try {
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'clean',
      input: [{ id: 'in', address: 'testsrc=size=160x120:rate=25', options: ['-re', '-f', 'lavfi'] }],
      output: [
        {
          id: 'hls',
          address: '{memfs}/{processid}/index.m3u8',
          // FFmpeg itself deletes nothing here: drake's cleanup must.
          options: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '12', '-f', 'hls', '-hls_time', '0.5', '-hls_list_size', '0', '-method', 'PUT'],
          cleanup: [{ pattern: 'memfs:/{processid}/*.ts', max_files: 3, purge_on_delete: true }],
        },
      ],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const segments = async () => (await drake.api<Array<{ name: string }>>('GET', '/api/v3/fs/mem?glob=/clean/*.ts')).body;
    let seen = 0;
    await waitFor('more than 3 segments written', async () => {
      const playlist = await fetch(`${drake.url}/memfs/clean/index.m3u8`);
      seen = playlist.status === 200 ? [...(await playlist.text()).matchAll(/\.ts$/gm)].length : 0;
      return seen >= 7;
    }, 30_000, 250);
    // The rules run once a second while FFmpeg writes a segment every 0.5 s: right after a tick at most
    // max_files are left, and the oldest are the ones gone.
    const kept = await waitFor('a cleanup tick down to max_files', async () => {
      const list = await segments();
      return list.length <= 3 ? list : null;
    }, 3000, 20);
    assert.ok(!kept.some((f) => f.name === '/clean/index0.ts' || f.name === '/clean/index1.ts'), `the oldest were deleted: ${kept.map((f) => f.name).join(', ')} of ${seen} written`);
    assert.equal((await drake.api('DELETE', '/api/v3/process/clean')).status, 200);
    assert.deepEqual(await segments(), [], 'purge_on_delete removed the segments');
  } finally {
    await drake.stop(true);
  }
});
