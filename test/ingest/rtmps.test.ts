// RTMPS (Core's rtmp.enable_tls): a TLS listener in front of the same RTMP server, with a self-signed
// certificate made here by openssl. Real FFmpeg (GnuTLS) publishes rtmps://, a drake process reads the
// stream through {rtmp}, FFmpeg plays it back over rtmps://; tokens still hold; clear errors for bad setups.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/shared/config.ts';
import type { ProcessStateDto } from '../../src/shared/protocol.ts';
import { FFMPEG, haveFfmpeg, runFfmpeg } from '../helpers/fsServer.ts';
import { freePort, startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';

const TOKEN = 'k3y-T0k';
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('RTMPS (rtmp.enable_tls)', { skip: !haveFfmpeg() ? 'no FFmpeg' : !haveOpenssl ? 'no openssl' : false }, () => {
  let dir: string;
  let drake: TestDrake;
  let port: number;
  let tlsPort: number;
  let publisher: ChildProcess;
  const cert = () => join(dir, 'cert.pem');
  const key = () => join(dir, 'key.pem');
  const secureUrl = (name: string, token: string | null = TOKEN) => `rtmps://127.0.0.1:${tlsPort}/${name}${token === null ? '' : `?token=${token}`}`;
  const publishArgs = (target: string, seconds: number) => [
    '-re', '-f', 'lavfi', '-t', String(seconds), '-i', 'testsrc=size=160x120:rate=15',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15', '-f', 'flv', target,
  ];
  const listed = async () => (await drake.api<Array<{ name: string }>>('GET', '/api/v3/rtmp')).body.map((s) => s.name);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drake-rtmps-'));
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-keyout', key(), '-out', cert()], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    port = await freePort();
    tlsPort = await freePort();
    drake = await startDrake({
      rtmp: { enable: true, address: `127.0.0.1:${port}`, token: TOKEN, enable_tls: true, address_tls: `127.0.0.1:${tlsPort}` },
      tls: { cert_file: cert(), key_file: key() },
    });
    publisher = spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...publishArgs(secureUrl('cam1'), 60)], { stdio: 'ignore' });
    await waitFor('cam1 is published over RTMPS', async () => (await listed()).includes('/cam1'), 15_000);
  });
  after(async () => {
    publisher?.kill('SIGKILL');
    await drake?.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a process reads the RTMPS-published stream through {rtmp}; FFmpeg plays it back over rtmps://', async () => {
    const add = await drake.api('POST', '/api/v3/process', {
      id: 'reader',
      input: [{ id: 'in', address: '{rtmp,name=cam1}', options: [] }],
      output: [{ id: 'out', address: '-', options: ['-f', 'null'] }],
      autostart: true,
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    const state = async () => (await drake.api<ProcessStateDto>('GET', '/api/v3/process/reader/state')).body;
    const first = await waitFor('reader running with frames', async () => {
      const s = await state();
      return s.exec === 'running' && s.progress.frame > 0 ? s : null;
    }, 20_000);
    await waitFor('more frames', async () => (await state()).progress.frame > first.progress.frame + 10, 15_000);
    const play = await runFfmpeg(['-tls_verify', '0', '-i', secureUrl('cam1'), '-frames:v', '5', '-f', 'null', '-'], 20_000).done;
    assert.equal(play.code, 0, play.stderr);
    assert.equal((await drake.api('DELETE', '/api/v3/process/reader')).status, 200);
  });

  test('over RTMPS a missing or wrong token is refused as over RTMP', async () => {
    for (const target of [secureUrl('cam2', null), secureUrl('cam2', 'wrong')]) {
      const run = await runFfmpeg(publishArgs(target, 5), 10_000).done;
      assert.notEqual(run.code, 0, `publish to ${target} must fail`);
    }
    const play = await runFfmpeg(['-i', secureUrl('cam1', 'wrong'), '-t', '1', '-f', 'null', '-'], 10_000).done;
    assert.notEqual(play.code, 0, 'play with a wrong token must fail');
    assert.deepEqual(await listed(), ['/cam1']);
  });

  test('plain RTMP and garbage on the TLS port are dropped; the stream goes on', async () => {
    const plain = await runFfmpeg(['-i', `rtmp://127.0.0.1:${tlsPort}/cam1?token=${TOKEN}`, '-t', '1', '-f', 'null', '-'], 10_000).done;
    assert.notEqual(plain.code, 0, 'no TLS, no stream');
    await new Promise<void>((resolve) => {
      const s = connect(tlsPort, '127.0.0.1', () => s.end(Buffer.alloc(3000, 0x16)));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    assert.deepEqual(await listed(), ['/cam1']);
    const play = await runFfmpeg(['-i', `rtmp://127.0.0.1:${port}/cam1?token=${TOKEN}`, '-frames:v', '5', '-f', 'null', '-'], 20_000).done;
    assert.equal(play.code, 0, `the plain port still plays: ${play.stderr}`);
  });

  test('GET /api/v3/config shows RTMPS in Core\'s fields', async () => {
    const c = (await drake.api<{ config: { rtmp: Record<string, unknown>; tls: Record<string, unknown> } }>('GET', '/api/v3/config')).body.config;
    assert.deepEqual([c.rtmp.enable_tls, c.rtmp.address_tls], [true, `127.0.0.1:${tlsPort}`]);
    assert.deepEqual([c.tls.cert_file, c.tls.key_file, c.tls.enable], [cert(), key(), false], 'the files; drake serves no HTTPS');
  });

  test('rtmp.enable_tls without usable certificate files stops drake with a clear message', async () => {
    const other = mkdtempSync(join(tmpdir(), 'drake-test-'));
    try {
      const rtmp = { enable: true, address: `127.0.0.1:${await freePort()}`, enable_tls: true, address_tls: `127.0.0.1:${await freePort()}` };
      assert.throws(
        () => loadConfig({ env: { DRAKE_RTMP_ENABLE: 'true', DRAKE_RTMP_ENABLE_TLS: 'true' } }),
        (e: Error & { details?: string[] }) => e.details?.some((d) => /^rtmp\.enable_tls: needs tls\.cert_file and tls\.key_file/.test(d)) === true,
      );
      await assert.rejects(startDrake({ rtmp, tls: { cert_file: join(dir, 'nope.pem'), key_file: key() } }, other), /tls\.cert_file ".*nope\.pem": ENOENT/);
      await assert.rejects(startDrake({ rtmp, tls: { cert_file: key(), key_file: cert() } }, other), /not a usable certificate and key/);
      await assert.rejects(startDrake({ rtmp: { ...rtmp, address_tls: `127.0.0.1:${tlsPort}` }, tls: { cert_file: cert(), key_file: key() } }, other), /cannot listen for RTMPS on 127\.0\.0\.1:\d+ .*rtmp\.address_tls \(DRAKE_RTMP_ADDRESS_TLS\)/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
