// datarhei Restreamer UI, a local build (RESTREAMER_UI_DIR, default /tmp/rui-src/build), driven in
// Chromium against a real drake with API auth and its RTMP server: log in, the wizard with the RTMP
// server source, the channel running with progress, Disconnect, Delete (test/helpers/restreamerUi.ts).
// The build is not in the repository (CI cannot fetch it): without one this skips and says how to make
// it; restreamerUiReplay.test.ts checks the same API calls without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chromiumPath } from '../helpers/chromium.ts';
import { NO_UI_NOTE, restreamerUiDir, runAgainstFreshDrake } from '../helpers/restreamerUi.ts';

const dir = restreamerUiDir();
const skip = !dir ? NO_UI_NOTE : !chromiumPath() ? 'no Chromium (apt-get install -y chromium)' : false;
if (skip) process.stdout.write(`# Restreamer UI browser test skipped: ${skip}\n`);

test('Restreamer UI against drake in Chromium: log in, create a channel, see it run, stop and delete it', { skip, timeout: 150_000 }, async () => {
  const run = await runAgainstFreshDrake(dir!, { shotsDir: process.env.RESTREAMER_UI_SHOTS });
  const failed = run.steps.filter((s) => !s.ok);
  assert.deepEqual(failed, [], `steps: ${run.steps.map((s) => `${s.ok ? 'ok' : 'FAIL'} ${s.name} (${s.ms} ms)`).join('; ')}`);
  assert.equal(run.steps.length, 12);
  // The UI's own probing for what is not there yet answers 404 (as Core); nothing else may fail.
  const unexpected = run.calls.filter((c) => c.status >= 400 && c.status !== 404);
  assert.deepEqual(unexpected.map((c) => `${c.method} ${c.path} ${c.status}`), []);
  assert.ok(run.calls.some((c) => c.method === 'GET' && /^\/memfs\/.*\.ts$/.test(c.path) && c.status === 200), 'the UI\'s player read the channel\'s HLS from drake');
});
