// The edge's side of a relay: one UDP socket on the node's advertise_host that the owner sends the
// stream's RTP to (shared/relayFrame.ts). Frames without this relay's token, and RTP that does not
// parse, are dropped and counted. Gaps in each medium's sequence numbers are counted as relay loss:
// drake does not repair relay loss (see the README's Cluster section): loopback and a LAN lose
// nothing measurable at stream rates, and the viewers' own NACKs are still answered from the edge.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { ownCopy, rtpPayloadOffset, rtpSeq } from '../../shared/h264.ts';
import { BatchReceiver } from '../../shared/srtp/index.ts';
import { RELAY_HEADER, RELAY_TOKEN_BYTES, relayKind, relayStamp } from '../../shared/relayFrame.ts';
import type { RelayInDto } from '../../shared/protocol.ts';
import { LatencyHistogram } from '../../shared/latencyHistogram.ts';

type Kind = 'video' | 'audio';

/** A jump this large is a new sender (the owner restarted FFmpeg or moved), not loss. */
const RESET_GAP = 1000;
/** An owner stamp further from this clock than this is not trusted for latency (other machine, no NTP). */
const STAMP_SANE_MS = 2000;
/** Natively read frames (BatchReceiver): a relay frame is RELAY_HEADER + one RTP packet of ≤ 1200 bytes. */
const RECV_SLOT = 2048;
const RECV_BATCH = 64;

export class RelayIn {
  readonly token = randomBytes(RELAY_TOKEN_BYTES);
  #socket: Socket | null = null;
  #reader: BatchReceiver | null = null;
  readonly #deliver: (kind: Kind, pkt: Buffer, arrivedAt: number) => void;
  readonly #onNewSource: () => void;
  /** The video SSRC seen last: another one is another FFmpeg run (or owner) whose GOP replaces the cached one. */
  #videoSsrc = -1;
  readonly counters: Record<Kind, { packets: number; bytes: number; lost: number; lastAt: number }> = {
    video: { packets: 0, bytes: 0, lost: 0, lastAt: 0 },
    audio: { packets: 0, bytes: 0, lost: 0, lastAt: 0 },
  };
  dropped = 0;
  /** The relay hop alone: owner ingest → arrival here, per packet (when the stamp is usable). */
  readonly #hop = new LatencyHistogram();
  readonly #next: Record<Kind, number> = { video: -1, audio: -1 };

  /** arrivedAt: performance.now() scale, the owner's ingest time when its stamp is usable. */
  constructor(deliver: (kind: Kind, pkt: Buffer, arrivedAt: number) => void, onNewSource: () => void) {
    this.#deliver = deliver;
    this.#onNewSource = onNewSource;
  }

  async open(host: string): Promise<number> {
    const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.#socket = socket;
    const reader = (this.#reader = BatchReceiver.open(socket, RECV_SLOT, RECV_BATCH, (count) => {
      const now = performance.now();
      for (let i = 0; i < count && this.#reader; i++) {
        if (reader!.truncated(i)) this.dropped++;
        else this.#receive(reader!.view(i), now, true);
      }
    }));
    if (!reader) socket.on('message', (msg) => this.#receive(msg, performance.now(), false));
    return socket.address().port;
  }

  /** `inPlace`: `frame` is a reader slot the next batch overwrites (the packet kept is then a copy). */
  #receive(frame: Buffer, now: number, inPlace: boolean): void {
    const k = relayKind(frame, this.token);
    const rtp = k < 0 ? null : frame.subarray(RELAY_HEADER);
    if (!rtp || rtp[0]! >> 6 !== 2 || rtpPayloadOffset(rtp) < 0) {
      this.dropped++;
      return;
    }
    const pkt = inPlace ? ownCopy(rtp) : rtp;
    const kind: Kind = k === 0 ? 'video' : 'audio';
    const c = this.counters[kind];
    if (kind === 'video') {
      const ssrc = pkt.readUInt32BE(8);
      if (ssrc !== this.#videoSsrc) {
        if (this.#videoSsrc !== -1) {
          this.#next.video = -1;
          this.#onNewSource();
        }
        this.#videoSsrc = ssrc;
      }
    }
    const seq = rtpSeq(pkt);
    const want = this.#next[kind];
    if (want >= 0 && seq !== want) {
      const gap = (seq - want + 65536) % 65536;
      if (gap > 0 && gap < RESET_GAP) c.lost += gap;
    }
    this.#next[kind] = (seq + 1) % 65536;
    c.packets++;
    c.bytes += pkt.length;
    c.lastAt = Date.now();
    const stamped = relayStamp(frame) - performance.timeOrigin;
    const sane = stamped <= now && now - stamped < STAMP_SANE_MS;
    if (sane) this.#hop.record((now - stamped) * 1000);
    this.#deliver(kind, pkt, sane ? stamped : now);
  }

  /** A new owner (failover) or FFmpeg run: its sequence numbers start elsewhere. */
  resetSequence(): void {
    this.#next.video = -1;
    this.#next.audio = -1;
  }

  stats(): RelayInDto {
    return { video: { ...this.counters.video }, audio: { ...this.counters.audio }, dropped: this.dropped, hop: this.#hop.snapshot() };
  }

  close(): void {
    this.#reader?.close();
    this.#reader = null;
    try {
      this.#socket?.close();
    } catch {
      // already closed
    }
    this.#socket = null;
  }
}
