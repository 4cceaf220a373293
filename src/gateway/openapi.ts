// The OpenAPI 3.1 document of drake's HTTP API, built from the gateway's route list so that it can
// never miss a route: every route becomes one operation (summary from the route), and the routes
// drake knows better get request/response schemas from zod (the table KNOWN below, keyed by
// "METHOD /uws-pattern"). OpenAPI 3.1 takes JSON Schema 2020-12 as it is, which is zod's default.
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import type { ProcessDto } from '../actors/supervisor/Supervisor.ts';
import {
  type ApiProcessConfig,
  aboutSchema,
  metricsDescriptionSchema,
  metricsQuerySchema,
  metricsReplySchema,
  widgetProcessSchema,
  graphQuerySchema,
  graphResponseSchema,
  errorBodySchema,
  loginReplySchema,
  loginRequestSchema,
  metadataSchema,
  processCommandSchema,
  processConfigReplySchema,
  processConfigUpdateSchema,
  processSchema,
  processStateSchema,
  progressIOSchema,
  progressSchema,
  refreshReplySchema,
  reportEntrySchema,
  reportSchema,
} from '../shared/apiSchemas.ts';
import { clusterSchema } from '../shared/cluster.ts';
import { rtmpStreamSchema } from '../ingest/rtmp/streamPath.ts';
import { srtChannelsSchema } from '../ingest/srt/srtUrl.ts';
import { whipPublisherSchema } from '../ingest/whip/schema.ts';
import { WHIP_NAME } from '../shared/config.ts';
import type { WhipPublisherDto } from '../shared/protocol.ts';
import { ID_PATTERN, ioSchema, processConfigSchema } from '../shared/processConfig.ts';
import { needsApiToken } from './auth/guarded.ts';
import type { Method, Route } from './http.ts';

export type JsonSchema = Record<string, unknown>;

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface OpenApiHeader {
  description?: string;
  schema: JsonSchema;
}

export interface OpenApiResponse {
  description: string;
  headers?: Record<string, OpenApiHeader>;
  content?: Record<string, { schema: JsonSchema }>;
}

export interface OpenApiRequestBody {
  required?: boolean;
  description?: string;
  content: Record<string, { schema: JsonSchema }>;
}

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: OpenApiParameter[];
  requestBody?: OpenApiRequestBody;
  responses: Record<string, OpenApiResponse | { $ref: string; description?: string }>;
  security: Array<Record<string, string[]>>;
}

export type OpenApiMethod = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options' | 'head';

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description?: string; license?: { name: string; identifier: string } };
  tags: Array<{ name: string; description?: string }>;
  paths: Record<string, Partial<Record<OpenApiMethod, OpenApiOperation>>>;
  components: {
    schemas: Record<string, JsonSchema>;
    responses: Record<string, OpenApiResponse>;
    securitySchemes: Record<string, Record<string, string>>;
  };
}

const METHODS: Record<Exclude<Method, 'any'>, OpenApiMethod> = {
  get: 'get',
  post: 'post',
  put: 'put',
  patch: 'patch',
  del: 'delete',
  options: 'options',
  head: 'head',
};

/**
 * The OpenAPI path of a uWS pattern, or null for a route the document leaves out: `any` routes
 * (OpenAPI has no "any method") and the bare `/*` catch-alls (CORS preflight, 404). `:name`
 * becomes `{name}`; a trailing `/*` (a file tree such as /memfs/*) becomes `/{path}`.
 */
export function openApiPath(route: Pick<Route, 'method' | 'pattern'>): string | null {
  if (route.method === 'any' || route.pattern === '/*' || route.pattern === '*') return null;
  const segs = route.pattern.split('/');
  const taken = new Set(segs.filter((s) => s.startsWith(':')).map((s) => s.slice(1)));
  return segs
    .map((s, i) => {
      if (s.startsWith(':')) return `{${s.slice(1)}}`;
      if (s === '*' && i === segs.length - 1) return `{${wildcardName(taken)}}`;
      return s;
    })
    .join('/');
}

function wildcardName(taken: Set<string>): string {
  return taken.has('path') ? 'wildcard' : 'path';
}

// ---------------------------------------------------------------------------------------------
// Schemas: zod → JSON Schema 2020-12, one component per registered schema, $refs between them.

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

function toComponents(entries: Array<[string, z.ZodType]>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of entries) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { io, target: 'draft-2020-12', uri: (id) => `#/components/schemas/${id}` });
  const out: Record<string, JsonSchema> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    // A schema in components is not a resource of its own: the dialect is the document's and a
    // fragment-only $id is not allowed in 2020-12.
    const { $schema: _dialect, $id: _id, ...rest } = schema as JsonSchema;
    out[id] = rest;
  }
  return out;
}

