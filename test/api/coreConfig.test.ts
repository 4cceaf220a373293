// GET/PUT /api/v3/config in datarhei Core's config v3 layout, against a real drake, field by field as
// Restreamer UI reads it (src/utils/restreamer.js _initConfig(): address, host.name, tls.enable,
// rtmp.*, srt.*, storage.memory.auth.*, api.auth.*, overrides; _getConfigDebug(): the list fields it
// maps over) and saves it back (ConfigSet(): the whole object, version 3).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { coreOverrides } from '../../src/gateway/coreConfig.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { startDrake, type TestDrake } from '../helpers/drake.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** The UI's splitHostPort() for "host:port" / "[v6]:port" / ":port". */
function splitHostPort(a: string): [string, string] {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d*)$/.exec(a);
  return m ? [m[1] ?? m[2] ?? '', m[3] ?? ''] : ['', ''];
}

describe("GET/PUT /api/v3/config in Core's layout", () => {
  let drake: TestDrake;
  let auth: Record<string, string>;
  const api = <T>(method: string, path: string, body?: unknown) => drake.api<T>(method, path, body, auth);
  const file = () => join(drake.config.db.dir, 'drake.json');

  before(async () => {
    drake = await startDrake({
      api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } },
      cluster: { redis_password: 'redis-secret' },
    });
    const login = await drake.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
    auth = { authorization: `Bearer ${login.body.access_token}` };
  });
  after(() => drake.stop(true));

  test('GET: the fields _initConfig() and _getConfigDebug() read, with Core names and types', async () => {
    const res = await api<Obj>('GET', '/api/v3/config');
    assert.equal(res.status, 200);
    const { config: c, overrides } = res.body;
    for (const k of ['created_at', 'loaded_at', 'updated_at']) assert.match(res.body[k], RFC3339, `${k}: parseRFC3339Date()`);
    assert.ok(Array.isArray(overrides), 'ConfigOverrides(): overrides.includes(name)');
    assert.equal(c.version, 3);
    assert.equal(typeof c.id, 'string');
    assert.equal(c.name, 'drake');
    // address → splitHostPort(): the API's host and port.
    assert.deepEqual(splitHostPort(c.address), ['127.0.0.1', String(new URL(drake.url).port)]);
    assert.deepEqual(c.host.name, [], 'host.name.length / host.name[0]');
    assert.equal(c.tls.enable, false);
    // rtmp and srt: drake's built-in RTMP and SRT servers (off by default, on loopback); RTMPS and srt.log: Core's "off" values.
    assert.equal(c.rtmp.enable, false);
    assert.equal(c.rtmp.enable_tls, false);
    assert.equal(c.rtmp.app, '/');
    assert.equal(c.rtmp.token, '');
    assert.deepEqual(splitHostPort(c.rtmp.address), ['127.0.0.1', '1935']);
    assert.equal(c.srt.enable, false);
    assert.equal(c.srt.passphrase, '');
    assert.equal(c.srt.token, '');
    assert.deepEqual(splitHostPort(c.srt.address), ['127.0.0.1', '6000']);
    assert.deepEqual(c.srt.log, { enable: false, topics: [] });
    // memfs credentials: drake's default is a random password per start, which is not shown.
    assert.equal(c.storage.memory.auth.enable, true);
    assert.equal(c.storage.memory.auth.username, 'admin');
    assert.ok(['', '********'].includes(c.storage.memory.auth.password));
    assert.notEqual(c.storage.memory.auth.password, drake.config.storage.memory.auth.password);
    assert.equal(c.storage.memory.max_size_mbytes, 0);
    assert.equal(c.storage.memory.purge, false);
    assert.equal(c.api.auth.enable, true);
    assert.equal(c.api.auth.username, 'admin');
    assert.equal(c.api.auth.password, '********');
    assert.ok(['', '********'].includes(c.api.auth.jwt.secret), 'the JWT secret is never shown');
    // _getConfigDebug() maps over these: they must be arrays.
    for (const path of ['api.access.http.allow', 'api.access.http.block', 'api.access.https.allow', 'api.access.https.block', 'api.auth.auth0.tenants', 'storage.s3', 'storage.cors.origins', 'sessions.ip_ignorelist', 'storage.disk.cache.types.allow', 'storage.disk.cache.types.block']) {
      assert.ok(Array.isArray(path.split('.').reduce((o: Obj, k) => o[k], c)), path);
    }
    assert.deepEqual(c.storage.cors.origins, ['*']);
    assert.equal(c.ffmpeg.log.max_lines, 50);
    assert.equal(c.ffmpeg.log.max_history, 3);
    assert.equal(c.metrics.range_sec, 300);
    assert.equal(c.service.enable, false);
    // drake's own keys ride along.
    assert.equal(c.webrtc.max_viewers_total, 2000);
    assert.equal(c.cluster.enable, false);
    assert.equal(c.cluster.redis_password, '********');
    assert.equal(c.api.port, 0, 'the configured port (0: any); address shows the one bound');
    assert.equal(res.body.file, file());
  });

  test('PUT of the whole GET object with changes (ConfigSet()): saved in drake\'s file layout, secrets kept', async () => {
    const { body } = await api<Obj>('GET', '/api/v3/config');
    const c = structuredClone(body.config);
    c.name = 'studio';
    c.ffmpeg.log.max_lines = 80;
    c.storage.memory.max_size_mbytes = 64;
    c.webrtc.max_viewers_total = 100;
    const res = await api('PUT', '/api/v3/config', c);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body, 'OK');
    const saved = JSON.parse(readFileSync(file(), 'utf8'));
    assert.equal(saved.name, 'studio');
    assert.equal(saved.ffmpeg.log.max_lines, 80);
    assert.equal(saved.storage.memory.max_size_mbytes, 64);
    assert.equal(saved.webrtc.max_viewers_total, 100);
    assert.deepEqual(saved.tls, { cert_file: '', key_file: '' }, "of Core's tls only the files RTMPS uses are drake's (tls.enable, HTTPS, is not)");
    assert.equal(saved.srt.enable, false, "srt is drake's too: saved in drake's layout");
    assert.equal(saved.srt.log, undefined, 'without the Core-only srt.log');
    assert.equal(saved.rtmp.enable, false, "rtmp is drake's too: saved in drake's layout");
    assert.deepEqual([saved.rtmp.enable_tls, saved.rtmp.address_tls], [false, '127.0.0.1:1936'], 'RTMPS settings are drake\'s too');
    assert.equal(saved.version, undefined);
    assert.equal(saved.address, undefined);
    assert.equal(saved.api.auth.password ?? '', '', 'the mask is not written as a password');
    assert.equal(saved.cluster.redis_password ?? '', '', 'nor as the Redis password');
    // What was saved is a valid drake config file.
    assert.equal(loadConfig({ file: file(), env: {} }).config.name, 'studio');
    // A partial Core-layout PUT works too (Core merges over the stored config).
    assert.equal((await api('PUT', '/api/v3/config', { version: 3, storage: { cors: { origins: ['https://example.org'] } } })).status, 200);
    assert.equal(JSON.parse(readFileSync(file(), 'utf8')).storage.cors.origin, 'https://example.org');
  });

  test('PUT: Core features drake lacks → 409 naming the field, bad version → 400, bad value → 409; nothing saved', async () => {
    const before = readFileSync(file(), 'utf8');
    const { body } = await api<Obj>('GET', '/api/v3/config');
    const c = structuredClone(body.config);
    c.tls.enable = true;
    c.sessions.max_sessions = 10;
    const res = await api<{ code: number; details: string[] }>('PUT', '/api/v3/config', c);
    assert.equal(res.status, 409);
    assert.ok(res.body.details.some((d) => d.startsWith('tls.enable:')), JSON.stringify(res.body.details));
    assert.ok(res.body.details.some((d) => d.startsWith('sessions.max_sessions:')));
    assert.equal((await api('PUT', '/api/v3/config', { version: 2, name: 'x' })).status, 400);
    const bad = await api<{ details: string[] }>('PUT', '/api/v3/config', { version: 3, ffmpeg: { max_processes: -1 } });
    assert.equal(bad.status, 409);
    assert.ok(bad.body.details.some((d) => d.startsWith('ffmpeg.max_processes:')));
    assert.equal((await api('PUT', '/api/v3/config', { version: 3, storage: { cors: { origins: ['a', 'b'] } } })).status, 409);
    assert.equal((await api('PUT', '/api/v3/config', { version: 3, address: 'nonsense' })).status, 409);
    assert.equal(readFileSync(file(), 'utf8'), before);
    assert.equal((await drake.api('GET', '/api/v3/config')).status, 401, 'auth like every /api/v3 route');
  });

  test('overrides: the dotted names Core uses (ConfigOverrides("api.auth.enable")) for the DRAKE_* variables set', () => {
    assert.deepEqual(coreOverrides(['DRAKE_API_AUTH_ENABLE', 'DRAKE_API_PORT', 'DRAKE_STORAGE_CORS_ORIGIN']).sort(), ['address', 'api.auth.enable', 'api.port', 'storage.cors.origins']);
    assert.deepEqual(coreOverrides([]), []);
  });
  test("rtmp.* in Core's layout is drake's RTMP server: a PUT saves it in drake's file, a masked token keeps the stored one", async () => {
    const rtmp = { enable: true, address: '127.0.0.1:19350', app: '/live', token: 'tok3n', enable_tls: true, address_tls: '127.0.0.1:19360' };
    const tls = { cert_file: '/etc/drake/cert.pem', key_file: '/etc/drake/key.pem' };
    const noFiles = await api<{ details: string[] }>('PUT', '/api/v3/config', { version: 3, rtmp });
    assert.equal(noFiles.status, 409, 'RTMPS without certificate files is refused at once');
    assert.ok(noFiles.body.details.some((d) => d.startsWith('rtmp.enable_tls:')), JSON.stringify(noFiles.body.details));
    const res = await api('PUT', '/api/v3/config', { version: 3, rtmp, tls: { ...tls, enable: false } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(JSON.parse(readFileSync(file(), 'utf8')).rtmp, rtmp);
    assert.deepEqual(JSON.parse(readFileSync(file(), 'utf8')).tls, tls, "Core's tls.cert_file/key_file are drake's");
    assert.equal((await api('PUT', '/api/v3/config', { version: 3, rtmp: { token: '********' } })).status, 200);
    assert.equal(JSON.parse(readFileSync(file(), 'utf8')).rtmp.token, 'tok3n');
    const bad = await api<{ details: string[] }>('PUT', '/api/v3/config', { version: 3, rtmp: { address: 'nowhere' } });
    assert.equal(bad.status, 409);
    assert.ok(bad.body.details.some((d) => d.startsWith('rtmp.address:')), JSON.stringify(bad.body.details));
  });
});
