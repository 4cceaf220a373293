// A WHIP publisher built on werift: FFmpeg encodes a test pattern (H264 baseline, in-band SPS/PPS) and
// a tone (Opus) to RTP on loopback, the werift peer sends both to drake. Loopback only, non-trickle.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtcpPayloadSpecificFeedback } from 'werift';
import { FFMPEG } from './fsServer.ts';
import { gatheredOffer } from './whepClient.ts';

export interface WhipPublisher {
  status: number;
  location: string | null;
  sessionUrl: string | null;
  etag: string | null;
  answer: string;
  headers: Headers;
  pc: RTCPeerConnection;
  /** RTP packets handed to werift (video, audio). */
  sent: { video: number; audio: number };
  /** PLIs drake sent to this publisher. */
  plis: number;
  connectedAt: number | null;
  /** DELETE on the session URL (then closes the peer and FFmpeg); returns the status. */
  unpublish(headers?: Record<string, string>): Promise<number>;
  /** Closes the peer and FFmpeg without telling drake (a publisher that vanishes). */
  vanish(): Promise<void>;
  /** Stops the media only: ICE and DTLS stay up (a stalled encoder). */
  stopMedia(): void;
}

export interface PublisherOptions {
  headers?: Record<string, string>;
  audio?: boolean;
  /** Offer VP8 instead of H264 (drake refuses it). */
  vp8?: boolean;
  /**
   * What FFmpeg encodes instead of the 320x240 test pattern and tone: its input arguments, the video and audio
   * stream specifiers to map, and the x264 arguments (the bench's glass row publishes its stamped clock).
   */
  source?: { input: string[]; video: string; audio: string; x264: string[] };
}

function bindLoopback(): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

export async function whipPublish(url: string, opts: PublisherOptions = {}): Promise<WhipPublisher> {
  const withAudio = opts.audio !== false;
  const video = opts.vp8
    ? new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] })
    : new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      });
  const pc = new RTCPeerConnection({
    bundlePolicy: 'max-bundle', // see viewerPeer (whepClient.ts): werift's default leaks the unbundled transport's sockets
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceFilterCandidatePair: (p) => p.remoteCandidate.host === '127.0.0.1' && p.localCandidate.host === '127.0.0.1',
    codecs: { video: [video], audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] },
    headerExtensions: { video: [], audio: [] },
  });
  const videoTrack = new MediaStreamTrack({ kind: 'video' });
  const audioTrack = new MediaStreamTrack({ kind: 'audio' });
  const vt = pc.addTransceiver(videoTrack, { direction: 'sendonly' });
  if (withAudio) pc.addTransceiver(audioTrack, { direction: 'sendonly' });
  let ffmpeg: ChildProcess | null = null;
  const sockets: Socket[] = [];
  const pub: WhipPublisher = {
    status: 0,
    location: null,
    sessionUrl: null,
    etag: null,
    answer: '',
    headers: new Headers(),
    pc,
    sent: { video: 0, audio: 0 },
    plis: 0,
    connectedAt: null,
    unpublish: async () => 0,
    vanish: async () => undefined,
    stopMedia: () => undefined,
  };
  const stop = async () => {
    ffmpeg?.kill('SIGKILL');
    for (const s of sockets) s.close();
    sockets.length = 0;
    await pc.close().catch(() => undefined);
  };
  pub.vanish = stop;
  pub.stopMedia = () => {
    ffmpeg?.kill('SIGKILL');
  };
  pub.unpublish = async (headers = opts.headers ?? {}) => {
    const res = pub.sessionUrl ? await fetch(pub.sessionUrl, { method: 'DELETE', headers }) : null;
    await stop();
    return res?.status ?? 0;
  };
  vt.sender.onRtcp.subscribe((rtcp) => {
    if (rtcp.type === RtcpPayloadSpecificFeedback.type && (rtcp as RtcpPayloadSpecificFeedback).feedback.count === 1) pub.plis++;
  });
  pc.connectionStateChange.subscribe((s) => {
    if (s === 'connected') pub.connectedAt = Date.now();
  });
  const sdp = await gatheredOffer(pc);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp', ...(opts.headers ?? {}) }, body: sdp });
  pub.status = res.status;
  pub.headers = res.headers;
  pub.location = res.headers.get('location');
  pub.sessionUrl = pub.location ? new URL(pub.location, res.url).href : null;
  pub.etag = res.headers.get('etag');
  pub.answer = await res.text();
  if (res.status !== 201) {
    await pc.close();
    return pub;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: pub.answer });
  const vs = await bindLoopback();
  const as = await bindLoopback();
  sockets.push(vs, as);
  // FFmpeg's RTCP comes to the same sockets (rtcpport): only RTP goes on.
  const rtcp = (m: Buffer) => m.length < 2 || (m[1]! >= 200 && m[1]! <= 206);
  vs.on('message', (m) => {
    if (rtcp(m)) return;
    pub.sent.video++;
    videoTrack.writeRtp(m);
  });
  as.on('message', (m) => {
    if (rtcp(m)) return;
    pub.sent.audio++;
    if (withAudio) audioTrack.writeRtp(m);
  });
  // Keyframes every 2 s only: a viewer or reader that starts quickly owes it to drake's PLI or GOP cache.
  const src = opts.source ?? {
    input: ['-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    video: '0:v',
    audio: '1:a',
    x264: ['-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '50'],
  };
  ffmpeg = spawn(
    FFMPEG,
    [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      ...src.input,
      '-map', src.video, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-profile:v', 'baseline', ...src.x264, '-bsf:v', 'dump_extra',
      '-payload_type', '96', '-f', 'rtp', `rtp://127.0.0.1:${vs.address().port}?pkt_size=1200&rtcpport=${vs.address().port}`,
      '-map', src.audio, '-c:a', 'libopus', '-b:a', '48k', '-payload_type', '111', '-f', 'rtp', `rtp://127.0.0.1:${as.address().port}?pkt_size=1200&rtcpport=${as.address().port}`,
    ],
    { stdio: 'ignore' },
  );
  return pub;
}