let componentCache: Record<string, JsonSchema> | null = null;

/** Every zod-made component schema (replies as `output`, request bodies as `input`). */
export function componentSchemas(): Record<string, JsonSchema> {
  componentCache ??= {
    ...toComponents(
      [
        ['Error', errorBodySchema],
        ['About', aboutSchema],
        ['ProcessConfig', processConfigReplySchema],
        ['ProcessConfigIO', ioSchema],
        ['Process', processSchema],
        ['ProcessState', processStateSchema],
        ['Progress', progressSchema],
        ['ProgressIO', progressIOSchema],
        ['ReportEntry', reportEntrySchema],
        ['Report', reportSchema],
        ['Metadata', metadataSchema],
        ['LoginReply', loginReplySchema],
        ['RefreshReply', refreshReplySchema],
        ['Cluster', clusterSchema],
        ['RtmpStream', rtmpStreamSchema],
        ['SrtChannels', srtChannelsSchema],
        ['WhipPublisher', whipPublisherSchema],
        ['MetricsDescription', metricsDescriptionSchema],
        ['MetricsReply', metricsReplySchema],
        ['WidgetProcess', widgetProcessSchema],
        ['GraphResponse', graphResponseSchema],
      ],
      'output',
    ),
    ...toComponents(
      [
        ['ProcessConfigInput', processConfigSchema],
        ['ProcessConfigIOInput', ioSchema],
        ['ProcessConfigUpdate', processConfigUpdateSchema],
        ['ProcessCommand', processCommandSchema],
        ['LoginRequest', loginRequestSchema],
        ['MetricsQuery', metricsQuerySchema],
        ['GraphQuery', graphQuerySchema],
      ],
      'input',
    ),
  };
  return componentCache;
}

// ---------------------------------------------------------------------------------------------
// Building blocks of operations.

const STRING: JsonSchema = { type: 'string' };
const ANY_JSON: JsonSchema = {};

const jsonContent = (schema: JsonSchema) => ({ 'application/json': { schema } });
const header = (description: string, schema: JsonSchema = STRING): OpenApiHeader => ({ description, schema });

function ok(description: string, schema?: JsonSchema, headers?: Record<string, OpenApiHeader>, type = 'application/json'): OpenApiResponse {
  return { description, ...(headers ? { headers } : {}), ...(schema ? { content: { [type]: { schema } } } : {}) };
}

const RETRY_AFTER = header('Seconds to wait before trying again', { type: 'integer' });

/** An error reply: Core's {code, message, details}, with the headers errorStatus.ts adds. */
function errorResponse(status: number, description?: string): OpenApiResponse {
  const headers: Record<string, OpenApiHeader> = {};
  if (status === 401) headers['WWW-Authenticate'] = header('Bearer');
  if (status === 503 || status === 409) headers['Retry-After'] = RETRY_AFTER;
  return {
    description: description ?? STATUS_CODES[status] ?? `HTTP ${status}`,
    ...(Object.keys(headers).length ? { headers } : {}),
    content: jsonContent(ref('Error')),
  };
}

interface OperationDoc {
  description?: string;
  parameters?: OpenApiParameter[];
  requestBody?: OpenApiRequestBody;
  /** Success (and special) replies. */
  responses: Record<string, OpenApiResponse>;
  /** Statuses answered with the error body, beyond the ones every route of its kind can give. */
  errors?: Array<number | [number, string]>;
}

const query = (name: string, description: string, schema: JsonSchema = STRING): OpenApiParameter => ({ name, in: 'query', description, schema });
const filterParam = query('filter', 'Comma-separated parts to include: config, state, report, metadata (default: all)', {
  type: 'string',
  pattern: '^(config|state|report|metadata)(,(config|state|report|metadata))*$',
});
const ifMatch: OpenApiParameter = {
  name: 'If-Match',
  in: 'header',
  description: "The session's ETag (required when webrtc.strict_if_match is on)",
  schema: STRING,
};

const OK_STRING = ok('Done', { type: 'string', const: 'OK' });
const METADATA_VALUE = ok('The stored JSON value', ANY_JSON);

