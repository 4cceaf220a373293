import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { alive, startDrake, testProcess, waitFor, type TestDrake } from '../helpers/drake.ts';

describe('process lifecycle over the API (real FFmpeg)', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake();
  });
  after(() => drake.stop(true));

  const state = async (id: string) => (await drake.api<ProcessStateDto>('GET', `/api/v3/process/${id}/state`)).body;

  test('POST /api/v3/process starts it and progress grows', async () => {
    const res = await drake.api<{ id: string; input: Array<{ id: string }>; autostart: boolean }>('POST', '/api/v3/process', testProcess('life'));
    assert.equal(res.status, 200);
    assert.equal(res.body.id, 'life');
    assert.equal(res.body.autostart, true);
    const first = await waitFor('running with frames', async () => {
      const s = await state('life');
      return s.exec === 'running' && s.progress.frame > 0 ? s : null;
    });
    assert.equal(first.order, 'start');
    assert.ok(first.command.includes('-i'), 'state.command is the resolved argv');
    const later = await waitFor('more frames', async () => {
      const s = await state('life');
      return s.progress.frame > first.progress.frame + 5 ? s : null;
    });
    assert.ok(later.progress.time > first.progress.time, 'time advances');
    assert.ok(later.progress.outputs.length >= 1, 'per-output progress is listed');
    assert.equal(later.progress.outputs[0]!.id, 'out');
    assert.equal(later.progress.inputs[0]!.id, 'in');
    assert.equal(later.progress.inputs[0]!.type, 'video');
    assert.ok(later.memory_bytes > 0, 'memory is sampled');
  });

  test('stop, start, restart and reload change the state as Core does', async () => {
    const pidBefore = drake.supervisor.pidOf('life');
    assert.ok(pidBefore && alive(pidBefore));
    let res = await drake.api('PUT', '/api/v3/process/life/command', { command: 'stop' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'OK');
    let s = await state('life');
    assert.equal(s.order, 'stop');
    assert.equal(s.exec, 'finished');
    assert.equal(alive(pidBefore), false, 'FFmpeg is gone after stop');
    const report = (await drake.api<{ exit_state: string; exit_reason: string }>('GET', '/api/v3/process/life/report')).body;
    assert.equal(report.exit_state, 'finished');
    assert.equal(report.exit_reason, 'stopped by command');

    res = await drake.api('PUT', '/api/v3/process/life/command', { command: 'start' });
    assert.equal(res.status, 200);
    await waitFor('running again', async () => (await state('life')).exec === 'running');
    const pidStarted = drake.supervisor.pidOf('life');
    assert.ok(pidStarted && pidStarted !== pidBefore);

    res = await drake.api('PUT', '/api/v3/process/life/command', { command: 'restart' });
    assert.equal(res.status, 200);
    await waitFor('running after restart', async () => (await state('life')).exec === 'running');
    const pidRestarted = drake.supervisor.pidOf('life');
    assert.ok(pidRestarted && pidRestarted !== pidStarted, 'restart runs a new FFmpeg');
    assert.equal(alive(pidStarted), false);

    res = await drake.api('PUT', '/api/v3/process/life/command', { command: 'reload' });
    assert.equal(res.status, 200);
    await waitFor('running after reload', async () => (await state('life')).exec === 'running');
    assert.notEqual(drake.supervisor.pidOf('life'), pidRestarted);
    s = await state('life');
    assert.equal(s.order, 'start');
  });

  test('GET config, report, process list filters and metadata', async () => {
    const cfg = await drake.api<{ id: string; output: Array<{ address: string }> }>('GET', '/api/v3/process/life/config');
    assert.equal(cfg.status, 200);
    assert.equal(cfg.body.output[0]!.address, '-', 'stored config is not resolved');

    type Report = { prelude: string[]; log: Array<[string, string]>; history: unknown[] };
    const report = await waitFor('prelude with the input description', async () => {
      const r = await drake.api<Report>('GET', '/api/v3/process/life/report');
      return r.body.prelude.some((l) => l.includes('Input #0')) ? r : null;
    });
    assert.equal(report.status, 200);
    assert.ok(report.body.history.length >= 2, 'earlier runs are in the history');

    await drake.api('POST', '/api/v3/process', testProcess('other', { reference: 'ref-b', autostart: false }));
    const all = await drake.api<Array<{ id: string; state?: unknown; config?: unknown }>>('GET', '/api/v3/process?filter=state');
    assert.deepEqual(all.body.map((p) => p.id).sort(), ['life', 'other']);
    assert.ok(all.body.every((p) => p.state && !p.config));
    const byRef = await drake.api<Array<{ id: string }>>('GET', '/api/v3/process?reference=ref-b');
    assert.deepEqual(byRef.body.map((p) => p.id), ['other']);
    const byId = await drake.api<Array<{ id: string }>>('GET', '/api/v3/process?id=life');
    assert.deepEqual(byId.body.map((p) => p.id), ['life']);
    const byPattern = await drake.api<Array<{ id: string }>>('GET', '/api/v3/process?idpattern=oth*');
    assert.deepEqual(byPattern.body.map((p) => p.id), ['other']);
    const otherState = await state('other');
    assert.equal(otherState.order, 'stop');
    assert.equal(otherState.exec, 'finished');

    assert.equal((await drake.api('PUT', '/api/v3/process/life/metadata/ui', { a: 1 })).status, 200);
    assert.deepEqual((await drake.api('GET', '/api/v3/process/life/metadata/ui')).body, { a: 1 });
    assert.deepEqual((await drake.api('GET', '/api/v3/process/life/metadata')).body, { ui: { a: 1 } });
    assert.equal((await drake.api('PUT', '/api/v3/process/life/metadata/ui', null)).status, 200);
    assert.equal((await drake.api('GET', '/api/v3/process/life/metadata/ui')).status, 404);
  });

  test('PUT replaces the config and keeps it running; DELETE stops and removes', async () => {
    const pid = drake.supervisor.pidOf('life');
    const res = await drake.api<{ reference: string }>('PUT', '/api/v3/process/life', { reference: 'updated' });
    assert.equal(res.status, 200);
    assert.equal(res.body.reference, 'updated');
    await waitFor('running after update', async () => (await state('life')).exec === 'running');
    assert.notEqual(drake.supervisor.pidOf('life'), pid);
    const renamed = await drake.api<{ id: string }>('PUT', '/api/v3/process/life', { id: 'life2' });
    assert.equal(renamed.body.id, 'life2');
    assert.equal((await drake.api('GET', '/api/v3/process/life')).status, 404);
    const running = drake.supervisor.pidOf('life2');
    assert.ok(running);
    const del = await drake.api('DELETE', '/api/v3/process/life2');
    assert.equal(del.status, 200);
    assert.equal(alive(running), false, 'FFmpeg is gone after delete');
    assert.equal((await drake.api('GET', '/api/v3/process/life2')).status, 404);
  });

  test('GET /ping and /api answer', async () => {
    const ping = await drake.api('GET', '/ping');
    assert.equal(ping.body, 'pong');
    const about = await drake.api<{ app: string; version: { number: string }; uptime_seconds: number }>('GET', '/api');
    assert.equal(about.body.app, 'datarhei-core');
    assert.match(about.body.version.number, /^\d+\.\d+\.\d+/);
  });
});
