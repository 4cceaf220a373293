// A WHEP viewer built on werift (the same stack as the server, so see also the node-datachannel
// viewer for an independent one). Loopback only, non-trickle: the offer carries its candidates.
import { GenericNack, RTCPeerConnection, RTCRtpCodecParameters, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import { dropDefaultStun } from '../../src/actors/peer/PeerSession.ts';

export interface WhepViewer {
  status: number;
  location: string | null;
  /** The session's absolute URL: Location resolved against the URL that answered (after any redirect). */
  sessionUrl: string | null;
  /** The URL that answered the POST (differs from the one posted to after a redirect). */
  answeredBy: string;
  etag: string | null;
  answer: string;
  headers: Headers;
  pc: RTCPeerConnection;
  video: Buffer[];
  audio: number;
  connectedAt: number | null;
  postedAt: number;
  close(): Promise<void>;
  /** Sends RTCP PLI for the received video SSRC. */
  sendPli(): Promise<void>;
  /** Sends a generic NACK for these video sequence numbers. */
  sendNack(seqs: number[]): Promise<void>;
}

export interface ViewerOptions {
  audio?: boolean;
  video?: 'h264' | 'vp8';
  headers?: Record<string, string>;
  /** Keep at most this many video packets (0: count only). */
  keepVideo?: number;
}

/** The viewer's werift peer: loopback only, H264 (or VP8) and Opus, no header extensions. */
export function viewerPeer(opts: Pick<ViewerOptions, 'video'> = {}): RTCPeerConnection {
  const video =
    opts.video === 'vp8'
      ? new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] })
      : new RTCRtpCodecParameters({
          mimeType: 'video/H264',
          clockRate: 90000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
          parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
        });
  return new RTCPeerConnection({
    // As the player page (and browsers) do. werift's default gathers a transport per m-line and, once the
    // answer bundles them, drops the audio one without closing its sockets (two UDP sockets per viewer).
    bundlePolicy: 'max-bundle',
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceFilterCandidatePair: (p) => p.remoteCandidate.host === '127.0.0.1' && p.localCandidate.host === '127.0.0.1',
    codecs: { video: [video], audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] },
    headerExtensions: { video: [], audio: [] },
  });
}

/** Creates the offer, waits for gathering to finish and returns the local SDP (candidates included). */
export async function gatheredOffer(pc: RTCPeerConnection): Promise<string> {
  const offer = await pc.createOffer();
  dropDefaultStun(pc);
  await pc.setLocalDescription(offer);
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve());
  });
  return pc.localDescription!.sdp;
}

export async function whepView(url: string, opts: ViewerOptions = {}): Promise<WhepViewer> {
  const pc = viewerPeer(opts);
  const viewer: WhepViewer = {
    status: 0,
    location: null,
    sessionUrl: null,
    answeredBy: '',
    etag: null,
    answer: '',
    headers: new Headers(),
    pc,
    video: [],
    audio: 0,
    connectedAt: null,
    postedAt: 0,
    close: async () => {
      await pc.close();
    },
    sendPli: async () => undefined,
    sendNack: async () => undefined,
  };
  const keep = opts.keepVideo ?? 10_000;
  let videoCount = 0;
  const vt = pc.addTransceiver('video', { direction: 'recvonly' });
  vt.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      videoCount++;
      if (viewer.video.length < keep) viewer.video.push(rtp.serialize());
    }),
  );
  if (opts.audio !== false) {
    const at = pc.addTransceiver('audio', { direction: 'recvonly' });
    at.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => viewer.audio++));
  }
  viewer.sendPli = async () => {
    const ssrc = viewer.video.length ? viewer.video[viewer.video.length - 1]!.readUInt32BE(8) : 0;
    await vt.receiver.sendRtcpPLI(ssrc);
  };
  viewer.sendNack = async (seqs) => {
    const ssrc = viewer.video.length ? viewer.video[viewer.video.length - 1]!.readUInt32BE(8) : 0;
    const nack = new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost: seqs });
    await vt.receiver.dtlsTransport.sendRtcp([new RtcpTransportLayerFeedback({ feedback: nack })]);
  };
  Object.defineProperty(viewer, 'videoCount', { get: () => videoCount });
  pc.connectionStateChange.subscribe((s) => {
    if (s === 'connected') viewer.connectedAt = Date.now();
  });
  const sdp = await gatheredOffer(pc);
  viewer.postedAt = Date.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp', ...(opts.headers ?? {}) }, body: sdp });
  viewer.status = res.status;
  viewer.headers = res.headers;
  viewer.location = res.headers.get('location');
  viewer.answeredBy = res.url;
  viewer.sessionUrl = viewer.location ? new URL(viewer.location, res.url).href : null;
  viewer.etag = res.headers.get('etag');
  viewer.answer = await res.text();
  if (res.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: viewer.answer });
  else await pc.close();
  return viewer;
}

export function videoCount(v: WhepViewer): number {
  return (v as unknown as { videoCount: number }).videoCount;
}
