// A WHEP viewer on a second, independent stack: libdatachannel (libjuice ICE, OpenSSL DTLS, libsrtp)
// through node-datachannel. It keeps the decrypted video RTP and counts audio RTP.
import ndc from 'node-datachannel';
import { waitFor } from './waitFor.ts';

export interface NdcViewer {
  status: number;
  answer: string;
  location: string | null;
  /** Decrypted video RTP packets (RTCP filtered out). */
  video: Buffer[];
  audioCount(): number;
  /** Connection, ICE and signaling state and bytes received: for a failure message. */
  describe(): string;
  close(): void;
}

/** RTCP arrives on the track callbacks too: payload types 72–79 are not media. */
const isRtp = (m: Buffer) => {
  const pt = m[1]! & 0x7f;
  return pt < 72 || pt > 79;
};

export async function ndcView(url: string): Promise<NdcViewer> {
  const pc = new ndc.PeerConnection('viewer', { iceServers: [], bindAddress: '127.0.0.1' });
  const video = new ndc.Video('0', 'RecvOnly');
  video.addH264Codec(102);
  const audio = new ndc.Audio('1', 'RecvOnly');
  audio.addOpusCodec(111);
  const rtp: Buffer[] = [];
  let audioPackets = 0;
  pc.addTrack(video).onMessage((m) => {
    if (isRtp(m)) rtp.push(Buffer.from(m));
  });
  pc.addTrack(audio).onMessage((m) => {
    if (isRtp(m)) audioPackets++;
  });
  const viewer: NdcViewer = {
    status: 0,
    answer: '',
    location: null,
    video: rtp,
    audioCount: () => audioPackets,
    describe: () => `libdatachannel ${pc.state()}/ice ${pc.iceState()}/${pc.signalingState()}, ${pc.bytesReceived()} bytes in, ${rtp.length} video + ${audioPackets} audio RTP`,
    close: () => pc.close(),
  };
  try {
    pc.setLocalDescription();
    await waitFor('gathering complete', async () => pc.gatheringState() === 'complete');
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription()!.sdp });
    viewer.status = res.status;
    viewer.answer = await res.text();
    viewer.location = res.headers.get('location');
    if (res.status === 201) pc.setRemoteDescription(viewer.answer, 'answer');
  } catch (err) {
    pc.close();
    throw err;
  }
  return viewer;
}
