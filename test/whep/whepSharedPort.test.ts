// webrtc.shared_port (lean): every viewer of a stream does ICE, DTLS and SRTP on one UDP port of the
// stream's shard, and each live packet leaves for all of them in one native SRTP batch + one sendmmsg.
// Independent stacks (werift, libdatachannel/libsrtp) must decrypt what the batch sent them with their
// own keys; junk on the port must not disturb anyone; with shared_port off each viewer has its own port.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RtcpSrPacket } from 'werift';
import { h264NalTypesStarting, NAL } from '../../src/shared/h264.ts';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView, type WhepViewer } from '../helpers/whepClient.ts';
import { dropDefaultStun } from '../../src/actors/peer/PeerSession.ts';
import { gsoEnabled, nativeRecvEnabled } from '../../src/shared/srtp/index.ts';

function candidatePorts(answer: string): number[] {
  return [...answer.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gim)].map((m) => Number(m[1]));
}

function assertContinuous(v: WhepViewer, from: number): void {
  const seqs = v.video.slice(from).map((p) => p.readUInt16BE(2));
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1]! + 1) & 0xffff, `seq continuous at ${i}`);
}

/**
 * The viewer restarts ICE through PATCH exactly as the WHEP draft describes: If-Match "*", the
 * bundle-tagged m-section with its mid, new ufrag/pwd and its candidates from a fresh gathering
 * (werift keeps its sockets, browsers may not). The client then replaces drake's ICE credentials and
 * candidates with those of the 200 answer only. Media must resume on the session.
 */
