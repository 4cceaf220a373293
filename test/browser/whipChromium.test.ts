// Chromium publishes its fake camera and microphone over WHIP (H264 preferred: this Chromium's OpenH264
// encoder), a second page watches /whep/whip:<name> in a <video> element: frames decode, currentTime
// advances, and the publisher's encoder saw drake's PLI for the joining viewer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WhipPublisherDto } from '../../src/shared/protocol.ts';
import { chromiumPath, launchChromium } from '../helpers/chromium.ts';
import { startDrake, waitFor } from '../helpers/drake.ts';

const TOKEN = 'browser-pub';

// Browser-side code is passed as strings: this tsconfig has no DOM lib.
const GATHERED = `async (pc) => {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  return pc.localDescription.sdp;
}`;

const PUBLISH = `(async ([url, token]) => {
  const gathered = ${GATHERED};
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 }, audio: true });
  const pc = new RTCPeerConnection();
  const vt = pc.addTransceiver(media.getVideoTracks()[0], { direction: 'sendonly' });
  pc.addTransceiver(media.getAudioTracks()[0], { direction: 'sendonly' });
  // drake takes H264 only: offer just that when this Chromium has it (packetization-mode 1).
  const h264 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine ?? ''));
  if (h264.length) vt.setCodecPreferences(h264);
  const offer = await gathered(pc);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer ' + token }, body: offer });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, answer, h264: h264.length };
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  window.publisher = { pc, location: res.headers.get('location') };
  return { status: 201, answer, h264: h264.length, location: res.headers.get('location') };
})`;

const PUBLISHER_STATS = `(async () => {
  const stats = await window.publisher.pc.getStats();
  let out = null;
  stats.forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') out = { framesEncoded: r.framesEncoded ?? 0, pliCount: r.pliCount ?? 0, codec: stats.get(r.codecId)?.mimeType ?? null };
  });
  return out;
})()`;

const VIEW = `(async (url) => {
  const gathered = ${GATHERED};
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  document.body.appendChild(video);
  const ms = new MediaStream();
  pc.addEventListener('track', (e) => {
    ms.addTrack(e.track);
    video.srcObject = ms;
    video.play().catch(() => {});
  });
  const postedAt = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: await gathered(pc) });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, answer };
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  window.viewer = { pc, video, postedAt, firstFrameAt: null };
  video.requestVideoFrameCallback(() => { window.viewer.firstFrameAt = performance.now(); });
  return { status: 201, answer };
})`;

const VIEWER_STATE = `(async () => {
  const v = window.viewer;
  let framesDecoded = 0;
  let audioPackets = 0;
  let frameWidth = 0;
  (await v.pc.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'video') { framesDecoded = r.framesDecoded ?? 0; frameWidth = r.frameWidth ?? 0; }
    else if (r.kind === 'audio') audioPackets = r.packetsReceived ?? 0;
  });
  return { currentTime: v.video.currentTime, framesDecoded, frameWidth, audioPackets, ttffMs: v.firstFrameAt === null ? null : Math.round(v.firstFrameAt - v.postedAt) };
})()`;

test(
  'Chromium publishes its fake camera over WHIP (H264) and a second page plays it over WHEP',
  { timeout: 58_000, skip: chromiumPath() ? false : 'Chromium not installed (apt-get install -y chromium, or set CHROMIUM_PATH)' },
  async () => {
    const drake = await startDrake({ whip: { enable: true, token: TOKEN } });
    const browser = await launchChromium(['--use-fake-device-for-media-stream']).catch(async (err: unknown) => {
      await drake.stop(true);
      throw err;
    });
    try {
      const pubPage = await browser.newPage();
      await pubPage.goto(`${drake.url}/ping`);
      const published = (await pubPage.evaluate(`${PUBLISH}(${JSON.stringify([`${drake.url}/whip/browser`, TOKEN])})`)) as { status: number; answer: string; h264: number; location?: string };
      assert.ok(published.h264 > 0, 'this Chromium offers H264 (OpenH264); without it drake answers 406');
      assert.equal(published.status, 201, published.answer);
      assert.match(published.location ?? '', /^\/whip\/browser\/[0-9a-f]{32}$/);
      // Chromium offers transport-wide congestion control; werift's feedback for it is malformed and
      // mistimed, and held this publisher at a few hundred kbit/s on loopback. drake's answer leaves out
      // the header extension it needs, so Chromium estimates from loss instead.
      assert.match(published.answer, /a=extmap:\d+ urn:ietf:params:rtp-hdrext:sdes:mid/);
      assert.doesNotMatch(published.answer, /transport-wide-cc/);
      const listed = async () => (await drake.api<WhipPublisherDto[]>('GET', '/api/v3/whip')).body.find((p) => p.name === 'browser');
      await waitFor('Chromium\'s media at drake', async () => ((await listed())?.video.packets ?? 0) > 30 && ((await listed())?.audio.packets ?? 0) > 30, 20_000);

      const viewPage = await browser.newPage();
      await viewPage.goto(`${drake.url}/ping`);
      const viewed = (await viewPage.evaluate(`${VIEW}(${JSON.stringify(`${drake.url}/whep/whip:browser`)})`)) as { status: number; answer: string };
      assert.equal(viewed.status, 201, viewed.answer);
      type ViewerState = { currentTime: number; framesDecoded: number; frameWidth: number; audioPackets: number; ttffMs: number | null };
      const state = await waitFor(
        'the <video> plays',
        async () => {
          const s = (await viewPage.evaluate(VIEWER_STATE)) as ViewerState;
          return s.currentTime > 2 && s.framesDecoded > 30 && s.audioPackets > 50 ? s : null;
        },
        30_000,
        250,
      );
      assert.ok(state.frameWidth > 0);
      const pub = (await pubPage.evaluate(PUBLISHER_STATS)) as { framesEncoded: number; pliCount: number; codec: string | null };
      assert.equal(pub.codec, 'video/H264');
      assert.ok(pub.pliCount >= 1, 'Chromium\'s encoder got drake\'s PLI for the joining viewer');
      assert.ok(((await listed())?.plis_sent ?? 0) >= 1);
      console.log(`# Chromium WHIP → drake → Chromium WHEP: time to first frame ${state.ttffMs} ms, ${state.frameWidth} px wide, PLIs at the publisher ${pub.pliCount}`);

      // The publisher's page closes its peer (no DELETE): drake ends the stream and the viewer's session.
      await pubPage.close();
      await waitFor('publication ended', async () => (await listed()) === undefined, 20_000);
    } finally {
      await browser.close();
      await drake.stop(true);
    }
  },
);
