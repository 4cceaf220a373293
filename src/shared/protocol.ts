// The contract between the supervisor (main thread) and a stream actor (its own worker thread).
// Requests are comlink calls on one MessagePort; every method answers a CallResult so that error
// classes and details survive the thread hop. Events travel on the same port (ordered after the
// replies they follow) as plain objects keyed by `event`.
import { z } from 'zod';
import type { SerializedError } from './errors.ts';
import type { LatencySnapshot } from './latencyHistogram.ts';
import { EXEC_STATES, type ExecState, type ProcessConfig, type ProcessOrder } from './processConfig.ts';
import type { RuntimeDto } from './runtime.ts';

export type { RuntimeDto };

export interface StreamWebrtcSettings {
  maxViewersPerStream: number;
  gopCache: boolean;
  strictIfMatch: boolean;
  viewerTimeoutMs: number;
  sendPath: 'drake' | 'lean' | 'werift';
  /** lean: a stream's viewers share one UDP port (ICE demultiplexed by STUN username), sent in batches. */
  sharedPort: boolean;
  /** sharedPort: drake is an ICE-lite agent on the shared port (answers checks, sends none, a=ice-lite). */
  iceLite: boolean;
  /** iceLite: a viewer whose ICE checks stopped this long is closed (consent freshness). */
  consentTimeoutMs: number;
  /** Viewers one thread serves before the stream starts shard workers on its packet ring (0: never). */
  viewersPerShard: number;
  ice: {
    portRange: [number, number] | undefined;
    additionalHostAddresses: string[];
    interfaceAddress: string | undefined;
    iceServers: Array<{ urls: string; username?: string; credential?: string }>;
    gatheringTimeoutMs: number;
    announceIps: string[];
  };
}

/** Facts a stream actor needs from drake's config; fixed for the life of the worker. */
export interface StreamSettings {
  ffmpegBinary: string;
  diskDir: string;
  memfsUrl: string;
  /** `Basic ...` for outputs writing to memfs when its writes need credentials. */
  memfsAuthorization?: string;
  /** {rtmp}'s template when the built-in RTMP server runs. */
  rtmpUrl?: string;
  /** {srt}'s template when the built-in SRT server runs. */
  srtUrl?: string;
  /** {whip}'s template when WHIP ingest is on: the SDP URL FFmpeg reads a published stream from. */
  whipUrl?: string;
  maxLogLines: number;
  stopTimeoutMs: number;
  webrtc: StreamWebrtcSettings;
  /**
   * Run FFmpeg through `setpriv --pdeathsig KILL` (this path): it dies with drake even on kill -9. A
   * cluster node needs it: FFmpeg ignores SIGPIPE, so an orphan would run on beside the new owner's copy.
   */
  setprivPath?: string;
}

export interface WhepCreatedDto {
  id: string;
  answer: string;
  etag: string;
}

export interface WhepPatchedDto {
  status: 200 | 204;
  body?: string;
  etag: string;
}

export interface ProbeStreamDto {
  url: string;
  format: string;
  index: number;
  stream: number;
  /** Three-letter tag from "Stream #0:1(eng)", else "und" as in Core. */
  language: string;
  type: string;
  codec: string;
  coder: string;
  /** The stream's own "N kb/s" (Core reads the stream line, not the container's bitrate). */
  bitrate_kbps: number;
  /** The container's "Duration:", the same for every stream of one input; 0 for N/A (live inputs). */
  duration_sec: number;
  fps: number;
  pix_fmt: string;
  width: number;
  height: number;
  sampling_hz: number;
  layout: string;
  channels: number;
}

export interface ProbeDto {
  streams: ProbeStreamDto[];
  /** FFmpeg's stderr lines, plus drake's own notes (timeout, spawn failure). */
  log: string[];
}

export interface WhepSessionDto {
  id: string;
  created_at: number;
  remote: string;
  connected: boolean;
  bytes_tx: number;
  packets_tx: number;
  nacks: number;
  plis: number;
  /** Keyframe bursts sent to this viewer (its join, and PLIs that needed one). */
  bursts: number;
  plis_ignored: number;
  /** Shared port: round-trip time from the viewer's receiver reports (ms), null before one arrives or elsewhere. */
  rtt_ms: number | null;
  /** Shared port: the fraction of video the viewer last reported lost (0–1), null as rtt_ms. */
  fraction_lost: number | null;
  /** Shared port: SRTCP datagrams drake read from the viewer / dropped (failed authentication, replayed, malformed). */
  rtcp_rx: number;
  rtcp_dropped: number;
}