/** The routes drake documents beyond their summary, keyed by "METHOD /uws-pattern". */
const KNOWN: Record<string, OperationDoc> = {
  'GET /ping': { responses: { 200: ok('pong', { type: 'string', const: 'pong' }, undefined, 'text/plain') } },
  'GET /api': {
    description:
      'version.number is the datarhei Core API level drake implements (Restreamer UI checks it with semver), version.drake is drake\'s own. ' +
      'With API auth on, a caller without a valid token gets only app, variant, auths and version.number (the major, as Core).',
    responses: { 200: ok('About this drake', ref('About')) },
  },
  'POST /api/login': {
    requestBody: { required: true, content: jsonContent(ref('LoginRequest')) },
    responses: { 200: ok('Tokens', ref('LoginReply')) },
    errors: [400, [401, 'Invalid username or password']],
  },
  'GET /api/login/refresh': { responses: { 200: ok('A new access token', ref('RefreshReply')) }, errors: [401] },

  'GET /api/v3/process': {
    parameters: [
      query('id', 'Comma-separated process IDs'),
      query('reference', 'Only processes with exactly this reference'),
      query('idpattern', 'Glob pattern (* and ?) on the process ID'),
      query('refpattern', 'Glob pattern (* and ?) on the reference'),
      filterParam,
    ],
    responses: { 200: ok('The processes', { type: 'array', items: ref('Process') }) },
    errors: [400],
  },
  'POST /api/v3/process': {
    requestBody: { required: true, content: jsonContent(ref('ProcessConfigInput')) },
    responses: { 200: ok('The stored config, defaults applied and IDs filled in', ref('ProcessConfig')) },
    errors: [400, [409, 'A process with this ID exists'], [503, 'Max. number of running processes reached']],
  },
  'GET /api/v3/process/:id': { parameters: [filterParam], responses: { 200: ok('The process', ref('Process')) }, errors: [400, 404] },
  'PUT /api/v3/process/:id': {
    description: 'The body is merged over the stored config at the top level (so any subset of fields works); a different `id` renames the process.',
    requestBody: { required: true, content: jsonContent(ref('ProcessConfigUpdate')) },
    responses: { 200: ok('The new config', ref('ProcessConfig')) },
    errors: [400, 404, [409, 'The new ID is taken'], 503],
  },
  'DELETE /api/v3/process/:id': { responses: { 200: OK_STRING }, errors: [400, 404] },
  'PUT /api/v3/process/:id/command': {
    requestBody: { required: true, content: jsonContent(ref('ProcessCommand')) },
    responses: { 200: OK_STRING },
    errors: [400, 404, [503, 'Max. number of running processes reached']],
  },
  'GET /api/v3/process/:id/config': { responses: { 200: ok('The stored config', ref('ProcessConfig')) }, errors: [400, 404] },
  'GET /api/v3/process/:id/state': { responses: { 200: ok('The live state', ref('ProcessState')) }, errors: [400, 404] },
  'GET /api/v3/process/:id/report': { responses: { 200: ok('Log of the current run and the last runs', ref('Report')) }, errors: [400, 404] },
  'GET /api/v3/process/:id/metadata': {
    responses: { 200: ok('All metadata, or null', { oneOf: [ref('Metadata'), { type: 'null' }] }) },
    errors: [400, 404],
  },
  'GET /api/v3/process/:id/metadata/:key': { responses: { 200: METADATA_VALUE }, errors: [400, [404, 'No such process or key']] },
  'PUT /api/v3/process/:id/metadata/:key': {
    requestBody: { required: true, description: 'Any JSON; null deletes the key', content: jsonContent(ANY_JSON) },
    responses: { 200: METADATA_VALUE },
    errors: [400, 404],
  },
  'GET /api/v3/metadata': { responses: { 200: ok('All global metadata, or null', { oneOf: [ref('Metadata'), { type: 'null' }] }) } },
  'GET /api/v3/metadata/:key': { responses: { 200: METADATA_VALUE }, errors: [400, [404, 'No such key']] },
  'PUT /api/v3/metadata/:key': {
    requestBody: { required: true, description: 'Any JSON; null deletes the key', content: jsonContent(ANY_JSON) },
    responses: { 200: METADATA_VALUE },
    errors: [400],
  },

  'GET /api/v3/cluster': {
    description: 'Every node the cluster\'s Redis knows: `online` while its heartbeat lease lives, `lost` once it lapsed (cluster.node_timeout_seconds).',
    responses: { 200: ok('The nodes and totals', ref('Cluster')) },
    errors: [[404, 'This drake is not part of a cluster (cluster.enable is off)'], [503, "The cluster's Redis is unreachable"]],
  },
  'POST /api/v3/cluster/relay/:id': {
    description:
      'Node to node only (signed with the cluster secret; a client gets 401): an edge node asks the node that runs process `:id` to send the stream\'s RTP once to its relay port, ' +
      'or renews that ask (a lease of `lease_ms`). Answers the legs the stream carries.',
    requestBody: { required: true, content: jsonContent({ type: 'object', required: ['node', 'host', 'port', 'token', 'lease_ms'], properties: { node: { type: 'string' }, host: { type: 'string' }, port: { type: 'integer' }, token: { type: 'string', pattern: '^[0-9a-f]{16}$' }, lease_ms: { type: 'integer', minimum: 1000, maximum: 120000 } } }) },
    responses: { 200: ok('The legs relayed', { type: 'object', properties: { video: { type: 'boolean' }, audio: { type: 'boolean' } } }) },
    errors: [400, 401, [404, 'The process does not run on this node']],
  },
  'DELETE /api/v3/cluster/relay/:id/:node': {
    description: 'Node to node only (signed): edge `:node` no longer wants the relay of process `:id`.',
    responses: { 200: ok('Whether a relay was running', { type: 'object', properties: { dropped: { type: 'boolean' } } }) },
    errors: [401],
  },

  'GET /api/v3/widget/process/:id': {
    description: "As Core's widget: open to anyone, also when API auth is on, so that a public page can show a stream's audience. An unknown process answers 404 with Core's message.",
    responses: { 200: ok('Viewers and uptime', ref('WidgetProcess')) },
    errors: [[404, 'Unknown process ID']],
  },

  'POST /api/graph/query': {
    description:
      "Core's GraphQL schema, the queries drake answers: `ping`, `about` (as GET /api) and `playoutStatus(id, input)` (drake has no playout inputs: " +
      "always null with Core's error \"unknown process or input: …\"). Statuses as Core's server: a field that fails is 200 with `errors`; " +
      'a query that does not parse or validate is 422. The body is at most 64 KiB and 5000 tokens.',
    requestBody: { required: true, content: jsonContent(ref('GraphQuery')) },
    responses: {
      200: ok('The result (`errors` lists fields that failed)', ref('GraphResponse')),
      400: ok('The body is not a GraphQL request (invalid JSON, no query)', ref('GraphResponse')),
      415: ok('Content-Type is not application/json', ref('GraphResponse')),
      422: ok('The query does not parse or validate against the schema', ref('GraphResponse')),
    },
    errors: [413],
  },

  'GET /': { responses: { 200: ok('HTML page', STRING, undefined, 'text/html') } },
  'GET /player/:id': {
    parameters: [query('token', "The stream's WHEP token, passed on to the player")],
    responses: { 200: ok('HTML page', STRING, undefined, 'text/html') },
    errors: [[404, 'No such process with WebRTC on']],
  },

  'GET /api/v3/metrics': { responses: { 200: ok("Core's metrics and drake's drake_* families, sorted by name", { type: 'array', items: ref('MetricsDescription') }) } },
  'POST /api/v3/metrics': {
    description:
      "As Core: timerange_sec 0 gives the current values, more gives the history (kept for metrics.range_sec, one sample every metrics.interval_sec). " +
      'drake_* names give their current value only. Label values match exactly (Core takes regular expressions).',
    requestBody: { required: true, content: jsonContent(ref('MetricsQuery')) },
    responses: { 200: ok('Series of [unix_ts, value]', ref('MetricsReply')) },
    errors: [400, 413, 415],
  },

  'GET /api/v3/rtmp': {
    description: 'Names are paths under rtmp.app, as Core lists them: a process reads one with `{rtmp,name=<name without the app>}`.',
    responses: { 200: ok('The streams being published now', { type: 'array', items: ref('RtmpStream') }) },
    errors: [[404, 'The RTMP server is off (rtmp.enable)']],
  },
  'GET /api/v3/srt': {
    description:
      "Core's SRTChannels: which connection publishes each stream, which play it, and each connection's libsrt statistics (srt_bstats: " +
      'packets, bytes, loss, retransmits, drops, RTT, buffers) under Core\'s names, plus drake\'s mode/name/remote/connected_at/relay_drops. ' +
      'Publish with the stream id `name,mode:publish,token:T` (or `#!::r=name,m=publish,token=T`); a process reads a stream with `{srt,name=<name>}`.',
    responses: { 200: ok('Publishers, players and their connections now', ref('SrtChannels')) },
    errors: [[404, 'The SRT server is off (srt.enable)']],
  },
  'GET /api/swagger': { responses: { 302: ok('To /api/swagger/', undefined, { Location: header('swagger/') }) } },
  'GET /api/swagger/doc.json': { responses: { 200: ok('This document', { type: 'object' }) } },
  'GET /api/swagger/': { responses: { 200: ok('Swagger UI', STRING, undefined, 'text/html') } },
  'GET /api/swagger/index.html': { responses: { 200: ok('Swagger UI', STRING, undefined, 'text/html') } },
  'GET /api/swagger/swagger-ui.css': { responses: { 200: ok('Swagger UI asset', STRING, undefined, 'text/css') } },
  'GET /api/swagger/swagger-ui-bundle.js': { responses: { 200: ok('Swagger UI asset', STRING, undefined, 'text/javascript') } },
  'GET /api/swagger/swagger-ui-standalone-preset.js': { responses: { 200: ok('Swagger UI asset', STRING, undefined, 'text/javascript') } },
  'GET /api/swagger/swagger-initializer.js': { responses: { 200: ok('Swagger UI start script', STRING, undefined, 'text/javascript') } },
  'GET /api/swagger/favicon.png': { responses: { 200: ok('Icon', { type: 'string', contentMediaType: 'image/png' }, undefined, 'image/png') } },

  ...whepDocs('/whep'),
  ...whepDocs('/api/v3/whep'),
  ...whipDocs(),
  ...playoutDocs(),
};

