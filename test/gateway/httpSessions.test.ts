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
