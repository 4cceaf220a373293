// Where an RTMP client wants to go, after Core's rtmp server: the path is the connect command's `app`
// joined with the publish/play name (clients split one URL path between the two differently), the
// stream name is what follows rtmp.app, and the token is `?token=` or else the last path element.
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** Names drake accepts for a stream (path elements, as Core's are paths): they end up in URLs, logs and the API. */
export const STREAM_NAME = /^(?=.{1,128}$)[A-Za-z0-9_.~-]+(\/[A-Za-z0-9_.~-]+)*$/;

/** One entry of GET /api/v3/rtmp (Core: `[{name}]`). */
export const rtmpStreamSchema = z.object({ name: z.string().describe('The stream path, e.g. /cam1') });

export type PathVerdict = { ok: true; name: string } | { ok: false; reason: string };

/** rtmp.app as a prefix without a trailing slash: `/` → ``, `/live/` → `/live`. */
export function appPrefix(app: string): string {
  return app.replace(/\/+$/, '');
}

function sameToken(given: string, wanted: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(wanted);
  return a.length === b.length && timingSafeEqual(a, b);
}

function unescape(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/**
 * A client's own text echoed in a refusal (logged, and sent back in the status): control characters (a
 * newline would forge log lines) and non-ASCII become '?', and it is cut to 140 characters.
 */
function shown(s: string): string {
  return s.slice(0, 140).replace(/[^\x20-\x7e]/g, '?');
}

/** The stream a client's `app` + `name` point at, checked against rtmp.app and rtmp.token. */
export function resolveStreamPath(app: string, name: string, settings: { app: string; token: string }): PathVerdict {
  const full = `/${app}${name ? `/${name}` : ''}`;
  const q = full.indexOf('?');
  let path = q < 0 ? full : full.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : full.slice(q + 1));
  path = path.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  const prefix = appPrefix(settings.app);
  if (!path.startsWith(`${prefix}/`)) return { ok: false, reason: `the path ${shown(path) || '/'} is not under the app ${settings.app}` };
  let rest = path.slice(prefix.length + 1);
  if (settings.token) {
    let token = query.get('token');
    if (token === null) {
      const slash = rest.lastIndexOf('/');
      if (slash < 0) return { ok: false, reason: 'a token is required' };
      token = unescape(rest.slice(slash + 1));
      rest = rest.slice(0, slash);
    }
    if (token === null || !sameToken(token, settings.token)) return { ok: false, reason: 'invalid token' };
  }
  const decoded = unescape(rest);
  if (decoded === null || !STREAM_NAME.test(decoded)) return { ok: false, reason: `invalid stream name "${shown(rest)}" (use 1–128 of A-Z a-z 0-9 _ . ~ - and / between path elements)` };
  return { ok: true, name: decoded };
}

/**
 * The template Core's {rtmp} placeholder becomes: `{name}` stands for the stream name, the token
 * rides in the query. A wildcard bind address is reached through loopback.
 */
export function rtmpUrlTemplate(host: string, port: number, app: string, token: string): string {
  const h = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `rtmp://${h}:${port}${appPrefix(app)}/{name}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

/** `host:port`, `:port` (every interface) or `[v6]:port`. */
export function parseListenAddress(address: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
