// Cheap WHEP load viewers for the benchmarks, run inside piscina workers (bench/loadWorker.mjs).
// Each viewer is a real werift RTCPeerConnection (ICE + DTLS + SRTP on 127.0.0.1, like
// test/helpers/whepClient.ts) that only counts what it receives; werift's receiver sends RTCP
// receiver reports and NACKs by itself, as a browser would. Nothing is decoded.
// Decryption is sampled: every packet until the viewer's first keyframe start (so join times are
// measured on real media), then 1 in DECRYPT_EVERY (decrypted and authenticated: a wrong key or a
// corrupted packet still shows as loss); the others are counted from their RTP header, which SRTP
// leaves in the clear. werift's JS decryption was most of the generator's CPU, which capped the
// levels a 2-core box could load.
// werift 0.24 falls back to stun.l.google.com:19302 when no STUN server is configured; the viewers
// switch that off (loopback only: a STUN query can only stall their gathering).
//
// A task = join `viewers` viewers to `url`, then either run `durationMs` and return, or (with a
// control `port`) follow the main thread's messages:
//   worker → main  {type:'prepared'}                  offers made (only with waitGo)
//   main → worker  {type:'go'}                        POST now (only with waitGo)
//   worker → main  {type:'joined', ok, failed}        every viewer has video or has failed/timed out
//   main → worker  {type:'mark', tag}  → {type:'mark', tag, at, counters}   snapshot of the counters
//   main → worker  {type:'leave'}                     DELETE + close; the task resolves with the results
import type { MessagePort } from 'node:worker_threads';
import { RTCPeerConnection, RTCRtpCodecParameters, type RtpPacket } from 'werift';
import { runLoadTask, WhepViewer, type TaskLink } from './lib/whepViewer.ts';

export interface ViewerTask {
  /** WHEP endpoint, e.g. http://127.0.0.1:1234/whep/bench */
  url: string;
  viewers: number;
  /** Index of this task's first viewer (for labels). */
  firstIndex: number;
  /** Without a port: how long to stay after joining. With a port: an upper bound (the task leaves by itself). */
  durationMs: number;
  /** A viewer without video this long after its POST counts as failed. */
  joinTimeoutMs: number;
  /** POSTs in flight at once in this worker (0: all at once). */
  joinConcurrency: number;
  /** A POST answered with an error (or a network failure) is tried again this many times, 300 ms apart (new offer each time). */
  retries?: number;
  /** Make every offer first, report 'prepared', POST on 'go' (join storm). Needs a port. */
  waitGo?: boolean;
  /** Send a PLI this often once video arrives (libwebrtc that cannot decode sends about 4 a second). 0: never. */
  pliEveryMs?: number;
  port?: MessagePort;
}

/** Cumulative counters of one viewer at a mark. */
export interface ViewerCounters {
  packets: number;
  bytes: number;
  videoPackets: number;
  audioPackets: number;
  /** Video: distinct sequence numbers received, and the span first..highest (extended). */
  videoUnique: number;
  videoExpected: number;
  videoDup: number;
  /** RTCP NACK packets this viewer's receiver sent. */
  nacksSent: number;
  /** PLIs this viewer sent (pliEveryMs). */
  plisSent: number;
}

export interface ViewerResult extends ViewerCounters {
  index: number;
  /** Packets this viewer decrypted (all until its first keyframe, then a sample). */
  decrypted: number;
  status: number;
  /** POSTs made (1 + retries used); failedStatuses: the status of each failed one (0: network error). */
  attempts: number;
  failedStatuses: number[];
  error?: string;
  /** ms from sending the POST to: the 201, ICE+DTLS connected, first RTP, first video RTP, first keyframe start. null: never. */
  answerMs: number | null;
  connectedMs: number | null;
  firstPacketMs: number | null;
  firstVideoMs: number | null;
  firstKeyframeMs: number | null;
  postedAt: number;
}

export type WorkerToMain =
  | { type: 'prepared' }
  | { type: 'joined'; ok: number; failed: number }
  | { type: 'mark'; tag: string; at: number; counters: ViewerCounters[] }
  | { type: 'error'; message: string };
