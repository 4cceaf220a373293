// The stream actor's RTP sockets on 127.0.0.1: FFmpeg's WebRTC legs send here. One socket per
// medium; RTCP sender reports (which FFmpeg sends to the same port with udp://) and anything that
// is not RTP v2 are dropped and counted, never parsed further.
import { createSocket, type Socket } from 'node:dgram';
import { ownCopy, rtpPayloadOffset } from '../../shared/h264.ts';
import { BatchReceiver, ipv4Number } from '../../shared/srtp/index.ts';

/** Natively read datagrams (BatchReceiver): FFmpeg's RTP is ≤ its pkt_size (1200 here); longer ones are cut and dropped. */
const RECV_SLOT = 2048;
const RECV_BATCH = 64;
const LOOPBACK = ipv4Number('127.0.0.1');

export interface IngestCounters {
  packets: number;
  bytes: number;
  dropped: number;
  lastAt: number;
  /** Datagrams from another source port than the FFmpeg run's (a stray or hostile local sender). */
  foreign: number;
  /** Datagrams the kernel dropped because the socket's receive buffer was full (native reader only; 0 otherwise). */
  kernelDropped: number;
}

export type MediaKind = 'video' | 'audio';

export class RtpIngest {
  readonly #sockets = new Map<MediaKind, Socket>();
  readonly #readers: BatchReceiver[] = [];
  readonly counters: Record<MediaKind, IngestCounters> = {
    video: { packets: 0, bytes: 0, dropped: 0, lastAt: 0, foreign: 0, kernelDropped: 0 },
    audio: { packets: 0, bytes: 0, dropped: 0, lastAt: 0, foreign: 0, kernelDropped: 0 },
  };
  /** Per medium, the source port of this run's FFmpeg leg: its first valid RTP packet sets it. */
  readonly #sender: Record<MediaKind, number> = { video: 0, audio: 0 };
  readonly #onPacket: (kind: MediaKind, pkt: Buffer, arrivedAt: number) => void;

  /** arrivedAt: performance.now() when the packet reached drake (for the latency histogram). */
  constructor(onPacket: (kind: MediaKind, pkt: Buffer, arrivedAt: number) => void) {
    this.#onPacket = onPacket;
  }

  /** Binds both sockets on ephemeral loopback ports; returns the ports for FFmpeg's outputs. */
  async open(): Promise<Record<MediaKind, number>> {
    const ports = {} as Record<MediaKind, number>;
    for (const kind of ['video', 'audio'] as const) {
      const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, '127.0.0.1', () => {
          socket.off('error', reject);
          resolve();
        });
      });
      this.#sockets.set(kind, socket);
      const reader = BatchReceiver.open(socket, RECV_SLOT, RECV_BATCH, (count) => this.#receiveBatch(kind, reader!, count));
      if (reader) this.#readers.push(reader);
      else socket.on('message', (msg, rinfo) => this.#receive(kind, msg, ipv4Number(rinfo.address), rinfo.port, performance.now()));
      ports[kind] = socket.address().port;
    }
    return ports;
  }

  #receiveBatch(kind: MediaKind, reader: BatchReceiver, count: number): void {
    const arrivedAt = performance.now();
    for (let i = 0; i < count && this.#sockets.size > 0; i++) {
      if (reader.truncated(i)) this.counters[kind].dropped++;
      // A copy: the slot is reused by the next batch, and the ring's readers, the GOP cache and the viewers'
      // NACK history keep the packet.
      else this.#receive(kind, ownCopy(reader.view(i)), reader.ip(i), reader.port(i), arrivedAt);
    }
    this.counters[kind].kernelDropped = reader.kernelDropped;
  }

  #receive(kind: MediaKind, msg: Buffer, ip: number, port: number, arrivedAt: number): void {
    const c = this.counters[kind];
    const pt = msg.length >= 2 ? msg[1]! & 0x7f : 0;
    // Any local process can write to these ports. A header whose CSRC list, extension or padding runs
    // past the datagram would make the batch SRTP step throw for every viewer and end the stream worker.
    if (ip !== LOOPBACK || msg.length < 12 || msg[0]! >> 6 !== 2 || (pt >= 72 && pt <= 76) || rtpPayloadOffset(msg) < 0) {
      c.dropped++;
      return;
    }
    // One FFmpeg leg per socket and run: another local process writing to the port must not splice
    // its packets into the viewers' stream.
    const from = this.#sender[kind];
    if (from === 0) this.#sender[kind] = port;
    else if (from !== port) {
      c.dropped++;
      c.foreign++;
      return;
    }
    c.packets++;
    c.bytes += msg.length;
    c.lastAt = Date.now();
    this.#onPacket(kind, msg, arrivedAt);
  }

  /** A new FFmpeg run: its legs send from new ports. */
  expectNewSender(): void {
    this.#sender.video = 0;
    this.#sender.audio = 0;
  }

  close(): void {
    for (const r of this.#readers) r.close();
    this.#readers.length = 0;
    for (const s of this.#sockets.values()) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.#sockets.clear();
  }
}
