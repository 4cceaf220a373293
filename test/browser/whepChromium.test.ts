// The player page in a real Chromium against a real drake playing its embedded `demo` process
// (640x360@30 testsrc2 + beeping sine, H264 + Opus): video decodes, audio arrives, time to first
// frame is measured, and leaving the page ends the server-side session (DELETE on pagehide).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WhepStatsDto } from '../../src/shared/protocol.ts';
import { chromiumPath, launchChromium, playerConnection } from '../helpers/chromium.ts';
import { startDrake, waitFor } from '../helpers/drake.ts';

interface InboundSample {
  video: { framesDecoded: number; packetsReceived: number; frameWidth: number | null } | null;
  audio: { packetsReceived: number } | null;
}

// Browser-side code is passed as strings: this tsconfig has no DOM lib.
const INBOUND = `(async () => {
  const pc = window.drakePlayer.pc;
  if (!pc) return { video: null, audio: null };
  const out = { video: null, audio: null };
  (await pc.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    const kind = r.kind ?? r.mediaType;
    if (kind === 'video') out.video = { framesDecoded: r.framesDecoded ?? 0, packetsReceived: r.packetsReceived ?? 0, frameWidth: r.frameWidth ?? null };
    else if (kind === 'audio') out.audio = { packetsReceived: r.packetsReceived ?? 0 };
  });
  return out;
})()`;

/** The drake port of the candidate pair Chromium selected. */
const SELECTED_REMOTE_PORT = `(async () => {
  const stats = await window.drakePlayer.pc.getStats();
  let port = null;
  stats.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) {
      const pair = stats.get(r.selectedCandidatePairId);
      port = pair ? stats.get(pair.remoteCandidateId)?.port ?? null : null;
    }
  });
  return port;
})()`;

/**
 * ICE as Chromium saw it: did the answer declare ice-lite, how many STUN checks drake sent it (all
 * candidate pairs), how many of its own checks on the selected pair were answered.
 */
const ICE_SEEN = `(async () => {
  const pc = window.drakePlayer.pc;
  const stats = await pc.getStats();
  let requestsReceived = 0;
  let responsesReceived = 0;
  stats.forEach((r) => {
    if (r.type === 'candidate-pair') requestsReceived += r.requestsReceived ?? 0;
    if (r.type === 'transport' && r.selectedCandidatePairId) responsesReceived = stats.get(r.selectedCandidatePairId)?.responsesReceived ?? 0;
  });
  return { iceLite: /^a=ice-lite\\r?$/m.test(pc.remoteDescription.sdp), requestsReceived, responsesReceived };
})()`;

