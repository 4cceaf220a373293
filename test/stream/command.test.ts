import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CommandError,
  buildArgs,
  normalizeIds,
  resolveConfig,
  type CommandContext,
} from '../../src/actors/stream/command.ts';
import { ValidationError } from '../../src/shared/errors.ts';
import { processConfigSchema, type ProcessConfig, type ProcessConfigInput } from '../../src/shared/processConfig.ts';

const ctx: CommandContext = { diskDir: '/srv/drake/data', memfsUrl: 'http://127.0.0.1:8080/memfs' };

function config(over: Partial<ProcessConfigInput> = {}): ProcessConfig {
  return processConfigSchema.parse({
    id: 'p1',
    reference: 'ref',
    input: [{ id: 'in0', address: 'testsrc=size=640x360:rate=25', options: ['-f', 'lavfi'] }],
    output: [{ id: 'out0', address: '-', options: ['-f', 'null'] }],
    ...over,
  });
}

/** The resolved address of a single output. */
function outAddr(address: string, c: CommandContext = ctx): string {
  return resolveConfig(config({ output: [{ id: 'out0', address }] }), c).output[0]!.address;
}

function inAddr(address: string): string {
  return resolveConfig(config({ input: [{ id: 'in0', address }] }), ctx).input[0]!.address;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CommandError, `expected a CommandError, got ${String(err)}`);
    assert.ok(err instanceof ValidationError);
    assert.equal(err.name, 'CommandError');
    assert.ok(err.details.length > 0);
    assert.equal(err.message, err.details.join('; '));
    return err.details;
  }
  assert.fail('expected a CommandError');
}

// ---------------------------------------------------------------------------------------------
// normalizeIds

test('normalizeIds() generates ids for empty io ids and keeps given ones', () => {
  const c = config({
    input: [{ address: 'a' }, { id: 'x', address: 'b' }, { id: '', address: 'c' }],
    output: [{ address: '-' }, { address: '-' }],
  });
  const n = normalizeIds(c);
  const inIds = n.input.map((io) => io.id);
  assert.equal(inIds[1], 'x');
  for (const id of [inIds[0], inIds[2], ...n.output.map((io) => io.id)]) {
    assert.match(id!, /^[23456789A-HJ-NP-Za-km-z]{22}$/);
  }
  assert.equal(new Set(inIds).size, 3);
  assert.notEqual(n.output[0]!.id, n.output[1]!.id);
  // The argument is untouched.
  assert.deepEqual(
    c.input.map((io) => io.id),
    ['', 'x', ''],
  );
});

test('normalizeIds() rejects duplicate io ids per kind, listing every one', () => {
  const c = config({
    input: [{ id: 'a', address: '1' }, { id: 'a', address: '2' }, { id: 'a', address: '3' }, { id: 'b', address: '4' }, { id: 'b', address: '5' }],
    output: [{ id: 'o', address: '-' }, { id: 'o', address: '-' }],
  });
  assert.deepEqual(problems(() => normalizeIds(c)), [
    "the input ID 'a' is already in use",
    "the input ID 'b' is already in use",
    "the output ID 'o' is already in use",
  ]);
});

test('normalizeIds() allows the same id for an input and an output', () => {
  const n = normalizeIds(config({ input: [{ id: 'same', address: 'a' }], output: [{ id: 'same', address: '-' }] }));
  assert.equal(n.input[0]!.id, 'same');
  assert.equal(n.output[0]!.id, 'same');
});

// ---------------------------------------------------------------------------------------------
// resolveConfig: placeholders

