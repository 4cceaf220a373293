// GET /api as datarhei's own clients read it. Restreamer UI (src/utils/restreamer.js) drops a server
// whose `about.app` is not "datarhei-core" (About()) and checks `about.version.number` with
// semver against `^16.11.0` (Compatibility(), src/version.js).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CORE_API_VERSION, DRAKE_VERSION, readBuildInfo } from '../../src/shared/buildInfo.ts';
import { startDrake, type TestDrake } from '../helpers/drake.ts';

interface About {
  app: string;
  variant: string;
  auths: string[];
  name?: string;
  id?: string;
  created_at?: string;
  uptime_seconds?: number;
  version: { number: string; repository_commit?: string; repository_branch?: string; build_date?: string; arch?: string; compiler?: string; drake?: string };
}

/** semver's `^16.11.0`: >= 16.11.0 and < 17.0.0 (no pre-release). */
function satisfiesCaret1611(v: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj === 16 && min >= 11;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
function gitOrEmpty(args: string[]): string {
  try {
    return execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

describe('GET /api: Core API level, drake version, build info', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } } });
  });
  after(() => drake.stop(true));

  test('with a token: Core fields Restreamer UI reads, version.number passes ^16.11.0, drake version apart', async () => {
    const login = await drake.api<{ access_token: string }>('POST', '/api/login', { username: 'admin', password: 'sesame' });
    const res = await drake.api<About>('GET', '/api', undefined, { authorization: `Bearer ${login.body.access_token}` });
    assert.equal(res.status, 200);
    const a = res.body;
    assert.equal(a.app, 'datarhei-core', 'About(): anything else is "not a Core"');
    assert.equal(a.variant, 'drake');
    assert.deepEqual(a.auths, ['localjwt']);
    assert.equal(a.version.number, CORE_API_VERSION);
    assert.ok(satisfiesCaret1611(a.version.number), `Compatibility(): ${a.version.number} satisfies ^16.11.0`);
    assert.equal(a.version.drake, DRAKE_VERSION);
    assert.notEqual(a.version.drake, a.version.number);
    // _initAbout(): created_at goes through parseRFC3339Date; id and name are shown as they are.
    assert.match(a.created_at ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    assert.equal(typeof a.id, 'string');
    assert.equal(typeof a.name, 'string');
    assert.equal(typeof a.uptime_seconds, 'number');
    for (const k of ['repository_commit', 'repository_branch', 'build_date', 'arch', 'compiler'] as const) assert.equal(typeof a.version[k], 'string', k);
    // The checkout the test runs from is the one drake runs from: the same answers git gives.
    const top = gitOrEmpty(['rev-parse', '--show-toplevel']);
    if (top) {
      assert.equal(a.version.repository_commit, gitOrEmpty(['rev-parse', 'HEAD']));
      const branch = gitOrEmpty(['rev-parse', '--abbrev-ref', 'HEAD']);
      assert.equal(a.version.repository_branch, branch === 'HEAD' ? '' : branch);
      assert.ok(!Number.isNaN(Date.parse(a.version.build_date ?? '')), `build_date ${a.version.build_date} is a date`);
    } else {
      assert.equal(a.version.repository_commit, '');
    }
  });

  test('without a token: 200 with the minimal body, version.number the major only (as Core)', async () => {
    const res = await drake.api<About>('GET', '/api');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { app: 'datarhei-core', variant: 'drake', auths: ['localjwt'], version: { number: '16.0.0' } });
  });
});

describe('build info from git', () => {
  test('no git (spawn fails): every field empty, no throw', () => {
    const enoent = () => {
      throw Object.assign(new Error('spawn git ENOENT'), { code: 'ENOENT' });
    };
    assert.deepEqual(readBuildInfo(enoent), { repository_commit: '', repository_branch: '', build_date: '' });
  });

  test('a checkout of something else around drake: not reported as drake\'s', () => {
    const other = (args: string[]) => (args[0] === 'rev-parse' ? '/\nmain' : `${'a'.repeat(40)}\n2024-01-01T00:00:00+00:00`);
    assert.deepEqual(readBuildInfo(other), { repository_commit: '', repository_branch: '', build_date: '' });
  });

  test('detached HEAD: commit and date, empty branch', () => {
    const detached = (args: string[]) => (args[0] === 'rev-parse' ? `${ROOT}\nHEAD` : `${'b'.repeat(40)}\n2024-01-01T00:00:00+00:00`);
    assert.deepEqual(readBuildInfo(detached), { repository_commit: 'b'.repeat(40), repository_branch: '', build_date: '2024-01-01T00:00:00+00:00' });
  });
});
