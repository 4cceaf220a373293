import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencyHistogram, latencyPercentile } from '../../src/shared/latencyHistogram.ts';

test('LatencyHistogram buckets values and latencyPercentile reads bucket bounds', () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 98; i++) h.record(30);
  h.record(700);
  h.record(900_000);
  const s = h.snapshot();
  assert.equal(s.counts.reduce((a, b) => a + b, 0), 100);
  assert.equal(s.max_us, 900_000);
  assert.equal(latencyPercentile(s.counts, 50), 50);
  assert.equal(latencyPercentile(s.counts, 99), 1000);
  assert.equal(latencyPercentile(s.counts, 100), Infinity);
  assert.equal(latencyPercentile(new Array(s.counts.length).fill(0), 99), 0);
});
