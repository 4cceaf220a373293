// webrtc.ice_lite on the shared port: drake declares a=ice-lite, the shared port answers the viewers'
// Binding requests itself and drake sends no STUN requests of its own; a viewer whose checks stop is
// closed by consent expiry. Requests and responses are built and verified with werift's STUN code (an
// implementation independent of drake's src/actors/peer/stun.ts). libdatachannel and Chromium viewers on
// the lite port: whepSharedPort.test.ts and test/browser/whepChromium.test.ts.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { classes, Message, methods, parseMessage, type RTCPeerConnection } from 'werift';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';

type ClientConnection = {
  remoteIsLite: boolean;
  protocols: Array<{ onRequestReceived: { subscribe(f: () => void): unknown } }>;
  candidatePairs: Array<{ requestsReceived: number; responsesReceived: number }>;
  stopConsentLifecycle(): void;
};
const connectionOf = (pc: RTCPeerConnection) => pc.iceTransports[0]!.connection as unknown as ClientConnection;

/** Binding requests that reached the viewer's ICE agent since `watch` (drake's checks and consent requests). */
function watchRequests(v: WhepViewer): () => number {
  let n = 0;
  for (const p of connectionOf(v.pc).protocols) p.onRequestReceived.subscribe(() => n++);
  return () => n;
}

const sessionLines = (sdp: string) => sdp.slice(0, sdp.search(/^m=/m));
const ice = (sdp: string) => ({ ufrag: /a=ice-ufrag:(\S+)/.exec(sdp)![1]!, pwd: /a=ice-pwd:(\S+)/.exec(sdp)![1]! });

interface Probe {
  sock: dgram.Socket;
  port: number;
  /** Datagrams received, in order. */
  got: Buffer[];
  close(): void;
}

async function probeSocket(): Promise<Probe> {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return { sock, port: sock.address().port, got, close: () => sock.close() };
}

