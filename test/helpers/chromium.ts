// Real-browser tests: playwright-core driving Debian's Chromium (`apt-get install -y chromium`).
// Playwright's own browser download is not used. Tests should skip when chromiumPath() is null.
import { chromium, type Browser, type Page } from 'playwright-core';
import { executable } from '../../src/actors/supervisor/ffmpegBinary.ts';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
  '--use-fake-ui-for-media-stream',
];


/** CHROMIUM_PATH when set (and executable), else /usr/bin/chromium, else null. */
export function chromiumPath(): string | null {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return executable(fromEnv) ? fromEnv : null;
  return executable('/usr/bin/chromium') ? '/usr/bin/chromium' : null;
}

/**
 * DRAKE_CHROMIUM_LOG=1 makes Chromium log WebRTC's SRTP, RTP demux and channel decisions to stderr; run
 * with DEBUG=pw:browser to see them (e.g. "Failed to unprotect SRTP packet, err=7": keys that differ).
 */
const LOG_ARGS = process.env.DRAKE_CHROMIUM_LOG ? ['--enable-logging=stderr', '--v=0', '--vmodule=*srtp*=3,*rtp_transport*=3,*demux*=3,*channel*=1'] : [];

/**
 * Launches headless Chromium. Playwright gives every launch a fresh temporary user-data-dir
 * (it refuses a --user-data-dir argument for launch()) and removes it in browser.close().
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('Chromium not found: install it with `apt-get install -y chromium` or set CHROMIUM_PATH');
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS, ...LOG_ARGS, ...extraArgs], timeout: 30_000 });
}

/** Video frames the player page (/player/:id, window.drakePlayer) has decoded so far, from its getStats(). */
export async function playerFramesDecoded(page: Page): Promise<number> {
  return (await page.evaluate(`(async () => {
    const pc = window.drakePlayer && window.drakePlayer.pc;
    if (!pc) return 0;
    let frames = 0;
    (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && (r.kind ?? r.mediaType) === 'video') frames = r.framesDecoded ?? 0; });
    return frames;
  })()`)) as number;
}

/**
 * The player page's peer connection as Chromium sees it (ICE and DTLS state, candidate pairs with their
 * checks, the video's receive/decode counters, the <video> element), for a failure message: tells a stalled
 * ICE or DTLS handshake from media that arrives but is not decoded or not shown.
 */
export async function playerConnection(page: Page): Promise<unknown> {
  return page
    .evaluate(`(async () => {
      const pc = window.drakePlayer && window.drakePlayer.pc;
      if (!pc) return null;
      const el = document.getElementById('video');
      const out = { ice: pc.iceConnectionState, connection: pc.connectionState, transport: null, pairs: [], video: null,
        element: el && { readyState: el.readyState, paused: el.paused, width: el.videoWidth } };
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'transport') out.transport = { dtls: r.dtlsState, ice: r.iceState, bytesSent: r.bytesSent, bytesReceived: r.bytesReceived };
        if (r.type === 'candidate-pair') out.pairs.push({ state: r.state, nominated: r.nominated, requestsSent: r.requestsSent, responsesReceived: r.responsesReceived });
        if (r.type === 'inbound-rtp' && (r.kind ?? r.mediaType) === 'video') {
          out.video = { packetsReceived: r.packetsReceived, packetsLost: r.packetsLost, framesReceived: r.framesReceived, framesDecoded: r.framesDecoded,
            keyFramesDecoded: r.keyFramesDecoded, framesDropped: r.framesDropped, pliCount: r.pliCount, nackCount: r.nackCount, frameWidth: r.frameWidth };
        }
      });
      return out;
    })()`)
    .catch((err: unknown) => `getStats failed: ${String(err)}`);
}
