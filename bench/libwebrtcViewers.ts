// Child-process runner of libwebrtc load viewers (@roamhq/wrtc), spawned by bench/lib/libwebrtcGenerator.ts.
// wrtc crashes inside worker_threads (a native handle made outside a HandleScope), hence processes.
//
// These viewers talk back like a browser that cannot decode: wrtc's libwebrtc has no H264, so the
// offer is posted with its VP8 payload type renamed H264 and drake's answer is renamed back. libwebrtc
// then receives drake's H264 as "VP8", fails to decode it, and sends PLI about 5 times a second on top
// of its RTCP receiver reports and NACKs. Counters come from getStats() (libwebrtc decrypts every
// packet itself; nothing is sampled), and arrival is polled, so join times are ±POLL_MS.
//
//   parent → child  {type:'task', task}, then the MainToWorker messages of bench/loadViewer.ts
//   child → parent  {type:'ready'} once wrtc loaded ({type:'failed'} and exit when it cannot),
//                   the WorkerToMain messages, then {type:'result', results} or {type:'failed', message}
import { createRequire } from 'node:module';
import type { MainToWorker, ViewerCounters, ViewerResult, WorkerToMain } from './loadViewer.ts';
import { runLoadTask, WhepViewer, type LoadTask } from './lib/whepViewer.ts';

export type ParentToChild = { type: 'task'; task: LoadTask } | MainToWorker;
export type ChildToParent = { type: 'ready' } | { type: 'result'; results: ViewerResult[] } | { type: 'failed'; message: string } | WorkerToMain;

/** The parts of wrtc's RTCPeerConnection used here (the project has no DOM typings). */
interface WrtcPeerConnection {
  createOffer(): Promise<{ type: 'offer'; sdp: string }>;
  setLocalDescription(d: { type: 'offer'; sdp: string }): Promise<void>;
  setRemoteDescription(d: { type: 'answer'; sdp: string }): Promise<void>;
  addTransceiver(kind: 'video' | 'audio', init: { direction: 'recvonly' }): unknown;
  getStats(): Promise<{ forEach(cb: (s: Record<string, unknown>) => void): void }>;
  close(): void;
  readonly localDescription: { sdp: string } | null;
  readonly iceGatheringState: string;
  readonly connectionState: string;
  onicegatheringstatechange: (() => void) | null;
  onconnectionstatechange: (() => void) | null;
}
type Wrtc = { RTCPeerConnection: new (config: { iceServers: [] }) => WrtcPeerConnection };

const POLL_MS = 100;
const H264_FMTP = 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f';

/** The offer drake gets: libwebrtc's VP8 payload type presented as H264 (drake serves H264 only). */
export function vp8AsH264(offer: string): string {
  return offer.replace(/a=rtpmap:(\d+) VP8\/90000\r\n/, (_m, pt: string) => `a=rtpmap:${pt} H264/90000\r\na=fmtp:${pt} ${H264_FMTP}\r\n`);
}

/** The answer libwebrtc gets: drake's H264 payload type back to VP8, without its H264 fmtp. */
export function h264AsVp8(answer: string): string {
  const pt = /a=rtpmap:(\d+) H264\/90000/.exec(answer)?.[1];
  if (!pt) return answer;
  return answer.replace(`a=rtpmap:${pt} H264/90000`, `a=rtpmap:${pt} VP8/90000`).replace(new RegExp(`a=fmtp:${pt} [^\\r\\n]*\\r\\n`), '');
}

const ZERO: ViewerCounters = { packets: 0, bytes: 0, videoPackets: 0, audioPackets: 0, videoUnique: 0, videoExpected: 0, videoDup: 0, nacksSent: 0, plisSent: 0 };

class LibwebrtcViewer extends WhepViewer {
  readonly #wrtc: Wrtc;
  #pc: WrtcPeerConnection | null = null;
  #poll: NodeJS.Timeout | null = null;
  /** The last counters read: a closed connection reports none. */
  #last: ViewerCounters = ZERO;

  constructor(index: number, wrtc: Wrtc) {
    super(index);
    this.#wrtc = wrtc;
  }

  async prepare(): Promise<string> {
    this.#stopPoll();
    this.#pc?.close();
    const pc = new this.#wrtc.RTCPeerConnection({ iceServers: [] });
    this.#pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.onconnectionstatechange = () => {
      if (pc !== this.#pc) return;
      if (pc.connectionState === 'connected' && !this.connectedAt) this.connectedAt = Date.now();
      if (pc.connectionState === 'failed') this.fail('connection failed');
    };
    const gathered = new Promise<void>((resolve) => {
      pc.onicegatheringstatechange = () => {
        if (pc.iceGatheringState === 'complete') resolve();
      };
    });
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== 'complete') await gathered;
    return vp8AsH264(pc.localDescription!.sdp);
  }

  protected async accept(answer: string): Promise<void> {
    await this.#pc!.setRemoteDescription({ type: 'answer', sdp: h264AsVp8(answer) });
    // libwebrtc has no per-packet hook: watch the counters until video arrives.
    this.#poll = setInterval(() => {
      void this.counters().then((c) => {
        if (c.packets > 0 && !this.firstPacketAt) this.firstPacketAt = Date.now();
        if (c.videoPackets > 0) {
          this.#stopPoll();
          this.gotVideo();
        }
      });
    }, POLL_MS);
  }

  #stopPoll(): void {
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
  }

  async counters(): Promise<ViewerCounters> {
    const pc = this.#pc;
    if (!pc || pc.connectionState === 'closed') return this.#last;
    const report = await pc.getStats();
    const c = { ...ZERO };
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const n = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : 0);
      c.packets += n('packetsReceived');
      c.bytes += n('bytesReceived');
      if ((s.kind ?? s.mediaType) !== 'video') {
        c.audioPackets += n('packetsReceived');
        return;
      }
      c.videoPackets += n('packetsReceived');
      c.videoUnique += n('packetsReceived');
      c.videoExpected += n('packetsReceived') + n('packetsLost');
      c.nacksSent += n('nackCount');
      c.plisSent += n('pliCount');
    });
    this.#last = c;
    return c;
  }

  protected async closePc(): Promise<void> {
    this.#stopPoll();
    this.#pc?.close();
  }
}

function send(m: ChildToParent): void {
  process.send?.(m);
}

let wrtc: Wrtc;
try {
  wrtc = createRequire(import.meta.url)('@roamhq/wrtc') as Wrtc;
} catch (err) {
  send({ type: 'failed', message: `@roamhq/wrtc: ${err instanceof Error ? err.message : String(err)}` });
  process.exit(1);
}
// The bench is gone (killed without cleaning up): nothing left to serve.
process.on('disconnect', () => process.exit(0));
let current: ((m: MainToWorker) => void) | null = null;
process.on('message', (m: ParentToChild) => {
  if (m.type !== 'task') {
    current?.(m);
    return;
  }
  const viewers = Array.from({ length: m.task.viewers }, (_, i) => new LibwebrtcViewer(m.task.firstIndex + i, wrtc));
  const link = {
    post: send,
    onMessage: (cb: (m: MainToWorker) => void) => (current = cb),
    close: () => (current = null),
  };
  runLoadTask(m.task, viewers, link).then(
    (results) => send({ type: 'result', results }),
    (err: unknown) => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
  );
});
send({ type: 'ready' });
