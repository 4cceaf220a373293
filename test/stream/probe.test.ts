// probeInputs(): FFmpeg with the inputs and no outputs, the input dump parsed into Core's Probe shape.
// Runs against FFmpeg 5.1 (/usr/bin/ffmpeg) and the bundled static 4.1 when they are present.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { execa } from 'execa';
import { probeInputs, type ProbeDto } from '../../src/actors/stream/probe.ts';
import { parseProcessConfig, type ProcessConfig } from '../../src/shared/processConfig.ts';

const bundled = (() => {
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return null;
  }
})();
const BINARIES: Array<[string, string | null]> = [
  ['FFmpeg 5.1', existsSync('/usr/bin/ffmpeg') ? '/usr/bin/ffmpeg' : null],
  ['FFmpeg 4.1', bundled && existsSync(bundled) ? bundled : null],
];
const anyBinary = BINARIES.find(([, b]) => b)?.[1] ?? null;
const skipNone = anyBinary ? false : 'no FFmpeg found';

function config(inputs: Array<{ address: string; options?: string[] }>, options: string[] = []): ProcessConfig {
  return parseProcessConfig({
    id: 'probe-test',
    options,
    input: inputs.map((i, n) => ({ id: `in${n}`, address: i.address, options: i.options ?? [] })),
    // Ignored by the probe, which never runs outputs.
    output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
  });
}

/** A UDP port nobody sends to: bound and released again, so FFmpeg waits on it for nothing. */
async function idleUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

/** A TCP port with nothing listening: connections are refused at once. */
async function closedTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return typeof addr === 'object' && addr ? addr.port : 1;
}

function assertNoStreams(r: ProbeDto): void {
  assert.deepEqual(r.streams, []);
  assert.ok(Array.isArray(r.log) && r.log.length > 0, 'the log explains why');
}

let dir = '';
let mp4 = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drake-probe-'));
  mp4 = join(dir, 'clip.mp4');
  if (!anyBinary) return;
  await execa(anyBinary, [
    '-hide_banner', '-nostdin', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '4',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', '200k',
    '-c:a', 'aac', '-ac', '2', '-b:a', '96k',
    mp4,
  ]);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const [label, binary] of BINARIES) {
  test(`probeInputs() reports a lavfi video input and a lavfi audio input (${label})`, { skip: binary ? false : `${label} missing` }, async () => {
    const r = await probeInputs(
      binary!,
      config(
        [
          { address: 'testsrc=size=320x240:rate=25', options: ['-f', 'lavfi'] },
          { address: 'sine=frequency=1000:sample_rate=44100', options: ['-f', 'lavfi'] },
        ],
        ['-nostdin'],
      ),
      { timeoutMs: 10_000 },
    );
    assert.equal(r.streams.length, 2, r.log.join('\n'));
    const [video, audio] = r.streams;
    assert.deepEqual(video, {
      url: 'testsrc=size=320x240:rate=25',
      format: 'lavfi',
      index: 0,
      stream: 0,
      language: 'und',
      type: 'video',
      codec: 'rawvideo',
      coder: 'rawvideo',
      bitrate_kbps: 0,
      duration_sec: 0,
      fps: 25,
      pix_fmt: 'rgb24',
      width: 320,
      height: 240,
      sampling_hz: 0,
      layout: '',
      channels: 0,
    });
    assert.equal(audio?.url, 'sine=frequency=1000:sample_rate=44100');
    assert.equal(audio?.index, 1);
    assert.equal(audio?.type, 'audio');
    assert.equal(audio?.codec, 'pcm_s16le');
    assert.equal(audio?.sampling_hz, 44100);
    assert.equal(audio?.layout, 'mono');
    assert.equal(audio?.channels, 1);
    assert.equal(audio?.bitrate_kbps, 705);
    // FFmpeg's complaint about the missing output is the expected end of a probe.
    assert.ok(r.log.some((l) => l.includes('At least one output file must be specified')), r.log.join('\n'));
    assert.ok(r.log.some((l) => l.startsWith("Input #0, lavfi, from 'testsrc")));
  });

  test(`probeInputs() reports an mp4 file's h264 and aac streams with duration and bitrate (${label})`, { skip: binary ? false : `${label} missing` }, async () => {
    const r = await probeInputs(binary!, config([{ address: mp4 }]), { timeoutMs: 10_000 });
    assert.equal(r.streams.length, 2, r.log.join('\n'));
    const video = r.streams.find((s) => s.type === 'video');
    const audio = r.streams.find((s) => s.type === 'audio');
    assert.ok(video && audio);
    assert.equal(video.url, mp4);
    assert.equal(video.format, 'mov,mp4,m4a,3gp,3g2,mj2');
    assert.equal(video.index, 0);
    assert.equal(video.codec, 'h264');
    assert.equal(video.language, 'und');
    assert.equal(video.pix_fmt, 'yuv420p');
    assert.equal(video.width, 320);
    assert.equal(video.height, 240);
    assert.equal(video.fps, 25);
    assert.equal(video.duration_sec, 4);
    assert.ok(video.bitrate_kbps > 0 && video.bitrate_kbps < 1000, `video bitrate ${video.bitrate_kbps}`);
    assert.equal(audio.codec, 'aac');
    assert.equal(audio.sampling_hz, 48000);
    assert.equal(audio.layout, 'stereo');
    assert.equal(audio.channels, 2);
    assert.equal(audio.duration_sec, 4);
    assert.ok(audio.bitrate_kbps > 50 && audio.bitrate_kbps < 150, `audio bitrate ${audio.bitrate_kbps}`);
    assert.deepEqual(
      r.streams.map((s) => [s.index, s.stream]),
      [[0, 0], [0, 1]],
    );
  });
}

