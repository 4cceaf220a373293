import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { nativeRecvEnabled } from '../../src/shared/srtp/index.ts';
import { startDrake, testProcess, waitFor, type TestDrake } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';

interface PromFamily {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value: string }>;
}

describe('metrics, sessions and log', () => {
  let drake: TestDrake;
  let viewer: WhepViewer;
  before(async () => {
    drake = await startDrake();
    await drake.api('POST', '/api/v3/process', webrtcProcess('cam'));
    await drake.api('POST', '/api/v3/process', testProcess('idle', { autostart: false }));
    await waitFor('media', async () => (await drake.supervisor.whepStats('cam')).gopPackets > 0, 30_000);
    viewer = await whepView(`${drake.url}/whep/cam`);
    await waitFor('viewer receiving', async () => videoCount(viewer) > 20);
  });
  after(async () => {
    await viewer.close();
    await drake.stop(true);
  });

  test('/metrics is valid Prometheus text with process, WHEP and HTTP series', async () => {
    const res = await fetch(`${drake.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await res.text()) as PromFamily[];
    const get = (name: string) => families.find((f) => f.name === name);
    const value = (name: string, labels: Record<string, string>) =>
      Number(get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
    assert.equal(value('drake_process_state', { process: 'cam', state: 'running' }), 1);
    assert.equal(value('drake_process_state', { process: 'idle', state: 'finished' }), 1);
    assert.equal(value('drake_process_order', { process: 'idle' }), 0);
    assert.ok(value('drake_process_frames', { process: 'cam' }) > 0);
    assert.ok(value('drake_process_memory_bytes', { process: 'cam' }) > 0);
    assert.equal(value('drake_whep_viewers', { process: 'cam' }), 1);
    assert.ok(value('drake_whep_sent_packets_total', { process: 'cam' }) > 20);
    assert.ok(value('drake_rtp_ingest_packets_total', { process: 'cam', media: 'video' }) > 20);
    // Kernel drops at the sockets are exported (their value depends on the machine's load: not asserted).
    assert.ok(value('drake_rtp_ingest_kernel_dropped_total', { process: 'cam', media: 'video' }) >= 0);
    assert.ok(value('drake_whep_port_datagrams_total', { process: 'cam', kind: 'kernel_dropped' }) >= 0);
    assert.ok(value('drake_whep_port_reads_total', { process: 'cam', reader: nativeRecvEnabled ? 'recvmmsg' : 'dgram' }) > 0);
    assert.equal(get('drake_whep_sent_packets_total')?.type, 'COUNTER');
    assert.ok(value('drake_http_requests_total', { route: '/whep/:id', method: 'post', code: '201' }) >= 1);
  });

  test('GET /api/v3/metrics lists the metrics; POST returns current values of drake_* filtered by labels', async () => {
    const list = await drake.api<Array<{ name: string; labels: string[] }>>('GET', '/api/v3/metrics');
    assert.ok(list.body.some((m) => m.name === 'drake_whep_viewers' && m.labels.includes('process')));
    const q = await drake.api<{ metrics: Array<{ name: string; labels: Record<string, string>; values: Array<[number, number]> }> }>('POST', '/api/v3/metrics', {
      timerange_sec: 0,
      metrics: [{ name: 'drake_whep_viewers', labels: { process: 'cam' } }],
    });
    assert.equal(q.status, 200);
    assert.equal(q.body.metrics.length, 1);
    assert.equal(q.body.metrics[0]!.values[0]![1], 1);
    // drake_* families have no history: a timerange still answers their current value.
    const hist = await drake.api<{ metrics: Array<{ values: unknown[] }> }>('POST', '/api/v3/metrics', { timerange_sec: 300, metrics: [{ name: 'drake_whep_viewers', labels: { process: 'cam' } }] });
    assert.equal(hist.status, 200);
    assert.equal(hist.body.metrics[0]!.values.length, 1);
  });

  test('GET /api/v3/session and /session/active show the WHEP viewer', async () => {
    const summary = await drake.api<{ whep: { active: { sessions: number; list: string[] }; summary: { reference: Record<string, number> } } }>('GET', '/api/v3/session');
    assert.equal(summary.body.whep.active.sessions, 1);
    assert.equal(summary.body.whep.summary.reference.cam, 1);
    const active = await drake.api<{ whep: Array<{ id: string; reference: string; remote: string; bytes_tx: number }> }>('GET', '/api/v3/session/active');
    const s = active.body.whep[0]!;
    assert.equal(s.reference, 'cam');
    assert.match(s.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(s.bytes_tx > 0);
    assert.equal(viewer.location?.endsWith(s.id), true);
    // ?collectors= as Core (Restreamer UI asks for hls,rtmp,srt and more): exactly those, unknown ones empty.
    const picked = await drake.api<Record<string, { active: { sessions: number; list: string[] }; summary: { sessions: number } }>>('GET', '/api/v3/session?collectors=whep,rtmp');
    assert.deepEqual(Object.keys(picked.body).sort(), ['rtmp', 'whep']);
    assert.equal(picked.body.whep!.active.sessions, 1);
    assert.deepEqual(picked.body.rtmp!.active.list, []);
    assert.equal(picked.body.rtmp!.summary.sessions, 0);
    const pickedActive = await drake.api<Record<string, unknown[]>>('GET', '/api/v3/session/active?collectors=hls,srt');
    assert.deepEqual(Object.keys(pickedActive.body).sort(), ['hls', 'srt']);
    assert.deepEqual(pickedActive.body.srt, []);
  });

  test('GET /api/v3/log has drake\'s own lines, console and raw', async () => {
    const lines = await drake.api<string[]>('GET', '/api/v3/log');
    assert.ok(lines.body.some((l) => /info \[Supervisor\] process cam added/.test(l)), 'lines below the console level are kept too');
    // The stream actor's worker thread logs there too (its shard opened the shared port for the viewer).
    assert.ok(lines.body.some((l) => /info \[PeerShard\] viewers share UDP port \d+/.test(l)), `a worker thread's line: ${lines.body.slice(-5).join(' | ')}`);
    const raw = await drake.api<Array<{ ts: string; level: string; component: string; message: string }>>('GET', '/api/v3/log?format=raw');
    assert.ok(Array.isArray(raw.body));
    for (const e of raw.body) assert.ok(e.ts && e.level && e.component && typeof e.message === 'string');
  });
});
