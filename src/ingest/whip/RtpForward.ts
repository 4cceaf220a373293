// The processes that read a WHIP stream ({whip,name=…}): each one is an FFmpeg whose SDP input listens
// on two loopback port pairs drake picked; the publish actor sends every packet there once per reader.
// The sockets are connected, so a reader that is gone (FFmpeg exited, its port closed) shows as a send
// error (ICMP port unreachable) and is dropped: no bookkeeping with the process that read the SDP.
import { createSocket, type Socket } from 'node:dgram';
import type { MediaKind } from '../../shared/ring.ts';

interface Reader {
  video: Socket;
  audio: Socket;
  /** One callback per reader (not one per packet): it drops the reader on the first failed send. */
  onSent: (err: Error | null) => void;
  dead: boolean;
  addedAt: number;
}

const MAX_READERS = 32;
/** FFmpeg binds its ports a moment after it read the SDP: refusals before that do not end the reader. */
const BIND_GRACE_MS = 10_000;

function bindLoopback(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

async function closeAll(sockets: Array<Socket | null>): Promise<void> {
  await Promise.all(sockets.map((s) => (s ? new Promise<void>((r) => s.close(() => r())) : undefined)));
}

/**
 * An even loopback UDP port whose odd neighbour is free too (FFmpeg's RTP input binds port and port+1
 * for RTCP). Free a moment ago: FFmpeg binds it right after reading the SDP.
 */
export async function freeRtpPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await bindLoopback(0);
    if (!probe) continue;
    const port = probe.address().port & ~1;
    await closeAll([probe]);
    if (port < 1024 || port > 65532) continue;
    const pair = [await bindLoopback(port), await bindLoopback(port + 1)];
    await closeAll(pair);
    if (pair[0] && pair[1]) return port;
  }
  throw new Error('no free loopback UDP port pair for a WHIP reader');
}

export class RtpForward {
  readonly #readers: Reader[] = [];

  get size(): number {
    return this.#readers.length;
  }

  /** Starts sending to FFmpeg's RTP ports; returns them (video, audio). */
  async add(): Promise<{ video: number; audio: number }> {
    if (this.#readers.length >= MAX_READERS) throw new Error(`a WHIP stream has at most ${MAX_READERS} process readers`);
    const video = await freeRtpPortPair();
    let audio = await freeRtpPortPair();
    while (audio === video) audio = await freeRtpPortPair();
    const sockets = { video: createSocket('udp4'), audio: createSocket('udp4') };
    const gone = () => {
      if (Date.now() - reader.addedAt > BIND_GRACE_MS) this.#drop(reader);
    };
    const reader: Reader = { ...sockets, dead: false, addedAt: Date.now(), onSent: (err) => err && gone() };
    for (const [kind, s] of Object.entries(sockets)) {
      s.on('error', gone);
      await new Promise<void>((resolve) => s.connect(kind === 'video' ? video : audio, '127.0.0.1', () => resolve()));
    }
    this.#readers.push(reader);
    return { video, audio };
  }

  send(kind: MediaKind, pkt: Buffer): void {
    for (const r of this.#readers) if (!r.dead) (kind === 'video' ? r.video : r.audio).send(pkt, r.onSent);
  }

  #drop(r: Reader): void {
    if (r.dead) return;
    r.dead = true;
    const i = this.#readers.indexOf(r);
    if (i >= 0) this.#readers.splice(i, 1);
    for (const s of [r.video, r.audio]) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }

  close(): void {
    for (const r of [...this.#readers]) this.#drop(r);
  }
}