test('probeInputs() reports a missing file in the log, without streams', { skip: skipNone }, async () => {
  const missing = join(dir, 'nope.mp4');
  const r = await probeInputs(anyBinary!, config([{ address: missing }]), { timeoutMs: 10_000 });
  assertNoStreams(r);
  assert.ok(r.log.some((l) => l.includes('No such file or directory')), r.log.join('\n'));
});

test('probeInputs() reports a refused RTMP connection in the log', { skip: skipNone }, async () => {
  const port = await closedTcpPort();
  const r = await probeInputs(anyBinary!, config([{ address: `rtmp://127.0.0.1:${port}/live/x` }]), { timeoutMs: 10_000 });
  assertNoStreams(r);
  assert.ok(r.log.some((l) => /Connection refused/i.test(l)), r.log.join('\n'));
});

test('probeInputs() gives up on a silent UDP input after its own timeout option', { skip: skipNone }, async () => {
  const port = await idleUdpPort();
  const started = Date.now();
  // timeout is in microseconds for the udp protocol.
  const r = await probeInputs(anyBinary!, config([{ address: `udp://127.0.0.1:${port}?timeout=300000` }]), { timeoutMs: 10_000 });
  assertNoStreams(r);
  assert.ok(Date.now() - started < 8_000);
  assert.ok(!r.log.some((l) => l.startsWith('probe timed out')), r.log.join('\n'));
});

test('probeInputs() kills a probe that hangs and says so in the log', { skip: skipNone }, async () => {
  const port = await idleUdpPort();
  const started = Date.now();
  const r = await probeInputs(anyBinary!, config([{ address: `udp://127.0.0.1:${port}` }]), { timeoutMs: 1500 });
  const took = Date.now() - started;
  assertNoStreams(r);
  assert.equal(r.log.at(-1), 'probe timed out after 1.5 s');
  assert.ok(took >= 1400 && took < 5000, `took ${took} ms`);
});

test('probeInputs() never throws: a binary that does not exist is reported in the log', async () => {
  const r = await probeInputs(join(tmpdir(), 'no-such-ffmpeg-binary'), config([{ address: 'x.mp4' }]), { timeoutMs: 5000 });
  assert.deepEqual(r.streams, []);
  assert.equal(r.log.length, 1);
  assert.match(r.log[0] ?? '', /^probe failed: can't run .*no-such-ffmpeg-binary: .*ENOENT/);
});

test('probeInputs() probes global options and input options as given (a bad option is only a log line)', { skip: skipNone }, async () => {
  const r = await probeInputs(anyBinary!, config([{ address: 'testsrc', options: ['-f', 'lavfi', '-no_such_option', '1'] }]), {
    timeoutMs: 10_000,
  });
  assertNoStreams(r);
  assert.ok(r.log.some((l) => l.includes('no_such_option')), r.log.join('\n'));
});
