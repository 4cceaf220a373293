// The built-in SRT server with real FFmpeg publishers and players, a real drake process reading
// {srt,name=…,mode=request} into HLS, ffprobe as a direct player: stream ids and tokens, duplicate
// publishers, unpublished names, GET /api/v3/srt with libsrt statistics, garbage and broken handshakes
// on the UDP port, the reader reconnecting when the publisher comes back, the exclusive port.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolvePlaceholders } from '../../src/actors/stream/placeholders.ts';
import { SrtServer } from '../../src/ingest/srt/SrtServer.ts';
import type { SrtChannels } from '../../src/ingest/srt/srtUrl.ts';
import { srtUrlTemplate } from '../../src/ingest/srt/srtUrl.ts';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { FFMPEG, haveFfmpeg, runFfmpeg } from '../helpers/fsServer.ts';
import { callerUrl, publishArgs, skipNative, srtAddon as addon, udpPortFree } from '../helpers/srt.ts';
import { freePort, startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';

const TOKEN = 'k3y-T0k';

describe('SRT stream ids and the {srt} placeholder (Core rules)', () => {
  test('{srt} becomes Core\'s caller URL: request in inputs, publish in outputs, latency 20000 µs, token and passphrase', () => {
    const tpl = srtUrlTemplate('0.0.0.0', 6000, 'T1', 'pass-phrase-1');
    const values = { processid: 'p', reference: '', diskfs: '/d', memfs: 'http://x/memfs', srt: tpl };
    assert.equal(
      resolvePlaceholders('{srt,name=cam1}', 'address', { ...values, inputid: 'in' }),
      'srt://127.0.0.1:6000?mode=caller&transtype=live&latency=20000&streamid=cam1,mode:request,token:T1&passphrase=pass-phrase-1',
    );
    assert.equal(
      resolvePlaceholders('{srt,name=$processid,latency=120000}', 'address', { ...values, outputid: 'out' }),
      'srt://127.0.0.1:6000?mode=caller&transtype=live&latency=120000&streamid=p,mode:publish,token:T1&passphrase=pass-phrase-1',
    );
    assert.match(resolvePlaceholders('{srt,name=a,mode=publish}', 'address', { ...values, inputid: 'in' }), /streamid=a,mode:publish,/);
    assert.equal(resolvePlaceholders('{srt,name=a}', 'io-options', values), '{srt,name=a}', 'addresses only');
    assert.equal(resolvePlaceholders('{srt,name=a}', 'address', { ...values, srt: undefined }), '{srt,name=a}', 'stays when the server is off');
    assert.equal(srtUrlTemplate('::1', 7000, '', ''), 'srt://[::1]:7000?mode=caller&transtype=live&latency={latency}&streamid={name},mode:{mode}');
  });

  test('stream ids: Core\'s syntax and the access-control one, tokens, modes, names', { skip: skipNative }, () => {
    const p = (id: string, token = TOKEN) => addon!.parseStreamId(id, token);
    assert.deepEqual(
      [p('cam1,mode:publish,token:k3y-T0k'), p('#!::r=cam1,m=publish,token=k3y-T0k'), p('#!:m=publish,r=cam1,token=k3y-T0k')].map((r) => [r.ok, r.mode, r.name]),
      [[true, 'publish', 'cam1'], [true, 'publish', 'cam1'], [true, 'publish', 'cam1']],
    );
    assert.equal(p('cam1,token:k3y-T0k').mode, 'request', 'request when no mode is given');
    assert.equal(p('live/cam1,token:k3y-T0k,mode:request').name, 'live/cam1', 'names are paths, keys in any order');
    assert.deepEqual([p('cam1,mode:publish').code, p('cam1,mode:publish,token:nope').code], [1401, 1401], 'missing or wrong token: 1401');
    assert.equal(p('cam1,mode:play,token:k3y-T0k').code, 1405, 'unknown mode');
    for (const bad of ['', '#!::m=publish', 'a b,mode:publish', '/x', 'x//y', 'x/', 'x'.repeat(129), 'ä,mode:publish']) {
      assert.equal(p(bad, '').ok, false, `"${bad.slice(0, 20)}"`);
    }
    assert.equal(p('cam1', '').ok, true, 'no token configured: none needed');
  });

  test('without the addon (no libsrt at build time) srt.enable stops with a clear message', () => {
    const missing = () => ({ addon: null, error: 'Cannot find module srt_server.node' });
    assert.throws(() => SrtServer.start({ address: '127.0.0.1:0', passphrase: '', token: '' }, missing), /^DrakeError: SRT is unavailable: .*libsrt-gnutls-dev.*srt\.enable/);
  });
});

/** FFmpeg probes MPEG-TS for 5 s by default; a second is enough for this one-stream test pattern. */
const FAST_PROBE = ['-analyzeduration', '1000000'];

describe('built-in SRT server (real FFmpeg)', { skip: skipNative || (haveFfmpeg() ? false : 'no FFmpeg') }, () => {
  let drake: TestDrake;
  let port: number;
  let publisher: ChildProcess;
  const publish = (name: string) =>
    spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...publishArgs(callerUrl(port, `#!:m=publish,r=${name},token=${TOKEN}`), 120)], { stdio: 'ignore' });
  const channels = async () => (await drake.api<SrtChannels>('GET', '/api/v3/srt')).body;
  const state = async (id: string) => (await drake.api<ProcessStateDto>('GET', `/api/v3/process/${id}/state`)).body;

  before(async () => {
    port = await freePort();
    drake = await startDrake({ srt: { enable: true, address: `127.0.0.1:${port}`, token: TOKEN } });
    publisher = publish('cam1');
    await waitFor('cam1 is published', async () => (await channels()).publisher.cam1 !== undefined, 15_000);
  });
  after(async () => {
    publisher?.kill('SIGKILL');
    await drake?.stop(true);
  });

  test('a process reading {srt,name=cam1,mode=request} writes HLS; GET /api/v3/srt shows publisher and player with stats', async () => {
    const add = await drake.api('POST', '/api/v3/process', {
      id: 'reader',
      input: [{ id: 'in', address: '{srt,name=cam1,mode=request}', options: FAST_PROBE }],
      output: [{ id: 'hls', address: '{diskfs}/cam1.m3u8', options: ['-c', 'copy', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '3'] }],
      options: ['-loglevel', 'info'],
      autostart: true,
      reconnect: true,
      reconnect_delay_seconds: 1,
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    const first = await waitFor('reader running with frames', async () => {
      const s = await state('reader');
      return s.exec === 'running' && s.progress.frame > 0 ? s : null;
    }, 20_000);
    const address = first.command[first.command.indexOf('-i') + 1]!;
    assert.equal(address, `srt://127.0.0.1:${port}?mode=caller&transtype=live&latency=20000&streamid=cam1,mode:request,token:***`, 'the play URL, its token hidden in the state');
    const dir = join(drake.dir, 'data');
    await waitFor('HLS segments on disk', async () => existsSync(join(dir, 'cam1.m3u8')) && readdirSync(dir).filter((f) => f.endsWith('.ts')).length >= 2, 20_000);
    assert.match(readFileSync(join(dir, 'cam1.m3u8'), 'utf8'), /#EXTINF/);

    const c = await waitFor('stats with traffic both ways', async () => {
      const ch = await channels();
      const pub = ch.connections[String(ch.publisher.cam1)];
      const playerId = ch.subscriber.cam1?.[0];
      const player = playerId === undefined ? undefined : ch.connections[String(playerId)];
      return pub && player && (pub.stats.recv_pkt ?? 0) > 50 && (player.stats.sent_pkt ?? 0) > 50 ? ch : null;
    });
    const pub = c.connections[String(c.publisher.cam1)]!;
    const player = c.connections[String(c.subscriber.cam1![0])]!;
    assert.equal(pub.mode, 'publish');
    assert.equal(pub.name, 'cam1');
    assert.match(pub.remote, /^127\.0\.0\.1:\d+$/);
    assert.equal(player.mode, 'request');
    assert.deepEqual(pub.log, {});
    for (const k of ['recv_bytes', 'recv_loss_pkt', 'recv_drop_pkt', 'rtt_ms', 'recv_buf_ms', 'recv_tsbpd_delay_ms']) assert.equal(typeof pub.stats[k], 'number', k);
    for (const k of ['sent_bytes', 'send_loss_pkt', 'sent_retrans_pkt', 'send_drop_pkt', 'rtt_ms']) assert.equal(typeof player.stats[k], 'number', k);
    assert.ok(pub.stats.recv_bytes! > pub.stats.recv_pkt!, 'bytes, not packets');
    assert.ok(player.stats.sent_pkt! <= pub.stats.recv_pkt! + 5, 'the player gets what the publisher sent, not more');
    assert.deepEqual(c.log, {});

    // The same connections as Core's srt session collector.
    type Session = { id: string; reference: string; extra: string; bytes_rx: number; bytes_tx: number };
    const sessions = (await drake.api<Record<string, Session[]>>('GET', '/api/v3/session/active?collectors=srt')).body.srt ?? [];
    const sPub = sessions.find((x) => x.id === String(c.publisher.cam1));
    const sPlay = sessions.find((x) => x.id === String(c.subscriber.cam1![0]));
    assert.ok(sPub && sPub.extra === 'publish' && sPub.reference === 'cam1' && sPub.bytes_rx > 10_000, JSON.stringify(sessions));
    assert.ok(sPlay && sPlay.extra === 'request' && sPlay.bytes_tx > 10_000, JSON.stringify(sessions));
    const summary = (await drake.api<{ srt: { active: { sessions: number }; summary: { sessions: number; traffic_rx_mb: number } } }>('GET', '/api/v3/session?collectors=srt')).body.srt;
    assert.ok(summary.active.sessions >= 2 && summary.summary.sessions >= 2 && summary.summary.traffic_rx_mb > 0.01, JSON.stringify(summary));
  });

  test('a WebRTC process reading {srt} feeds its WHEP leg (the README example)', async () => {
    const add = await drake.api('POST', '/api/v3/process', {
      id: 'rtc',
      input: [{ id: 'in', address: '{srt,name=cam1}', options: FAST_PROBE }],
      output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
      webrtc: { enabled: true, video: 'copy', audio: 'none' },
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    await waitFor('RTP packets on the WebRTC video leg', async () => {
      const s = await state('rtc');
      return (s.progress.outputs.find((o) => o.id === 'webrtc:video')?.packet ?? 0) > 50;
    }, 30_000);
    assert.equal((await drake.api('DELETE', '/api/v3/process/rtc')).status, 200);
  });

  test('ffprobe as a direct player gets the stream (Core\'s stream id syntax, token)', async () => {
    const r = spawnSync('ffprobe', ['-v', 'error', ...FAST_PROBE, '-show_streams', '-of', 'json', callerUrl(port, `cam1,mode:request,token:${TOKEN}`)], { timeout: 20_000, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const streams = (JSON.parse(r.stdout) as { streams: Array<{ codec_name: string; width: number; height: number }> }).streams;
    assert.deepEqual(streams.map((s) => [s.codec_name, s.width, s.height]), [['h264', 160, 120]]);
  });

  test('a missing or wrong token is refused at the handshake, for publish and for play', async () => {
    const refusedBefore = drake.srt!.counters().refused;
    for (const sid of ['#!:m=publish,r=cam2', `#!:m=publish,r=cam2,token=wrong`, 'cam2,mode:publish,token:wrong']) {
      const run = await runFfmpeg(publishArgs(callerUrl(port, sid), 5), 10_000).done;
      assert.notEqual(run.code, 0, `publish with ${sid} must fail`);
    }
    const play = await runFfmpeg(['-i', callerUrl(port, 'cam1,mode:request,token:wrong'), '-t', '1', '-f', 'null', '-'], 10_000).done;
    assert.notEqual(play.code, 0, 'play with a wrong token must fail');
    assert.deepEqual(Object.keys((await channels()).publisher), ['cam1']);
    assert.ok(drake.srt!.counters().refused >= refusedBefore + 4, 'refused in the listen callback');
  });

  test('a second publisher of the same name is refused; play of an unpublished name is refused at once', async () => {
    const before = (await channels()).publisher.cam1;
    const refusedBefore = drake.srt!.counters().refused;
    const second = await runFfmpeg(publishArgs(callerUrl(port, `cam1,mode:publish,token:${TOKEN}`), 5), 10_000).done;
    assert.notEqual(second.code, 0, 'the second publisher must be refused');
    assert.equal((await channels()).publisher.cam1, before, 'the first publisher is untouched');
    const started = Date.now();
    const play = await runFfmpeg(['-i', callerUrl(port, `nothere,mode:request,token:${TOKEN}`), '-t', '1', '-f', 'null', '-'], 10_000).done;
    assert.notEqual(play.code, 0, 'play of an unpublished name must fail');
    assert.ok(Date.now() - started < 5000, 'and fail at once, not by a timeout');
    assert.ok(drake.srt!.counters().refused >= refusedBefore + 2, 'both refused by the server');
  });

  test('garbage datagrams and broken handshakes on the SRT port do not hurt drake', async () => {
    const sock = createSocket('udp4');
    const send = (b: Buffer) => new Promise<void>((resolve) => sock.send(b, port, '127.0.0.1', () => resolve()));
    const relayedBefore = drake.srt!.counters().relayed;
    // SRT control header (handshake, dest socket 0) + a handshake body of the given fields.
    const handshake = (version: number, type: number, extFlags: number, tail: Buffer) => {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(0x80000000, 0);
      b.writeUInt32BE(version, 16);
      b.writeUInt16BE(extFlags, 22);
      b.writeUInt32BE(1500, 28);
      b.writeUInt32BE(8192, 32);
      b.writeInt32BE(type, 36);
      b.writeUInt32BE(0x1234, 40);
      b.writeUInt32BE(randomBytes(4).readUInt32BE(), 44);
      return Buffer.concat([b, tail]);
    };
    // Conclusion with extension blocks claiming 0xffff words; with a stream id block of garbage; version 4 and 7;
    // a truncated header; random bytes; control packets of unknown types.
    const ext = (type: number, words: number, body: Buffer) => Buffer.concat([Buffer.from([type >> 8, type & 0xff, words >> 8, words & 0xff]), body]);
    const payloads = [
      handshake(5, -1, 0x0007, ext(1, 0xffff, randomBytes(12))),
      handshake(5, -1, 0x0005, Buffer.concat([ext(1, 3, randomBytes(12)), ext(5, 64, randomBytes(256))])),
      handshake(5, -1, 0x4a17, Buffer.concat([ext(5, 1, Buffer.from('#!::')), ext(0xffff, 0, Buffer.alloc(0))])),
      handshake(4, 1, 0, Buffer.alloc(0)),
      handshake(7, 1, 0, randomBytes(100)),
      handshake(5, 1, 0x4a17, Buffer.alloc(0)),
      Buffer.from([0x80, 0, 0]),
      Buffer.alloc(0),
      ...Array.from({ length: 200 }, (_, i) => randomBytes(1 + (i * 37) % 1500)),
      ...Array.from({ length: 16 }, (_, t) => Buffer.concat([Buffer.from([0x80, t]), randomBytes(30)])),
    ];
    for (const b of payloads) await send(b);
    sock.close();
    assert.equal((await drake.api('GET', '/ping')).body, 'pong');
    assert.deepEqual(Object.keys((await channels()).publisher), ['cam1'], 'the real publisher goes on');
    await waitFor('the relay goes on', async () => drake.srt!.counters().relayed > relayedBefore + 50);
    const ok = await runFfmpeg([...FAST_PROBE, '-i', callerUrl(port, `cam1,mode:request,token:${TOKEN}`), '-frames:v', '5', '-f', 'null', '-'], 20_000).done;
    assert.equal(ok.code, 0, `a player still gets frames: ${ok.stderr}`);
  });

  test('{srt} in an output publishes: a process re-publishes cam1 as cam1copy, which plays', async () => {
    const add = await drake.api('POST', '/api/v3/process', {
      id: 'restream',
      input: [{ id: 'in', address: '{srt,name=cam1}', options: FAST_PROBE }],
      output: [{ id: 'out', address: '{srt,name=cam1copy}', options: ['-c', 'copy', '-f', 'mpegts'] }],
      autostart: true,
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    await waitFor('cam1copy is published', async () => (await channels()).publisher.cam1copy !== undefined, 20_000);
    const ok = await runFfmpeg([...FAST_PROBE, '-i', callerUrl(port, `cam1copy,mode:request,token:${TOKEN}`), '-frames:v', '5', '-f', 'null', '-'], 20_000).done;
    assert.equal(ok.code, 0, `cam1copy plays: ${ok.stderr}`);
    assert.equal((await drake.api('DELETE', '/api/v3/process/restream')).status, 200);
    await waitFor('cam1copy gone with its process', async () => (await channels()).publisher.cam1copy === undefined, 10_000);
  });

  test('a second drake on the same SRT address fails with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drake-test-'));
    try {
      await assert.rejects(startDrake({ srt: { enable: true, address: `127.0.0.1:${port}` } }, dir), /cannot listen for SRT on 127\.0\.0\.1:\d+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('publisher gone: the stream leaves the list, the reader reconnects and recovers when it is back', async () => {
    publisher.kill('SIGKILL');
    await waitFor('cam1 unpublished', async () => (await channels()).publisher.cam1 === undefined, 10_000);
    await waitFor('the reader noticed', async () => (await state('reader')).exec !== 'running', 15_000);
    assert.deepEqual((await channels()).subscriber, {}, 'its players were closed with it');
    publisher = publish('cam1');
    await waitFor('cam1 published again', async () => (await channels()).publisher.cam1 !== undefined, 15_000);
    await waitFor('the reader runs again and makes progress', async () => {
      const s = await state('reader');
      return s.exec === 'running' && s.progress.frame > 20;
    }, 30_000);
  });

  test('drake stops its SRT server with it: the UDP port is free afterwards', async () => {
    publisher.kill('SIGKILL');
    await drake.stop(true);
    assert.equal(await udpPortFree(port), true);
  });
});

describe('SRT passphrase', { skip: skipNative || (haveFfmpeg() ? false : 'no FFmpeg') }, () => {
  test('with srt.passphrase only encrypted callers get in, and {srt} carries it', async () => {
    const port = await freePort();
    const drake = await startDrake({ srt: { enable: true, address: `127.0.0.1:${port}`, passphrase: 'pass-phrase-1' } });
    try {
      assert.match(drake.srt!.urlTemplate, /&passphrase=pass-phrase-1$/);
      const plain = await runFfmpeg(publishArgs(callerUrl(port, 'x,mode:publish'), 3), 10_000).done;
      assert.notEqual(plain.code, 0, 'no passphrase: refused');
      const wrong = await runFfmpeg(publishArgs(callerUrl(port, 'x,mode:publish', '&passphrase=not-the-one'), 3), 10_000).done;
      assert.notEqual(wrong.code, 0, 'wrong passphrase: refused');
      const good = await runFfmpeg(publishArgs(callerUrl(port, 'x,mode:publish', '&passphrase=pass-phrase-1'), 2), 15_000).done;
      assert.equal(good.code, 0, good.stderr);
      const cfg = (await drake.api<{ config: { srt: { passphrase: string; enable: boolean } } }>('GET', '/api/v3/config')).body.config.srt;
      assert.deepEqual([cfg.enable, cfg.passphrase], [true, '********'], 'shown in Core\'s layout, masked');
    } finally {
      await drake.stop(true);
    }
  });
});