test('resolveConfig() resolves placeholders per section and does not mutate its argument', () => {
  const c = config({
    reference: 'cam',
    options: ['-loglevel', 'info', '-x', '{diskfs}', '-y', '{memfs}', '-z', '{processid}'],
    input: [
      {
        id: '{processid}_in',
        address: 'rtmp://localhost/live/{reference}_{inputid}',
        options: ['-name', '{inputid}', '-out', '{outputid}', '-d', '{fs:disk}'],
      },
    ],
    output: [
      {
        id: '{reference}_out',
        address: '{memfs}/{processid}_{outputid}.m3u8',
        options: ['-hls_segment_filename', '{fs:mem^:}/{processid}_%04d.ts', '-i', '{inputid}'],
        cleanup: [{ pattern: 'memfs:/{processid}_{outputid}_*.ts {inputid} {diskfs}', max_files: 5 }],
      },
    ],
  });
  const before = structuredClone(c);
  const r = resolveConfig(c, ctx);
  assert.deepEqual(c, before, 'argument unchanged');

  assert.deepEqual(r.options, ['-loglevel', 'info', '-x', '/srv/drake/data', '-y', '{memfs}', '-z', '{processid}']);
  assert.equal(r.input[0]!.id, 'p1_in');
  assert.equal(r.input[0]!.address, 'rtmp://localhost/live/cam_p1_in');
  assert.deepEqual(r.input[0]!.options, ['-name', 'p1_in', '-out', '{outputid}', '-d', '/srv/drake/data']);
  assert.equal(r.output[0]!.id, 'cam_out');
  assert.equal(r.output[0]!.address, 'http://127.0.0.1:8080/memfs/p1_cam_out.m3u8');
  assert.deepEqual(r.output[0]!.options, [
    '-hls_segment_filename',
    'http\\\\://127.0.0.1\\\\:8080/memfs/p1_%04d.ts',
    '-i',
    '{inputid}',
  ]);
  assert.deepEqual(r.output[0]!.cleanup, [
    {
      pattern: 'memfs:/p1_cam_out_*.ts {inputid} {diskfs}',
      max_files: 5,
      max_file_age_seconds: 0,
      purge_on_delete: false,
    },
  ]);
});

test('resolveConfig() uses a normalized diskDir and memfs URL for {diskfs} and {memfs}', () => {
  const r = resolveConfig(
    config({ output: [{ id: 'o', address: '{diskfs}/a.ts' }, { id: 'm', address: '{memfs}/b.ts' }] }),
    { diskDir: '/srv/drake/./data/', memfsUrl: 'http://127.0.0.1:8080/memfs/' },
  );
  assert.equal(r.output[0]!.address, 'file:/srv/drake/data/a.ts');
  assert.equal(r.output[1]!.address, 'http://127.0.0.1:8080/memfs/b.ts');
});

// ---------------------------------------------------------------------------------------------
// resolveConfig: output addresses

test('resolveConfig() rewrites output addresses as Core does', () => {
  const cases: Array<[string, string]> = [
    ['-', 'pipe:'],
    ['  -  ', 'pipe:'],
    ['file:-', 'pipe:'],
    ['rtmp://example.com/live/key', 'rtmp://example.com/live/key'],
    ['srt://example.com:6000?mode=caller&streamid=#!:m=publish,r=x', 'srt://example.com:6000?mode=caller&streamid=#!:m=publish,r=x'],
    ['http://user:pa%20ss@[::1]:8080/x.m3u8', 'http://user:pa%20ss@[::1]:8080/x.m3u8'],
    ['file:rtmp://example.com/live', 'rtmp://example.com/live'],
    ['out.mp4', 'file:/srv/drake/data/out.mp4'],
    ['./sub/dir/../out.mp4', 'file:/srv/drake/data/sub/out.mp4'],
    ['file:out.mp4', 'file:/srv/drake/data/out.mp4'],
    ['/srv/drake/data/abs.mp4', 'file:/srv/drake/data/abs.mp4'],
    ['file:/srv/drake/data/abs.mp4', 'file:/srv/drake/data/abs.mp4'],
    ['file:///srv/drake/data/abs.mp4', 'file:/srv/drake/data/abs.mp4'],
    ['{diskfs}/{processid}/{outputid}.ts', 'file:/srv/drake/data/p1/out0.ts'],
    ['..data/dots-are-a-name.mp4', 'file:/srv/drake/data/..data/dots-are-a-name.mp4'],
    ['/dev/null', 'file:/dev/null'],
    ['file:/dev/null', 'file:/dev/null'],
  ];
  for (const [address, want] of cases) assert.equal(outAddr(address), want, address);
});

