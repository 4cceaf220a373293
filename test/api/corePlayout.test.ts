// Core's playout API (/api/v3/process/:id/playout/:inputid/...) against a real drake: drake has no
// playout inputs, so every route answers what Core answers for an input without playout
// (http/handler/api/playout.go: 404 "Unknown process or input", restream.GetPlayout's reason).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDrakeWithLogin, testProcess, type TestDrake } from '../helpers/drake.ts';

const ROUTES: Array<[string, string]> = [
  ['GET', 'status'],
  ['GET', 'reopen'],
  ['GET', 'keyframe/last.jpg'],
  ['GET', 'keyframe/last.png'],
  ['GET', 'errorframe/encode'],
  ['PUT', 'errorframe/error.jpg'],
  ['POST', 'errorframe/error.jpg'],
  ['PUT', 'stream'],
];

describe("Core's playout API: inputs without playout", () => {
  let drake: TestDrake;
  let auth: Record<string, string>;

  before(async () => {
    ({ drake, auth } = await startDrakeWithLogin());
    assert.equal((await drake.api('POST', '/api/v3/process', testProcess('cam', { autostart: false }), auth)).status, 200);
  });
  after(() => drake.stop(true));

  test('every route of a known process: 404 with Core\'s message and reason', async () => {
    for (const [method, path] of ROUTES) {
      const body = method === 'GET' ? undefined : path === 'stream' ? 'rtmp://example.invalid/live' : new Uint8Array(2048).fill(0xff);
      const res = await drake.api(method, `/api/v3/process/cam/playout/in/${path}`, body, { ...auth, ...(body ? { 'content-type': 'application/octet-stream' } : {}) });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.deepEqual(res.body, { code: 404, message: 'Unknown process or input', details: ["no playout for input ID 'in' and process 'cam'"] }, `${method} ${path}`);
    }
  });

  test('an unknown process: Core\'s "unknown process"', async () => {
    const res = await drake.api('GET', '/api/v3/process/nosuch/playout/in/status', undefined, auth);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { code: 404, message: 'Unknown process or input', details: ['unknown process'] });
  });

  test('the token is needed, as on every /api/v3 route', async () => {
    assert.equal((await drake.api('GET', '/api/v3/process/cam/playout/in/status')).status, 401);
    assert.equal((await drake.api('PUT', '/api/v3/process/cam/playout/in/stream', 'x', { 'content-type': 'text/plain' })).status, 401);
  });
});
