// How a real browser publishes to drake over WHIP: Chromium's fake camera (H264, OpenH264) sent to
// /whip/<name> on loopback, and what Chromium's own rate control makes of drake's feedback, second by
// second: its encoder target, what it sent, the picture size it chose and why it limited itself.
//
//   node --import tsx bench/whipPublisher.ts [--seconds 30] [--width 1280] [--height 720] [--json FILE]
//
// drake answers without transport-wide congestion control (see README, WHIP), so Chromium estimates from
// the loss in drake's receiver reports: it starts near 300 kbit/s and climbs while nothing is lost. A
// publisher held down by bad feedback shows here as a target that stays low and a width that drops.
// Prints a markdown table and writes bench/results/whip-publisher-<ISO time>.json (or --json FILE).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromiumPath, launchChromium } from '../test/helpers/chromium.ts';
import { startDrake, waitFor } from '../test/helpers/drake.ts';
import { table } from './lib/report.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '720' },
    json: { type: 'string' },
  },
  strict: true,
});
const SECONDS = Number(values.seconds);
const WIDTH = Number(values.width);
const HEIGHT = Number(values.height);
for (const [name, v] of [['--seconds', SECONDS], ['--width', WIDTH], ['--height', HEIGHT]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
}
if (!chromiumPath()) {
  console.error('Chromium not found: apt-get install -y chromium, or set CHROMIUM_PATH');
  process.exit(2);
}
const guard = setTimeout(() => {
  console.error('bench: gave up (the run took far longer than --seconds)');
  process.exit(1);
}, (SECONDS + 90) * 1000);
guard.unref();

const TOKEN = 'bench-publisher';

// Browser-side code is passed as strings: this tsconfig has no DOM lib.
const PUBLISH = `(async ([url, token, width, height]) => {
  const media = await navigator.mediaDevices.getUserMedia({ video: { width, height, frameRate: 30 }, audio: true });
  const pc = new RTCPeerConnection();
  const vt = pc.addTransceiver(media.getVideoTracks()[0], { direction: 'sendonly' });
  pc.addTransceiver(media.getAudioTracks()[0], { direction: 'sendonly' });
  const h264 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine ?? ''));
  if (!h264.length) return { status: 0, answer: 'this Chromium has no H264 encoder' };
  vt.setCodecPreferences(h264);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer ' + token }, body: pc.localDescription.sdp });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, answer };
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  window.publisher = pc;
  return { status: 201, answer };
})`;

const SAMPLE = `(async () => {
  const stats = await window.publisher.getStats();
  const out = { bytesSent: 0, targetBitrate: null, frameWidth: null, framesPerSecond: null, limitation: null, availableOutgoingBitrate: null, packetsLost: 0 };
  stats.forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      out.bytesSent = r.bytesSent ?? 0;
      out.targetBitrate = r.targetBitrate ?? null;
      out.frameWidth = r.frameWidth ?? null;
      out.framesPerSecond = r.framesPerSecond ?? null;
      out.limitation = r.qualityLimitationReason ?? null;
    }
    if (r.type === 'remote-inbound-rtp' && r.kind === 'video') out.packetsLost = r.packetsLost ?? 0;
    if (r.type === 'candidate-pair' && r.nominated) out.availableOutgoingBitrate = r.availableOutgoingBitrate ?? null;
  });
  return out;
})()`;

interface Sample {
  bytesSent: number;
  targetBitrate: number | null;
  frameWidth: number | null;
  framesPerSecond: number | null;
  limitation: string | null;
  availableOutgoingBitrate: number | null;
  packetsLost: number;
}
interface Row {
  second: number;
  sentKbps: number;
  targetKbps: number | null;
  estimateKbps: number | null;
  width: number | null;
  fps: number | null;
  limitation: string | null;
  lostTotal: number;
}

const kbps = (bps: number | null) => (bps === null ? null : Math.round(bps / 1000));
const drake = await startDrake({ whip: { enable: true, token: TOKEN } });
const browser = await launchChromium(['--use-fake-device-for-media-stream']);
const rows: Row[] = [];
try {
  const page = await browser.newPage();
  await page.goto(`${drake.url}/ping`);
  const published = (await page.evaluate(`${PUBLISH}(${JSON.stringify([`${drake.url}/whip/bench`, TOKEN, WIDTH, HEIGHT])})`)) as { status: number; answer: string };
  if (published.status !== 201) throw new Error(`WHIP POST answered ${published.status}: ${published.answer}`);
  await waitFor('the publisher connected', async () => ((await drake.api<Array<{ name: string; connected: boolean }>>('GET', '/api/v3/whip')).body.find((p) => p.name === 'bench')?.connected ?? false), 20_000);
  let last = (await page.evaluate(SAMPLE)) as Sample;
  let lastAt = performance.now();
  for (let second = 1; second <= SECONDS; second++) {
    await new Promise((r) => setTimeout(r, 1000 - ((performance.now() - lastAt) % 1000)));
    const s = (await page.evaluate(SAMPLE)) as Sample;
    const now = performance.now();
    rows.push({
      second,
      sentKbps: Math.round(((s.bytesSent - last.bytesSent) * 8) / (now - lastAt)),
      targetKbps: kbps(s.targetBitrate),
      estimateKbps: kbps(s.availableOutgoingBitrate),
      width: s.frameWidth,
      fps: s.framesPerSecond,
      limitation: s.limitation,
      lostTotal: s.packetsLost,
    });
    last = s;
    lastAt = now;
  }
} finally {
  await browser.close();
  await drake.stop(true);
}

const shown = rows.filter((r) => r.second % 3 === 0 || r.second === rows.length);
const cell = (v: number | string | null) => (v === null ? '–' : String(v));
console.log(`Chromium ${WIDTH}x${HEIGHT}@30 fake camera → drake WHIP on loopback (${os.cpus().length} cores); every 3rd second:\n`);
console.log(
  table(
    ['s', 'sent kbit/s', 'encoder target kbit/s', 'send-side estimate kbit/s', 'width', 'fps', 'limited by', 'lost (total)'],
    shown.map((r) => [r.second, r.sentKbps, cell(r.targetKbps), cell(r.estimateKbps), cell(r.width), cell(r.fps), cell(r.limitation), r.lostTotal]),
  ),
);
console.log("\nsend-side estimate = the nominated pair's availableOutgoingBitrate; target = the encoder's; sent can stay under the target when the picture is simple (the fake camera's is).");

const file = values.json ? resolve(values.json) : null;
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const out = file ?? new URL(`whip-publisher-${new Date().toISOString().replaceAll(':', '-')}.json`, dir).pathname;
writeFileSync(out, `${JSON.stringify({ bench: 'whip-publisher', width: WIDTH, height: HEIGHT, seconds: SECONDS, host: { cpus: os.cpus().length }, rows }, null, 2)}\n`);
console.log(`\nwrote ${out}`);
