import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/shared/config.ts';
import { ValidationError } from '../../src/shared/errors.ts';

test('loadConfig() gives working defaults with no file and no environment', () => {
  const { config, file, overrides } = loadConfig({ env: {} });
  assert.equal(file, null);
  assert.deepEqual(overrides, []);
  assert.equal(config.api.host, '127.0.0.1');
  assert.equal(config.api.port, 8080);
  assert.equal(config.ffmpeg.log.max_lines, 50);
  assert.equal(config.ffmpeg.log.max_history, 3);
});

test('loadConfig() applies DRAKE_* overrides over the file, with types', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drake-cfg-'));
  const file = join(dir, 'drake.json');
  writeFileSync(file, JSON.stringify({ api: { port: 9000, host: '127.0.0.2' }, ffmpeg: { max_processes: 3 } }));
  const { config, overrides } = loadConfig({
    file,
    env: { DRAKE_API_PORT: '9100', DRAKE_API_ALLOW_PUBLIC_WITHOUT_AUTH: 'true', DRAKE_FFMPEG_LOG_MAX_LINES: '200' },
  });
  assert.equal(config.api.port, 9100);
  assert.equal(config.api.host, '127.0.0.2');
  assert.equal(config.api.allow_public_without_auth, true);
  assert.equal(config.ffmpeg.max_processes, 3);
  assert.equal(config.ffmpeg.log.max_lines, 200);
  assert.deepEqual(overrides.sort(), ['DRAKE_API_ALLOW_PUBLIC_WITHOUT_AUTH', 'DRAKE_API_PORT', 'DRAKE_FFMPEG_LOG_MAX_LINES']);
});

test('loadConfig() rejects bad values with the field path', () => {
  assert.throws(() => loadConfig({ env: { DRAKE_API_PORT: 'eighty' } }), (e: unknown) => e instanceof ValidationError && /DRAKE_API_PORT must be a number/.test(e.message));
  assert.throws(
    () => loadConfig({ env: { DRAKE_API_PORT: '70000' } }),
    (e: unknown) => e instanceof ValidationError && e.details.some((d) => d.startsWith('api.port:')),
  );
  const dir = mkdtempSync(join(tmpdir(), 'drake-cfg-'));
  const file = join(dir, 'broken.json');
  writeFileSync(file, '{ nope');
  assert.throws(() => loadConfig({ file, env: {} }), /is not valid JSON/);
  assert.throws(() => loadConfig({ file: join(dir, 'missing.json'), env: {} }), /cannot read config file/);
});