/** Core's playout routes: drake has no playout inputs, so 404 with Core's reason is their only answer. */
function playoutDocs(): Record<string, OperationDoc> {
  const base = '/api/v3/process/:id/playout/:inputid';
  const doc: OperationDoc = {
    description:
      "Core's playout API serves inputs whose address is `playout:`/`avstream:` (Core's playout proxy). drake has none, so it answers as Core " +
      "does for an input without playout: 404 `Unknown process or input` with the reason in `details` (`no playout for input ID '…' and process '…'`, or `unknown process`).",
    responses: { 404: errorResponse(404, 'Unknown process or input (always: drake has no playout inputs)') },
  };
  return Object.fromEntries(
    ['GET /status', 'GET /reopen', 'GET /keyframe/*', 'GET /errorframe/encode', 'PUT /errorframe/*', 'POST /errorframe/*', 'PUT /stream'].map((k) => {
      const [m, path] = k.split(' ');
      return [`${m} ${base}${path}`, doc];
    }),
  );
}

function whepDocs(base: string): Record<string, OperationDoc> {
  const endpoint = `${base}/:id`;
  const session = `${base}/:id/:session`;
  const sdp = { type: 'string', description: 'SDP' };
  const frag = { type: 'string', description: 'SDP fragment (RFC 8840)' };
  const etag = header('ETag of the session (for If-Match)');
  const linkIce = header('ICE servers: <stun:…>; rel="ice-server" (with username/credential for TURN)');
  const notAllowed = (allow: string): OperationDoc => ({
    responses: { 405: { ...errorResponse(405, `Method not allowed: use ${allow}`), headers: { Allow: header('The methods this URL takes') } } },
  });
  return {
    [`OPTIONS ${endpoint}`]: {
      responses: { 204: ok('Preflight', undefined, { 'Accept-Post': header('application/sdp'), Link: linkIce }) },
    },
    [`POST ${endpoint}`]: {
      description: 'WHEP (draft-ietf-wish-whep): send an SDP offer (recvonly audio/video), get the answer and the session URL.',
      requestBody: { required: true, content: { 'application/sdp': { schema: sdp } } },
      responses: {
        201: ok(
          'Session created: SDP answer',
          sdp,
          { Location: header('The session URL (PATCH, DELETE)'), ETag: etag, 'Accept-Patch': header('application/trickle-ice-sdpfrag'), Link: linkIce },
          'application/sdp',
        ),
      },
      errors: [
        [400, 'Empty or invalid SDP offer'],
        [404, 'Unknown stream'],
        [406, 'The offer lacks a codec drake sends'],
        [409, 'The stream is not ready yet'],
        [415, 'Content-Type is not application/sdp'],
        [503, 'Viewer cap reached'],
        [504, 'ICE gathering timed out'],
      ],
    },
    [`OPTIONS ${session}`]: { responses: { 204: ok('Preflight', undefined, { 'Accept-Patch': header('application/trickle-ice-sdpfrag') }) } },
    [`PATCH ${session}`]: {
      description: 'Trickle ICE candidates (204), or an ICE restart when the fragment carries new ufrag/pwd (200 with the new ones).',
      parameters: [ifMatch],
      requestBody: { required: true, content: { 'application/trickle-ice-sdpfrag': { schema: frag } } },
      responses: {
        200: ok('ICE restart: the new local ufrag/pwd and candidates', frag, { ETag: etag }, 'application/trickle-ice-sdpfrag'),
        204: ok('Candidates added', undefined, { ETag: etag }),
      },
      errors: [
        [404, 'Unknown stream or session'],
        [412, 'If-Match does not match'],
        [415, 'Content-Type is not application/trickle-ice-sdpfrag'],
        [428, 'If-Match is required'],
      ],
    },
    [`DELETE ${session}`]: {
      parameters: [ifMatch],
      responses: { 200: ok('Session ended'), 204: ok('No such session (already gone)') },
      errors: [412, 428],
    },
    [`GET ${endpoint}`]: notAllowed('POST, OPTIONS'),
    [`HEAD ${endpoint}`]: notAllowed('POST, OPTIONS'),
    [`PUT ${endpoint}`]: notAllowed('POST, OPTIONS'),
    [`GET ${session}`]: notAllowed('PATCH, DELETE, OPTIONS'),
    [`HEAD ${session}`]: notAllowed('PATCH, DELETE, OPTIONS'),
    [`PUT ${session}`]: notAllowed('PATCH, DELETE, OPTIONS'),
  };
}

