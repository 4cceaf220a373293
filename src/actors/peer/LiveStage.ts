// One live flush of the shared port, staged once for all of the shard's viewers: the packets copied back to back
// into one buffer (so that a viewer's share is protected in one native call, protectRun, instead of one call
// per packet), with what every viewer would otherwise work out again per packet: kind, RTP timestamp, whether
// a video packet starts a keyframe, payload bytes per kind. Reused for every flush; nothing is allocated.
import { h264NalTypeMask, NAL, rtpHeaderEnd } from '../../shared/h264.ts';
import { BATCH_MTU } from './BatchSend.ts';

const KEYFRAME_START = (1 << NAL.IDR) | (1 << NAL.SPS);

export class LiveStage {
  readonly max: number;
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lens: Uint32Array;
  /** 0 video, 1 audio (protectRun's kinds). */
  readonly kinds: Uint8Array;
  readonly timestamps: Uint32Array;
  /** 1 where a video packet starts a keyframe (SPS or IDR). */
  readonly keyStarts: Uint8Array;
  /** The staged packets themselves (the NACK history keeps references to them). */
  readonly pkts: Array<Buffer | null>;
  count = 0;
  videoCount = 0;
  audioCount = 0;
  /** Bytes after the fixed 12-byte header, per kind (the senders' SR octet counts). */
  videoOctets = 0;
  audioOctets = 0;
  /** RTP timestamp of the last video / audio packet staged (-1: none). */
  lastVideoTs = -1;
  lastAudioTs = -1;

  constructor(max: number) {
    this.max = max;
    this.buf = Buffer.allocUnsafe(max * BATCH_MTU);
    this.offsets = new Uint32Array(max);
    this.lens = new Uint32Array(max);
    this.kinds = new Uint8Array(max);
    this.timestamps = new Uint32Array(max);
    this.keyStarts = new Uint8Array(max);
    this.pkts = new Array<Buffer | null>(max).fill(null);
  }

  /**
   * Stages the first `n` packets (n ≤ max). false, with nothing staged, when one of them is not a well-formed RTP
   * packet of at most BATCH_MTU bytes: the flush then goes the per-packet way, which checks each on its own.
   */
  fill(pkts: ReadonlyArray<Buffer | null>, isVideo: Uint8Array, n: number): boolean {
    this.clear();
    if (n > this.max) return false;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const pkt = pkts[i]!;
      const len = pkt.length;
      if (len > BATCH_MTU || rtpHeaderEnd(pkt) < 0) {
        this.clear();
        return false;
      }
      this.count = i + 1; // so that clear() forgets what is staged so far
      pkt.copy(this.buf, at);
      this.offsets[i] = at;
      this.lens[i] = len;
      at += len;
      const ts = pkt.readUInt32BE(4);
      this.timestamps[i] = ts;
      this.pkts[i] = pkt;
      if (isVideo[i]) {
        this.kinds[i] = 0;
        this.keyStarts[i] = h264NalTypeMask(pkt) & KEYFRAME_START ? 1 : 0;
        this.videoCount++;
        this.videoOctets += len - 12;
        this.lastVideoTs = ts;
      } else {
        this.kinds[i] = 1;
        this.keyStarts[i] = 0;
        this.audioCount++;
        this.audioOctets += len - 12;
        this.lastAudioTs = ts;
      }
    }
    this.count = n;
    return true;
  }

  /** Forgets the packets (their references too). */
  clear(): void {
    this.pkts.fill(null, 0, this.count);
    this.count = this.videoCount = this.audioCount = this.videoOctets = this.audioOctets = 0;
    this.lastVideoTs = this.lastAudioTs = -1;
  }
}
