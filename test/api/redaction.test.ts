// The memfs credentials that {memfs} hands FFmpeg (in the URL and as an Authorization header) must not
// show up in anything the API returns: state (command, last_logline), report (prelude, log), the
// process list, probe, drake's own log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';

let drake: TestDrake;
before(async () => {
  drake = await startDrake();
});
after(() => drake.stop(true));

test('memfs credentials are redacted in state, report, list, probe and /api/v3/log', async () => {
  const { username, password } = drake.config.storage.memory.auth;
  assert.ok(password.length >= 8, 'memfs auth is on with a generated password');
  const basic = Buffer.from(`${username}:${password}`).toString('base64');
  const res = await drake.api('POST', '/api/v3/process', {
    id: 'hls',
    input: [{ id: 'in', address: 'testsrc=size=160x120:rate=10', options: ['-re', '-f', 'lavfi'] }],
    output: [{ id: 'out', address: '{memfs}/{processid}.m3u8', options: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-f', 'hls', '-hls_time', '1'] }],
    options: ['-loglevel', 'info'],
  });
  assert.equal(res.status, 200);
  // FFmpeg's hls muxer logs "Opening 'http://user:password@.../memfs/hls0.ts' for writing" per segment.
  await waitFor('a segment written', async () => {
    const report = await drake.api<{ log: Array<[string, string]> }>('GET', '/api/v3/process/hls/report');
    return report.body.log.some(([, line]) => /Opening '.*memfs.*' for writing/.test(line));
  }, 20_000);
  const texts = await Promise.all(
    ['/api/v3/process/hls/state', '/api/v3/process/hls/report', '/api/v3/process?filter=config,state,report', '/api/v3/process/hls/probe', '/api/v3/log', '/api/v3/log?format=raw'].map(
      async (path) => [path, JSON.stringify((await drake.api('GET', path)).body)] as const,
    ),
  );
  for (const [path, text] of texts) {
    assert.ok(!text.includes(password), `${path} shows the memfs password`);
    assert.ok(!text.includes(basic), `${path} shows the memfs Authorization header`);
  }
  const state = await drake.api<{ command: string[] }>('GET', '/api/v3/process/hls/state');
  const command = state.body.command.join(' ');
  assert.match(command, new RegExp(`http://${username}:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/memfs/hls\\.m3u8`), 'the URL stays readable, password masked');
  assert.match(command, /Authorization: Basic \*\*\*/);
  const report = (await drake.api<{ log: Array<[string, string]> }>('GET', '/api/v3/process/hls/report')).body;
  assert.ok(report.log.some(([, line]) => line.includes(`${username}:***@`)), 'FFmpeg log lines are masked, not dropped');
});