async function iceRestartResumes(drake: TestDrake): Promise<void> {
  const v = await whepView(`${drake.url}/whep/cam`);
  try {
    await waitFor('media', async () => videoCount(v) > 30, 15_000);
    const pc = v.pc;
    pc.restartIce();
    const offer = await pc.createOffer();
    dropDefaultStun(pc);
    await pc.setLocalDescription(offer);
    await waitFor('client gathering', async () => pc.iceGatheringState === 'complete', 10_000);
    const local = pc.localDescription!.sdp;
    const ufrag = /a=ice-ufrag:(\S+)/.exec(local)![1]!;
    const pwd = /a=ice-pwd:(\S+)/.exec(local)![1]!;
    const candidates = [...local.matchAll(/^a=candidate:.*$/gm)].map((m) => `${m[0]}\r\n`).join('');
    const mline = /^m=.*$/m.exec(local)![0];
    const res = await fetch(`${drake.url}${v.location}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': '"*"' },
      body: `${mline}\r\na=mid:0\r\na=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\n${candidates}`,
    });
    assert.equal(res.status, 200);
    const frag = await res.text();
    const newCandidates = [...frag.matchAll(/^a=candidate:.*$/gm)].map((m) => m[0]);
    assert.ok(newCandidates.length > 0, `the 200 answer lists drake's candidates:\n${frag}`);
    // Old candidates out, the answer's in (in the first m-section: bundle), new credentials everywhere.
    let first = true;
    const answer = v.answer
      .replace(/^a=(candidate:.*|end-of-candidates)\r?\n/gm, '')
      .replace(/^a=ice-ufrag:\S+\r?\n/gm, () => {
        const lines = [`a=ice-ufrag:${/a=ice-ufrag:(\S+)/.exec(frag)![1]}`, ...(first ? [...newCandidates, 'a=end-of-candidates'] : [])];
        first = false;
        return `${lines.join('\r\n')}\r\n`;
      })
      .replace(/a=ice-pwd:\S+/g, `a=ice-pwd:${/a=ice-pwd:(\S+)/.exec(frag)![1]}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    // A browser checks the new candidates by itself; werift restarts its checks only when told to (it
    // used to get going on drake's checks, which an ICE-lite drake no longer sends).
    for (const t of pc.iceTransports) void t.start().catch(() => undefined);
    const mark = videoCount(v);
    await waitFor('media after the restart', async () => videoCount(v) > mark + 60, 15_000);
    assert.equal(pc.connectionState, 'connected');
    // The same session carried on (WHEP keeps the resource across a restart).
    const id = v.location!.split('/').pop();
    const sessions = (await drake.supervisor.snapshot()).flatMap((p) => p.sessions);
    assert.ok(sessions.some((x) => x.id === id && x.connected), `session ${id} still connected`);
  } finally {
    await v.close();
  }
}

describe('shared_port off: one ICE port per viewer', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: false } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await drake.stop(true);
  });

  test('each viewer gets its own port and media still arrives', async () => {
    const viewers = await Promise.all(Array.from({ length: 3 }, () => whepView(`${drake.url}/whep/cam`)));
    try {
      const perViewer = viewers.map((v) => new Set(candidatePorts(v.answer)));
      const all = new Set(perViewer.flatMap((s) => [...s]));
      assert.ok(all.size >= 3, `distinct ports per viewer: ${[...all]}`);
      for (const v of viewers) assert.doesNotMatch(v.answer, /a=ice-lite/, 'full ICE on per-viewer ports');
      assert.equal((await drake.supervisor.whepStats('cam')).sharedPort, null);
      assert.equal((await drake.supervisor.whepStats('cam')).batched, 0);
      await waitFor('media', async () => viewers.every((v) => videoCount(v) > 30), 15_000);
    } finally {
      await Promise.all(viewers.map((v) => v.close()));
    }
  });

  test('ICE restart through PATCH: media resumes', () => iceRestartResumes(drake));
});

test('the shared port is never shared with another socket, even one that allows address reuse', async () => {
  const base = 44_000 + Math.floor(Math.random() * 2000);
  const foreign = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => foreign.bind(base, '0.0.0.0', resolve));
  let stolen = 0;
  foreign.on('message', () => stolen++);
  const drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: true, port_min: base, port_max: base + 1 } });
  try {
    await addLiveProcess(drake, 'cam');
    const v = await whepView(`${drake.url}/whep/cam`);
    try {
      assert.equal(v.status, 201);
      assert.equal((await drake.supervisor.whepStats('cam')).sharedPort, base + 1, 'the port in use is skipped');
      await waitFor('media', async () => videoCount(v) > 30, 15_000);
      assert.equal(stolen, 0);
    } finally {
      await v.close();
    }
  } finally {
    foreign.close();
    await drake.stop(true);
  }
});

describe('shared UDP port per shard (send_path lean, shared_port on)', () => {
  let drake: TestDrake;
  const base = 41_000 + Math.floor(Math.random() * 2000);
  before(async () => {
    drake = await startDrake({ webrtc: { send_path: 'lean', shared_port: true, port_min: base, port_max: base + 20 } });
    await addLiveProcess(drake, 'cam');
  });
  after(async () => {
    await drake.stop(true);
  });

  test('werift viewers all connect on one port from the range and decrypt the batched media', async () => {
    const viewers = await Promise.all(Array.from({ length: 4 }, () => whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 })));
    try {
      for (const v of viewers) assert.equal(v.status, 201);
      const port = (await drake.supervisor.whepStats('cam')).sharedPort;
      assert.ok(typeof port === 'number' && port >= base && port <= base + 20, `shared port ${port} inside ${base}-${base + 20}`);
      const ports = new Set(viewers.flatMap((v) => candidatePorts(v.answer)));
      assert.deepEqual([...ports], [port], 'every host candidate of every answer is the shared port');
      for (const v of viewers) assert.match(v.answer, /^a=ice-lite\r?$/m, 'ICE-lite on the shared port');
      await waitFor('every viewer gets video and audio', async () => viewers.every((v) => videoCount(v) > 90 && v.audio > 40), 20_000);
      for (const v of viewers) {
        assert.deepEqual(h264NalTypesStarting(v.video[0]!).slice(0, 2), [NAL.SPS, NAL.PPS]);
        // From the paced join burst into live batched packets without a gap.
        assertContinuous(v, 0);
      }
      const stats = await drake.supervisor.whepStats('cam');
      assert.equal(stats.viewers, 4);
      assert.equal(stats.batchDrops, 0);
      // Live packets really went through the batch (not werift's per-viewer send).
      assert.ok(stats.batched > stats.packets / 2, `batched ${stats.batched} of ${stats.packets} viewer-packets`);
      // The join bursts too: protected into the pacer's batch, one sendmmsg per tick (≤ 30 packets per viewer),
      // their runs of equal-size FU-A fragments as UDP GSO trains. assertContinuous above: order kept.
      const burst = stats.send!.burst;
      assert.ok(burst.packets >= 4 * 2, `burst packets ${burst.packets}`);
      assert.ok(burst.syscalls * 3 <= burst.packets, `${burst.syscalls} sendmmsg calls for ${burst.packets} burst packets`);
      assert.equal(stats.send!.gso, gsoEnabled);
      if (gsoEnabled) assert.ok(burst.gsoPackets > 0 && burst.gsoMessages * 2 <= burst.gsoPackets, JSON.stringify(burst));
      else assert.equal(burst.gsoPackets, 0);
      // Live packets that arrive together leave viewer by viewer: one sendmmsg for several source packets ×
      // 4 viewers, and a frame's FU-A fragments to one viewer as one GSO train.
      const live = stats.send!.live;
      assert.ok(live.packets > 4 * 90, JSON.stringify(live));
      assert.ok(live.syscalls * 4 < live.packets, `${live.syscalls} sendmmsg calls for ${live.packets} live viewer-packets`);
      if (gsoEnabled) assert.ok(live.gsoPackets > 0 && live.gsoMessages * 2 <= live.gsoPackets, JSON.stringify(live));
      else assert.equal(live.gsoPackets, 0);
      // The port is read with recvmmsg where the addon runs (node's dgram otherwise), and every datagram counted.
      assert.equal(stats.port!.reader, nativeRecvEnabled ? 'recvmmsg' : 'dgram');
      assert.ok(stats.port!.reads > 0 && stats.port!.reads <= stats.port!.received, JSON.stringify(stats.port));
      if (!nativeRecvEnabled) assert.equal(stats.port!.reads, stats.port!.received);
      assert.equal(typeof stats.port!.kernelDropped, 'number');
      const sessions = (await drake.supervisor.snapshot()).find((p) => p.id === 'cam')!.sessions;
      assert.equal(new Set(sessions.map((s) => s.remote)).size, 4, 'four distinct viewer addresses behind one port');
    } finally {
      await Promise.all(viewers.map((v) => fetch(`${drake.url}${v.location}`, { method: 'DELETE' }).catch(() => undefined)));
      await Promise.all(viewers.map((v) => v.close()));
    }
  });

  test('the port is read paced while viewers watch, and as datagrams come once the last one left', async () => {
    // Paced reads are on where the addon reads the port and DRAKE_RTCP_PACED is not 0 (whepDgramFallback runs this file with node's reading).
    const pacedWhileWatching = nativeRecvEnabled && process.env.DRAKE_RTCP_PACED !== '0';
    // Alone on the shard: a session an earlier test left without DELETE ends by the viewer timeout (10 s).
    await waitFor('no viewer before', async () => (await drake.supervisor.whepStats('cam')).viewers === 0, 25_000);
    const v = await whepView(`${drake.url}/whep/cam`);
    try {
      await waitFor('media', async () => videoCount(v) > 30, 15_000);
      await waitFor('paced once connected', async () => (await drake.supervisor.whepStats('cam')).port!.paced === pacedWhileWatching, 5000);
    } finally {
      await fetch(`${drake.url}${v.location}`, { method: 'DELETE' });
      await v.close();
    }
    await waitFor('no viewer', async () => (await drake.supervisor.whepStats('cam')).viewers === 0, 10_000);
    // Paced without a viewer would keep a 20 ms fallback timer reading an idle port for as long as the stream runs.
    assert.equal((await drake.supervisor.whepStats('cam')).port!.paced, false);
  });

  test('a NACK of a batched packet is answered with the same bytes for that viewer only', async () => {
    const a = await whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 });
    const b = await whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 });
    try {
      await waitFor('both receive', async () => videoCount(a) > 120 && videoCount(b) > 120, 15_000);
      const want = a.video[a.video.length - 20]!;
      const seq = want.readUInt16BE(2);
      const aBefore = a.video.length;
      const bBefore = (await drake.supervisor.whepStats('cam')).retransmits;
      await a.sendNack([seq]);
      await waitFor('the retransmit', async () => a.video.slice(aBefore).some((p) => p.readUInt16BE(2) === seq), 5000);
      const again = a.video.slice(aBefore).find((p) => p.readUInt16BE(2) === seq)!;
      assert.ok(again.equals(want), 'retransmit is byte-identical after decryption');
      assert.equal((await drake.supervisor.whepStats('cam')).retransmits, bBefore + 1);

      // One NACK of a run of equal-size packets: answered in one sendmmsg, as one GSO train, in order.
      const at = a.video.findIndex((p, i) => i >= 10 && i + 4 < a.video.length - 10 && [1, 2, 3].every((k) => a.video[i + k]!.length === p.length && a.video[i + k]!.readUInt16BE(2) === ((p.readUInt16BE(2) + k) & 0xffff)));
      assert.ok(at >= 0, 'a run of 4 equal-size consecutive packets (FU-A fragments of one frame)');
      const run = a.video.slice(at, at + 4);
      const seqs = run.map((p) => p.readUInt16BE(2));
      const s0 = (await drake.supervisor.whepStats('cam')).send!.burst;
      const mark = a.video.length;
      await a.sendNack(seqs);
      await waitFor('the run is re-sent', async () => seqs.every((q) => a.video.slice(mark).some((p) => p.readUInt16BE(2) === q)), 5000);
      const resent = a.video.slice(mark).filter((p) => seqs.includes(p.readUInt16BE(2)));
      assert.deepEqual(resent.map((p) => p.readUInt16BE(2)), seqs, 'in order, once each');
      resent.forEach((p, k) => assert.ok(p.equals(run[k]!), `retransmit ${seqs[k]} byte-identical`));
      const s1 = (await drake.supervisor.whepStats('cam')).send!.burst;
      assert.equal(s1.packets - s0.packets, 4);
      assert.equal(s1.syscalls - s0.syscalls, 1, 'one sendmmsg for the NACK');
      assert.equal(s1.gsoPackets - s0.gsoPackets, gsoEnabled ? 4 : 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("drake reads the viewer's SRTCP itself: NACK, PLI and receiver reports (RTT, loss) reach the session", async () => {
    const v = await whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 });
    try {
      await waitFor('media', async () => videoCount(v) > 60, 15_000);
      const id = v.location!.split('/').pop();
      const session = async () => (await drake.supervisor.snapshot()).find((p) => p.id === 'cam')!.sessions.find((s) => s.id === id)!;
      // werift's receiver reports every 0.5–1.5 s; drake sends an SR every second, so an RR echoes one.
      await waitFor('a receiver report with RTT', async () => (await session()).rtt_ms !== null, 10_000);
      const s0 = await session();
      assert.ok(s0.rtt_ms! >= 0 && s0.rtt_ms! < 1000, `loopback RTT ${s0.rtt_ms} ms`);
      // drake's own sender reports (native SRTCP): the viewer decrypts them; their NTP time is now and their
      // RTP time matches the video just received (lip sync depends on that mapping).
      const receiver = v.pc.getTransceivers().find((t) => t.kind === 'video')!.receiver;
      const sr = await new Promise<RtcpSrPacket>((resolve) => {
        const sub = receiver.onRtcp.subscribe((p) => {
          if (p instanceof RtcpSrPacket) {
            sub.unSubscribe();
            resolve(p);
          }
        });
      });
      const last = v.video[v.video.length - 1]!;
      assert.equal(sr.ssrc, last.readUInt32BE(8));
      const ntpMs = Number(sr.senderInfo.ntpTimestamp >> 32n) * 1000 - 2_208_988_800_000 + (Number(sr.senderInfo.ntpTimestamp & 0xffffffffn) / 2 ** 32) * 1000;
      assert.ok(Math.abs(ntpMs - Date.now()) < 1000, `SR NTP time ${new Date(ntpMs).toISOString()} is now`);
      const ticks = ((sr.senderInfo.rtpTimestamp - last.readUInt32BE(4)) << 0) / 90;
      assert.ok(Math.abs(ticks) < 500, `SR RTP time within 0.5 s of the last video packet: ${ticks} ms`);
      assert.ok(sr.senderInfo.packetCount >= 60 && sr.senderInfo.octetCount > 60 * 100, `SR counts ${sr.senderInfo.packetCount} / ${sr.senderInfo.octetCount}`);
      assert.equal(s0.fraction_lost, 0);
      assert.ok(s0.rtcp_rx > 0 && s0.rtcp_dropped === 0, `rtcp_rx ${s0.rtcp_rx}, dropped ${s0.rtcp_dropped}`);
      await v.sendPli();
      await v.sendNack([v.video[v.video.length - 5]!.readUInt16BE(2)]);
      await waitFor('PLI and NACK counted', async () => {
        const s = await session();
        return s.plis === s0.plis + 1 && s.nacks === s0.nacks + 1;
      }, 5000);
      const s1 = await session();
      assert.ok(s1.rtcp_rx >= s0.rtcp_rx + 2);
      assert.equal(s1.plis_ignored, s0.plis_ignored + 1, 'a viewer with the keyframe and no loss gets no burst for a PLI');
    } finally {
      await v.close();
    }
  });

  test('junk and STUN with an unknown ufrag on the shared port are dropped; viewers carry on', async () => {
    const v = await whepView(`${drake.url}/whep/cam`, { keepVideo: 100_000 });
    const port = (await drake.supervisor.whepStats('cam')).sharedPort!;
    const sock = dgram.createSocket('udp4');
    try {
      await waitFor('viewer receives', async () => videoCount(v) > 30, 15_000);
      const stun = Buffer.alloc(20 + 4 + 12);
      stun.writeUInt16BE(0x0001, 0); // Binding request
      stun.writeUInt16BE(16, 2);
      stun.writeUInt32BE(0x2112a442, 4);
      randomBytes(12).copy(stun, 8);
      stun.writeUInt16BE(0x0006, 20); // USERNAME "nobodyxx:abcd"
      stun.writeUInt16BE(12, 22);
      stun.write('nobodyx:abcd', 24, 'latin1');
      const junk = [randomBytes(1), randomBytes(300), Buffer.from([0x80, 0x60, 0, 1]), Buffer.from([0x16, 0xfe, 0xfd, 0, 0]), stun, stun.subarray(0, 22)];
      for (let i = 0; i < 50; i++) for (const j of junk) sock.send(j, port, '127.0.0.1');
      const mark = videoCount(v);
      await waitFor('media continues after the junk', async () => videoCount(v) > mark + 60, 10_000);
      assertContinuous(v, 0);
      assert.ok((await drake.supervisor.snapshot()).find((p) => p.id === 'cam')!.sessions.some((s) => s.connected), 'the stream actor is alive and its viewer connected');
    } finally {
      sock.close();
      await v.close();
    }
  });
  test('ICE restart through PATCH: media resumes on the shared port (new ufrag routed to the same viewer)', () => iceRestartResumes(drake));

});
