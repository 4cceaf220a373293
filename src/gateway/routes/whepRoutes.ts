// WHEP (draft-ietf-wish-whep) for every process with WebRTC on: POST an offer to the endpoint,
// PATCH trickle/ICE restart and DELETE on the session URL. Served under /whep (per-process Bearer
// token when set) and under /api/v3/whep (the API's auth, when that is on). In a cluster, a POST for a
// process another node runs is either served here from a relay of the owner's RTP (edge mode, see
// cluster/EdgeRelays.ts; the session then lives on this node) or answered 307 with that node's
// endpoint (the draft allows redirects), carrying a grant in place of the credential a cross-origin
// redirect drops (see whepGrant.ts). cluster.whep_mode chooses.
import { timingSafeEqual } from 'node:crypto';
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import { GRANT_PARAM, grantValid, signGrant } from '../../actors/cluster/whepGrant.ts';
import type { Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { CapacityError, NotFoundError, UnauthorizedError, UnavailableError, UnsupportedMediaTypeError, ValidationError } from '../../shared/errors.ts';
import { idSchema } from '../../shared/processConfig.ts';
import { z } from 'zod';
import { readJson } from '../body.ts';
import type { Reply, Request, Route } from '../http.ts';
import { SSE_EVENTS, SSE_REL, type WhepEvents } from '../whepEvents.ts';
import { WhipIngest } from '../../ingest/whip/WhipIngest.ts';

export const WHEP_MAX_BODY = 64 * 1024;
const SESSION_ID = /^[0-9a-f]{32}$/;

export const WHEP_CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'OPTIONS, POST, PATCH, DELETE, GET, HEAD',
  'access-control-allow-headers': 'Content-Type, Authorization, If-Match',
  'access-control-expose-headers': 'Location, ETag, Link, Accept-Post, Accept-Patch, Retry-After',
  'access-control-max-age': '86400',
};

export interface WhepRouteOptions {
  iceServers: Array<{ urls: string; username?: string; credential?: string }>;
  events: WhepEvents;
  /** This node's cluster membership (null: single node, or not joined yet). */
  cluster?: () => ClusterNode | null;
  /** WHIP ingest: `whip:<name>` in place of a process id watches a published stream (no token on /whep). */
  whip?: () => WhipIngest | null;
}

/** The id of a published stream's WHEP endpoint: `whip:<name>` (a process id cannot hold ':'). */
export const WHIP_PREFIX = 'whip:';

const sseRequestSchema = z.array(z.enum(SSE_EVENTS)).max(16);

function contentType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function processId(req: Request): string {
  const parsed = idSchema.safeParse(req.params.id);
  if (!parsed.success) throw new NotFoundError('unknown stream');
  return parsed.data;
}

/** The WHIP stream name when the URL's id is `whip:<name>`, else null. */
function publishedName(req: Request): string | null {
  const id = req.params.id ?? '';
  if (!id.startsWith(WHIP_PREFIX)) return null;
  const name = id.slice(WHIP_PREFIX.length);
  if (!WhipIngest.validName(name)) throw new NotFoundError('unknown stream');
  return name;
}

function linkHeader(servers: WhepRouteOptions['iceServers']): string {
  return servers
    .map((s) => {
      const cred = s.username !== undefined ? `; username="${s.username}"; credential="${s.credential ?? ''}"; credential-type="password"` : '';
      return `<${s.urls}>; rel="ice-server"${cred}`;
    })
    .join(', ');
}

