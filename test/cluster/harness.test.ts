// The cluster tests' harness itself: a real redis-server that stops and comes back on its port, and
// drake nodes as separate processes with their own ports and dirs.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { alive, testProcess } from '../helpers/drake.ts';
import { startNodes } from '../helpers/drakeNodes.ts';
import { startRedis } from '../helpers/redis.ts';

/** One command on a fresh connection that does not retry: the answer, or the error's code/message. */
async function once(url: string, ...cmd: [string, ...string[]]): Promise<unknown> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return await r.call(...cmd);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  } finally {
    r.disconnect();
  }
}

/** The error code of a plain TCP connect to the port ('' when it connects). */
function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('test harness', () => {
  test('redis-server: own port and dir, stops by pid, starts again on the same port', async () => {
    const redis = await startRedis();
    try {
      const pid = redis.pid!;
      assert.equal(await once(redis.url, 'PING'), 'PONG');
      assert.equal(await once(redis.url, 'SET', 'k', 'v'), 'OK');
      await redis.stop();
      assert.equal(alive(pid), false, 'stopped by pid');
      assert.equal(redis.pid, null);
      assert.equal(await connectError(redis.port), 'ECONNREFUSED');
      await redis.start();
      assert.notEqual(redis.pid, pid);
      assert.equal(await once(redis.url, 'PING'), 'PONG');
      assert.equal(await once(redis.url, 'GET', 'k'), null, 'no persistence by default');
      await redis.kill();
      assert.equal(await connectError(redis.port), 'ECONNREFUSED');
    } finally {
      await redis.close();
    }
    assert.equal(existsSync(redis.dir), false);
  });

  test('redis-server with persist: the data survives a restart', async () => {
    const redis = await startRedis({ persist: true });
    try {
      await once(redis.url, 'SET', 'k', 'kept');
      await redis.stop();
      await redis.start();
      assert.equal(await once(redis.url, 'GET', 'k'), 'kept');
    } finally {
      await redis.close();
    }
  });

  test('drake nodes: separate processes with their own ports and dirs; a killed node starts again with its store', async () => {
    const [a, b] = await startNodes(2);
    try {
      assert.notEqual(a!.port, b!.port);
      assert.notEqual(a!.dir, b!.dir);
      assert.notEqual(a!.pid, process.pid);
      assert.equal((await a!.api('POST', '/api/v3/process', testProcess('only-on-a', { autostart: false }))).status, 200);
      assert.deepEqual((await a!.api<Array<{ id: string }>>('GET', '/api/v3/process?filter=config')).body.map((p) => p.id), ['only-on-a']);
      assert.deepEqual((await b!.api('GET', '/api/v3/process')).body, []);
      const pid = a!.pid!;
      await a!.kill();
      assert.equal(alive(pid), false);
      await a!.start();
      assert.deepEqual((await a!.api<Array<{ id: string }>>('GET', '/api/v3/process?filter=config')).body.map((p) => p.id), ['only-on-a']);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
    assert.equal(existsSync(a!.dir), false);
  });
});
