// The benchmark source and helpers to bring a drake with it up.
import type { WhepStatsDto } from '../../src/shared/protocol.ts';
import { DrakeChild } from './drakeChild.ts';
import { PionChild } from './pionChild.ts';
import { waitFor } from '../../test/helpers/waitFor.ts';

export const PROCESS_ID = 'bench';
/**
 * lean: drake's default (native SRTP, the shard's viewers on one shared UDP port, the live packets one pass of
 * the event loop read to all of them in one sendmmsg). lean-solo: lean with webrtc.shared_port off (one ICE socket and one send per viewer-packet).
 * lean-nogso: lean with DRAKE_GSO=0 (bursts and NACK answers batched, but no UDP GSO trains), to compare.
 * lean-packet: lean with DRAKE_LIVE_BATCH=packet (each live packet flushed to every viewer on arrival, the
 * path before live packets were coalesced per viewer into GSO trains), to compare.
 * lean-frame: lean with DRAKE_LIVE_BATCH=frame (a video frame's live packets also held until its last one,
 * the RTP marker), to compare.
 * lean-unpaced: lean with DRAKE_RTCP_PACED=0 (the shared port read as datagrams arrive, not after each live flush).
 * lean-dgram: lean with DRAKE_NATIVE_RECV=0 (FFmpeg's RTP and the shared port read by node's dgram, one
 * 'message' per datagram, instead of recvmmsg batches), to compare.
 * drake: drake's send state on werift's sender.sendRtp. werift: werift's stock track path, the baseline.
 */
export type SendPath = 'drake' | 'lean' | 'lean-solo' | 'lean-nogso' | 'lean-packet' | 'lean-frame' | 'lean-unpaced' | 'lean-dgram' | 'werift' | 'pion';
export const ALL_PATHS: readonly SendPath[] = ['drake', 'lean', 'lean-solo', 'lean-nogso', 'lean-packet', 'lean-frame', 'lean-unpaced', 'lean-dgram', 'werift'];
/** Pion v3's stock fan-out (bench/pion, built when Go and Debian's Pion sources are there): cpu-per-viewer only. */
export const PION_PATH: SendPath = 'pion';
/** The send paths this run compares (`--paths`); werift's stock path is the baseline of the ratios. */
export const SEND_PATHS: SendPath[] = ['lean', 'lean-solo', 'werift'];

/** drake's webrtc config for a bench path. */
export function pathConfig(path: SendPath): { send_path: 'drake' | 'lean' | 'werift'; shared_port: boolean } {
  if (path === 'pion') throw new Error('pion is not a drake send path');
  if (path === 'lean-solo') return { send_path: 'lean', shared_port: false };
  if (path === 'lean-nogso' || path === 'lean-packet' || path === 'lean-frame' || path === 'lean-unpaced' || path === 'lean-dgram') return { send_path: 'lean', shared_port: true };
  return { send_path: path, shared_port: path === 'lean' };
}
/** Environment a bench path's drake child starts with. */
export function pathEnv(path: SendPath): Record<string, string> {
  if (path === 'lean-nogso') return { DRAKE_GSO: '0' };
  if (path === 'lean-packet') return { DRAKE_LIVE_BATCH: 'packet' };
  if (path === 'lean-frame') return { DRAKE_LIVE_BATCH: 'frame' };
  if (path === 'lean-unpaced') return { DRAKE_RTCP_PACED: '0' };
  if (path === 'lean-dgram') return { DRAKE_NATIVE_RECV: '0' };
  return {};
}
export function selectPaths(paths: SendPath[]): void {
  SEND_PATHS.splice(0, SEND_PATHS.length, ...paths);
}

export const SOURCE = {
  video: 'testsrc2 1280x720@30 (-re) → libx264 veryfast/zerolatency baseline, 2000 kbit/s, keyframe every 2 s',
  audio: 'sine 440 Hz 48 kHz (-re) → Opus 96 kbit/s',
  gopSeconds: 2,
  videoKbit: 2000,
};

/** A smaller picture than the bench's 720p30 (the soak test: cheaper on a shared box). */
export interface SourceVideo {
  size: string;
  rate: number;
  kbit: number;
}