export type MainToWorker = { type: 'go' } | { type: 'mark'; tag: string } | { type: 'leave' };

/** H264 RTP payload that starts a keyframe: IDR or SPS alone, in a STAP-A, or the first FU-A fragment of an IDR. */
export function startsKeyframe(p: Buffer): boolean {
  if (p.length < 2) return false;
  const t = p[0]! & 0x1f;
  if (t === 5 || t === 7) return true;
  if (t === 24) {
    for (let o = 1; o + 2 < p.length; ) {
      const size = p.readUInt16BE(o);
      const nt = p[o + 2]! & 0x1f;
      if (nt === 5 || nt === 7) return true;
      o += 2 + size;
    }
    return false;
  }
  if (t === 28) return (p[1]! & 0x80) !== 0 && (p[1]! & 0x1f) === 5;
  return false;
}

/** After a viewer's first keyframe, one packet in this many is decrypted. */
const DECRYPT_EVERY = 32;
/** werift's SRTP profile id for AEAD_AES_128_GCM (16-byte tag); the other one it offers, AES_CM_128_HMAC_SHA1_80, has 10. */
const PROFILE_GCM = 7;

/** The parts of werift's RTCDtlsTransport the sampling touches. */
interface DtlsInternals {
  srtp?: { decrypt(data: Buffer): Buffer };
  dtls?: { srtp?: { srtpProfile?: number } };
}

class LoadViewer extends WhepViewer {
  pc: RTCPeerConnection | null = null;
  packets = 0;
  bytes = 0;
  videoPackets = 0;
  audioPackets = 0;
  videoUnique = 0;
  videoDup = 0;
  nacksSent = 0;
  readonly #sampled = new WeakSet<object>();
  #firstExt = -1;
  #highestExt = -1;
  /** 1 per sequence number seen recently; slots half a cycle ahead are cleared as the highest advances. */
  readonly #seen = new Uint8Array(65536);

  readonly #pliEveryMs: number;
  #pliTimer: NodeJS.Timeout | null = null;
  plisSent = 0;

  constructor(index: number, pliEveryMs = 0) {
    super(index);
    this.#pliEveryMs = pliEveryMs;
  }