for (const sendPath of ['drake', 'lean'] as const) test(
  `Chromium plays drake's demo over WHEP (send_path ${sendPath}): 640 px video decodes, audio arrives, TTFF is set, leaving ends the session`,
  { timeout: 55_000, skip: chromiumPath() ? false : 'Chromium not installed (apt-get install -y chromium, or set CHROMIUM_PATH)' },
  async () => {
    const drake = await startDrake({ demo: true, webrtc: { send_path: sendPath } });
    const stats = () => drake.supervisor.whepStats('demo') as Promise<WhepStatsDto>;
    // Record the DELETEs that reach drake, to tell the page's DELETE from a server-side timeout.
    const deleted: string[] = [];
    const sup = drake.supervisor;
    const realDelete = sup.whepDelete.bind(sup);
    sup.whepDelete = (id, session) => {
      deleted.push(`${id}/${session}`);
      return realDelete(id, session);
    };
    const browser = await launchChromium().catch(async (err: unknown) => {
      await drake.stop(true);
      throw err;
    });
    try {
      await waitFor('demo media (GOP cache filled)', async () => (await stats()).gopPackets > 0, 20_000);

      // The index lists demo with a link to its player.
      const index = await browser.newPage();
      await index.goto(`${drake.url}/`);
      const links = (await index.evaluate(`[...document.querySelectorAll('a[href^="/player/"]')].map((a) => [a.textContent, a.getAttribute('href')])`)) as Array<[string, string]>;
      assert.deepEqual(links, [['demo', '/player/demo']]);
      await index.close();

      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${drake.url}/player/demo`);
      assert.equal(await page.title(), 'drake · demo');
      await page.waitForFunction(`window.drakePlayer?.state === 'playing'`, null, { timeout: 15_000 }).catch(async (err: unknown) => {
        const p = await page.evaluate(`(({ state, statusText, lastError, posts }) => ({ state, statusText, lastError, posts }))(window.drakePlayer)`);
        throw new Error(`player did not reach 'playing': ${JSON.stringify(p)}; Chromium: ${JSON.stringify(await playerConnection(page))} (${String(err)})`);
      });

      const player = (await page.evaluate(`(({ state, ttffMs, sessionUrl }) => ({ state, ttffMs, sessionUrl,
        videoWidth: document.getElementById('video').videoWidth, videoHeight: document.getElementById('video').videoHeight }))(window.drakePlayer)`)) as {
        state: string;
        ttffMs: number | null;
        sessionUrl: string | null;
        videoWidth: number;
        videoHeight: number;
      };
      assert.equal(player.state, 'playing');
      assert.equal(player.videoWidth, 640);
      assert.equal(player.videoHeight, 360);
      assert.ok(typeof player.ttffMs === 'number' && Number.isFinite(player.ttffMs) && player.ttffMs > 0, `ttffMs is a positive number: ${player.ttffMs}`);
      assert.match(player.sessionUrl ?? '', /\/whep\/demo\/[0-9a-f]{32}$/);
      assert.equal((await stats()).viewers, 1);
      // lean: Chromium's ICE ended on the stream's shared UDP port (the media below comes through it).
      const shared = (await stats()).sharedPort;
      const selectedPort = await page.evaluate(SELECTED_REMOTE_PORT);
      if (sendPath === 'lean') {
        assert.ok(typeof shared === 'number' && shared > 0, `lean uses a shared port: ${shared}`);
        assert.equal(selectedPort, shared, 'Chromium selected the shared port');
      } else {
        assert.equal(shared, null);
        assert.ok(typeof selectedPort === 'number' && selectedPort > 0);
      }

      // Frames keep decoding and audio packets arrive.
      const first = (await page.evaluate(INBOUND)) as InboundSample;
      await new Promise((r) => setTimeout(r, 1_000));
      const second = (await page.evaluate(INBOUND)) as InboundSample;
      assert.ok(first.video && second.video, `an inbound-rtp video report: ${JSON.stringify({ first, second })}`);
      assert.ok(second.video.framesDecoded > first.video.framesDecoded, `framesDecoded increases: ${first.video.framesDecoded} → ${second.video.framesDecoded}`);
      // ~30 fps for ~1 s: well above a trickle of frames.
      assert.ok(second.video.framesDecoded - first.video.framesDecoded >= 10, `≥ 10 frames decoded in ~1 s: ${JSON.stringify({ first, second })}`);
      assert.ok(second.audio && second.audio.packetsReceived > 0, `an inbound-rtp audio report with packets: ${JSON.stringify(second.audio)}`);
      assert.deepEqual(pageErrors, []);

      // lean: drake is an ICE-lite agent on the shared port: Chromium's checks are answered, none come from drake.
      const iceSeen = (await page.evaluate(ICE_SEEN)) as { iceLite: boolean; requestsReceived: number; responsesReceived: number };
      assert.ok(iceSeen.responsesReceived > 0, `Chromium's checks were answered: ${JSON.stringify(iceSeen)}`);
      if (sendPath === 'lean') {
        assert.equal(iceSeen.iceLite, true, 'the answer says a=ice-lite');
        assert.equal(iceSeen.requestsReceived, 0, `no STUN request from drake: ${JSON.stringify(iceSeen)}`);
      } else {
        assert.equal(iceSeen.iceLite, false);
        assert.ok(iceSeen.requestsReceived > 0, `full ICE: drake checks Chromium: ${JSON.stringify(iceSeen)}`);
      }

      // Leaving the page sends DELETE (pagehide): drake's viewer count drops back to 0.
      await page.close({ runBeforeUnload: true });
      const left = Date.now();
      await waitFor('viewers back to 0 after the page closed', async () => (await stats()).viewers === 0, 5_000);
      const goneMs = Date.now() - left;
      assert.ok(goneMs < 5_000, `viewer removed within 5 s (took ${goneMs} ms)`);
      assert.deepEqual(deleted, [`demo/${player.sessionUrl!.split('/').pop()}`], 'the page DELETEd its session');
    } finally {
      await browser.close();
      await drake.stop(true);
    }
  },
);
