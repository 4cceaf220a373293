import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDrake, type TestDrake } from '../helpers/drake.ts';

describe('GET/PUT /api/v3/config', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ api: { auth: { enable: true, password: 'hunter2', disable_localhost: true } } });
  });
  after(() => drake.stop(true));

  test('GET shows the running config with secrets masked', async () => {
    const res = await drake.api<{ config: { api: { auth: { password: string; jwt: { secret: string } } } }; overrides: string[]; file: string }>('GET', '/api/v3/config');
    assert.equal(res.status, 200);
    assert.equal(res.body.config.api.auth.password, '********');
    assert.ok(Array.isArray(res.body.overrides));
    assert.equal(res.body.file, join(drake.config.db.dir, 'drake.json'));
  });

  test('PUT with an invalid value → 409 with the field path, nothing saved', async () => {
    const res = await drake.api<{ code: number; details: string[] }>('PUT', '/api/v3/config', { api: { port: 'eighty' } });
    assert.equal(res.status, 409);
    assert.ok(res.body.details.some((d) => d.startsWith('api.port:')));
    assert.equal((await drake.api('PUT', '/api/v3/config', '[1]')).status, 400);
  });

  test('PUT merges, validates and saves atomically; a masked secret sent back keeps the stored one', async () => {
    const res = await drake.api('PUT', '/api/v3/config', { name: 'studio', api: { auth: { password: '********' } }, ffmpeg: { log: { max_lines: 80 } } });
    assert.equal(res.status, 200);
    const saved = JSON.parse(readFileSync(join(drake.config.db.dir, 'drake.json'), 'utf8'));
    assert.equal(saved.name, 'studio');
    assert.equal(saved.ffmpeg.log.max_lines, 80);
    assert.equal(saved.api?.auth?.password ?? '', '', 'the mask was not written as a password');
  });

  test('PUT with __proto__ / constructor keys: they are not merged (no prototype swap), the rest is', async () => {
    const res = await drake.api('PUT', '/api/v3/config', '{"name":"proto-safe","__proto__":{"polluted":true},"log":{"constructor":{"x":1},"level":"warn"}}');
    assert.equal(res.status, 200);
    const saved = JSON.parse(readFileSync(join(drake.config.db.dir, 'drake.json'), 'utf8'));
    assert.equal(saved.name, 'proto-safe');
    assert.equal(Object.getPrototypeOf(saved), Object.prototype);
    assert.equal(Object.hasOwn(saved, '__proto__'), false);
    assert.equal(Object.hasOwn(saved.log, 'constructor'), false);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('reload is refused with 501 when drake is embedded (npm start has it)', async () => {
    assert.equal((await drake.api('GET', '/api/v3/config/reload')).status, 501);
  });
});
