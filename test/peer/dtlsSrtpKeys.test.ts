// werift's DTLS client (drake's side: the answer takes the active role) runs flight 5 again, with a fresh
// ECDHE key and so a new master secret, when the viewer's flight 4 arrives once more after the handshake.
// Chromium repeats flight 4 whenever drake's flight 5 is slow (a loaded box). Keys exported after that
// reached no viewer: the page stayed black with ICE and DTLS "connected". Here a werift viewer repeats
// its flight 4 on purpose: the lean path's keys must still be the viewer's, and drake's guard must keep
// werift's DTLS state as the handshake left it. The same client fails the session outright on a second
// HelloVerifyRequest (a viewer whose DTLS server saw drake's ClientHello twice): the guard drops it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpSender } from 'werift';
import { guardDtlsClients } from '../../src/actors/peer/dtlsClientGuard.ts';
import { srtpContextsFor } from '../../src/actors/peer/LeanSender.ts';
import { protect } from '../../src/shared/srtp/index.ts';
import { waitFor } from '../helpers/waitFor.ts';
import { viewerPeer } from '../helpers/whepClient.ts';

interface ConnectionInternals {
  send(data: Buffer): Promise<void>;
}
interface TransportInternals {
  iceTransport: { connection: ConnectionInternals };
  dtls: { dtls: { flight: number } };
}

/** A DTLS handshake record (content type 22) whose first message has one of these types. */
function handshakeOf(datagram: Buffer, types: number[]): boolean {
  return datagram.length > 13 && datagram[0] === 22 && types.includes(datagram[13]!);
}
/** ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone. */
const FLIGHT_4 = [2, 11, 12, 13, 14];
const HELLO_VERIFY_REQUEST = 3;

interface Pair {
  viewer: RTCPeerConnection;
  server: RTCPeerConnection;
  sender: RTCRtpSender;
  /** Video sequence numbers the viewer decrypted. */
  received: number[];
  /** Handshake records the server side sent since `connected`. */
  serverHandshakesAfter: Buffer[];
  /** Sends the viewer's flight 4 again, as a browser that did not see flight 5 in time does. */
  repeatFlight4(): Promise<void>;
  close(): Promise<void>;
}

interface PairOptions {
  /** Guard drake's side before ICE starts, as PeerSession does. */
  guard?: boolean;
  /** The viewer sends each HelloVerifyRequest twice, as its DTLS server does for a repeated ClientHello. */
  doubleHelloVerify?: boolean;
}

async function connectedPair(opts: PairOptions = {}): Promise<Pair> {
  const viewer = viewerPeer();
  const server = new RTCPeerConnection({
    bundlePolicy: 'max-bundle',
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceFilterCandidatePair: (p) => p.remoteCandidate.host === '127.0.0.1' && p.localCandidate.host === '127.0.0.1',
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' })],
      audio: [],
    },
    headerExtensions: { video: [], audio: [] },
  });
  const received: number[] = [];
  const recv = viewer.addTransceiver('video', { direction: 'recvonly' });
  recv.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => received.push(rtp.header.sequenceNumber)));
  await viewer.setLocalDescription(await viewer.createOffer());
  const sender = server.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' }).sender;
  await server.setRemoteDescription(viewer.localDescription!);
  if (opts.guard) guardDtlsClients(server);
  await server.setLocalDescription(await server.createAnswer());
  assert.match(server.localDescription!.sdp, /a=setup:active/, 'the server side is the DTLS client, as drake is');

  const flight4: Buffer[] = [];
  const viewerConn = (viewer.dtlsTransports[0] as unknown as TransportInternals).iceTransport.connection;
  const viewerSend = viewerConn.send.bind(viewerConn);
  viewerConn.send = async (data: Buffer) => {
    if (handshakeOf(data, FLIGHT_4)) flight4.push(Buffer.from(data));
    if (opts.doubleHelloVerify && handshakeOf(data, [HELLO_VERIFY_REQUEST])) await viewerSend(Buffer.from(data));
    return viewerSend(data);
  };
  const serverHandshakesAfter: Buffer[] = [];
  const serverConn = (sender.dtlsTransport as unknown as TransportInternals).iceTransport.connection;
  const serverSend = serverConn.send.bind(serverConn);
  serverConn.send = (data: Buffer) => {
    if (server.connectionState === 'connected' && data[0] === 22) serverHandshakesAfter.push(Buffer.from(data));
    return serverSend(data);
  };
  await viewer.setRemoteDescription(server.localDescription!);
  await waitFor('both sides connected', async () => {
    if (server.connectionState === 'failed') throw new Error(`drake's side failed (DTLS ${sender.dtlsTransport.state})`);
    return server.connectionState === 'connected' && viewer.connectionState === 'connected';
  }, 15_000).catch(async (err: unknown) => {
    await Promise.allSettled([viewer.close(), server.close()]);
    throw err;
  });
  assert.ok(flight4.length > 0, 'the viewer sent its flight 4');
  const dtls = (sender.dtlsTransport as unknown as TransportInternals).dtls.dtls;
  return {
    viewer,
    server,
    sender,
    received,
    serverHandshakesAfter,
    async repeatFlight4() {
      for (const d of flight4) await viewerSend(d);
      // werift reads the copies asynchronously (it polls for the messages of a flight every 100 ms).
      await new Promise((r) => setTimeout(r, 1500));
    },
    async close() {
      // A client that re-ran flight 5 retransmits it for ~30 s, waiting for a Finished that never comes.
      dtls.flight = Math.max(dtls.flight, 7);
      await Promise.allSettled([viewer.close(), server.close()]);
    },
  };
}