function whipDocs(): Record<string, OperationDoc> {
  const sdp = { type: 'string', description: 'SDP' };
  const frag = { type: 'string', description: 'application/trickle-ice-sdpfrag (RFC 8840)' };
  const etag = header('Entity tag of the session (If-Match on PATCH)');
  const linkIce = header('ICE servers: <stun:…>; rel="ice-server" (with username/credential for TURN)');
  return {
    'OPTIONS /whip/:name': { responses: { 204: ok('Preflight', undefined, { 'Accept-Post': header('application/sdp'), Link: linkIce }) } },
    'POST /whip/:name': {
      description:
        'WHIP (RFC 9725): send an SDP offer with sendonly H264 (packetization-mode 1) video and optionally Opus audio; get the answer and the session URL. ' +
        'WHEP viewers then watch /whep/whip:<name>, processes read {whip,name=<name>}. The token is whip.tokens[name], else whip.token; with API auth on, an API access token works too.',
      requestBody: { required: true, content: { 'application/sdp': { schema: sdp } } },
      responses: {
        201: ok('Publishing: SDP answer', sdp, { Location: header('The session URL (PATCH, DELETE)'), ETag: etag, 'Accept-Patch': header('application/trickle-ice-sdpfrag'), Link: linkIce }, 'application/sdp'),
      },
      errors: [
        [400, 'Empty or invalid SDP offer'],
        [401, 'Missing or wrong token'],
        [404, 'WHIP is off (whip.enable) or the name is invalid'],
        [406, 'The offer has no H264 (packetization-mode 1) video, or audio without Opus'],
        [409, 'The name already has a publisher'],
        [415, 'Content-Type is not application/sdp'],
        [504, 'ICE gathering timed out'],
      ],
    },
    'GET /whip/:name/sdp': {
      description: "The SDP FFmpeg reads a published stream from; {whip,name=…} resolves to this URL with drake's own credential. Each read starts an RTP forward to loopback ports named in the SDP.",
      parameters: [query('token', "drake's own credential (in the resolved {whip} address)")],
      responses: { 200: ok('SDP for FFmpeg', sdp, undefined, 'application/sdp') },
      errors: [[401, 'Wrong credential'], [404, 'The name is not being published']],
    },
    'OPTIONS /whip/:name/:session': { responses: { 204: ok('Preflight', undefined, { 'Accept-Patch': header('application/trickle-ice-sdpfrag') }) } },
    'PATCH /whip/:name/:session': {
      description: 'Trickle ICE candidates from the publisher (204). An ICE restart is refused (400): publish again.',
      parameters: [ifMatch],
      requestBody: { required: true, content: { 'application/trickle-ice-sdpfrag': { schema: frag } } },
      responses: { 204: ok('Candidates added') },
      errors: [[400, 'Malformed fragment or an ICE restart'], [404, 'Unknown session'], [412, 'If-Match does not match'], [415, 'Content-Type is not application/trickle-ice-sdpfrag'], [428, 'If-Match is required']],
    },
    'DELETE /whip/:name/:session': {
      description: 'Ends the publication: its WHEP viewers are closed, processes reading it go to reconnect.',
      responses: { 200: ok('Publication ended') },
      errors: [[404, 'Unknown session']],
    },
    'GET /api/v3/whip': {
      description: 'The streams being published over WHIP now, by name.',
      responses: { 200: ok('Publishers', { type: 'array', items: ref('WhipPublisher') }) },
      errors: [[404, 'WHIP ingest is off (whip.enable)']],
    },
  };
}

