import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveNodeId } from '../../src/actors/cluster/nodeId.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { ValidationError } from '../../src/shared/errors.ts';
import { tempDir } from '../helpers/tempDir.ts';

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
  const dir = tempDir('drake-cfg-');
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
  const dir = tempDir('drake-cfg-');
  const file = join(dir, 'broken.json');
  writeFileSync(file, '{ nope');
  assert.throws(() => loadConfig({ file, env: {} }), /is not valid JSON/);
  assert.throws(() => loadConfig({ file: join(dir, 'missing.json'), env: {} }), /cannot read config file/);
});

test('cluster settings: off by default, every key from the environment, bad values named', () => {
  const off = loadConfig({ env: {} }).config.cluster;
  assert.equal(off.enable, false);
  assert.equal(off.redis_url, 'redis://127.0.0.1:6379');
  assert.equal(off.node_id, '');
  assert.equal(off.node_timeout_seconds, 4);
  const { config, overrides } = loadConfig({
    env: {
      DRAKE_CLUSTER_ENABLE: 'true',
      DRAKE_CLUSTER_REDIS_URL: 'redis://10.0.0.5:6380/2',
      DRAKE_CLUSTER_REDIS_PASSWORD: 's3cret',
      DRAKE_CLUSTER_NODE_ID: 'edge-1',
      DRAKE_CLUSTER_ADVERTISE_URL: 'http://10.0.0.7:8080',
      DRAKE_CLUSTER_ADVERTISE_HOST: '10.0.0.7',
      DRAKE_CLUSTER_KEY_PREFIX: 'prod',
      DRAKE_CLUSTER_NODE_TIMEOUT_SECONDS: '6',
      DRAKE_CLUSTER_WHEP_MODE: 'edge',
      DRAKE_CLUSTER_EDGE_LINGER_SECONDS: '2.5',
      DRAKE_CLUSTER_RELAY_LEASE_SECONDS: '9',
    },
  });
  assert.equal(overrides.length, 11);
  assert.deepEqual(config.cluster, {
    enable: true,
    redis_url: 'redis://10.0.0.5:6380/2',
    redis_password: 's3cret',
    node_id: 'edge-1',
    advertise_url: 'http://10.0.0.7:8080',
    advertise_host: '10.0.0.7',
    key_prefix: 'prod',
    node_timeout_seconds: 6,
    whep_mode: 'edge',
    edge_linger_seconds: 2.5,
    relay_lease_seconds: 9,
  });
  const bad = (env: Record<string, string>, path: string) =>
    assert.throws(() => loadConfig({ env }), (e: unknown) => e instanceof ValidationError && e.details.some((d) => d.startsWith(`${path}:`)), path);
  bad({ DRAKE_CLUSTER_REDIS_URL: 'http://127.0.0.1:6379' }, 'cluster.redis_url');
  bad({ DRAKE_CLUSTER_NODE_ID: 'a/b' }, 'cluster.node_id');
  bad({ DRAKE_CLUSTER_ADVERTISE_URL: 'ftp://x' }, 'cluster.advertise_url');
  bad({ DRAKE_CLUSTER_NODE_TIMEOUT_SECONDS: '1' }, 'cluster.node_timeout_seconds');
  bad({ DRAKE_CLUSTER_WHEP_MODE: 'relay' }, 'cluster.whep_mode');
  bad({ DRAKE_CLUSTER_RELAY_LEASE_SECONDS: '1' }, 'cluster.relay_lease_seconds');
});

test('cluster node id: generated once and kept in db.dir, the configured one wins, a damaged file is an error', () => {
  const dir = tempDir('drake-nodeid-');
  const first = resolveNodeId(dir, '');
  assert.equal(first.source, 'generated');
  assert.match(first.id, /^node-[0-9a-f]{12}$/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')), { node_id: first.id });
  assert.deepEqual(resolveNodeId(dir, ''), { id: first.id, source: 'kept' });
  assert.deepEqual(resolveNodeId(dir, 'mine'), { id: 'mine', source: 'config' });
  assert.notEqual(resolveNodeId(tempDir('drake-nodeid-'), '').id, first.id);
  writeFileSync(join(dir, 'cluster.json'), '{"node_id": "a b"}');
  assert.throws(() => resolveNodeId(dir, ''), (e: unknown) => e instanceof ValidationError && /cluster\.json does not hold a valid/.test(e.message));
});
