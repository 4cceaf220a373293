// WHIP (RFC 9725) ingest: POST an SDP offer to /whip/<name> (Bearer token per whip.token / whip.tokens,
// or the API's access token when API auth is on), PATCH trickle ICE and DELETE on the session URL.
// GET /whip/<name>/sdp is for drake's own processes ({whip,name=…}), GET /api/v3/whip lists publishers.
import type { ApiAuth } from '../auth/ApiAuth.ts';
import { WhipIngest } from '../../ingest/whip/WhipIngest.ts';
import { NotFoundError, UnauthorizedError, UnsupportedMediaTypeError, ValidationError } from '../../shared/errors.ts';
import { json, type Reply, type Request, type Route } from '../http.ts';
import { WHEP_MAX_BODY } from './whepRoutes.ts';

export const WHIP_CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'OPTIONS, POST, PATCH, DELETE',
  'access-control-allow-headers': 'Content-Type, Authorization, If-Match',
  'access-control-expose-headers': 'Location, ETag, Link, Accept-Post, Accept-Patch',
  'access-control-max-age': '86400',
};

export interface WhipRouteOptions {
  whip: () => WhipIngest | null;
  auth: ApiAuth | null;
  iceServers: Array<{ urls: string; username?: string; credential?: string }>;
}

function contentType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function bearer(req: Request): string {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
}

function linkHeader(servers: WhipRouteOptions['iceServers']): string {
  return servers
    .map((s) => {
      const cred = s.username !== undefined ? `; username="${s.username}"; credential="${s.credential ?? ''}"; credential-type="password"` : '';
      return `<${s.urls}>; rel="ice-server"${cred}`;
    })
    .join(', ');
}

export function whipRoutes(opts: WhipRouteOptions): Route[] {
  const ingest = (): WhipIngest => {
    const w = opts.whip();
    if (!w) throw new NotFoundError('WHIP ingest is off (whip.enable)');
    return w;
  };
  const streamName = (req: Request): string => {
    const name = req.params.name ?? '';
    if (!WhipIngest.validName(name)) throw new NotFoundError(`invalid WHIP stream name (1-64 of A-Z a-z 0-9 _ . ~ -)`);
    return name;
  };
  /** The stream's token, or (API auth on) a valid API access token. */
  const authorize = (req: Request, w: WhipIngest, name: string): void => {
    const given = bearer(req);
    if (w.tokenFor(name) === '' && !opts.auth) return;
    if (given && w.tokenFor(name) !== '' && w.tokenMatches(name, given)) return;
    if (opts.auth?.allows(req)) return;
    if (w.tokenFor(name) === '') throw new UnauthorizedError('publishing needs the API\'s access token (Authorization: Bearer <token>)');
    throw new UnauthorizedError(`publishing ${name} needs Authorization: Bearer <token>`);
  };
  const link = linkHeader(opts.iceServers);
  const sessionPath = (name: string, sid: string) => `/whip/${name}/${sid}`;
  return [
    {
      method: 'options',
      pattern: '/whip/:name',
      summary: 'WHIP endpoint preflight',
      handler: (): Reply => ({ status: 204, headers: { 'accept-post': 'application/sdp', ...(link ? { link } : {}) } }),
    },
    {
      method: 'post',
      pattern: '/whip/:name',
      body: true,
      maxBodyBytes: WHEP_MAX_BODY,
      summary: 'WHIP: publish H264 + Opus; SDP offer in, 201 + SDP answer + Location + ETag out (409 while the name has a publisher)',
      handler: async (req): Promise<Reply> => {
        const w = ingest();
        const name = streamName(req);
        authorize(req, w, name);
        if (contentType(req) !== 'application/sdp') throw new UnsupportedMediaTypeError('Content-Type must be application/sdp');
        if (req.body.length === 0) throw new ValidationError('empty SDP offer');
        const published = await w.publish(name, req.body.toString('utf8'));
        return {
          status: 201,
          headers: {
            'content-type': 'application/sdp',
            location: sessionPath(name, published.sessionId),
            etag: published.etag,
            'accept-patch': 'application/trickle-ice-sdpfrag',
            ...(link ? { link } : {}),
          },
          body: published.answer,
        };
      },
    },
    {
      method: 'get',
      pattern: '/whip/:name/sdp',
      summary: 'The SDP a process reads a published stream from ({whip,name=…}; drake\'s own credential only)',
      handler: async (req): Promise<Reply> => {
        const w = ingest();
        const name = streamName(req);
        if (!w.readerSecretMatches(req.query.get('token') ?? '')) throw new UnauthorizedError('this URL is for drake\'s own processes ({whip,name=…})');
        return { status: 200, headers: { 'content-type': 'application/sdp', 'cache-control': 'no-store' }, body: await w.readerSdp(name) };
      },
    },
    {
      method: 'options',
      pattern: '/whip/:name/:session',
      summary: 'WHIP session preflight',
      handler: (): Reply => ({ status: 204, headers: { 'accept-patch': 'application/trickle-ice-sdpfrag' } }),
    },
    {
      method: 'patch',
      pattern: '/whip/:name/:session',
      body: true,
      maxBodyBytes: WHEP_MAX_BODY,
      summary: 'WHIP trickle ICE (204); If-Match checked',
      handler: async (req): Promise<Reply> => {
        const w = ingest();
        const name = streamName(req);
        authorize(req, w, name);
        if (contentType(req) !== 'application/trickle-ice-sdpfrag') throw new UnsupportedMediaTypeError('Content-Type must be application/trickle-ice-sdpfrag');
        await w.patch(name, req.params.session ?? '', req.body.toString('utf8'), req.headers['if-match'] ?? null);
        return { status: 204 };
      },
    },
    {
      method: 'del',
      pattern: '/whip/:name/:session',
      summary: 'WHIP: end the publication (200; 404 when there is no such session)',
      handler: async (req): Promise<Reply> => {
        const w = ingest();
        const name = streamName(req);
        authorize(req, w, name);
        if (!(await w.unpublish(name, req.params.session ?? ''))) throw new NotFoundError('unknown WHIP session');
        return { status: 200 };
      },
    },
    {
      method: 'get',
      pattern: '/api/v3/whip',
      summary: 'The streams being published over WHIP: name, since, codecs, packets and bytes, viewers, readers',
      handler: async () => json(200, await ingest().list()),
    },
  ];
}
