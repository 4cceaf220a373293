// loadSkills() and SkillsCache against FFmpeg 5.1 (/usr/bin/ffmpeg) and the bundled static 4.1, whose
// listings differ slightly; parseSkills() on a few lines in the newer (6.1+) -formats layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSkills, parseSkills, SkillsCache, type SkillsDto } from '../../src/actors/supervisor/skills.ts';
import { FfmpegMissingError } from '../../src/shared/errors.ts';

const bundled = (() => {
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return null;
  }
})();
const BINARIES: Array<[string, string | null, RegExp]> = [
  ['FFmpeg 5.1', existsSync('/usr/bin/ffmpeg') ? '/usr/bin/ffmpeg' : null, /^\d+\.\d+\.\d+$/],
  // A git snapshot build ("N-47683-g0e8eb07980-static"): the version comes from its libavutil 56.24.
  ['FFmpeg 4.1', bundled && existsSync(bundled) ? bundled : null, /^4\.1\.0$/],
];
// The static build starts fastest (5.1 links some 200 shared libraries), so it serves the cache test.
const anyBinary = BINARIES[1]?.[1] ?? BINARIES[0]?.[1] ?? null;

function ids(list: Array<{ id: string }>): string[] {
  return list.map((x) => x.id);
}

for (const [label, binary, versionRe] of BINARIES) {
  test(`loadSkills() lists codecs, formats, protocols and filters (${label})`, { skip: binary ? false : `${label} missing` }, async () => {
    const s: SkillsDto = await loadSkills(binary!);

    assert.match(s.ffmpeg.version, versionRe);
    if (binary === '/usr/bin/ffmpeg') assert.equal(s.ffmpeg.version.split('.').slice(0, 2).join('.'), '5.1');
    assert.match(s.ffmpeg.compiler, /gcc/);
    assert.match(s.ffmpeg.configuration, /--enable-libx264/);
    const avutil = s.ffmpeg.libraries.find((l) => l.name === 'libavutil');
    assert.ok(avutil, 'libavutil listed');
    assert.match(avutil.compiled, /^\d+\.\d+\.\d+$/);
    assert.match(avutil.linked, /^\d+\.\d+\.\d+$/);
    assert.ok(s.ffmpeg.libraries.some((l) => l.name === 'libavcodec'));

    const h264 = s.codecs.video.find((c) => c.id === 'h264');
    assert.ok(h264, 'h264 is a video codec');
    assert.equal(h264.name, 'H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10');
    assert.ok(h264.encoders.includes('libx264'), `h264 encoders: ${h264.encoders.join(' ')}`);
    assert.ok(h264.decoders.includes('h264'));
    const opus = s.codecs.audio.find((c) => c.id === 'opus');
    assert.ok(opus, 'opus is an audio codec');
    assert.ok(opus.encoders.includes('libopus'));
    assert.ok(opus.decoders.includes('opus'));
    const aac = s.codecs.audio.find((c) => c.id === 'aac');
    assert.ok(aac?.encoders.includes('aac'), 'aac encoder named after its codec');
    assert.ok(s.codecs.subtitle.some((c) => c.id === 'ass'));
    assert.ok(!s.codecs.video.some((c) => c.id === 'aac'));
    // Codecs without an encoder have an empty list, not a missing one.
    assert.ok(s.codecs.video.some((c) => c.encoders.length === 0 && c.decoders.length > 0));

    assert.ok(ids(s.formats.demuxers).includes('lavfi'));
    assert.ok(ids(s.formats.demuxers).includes('mov'), 'the first name of "mov,mp4,..." is the id');
    assert.ok(ids(s.formats.muxers).includes('rtp'));
    assert.ok(ids(s.formats.muxers).includes('flv'));
    assert.ok(ids(s.formats.muxers).includes('mpegts'));
    assert.ok(!ids(s.formats.muxers).includes('lavfi'));
    assert.equal(s.formats.muxers.find((f) => f.id === 'flv')?.name, 'FLV (Flash Video)');

    assert.ok(ids(s.devices.demuxers).includes('lavfi'));
    assert.deepEqual(s.devices.demuxers.find((d) => d.id === 'lavfi'), {
      id: 'lavfi',
      name: 'Libavfilter virtual input device',
      devices: [],
    });

    for (const p of ['udp', 'tcp', 'rtmp', 'file', 'http']) {
      assert.ok(ids(s.protocols.input).includes(p), `${p} input`);
      assert.ok(ids(s.protocols.output).includes(p), `${p} output`);
    }
    assert.deepEqual(s.protocols.input.find((p) => p.id === 'udp'), { id: 'udp', name: 'udp' });

    const scale = s.filter.find((f) => f.id === 'scale');
    assert.deepEqual(scale, { id: 'scale', name: 'Scale the input video size and/or convert the image format.' });
    assert.ok(ids(s.filter).includes('aevalsrc'), 'source filters (|->A) are listed');
    assert.ok(ids(s.filter).includes('amix'), 'N->A filters are listed');
    assert.ok(s.filter.length > 300);
    assert.ok(!ids(s.filter).some((id) => id === '=' || id === ''), 'no legend lines');

    assert.ok(Array.isArray(s.hwaccels));
    for (const h of s.hwaccels) assert.match(h.id, /^[a-z0-9_]+$/);
  });
}

