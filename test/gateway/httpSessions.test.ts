import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpSessions } from '../../src/gateway/HttpSessions.ts';

test('HttpSessions groups media reads by remote and directory and ends silent sessions', () => {
  const s = new HttpSessions(30_000);
  s.record('1.2.3.4', '/memfs/a/index.m3u8?x=1', 100, 0);
  s.record('1.2.3.4', '/memfs/a/seg1.ts', 1000, 1000);
  s.record('5.6.7.8', '/memfs/a/seg1.ts', 1000, 1000);
  s.record('1.2.3.4', '/memfs/b/index.m3u8', 50, 1000);
  s.record('1.2.3.4', '/data/index.html', 5000, 1000);
  const active = s.active(2000);
  assert.equal(active.length, 3, 'a page is not a viewer');
  const a = active.find((x) => x.remote === '1.2.3.4' && x.reference === '/memfs/a')!;
  assert.equal(a.bytes_tx, 1100);
  assert.equal(a.requests, 2);
  assert.deepEqual(s.summary(2000), { active: 3, total: 3, traffic_tx_mb: 2150 / 1e6 });
  s.record('1.2.3.4', '/memfs/a/seg2.ts', 1000, 40_000);
  assert.deepEqual(s.active(40_000).map((x) => x.reference), ['/memfs/a'], 'the silent ones ended');
  assert.equal(s.summary(40_000).total, 3);
});

test('HttpSessions names a session after its playlist and counts sessions per name prefix (Core\'s widget)', () => {
  const s = new HttpSessions(30_000);
  s.record('1.1.1.1', '/memfs/cam10.ts', 100, 0);
  s.record('1.1.1.1', '/memfs/cam1.m3u8', 100, 500);
  s.record('2.2.2.2', '/memfs/cam1.m3u8', 100, 1000);
  s.record('3.3.3.3', '/memfs/other.m3u8', 100, 1000);
  assert.deepEqual(
    s.active(1000).map((x) => x.name),
    ['cam1', 'cam1', 'other'],
    'a segment read first names the session until its playlist is read',
  );
  assert.deepEqual(s.byNamePrefix('cam', 1000), { current: 2, total: 2 });
  s.record('2.2.2.2', '/memfs/cam1_001.ts', 100, 20_000);
  assert.deepEqual(s.byNamePrefix('cam1', 40_000), { current: 1, total: 2 }, 'the ended session stays in the total');
  assert.deepEqual(s.byNamePrefix('other', 40_000), { current: 0, total: 1 });
  assert.deepEqual(s.byNamePrefix('x', 40_000), { current: 0, total: 0 });
});
