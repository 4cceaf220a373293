// The RTP outputs a stream actor appends to FFmpeg's command when WebRTC is on. They point at the
// actor's own sockets and never appear in the stored config.
import type { ProcessConfigIO, WebrtcConfig } from '../../shared/processConfig.ts';
import type { ProbeStreamDto } from '../../shared/protocol.ts';

export const VIDEO_PT = 96;
export const AUDIO_PT = 111;
/** Leaves room for SRTP's tag and header extensions within a 1280-byte path MTU budget. */
export const RTP_PACKET_SIZE = 1200;

export type LegKind = 'video' | 'audio';
/** Which WebRTC legs a run carries. */
export type WebrtcLegs = Record<LegKind, boolean>;

export const BOTH_LEGS: Readonly<WebrtcLegs> = Object.freeze({ video: true, audio: true });

export function webrtcOutputArgs(cfg: WebrtcConfig, ports: { video: number; audio: number }, legs: Readonly<WebrtcLegs> = BOTH_LEGS): string[] {
  const video: string[] = [];
  if (legs.video) {
    if (cfg.video_map) video.push('-map', cfg.video_map);
    video.push('-an', '-sn', '-dn');
    const url = `udp://127.0.0.1:${ports.video}?pkt_size=${RTP_PACKET_SIZE}`;
    if (cfg.video === 'transcode') {
      const kbit = cfg.video_bitrate_kbit;
      video.push(
        '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency',
        '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-bf', '0',
        // A keyframe every gop_seconds whatever the frame rate; no scene-cut keyframes in between.
        '-force_key_frames', `expr:gte(t,n_forced*${cfg.gop_seconds})`, '-sc_threshold', '0',
        '-b:v', `${kbit}k`, '-maxrate', `${kbit}k`, '-bufsize', `${kbit * 2}k`,
        '-payload_type', String(VIDEO_PT), '-f', 'rtp', url,
      );
    } else {
      // No -bsf:v: FFmpeg 5.x kills an output's bitstream filters at every -stream_loop rewind. The
      // RTP muxer packetizes avcC input itself; ParamSetInjector puts the SPS/PPS (out of band in MP4
      // and RTMP) in front of every keyframe.
      video.push('-c:v', 'copy', '-payload_type', String(VIDEO_PT), '-f', 'rtp', url);
    }
  }
  if (cfg.audio === 'none' || !legs.audio) return video;
  const audio: string[] = [];
  if (cfg.audio_map) audio.push('-map', cfg.audio_map);
  audio.push(
    '-vn', '-sn', '-dn',
    '-c:a', 'libopus', '-ar', '48000', '-ac', '2', '-b:a', '96k',
    '-payload_type', String(AUDIO_PT), '-f', 'rtp', `udp://127.0.0.1:${ports.audio}?pkt_size=${RTP_PACKET_SIZE}`,
  );
  return [...video, ...audio];
}

/** The output ids state() shows for the WebRTC legs, in the order webrtcOutputArgs appends them. */
export function webrtcOutputIds(cfg: WebrtcConfig, legs: Readonly<WebrtcLegs>): string[] {
  const ids: string[] = [];
  if (legs.video) ids.push('webrtc:video');
  if (legs.audio && cfg.audio !== 'none') ids.push('webrtc:audio');
  return ids;
}

/**
 * An input that waits for a publisher (RTMP/RTSP/TCP listen, SRT listener): probing it would take
 * the publisher's first connection and hold the start until someone publishes.
 */
export function isListeningInput(io: ProcessConfigIO): boolean {
  for (let i = 0; i + 1 < io.options.length; i++) {
    const opt = io.options[i];
    const value = io.options[i + 1]!;
    if (opt === '-listen' && value !== '0') return true;
    if (opt === '-rtsp_flags' && /\blisten\b/.test(value)) return true;
    if (opt === '-mode' && value === 'listener') return true;
  }
  return /[?&](?:listen(?:=(?:1|2|true))?|mode=listener)(?:&|$)/i.test(io.address);
}

/**
 * Which legs the inputs can feed, from a probe of them (the same inputs with the same options, so
 * FFmpeg's run sees the same streams), and one note per leg left out. A leg's -map that names an
 * input (`1`, `1:a`, `0:v:0?`) needs a stream of its type in that input; a map drake does not read
 * (a filter label, a negative map) is trusted.
 */
export function legsFromProbe(cfg: WebrtcConfig, streams: readonly ProbeStreamDto[]): { legs: WebrtcLegs; notes: string[] } {
  const legs: WebrtcLegs = {
    video: legHasStream('video', cfg.video_map, streams),
    audio: cfg.audio !== 'none' && legHasStream('audio', cfg.audio_map, streams),
  };
  const notes: string[] = [];
  for (const kind of ['video', 'audio'] as const) {
    if (legs[kind] || (kind === 'audio' && cfg.audio === 'none')) continue;
    const map = kind === 'video' ? cfg.video_map : cfg.audio_map;
    notes.push(map ? `WebRTC: the inputs have no ${kind} stream for ${kind}_map '${map}'; the ${kind} leg is skipped` : `WebRTC: the inputs have no ${kind} stream; the ${kind} leg is skipped`);
  }
  return { legs, notes };
}

const MAP_RE = /^(\d+)(?::([vVa])(?=:|\?|$))?/;

function legHasStream(kind: LegKind, map: string, streams: readonly ProbeStreamDto[]): boolean {
  if (!map) return streams.some((s) => s.type === kind);
  const m = MAP_RE.exec(map);
  if (!m) return true;
  const input = Number(m[1]);
  const type: LegKind = m[2] === undefined ? kind : m[2] === 'a' ? 'audio' : 'video';
  return streams.some((s) => s.index === input && s.type === type);
}