/** 720p30 test pattern + tone, H264 transcode ~2 Mbit/s with a 2 s GOP + Opus, over WebRTC; the required output is a cheap null sink for the audio. */
export function sourceProcess(id = PROCESS_ID, video: SourceVideo = { size: '1280x720', rate: 30, kbit: SOURCE.videoKbit }): Record<string, unknown> {
  return {
    id,
    input: [
      { id: 'v', address: `testsrc2=size=${video.size}:rate=${video.rate}`, options: ['-re', '-f', 'lavfi'] },
      { id: 'a', address: 'sine=frequency=440:sample_rate=48000', options: ['-re', '-f', 'lavfi'] },
    ],
    output: [{ id: 'null', address: '-', options: ['-map', '1:a', '-f', 'null'] }],
    autostart: true,
    reconnect: true,
    reconnect_delay_seconds: 1,
    webrtc: { enabled: true, video_bitrate_kbit: video.kbit, gop_seconds: SOURCE.gopSeconds },
  };
}


export { waitFor };


export interface BenchDrake<C extends DrakeChild | PionChild = DrakeChild | PionChild> {
  path: SendPath;
  child: C;
  whepUrl: string;
  stats(): Promise<WhepStatsDto>;
}

/** A drake child with the given send path, the source process created, and media in its GOP cache. */
export async function startBenchDrake(path: SendPath, extraConfig: Record<string, unknown> = {}, video?: SourceVideo): Promise<BenchDrake<DrakeChild>> {
  const child = await DrakeChild.start(
    path,
    {
      ...extraConfig,
      webrtc: { ...pathConfig(path), max_viewers_per_stream: 1000, max_viewers_total: 2000, ...((extraConfig.webrtc as object) ?? {}) },
    },
    30_000,
    pathEnv(path),
  );
  const res = await child.api('POST', '/api/v3/process', sourceProcess(PROCESS_ID, video));
  if (res.status >= 300) throw new Error(`${path}: creating the process failed: ${res.status} ${JSON.stringify(res.body)}`);
  const d: BenchDrake<DrakeChild> = { path, child, whepUrl: `${child.url}/whep/${PROCESS_ID}`, stats: () => child.whepStats(PROCESS_ID) };
  await waitFor(`${path}: media in the GOP cache`, async () => (await d.stats()).gopPackets > 0 && (await d.stats()).ingest?.audio.packets, 30_000, 200);
  return d;
}

/** Pion's WHEP server with its own FFmpeg on the same source, as a bench "drake" of the pion path. */
export async function startBenchPion(binary: string): Promise<BenchDrake<PionChild>> {
  const child = await PionChild.start(binary, sourceProcess(PROCESS_ID));
  const d: BenchDrake<PionChild> = { path: PION_PATH, child, whepUrl: `${child.url}/whep/${PROCESS_ID}`, stats: () => child.whepStats() };
  await waitFor('pion: media', async () => (await d.stats()).gopPackets > 0, 30_000, 200);
  return d;
}

export async function waitNoViewers(d: BenchDrake, timeoutMs = 15_000): Promise<boolean> {
  try {
    await waitFor(`${d.path}: no viewers`, async () => (await d.stats()).viewers === 0, timeoutMs, 100);
    return true;
  } catch (err) {
    process.stderr.write(`${String(err)}\n`);
    return false;
  }
}

const active = new WeakMap<BenchDrake, boolean>();

/**
 * Makes `path`'s source the only one encoding: the other drake's process gets a stop command (its
 * FFmpeg would otherwise take ~a quarter of a core on the side), this one a start if it was stopped,
 * then waits for fresh media in its GOP cache. With the order alternating per level this switches
 * once per level.
 */
export async function activate(drakes: Partial<Record<SendPath, BenchDrake>>, path: SendPath): Promise<void> {
  for (const p of Object.keys(drakes) as SendPath[]) {
    const other = drakes[p];
    if (p === path || !other || active.get(other) === false) continue;
    const r = await other.child.api('PUT', `/api/v3/process/${PROCESS_ID}/command`, { command: 'stop' });
    if (r.status !== 200) throw new Error(`${p}: stop failed: ${r.status} ${JSON.stringify(r.body)}`);
    active.set(other, false);
  }
  const d = drakes[path];
  if (!d) throw new Error(`no drake for the ${path} path`);
  if (active.get(d) === false) {
    const r = await d.child.api('PUT', `/api/v3/process/${PROCESS_ID}/command`, { command: 'start' });
    if (r.status !== 200) throw new Error(`${path}: start failed: ${r.status} ${JSON.stringify(r.body)}`);
    active.set(d, true);
  }
  await waitFreshMedia(d);
}

/** Until FFmpeg's video and audio reach drake now (not only a GOP cache left from an earlier run). */
export async function waitFreshMedia(d: BenchDrake, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${d.path}: fresh media`,
    async () => {
      const s = await d.stats();
      return s.gopPackets > 0 && s.ingest !== null && s.ingest !== undefined && Date.now() - s.ingest.video.lastAt < 500 && Date.now() - s.ingest.audio.lastAt < 500;
    },
    timeoutMs,
    100,
  );
}
