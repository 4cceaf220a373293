// zod schemas of the REST API's reply shapes that otherwise exist only as TypeScript types
// (protocol.ts, the supervisor's DTOs). They feed the OpenAPI document (src/gateway/openapi.ts) and
// can validate replies in the gateway or in tests. The type checks at the bottom fail the build when
// a DTO and its schema drift apart.
import { z } from 'zod';
import { cleanupSchema, EXEC_STATES, ioSchema, processConfigSchema, type ProcessConfig } from './processConfig.ts';
import type { ProcessStateDto, ProgressDto, ProgressIODto, ReportEntryDto } from './protocol.ts';

/** Core's error body: every 4xx/5xx reply of drake (src/gateway/errorStatus.ts). */
export const errorBodySchema = z.object({
  code: z.number().int().describe('The HTTP status code'),
  message: z.string(),
  details: z.array(z.string()),
});
export type ErrorBody = z.output<typeof errorBodySchema>;

export const execStateSchema = z.enum(EXEC_STATES);
export const processOrderSchema = z.enum(['start', 'stop']);

/** PUT /api/v3/process/:id/command. */
export const processCommandSchema = z.object({ command: z.enum(['start', 'stop', 'restart', 'reload']) });

/** An input/output as drake answers it: an empty `cleanup` list is left out, as Core does (`omitempty`). */
const ioReplySchema = ioSchema.extend({ cleanup: z.array(cleanupSchema).optional().describe('Left out when empty (as Core)') });
/** A config as drake answers it: defaults applied, `type` always "ffmpeg" (the input schema transforms it). */
export const processConfigReplySchema = processConfigSchema.extend({ type: z.literal('ffmpeg'), input: z.array(ioReplySchema), output: z.array(ioReplySchema) });
export type ApiProcessConfig = z.output<typeof processConfigReplySchema>;

/**
 * A config in Core's reply shape: inputs and outputs without an empty cleanup list (Core omits them).
 * Takes parsed JSON too (a reply another cluster node forwarded) and is idempotent on it.
 */
export function toApiConfig(config: Record<string, unknown>): Record<string, unknown> {
  const io = (list: unknown) =>
    Array.isArray(list)
      ? list.map((x: Record<string, unknown>) => (Array.isArray(x?.cleanup) && x.cleanup.length === 0 ? (({ cleanup: _, ...rest }) => rest)(x) : x))
      : list;
  return { ...config, input: io(config.input), output: io(config.output) };
}

/**
 * PUT /api/v3/process/:id: the body is merged over the stored config at the top level, so any subset
 * of the fields is accepted; the result must be a valid config.
 */
export const processConfigUpdateSchema = processConfigSchema.partial();

export const progressIOSchema = z.object({
  id: z.string(),
  address: z.string(),
  index: z.number().int(),
  stream: z.number().int(),
  format: z.string(),
  type: z.string(),
  codec: z.string(),
  coder: z.string(),
  frame: z.number(),
  keyframe: z.number(),
  framerate: z.object({ min: z.number(), max: z.number(), avg: z.number() }),
  fps: z.number(),
  packet: z.number(),
  pps: z.number(),
  size_kb: z.number(),
  bitrate_kbit: z.number(),
  extradata_size_bytes: z.number(),
  q: z.number(),
  pix_fmt: z.string().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  sampling_hz: z.number().int().optional(),
  layout: z.string().optional(),
  channels: z.number().int().optional(),
  avstream: z.null().describe("Core's playout-proxy state of an avstream: input; drake has no playout proxy"),
});

export const progressSchema = z.object({
  inputs: z.array(progressIOSchema),
  outputs: z.array(progressIOSchema),
  frame: z.number(),
  packet: z.number(),
  fps: z.number(),
  q: z.number(),
  size_kb: z.number(),
  time: z.number(),
  bitrate_kbit: z.number(),
  speed: z.number(),
  drop: z.number(),
  dup: z.number(),
});

/** GET /api/v3/process/:id/state. */
export const processStateSchema = z.object({
  order: processOrderSchema,
  exec: execStateSchema,
  runtime_seconds: z.number(),
  reconnect_seconds: z.number().describe('Seconds until the next reconnect; -1 when none is due'),
  last_logline: z.string(),
  progress: progressSchema,
  memory_bytes: z.number(),
  cpu_usage: z.number(),
  command: z.array(z.string()),
});

/** One run of a process: its prelude and log lines ([unix seconds as text, line]). */
export const reportEntrySchema = z.object({
  created_at: z.number().int().describe('Unix seconds'),
  prelude: z.array(z.string()),
  log: z.array(z.tuple([z.string(), z.string()])),
  exited_at: z.number().int().optional(),
  exit_state: execStateSchema.optional(),
  exit_code: z.number().int().nullable().optional(),
  exit_reason: z.string().optional(),
});

/** GET /api/v3/process/:id/report: the current run plus the last ones. */
export const reportSchema = reportEntrySchema.extend({ history: z.array(reportEntrySchema) });

/** Metadata: any JSON per key; null when a process has none. */
export const metadataSchema = z.record(z.string(), z.unknown());