/** The table key of a route: "DELETE /api/v3/process/:id". */
export function routeKey(route: Pick<Route, 'method' | 'pattern'>): string {
  const m = route.method === 'any' ? 'ANY' : METHODS[route.method].toUpperCase();
  return `${m} ${route.pattern}`;
}

// ---------------------------------------------------------------------------------------------
// Security, tags, parameters.

const isUnder = (pattern: string, prefix: string) => pattern === prefix || pattern.startsWith(`${prefix}/`);

/**
 * /api/v3/* (but the widget) and /api/graph/* take the API's access token when auth is on (the gateway never asks it of OPTIONS);
 * GET /api/login/refresh takes the refresh token; /whep/* takes the stream's own token when that
 * process has one. Everything else is open.
 */
function securityOf(route: Route): Array<Record<string, string[]>> {
  if (route.method === 'options') return [];
  if (needsApiToken(route.pattern)) return [{ bearerAuth: [] }];
  if (route.pattern === '/api/login/refresh') return [{ refreshToken: [] }];
  if (isUnder(route.pattern, '/whep') && (route.method === 'post' || route.method === 'patch' || route.method === 'del')) return [{}, { whepToken: [] }];
  if (isUnder(route.pattern, '/whip') && (route.method === 'post' || route.method === 'patch' || route.method === 'del')) return [{}, { whipToken: [] }, { bearerAuth: [] }];
  return [];
}

