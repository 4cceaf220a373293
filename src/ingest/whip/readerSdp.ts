// The SDP a process's FFmpeg opens to read a WHIP stream: RTP on loopback ports that FFmpeg binds,
// drake's payload types (96 H264, 111 Opus), and the publisher's SPS/PPS when drake has seen them in
// band (outputs that need extradata, such as MP4, get it up front).
import { AUDIO_PT, VIDEO_PT } from '../../actors/stream/webrtcOutputs.ts';

export function readerSdp(name: string, ports: { video: number; audio: number }, audio: boolean, paramSets: { sps: Buffer; pps: Buffer } | null): string {
  const sprop = paramSets ? `;sprop-parameter-sets=${paramSets.sps.toString('base64')},${paramSets.pps.toString('base64')}` : '';
  const lines = [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    `s=drake WHIP ${name}`,
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=video ${ports.video} RTP/AVP ${VIDEO_PT}`,
    `a=rtpmap:${VIDEO_PT} H264/90000`,
    `a=fmtp:${VIDEO_PT} packetization-mode=1${sprop}`,
    'a=recvonly',
  ];
  if (audio) lines.push(`m=audio ${ports.audio} RTP/AVP ${AUDIO_PT}`, `a=rtpmap:${AUDIO_PT} opus/48000/2`, 'a=recvonly');
  return lines.join('\r\n') + '\r\n';
}
