// The built-in RTMP server with real FFmpeg publishers and players, and a real drake process reading
// {rtmp,name=…}: token, duplicate publisher, unpublished play, /api/v3/rtmp, garbage on the port.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveStreamPath, rtmpUrlTemplate } from '../../src/ingest/rtmp/streamPath.ts';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { FFMPEG, haveFfmpeg, runFfmpeg } from '../helpers/fsServer.ts';
import { freePort, startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';

const TOKEN = 'k3y-T0k';

describe('RTMP stream paths (Core rules)', () => {
  const s = { app: '/', token: TOKEN };
  test('the token from ?token= or the last path element; the name after the app', () => {
    assert.deepEqual(resolveStreamPath('cam1?token=k3y-T0k', '', s), { ok: true, name: 'cam1' });
    assert.deepEqual(resolveStreamPath('cam1', 'k3y-T0k', s), { ok: true, name: 'cam1' });
    assert.equal(resolveStreamPath('cam1', '', s).ok, false, 'no token');
    assert.equal(resolveStreamPath('cam1?token=nope', '', s).ok, false, 'wrong token');
    assert.deepEqual(resolveStreamPath('live', 'cam1', { app: '/live', token: '' }), { ok: true, name: 'cam1' });
    assert.equal(resolveStreamPath('other', 'cam1', { app: '/live', token: '' }).ok, false, 'outside the app');
    assert.equal(resolveStreamPath('a', 'b%zz', { app: '/a', token: '' }).ok, false, 'bad escape');
    assert.deepEqual(resolveStreamPath('live', 'studio/cam1', { app: '/', token: '' }), { ok: true, name: 'live/studio/cam1' }, 'names are paths');
    assert.equal(resolveStreamPath('live', 'a b', { app: '/', token: '' }).ok, false, 'no spaces');
    assert.equal(rtmpUrlTemplate('0.0.0.0', 1935, '/', 'a b'), 'rtmp://127.0.0.1:1935/{name}?token=a%20b');
    // What a client sent comes back in the refusal (logged): only as printable text, no forged log lines.
    const reason = (app: string, name: string, appSetting = '/') => {
      const v = resolveStreamPath(app, name, { app: appSetting, token: '' });
      return v.ok ? 'accepted' : v.reason.split(' (use')[0];
    };
    assert.equal(reason('x\n2026-01-01T00:00:00.000Z info  [rtmp] forged\u001b[2J', 'cam'), 'invalid stream name "x?2026-01-01T00:00:00.000Z info  [rtmp] forged?[2J/cam"');
    assert.equal(reason('live', 'a\r\nb\u0000ä'), 'invalid stream name "live/a??b??"');
    assert.equal(reason('x\ny', 'cam', '/live'), 'the path /x?y/cam is not under the app /live');
  });
});

describe('built-in RTMP server (real FFmpeg)', { skip: haveFfmpeg() ? false : 'no FFmpeg' }, () => {
  let drake: TestDrake;
  let port: number;
  let publisher: ChildProcess;
  const url = (name: string, token: string | null = TOKEN) => `rtmp://127.0.0.1:${port}/${name}${token === null ? '' : `?token=${token}`}`;
  const publishArgs = (target: string, seconds: number) => [
    '-re', '-f', 'lavfi', '-t', String(seconds), '-i', 'testsrc=size=160x120:rate=15',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15', '-f', 'flv', target,
  ];
  const listed = async () => (await drake.api<Array<{ name: string }>>('GET', '/api/v3/rtmp')).body.map((s) => s.name);

  before(async () => {
    port = await freePort();
    drake = await startDrake({ rtmp: { enable: true, address: `127.0.0.1:${port}`, token: TOKEN } });
    publisher = spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...publishArgs(url('cam1'), 60)], { stdio: 'ignore' });
    await waitFor('cam1 is published', async () => (await listed()).includes('/cam1'), 15_000);
  });
  after(async () => {
    publisher?.kill('SIGKILL');
    await drake?.stop(true);
  });

  test('GET /api/v3/rtmp lists the published stream in Core\'s shape', async () => {
    const res = await drake.api('GET', '/api/v3/rtmp');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, [{ name: '/cam1' }]);
  });

  test('a process reading {rtmp,name=cam1} runs and makes progress', async () => {
    const add = await drake.api('POST', '/api/v3/process', {
      id: 'reader',
      input: [{ id: 'in', address: '{rtmp,name=cam1}', options: [] }],
      output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
      options: ['-loglevel', 'info'],
      autostart: true,
      reconnect: true,
      reconnect_delay_seconds: 1,
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    const state = async () => (await drake.api<ProcessStateDto>('GET', '/api/v3/process/reader/state')).body;
    const first = await waitFor('reader running with frames', async () => {
      const s = await state();
      return s.exec === 'running' && s.progress.frame > 0 ? s : null;
    });
    const address = first.command[first.command.indexOf('-i') + 1]!;
    assert.match(address, new RegExp(`^rtmp://127\\.0\\.0\\.1:${port}/cam1\\?token=`), 'the placeholder became the play URL with the token');
    await waitFor('more frames', async () => (await state()).progress.frame > first.progress.frame + 10);
  });

  test('the publisher and the reading process are sessions of the rtmp collector, as in Core', async () => {
    type Session = { id: string; reference: string; extra: string; remote: string; bytes_rx: number; bytes_tx: number; bandwidth_rx_kbit: number };
    const active = await waitFor('publisher and player listed', async () => {
      const r = await drake.api<Record<string, Session[]>>('GET', '/api/v3/session/active?collectors=rtmp');
      const list = r.body.rtmp ?? [];
      return list.some((s) => s.extra === 'publish') && list.some((s) => s.extra === 'play') ? list : null;
    });
    const pub = active.find((s) => s.extra === 'publish')!;
    const play = active.find((s) => s.extra === 'play')!;
    assert.equal(pub.reference, '/cam1');
    assert.equal(play.reference, '/cam1');
    assert.match(pub.id, /^[0-9a-f]{32}$/);
    assert.match(pub.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(pub.bytes_rx > 10_000 && pub.bandwidth_rx_kbit > 0, JSON.stringify(pub));
    assert.ok(play.bytes_tx > 10_000, JSON.stringify(play));
    const all = await drake.api<Record<string, unknown[]>>('GET', '/api/v3/session/active');
    assert.ok(['whep', 'hls', 'rtmp'].every((k) => Array.isArray(all.body[k])), `collectors: ${Object.keys(all.body).join(', ')}`);
    const summary = await drake.api<{ rtmp: { active: { sessions: number; list: string[]; max_sessions: number }; summary: { sessions: number; traffic_rx_mb: number; reference: Record<string, number> } } }>(
      'GET',
      '/api/v3/session?collectors=rtmp',
    );
    const rtmp = summary.body.rtmp;
    assert.ok(rtmp.active.sessions >= 2 && rtmp.active.list.includes(pub.id), JSON.stringify(rtmp.active));
    assert.ok(rtmp.active.max_sessions > 0);
    assert.ok(rtmp.summary.sessions >= 2 && rtmp.summary.traffic_rx_mb > 0.01 && (rtmp.summary.reference['/cam1'] ?? 0) >= 2, JSON.stringify(rtmp.summary));
  });

  test('a WebRTC process reading {rtmp} feeds its WHEP leg (the README example)', async () => {
    const add = await drake.api('POST', '/api/v3/process', {
      id: 'rtc',
      input: [{ id: 'in', address: '{rtmp,name=cam1}', options: [] }],
      output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
      webrtc: { enabled: true, video: 'copy', audio: 'none' },
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    await waitFor('RTP packets on the WebRTC video leg', async () => {
      const s = (await drake.api<ProcessStateDto>('GET', '/api/v3/process/rtc/state')).body;
      return (s.progress.outputs.find((o) => o.id === 'webrtc:video')?.packet ?? 0) > 50;
    });
    assert.equal((await drake.api('DELETE', '/api/v3/process/rtc')).status, 200);
  });

  test('a missing or wrong token is refused, for publish and for play', async () => {
    for (const target of [url('cam2', null), url('cam2', 'wrong')]) {
      const run = await runFfmpeg(publishArgs(target, 5), 10_000).done;
      assert.notEqual(run.code, 0, `publish to ${target} must fail`);
    }
    assert.deepEqual(await listed(), ['/cam1']);
    const play = await runFfmpeg(['-i', url('cam1', 'wrong'), '-t', '1', '-f', 'null', '-'], 10_000).done;
    assert.notEqual(play.code, 0, 'play with a wrong token must fail');
  });

  test('a second publisher of the same name is refused; play of an unpublished name fails', async () => {
    const second = await runFfmpeg(publishArgs(url('cam1'), 5), 10_000).done;
    assert.notEqual(second.code, 0, 'the second publisher must be refused');
    assert.deepEqual(await listed(), ['/cam1'], 'the first publisher is untouched');
    const started = Date.now();
    const play = await runFfmpeg(['-i', url('nothere'), '-t', '1', '-f', 'null', '-'], 10_000).done;
    assert.notEqual(play.code, 0, 'play of an unpublished name must fail');
    assert.ok(Date.now() - started < 8000, 'and fail at once, not by a timeout');
    const ok = await runFfmpeg(['-i', url('cam1'), '-frames:v', '5', '-f', 'null', '-'], 10_000).done;
    assert.equal(ok.code, 0, `a player with the token gets frames: ${ok.stderr}`);
  });

  test('garbage bytes and broken handshakes on the RTMP port do not hurt drake', async () => {
    // Sends bytes and keeps the connection open: resolves 'closed' when drake closes it, else 'open'.
    const send = (bytes: Buffer, half = false) =>
      new Promise<'closed' | 'open'>((resolve) => {
        const sock = connect(port, '127.0.0.1', () => (half ? sock.end(bytes) : sock.write(bytes)));
        const timer = setTimeout(() => {
          sock.destroy();
          resolve('open');
        }, 3000);
        sock.on('error', () => undefined);
        sock.on('close', () => {
          clearTimeout(timer);
          resolve('closed');
        });
        sock.resume();
      });
    const c1 = randomBytes(1536);
    const handshake = (...rest: Buffer[]) => Buffer.concat([Buffer.from([3]), c1, c1, ...rest]);
    // After a handshake: a chunk announcing a 16 MiB invoke; an invoke of broken AMF; Set Chunk Size 0.
    const huge = Buffer.from([0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0]);
    const badAmf = Buffer.concat([Buffer.from([0x03, 0, 0, 0, 0, 0, 20, 0x14, 0, 0, 0, 0]), Buffer.from([0x02, 0, 7, ...Buffer.from('connect'), 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x03, 0xee, 0xee])]);
    const chunkSize0 = Buffer.from([0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (const [what, payload] of [['16 MiB message', handshake(huge, randomBytes(64))], ['broken AMF', handshake(badAmf)], ['chunk size 0', handshake(chunkSize0, randomBytes(3000))]] as const) {
      assert.equal(await send(payload), 'closed', `drake closes a connection that sends ${what}`);
    }
    for (const payload of [randomBytes(4096), Buffer.alloc(1), handshake()]) await send(payload, true);
    assert.equal((await drake.api('GET', '/ping')).body, 'pong');
    assert.deepEqual(await listed(), ['/cam1'], 'the real publisher goes on');
  });

  test('a second drake on the same RTMP address fails with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drake-test-'));
    try {
      await assert.rejects(startDrake({ rtmp: { enable: true, address: `127.0.0.1:${port}` } }, dir), /cannot listen for RTMP on 127\.0\.0\.1:\d+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('publisher gone: the stream leaves the list, the reader reconnects and recovers when it is back', async () => {
    const state = async () => (await drake.api<ProcessStateDto>('GET', '/api/v3/process/reader/state')).body;
    publisher.kill('SIGKILL');
    await waitFor('cam1 unpublished', async () => (await listed()).length === 0, 10_000);
    await waitFor('the reader noticed', async () => (await state()).exec !== 'running', 15_000);
    publisher = spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...publishArgs(url('cam1'), 60)], { stdio: 'ignore' });
    await waitFor('cam1 published again', async () => (await listed()).includes('/cam1'), 15_000);
    // Progress is per run, and the old run ended above: these frames are the new run's.
    await waitFor('the reader runs again and makes progress', async () => {
      const s = await state();
      return s.exec === 'running' && s.progress.frame > 20;
    }, 30_000);
  });

  test('drake stops its RTMP server with it: the port is free afterwards', async () => {
    publisher.kill('SIGKILL');
    await drake.stop(true);
    await new Promise<void>((resolve, reject) => {
      const srv = createServer().once('error', reject).listen(port, '127.0.0.1', () => srv.close(() => resolve()));
    });
  });
});
