// Filesystems over HTTP, as Core: /memfs/* (public reads, Basic-auth writes: FFmpeg's HLS/DASH
// target), the disk filesystem read-only under /data/* (Core serves it at /*, which drake uses for
// its own pages), and /api/v3/fs for listings and file access by filesystem name.
//
// FFmpeg and memfs auth: FFmpeg sends Basic credentials from the URL only after a 401 challenge,
// and it asks with `Expect: 100-continue`. uWS answers "100 Continue" itself before any handler
// runs, so FFmpeg sends the body, gets the 401 afterwards and ignores it (exit code 0, nothing
// stored). FFmpeg must send the credentials up front: `-headers "Authorization: <basicAuthHeader>\r\n"`
// for HLS and plain HTTP outputs, `-http_opts auth_type=basic` (credentials in the URL) for DASH.
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { NotFoundError, ValidationError } from '../../shared/errors.ts';
import { errorReply } from '../errorStatus.ts';
import type { DiskFs } from '../fs/DiskFs.ts';
import { normalizePath, parseOrder, parseSort, type MemFs } from '../fs/MemFs.ts';
import { serveFile } from '../fs/serveFile.ts';
import { json, text, type Handler, type Method, type Reply, type Request, type Route } from '../http.ts';

export const MEMFS_MOUNT = '/memfs';
/** Where drake serves storage.disk.dir (Core: `/`). */
export const DISK_MOUNT = '/data';
/** Default body limit of filesystem writes: HLS segments are a few MB, a long GOP at a high rate more. */
export const DEFAULT_MAX_WRITE_BYTES = 64 * 1024 * 1024;
/** Largest disk file sent whole; bigger ones are served in ranges (players ask for ranges anyway). */
export const DEFAULT_MAX_SERVE_BYTES = 256 * 1024 * 1024;
export const MEMFS_REALM = 'drake memfs';

export interface FsRoutesOptions {
  /** Credentials for writes to /memfs/*; null: writes are open. */
  memfsAuth: { username: string; password: string } | null;
  /** Body limit of PUT/POST to /memfs/* and /api/v3/fs/:name/*. The gateway must mount these routes with a server limit at least this big. */
  maxWriteBytes?: number;
  /** Largest file sent whole (disk). */
  maxServeBytes?: number;
  /** Access-Control-Allow-Origin on the filesystem mounts (Core's storage.cors.origins); null: none. */
  corsOrigin?: string | null;
}

/** The Basic-auth header value FFmpeg must send up front (see `-headers`); exported for the process side. */
export function basicAuthHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A random password like Core's default memfs password (18 characters). */
export function randomPassword(length = 18): string {
  return Array.from({ length }, () => PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)]).join('');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function checker(auth: FsRoutesOptions['memfsAuth']): (req: Request) => boolean {
  if (!auth) return () => true;
  const want = digest(`${auth.username}:${auth.password}`);
  return (req) => {
    const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(req.headers['authorization'] ?? '');
    if (!m) return false;
    const got = digest(Buffer.from(m[1]!, 'base64').toString('utf8'));
    return timingSafeEqual(got, want);
  };
}

/** The filesystem path of a request: the URL after `prefix`, percent-decoded and normalised. */
export function pathAfter(url: string, prefix: string): string {
  const raw = url.startsWith(prefix) ? url.slice(prefix.length) : url;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new ValidationError('invalid percent-encoding in path', [raw]);
  }
  return normalizePath(decoded);
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/**
 * Core serves the disk filesystem at `/`; drake's own pages are there, so a GET/HEAD that no route
 * takes is answered from the disk filesystem when it holds that file (Restreamer UI links its player
 * as `/<channel>.html`, its oembed as `/channels/<channel>/oembed.json`), else null. The files are the
 * public ones of `/data/*`.
 */