/** A Binding request as a controlling viewer sends it, signed with `password` (werift's encoder). */
function bindingRequest(username: string, password: string, extra: (m: Message) => void = () => undefined): Message {
  const m = new Message(methods.BINDING, classes.REQUEST);
  m.setAttribute('USERNAME', username).setAttribute('PRIORITY', 1_853_824_767);
  extra(m);
  m.addMessageIntegrity(Buffer.from(password, 'utf8')).addFingerprint();
  return m;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ICE-lite on the shared port (the default)', () => {
  let drake: TestDrake;
  let port = 0;
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: true } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await drake.stop(true);
  });

  test('werift viewers: the answer declares a=ice-lite once, at session level; media flows; drake sends them no STUN request', async () => {
    const viewers = await Promise.all([whepView(`${drake.url}/whep/cam`), whepView(`${drake.url}/whep/cam`)]);
    try {
      const counts = viewers.map(watchRequests);
      for (const v of viewers) {
        assert.equal(v.status, 201);
        assert.deepEqual(v.answer.match(/^a=ice-lite\r?$/gm)?.length, 1, `one a=ice-lite:\n${v.answer}`);
        assert.match(sessionLines(v.answer), /^a=ice-lite\r?$/m, 'a=ice-lite is a session-level attribute');
        assert.equal(connectionOf(v.pc).remoteIsLite, true, 'werift read the answer as ice-lite');
      }
      await waitFor('media', async () => viewers.every((v) => videoCount(v) > 60 && v.audio > 20), 15_000);
      port = (await drake.supervisor.whepStats('cam')).sharedPort!;
      // A full agent sends consent requests every 4–6 s (werift: its checks too): wait for more than one period.
      await wait(7_000);
      for (const [i, v] of viewers.entries()) {
        assert.equal(counts[i]!(), 0, 'no Binding request reached the viewer');
        const pairs = connectionOf(v.pc).candidatePairs;
        assert.equal(pairs.reduce((n, p) => n + p.requestsReceived, 0), 0, 'no check from drake on any pair');
        assert.ok(pairs.reduce((n, p) => n + p.responsesReceived, 0) > 0, 'the viewer\'s own checks were answered');
      }
      // The port's own counters say the same (whep stats, /metrics drake_whep_stun_total).
      const stats = await drake.supervisor.whepStats('cam');
      assert.ok(stats.port && stats.port.stunAnswered >= viewers.length && stats.port.received > stats.port.stunAnswered, JSON.stringify(stats.port));
      assert.equal(stats.port.stunRequestsSent, 0);
      const mark = viewers.map(videoCount);
      await waitFor('media goes on', async () => viewers.every((v, i) => videoCount(v) > mark[i]! + 30), 10_000);
    } finally {
      await Promise.all(viewers.map((v) => v.close()));
    }
  });

  test('a signed Binding request gets a response with XOR-MAPPED-ADDRESS, valid MESSAGE-INTEGRITY and FINGERPRINT; bad or missing integrity gets nothing; ICE-CONTROLLED gets 487', async () => {
    const v = await whepView(`${drake.url}/whep/cam`);
    const probe = await probeSocket();
    try {
      await waitFor('media', async () => videoCount(v) > 30, 15_000);
      port = (await drake.supervisor.whepStats('cam')).sharedPort!;
      const server = ice(v.answer);
      const client = ice(v.pc.localDescription!.sdp);
      const username = `${server.ufrag}:${client.ufrag}`;
      const key = Buffer.from(server.pwd, 'utf8');

      const req = bindingRequest(username, server.pwd, (m) => m.setAttribute('ICE-CONTROLLING', 0x0123456789abcdefn));
      probe.sock.send(req.bytes, port, '127.0.0.1');
      await waitFor('the response', async () => probe.got.length > 0, 3_000);
      const raw = probe.got[0]!;
      assert.equal(parseMessage(raw, Buffer.from('not the password')), undefined, 'the integrity check is real: a wrong key fails it');
      const res = parseMessage(raw, key);
      assert.ok(res, 'werift verifies MESSAGE-INTEGRITY (with drake\'s ICE password) and FINGERPRINT');
      assert.equal(res.messageMethod, methods.BINDING);
      assert.equal(res.messageClass, classes.RESPONSE);
      assert.equal(res.transactionIdHex, req.transactionIdHex);
      assert.deepEqual(res.getAttributeValue('XOR-MAPPED-ADDRESS'), ['127.0.0.1', probe.port]);
      assert.deepEqual(res.attributesKeys.slice(-2), ['MESSAGE-INTEGRITY', 'FINGERPRINT'], 'FINGERPRINT last, MESSAGE-INTEGRITY right before it');
      // A flipped byte after FINGERPRINT was computed: werift's FINGERPRINT check rejects it.
      const corrupt = Buffer.from(raw);
      corrupt[corrupt.length - 1]! ^= 1;
      assert.equal(parseMessage(corrupt), undefined);

      probe.got.length = 0;
      probe.sock.send(bindingRequest(username, 'wrong-password-0123456789').bytes, port, '127.0.0.1');
      const unsigned = new Message(methods.BINDING, classes.REQUEST).setAttribute('USERNAME', username).setAttribute('PRIORITY', 1);
      probe.sock.send(unsigned.bytes, port, '127.0.0.1');
      await wait(1_000);
      assert.equal(probe.got.length, 0, 'a request without a valid MESSAGE-INTEGRITY gets no answer');

      // A lite agent is always controlled: a peer that claims the controlled role must switch (RFC 8445 §7.3.1.1).
      const conflict = bindingRequest(username, server.pwd, (m) => m.setAttribute('ICE-CONTROLLED', 0n));
      probe.sock.send(conflict.bytes, port, '127.0.0.1');
      await waitFor('the 487', async () => probe.got.length > 0, 3_000);
      const err = parseMessage(probe.got[0]!, key);
      assert.ok(err, 'the error response is signed');
      assert.equal(err.messageClass, classes.ERROR);
      assert.equal(err.transactionIdHex, conflict.transactionIdHex);
      assert.deepEqual(err.getAttributeValue('ERROR-CODE'), [487, 'Role Conflict']);

      assert.ok((await drake.supervisor.snapshot()).find((p) => p.id === 'cam')!.sessions.some((s) => s.connected), 'the viewer is still connected');
      const mark = videoCount(v);
      await waitFor('the viewer still gets media', async () => videoCount(v) > mark + 30, 10_000);
    } finally {
      probe.close();
      await v.close();
    }
  });

  test('a nomination (USE-CANDIDATE, signed) from a new address moves the viewer\'s media there', async () => {
    const v = await whepView(`${drake.url}/whep/cam`);
    const probe = await probeSocket();
    try {
      await waitFor('media', async () => videoCount(v) > 30, 15_000);
      port = (await drake.supervisor.whepStats('cam')).sharedPort!;
      const server = ice(v.answer);
      const client = ice(v.pc.localDescription!.sdp);
      const nominate = bindingRequest(`${server.ufrag}:${client.ufrag}`, server.pwd, (m) => m.setAttribute('ICE-CONTROLLING', 1n).setAttribute('USE-CANDIDATE', null));
      probe.sock.send(nominate.bytes, port, '127.0.0.1');
      // SRTP (RTP version 2, not STUN) for this viewer now reaches the new address.
      await waitFor('SRTP at the new address', async () => probe.got.some((d) => (d[0]! & 0xc0) === 0x80), 5_000);
      const id = v.location!.split('/').pop();
      const session = (await drake.supervisor.snapshot()).flatMap((p) => p.sessions).find((s) => s.id === id);
      assert.equal(session?.remote, `127.0.0.1:${probe.port}`);
    } finally {
      probe.close();
      await v.close();
    }
  });
});