/** An item of GET /api/v3/process and the reply of GET /api/v3/process/:id (parts per ?filter=). */
export const processSchema = z.object({
  id: z.string(),
  type: z.literal('ffmpeg'),
  reference: z.string(),
  created_at: z.number().int().describe('Unix seconds'),
  updated_at: z.number().int().describe('Unix seconds'),
  config: processConfigReplySchema.optional(),
  state: processStateSchema.optional(),
  report: reportSchema.optional(),
  metadata: metadataSchema.nullable().optional(),
});

/** GET /api: the full answer, or only app/auths/version to a caller without a token when auth is on. */
export const aboutSchema = z.object({
  app: z.literal('datarhei-core').describe("Core's name: datarhei's clients (Restreamer UI) accept no other"),
  variant: z.literal('drake').describe('What answers: drake, a re-implementation of the Core API'),
  auths: z.array(z.string()),
  name: z.string().optional(),
  id: z.string().optional(),
  created_at: z.string().optional().describe('ISO 8601'),
  uptime_seconds: z.number().int().optional(),
  version: z.object({
    number: z.string().describe('The datarhei Core API level drake implements (16.0.0, the major only, without a token)'),
    repository_commit: z.string().optional().describe('git commit of the checkout drake runs from; empty when unknown'),
    repository_branch: z.string().optional(),
    build_date: z.string().optional().describe('RFC 3339 time of that commit; empty when unknown'),
    arch: z.string().optional(),
    compiler: z.string().optional(),
    drake: z.string().optional().describe("drake's own version"),
  }),
});

/** GET /api/v3/metrics: one entry per metric (Core's MetricsDescription). */
export const metricsDescriptionSchema = z.object({ name: z.string(), description: z.string(), labels: z.array(z.string()) });

/** POST /api/v3/metrics: Core's MetricsQuery; unknown fields are ignored, as Core's JSON binding does. */
export const metricsQuerySchema = z.object({
  timerange_sec: z.number().int().min(0).max(86_400).default(0).describe('0: the current values; else the history of that many seconds'),
  interval_sec: z.number().int().min(0).max(3600).default(0).describe('Seconds between points of the history (0: the sampling interval)'),
  metrics: z
    .array(
      z.object({
        name: z.string().min(1).max(256),
        labels: z
          .record(z.string().max(256), z.string().max(1024))
          .nullish()
          .transform((l) => l ?? {})
          .describe('Only series whose labels have exactly these values'),
      }),
    )
    .max(1000)
    .nullish()
    .transform((m) => m ?? []),
});

/** POST /api/v3/metrics reply: Core's MetricsResponse (timerange/interval are the monitor's resolution). */
export const metricsReplySchema = z.object({
  timerange_sec: z.number().int(),
  interval_sec: z.number().int(),
  metrics: z.array(
    z.object({
      name: z.string(),
      labels: z.record(z.string(), z.string()),
      values: z.array(z.tuple([z.number().int().describe('Unix seconds'), z.number()])),
    }),
  ),
});

/** POST /api/login. */
export const loginRequestSchema = z.object({ username: z.string().min(1).max(256), password: z.string().min(1).max(1024) });
export const loginReplySchema = z.object({ access_token: z.string(), refresh_token: z.string() });
/** GET /api/login/refresh. */
export const refreshReplySchema = z.object({ access_token: z.string() });

// Compile-time: each schema's output is exactly the DTO it documents.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameTypes: [
  Same<z.output<typeof progressIOSchema>, ProgressIODto>,
  Same<z.output<typeof progressSchema>, ProgressDto>,
  Same<z.output<typeof processStateSchema>, ProcessStateDto>,
  Same<z.output<typeof reportEntrySchema>, ReportEntryDto>,
  Same<Omit<z.output<typeof processConfigReplySchema>, 'input' | 'output'>, Omit<ProcessConfig, 'input' | 'output'>>,
] = [true, true, true, true, true];
void sameTypes;

/** GET /api/v3/widget/process/:id: Core's WidgetProcess. */
export const widgetProcessSchema = z.object({
  current_sessions: z.number().int().min(0).describe('Viewers now: WHEP viewers of the process plus HLS sessions reading a playlist whose name starts with its reference (its id when the reference is empty)'),
  total_sessions: z.number().int().min(0).describe('Viewers since the process was added (WHEP) and since drake started (HLS), the current ones included'),
  uptime: z.number().int().min(0).describe('Seconds the process has been running; 0 unless it is running'),
});

/** POST /api/graph/query: a GraphQL request (Core's api.GraphQuery). */
export const graphQuerySchema = z.object({
  query: z.string().min(1).describe('The GraphQL document'),
  operationName: z.string().nullish(),
  variables: z.record(z.string(), z.unknown()).nullish(),
});

/** POST /api/graph/query reply: a GraphQL response (Core's api.GraphResponse). */
export const graphResponseSchema = z.object({
  errors: z
    .array(
      z.object({
        message: z.string(),
        locations: z.array(z.object({ line: z.number().int(), column: z.number().int() })).optional(),
        path: z.array(z.union([z.string(), z.number().int()])).optional(),
        extensions: z.record(z.string(), z.unknown()).optional().describe('code: GRAPHQL_PARSE_FAILED or GRAPHQL_VALIDATION_FAILED when the query could not run'),
      }),
    )
    .optional(),
  data: z.record(z.string(), z.unknown()).nullable(),
});
