// A script that waits for /ping and then sends work must never see a 500 "still starting": while drake
// loads its store and spawns its actors, /ping says 503 and the API answers 503 + Retry-After.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, startDrake, testProcess } from '../helpers/drake.ts';


test('/ping says pong only once the API takes work; before that the API answers 503 + Retry-After', async () => {
  // A store with several processes makes the start (one stream actor thread each) take a while.
  const first = await startDrake();
  for (let i = 0; i < 3; i++) assert.equal((await first.api('POST', '/api/v3/process', testProcess(`p${i}`, { autostart: false }))).status, 200);
  await first.stop();

  const port = await freePort();
  let started = false;
  const starting = startDrake({ api: { port } }, first.dir).finally(() => (started = true));
  const base = `http://127.0.0.1:${port}`;
  const seen: Array<{ what: string; status: number; retryAfter: string | null; afterPong: boolean }> = [];
  let pong = false;
  let n = 0;
  while (!started || n < 3) {
    const ping = await fetch(`${base}/ping`).catch(() => null);
    if (ping) {
      const body = await ping.text();
      seen.push({ what: 'ping', status: ping.status, retryAfter: ping.headers.get('retry-after'), afterPong: pong });
      if (ping.status === 200) {
        assert.equal(body, 'pong');
        pong = true;
      }
      const res = await fetch(`${base}/api/v3/process`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(testProcess(`new${n++}`, { autostart: false })),
      });
      await res.text();
      seen.push({ what: 'post', status: res.status, retryAfter: res.headers.get('retry-after'), afterPong: pong });
    } else {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const drake = await starting;
  try {
    const summary = JSON.stringify(seen);
    assert.ok(!seen.some((s) => s.status >= 500 && s.status !== 503), `no 5xx but 503: ${summary}`);
    for (const s of seen.filter((x) => x.status === 503)) assert.ok(s.retryAfter, `a 503 says when to retry: ${summary}`);
    assert.ok(seen.some((s) => s.what === 'post' && s.status === 503), `the start was observed (a POST during it got 503): ${summary}`);
    assert.ok(seen.some((s) => s.what === 'ping' && s.status === 503), `/ping said 503 while starting: ${summary}`);
    for (const s of seen.filter((x) => x.what === 'post' && x.afterPong)) assert.equal(s.status, 200, `after pong the API takes work: ${summary}`);
  } finally {
    await drake.stop(true);
  }
});