test('lean SRTP keys are the viewer\'s even after werift re-ran flight 5 on a repeated flight 4', { timeout: 30_000 }, async () => {
  const pair = await connectedPair();
  try {
    await pair.repeatFlight4();
    const ctx = srtpContextsFor(pair.sender);
    assert.ok(ctx, 'SRTP contexts for the sender');
    const conn = (pair.sender.dtlsTransport as unknown as TransportInternals).iceTransport.connection;
    const ssrc = (pair.sender as unknown as { ssrc: number }).ssrc >>> 0;
    const payloadType = (pair.sender as unknown as { codec: { payloadType: number } }).codec.payloadType;
    const out = Buffer.alloc(1500);
    for (let seq = 100; seq < 120; seq++) {
      const pkt = Buffer.alloc(12 + 200, 0x5a);
      pkt[0] = 0x80;
      pkt[1] = payloadType;
      pkt.writeUInt16BE(seq, 2);
      pkt.writeUInt32BE(seq * 3000, 4);
      pkt.writeUInt32BE(ssrc, 8);
      const n = protect(ctx.send, pkt, out);
      await conn.send(Buffer.from(out.subarray(0, n)));
    }
    await waitFor('the viewer decrypts the packets', async () => pair.received.length >= 15, 5000).catch(() => {
      throw new Error(`the viewer decrypted ${pair.received.length} of 20 packets protected with srtpContextsFor's keys`);
    });
  } finally {
    await pair.close();
  }
});

test('guardDtlsClients: a flight 4 after the handshake leaves werift\'s DTLS client as it was', { timeout: 30_000 }, async () => {
  const pair = await connectedPair();
  try {
    guardDtlsClients(pair.server);
    guardDtlsClients(pair.server);
    // The viewer's side is a DTLS server: left alone (werift's server answers a repeated flight 5 itself).
    const viewerDtls = (pair.viewer.dtlsTransports[0] as unknown as { dtls: { onHandleHandshakes: unknown } }).dtls;
    const viewerHandler = viewerDtls.onHandleHandshakes;
    guardDtlsClients(pair.viewer);
    assert.equal(viewerDtls.onHandleHandshakes, viewerHandler, 'a DTLS server is not wrapped');
    await pair.repeatFlight4();
    const dtls = (pair.sender.dtlsTransport as unknown as TransportInternals).dtls.dtls;
    assert.equal(pair.serverHandshakesAfter.length, 0, 'no flight 5 sent again');
    assert.equal(dtls.flight, 7, 'the client stays finished');
  } finally {
    await pair.close();
  }
});

test('guardDtlsClients: a repeated HelloVerifyRequest no longer fails the session (werift alone fails it)', { timeout: 40_000 }, async () => {
  // Unguarded, werift's client throws on the second HelloVerifyRequest. If this starts to connect, werift
  // fixed it upstream and the guard's HelloVerifyRequest half can go.
  await assert.rejects(connectedPair({ doubleHelloVerify: true }), /drake's side failed/);
  const pair = await connectedPair({ doubleHelloVerify: true, guard: true });
  try {
    await pair.repeatFlight4();
    assert.equal(pair.serverHandshakesAfter.length, 0, 'no flight 5 sent again');
    assert.ok(srtpContextsFor(pair.sender), 'SRTP contexts for the sender');
  } finally {
    await pair.close();
  }
});
