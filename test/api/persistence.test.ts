import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { alive, startDrake, testProcess, waitFor } from '../helpers/drake.ts';

describe('persistence across drake restarts', () => {
  test('processes and metadata survive a restart; autostart processes run again; no FFmpeg left behind', async () => {
    const first = await startDrake();
    await first.api('POST', '/api/v3/process', testProcess('keep-running'));
    await first.api('POST', '/api/v3/process', testProcess('keep-stopped', { autostart: false, reference: 'r1' }));
    await first.api('PUT', '/api/v3/process/keep-stopped/metadata/note', { hello: 'world' });
    await first.api('PUT', '/api/v3/metadata/site', JSON.stringify('alpha'));
    await waitFor('running', async () => (await first.api<ProcessStateDto>('GET', '/api/v3/process/keep-running/state')).body.exec === 'running');
    const pid = first.supervisor.pidOf('keep-running')!;
    await first.stop();
    assert.equal(alive(pid), false, 'shutdown stops FFmpeg');

    const stored = JSON.parse(readFileSync(join(first.dir, 'config', 'db.json'), 'utf8'));
    assert.equal(stored.version, 4);
    assert.deepEqual(Object.keys(stored.process).sort(), ['keep-running', 'keep-stopped']);

    const second = await startDrake({}, first.dir);
    try {
      const list = await second.api<Array<{ id: string; reference: string }>>('GET', '/api/v3/process?filter=config');
      assert.deepEqual(list.body.map((p) => p.id).sort(), ['keep-running', 'keep-stopped']);
      await waitFor('autostart process runs again', async () => (await second.api<ProcessStateDto>('GET', '/api/v3/process/keep-running/state')).body.exec === 'running');
      const stopped = await second.api<ProcessStateDto>('GET', '/api/v3/process/keep-stopped/state');
      assert.equal(stopped.body.order, 'stop');
      assert.deepEqual((await second.api('GET', '/api/v3/process/keep-stopped/metadata/note')).body, { hello: 'world' });
      assert.equal((await second.api('GET', '/api/v3/metadata/site')).body, 'alpha');
    } finally {
      await second.stop(true);
    }
  });

  test('a corrupt store is moved aside with a log line, never overwritten', async () => {
    const first = await startDrake();
    await first.stop();
    const db = join(first.dir, 'config', 'db.json');
    writeFileSync(db, '{"version":4, "process": {oops');
    const second = await startDrake({}, first.dir);
    try {
      const aside = readdirSync(join(first.dir, 'config')).filter((f) => f.startsWith('db.json.corrupt-'));
      assert.equal(aside.length, 1, 'the corrupt file was kept');
      assert.equal(readFileSync(join(first.dir, 'config', aside[0]!), 'utf8'), '{"version":4, "process": {oops');
      assert.equal((await second.api<unknown[]>('GET', '/api/v3/process')).body.length, 0);
    } finally {
      await second.stop(true);
    }
  });

  test('an invalid entry is kept in the file untouched while valid ones load', async () => {
    const first = await startDrake();
    await first.api('POST', '/api/v3/process', testProcess('good', { autostart: false }));
    await first.stop();
    const db = join(first.dir, 'config', 'db.json');
    const data = JSON.parse(readFileSync(db, 'utf8'));
    data.process.bad = { id: 'bad', config: { id: 'bad', input: [] }, order: 'stop' };
    writeFileSync(db, JSON.stringify(data));
    const second = await startDrake({}, first.dir);
    try {
      assert.deepEqual((await second.api<Array<{ id: string }>>('GET', '/api/v3/process')).body.map((p) => p.id), ['good']);
      await second.api('PUT', '/api/v3/process/good/metadata/x', 1);
      await second.supervisor.close();
      const after = JSON.parse(readFileSync(db, 'utf8'));
      assert.deepEqual(after.process.bad, data.process.bad, 'the invalid entry survives a save');
      assert.ok(!existsSync(`${db}.tmp-${process.pid}`), 'no temp file left');
    } finally {
      await second.stop(true);
    }
  });
});