function bearerMatches(req: Request, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function whepRoutes(sup: Supervisor, opts: WhepRouteOptions, base: '/whep' | '/api/v3/whep'): Route[] {
  const checkToken = base === '/whep';
  const cluster = opts.cluster ?? (() => null);
  /** A redirected POST's grant (signed by the node that checked the viewer's credential). */
  const granted = (req: Request, id: string) => req.method === 'post' && grantValid(cluster()?.secret ?? null, id, req.query.get(GRANT_PARAM));
  /** The edge side that serves stream `id` here from a relay (null: the stream runs here, or is not served here). */
  const edgeOf = (id: string) => {
    if (sup.has(id)) return null;
    const edges = cluster()?.edges;
    return edges?.has(id) ? edges : null;
  };
  const authorize = (req: Request, id: string) => {
    const edge = edgeOf(id);
    if (!edge && !sup.has(id)) throw new NotFoundError(`unknown stream ${id}`);
    const token = edge ? edge.token(id) : sup.whepToken(id);
    if (checkToken && token && !bearerMatches(req, token) && !granted(req, id)) throw new UnauthorizedError('this stream needs Authorization: Bearer <token>');
  };
  /**
   * Cluster: the 307 to the node that runs process `id`, or the viewer served here from a relay (edge
   * mode), or null when no other node runs it (then the usual 404). The stream's token is checked here,
   * against the cluster's copy of its config.
   */
  const redirect = async (req: Request, id: string): Promise<Reply | null> => {
    const node = cluster();
    if (!node?.secret) return null;
    let owner: Awaited<ReturnType<ClusterNode['owner']>>;
    try {
      owner = await node.owner(id);
    } catch {
      return null; // Redis unreachable: this node answers for its own processes only
    }
    if (!owner.placement || owner.placement.node === node.id) return null;
    if (!owner.online || !owner.url) throw new UnavailableError(`the node that runs stream ${id} is lost; the stream moves to another node within seconds`);
    const rec = await node.table.record(id).catch(() => null);
    if (checkToken) {
      const token = rec?.config.webrtc.token ?? '';
      if (token && !bearerMatches(req, token) && !granted(req, id)) throw new UnauthorizedError('this stream needs Authorization: Bearer <token>');
    }
    if (rec && node.edges.serveHere(id, owner.load)) return created(id, await node.edges.whepCreate(id, rec.config, req.body.toString('utf8')), false);
    const query = new URLSearchParams(req.query);
    query.set(GRANT_PARAM, signGrant(node.secret, id));
    return { status: 307, headers: { location: `${owner.url}${base}/${encodeURIComponent(id)}?${query}`, 'cache-control': 'no-store' } };
  };
  const whip = (): WhipIngest => {
    const w = opts.whip?.();
    if (!w) throw new NotFoundError('WHIP ingest is off (whip.enable)');
    return w;
  };
  const link = linkHeader(opts.iceServers);
  /** The 201; `sse`: the session has the server-sent events extension (not on an edge: its events follow the owner's process). */
  const created = (id: string, c: { id: string; etag: string; answer: string }, sse = true): Reply => {
    const location = `${base}/${id}/${c.id}`;
    const links = [link, sse ? `<${location}/sse>; rel="${SSE_REL}"; events="${SSE_EVENTS.join(',')}"` : ''].filter(Boolean).join(', ');
    return {
      status: 201,
      headers: {
        'content-type': 'application/sdp',
        location,
        etag: c.etag,
        'accept-patch': 'application/trickle-ice-sdpfrag',
        ...(links ? { link: links } : {}),
      },
      body: c.answer,
    };
  };
  const notAllowed = (allow: string): Reply => ({
    status: 405,
    headers: { allow, 'content-type': 'application/json' },
    body: JSON.stringify({ code: 405, message: `use ${allow}`, details: [] }),
  });
  const endpoint = `${base}/:id`;
  const session = `${base}/:id/:session`;
  const sessionId = (req: Request) => {
    const s = req.params.session ?? '';
    return SESSION_ID.test(s) ? s : null;
  };
  /** The event stream named by the URL, when it belongs to the URL's process and session. */
  const eventStream = (req: Request): string => {
    const id = processId(req);
    const sid = sessionId(req);
    const stream = req.params.stream ?? '';
    if (!sid || !SESSION_ID.test(stream) || !opts.events.has(id, sid, stream)) throw new NotFoundError('unknown event stream');
    return stream;
  };
  const endpointInfo = (req: Request): Reply => {
    const name = publishedName(req);
    if (name !== null) {
      if (!whip().has(name)) throw new NotFoundError(`stream ${WHIP_PREFIX}${name} is not being published`);
    } else authorize(req, processId(req));
    return { status: 204, headers: { 'accept-post': 'application/sdp', ...(link ? { link } : {}) } };
  };
  /** The URL's process and WHEP session, after the token check; 404 unless the session is live. */
  const liveSession = async (req: Request): Promise<{ id: string; sid: string }> => {
    const name = publishedName(req);
    if (name !== null) {
      const sid = sessionId(req);
      if (!sid || !(await whip().whepHasSession(name, sid))) throw new NotFoundError('unknown WHEP session');
      return { id: `${WHIP_PREFIX}${name}`, sid };
    }
    const id = processId(req);
    authorize(req, id);
    const sid = sessionId(req);
    const edge = edgeOf(id);
    if (!sid || !(edge ? (await edge.whepSessionIds(id)).has(sid) : await sup.whepHasSession(id, sid))) throw new NotFoundError('unknown WHEP session');
    return { id, sid };
  };
  const sessionInfo = async (req: Request): Promise<Reply> => {
    await liveSession(req);
    return { status: 204, headers: { 'accept-patch': 'application/trickle-ice-sdpfrag' } };
  };
  return [
    {
      method: 'options',
      pattern: endpoint,
      summary: 'WHEP endpoint preflight',
      handler: () => ({ status: 204, headers: { 'accept-post': 'application/sdp', ...(link ? { link } : {}) } }),
    },
    {
      method: 'post',
      pattern: endpoint,
      body: true,
      maxBodyBytes: WHEP_MAX_BODY,
      summary: 'WHEP: SDP offer in, 201 + SDP answer + Location + ETag out',
      handler: async (req) => {
        const name = publishedName(req);
        if (contentType(req) !== 'application/sdp') throw new UnsupportedMediaTypeError('Content-Type must be application/sdp');
        if (req.body.length === 0) throw new ValidationError('empty SDP offer');
        if (name !== null) {
          const max = sup.maxViewersTotal;
          if (sup.totalViewers >= max) throw new CapacityError(`drake has reached its total viewer limit (${max})`);
          const created = await whip().whepCreate(name, req.body.toString('utf8'));
          const headers: Record<string, string> = {
            'content-type': 'application/sdp',
            location: `${base}/${WHIP_PREFIX}${name}/${created.id}`,
            etag: created.etag,
            'accept-patch': 'application/trickle-ice-sdpfrag',
            ...(link ? { link } : {}),
          };
          return { status: 201, headers, body: created.answer };
        }
        const id = processId(req);
        if (!sup.has(id)) {
          const elsewhere = await redirect(req, id);
          if (elsewhere) return elsewhere;
        }
        authorize(req, id);
        return created(id, await sup.whepCreate(id, req.body.toString('utf8')));
      },
    },
    {
      method: 'options',
      pattern: session,
      summary: 'WHEP session preflight',
      handler: () => ({ status: 204, headers: { 'accept-patch': 'application/trickle-ice-sdpfrag' } }),
    },
    {
      method: 'patch',
      pattern: session,
      body: true,
      maxBodyBytes: WHEP_MAX_BODY,
      summary: 'WHEP trickle ICE (204) or ICE restart (200 + new ufrag/pwd); If-Match checked',
      handler: async (req): Promise<Reply> => {
        const name = publishedName(req);
        const id = name === null ? processId(req) : '';
        const sid = sessionId(req);
        if (!sid) throw new NotFoundError('unknown WHEP session');
        if (name === null) authorize(req, id);
        if (contentType(req) !== 'application/trickle-ice-sdpfrag') throw new UnsupportedMediaTypeError('Content-Type must be application/trickle-ice-sdpfrag');
        const frag = req.body.toString('utf8');
        const ifMatch = req.headers['if-match'] ?? null;
        const edge = name === null ? edgeOf(id) : null;
        const patched = name !== null ? await whip().whepPatch(name, sid, frag, ifMatch) : await (edge ?? sup).whepPatch(id, sid, frag, ifMatch);
        // The draft: a trickle answer (204) carries no ETag; only a restart's 200 has the new one.
        if (patched.status === 204) return { status: 204 };
        return { status: 200, headers: { 'content-type': 'application/trickle-ice-sdpfrag', etag: patched.etag }, body: patched.body ?? '' };
      },
    },
    {
      method: 'del',
      pattern: session,
      summary: 'WHEP: end the session (200; 204 when already gone)',
      handler: async (req) => {
        const name = publishedName(req);
        const sid = sessionId(req);
        if (name !== null) return { status: sid && (await whip().whepDelete(name, sid)) ? 200 : 204 };
        const id = processId(req);
        const edge = edgeOf(id);
        if (sid && (edge || sup.has(id))) authorize(req, id);
        const removed = sid ? await (edge ?? sup).whepDelete(id, sid) : false;
        if (sid) opts.events.endSession(sid);
        return { status: removed ? 200 : 204 };
      },
    },
    {
      method: 'post',
      pattern: `${session}/sse`,
      body: true,
      maxBodyBytes: 4096,
      summary: 'WHEP server-sent events: create an event stream for the session (JSON array of event types, or empty for all) → 201 + Location',
      handler: async (req): Promise<Reply> => {
        if (publishedName(req) !== null) throw new NotFoundError('server-sent events are not offered for published (WHIP) streams');
        const { id, sid } = await liveSession(req);
        if (edgeOf(id)) throw new NotFoundError('server-sent events are not offered for a session an edge node serves (its 201 has no such Link)');
        let wanted: Array<(typeof SSE_EVENTS)[number]> | null = null;
        if (req.body.length > 0) {
          const parsed = sseRequestSchema.safeParse(readJson(req));
          if (!parsed.success) throw new ValidationError(`expected a JSON array of event types out of ${SSE_EVENTS.join(', ')}`, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
          wanted = parsed.data;
        }
        const streamId = await opts.events.create(id, sid, wanted);
        return { status: 201, headers: { location: `${base}/${id}/${sid}/sse/${streamId}` } };
      },
    },
    {
      method: 'get',
      pattern: `${session}/sse/:stream`,
      summary: 'WHEP server-sent events: the event stream (text/event-stream; its URL is the credential)',
      handler: (req): Reply => {
        const stream = eventStream(req);
        return {
          status: 200,
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
          stream: (out) => opts.events.attach(stream, out),
        };
      },
    },
    {
      method: 'del',
      pattern: `${session}/sse/:stream`,
      summary: 'WHEP server-sent events: end the event stream (200; 404 when unknown)',
      handler: (req): Reply => {
        opts.events.delete(eventStream(req));
        return { status: 200 };
      },
    },
    // The draft: endpoints and sessions have no representation, so GET answers 2xx with no content.
    // HEAD answers the same, with the headers OPTIONS would give (what a client may send there).
    { method: 'get', pattern: endpoint, summary: 'WHEP endpoint: no representation (204)', handler: (req) => endpointInfo(req) },
    { method: 'head', pattern: endpoint, summary: 'WHEP endpoint: no representation (204)', handler: (req) => endpointInfo(req) },
    { method: 'put', pattern: endpoint, summary: 'not allowed on a WHEP endpoint', handler: () => notAllowed('POST, OPTIONS, GET, HEAD') },
    { method: 'get', pattern: session, summary: 'WHEP session: no representation (204)', handler: (req) => sessionInfo(req) },
    { method: 'head', pattern: session, summary: 'WHEP session: no representation (204)', handler: (req) => sessionInfo(req) },
    { method: 'put', pattern: session, summary: 'not allowed on a WHEP session', handler: () => notAllowed('PATCH, DELETE, OPTIONS, GET, HEAD') },
  ];
}