describe('ICE-lite consent: a viewer whose checks stop is closed', () => {
  let drake: TestDrake;
  before(async () => {
    // RTCP silence must not be what closes it here.
    drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: true, consent_timeout_seconds: 10, viewer_timeout_seconds: 600 } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await drake.stop(true);
  });

  test('after consent_timeout_seconds without a check; a viewer that keeps checking stays', async () => {
    const [quiet, alive] = await Promise.all([whepView(`${drake.url}/whep/cam`), whepView(`${drake.url}/whep/cam`)]);
    try {
      await waitFor('media', async () => videoCount(quiet) > 30 && videoCount(alive) > 30, 15_000);
      const quietId = quiet.location!.split('/').pop();
      const aliveId = alive.location!.split('/').pop();
      // The viewer's ICE agent stops its consent checks (and with them, its right to send anything).
      connectionOf(quiet.pc).stopConsentLifecycle();
      const stoppedAt = Date.now();
      const ids = async () => (await drake.supervisor.snapshot()).flatMap((p) => p.sessions).map((s) => s.id);
      await waitFor('the quiet viewer closed', async () => !(await ids()).includes(quietId!), 25_000, 250);
      const took = Date.now() - stoppedAt;
      // Its last check may have come up to ~6 s before it stopped; the sweep runs every second.
      assert.ok(took > 3_000 && took < 13_000, `closed ${took} ms after its checks stopped`);
      assert.ok((await ids()).includes(aliveId!), 'the viewer that keeps checking stays');
      const mark = videoCount(alive);
      await waitFor('media goes on for it', async () => videoCount(alive) > mark + 30, 10_000);
    } finally {
      await Promise.all([quiet.close(), alive.close()]);
    }
  });
});

describe('ice_lite off on the shared port: full ICE as before', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: true, ice_lite: 'off' } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await drake.stop(true);
  });

  test('no a=ice-lite, drake checks the viewer (consent), media flows', async () => {
    const v = await whepView(`${drake.url}/whep/cam`);
    try {
      const requests = watchRequests(v);
      assert.equal(v.status, 201);
      assert.doesNotMatch(v.answer, /a=ice-lite/);
      await waitFor('media', async () => videoCount(v) > 30, 15_000);
      await waitFor('a consent request from drake', async () => requests() > 0, 10_000);
      const port = (await drake.supervisor.whepStats('cam')).port!;
      assert.ok(port.stunRequestsSent > 0 && port.stunAnswered === 0, JSON.stringify(port));
    } finally {
      await v.close();
    }
  });
});

test('ice_lite auto: full ICE when drake gathers from ice_servers, lite when told so (on)', async () => {
  // A STUN server that answers, on loopback: werift's full agent queries it while gathering.
  const stun = dgram.createSocket('udp4');
  stun.on('message', (m, r) => {
    if (m.length < 20 || m.readUInt16BE(0) !== 0x0001) return;
    const res = new Message(methods.BINDING, classes.RESPONSE, m.subarray(8, 20));
    res.setAttribute('XOR-MAPPED-ADDRESS', [r.address, r.port]);
    stun.send(res.bytes, r.port, r.address);
  });
  await new Promise<void>((resolve) => stun.bind(0, '127.0.0.1', resolve));
  const iceServers = [{ urls: `stun:127.0.0.1:${stun.address().port}` }];
  try {
    for (const [mode, lite] of [['auto', false], ['on', true]] as const) {
      const drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: true, ice_lite: mode, ice_servers: iceServers } });
      try {
        await addLiveProcess(drake, 'cam');
        const v = await whepView(`${drake.url}/whep/cam`);
        try {
          assert.equal(v.status, 201, v.answer);
          assert.equal(/^a=ice-lite\r?$/m.test(v.answer), lite, `ice_lite ${mode} with ice_servers:\n${v.answer}`);
          await waitFor('media', async () => videoCount(v) > 30, 15_000);
        } finally {
          await v.close();
        }
      } finally {
        await drake.stop(true);
      }
    }
  } finally {
    stun.close();
  }
});
