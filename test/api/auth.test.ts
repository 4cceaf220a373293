import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Jwt } from '../../src/gateway/auth/Jwt.ts';
import { startDrake, testProcess, type TestDrake } from '../helpers/drake.ts';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('API auth (JWT)', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } } });
  });
  after(() => drake.stop(true));

  test('every /api/v3 route needs a token: 401 with a clear message', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/v3/process', undefined],
      ['POST', '/api/v3/process', testProcess('x')],
      ['PUT', '/api/v3/process/x/command', { command: 'start' }],
      ['DELETE', '/api/v3/process/x', undefined],
      ['GET', '/api/v3/metadata', undefined],
    ] as const) {
      const res = await drake.api<{ code: number; message: string }>(method, path, body);
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.match(res.body.message, /missing Authorization: Bearer <access token>/);
    }
    const bad = await drake.api<{ message: string }>('GET', '/api/v3/process', undefined, bearer('a.b.c'));
    assert.equal(bad.status, 401);
    assert.match(bad.body.message, /invalid access token/);
  });

  test('POST /api/login: wrong credentials → 401, right ones → tokens that open the API', async () => {
    assert.equal((await drake.api('POST', '/api/login', { username: 'admin', password: 'nope' })).status, 401);
    assert.equal((await drake.api('POST', '/api/login', { username: 'root', password: 'sesame' })).status, 401);
    assert.equal((await drake.api('POST', '/api/login', {})).status, 400);
    const login = await drake.api<{ access_token: string; refresh_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
    assert.equal(login.status, 200);
    const { access_token, refresh_token } = login.body;
    assert.equal((await drake.api('GET', '/api/v3/process', undefined, bearer(access_token))).status, 200);
    assert.equal((await drake.api('POST', '/api/v3/process', testProcess('p', { autostart: false }), bearer(access_token))).status, 200);
    const asAccess = await drake.api<{ message: string }>('GET', '/api/v3/process', undefined, bearer(refresh_token));
    assert.equal(asAccess.status, 401, 'a refresh token is not an access token');
    assert.match(asAccess.body.message, /not an access token/);

    const refreshed = await drake.api<{ access_token: string }>('GET', '/api/login/refresh', undefined, bearer(refresh_token));
    assert.equal(refreshed.status, 200);
    assert.equal((await drake.api('GET', '/api/v3/process', undefined, bearer(refreshed.body.access_token))).status, 200);
    assert.equal((await drake.api('GET', '/api/login/refresh', undefined, bearer(access_token))).status, 401, 'an access token cannot refresh');
  });

  test('GET /api answers everyone, with less when there is no token; /ping stays open', async () => {
    const anon = await drake.api<{ auths: string[]; uptime_seconds?: number }>('GET', '/api');
    assert.equal(anon.status, 200);
    assert.deepEqual(anon.body.auths, ['localjwt']);
    assert.equal(anon.body.uptime_seconds, undefined);
    const { access_token } = (await drake.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' })).body;
    const full = await drake.api<{ uptime_seconds: number }>('GET', '/api', undefined, bearer(access_token));
    assert.equal(typeof full.body.uptime_seconds, 'number');
    assert.equal((await drake.api('GET', '/ping')).body, 'pong');
  });

  test('WHEP under /api/v3/whep needs the API token; /whep does not', async () => {
    assert.equal((await fetch(`${drake.url}/api/v3/whep/p`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0' })).status, 401);
    assert.equal((await fetch(`${drake.url}/whep/p`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0' })).status, 404, 'p has no WebRTC');
  });
});

test('Jwt rejects expired, tampered and foreign tokens', () => {
  let now = 1_000_000;
  const jwt = new Jwt('secret', () => now);
  const token = jwt.sign('admin', 'access');
  assert.equal(jwt.verify(token, 'access').ok, true);
  const [h, p, s] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'root' })).toString('base64url');
  assert.deepEqual(jwt.verify(`${h}.${forged}.${s}`, 'access'), { ok: false, reason: 'invalid signature' });
  assert.equal(new Jwt('other').verify(token, 'access').ok, false);
  // Correctly signed, but header or claims are JSON null (found by the fuzz review: it threw a TypeError → 500).
  const mac = (data: string) => createHmac('sha256', 'secret').update(data).digest('base64url');
  const nul = Buffer.from('null').toString('base64url');
  for (const [hh, pp] of [[nul, p!], [h!, nul]]) assert.deepEqual(jwt.verify(`${hh}.${pp}.${mac(`${hh}.${pp}`)}`, 'access'), { ok: false, reason: 'malformed token' });
  now += 10 * 60 + 1;
  assert.deepEqual(jwt.verify(token, 'access'), { ok: false, reason: 'token expired' });
});

test('auth on without a password: one is generated, kept in auth.json (0600) and reused', async () => {
  const first = await startDrake({ api: { auth: { enable: true, login_failure_delay_ms: 0 } } });
  try {
    const file = join(first.config.db.dir, 'auth.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const { password } = JSON.parse(readFileSync(file, 'utf8')) as { password: string };
    assert.ok(password.length >= 20, 'a long random password');
    assert.equal((await first.api('POST', '/api/login', { username: 'admin', password })).status, 200);
    await first.stop();
    const second = await startDrake({ api: { auth: { enable: true, login_failure_delay_ms: 0 } } }, first.dir);
    try {
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).password, password, 'the same password after a restart');
      assert.equal((await second.api('POST', '/api/login', { username: 'admin', password })).status, 200);
    } finally {
      await second.stop();
    }
  } finally {
    await first.stop(true);
  }
});

test('disable_localhost lets 127.0.0.1 in without a token', async () => {
  const drake = await startDrake({ api: { auth: { enable: true, password: 'x', disable_localhost: true } } });
  try {
    assert.equal((await drake.api('GET', '/api/v3/process')).status, 200);
  } finally {
    await drake.stop(true);
  }
});
