// Shared by the SRT tests: whether the native/srt addon is built, and FFmpeg as an SRT caller.
import { createSocket } from 'node:dgram';
import { loadSrtAddon } from '../../src/ingest/srt/addon.ts';

const loaded = loadSrtAddon();
export const srtAddon = loaded.addon;
/** A test's skip reason where the addon is not built (no libsrt headers at npm install). */
export const skipNative: string | false = loaded.addon ? false : `SRT addon not built (${loaded.error})`;

/** An SRT caller URL as an encoder writes it by hand (FFmpeg passes the stream id on unescaped). */
export const callerUrl = (port: number, streamid: string, extra = '') => `srt://127.0.0.1:${port}?streamid=${streamid}${extra}`;

/** FFmpeg arguments that publish a small test pattern as MPEG-TS to `target` for `seconds`. */
export const publishArgs = (target: string, seconds: number) => [
  '-re', '-f', 'lavfi', '-t', String(seconds), '-i', 'testsrc=size=160x120:rate=25',
  '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-f', 'mpegts', target,
];

/** true when 127.0.0.1:`port` can be bound for UDP now (released again at once). */
export function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