  #newPc(): RTCPeerConnection {
    const pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceFilterCandidatePair: (p) => p.remoteCandidate.host === '127.0.0.1' && p.localCandidate.host === '127.0.0.1',
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: 'video/H264',
            clockRate: 90000,
            rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
            parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
          }),
        ],
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      },
      headerExtensions: { video: [], audio: [] },
    });
    const vt = pc.addTransceiver('video', { direction: 'recvonly' });
    vt.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => this.#video(rtp)));
    vt.receiver.onPacketLost.subscribe(() => this.nacksSent++);
    const at = pc.addTransceiver('audio', { direction: 'recvonly' });
    at.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => this.#audio(rtp)));
    pc.connectionStateChange.subscribe((s) => {
      if (pc !== this.pc) return;
      if (s === 'connected' && !this.connectedAt) this.connectedAt = Date.now();
      if (s === 'failed') this.fail('connection failed');
    });
    return pc;
  }

  /** Wraps the SRTP session of each of the connection's DTLS transports (see the top of the file). */
  #sampleDecryption(pc: RTCPeerConnection): void {
    for (const t of pc.getTransceivers()) {
      const dtls = t.dtlsTransport as unknown as DtlsInternals | undefined;
      const srtp = dtls?.srtp;
      if (!srtp || this.#sampled.has(srtp)) continue;
      this.#sampled.add(srtp);
      const decrypt = srtp.decrypt.bind(srtp);
      const tag = dtls.dtls?.srtp?.srtpProfile === PROFILE_GCM ? 16 : 10;
      let n = 0;
      srtp.decrypt = (data: Buffer): Buffer => {
        if (!this.firstKeyframeAt || n++ % DECRYPT_EVERY === 0) {
          this.decrypted++;
          return decrypt(data);
        }
        return data.subarray(0, data.length - tag);
      };
    }
  }

  #count(rtp: RtpPacket): void {
    const now = Date.now();
    if (!this.firstPacketAt) {
      this.firstPacketAt = now;
      if (this.pc) this.#sampleDecryption(this.pc);
    }
    this.packets++;
    this.bytes += rtp.payload.length + 12;
  }

  #video(rtp: RtpPacket): void {
    this.#count(rtp);
    this.videoPackets++;
    if (!this.firstVideoAt) {
      this.gotVideo();
      if (this.#pliEveryMs > 0) this.#startPliFlood(rtp.header.ssrc);
    }
    if (!this.firstKeyframeAt && startsKeyframe(rtp.payload)) this.firstKeyframeAt = Date.now();
    const seq = rtp.header.sequenceNumber;
    if (this.#firstExt < 0) {
      this.#firstExt = this.#highestExt = seq;
      this.#seen[seq] = 1;
      this.videoUnique = 1;
      return;
    }
    // Extend relative to the highest: within ±half a cycle.
    const hiSeq = this.#highestExt & 0xffff;
    let d = (seq - hiSeq) & 0xffff;
    if (d >= 0x8000) d -= 0x10000;
    const ext = this.#highestExt + d;
    if (ext < this.#firstExt) return; // before the start: ignore
    if (this.#seen[seq]) {
      this.videoDup++;
      return;
    }
    if (d > 0) {
      for (let s = 1; s <= Math.min(d, 0x8000); s++) this.#seen[(hiSeq + s + 0x8000) & 0xffff] = 0;
      this.#highestExt = ext;
    }
    this.#seen[seq] = 1;
    this.videoUnique++;
  }

  #startPliFlood(ssrc: number): void {
    const receiver = this.pc?.getTransceivers().find((t) => t.kind === 'video')?.receiver;
    if (!receiver) return;
    this.#pliTimer = setInterval(() => {
      this.plisSent++;
      void Promise.resolve(receiver.sendRtcpPLI(ssrc)).catch(() => undefined);
    }, this.#pliEveryMs);
  }

  #audio(rtp: RtpPacket): void {
    this.#count(rtp);
    this.audioPackets++;
  }

  counters(): ViewerCounters {
    return {
      packets: this.packets,
      bytes: this.bytes,
      videoPackets: this.videoPackets,
      audioPackets: this.audioPackets,
      videoUnique: this.videoUnique,
      videoExpected: this.#firstExt < 0 ? 0 : this.#highestExt - this.#firstExt + 1,
      videoDup: this.videoDup,
      nacksSent: this.nacksSent,
      plisSent: this.plisSent,
    };
  }

  async prepare(): Promise<string> {
    const old = this.pc;
    this.pc = null;
    await old?.close().catch(() => undefined);
    const pc = this.#newPc();
    this.pc = pc;
    const offer = await pc.createOffer();
    for (const t of pc.iceTransports) (t.connection as { stunServer?: unknown }).stunServer = undefined;
    await pc.setLocalDescription(offer);
    if (pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const sub = pc.iceGatheringStateChange.subscribe((s) => {
          if (s !== 'complete') return;
          sub.unSubscribe();
          resolve();
        });
      });
    }
    return pc.localDescription!.sdp;
  }

  protected async accept(answer: string): Promise<void> {
    await this.pc!.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  override async leave(): Promise<void> {
    if (this.#pliTimer) clearInterval(this.#pliTimer);
    await super.leave();
  }

  protected async closePc(): Promise<void> {
    await this.pc?.close();
  }
}

export default async function runViewers(task: ViewerTask): Promise<ViewerResult[]> {
  const { port, ...rest } = task;
  const viewers = Array.from({ length: task.viewers }, (_, i) => new LoadViewer(task.firstIndex + i, task.pliEveryMs ?? 0));
  const link: TaskLink | null = port
    ? { post: (m) => port.postMessage(m), onMessage: (cb) => port.on('message', cb), close: () => port.close() }
    : null;
  return runLoadTask(rest, viewers, link);
}