test('resolveConfig() rejects output paths outside diskDir', () => {
  const cases = [
    '../escape.mp4',
    'a/../../escape.mp4',
    '/etc/passwd',
    'file:/etc/passwd',
    '/srv/drake/data-other/x.mp4',
    '/srv/drake/data',
    '.',
    '{diskfs}/../x.mp4',
    '/dev',
  ];
  for (const address of cases) {
    const details = problems(() => outAddr(address));
    assert.equal(details.length, 1, address);
    assert.match(details[0]!, /^the address for output '#p1:out0' \(.*\) is invalid: .* is not inside of \/srv\/drake\/data$/, address);
  }
});

test('resolveConfig() validates each part of a tee muxer address', () => {
  const cases: Array<[string, string]> = [
    [
      '[f=hls:hls_time=2]{memfs}/{processid}.m3u8|[f=flv]rtmp://example.com/live/x|out.ts',
      '[f=hls:hls_time=2]http://127.0.0.1:8080/memfs/p1.m3u8|[f=flv]rtmp://example.com/live/x|file:/srv/drake/data/out.ts',
    ],
    ['[f=mpegts]-', '[f=mpegts]pipe:'],
    ['a.ts|file:b.ts|-', 'file:/srv/drake/data/a.ts|file:/srv/drake/data/b.ts|pipe:'],
    ['[f=null]/dev/null|[select=v]x.mkv', '[f=null]file:/dev/null|[select=v]file:/srv/drake/data/x.mkv'],
  ];
  for (const [address, want] of cases) assert.equal(outAddr(address), want, address);

  const bad: Array<[string, RegExp]> = [
    ['[f=flv]rtmp://example.com/x|[f=mpegts]../escape.ts', /is not inside of/],
    ['ok.ts|/etc/x.ts', /is not inside of/],
    ['ok.ts||other.ts', /has no address/],
    ['ok.ts|[f=null]', /has no address/],
    ['[f=flv unterminated', /unterminated tee options/],
    ['ok.ts|rtmp://host:port/x', /invalid port/],
  ];
  for (const [address, re] of bad) {
    const details = problems(() => outAddr(address));
    assert.equal(details.length, 1, address);
    assert.match(details[0]!, re, address);
  }
});

test('resolveConfig() rejects output URLs that do not parse', () => {
  for (const address of ['rtmp://host:port/live', 'http://[::1/x', 'http://ho st/x', 'http://us er@host/x', 'http://h%zz/x']) {
    assert.match(problems(() => outAddr(address))[0]!, /is invalid: /, address);
  }
});

// ---------------------------------------------------------------------------------------------
// resolveConfig: input addresses

test('resolveConfig() passes input addresses that parse, and plain input paths unchanged', () => {
  const cases = [
    'rtmp://localhost:1935/live/stream',
    'srt://127.0.0.1:6000?mode=caller&streamid=x,mode:request',
    'http://user:pass@example.com/hls/index.m3u8?x=1#frag',
    'https://[2001:db8::1]:443/a',
    'rtsp://cam.local/stream1',
    'file:///abs/in.mp4',
    'udp://@:1234',
    '/anywhere/on/disk.mp4',
    'relative.mp4',
    'anullsrc=r=44100:cl=mono',
    '#other:output=out0',
    '{memfs}/{processid}.m3u8',
  ];
  for (const address of cases) {
    const want = address.replace('{memfs}', ctx.memfsUrl).replace('{processid}', 'p1');
    assert.equal(inAddr(address), want, address);
  }
});

