// The RTP outputs a stream actor appends to FFmpeg's command when WebRTC is on. They point at the
// actor's own sockets and never appear in the stored config.
import type { WebrtcConfig } from '../../shared/processConfig.ts';

export const VIDEO_PT = 96;
export const AUDIO_PT = 111;
/** Leaves room for SRTP's tag and header extensions within a 1280-byte path MTU budget. */
export const RTP_PACKET_SIZE = 1200;

export function webrtcOutputArgs(cfg: WebrtcConfig, ports: { video: number; audio: number }): string[] {
  const video: string[] = [];
  if (cfg.video_map) video.push('-map', cfg.video_map);
  video.push('-an', '-sn', '-dn');
  if (cfg.video === 'transcode') {
    const kbit = cfg.video_bitrate_kbit;
    video.push(
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency',
      '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-bf', '0',
      // A keyframe every gop_seconds whatever the frame rate; no scene-cut keyframes in between.
      '-force_key_frames', `expr:gte(t,n_forced*${cfg.gop_seconds})`, '-sc_threshold', '0',
      '-b:v', `${kbit}k`, '-maxrate', `${kbit}k`, '-bufsize', `${kbit * 2}k`,
    );
  } else {
    // Copied H264 may carry SPS/PPS only out of band (MP4, RTMP): put them in front of every keyframe.
    video.push('-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,dump_extra=freq=keyframe');
  }
  video.push('-payload_type', String(VIDEO_PT), '-f', 'rtp', `udp://127.0.0.1:${ports.video}?pkt_size=${RTP_PACKET_SIZE}`);
  if (cfg.audio === 'none') return video;
  const audio: string[] = [];
  if (cfg.audio_map) audio.push('-map', cfg.audio_map);
  audio.push(
    '-vn', '-sn', '-dn',
    '-c:a', 'libopus', '-ar', '48000', '-ac', '2', '-b:a', '96k',
    '-payload_type', String(AUDIO_PT), '-f', 'rtp', `udp://127.0.0.1:${ports.audio}?pkt_size=${RTP_PACKET_SIZE}`,
  );
  return [...video, ...audio];
}