test('parseSkills() reads the 6.1+ -formats layout with its device column', () => {
  const empty = { version: '', codecs: '', encoders: '', decoders: '', protocols: '', filters: '', hwaccels: '', devices: '' };
  const s = parseSkills({
    ...empty,
    formats: [
      'File formats:',
      ' D.. = Demuxing supported',
      ' .E. = Muxing supported',
      ' ..d = Is a device',
      ' ---',
      '  E  3g2             3GP2 (3GPP2 file format)',
      ' DE  flv             FLV (Flash Video)',
      ' D d lavfi           Libavfilter virtual input device',
      ' D   mov,mp4,m4a,3gp,3g2,mj2 QuickTime / MOV',
    ].join('\n'),
    version: 'ffmpeg version n7.1 Copyright (c) 2000-2024 the FFmpeg developers\n  libavutil      59. 39.100 / 59. 39.100\n',
  });
  assert.deepEqual(s.formats.demuxers, [
    { id: 'flv', name: 'FLV (Flash Video)' },
    { id: 'lavfi', name: 'Libavfilter virtual input device' },
    { id: 'mov', name: 'QuickTime / MOV' },
  ]);
  assert.deepEqual(ids(s.formats.muxers), ['3g2', 'flv']);
  assert.equal(s.ffmpeg.version, '7.1.0');
  assert.deepEqual(s.ffmpeg.libraries, [{ name: 'libavutil', compiled: '59.39.100', linked: '59.39.100' }]);
  assert.deepEqual(s.codecs, { audio: [], video: [], subtitle: [] });
});

test('loadSkills() throws FfmpegMissingError for a binary that does not run', async () => {
  await assert.rejects(loadSkills(join(tmpdir(), 'no-such-ffmpeg-binary')), FfmpegMissingError);
});

test('SkillsCache runs FFmpeg once for concurrent get() and again on reload()', { skip: anyBinary ? false : 'no FFmpeg found' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'drake-skills-'));
  try {
    // A wrapper that counts its runs (FFmpeg gets an empty environment, hence the absolute paths).
    const counter = join(dir, 'runs');
    const wrapper = join(dir, 'ffmpeg');
    await writeFile(wrapper, `#!/bin/sh\necho run >> '${counter}'\nexec '${anyBinary}' "$@"\n`);
    await chmod(wrapper, 0o755);
    const runs = async (): Promise<number> => (existsSync(counter) ? (await readFile(counter, 'utf8')).split('\n').filter(Boolean).length : 0);
    let loads = 0;
    const cache = new SkillsCache(wrapper, (b) => {
      loads++;
      return loadSkills(b);
    });

    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    assert.equal(loads, 1);
    assert.equal(await runs(), 9, 'nine listings, run once');
    assert.equal(a, b, 'both callers share one result');
    assert.ok(a.codecs.video.some((c) => c.id === 'h264'));
    assert.equal(await cache.get(), a, 'later calls are served from the cache');
    assert.equal(await runs(), 9);

    const [r1, r2] = await Promise.all([cache.reload(), cache.reload()]);
    assert.equal(loads, 2);
    assert.equal(await runs(), 18, 'reload re-runs every listing once');
    assert.equal(r1, r2);
    assert.notEqual(r1, a);
    assert.deepEqual(r1.ffmpeg, a.ffmpeg);
    assert.equal(await cache.get(), r1, 'get() returns the reloaded skills');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SkillsCache forgets a failed load and keeps the old skills when a reload fails', async () => {
  let fail = true;
  const fake = { ffmpeg: { version: '1.0.0' } } as SkillsDto;
  let calls = 0;
  const cache = new SkillsCache('fake', async () => {
    calls++;
    if (fail) throw new FfmpegMissingError('nope');
    return fake;
  });
  await assert.rejects(cache.get(), FfmpegMissingError);
  fail = false;
  assert.equal(await cache.get(), fake, 'retried after the failure');
  assert.equal(calls, 2);
  fail = true;
  await assert.rejects(cache.reload(), FfmpegMissingError);
  assert.equal(await cache.get(), fake, 'old skills kept');
  assert.equal(calls, 3);
});
