// Process state, progress and config in datarhei Core's shape, from a real FFmpeg run, field by field
// as Restreamer UI reads them (src/utils/restreamer.js: _getProgressFromState(), _getProcessConfig(),
// and the debug dump that walks state.progress.inputs/outputs) and as Core's http/api/progress.go and
// process.go write them: every progress IO has `q` and `avstream` (null without a playout proxy),
// empty video/audio fields are left out, an empty `cleanup` list is left out of the config.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';

type Obj = Record<string, unknown>;

const IO_FIELDS = ['id', 'address', 'index', 'stream', 'format', 'type', 'codec', 'coder', 'frame', 'keyframe', 'framerate', 'fps', 'packet', 'pps', 'size_kb', 'bitrate_kbit', 'extradata_size_bytes', 'q', 'avstream'];
const VIDEO_FIELDS = ['pix_fmt', 'width', 'height'];
const AUDIO_FIELDS = ['sampling_hz', 'layout', 'channels'];

function checkIo(io: Obj, where: string): void {
  for (const k of IO_FIELDS) assert.ok(k in io, `${where}: ${k} is there`);
  assert.equal(io.avstream, null, `${where}: avstream is null, not missing`);
  assert.equal(typeof io.q, 'number', `${where}: q`);
  for (const k of ['index', 'stream', 'frame', 'keyframe', 'fps', 'packet', 'pps', 'size_kb', 'bitrate_kbit', 'extradata_size_bytes']) assert.equal(typeof io[k], 'number', `${where}: ${k}`);
  assert.deepEqual(Object.keys(io.framerate as Obj).sort(), ['avg', 'max', 'min']);
  const extra = Object.keys(io).filter((k) => !IO_FIELDS.includes(k));
  const allowed = io.type === 'video' ? VIDEO_FIELDS : io.type === 'audio' ? AUDIO_FIELDS : [];
  assert.deepEqual(extra.filter((k) => !allowed.includes(k)), [], `${where}: only Core's fields`);
  for (const k of extra) assert.ok(io[k] !== 0 && io[k] !== '', `${where}: ${k} is left out when empty, as Core (omitempty)`);
}

describe('Core shapes of a running process: state.progress and config', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake();
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'av',
      input: [
        { id: 'video', address: 'testsrc=size=160x120:rate=10', options: ['-re', '-f', 'lavfi'] },
        { id: 'audio', address: 'sine=frequency=440:sample_rate=44100', options: ['-re', '-f', 'lavfi'] },
      ],
      output: [
        { id: 'out', address: '-', options: ['-map', '0:v', '-map', '1:a', '-c:v', 'mpeg4', '-c:a', 'pcm_s16le', '-f', 'null'] },
        {
          id: 'hls',
          address: '{memfs}/{processid}.m3u8',
          options: ['-map', '0:v', '-c:v', 'mpeg4', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '3', '-method', 'PUT'],
          cleanup: [{ pattern: 'memfs:/{processid}_*.ts', max_files: 5 }],
        },
      ],
      options: ['-loglevel', 'info'],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('progress with frames', async () => {
      const s = await drake.api<{ progress: { frame: number; outputs: unknown[] } }>('GET', '/api/v3/process/av/state');
      return s.body.progress.frame > 5 && s.body.progress.outputs.length >= 3;
    }, 30_000);
  });
  after(() => drake.stop(true));

  test('state: the fields _getProgressFromState() reads, with Core types', async () => {
    const { status, body: s } = await drake.api<Obj>('GET', '/api/v3/process/av/state');
    assert.equal(status, 200);
    assert.equal(s.order, 'start');
    assert.equal(s.exec, 'running');
    assert.ok(Array.isArray(s.command), 'progress.command = state.command.slice()');
    for (const k of ['runtime_seconds', 'reconnect_seconds', 'cpu_usage', 'memory_bytes']) assert.equal(typeof s[k], 'number', k);
    assert.equal(typeof s.last_logline, 'string');
    const p = s.progress as Obj;
    for (const k of ['frame', 'packet', 'fps', 'q', 'size_kb', 'time', 'bitrate_kbit', 'speed', 'drop', 'dup']) assert.equal(typeof p[k], 'number', `progress.${k}`);
    assert.ok((p.frame as number) > 0);
  });

  test('progress inputs and outputs: q and avstream: null on each, as Core', async () => {
    const { body: s } = await drake.api<{ progress: { inputs: Obj[]; outputs: Obj[] } }>('GET', '/api/v3/process/av/state');
    const { inputs, outputs } = s.progress;
    assert.deepEqual(inputs.map((io) => [io.id, io.type]), [['video', 'video'], ['audio', 'audio']]);
    inputs.forEach((io, i) => checkIo(io, `inputs[${i}]`));
    outputs.forEach((io, i) => checkIo(io, `outputs[${i}]`));
    assert.deepEqual(outputs.map((io) => [io.id, io.type]), [['out', 'video'], ['out', 'audio'], ['hls', 'video']]);
    assert.equal(inputs[0]!.width, 160);
    assert.equal(inputs[1]!.sampling_hz, 44100);
    assert.equal(inputs[0]!.q, 0, 'an input has no quantizer: 0, as Core');
    // The same shape in the process list the UI polls (?filter=state).
    const list = await drake.api<Array<{ state: { progress: { inputs: Obj[] } } }>>('GET', '/api/v3/process?filter=state');
    assert.equal(list.body[0]!.state.progress.inputs[0]!.avstream, null);
  });

  test('config: an empty cleanup list is left out, a non-empty one kept (GET config, process, list, POST/PUT replies)', async () => {
    const check = (c: { input: Obj[]; output: Obj[] }, where: string) => {
      for (const io of c.input) assert.equal('cleanup' in io, false, `${where}: input ${String(io.id)}`);
      assert.equal('cleanup' in c.output[0]!, false, `${where}: output out has no cleanup rules`);
      assert.deepEqual(c.output[1]!.cleanup, [{ pattern: 'memfs:/{processid}_*.ts', max_files: 5, max_file_age_seconds: 0, purge_on_delete: false }], where);
      // _getProcessConfig(): options of every io are arrays.
      for (const io of [...c.input, ...c.output]) assert.ok(Array.isArray(io.options), `${where}: options`);
    };
    type Cfg = { input: Obj[]; output: Obj[] };
    check((await drake.api<Cfg>('GET', '/api/v3/process/av/config')).body, 'GET config');
    check((await drake.api<{ config: Cfg }>('GET', '/api/v3/process/av')).body.config, 'GET process');
    check((await drake.api<Array<{ config: Cfg }>>('GET', '/api/v3/process?filter=config')).body[0]!.config, 'GET list');
    const put = await drake.api<Cfg>('PUT', '/api/v3/process/av', { reference: 'ref' });
    assert.equal(put.status, 200);
    check(put.body, 'PUT reply');
    // The stored rule still works: what is left out is only the reply's empty list.
    const posted = await drake.api<Cfg>('POST', '/api/v3/process', { id: 'plain', input: [{ address: 'testsrc', options: ['-f', 'lavfi'] }], output: [{ address: '-', options: ['-f', 'null'] }], autostart: false });
    assert.equal(posted.status, 200);
    assert.equal('cleanup' in posted.body.output[0]!, false);
  });
});
