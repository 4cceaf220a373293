import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startDrake, testProcess, type TestDrake } from '../helpers/drake.ts';

interface ErrorBody {
  code: number;
  message: string;
  details: string[];
}

describe('bad input gets a clear error and loses nothing', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ api: { max_body_bytes: 4096 } });
    await drake.api('POST', '/api/v3/process', testProcess('keep', { autostart: false }));
  });
  after(() => drake.stop(true));

  const cases: Array<{ name: string; method: string; path: string; body?: unknown; headers?: Record<string, string>; status: number; message: RegExp; detail?: RegExp }> = [
    { name: 'invalid JSON', method: 'POST', path: '/api/v3/process', body: '{"id": "x", ', status: 400, message: /Invalid JSON/ },
    { name: 'empty body', method: 'POST', path: '/api/v3/process', body: '', status: 400, message: /Invalid JSON/, detail: /empty/ },
    { name: 'wrong content type', method: 'POST', path: '/api/v3/process', body: '{}', headers: { 'content-type': 'text/plain' }, status: 415, message: /application\/json/ },
    { name: 'missing inputs', method: 'POST', path: '/api/v3/process', body: { id: 'x', output: [{ address: '-' }] }, status: 400, message: /Invalid process config/, detail: /^input: / },
    { name: 'wrong field type', method: 'POST', path: '/api/v3/process', body: { ...testProcess('x'), reconnect_delay_seconds: 'soon' }, status: 400, message: /Invalid process config/, detail: /^reconnect_delay_seconds: / },
    { name: 'nested field error has its path', method: 'POST', path: '/api/v3/process', body: { ...testProcess('x'), input: [{ address: '' }] }, status: 400, message: /Invalid process config/, detail: /^input\.0\.address: / },
    { name: 'unsupported type', method: 'POST', path: '/api/v3/process', body: { ...testProcess('x'), type: 'gstreamer' }, status: 400, message: /Invalid process config/, detail: /^type: / },
    { name: 'id with a slash', method: 'POST', path: '/api/v3/process', body: testProcess('a/b'), status: 400, message: /Invalid process config/, detail: /^id: / },
    { name: 'id of 500 characters', method: 'POST', path: '/api/v3/process', body: testProcess('a'.repeat(500)), status: 400, message: /Invalid process config/, detail: /^id: / },
    { name: 'id ..', method: 'POST', path: '/api/v3/process', body: testProcess('..'), status: 400, message: /Invalid process config/, detail: /^id: / },
    { name: 'output path outside the disk filesystem', method: 'POST', path: '/api/v3/process', body: { ...testProcess('x'), output: [{ address: '/etc/evil.ts' }] }, status: 400, message: /Invalid process config/ },
    { name: 'duplicate id', method: 'POST', path: '/api/v3/process', body: testProcess('keep'), status: 409, message: /already exists/ },
    { name: 'unknown process', method: 'GET', path: '/api/v3/process/nope', status: 404, message: /Unknown process ID/ },
    { name: 'unknown process state', method: 'GET', path: '/api/v3/process/nope/state', status: 404, message: /Unknown process ID/ },
    { name: 'unknown process update', method: 'PUT', path: '/api/v3/process/nope', body: { reference: 'x' }, status: 404, message: /Unknown process ID/ },
    { name: 'unknown process delete', method: 'DELETE', path: '/api/v3/process/nope', status: 404, message: /Unknown process ID/ },
    { name: 'unknown process command', method: 'PUT', path: '/api/v3/process/nope/command', body: { command: 'start' }, status: 404, message: /Unknown process ID/ },
    { name: 'unknown command', method: 'PUT', path: '/api/v3/process/keep/command', body: { command: 'explode' }, status: 400, message: /Unknown command/ },
    { name: 'id with path characters in the URL', method: 'GET', path: '/api/v3/process/..%2Fetc', status: 400, message: /Invalid process ID/ },
    { name: 'absurdly long id in the URL', method: 'GET', path: `/api/v3/process/${'x'.repeat(300)}`, status: 400, message: /Invalid process ID/ },
    { name: 'unknown filter', method: 'GET', path: '/api/v3/process?filter=everything', status: 400, message: /Invalid filter/ },
    { name: 'PUT with a non-object body', method: 'PUT', path: '/api/v3/process/keep', body: [1, 2], status: 400, message: /Invalid process config/ },
    { name: 'unknown route', method: 'GET', path: '/api/v3/nothing-here', status: 404, message: /no route/ },
  ];

  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const res = await drake.api<ErrorBody>(c.method, c.path, c.body, c.headers);
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      assert.equal(res.body.code, c.status);
      assert.match(res.body.message, c.message);
      if (c.detail) assert.ok(res.body.details.some((d) => c.detail!.test(d)), `details ${JSON.stringify(res.body.details)}`);
    });
  }

  test('a body over the limit → 413 (declared length)', async () => {
    const res = await drake.api<ErrorBody>('POST', '/api/v3/process', { ...testProcess('big'), reference: 'x'.repeat(10_000) });
    assert.equal(res.status, 413);
    assert.match(res.body.message, /larger than 4096 bytes/);
  });

  test('a chunked body over the limit → 413', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${drake.url}/api/v3/process`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
      req.end();
    });
    assert.equal(status, 413);
  });

  test('after all that, the stored process is intact and drake answers', async () => {
    const res = await drake.api<Array<{ id: string }>>('GET', '/api/v3/process');
    assert.deepEqual(res.body.map((p) => p.id), ['keep']);
    assert.equal((await drake.api('GET', '/ping')).body, 'pong');
  });
});
