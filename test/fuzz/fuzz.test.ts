// The fuzz campaign in CI: fixed seeds, a few short rounds (test/fuzz/campaign.ts), the SRTP argument
// fuzzer in a child process, and one regression test per crash the campaign found.
// Longer: npm run bench -- --scenario fuzz --fuzz-rounds 50 (or --minutes 10).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { loadAddon } from '../../src/shared/srtp/nativeBackend.ts';
import { waitFor } from '../helpers/drake.ts';
import { videoCount } from '../helpers/whepClient.ts';
import { webrtcDatagram } from './arbitraries.ts';
import { PROCESS, runCampaign, startRig, TEST_SIZES, type FuzzRig } from './campaign.ts';
import { fuzzSrtpInChild } from './srtpFuzz.ts';

const SEED = 0xd4a4e;
const ROUNDS = 5;

describe('SRTP backends under random arguments', () => {
  test('every call returns or throws a JS error; nothing is written outside the given buffers (child process)', () => {
    const r = fuzzSrtpInChild(SEED, 3000);
    assert.equal(r.crashed, null, `the child crashed: ${r.crashed}`);
    assert.deepEqual(r.findings, []);
    assert.ok(r.calls > 2000 && r.returned > 300, `calls ${r.calls}, returned ${r.returned}`);
  });

  test('setAddress refuses index 0xFFFFFFFF and -1 (they wrapped the bounds check and wrote ~120 GB past addrs)', (t) => {
    const addon = loadAddon().addon;
    if (!addon) return t.skip('native SRTP addon not built');
    const addrs = Buffer.alloc(28);
    assert.throws(() => addon.setAddress(addrs, 0xffffffff, '127.0.0.1', 1), RangeError);
    assert.throws(() => addon.setAddress(addrs, -1, '127.0.0.1', 1), RangeError);
    assert.equal(addon.setAddress(addrs, 0, '127.0.0.1', 1), 4);
  });
});

describe('fuzz campaign against a live drake', () => {
  let rig: FuzzRig;
  before(async () => {
    rig = await startRig();
  });
  after(async () => {
    await rig.close();
  });
  const url = () => rig.drake.url;
  const auth = () => ({ authorization: `Bearer ${rig.token}` });
  const stillPlaying = async () => {
    const mark = videoCount(rig.viewer);
    await waitFor('the first viewer still receives', async () => videoCount(rig.viewer) > mark + 10, 8000);
  };

  test(`${ROUNDS} rounds (fixed seeds): no 5xx, no hang, the first viewer keeps playing, a new viewer gets a keyframe`, async () => {
    const stats = await runCampaign(rig, { seed: SEED, rounds: ROUNDS, sizes: TEST_SIZES });
    assert.equal(stats.rounds, ROUNDS);
    for (const [target, n] of Object.entries(stats.cases)) assert.ok(n > 0, `${target} got cases`);
    assert.deepEqual(stats.findings, []);
  });

  test('RTP whose CSRC list or extension runs past the datagram is dropped at ingest (it ended the stream worker)', async () => {
    const before = (await rig.drake.supervisor.whepStats(PROCESS)).ingest!.video.dropped;
    const sock = dgram.createSocket('udp4');
    const cc15 = Buffer.from([0x8f, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const ext = Buffer.from([0x90, 96, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0xbe, 0xde, 0xff, 0xff, 0x65]);
    try {
      for (const d of [cc15, ext]) await new Promise<void>((r) => sock.send(d, rig.ingest.video, '127.0.0.1', () => r()));
    } finally {
      sock.close();
    }
    await waitFor('drops counted', async () => (await rig.drake.supervisor.whepStats(PROCESS)).ingest!.video.dropped >= before + 2, 5000);
    await stillPlaying();
  });

  test("an unsigned STUN request with a viewer's ufrag does not open the shared port to its sender (seed 21 dropped the viewer)", async () => {
    const drakeUfrag = /a=ice-ufrag:(\S+)/.exec(rig.viewer.answer)![1]!;
    const viewerUfrag = /a=ice-ufrag:(\S+)/.exec(rig.viewer.pc.localDescription!.sdp)![1]!;
    const creds = { username: `${drakeUfrag}:${viewerUfrag}`, password: 'an-attacker-guess-0123456789' };
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      for (const d of fc.sample(webrtcDatagram(creds), { seed: 21, numRuns: 125 })) await new Promise<void>((r) => sock.send(d, rig.sharedPort, '127.0.0.1', () => r()));
    } finally {
      sock.close();
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(rig.viewer.pc.connectionState, 'connected');
    await stillPlaying();
  });

  test('metadata nested deeper than 100 levels → 400, and the store still saves afterwards (it answered 500, then every save failed)', async () => {
    const deep = '['.repeat(6000) + ']'.repeat(6000);
    for (const path of [`/api/v3/process/${PROCESS}/metadata/deep`, '/api/v3/metadata/deep']) {
      const r = await rig.drake.api<{ message: string }>('PUT', path, deep, auth());
      assert.equal(r.status, 400, path);
      assert.match(JSON.stringify(r.body), /nested deeper than 100/);
    }
    const ok = await rig.drake.api('PUT', '/api/v3/metadata/shallow', { a: [1, { b: 2 }] }, auth());
    assert.equal(ok.status, 200);
    assert.equal((await rig.drake.api('PUT', '/api/v3/metadata/shallow', 'null', auth())).status, 200);
  });

  test('PATCH with a new ufrag and no pwd → 400 (it answered 500)', async () => {
    const created = await fetch(`${url()}/whep/${PROCESS}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: rig.offer });
    assert.equal(created.status, 201);
    const location = created.headers.get('location')!;
    try {
      const r = await fetch(`${url()}${location}`, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag' }, body: 'a=ice-ufrag:newufrag\r\na=mid:0\r\n' });
      const body = await r.text();
      assert.equal(r.status, 400, body);
      assert.match(body, /ice-ufrag and a=ice-pwd/);
    } finally {
      await fetch(`${url()}${location}`, { method: 'DELETE' });
    }
  });

  test('offers werift cannot parse → 400 malformed SDP offer (they answered 500)', async () => {
    const post = (sdp: string) => fetch(`${url()}/whep/${PROCESS}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: sdp });
    const broken = [
      rig.offer.replace(/a=fingerprint:\S+ \S+/, 'a=fingerprint:f:bl)+L+t'), // TypeError reading 'replace'
      rig.offer.replace(/c=IN IP4 0\.0\.0\.0/, 'c=IN I'), // "exception"
      rig.offer.replace(/a=candidate:[^\r]+/, 'a=candidate:x'), // "SDP does not have enough properties"
      rig.offer.replace(/a=mid:0\r\n/, ''), // "mid not assigned"
    ];
    for (const sdp of broken) {
      const r = await post(sdp);
      const body = await r.text();
      assert.equal(r.status, 400, body.slice(0, 200));
      assert.match(body, /malformed SDP offer/);
    }
    await stillPlaying();
  });
});