const TAGS: Array<{ name: string; description: string }> = [
  { name: 'system', description: 'Liveness and facts about this drake' },
  { name: 'auth', description: 'Tokens for the API (when API auth is on)' },
  { name: 'process', description: 'FFmpeg processes (datarhei Core v3 shapes)' },
  { name: 'metadata', description: 'Global metadata' },
  { name: 'cluster', description: 'The nodes of a drake cluster' },
  { name: 'widget', description: "Core's public process widget (no auth)" },
  { name: 'graph', description: "Core's GraphQL API" },
  { name: 'rtmp', description: 'The built-in RTMP server (ingest)' },
  { name: 'srt', description: 'The built-in SRT server (ingest)' },
  { name: 'whep', description: 'WebRTC egress (WHEP)' },
  { name: 'whip', description: 'WebRTC ingest (WHIP)' },
  { name: 'pages', description: 'Pages for people' },
  { name: 'docs', description: 'This document and Swagger UI' },
];

function tagOf(pattern: string): string {
  const segs = pattern.split('/').filter(Boolean);
  const clean = (s: string | undefined, fallback: string) => (!s || s.startsWith(':') || s === '*' ? fallback : s.replace(/[^A-Za-z0-9_.-]/g, '_'));
  if (segs[0] === 'api') {
    if (segs[1] === 'v3') return clean(segs[2], 'system');
    if (segs[1] === 'login') return 'auth';
    if (segs[1] === 'swagger') return 'docs';
    return clean(segs[1], 'system');
  }
  if (segs.length === 0 || segs[0] === 'player') return 'pages';
  if (segs[0] === 'ping') return 'system';
  return clean(segs[0], 'other');
}

function pathParam(name: string, pattern: string, wildcard: boolean): OpenApiParameter {
  const p = (description: string, schema: JsonSchema = STRING): OpenApiParameter => ({ name, in: 'path', required: true, description, schema });
  if (wildcard) return p(`Path below ${pattern.slice(0, -1)} (may contain slashes)`);
  const processy = isUnder(pattern, '/api/v3/process') || isUnder(pattern, '/whep') || isUnder(pattern, '/api/v3/whep') || isUnder(pattern, '/player');
  const whep = isUnder(pattern, '/whep') || isUnder(pattern, '/api/v3/whep');
  if (name === 'id' && whep) return p('Process ID, or whip:<name> for a stream published over WHIP', { type: 'string', pattern: `^(?:${ID_PATTERN.source.slice(1, -1)}|whip:${WHIP_NAME.source.slice(1, -1)})$` });
  if (name === 'id' && processy) return p('Process ID', { type: 'string', pattern: ID_PATTERN.source });
  if (name === 'name' && isUnder(pattern, '/whip')) return p('WHIP stream name', { type: 'string', pattern: WHIP_NAME.source });
  if (name === 'session' && isUnder(pattern, '/whip')) return p('WHIP session ID (from the Location header)', { type: 'string', pattern: '^[0-9a-f]{32}$' });
  if (name === 'session') return p('WHEP session ID (from the Location header)', { type: 'string', pattern: '^[0-9a-f]{32}$' });
  if (name === 'key' && pattern.includes('/metadata/')) return p('Metadata key', { type: 'string', pattern: '^[A-Za-z0-9_.:-]+$', maxLength: 256 });
  return p(name);
}

