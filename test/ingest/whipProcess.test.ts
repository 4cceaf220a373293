// A process reading a WHIP stream through {whip,name=…}: real FFmpeg takes the publisher's RTP from
// drake (SDP over HTTP, loopback UDP) and writes HLS; when the publisher leaves the process goes to
// reconnect, and it recovers once a publisher is back.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ProcessStateDto, WhipPublisherDto } from '../../src/shared/protocol.ts';
import { haveFfmpeg } from '../helpers/fsServer.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { whipPublish, type WhipPublisher } from '../helpers/whipPublisher.ts';

describe('{whip,name=…} as a process input (real FFmpeg writing HLS)', { skip: haveFfmpeg() ? false : 'no FFmpeg' }, () => {
  let drake: TestDrake;
  const publishers: WhipPublisher[] = [];
  const publish = async () => {
    const p = await whipPublish(`${drake.url}/whip/studio`);
    publishers.push(p);
    assert.equal(p.status, 201, p.answer);
    return p;
  };
  const state = async () => (await drake.api<ProcessStateDto>('GET', '/api/v3/process/rec/state')).body;
  const segments = () => (existsSync(join(drake.dir, 'data')) ? readdirSync(join(drake.dir, 'data')).filter((f) => /^rec\d+\.ts$/.test(f)) : []);

  before(async () => {
    drake = await startDrake({ whip: { enable: true } });
    await publish();
    await waitFor('publisher media', async () => ((await drake.api<WhipPublisherDto[]>('GET', '/api/v3/whip')).body[0]?.video.packets ?? 0) > 20, 20_000);
    const res = await drake.api('POST', '/api/v3/process', {
      id: 'rec',
      input: [{ id: 'in', address: '{whip,name=studio}', options: [] }],
      output: [{ id: 'hls', address: '{diskfs}/rec.m3u8', options: ['-c', 'copy', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '4'] }],
      options: ['-loglevel', 'info'],
      autostart: true,
      reconnect: true,
      reconnect_delay_seconds: 1,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });
  after(async () => {
    await Promise.all(publishers.map((p) => p.vanish()));
    await drake.stop(true);
  });

  test('FFmpeg reads the published stream (H264 + Opus) and writes HLS segments', async () => {
    await waitFor('HLS segments', async () => segments().length >= 2, 30_000);
    const s = await state();
    assert.equal(s.exec, 'running');
    const input = s.progress.inputs.find((i) => i.type === 'video');
    assert.equal(input?.codec, 'h264');
    assert.ok(s.progress.inputs.some((i) => i.type === 'audio' && i.codec === 'opus'), JSON.stringify(s.progress.inputs.map((i) => [i.type, i.codec])));
    assert.match(readFileSync(join(drake.dir, 'data', 'rec.m3u8'), 'utf8'), /#EXTINF/);
    // The command shows where FFmpeg reads from, without the SDP URL's credential.
    assert.ok(s.command.some((a) => /\/whip\/studio\/sdp\?token=\*\*\*$/.test(a)), s.command.join(' '));
    const [pub] = (await drake.api<WhipPublisherDto[]>('GET', '/api/v3/whip')).body;
    assert.ok(pub!.readers >= 1);
  });

  test('the SDP URL needs drake\'s own credential', async () => {
    assert.equal((await fetch(`${drake.url}/whip/studio/sdp`)).status, 401);
    assert.equal((await fetch(`${drake.url}/whip/studio/sdp?token=guess`)).status, 401);
  });

  test('publisher leaves → the process goes to reconnect; a new publisher → it runs and writes again', async () => {
    const first = publishers[0]!;
    assert.equal(await first.unpublish(), 200);
    await waitFor('the process left running', async () => (await state()).exec !== 'running' || (await state()).reconnect_seconds >= 0, 10_000);
    const before = new Set(segments());
    await publish();
    await waitFor('running again with new segments', async () => (await state()).exec === 'running' && segments().filter((f) => !before.has(f)).length >= 2, 40_000);
    const log = (await drake.api<{ log: Array<[string, string]> }>('GET', '/api/v3/process/rec/report')).body;
    assert.ok(JSON.stringify(log).includes('WHIP publisher left'), 'the report says why the run ended');
  });
});
