import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ReportDto } from '../../src/actors/supervisor/Supervisor.ts';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { alive, startDrake, testProcess, waitFor, type TestDrake } from '../helpers/drake.ts';

describe('failures: reconnect, stale, limits, crashed workers (real FFmpeg)', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake();
  });
  after(() => drake.stop(true));

  const state = async (id: string) => (await drake.api<ProcessStateDto>('GET', `/api/v3/process/${id}/state`)).body;
  const report = async (id: string) => (await drake.api<ReportDto>('GET', `/api/v3/process/${id}/report`)).body;
  const allLines = (r: ReportDto) => [...r.log, ...r.history.flatMap((h) => h.log)].map(([, l]) => l);

  test('FFmpeg killed from outside comes back after reconnect_delay_seconds', async () => {
    await drake.api('POST', '/api/v3/process', testProcess('rc', { reconnect: true, reconnect_delay_seconds: 2 }));
    await waitFor('running', async () => (await state('rc')).exec === 'running');
    const pid = drake.supervisor.pidOf('rc')!;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const s = await waitFor('killed and waiting', async () => {
      const st = await state('rc');
      return st.exec === 'killed' ? st : null;
    });
    assert.equal(s.order, 'start', 'order stays start');
    assert.ok(s.reconnect_seconds >= 0 && s.reconnect_seconds <= 2, `reconnect countdown shown (${s.reconnect_seconds})`);
    await waitFor('running again', async () => (await state('rc')).exec === 'running' && drake.supervisor.pidOf('rc') !== pid);
    assert.ok(Date.now() - killedAt >= 1900, 'waited for the delay');
    const r = await report('rc');
    assert.ok(r.history.some((h) => h.exit_state === 'killed'), 'the killed run is in the history');
  });

  test('no reconnect when reconnect is false: the process stays failed/killed', async () => {
    await drake.api('POST', '/api/v3/process', testProcess('norc', { reconnect: false }));
    await waitFor('running', async () => (await state('norc')).exec === 'running');
    process.kill(drake.supervisor.pidOf('norc')!, 'SIGKILL');
    await waitFor('killed', async () => (await state('norc')).exec === 'killed');
    await new Promise((r) => setTimeout(r, 1500));
    const s = await state('norc');
    assert.equal(s.exec, 'killed');
    assert.equal(s.reconnect_seconds, -1);
    await drake.api('DELETE', '/api/v3/process/norc');
  });

  test('stale_timeout_seconds restarts a process whose input never delivers', async () => {
    // A UDP input nobody sends to: FFmpeg runs but never reports progress.
    const stale = testProcess('stale', {
      input: [{ id: 'in', address: 'udp://127.0.0.1:47999?timeout=60000000', options: ['-f', 'mpegts'] }],
      stale_timeout_seconds: 2,
      reconnect: true,
      reconnect_delay_seconds: 1,
    });
    assert.equal((await drake.api('POST', '/api/v3/process', stale)).status, 200);
    await waitFor('running', async () => (await state('stale')).exec === 'running');
    const firstPid = drake.supervisor.pidOf('stale');
    const r = await waitFor('a stale restart in the history', async () => {
      const rep = await report('stale');
      return rep.history.some((h) => (h.exit_reason ?? '').startsWith('stale')) ? rep : null;
    }, 20_000);
    assert.ok(allLines(r).some((l) => l.includes('stale: no progress for 2 s')));
    await waitFor('running again', async () => (await state('stale')).exec === 'running' && drake.supervisor.pidOf('stale') !== firstPid);
    assert.equal(firstPid !== null && alive(firstPid), false);
    await drake.api('DELETE', '/api/v3/process/stale');
  });

  test('a memory limit kills FFmpeg with the reason in the report', async () => {
    await drake.api('POST', '/api/v3/process', testProcess('mem', { limits: { memory_mbytes: 1, waitfor_seconds: 1 } }));
    const r = await waitFor('killed by the memory limit', async () => {
      const st = await state('mem');
      const rep = await report('mem');
      return st.exec === 'killed' && rep.exit_reason?.includes('memory limit') ? rep : null;
    }, 20_000);
    assert.match(r.exit_reason!, /killed: memory limit exceeded \(\d+(\.\d)? MB > 1 MB for 1 s\)/);
    assert.ok(r.log.some(([, l]) => l.includes('memory limit exceeded')));
    assert.equal((await state('mem')).order, 'start', 'order is kept');
    await drake.api('DELETE', '/api/v3/process/mem');
  });

  test('a CPU limit kills FFmpeg with the reason in the report', async () => {
    // No -re and an encoder: FFmpeg takes all the CPU it can get.
    const busy = testProcess('cpu', {
      input: [{ id: 'in', address: 'testsrc=size=640x360:rate=30', options: ['-f', 'lavfi'] }],
      output: [{ id: 'out', address: '-', options: ['-c:v', 'mpeg4', '-f', 'null'] }],
      limits: { cpu_usage: 5, waitfor_seconds: 2 },
    });
    await drake.api('POST', '/api/v3/process', busy);
    const r = await waitFor('killed by the CPU limit', async () => {
      const rep = await report('cpu');
      return rep.exit_reason?.includes('CPU limit') ? rep : null;
    }, 20_000);
    assert.match(r.exit_reason!, /killed: CPU limit exceeded \([\d.]+ % > 5 % for 2 s\)/);
    assert.equal(r.exit_state, 'killed');
    await drake.api('DELETE', '/api/v3/process/cpu');
  });

  test('a crashed stream worker is recovered while other processes keep running', async () => {
    await drake.api('POST', '/api/v3/process', testProcess('victim', { reconnect: true, reconnect_delay_seconds: 1 }));
    await drake.api('POST', '/api/v3/process', testProcess('bystander'));
    await waitFor('both running', async () => (await state('victim')).exec === 'running' && (await state('bystander')).exec === 'running');
    const victimPid = drake.supervisor.pidOf('victim')!;
    const bystanderPid = drake.supervisor.pidOf('bystander')!;
    const frameBefore = (await state('bystander')).progress.frame;

    await drake.supervisor.crashWorkerForTest('victim');
    // The gateway answers while the worker is replaced.
    const during = await drake.api<ProcessStateDto>('GET', '/api/v3/process/victim/state');
    assert.equal(during.status, 200);
    await waitFor('orphan FFmpeg killed', async () => !alive(victimPid));
    const recovered = await waitFor('victim running again in a new worker', async () => {
      const st = await state('victim');
      const pid = drake.supervisor.pidOf('victim');
      return st.exec === 'running' && pid !== null && pid !== victimPid && alive(pid) ? st : null;
    }, 20_000);
    assert.equal(recovered.order, 'start');
    const r = await report('victim');
    assert.ok(allLines(r).some((l) => l.includes('stream worker crashed: forced crash')), `the crash reason is in the log: ${JSON.stringify({ log: r.log.slice(-3), history: r.history.map((h) => [h.exit_reason, h.log.slice(-2)]) })}`);

    assert.equal(drake.supervisor.pidOf('bystander'), bystanderPid, 'the other process was not touched');
    assert.ok(alive(bystanderPid));
    await waitFor('bystander progressing', async () => (await state('bystander')).progress.frame > frameBefore);
    assert.equal((await drake.api('GET', '/ping')).body, 'pong');
  });
});