function operationIdOf(method: OpenApiMethod, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '_'))
    .filter(Boolean);
  return [method, ...words].join('_') || method;
}

function operationOf(route: Route, path: string, method: OpenApiMethod): Omit<OpenApiOperation, 'operationId'> {
  const doc = KNOWN[routeKey(route)];
  const wildcard = path.endsWith('}') && route.pattern.endsWith('/*');
  const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  const parameters = [
    ...names.map((n, i) => pathParam(n, route.pattern, wildcard && i === names.length - 1)),
    ...(doc?.parameters ?? []),
  ];
  const security = securityOf(route);
  const responses: OpenApiOperation['responses'] = { ...(doc?.responses ?? { '2XX': ok('Success (see the summary)') }) };
  const errors = new Map<number, string | undefined>();
  for (const e of doc?.errors ?? []) errors.set(Array.isArray(e) ? e[0] : e, Array.isArray(e) ? e[1] : undefined);
  if (security.some((s) => 'bearerAuth' in s || 'refreshToken' in s)) errors.set(401, errors.get(401) ?? 'Missing or invalid token');
  if (security.some((s) => 'whipToken' in s)) errors.set(401, errors.get(401) ?? 'Missing or wrong publisher token');
  if (security.some((s) => 'whepToken' in s)) errors.set(401, errors.get(401) ?? 'The stream has a token and the request lacks it');
  if (route.body) errors.set(413, errors.get(413) ?? 'Request body too large');
  if (doc?.requestBody?.content['application/json']) errors.set(415, errors.get(415) ?? 'Content-Type is not application/json');
  for (const [status, description] of [...errors].sort((a, b) => a[0] - b[0])) responses[String(status)] ??= errorResponse(status, description);
  responses.default = { $ref: '#/components/responses/Error' };
  const requestBody = doc?.requestBody ?? (route.body ? { content: { '*/*': { schema: ANY_JSON } } } : undefined);
  return {
    summary: route.summary,
    ...(doc?.description ? { description: doc.description } : {}),
    tags: [tagOf(route.pattern)],
    ...(parameters.length ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
    security,
  };
}

// ---------------------------------------------------------------------------------------------

export function buildOpenApi(routes: Route[], info: { title: string; version: string; description?: string }): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  const ids = new Set<string>();
  const tags = new Set<string>();
  for (const route of routes) {
    const path = openApiPath(route);
    if (path === null || route.method === 'any') continue;
    const method = METHODS[route.method];
    const item = (paths[path] ??= {});
    if (item[method]) continue; // the first of two equal routes is the one uWS answers with
    let operationId = operationIdOf(method, path);
    for (let n = 2; ids.has(operationId); n++) operationId = `${operationIdOf(method, path)}_${n}`;
    ids.add(operationId);
    const op = operationOf(route, path, method);
    for (const t of op.tags) tags.add(t);
    item[method] = { operationId, ...op };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        info.description ??
        'FFmpeg process manager with a datarhei Core v3 style REST API and WHEP egress. Errors answer `{code, message, details}`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [...TAGS.filter((t) => tags.has(t.name)), ...[...tags].filter((t) => !TAGS.some((k) => k.name === t)).sort().map((name) => ({ name }))],
    paths,
    components: {
      schemas: componentSchemas(),
      responses: { Error: { description: 'Error', content: jsonContent(ref('Error')) } },
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'The access_token from POST /api/login (only when API auth is on)',
        },
        refreshToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'The refresh_token from POST /api/login',
        },
        whipToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'whip.tokens[<name>], else whip.token (publishers)',
        },
        whepToken: {
          type: 'http',
          scheme: 'bearer',
          description: "The process's webrtc.token, when it has one",
        },
      },
    },
  };
}

// Compile-time: the Process schema is exactly the supervisor's ProcessDto, its config in reply shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const processDtoMatches: Same<z.output<typeof processSchema>, Omit<ProcessDto, 'config'> & { config?: ApiProcessConfig }> = true;
void processDtoMatches;
const whipDtoMatches: Same<z.output<typeof whipPublisherSchema>, WhipPublisherDto> = true;
void whipDtoMatches;
