// Domain shape of a process as the API (datarhei Core v3 field names) and the store see it.
// One zod schema is the single source of truth for validation, defaults and TypeScript types.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { NODE_ID } from './config.ts';
import { ValidationError } from './errors.ts';

/**
 * Ids end up in URLs, file names and placeholders: no path characters, bounded length. `:` is in
 * because Restreamer UI names its processes `restreamer-ui:ingest:<uuid>` (Core takes them).
 */
export const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;
export const idSchema = z
  .string()
  .trim()
  .regex(ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 _ . : - and not start with . or - or :');

const SHORTUUID_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** 22-character id from the same alphabet Core's shortuuid uses (≈ 128 bits). */
export function shortId(): string {
  const bytes = randomBytes(22);
  let out = '';
  for (const b of bytes) out += SHORTUUID_ALPHABET[b % SHORTUUID_ALPHABET.length];
  return out;
}

const argSchema = z.string().max(4096);
const argListSchema = z.array(argSchema).max(512);
const uint = (max: number) => z.number().int().min(0).max(max);

export const cleanupSchema = z.object({
  pattern: z.string().min(1).max(1024),
  max_files: uint(1_000_000).default(0),
  max_file_age_seconds: uint(10 * 365 * 86400).default(0),
  purge_on_delete: z.boolean().default(false),
});

export const ioSchema = z.object({
  id: z.string().trim().max(128).regex(/^[^/\\\s]*$/, 'must not contain slashes or spaces').default(''),
  address: z.string().trim().min(1, 'address is required').max(8192),
  options: argListSchema.default([]),
  cleanup: z.array(cleanupSchema).max(64).default([]),
});

export const limitsSchema = z.object({
  cpu_usage: z.number().min(0).max(100).default(0),
  memory_mbytes: uint(1_048_576).default(0),
  waitfor_seconds: uint(86_400).default(0),
});

/** drake's addition: watch the process in a browser over WHEP. Never changes the stored outputs. */
export const webrtcSchema = z.object({
  enabled: z.boolean().default(false),
  /** transcode: H264 constrained baseline, no B-frames, zerolatency, a keyframe every gop_seconds. copy: pass H264 through. */
  video: z.enum(['transcode', 'copy']).default('transcode'),
  /** opus: transcode the audio to Opus 48 kHz stereo. none: video only. */
  audio: z.enum(['opus', 'none']).default('opus'),
  /** FFmpeg -map specifiers for the WebRTC legs; empty lets FFmpeg pick the best video/audio stream. */
  video_map: z.string().max(64).regex(/^[0-9A-Za-z:?_.\[\]-]*$/, 'must be an FFmpeg stream specifier').default(''),
  audio_map: z.string().max(64).regex(/^[0-9A-Za-z:?_.\[\]-]*$/, 'must be an FFmpeg stream specifier').default(''),
  video_bitrate_kbit: uint(100_000).default(2000),
  gop_seconds: z.number().min(0.2).max(20).default(2),
  /** Viewer cap of this process; 0 means the global webrtc.max_viewers_per_stream. */
  max_viewers: uint(100_000).default(0),
  /** When set, /whep/<id> requires `Authorization: Bearer <token>`. */
  token: z.string().max(512).default(''),
});
export type WebrtcConfig = z.output<typeof webrtcSchema>;

export const processConfigSchema = z.object({
  id: z.union([idSchema, z.literal('')]).default(''),
  type: z.union([z.literal('ffmpeg'), z.literal('')]).default('ffmpeg').transform(() => 'ffmpeg' as const),
  reference: z.string().max(1024).default(''),
  input: z.array(ioSchema).min(1, 'at least one input is required').max(64),
  output: z.array(ioSchema).min(1, 'at least one output is required').max(64),
  options: argListSchema.default([]),
  reconnect: z.boolean().default(false),
  reconnect_delay_seconds: uint(86_400).default(0),
  autostart: z.boolean().default(true),
  stale_timeout_seconds: uint(86_400).default(0),
  limits: limitsSchema.prefault({}),
  webrtc: webrtcSchema.prefault({}),
  /** drake cluster: the node to run on (placed by load when absent). Ignored by a single drake. */
  node: z.string().regex(NODE_ID, 'must be a cluster node id (1–64 of A-Z a-z 0-9 _ . -)').optional(),
});

export type ProcessConfigInput = z.input<typeof processConfigSchema>;
export type ProcessConfigIO = z.output<typeof ioSchema>;
/** A validated config with defaults applied; `id` and io ids are filled in by `normalizeProcessConfig`. */
export type ProcessConfig = z.output<typeof processConfigSchema>;

export type ProcessOrder = 'start' | 'stop';
export const EXEC_STATES = ['finished', 'starting', 'running', 'finishing', 'failed', 'killed'] as const;
export type ExecState = (typeof EXEC_STATES)[number];

/** Validates an API or store body into a ProcessConfig; ValidationError lists each failing field. */
export function parseProcessConfig(input: unknown): ProcessConfig {
  const parsed = processConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(
      'Invalid process config',
      parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  return parsed.data;
}
