// The shared port and FFmpeg's RTP sockets are read natively (recvmmsg batches) where the addon runs; node's
// dgram 'message' reading stays the fallback (JS backend, not Linux, DRAKE_NATIVE_RECV=0). The shared-port,
// ICE-lite and paced-reading tests run again here on that fallback, so both readings stay covered.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nativeRecvEnabled } from '../../src/shared/srtp/index.ts';

const FILES = ['whep/whepSharedPort.test.ts', 'whep/whepIceLite.test.ts', 'peer/udpMuxPaced.test.ts'].map((f) => fileURLToPath(new URL(`../${f}`, import.meta.url)));

test('shared-port, ICE-lite and paced-reading tests pass with DRAKE_NATIVE_RECV=0 (node dgram reading)', { skip: !nativeRecvEnabled && 'native receive is off already: the files themselves run the fallback', timeout: 180_000 }, () => {
  // NODE_TEST_CONTEXT (set by a parent `node --test`) would make the child report to us and exit 0: drop it.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './scripts/testExitGuard.mjs', '--test', '--test-reporter=spec', '--test-concurrency=1', ...FILES], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...env, DRAKE_NATIVE_RECV: '0' },
    encoding: 'utf8',
    timeout: 170_000,
  });
  assert.equal(r.status, 0, `child run with DRAKE_NATIVE_RECV=0 failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /ℹ pass [1-9]/);
  assert.match(r.stdout, /ℹ fail 0/);
});