/** Counters of batched sends (src/shared/srtp SEND_COUNTER): packets, and the messages and syscalls they took. */
export interface SendCountersDto {
  syscalls: number;
  messages: number;
  packets: number;
  /** UDP GSO trains (one message, several datagrams to one viewer) and the packets in them. */
  gsoMessages: number;
  gsoPackets: number;
  /** Trains the kernel refused (then sent plain; the socket sends plain from then on). */
  gsoRefused: number;
}

export interface WhepStatsDto {
  viewers: number;
  packets: number;
  bytes: number;
  nacks: number;
  retransmits: number;
  plis: number;
  /** PLI/FIR answered with no burst (the viewer had the keyframe and lost nothing since; or over its repair budget). */
  plisIgnored: number;
  bursts: number;
  gopPackets: number;
  /** The UDP port all of this stream's viewers share (webrtc.shared_port), null when each has its own. */
  sharedPort: number | null;
  /**
   * Shared port: datagrams that reached it, the read callbacks they came in (reader recvmmsg: one per batch;
   * dgram: one per datagram), those dropped (no viewer's address, or a STUN request without a known ufrag or
   * valid integrity), those the kernel dropped for a full receive buffer (recvmmsg reader only), ICE-lite
   * binding requests the port answered, STUN requests werift sent from it (full ICE). null elsewhere.
   */
  /** paced: the port is read after live flushes (as datagrams arrive when none came for 100 ms), not as datagrams arrive (true if any shard's is). */
  port?: { received: number; reads: number; reader: 'recvmmsg' | 'dgram'; paced: boolean; dropped: number; kernelDropped: number; stunAnswered: number; stunRequestsSent: number } | null;
  /** Viewer-packets a batched send could not hand to the kernel (socket buffer full). */
  batchDrops: number;
  /** Viewer-packets that left in batches (shared port: one protect + one sendmmsg per live packet, one sendmmsg per pacer tick of bursts or per NACK). */
  batched: number;
  /**
   * Shared port: the batched sends' sendmmsg counters, live fan-out and bursts + NACK answers apart; gso: UDP
   * GSO trains are asked for on the shared socket (DRAKE_GSO not 0, not refused by the kernel). null elsewhere.
   */
  send?: { live: SendCountersDto; burst: SendCountersDto; gso: boolean } | null;
  /** Threads serving this stream's viewers: the stream actor's own plus its shard workers. */
  shards?: number;
  /** Packets shard workers lost because the packet ring lapped their reader. */
  ringMissed?: number;
  /** Server-added latency per viewer-packet (arrival at drake → hand-off to the viewer's socket), cumulative. */
  latency: LatencySnapshot | null;
  /** What FFmpeg's WebRTC legs delivered to the stream actor (null before the first start). */
  ingest?: Record<'video' | 'audio', { packets: number; bytes: number; dropped: number; lastAt: number; foreign: number; kernelDropped: number }> | null;
  /** Cluster: the relays this stream's owner sends to edges (out), or, on an edge, the relay it reads (in). */
  relay?: { out: RelayOutDto[]; in: RelayInDto | null };
}

/** One edge a stream's owner relays its RTP to. */
export interface RelayOutDto {
  node: string;
  address: string;
  /** Unix s. */
  since: number;
  lease_left_ms: number;
  /** Packets and RTP bytes sent to that edge: one copy per packet whatever its number of viewers. */
  packets: number;
  bytes: number;
  errors: number;
}

/** What an edge received over its relay: per medium, packets, bytes, sequence gaps (relay loss) and the last arrival (Unix ms). */
export interface RelayInDto {
  video: { packets: number; bytes: number; lost: number; lastAt: number };
  audio: { packets: number; bytes: number; lost: number; lastAt: number };
  /** Datagrams to the relay port that were no frame of this relay (wrong token) or no valid RTP. */
  dropped: number;
  /** The relay hop: the owner's ingest stamp → arrival here, per packet (same clock or NTP-synced nodes only). */
  hop: LatencySnapshot;
}

/** An owner's relay to an edge: where it sends (the edge's advertise_host and relay port) and the edge's token. */
export const relayTargetSchema = z.object({
  node: z.string().min(1).max(64),
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  token: z.string().regex(/^[0-9a-f]{16}$/),
  lease_ms: z.number().int().min(1000).max(120_000),
});
export type RelayTargetDto = z.output<typeof relayTargetSchema>;

export interface StreamInit {
  processId: string;
  config: ProcessConfig;
  order: ProcessOrder;
  settings: StreamSettings;
  /** Set when this worker replaces one that died: the reason goes into the log, the state starts as failed. */
  recoveredFrom?: string;
  /** Cluster edge: no FFmpeg; the stream's RTP comes from its owner over a relay (edgeOpen). */
  edge?: boolean;
}

