// The player page uses the WHEP server-sent events extension with a real EventSource in Chromium:
// it shows "stream offline" when drake's FFmpeg dies and rejoins by itself when the process runs again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chromiumPath, launchChromium, playerConnection } from '../helpers/chromium.ts';
import { startDrake, waitFor } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';

const PLAYER = `(({ state, statusText, events, viewers, posts, sessionUrl, lastError }) => ({ state, statusText, events, viewers, posts, sessionUrl, lastError }))(window.drakePlayer)`;
interface PlayerState {
  state: string;
  statusText: string;
  events: string[];
  viewers: number | null;
  posts: number;
  sessionUrl: string | null;
  lastError: string | null;
}

test(
  'player page: EventSource gets active and viewercount; FFmpeg killed → "stream offline"; back → reconnect and plays again',
  { timeout: 60_000, skip: chromiumPath() ? false : 'Chromium not installed (apt-get install -y chromium, or set CHROMIUM_PATH)' },
  async () => {
    const drake = await startDrake();
    const browser = await launchChromium().catch(async (err: unknown) => {
      await drake.stop(true);
      throw err;
    });
    try {
      await drake.api('POST', '/api/v3/process', webrtcProcess('cam', { reconnect: true, reconnect_delay_seconds: 3 }));
      await waitFor('media', async () => (await drake.supervisor.whepStats('cam')).gopPackets > 0, 30_000);
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${drake.url}/player/cam`);
      const player = async () => (await page.evaluate(PLAYER)) as PlayerState;
      const until = async (what: string, cond: string, ms = 15_000) =>
        page.waitForFunction(cond, null, { timeout: ms }).catch(async (err: unknown) => {
          throw new Error(`${what}: ${JSON.stringify(await player())}; Chromium: ${JSON.stringify(await playerConnection(page))} (${String(err)})`);
        });
      await until('playing', `window.drakePlayer?.state === 'playing'`);
      await until('active and the viewer count over SSE', `window.drakePlayer.events.includes('active') && window.drakePlayer.viewers === 1`, 5000);
      assert.equal(await page.evaluate(`document.getElementById('viewers').textContent`), 'viewers: 1');
      const firstSession = (await player()).sessionUrl;

      process.kill(drake.supervisor.pidOf('cam')!, 'SIGKILL');
      await until('offline', `window.drakePlayer.state === 'offline'`);
      assert.match(await page.evaluate(`document.getElementById('state').textContent`) as string, /stream offline/);
      // The session stayed (no new POST while offline); drake restarts FFmpeg after 3 s and says reconnect.
      assert.equal((await player()).posts, 1);
      await until('reconnect, a new session and a picture again', `window.drakePlayer.events.includes('reconnect') && window.drakePlayer.posts === 2 && window.drakePlayer.state === 'playing'`, 20_000);
      const p = await player();
      assert.notEqual(p.sessionUrl, firstSession);
      const order = p.events.filter((e) => e !== 'viewercount');
      assert.deepEqual(order.slice(0, 4), ['active', 'inactive', 'active', 'reconnect']);
      assert.deepEqual(pageErrors, []);
      await waitFor('one viewer again (the old session was deleted)', async () => (await drake.supervisor.whepStats('cam')).viewers === 1, 10_000);
    } finally {
      await browser.close();
      await drake.stop(true);
    }
  },
);
