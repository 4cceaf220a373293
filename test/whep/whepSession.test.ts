import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import type { ProcessStateDto, WhepStatsDto } from '../../src/shared/protocol.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';

describe('WHEP sessions against a real FFmpeg stream (werift viewers)', () => {
  let drake: TestDrake;
  const viewers: WhepViewer[] = [];
  const view = async (path = '/whep/cam', opts = {}) => {
    const v = await whepView(`${drake.url}${path}`, opts);
    viewers.push(v);
    return v;
  };
  const stats = (id = 'cam') => drake.supervisor.whepStats(id) as Promise<WhepStatsDto>;

  before(async () => {
    drake = await startDrake({ webrtc: { viewer_timeout_seconds: 3 } });
    await drake.api('POST', '/api/v3/process', webrtcProcess('cam'));
    await waitFor('media flowing', async () => {
      const s = await drake.supervisor.whepStats('cam');
      return s.gopPackets > 0;
    }, 20_000);
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await drake.stop(true);
  });

  test('POST an offer → 201 with answer, Location, ETag; H264 starts with SPS/PPS then IDR; Opus arrives', async () => {
    const v = await view();
    assert.equal(v.status, 201, v.answer);
    assert.match(v.location ?? '', /^\/whep\/cam\/[0-9a-f]{32}$/, 'session id has 128 random bits');
    assert.match(v.etag ?? '', /^"[0-9a-f]+"$/);
    assert.equal(v.headers.get('content-type'), 'application/sdp');
    assert.equal(v.headers.get('access-control-expose-headers')?.includes('Location'), true);
    const media = v.answer.split('m=').slice(1);
    assert.equal(media.length, 2);
    for (const m of media) {
      assert.match(m, /a=rtcp-mux-only/, 'every m-line is rtcp-mux-only');
      assert.match(m, /a=end-of-candidates/);
    }
    const streams = [...v.answer.matchAll(/a=msid:(\S+) /g)].map((x) => x[1]);
    assert.equal(streams.length, 2);
    assert.equal(streams[0], streams[1], 'audio and video share one MediaStream id');
    assert.equal((v.answer.match(/a=rtpmap:\d+ H264\/90000/g) ?? []).length, 1, 'exactly one H264 payload type');
    await waitFor('video and audio received', async () => videoCount(v) > 30 && v.audio > 20);
    const latency = (await stats()).latency!;
    assert.ok(latency.counts.reduce((a, b) => a + b, 0) > 20, 'live sends are in the latency histogram');
    const first = v.video.slice(0, 3).map((p) => h264NalTypesStarting(p));
    assert.deepEqual(first[0]!.slice(0, 2), [NAL.SPS, NAL.PPS], `first packet carries SPS+PPS (${JSON.stringify(first)})`);
    assert.ok(first[1]!.includes(NAL.IDR), 'then the IDR');
    const seqs = v.video.slice(0, 60).map((p) => p.readUInt16BE(2));
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1]! + 1) & 0xffff, 'sequence numbers are continuous from burst to live');
  });

  test('every viewer shares the stream\'s one DTLS certificate', async () => {
    const a = await view();
    const b = await view();
    const fp = (sdp: string) => /a=fingerprint:(.+)/.exec(sdp)?.[1];
    assert.ok(fp(a.answer));
    assert.equal(fp(a.answer), fp(b.answer));
  });

  test('PATCH trickle → 204; If-Match checked (412); bad sdpfrag → 400; wrong type → 415; unknown session → 404', async () => {
    const v = await view();
    const url = `${drake.url}${v.location}`;
    const frag = 'a=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n';
    let res = await fetch(url, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': v.etag! }, body: frag });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('etag'), null, 'the draft: a trickle 204 carries no ETag');
    assert.equal(await res.text(), '');
    res = await fetch(url, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': '"nope"' }, body: frag });
    assert.equal(res.status, 412);
    res = await fetch(url, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag' }, body: 'garbage here' });
    assert.equal(res.status, 400);
    res = await fetch(url, { method: 'PATCH', headers: { 'content-type': 'application/sdp' }, body: frag });
    assert.equal(res.status, 415);
    res = await fetch(`${drake.url}/whep/cam/${'0'.repeat(32)}`, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag' }, body: frag });
    assert.equal(res.status, 404);
  });

  test('PATCH with new ufrag/pwd restarts ICE → 200 with drake\'s new credentials, candidates and a new ETag', async () => {
    const v = await view();
    const oldUfrag = /a=ice-ufrag:(\S+)/.exec(v.answer)![1];
    // If-Match "*" as the draft's restart example writes it (quoted), then bare * as RFC 9110 does.
    let etag = v.etag!;
    for (const [i, ifMatch] of ['"*"', '*'].entries()) {
      const res = await fetch(`${drake.url}${v.location}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': ifMatch },
        body: `m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:newU${i}\r\na=ice-pwd:newpasswordnewpasswordxx${i}\r\n`,
      });
      assert.equal(res.status, 200, ifMatch);
      assert.equal(res.headers.get('content-type'), 'application/trickle-ice-sdpfrag');
      const body = await res.text();
      const ufrag = /a=ice-ufrag:(\S+)/.exec(body)?.[1];
      assert.ok(ufrag && /a=ice-pwd:\S+/.test(body));
      assert.notEqual(ufrag, oldUfrag);
      assert.match(body, /^m=(video|audio) /m, 'the bundle-tagged m-section');
      assert.match(body, /^a=mid:\S+/m);
      assert.match(body, /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/m, "drake's candidates after the restart");
      assert.match(body, /a=end-of-candidates\r\n$/);
      assert.notEqual(res.headers.get('etag'), etag);
      etag = res.headers.get('etag')!;
    }
  });

  test('DELETE → 200, then 204 for the same session (idempotent); the count drops', async () => {
    const v = await view();
    await waitFor('connected', async () => v.connectedAt !== null);
    const before = (await stats()).viewers;
    let res = await fetch(`${drake.url}${v.location}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    res = await fetch(`${drake.url}${v.location}`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal((await stats()).viewers, before - 1);
  });

  test('PLI floods get no bursts while the viewer lacks nothing; a PLI after a loss drake cannot repair gets the keyframe', async () => {
    const normal = await view('/whep/cam', { keepVideo: 0 });
    const flooder = await view('/whep/cam', { keepVideo: 100_000 });
    const session = async (v: WhepViewer) => {
      const id = v.location!.split('/').pop();
      return (await drake.supervisor.snapshot()).flatMap((p) => p.sessions).find((s) => s.id === id)!;
    };
    await waitFor('both receiving', async () => videoCount(normal) > 40 && videoCount(flooder) > 40);
    await waitFor('join bursts done', async () => (await session(flooder)).bursts === 1 && (await session(normal)).bursts === 1);
    // libwebrtc that cannot decode sends PLI about 4 times a second: 3 s of that.
    const n0 = videoCount(normal);
    const f0 = videoCount(flooder);
    for (let i = 0; i < 12; i++) {
      await flooder.sendPli();
      await new Promise((r) => setTimeout(r, 250));
    }
    const flood = await session(flooder);
    assert.equal(flood.bursts, 1, 'no burst for PLIs while the viewer has the keyframe and lost nothing');
    assert.ok(flood.plis >= 12 && flood.plis_ignored >= 12, JSON.stringify(flood));
    const ratio = (videoCount(flooder) - f0) / (videoCount(normal) - n0);
    assert.ok(ratio < 1.1, `the flooder received ${ratio.toFixed(2)}× what a quiet viewer did`);
    // A NACK drake cannot answer (not in its history): the picture is broken, the next PLI repairs it.
    const mark = flooder.video.length;
    const newest = flooder.video[flooder.video.length - 1]!.readUInt16BE(2);
    await flooder.sendNack([(newest + 20_000) & 0xffff]);
    await flooder.sendPli();
    await waitFor('a burst for the PLI after the loss', async () => (await session(flooder)).bursts === 2, 5000);
    await waitFor('SPS after the PLI', async () => flooder.video.slice(mark).some((p) => h264NalTypesStarting(p).includes(NAL.SPS)), 3000);
  });

  test('a NACK gets the packet again, once: a repeat within 100 ms is not answered', async () => {
    const v = await view('/whep/cam', { keepVideo: 100_000 });
    // A CI run once timed out here (the suite's other runs and 4 runs of this file alone passed): say what the
    // viewer and drake saw when it does.
    await waitFor('receiving', async () => videoCount(v) > 40).catch(async (err: Error) => {
      const sessions = (await drake.supervisor.snapshot()).find((p) => p.id === 'cam')?.sessions;
      const why = `${err.message}: viewer ${v.status}, pc ${v.pc.connectionState}/ice ${v.pc.iceConnectionState}, ${videoCount(v)} video + ${v.audio} audio; drake sessions ${JSON.stringify(sessions)}; stats ${JSON.stringify(await stats())}`;
      process.stderr.write(`whepSession: ${why}\n`);
      throw new Error(why);
    });
    const target = v.video[v.video.length - 5]!.readUInt16BE(2);
    const copies = () => v.video.filter((p) => p.readUInt16BE(2) === target).length;
    assert.equal(copies(), 1);
    const before = (await stats()).retransmits;
    await v.sendNack([target]);
    await v.sendNack([target]);
    await waitFor('the retransmission', async () => copies() === 2, 3000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(copies(), 2, 'the repeated NACK was not answered again');
    assert.equal((await stats()).retransmits, before + 1);
  });

  test('8 concurrent viewers all receive video and audio', async () => {
    const eight = await Promise.all(Array.from({ length: 8 }, () => view('/whep/cam', { keepVideo: 0 })));
    assert.deepEqual(eight.map((v) => v.status), Array(8).fill(201));
    await waitFor('all 8 receiving', async () => eight.every((v) => videoCount(v) > 25 && v.audio > 25), 20_000);
  });

  test('the same endpoint is served under /api/v3/whep', async () => {
    const v = await view('/api/v3/whep/cam');
    assert.equal(v.status, 201);
    assert.match(v.location ?? '', /^\/api\/v3\/whep\/cam\/[0-9a-f]{32}$/);
    await waitFor('receiving', async () => videoCount(v) > 10);
  });

  test('a viewer that vanishes without DELETE is removed', async () => {
    const v = await view();
    await waitFor('receiving', async () => videoCount(v) > 10 && v.audio > 5);
    const alive = async () =>
      (await fetch(`${drake.url}${v.location}`, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag' }, body: 'a=end-of-candidates\r\n' })).status;
    assert.equal(await alive(), 204);
    // Let it send receiver reports first: a viewer that never sent RTCP is left to ICE consent (30 s).
    await new Promise((r) => setTimeout(r, 2000));
    await v.close();
    await waitFor('the silent viewer is gone', async () => (await alive()) === 404, 15_000);
  });

  test('stopping the process closes its viewers; they can come back after a start', async () => {
    const v = await view();
    await waitFor('receiving', async () => videoCount(v) > 10);
    assert.ok((await stats()).viewers > 0);
    await drake.api('PUT', '/api/v3/process/cam/command', { command: 'stop' });
    assert.equal((await stats()).viewers, 0);
    const refused = await view();
    assert.equal(refused.status, 409);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    await drake.api('PUT', '/api/v3/process/cam/command', { command: 'start' });
    await waitFor('media again', async () => (await drake.api<ProcessStateDto>('GET', '/api/v3/process/cam/state')).body.exec === 'running');
    const back = await waitFor('a viewer joins again', async () => {
      const w = await view();
      return w.status === 201 ? w : null;
    }, 15_000, 500);
    await waitFor('receiving again', async () => videoCount(back) > 10);
  });
});