export interface ProgressIODto {
  id: string;
  address: string;
  index: number;
  stream: number;
  format: string;
  type: string;
  codec: string;
  coder: string;
  frame: number;
  keyframe: number;
  framerate: { min: number; max: number; avg: number };
  fps: number;
  packet: number;
  pps: number;
  size_kb: number;
  bitrate_kbit: number;
  extradata_size_bytes: number;
  /** Quantizer: every IO has it in Core (0 where FFmpeg gives none). */
  q: number;
  pix_fmt?: string;
  width?: number;
  height?: number;
  sampling_hz?: number;
  layout?: string;
  channels?: number;
  /** Core's playout-proxy state of an `avstream:` input; drake has no playout proxy: always null, as Core sends it then. */
  avstream: null;
}

/** The global numbers of FFmpeg's stats line. */
export interface ProgressSampleDto {
  frame: number;
  fps: number;
  q: number;
  size_kb: number;
  /** Seconds; negative while the output timestamps are below zero. */
  time: number;
  bitrate_kbit: number;
  speed: number;
  drop: number;
  dup: number;
}

export interface ProgressDto extends ProgressSampleDto {
  inputs: ProgressIODto[];
  outputs: ProgressIODto[];
  packet: number;
}

/** GET /api/v3/process/:id/state, field names as datarhei Core v3. */
export interface ProcessStateDto {
  order: ProcessOrder;
  exec: ExecState;
  runtime_seconds: number;
  reconnect_seconds: number;
  last_logline: string;
  progress: ProgressDto;
  memory_bytes: number;
  cpu_usage: number;
  command: string[];
}

export interface ReportEntryDto {
  created_at: number;
  prelude: string[];
  log: Array<[string, string]>;
  exited_at?: number;
  exit_state?: ExecState;
  exit_code?: number | null;
  exit_reason?: string;
}

export type CallResult<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/**
 * `inputlost`: a live input of the run went away for good (a WHIP publisher left): the run ends as a
 * failure, so reconnect applies as after any input error.
 */
export type StreamCommand = 'start' | 'stop' | 'restart' | 'reload' | 'inputlost';

/** What a peer shard worker needs: the stream's packet ring and the viewer settings. */
export interface ShardInit {
  processId: string;
  index: number;
  ring: SharedArrayBuffer;
  webrtc: Omit<StreamWebrtcSettings, 'maxViewersPerStream' | 'viewersPerShard'>;
}

/** Methods a peer shard worker exposes to its stream actor (message names `shard.<method>`). */
export interface ShardWorkerApi {
  init(init: ShardInit): Promise<CallResult<void>>;
  create(offer: string, hasAudio: boolean, maxViewers: number): Promise<CallResult<WhepCreatedDto>>;
  patch(sessionId: string, frag: string, ifMatch: string | null): Promise<CallResult<WhepPatchedDto>>;
  remove(sessionId: string): Promise<CallResult<boolean>>;
  stats(): Promise<CallResult<WhepStatsDto>>;
  sessions(): Promise<CallResult<WhepSessionDto[]>>;
  resetMedia(): Promise<CallResult<void>>;
  close(reason: string): Promise<CallResult<void>>;
  /** This thread's heap and event-loop resources. */
  runtime(): Promise<CallResult<RuntimeDto>>;
  /** Test hook: throw an uncaught exception in the shard worker. */
  crash(): Promise<CallResult<void>>;
}

/** Events a shard worker posts on its port. */
export type ShardEvent = { event: 'shard.viewers'; viewers: number } | { event: 'shard.closed'; sessionId: string };