export function diskAtRoot(disk: DiskFs, opts: FsRoutesOptions): (req: Request) => Promise<Reply | null> {
  const maxServe = opts.maxServeBytes ?? DEFAULT_MAX_SERVE_BYTES;
  return async (req) => {
    if ((req.method !== 'get' && req.method !== 'head') || req.url === '/' || /^\/(api|memfs|whep|data)(\/|$)/.test(req.url)) return null;
    let path: string;
    try {
      path = pathAfter(req.url, '');
    } catch {
      return null;
    }
    const file = await disk.get(path);
    if (!file) return null;
    const reply = await serveFile(req, file.name, file, { maxBodyBytes: maxServe });
    const cors: Record<string, string> = opts.corsOrigin === null ? {} : { 'access-control-allow-origin': opts.corsOrigin ?? '*' };
    return { ...reply, headers: { ...cors, ...(reply.headers ?? {}) } };
  };
}

export function fsRoutes(mem: MemFs, disk: DiskFs, opts: FsRoutesOptions): Route[] {
  const maxWrite = opts.maxWriteBytes ?? DEFAULT_MAX_WRITE_BYTES;
  const maxServe = opts.maxServeBytes ?? DEFAULT_MAX_SERVE_BYTES;
  const cors: Record<string, string> =
    opts.corsOrigin === null
      ? {}
      : {
          'access-control-allow-origin': opts.corsOrigin ?? '*',
          'access-control-expose-headers': 'Content-Length, Content-Range, ETag, Last-Modified',
        };
  const authorized = checker(opts.memfsAuth);
  const unauthorized = (): Reply =>
    json(401, { code: 401, message: 'Unauthorized', details: ['writes to /memfs need HTTP Basic credentials'] }, {
      'www-authenticate': `Basic realm="${MEMFS_REALM}"`,
    });

  /** Mount handlers answer errors with CORS headers too, so browsers can read them. */
  const withCors =
    (h: Handler): Handler =>
    async (req) => {
      let reply: Reply;
      try {
        reply = await h(req);
      } catch (err) {
        reply = errorReply(err);
      }
      return { ...reply, headers: { ...cors, ...(reply.headers ?? {}) } };
    };

  const fileNotFound = (path: string) => new NotFoundError('File not found', [path]);

  // ---- memfs ----
  const memGet = (path: string, req: Request): Promise<Reply> => {
    const file = mem.get(path);
    if (!file) throw fileNotFound(path);
    return serveFile(req, path, {
      size: file.size,
      lastModified: file.lastModified,
      etag: file.etag,
      contentType: file.contentType ?? undefined,
      read: (s, e) => file.data.subarray(s, e),
    });
  };
  const memPut = (path: string, req: Request, api: boolean): Reply => {
    const result = mem.put(path, req.body, req.headers['content-type'] ?? null);
    const location = `${MEMFS_MOUNT}${encodePath(normalizePath(path))}`;
    if (result === 'replaced') return { status: 204, headers: { 'content-location': location } };
    if (api) return json(201, path, { 'content-location': location });
    return { status: 201, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-location': location }, body: path };
  };
  const memDelete = (path: string, api: boolean): Reply => {
    if (!mem.delete(path)) throw fileNotFound(path);
    return api ? json(200, `Deleted: ${path}`) : text(200, `Deleted: ${path}`);
  };

  // ---- disk ----
  const diskGet = async (path: string, req: Request): Promise<Reply> => {
    const file = await disk.get(path);
    if (!file) throw fileNotFound(path);
    return serveFile(req, file.name, file, { maxBodyBytes: maxServe });
  };
  const diskPut = async (path: string, req: Request): Promise<Reply> => {
    const result = await disk.put(path, req.body);
    const location = `${DISK_MOUNT}${encodePath(normalizePath(path))}`;
    return result === 'replaced' ? { status: 204, headers: { 'content-location': location } } : json(201, path, { 'content-location': location });
  };
  const diskDelete = async (path: string): Promise<Reply> => {
    if (!(await disk.delete(path))) throw fileNotFound(path);
    return json(200, `Deleted: ${path}`);
  };

  const route = (method: Method, pattern: string, summary: string, handler: Handler, body = false): Route =>
    body ? { method, pattern, summary, handler, body, maxBodyBytes: maxWrite } : { method, pattern, summary, handler };

  const memPattern = `${MEMFS_MOUNT}/*`;
  const diskPattern = `${DISK_MOUNT}/*`;
  const memRead: Handler = withCors((req) => memGet(pathAfter(req.url, MEMFS_MOUNT), req));
  const memWrite: Handler = withCors((req) => {
    if (!authorized(req)) return unauthorized();
    return memPut(pathAfter(req.url, MEMFS_MOUNT), req, false);
  });
  const memDel: Handler = withCors((req) => {
    if (!authorized(req)) return unauthorized();
    return memDelete(pathAfter(req.url, MEMFS_MOUNT), false);
  });
  const diskRead: Handler = withCors((req) => diskGet(pathAfter(req.url, DISK_MOUNT), req));

  /** `/api/v3/fs/<name>/<path>`: the filesystem name and the path inside it. */
  const apiTarget = (req: Request): { fs: 'mem' | 'disk'; path: string } => {
    const name = req.params.name ?? '';
    if (name !== 'mem' && name !== 'disk') throw new NotFoundError('Filesystem not found', [name]);
    const rest = req.url.slice('/api/v3/fs/'.length);
    const slash = rest.indexOf('/');
    return { fs: name, path: pathAfter(slash < 0 ? '/' : rest.slice(slash), '') };
  };

  return [
    route('get', memPattern, 'Memory filesystem: read a file (public)', memRead),
    route('head', memPattern, 'Memory filesystem: file headers (public)', memRead),
    route('put', memPattern, 'Memory filesystem: write a file (Basic auth when enabled): 201 created, 204 replaced', memWrite, true),
    route('post', memPattern, 'Memory filesystem: write a file (Basic auth when enabled): 201 created, 204 replaced', memWrite, true),
    route('del', memPattern, 'Memory filesystem: delete a file (Basic auth when enabled)', memDel),
    route('get', DISK_MOUNT, 'Disk filesystem: redirects to its index', () => ({ status: 301, headers: { location: `${DISK_MOUNT}/` } })),
    route('get', diskPattern, 'Disk filesystem (storage.disk.dir), read-only; Core serves it at /*', diskRead),
    route('head', diskPattern, 'Disk filesystem: file headers', diskRead),
    route('get', '/api/v3/fs', 'List filesystems: [{name, type, mount}]', () =>
      json(200, [
        { name: 'disk', type: 'disk', mount: DISK_MOUNT },
        { name: 'mem', type: 'mem', mount: MEMFS_MOUNT },
      ]),
    ),
    route('get', '/api/v3/fs/:name', 'List files of a filesystem (?glob= &sort=none|name|size|lastmod &order=asc|desc)', async (req) => {
      const name = req.params.name ?? '';
      const glob = req.query.get('glob');
      const sort = parseSort(req.query.get('sort'));
      const order = parseOrder(req.query.get('order'));
      if (name === 'mem') return json(200, mem.list(glob, sort, order));
      if (name === 'disk') return json(200, await disk.list(glob, sort, order));
      throw new NotFoundError('Filesystem not found', [name]);
    }),
    ...(['get', 'head'] as const).map((m) =>
      route(m, '/api/v3/fs/:name/*', 'Read a file of a filesystem', (req) => {
        const t = apiTarget(req);
        return t.fs === 'mem' ? memGet(t.path, req) : diskGet(t.path, req);
      }),
    ),
    route(
      'put',
      '/api/v3/fs/:name/*',
      'Write a file of a filesystem: 201 created, 204 replaced',
      (req) => {
        const t = apiTarget(req);
        return t.fs === 'mem' ? memPut(t.path, req, true) : diskPut(t.path, req);
      },
      true,
    ),
    route('del', '/api/v3/fs/:name/*', 'Delete a file of a filesystem', (req) => {
      const t = apiTarget(req);
      return t.fs === 'mem' ? memDelete(t.path, true) : diskDelete(t.path);
    }),
  ];
}