test('resolveConfig() rejects input URLs that do not parse', () => {
  const cases: Array<[string, RegExp]> = [
    ['rtmp://localhost:port/live', /invalid port/],
    ['http://[::1/x', /missing '\]' in host/],
    ['http://[::1]x/x', /invalid port/],
    ['http://ho st/x', /invalid character " " in host name/],
    ['http://ho|st/x', /invalid character "\|" in host name/],
    ['http://us^er@host/x', /invalid userinfo/],
    ['http://user%zz@host/x', /invalid URL escape/],
    ['http://h%41/x', /invalid URL escape/],
  ];
  for (const [address, re] of cases) {
    const details = problems(() => inAddr(address));
    assert.equal(details.length, 1, address);
    assert.match(details[0]!, /^the address for input '#p1:in0' \(.*\) is invalid: /, address);
    assert.match(details[0]!, re, address);
  }
});

// ---------------------------------------------------------------------------------------------
// resolveConfig: ids and empty addresses

test('resolveConfig() rejects an address that is empty after resolution', () => {
  const c = config({
    reference: '',
    input: [{ id: 'in0', address: '{reference}' }],
    output: [{ id: 'out0', address: '  {reference}  ' }, { id: 'out1', address: '{reference}{reference}' }],
  });
  assert.deepEqual(problems(() => resolveConfig(c, ctx)), [
    "the address for input '#p1:in0' must not be empty",
    "the address for output '#p1:out0' must not be empty",
    "the address for output '#p1:out1' must not be empty",
  ]);
});

test('resolveConfig() rejects io ids that are empty or duplicated after resolution', () => {
  const c = config({
    reference: '',
    input: [{ id: '{reference}', address: 'a' }],
    output: [{ id: '{processid}_x', address: '-' }, { id: 'p1_x', address: '-' }],
  });
  assert.deepEqual(problems(() => resolveConfig(c, ctx)), [
    'empty input IDs are not allowed',
    "the output ID 'p1_x' is already in use",
  ]);
});

test('resolveConfig() rejects an empty process id', () => {
  assert.deepEqual(problems(() => resolveConfig(config({ id: '' }), ctx)), ['an empty process ID is not allowed']);
});

test('resolveConfig() lists every problem at once', () => {
  const c = config({
    input: [{ id: 'a', address: 'rtmp://h:x/y' }, { id: 'a', address: 'ok' }],
    output: [{ id: 'o', address: '../x' }, { id: 'p', address: '/etc/y' }],
  });
  const details = problems(() => resolveConfig(c, ctx));
  assert.equal(details.length, 4);
  assert.match(details[0]!, /input '#p1:a'.*invalid port/);
  assert.equal(details[1], "the input ID 'a' is already in use");
  assert.match(details[2]!, /output '#p1:o'.*not inside/);
  assert.match(details[3]!, /output '#p1:p'.*not inside/);
});

// ---------------------------------------------------------------------------------------------
// buildArgs

test('buildArgs() orders global options, inputs and outputs as Core does', () => {
  const c = config({
    options: ['-hide_banner', '-loglevel', 'error'],
    input: [
      { id: 'v', address: 'testsrc', options: ['-f', 'lavfi', '-re'] },
      { id: 'a', address: 'anullsrc', options: ['-f', 'lavfi'] },
      { id: 'n', address: 'plain.mp4' },
    ],
    output: [
      { id: 'o1', address: '{diskfs}/{outputid}.mp4', options: ['-c:v', 'libx264'] },
      { id: 'o2', address: '-', options: ['-f', 'null'] },
      { id: 'o3', address: 'rtmp://example.com/live' },
    ],
  });
  assert.deepEqual(buildArgs(resolveConfig(normalizeIds(c), ctx)), [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-re', '-i', 'testsrc',
    '-f', 'lavfi', '-i', 'anullsrc',
    '-i', 'plain.mp4',
    '-c:v', 'libx264', 'file:/srv/drake/data/o1.mp4',
    '-f', 'null', 'pipe:',
    'rtmp://example.com/live',
  ]);
});

test('buildArgs() returns a fresh array', () => {
  const r = resolveConfig(config(), ctx);
  const args = buildArgs(r);
  args.push('extra');
  assert.deepEqual(r.options, []);
  assert.deepEqual(buildArgs(r), ['-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25', '-f', 'null', 'pipe:']);
});