/** Methods the stream actor exposes (message names `stream.<method>`). */
export interface StreamActorApi {
  init(init: StreamInit): Promise<CallResult<void>>;
  command(cmd: StreamCommand): Promise<CallResult<void>>;
  update(config: ProcessConfig): Promise<CallResult<void>>;
  state(): Promise<CallResult<ProcessStateDto>>;
  report(): Promise<CallResult<ReportEntryDto>>;
  close(): Promise<CallResult<void>>;
  whepCreate(offer: string): Promise<CallResult<WhepCreatedDto>>;
  whepPatch(sessionId: string, frag: string, ifMatch: string | null): Promise<CallResult<WhepPatchedDto>>;
  whepDelete(sessionId: string): Promise<CallResult<boolean>>;
  whepStats(): Promise<CallResult<WhepStatsDto>>;
  whepSessions(): Promise<CallResult<WhepSessionDto[]>>;
  /** Runs FFmpeg on the process's inputs only (in the actor's thread) and reports their streams. */
  probe(timeoutMs: number): Promise<CallResult<ProbeDto>>;
  /** Heap and event-loop resources of the stream thread and its shard workers, added up. */
  runtime(): Promise<CallResult<RuntimeDto>>;
  /** Test hook: throw an uncaught exception in the worker. */
  crash(): Promise<CallResult<void>>;
  /** Test hook: crash the stream's peer shard worker `index` (1-based, in start order). */
  crashShard(index: number): Promise<CallResult<void>>;
  /** Owner: start or renew the relay to an edge; answers the legs the stream carries. */
  relayHold(target: RelayTargetDto): Promise<CallResult<{ video: boolean; audio: boolean }>>;
  /** Owner: stop the relay to an edge (false: there was none). */
  relayDrop(node: string): Promise<CallResult<boolean>>;
  /** Edge: opens the relay socket on host; answers its port and the token the owner puts in each frame. */
  edgeOpen(host: string): Promise<CallResult<{ port: number; token: string }>>;
  /** Edge: the (new) owner's legs; newSource: another owner or run, so cached media is dropped. */
  edgeSource(legs: { video: boolean; audio: boolean }, newSource: boolean): Promise<CallResult<void>>;
}

/** What a WHIP publish actor needs; fixed for the life of its worker. */
export interface PublishInit {
  name: string;
  webrtc: StreamWebrtcSettings;
  /** No RTP from the publisher for this long ends the publication (ICE/DTLS may still look alive). */
  mediaTimeoutMs: number;
}

/** One WHIP publisher, as GET /api/v3/whip lists it. */
export interface WhipPublisherDto {
  name: string;
  /** Unix seconds of the POST that started it. */
  since: number;
  connected: boolean;
  remote: string;
  codecs: { video: string | null; audio: string | null };
  video: { packets: number; bytes: number };
  audio: { packets: number; bytes: number };
  /** PLIs drake sent to the publisher (viewer joins, viewer PLIs, new process readers), rate-limited. */
  plis_sent: number;
  viewers: number;
  /** Processes reading the stream through {whip,name=…} (local RTP forwards). */
  readers: number;
}

export interface WhipPublishedDto {
  answer: string;
  etag: string;
}

/** Methods a WHIP publish actor exposes (message names `publish.<method>`). */
export interface PublishActorApi {
  init(init: PublishInit): Promise<CallResult<void>>;
  /** The publisher's offer → drake's answer; once per actor. */
  publish(offer: string): Promise<CallResult<WhipPublishedDto>>;
  patch(frag: string, ifMatch: string | null): Promise<CallResult<WhepPatchedDto>>;
  info(): Promise<CallResult<WhipPublisherDto>>;
  /** A process reads the stream: RTP goes to 127.0.0.1 at these ports; answers the SDP FFmpeg reads. */
  addReader(): Promise<CallResult<string>>;
  whepCreate(offer: string): Promise<CallResult<WhepCreatedDto>>;
  whepPatch(sessionId: string, frag: string, ifMatch: string | null): Promise<CallResult<WhepPatchedDto>>;
  whepDelete(sessionId: string): Promise<CallResult<boolean>>;
  whepSessions(): Promise<CallResult<WhepSessionDto[]>>;
  whepStats(): Promise<CallResult<WhepStatsDto>>;
  close(reason: string): Promise<CallResult<void>>;
}

/** Events a publish actor posts on its port. */
export const publishEventSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('publish.ended'), reason: z.string() }),
  z.object({ event: z.literal('publish.viewers'), viewers: z.number().int().min(0) }),
]);
export type PublishEvent = z.infer<typeof publishEventSchema>;

const execState = z.enum(EXEC_STATES);
export const streamEventSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('stream.statechange'), from: execState, to: execState, reason: z.string().optional() }),
  z.object({ event: z.literal('stream.spawned'), pid: z.number().int() }),
  z.object({ event: z.literal('stream.viewers'), viewers: z.number().int().min(0) }),
  z.object({ event: z.literal('stream.exited'), pid: z.number().int() }),
  z.object({
    event: z.literal('stream.runended'),
    entry: z.object({
      created_at: z.number(),
      prelude: z.array(z.string()),
      log: z.array(z.tuple([z.string(), z.string()])),
      exited_at: z.number().optional(),
      exit_state: execState.optional(),
      exit_code: z.number().nullable().optional(),
      exit_reason: z.string().optional(),
    }),
  }),
]);
export type StreamEvent = z.infer<typeof streamEventSchema>;
