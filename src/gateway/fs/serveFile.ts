// HTTP semantics shared by the memory and the disk filesystem: content type by extension,
// validators (Last-Modified, ETag, conditional GET), Cache-Control for HLS/DASH, single-range
// requests (206/416) and HEAD. The file comes as a FileSource so the disk can read only the
// requested bytes; the answer is a plain Reply.
import type { Reply, Request } from '../http.ts';

const TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  m3u: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  ts: 'video/mp2t',
  m4s: 'video/mp4',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  mp3: 'audio/mpeg',
  webm: 'video/webm',
  vtt: 'text/vtt; charset=utf-8',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json',
  xml: 'application/xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  webp: 'image/webp',
  ico: 'image/x-icon',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
};

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

function extension(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** The content type drake serves for a file name, or null when the extension is not known. */
export function knownContentType(path: string): string | null {
  return TYPES[extension(path)] ?? null;
}

/** The content type for a file name; application/octet-stream when the extension is not known. */
export function contentTypeFor(path: string): string {
  return knownContentType(path) ?? DEFAULT_CONTENT_TYPE;
}

const PLAYLISTS = new Set(['m3u8', 'm3u', 'mpd']);
const SEGMENTS = new Set(['ts', 'm4s', 'mp4', 'm4v', 'm4a', 'aac', 'mp3', 'webm', 'vtt']);
/** Seconds a segment may be cached: segments do not change once written, but names can be reused by a restarted process. */
export const SEGMENT_MAX_AGE_SECONDS = 30;

/** Playlists change with every segment: revalidate. Segments: a short max-age. Everything else: revalidate. */
export function cacheControlFor(path: string): string {
  const ext = extension(path);
  if (PLAYLISTS.has(ext)) return 'no-cache';
  if (SEGMENTS.has(ext)) return `public, max-age=${SEGMENT_MAX_AGE_SECONDS}`;
  return 'no-cache';
}

export interface FileSource {
  size: number;
  lastModified: Date;
  /** A strong validator; a default is made from size and modification time. */
  etag?: string;
  /** Used when the extension says nothing (e.g. the type a client PUT with). */
  contentType?: string;
  /** Bytes [start, end) of the file. */
  read(start: number, end: number): Buffer | Promise<Buffer>;
}

export interface ServeOptions {
  /** Largest body drake builds in memory; a larger file is served only in ranges. Default: no limit. */
  maxBodyBytes?: number;
  /** Extra headers on every answer (CORS). */
  headers?: Record<string, string>;
}

export function defaultEtag(size: number, lastModified: Date): string {
  return `"${size.toString(16)}-${Math.floor(lastModified.getTime()).toString(16)}"`;
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * Parses a Range header against a size: `{start, end}` (end exclusive) for one satisfiable range,
 * 'unsatisfiable', or null when the header is absent, malformed or asks for several ranges
 * (those are answered with the whole file, which RFC 9110 allows).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return null;
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size : Math.min(size, Number(b) + 1);
  return { start, end };
}

function etagMatches(header: string, etag: string): boolean {
  const strip = (t: string) => t.trim().replace(/^W\//, '');
  const mine = strip(etag);
  return header.split(',').some((t) => t.trim() === '*' || strip(t) === mine);
}

function notModified(req: Request, etag: string, lastModified: Date): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) return etagMatches(inm, etag);
  const ims = req.headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return Number.isFinite(since) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000);
}

/** If-Range: the range applies only while the validator still matches (strong comparison). */
function rangeStillValid(req: Request, etag: string, lastModified: Date): boolean {
  const ifRange = req.headers['if-range'];
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return !v.startsWith('W/') && v === etag;
  const date = Date.parse(v);
  return Number.isFinite(date) && Math.floor(lastModified.getTime() / 1000) === Math.floor(date / 1000);
}

/**
 * Answers GET or HEAD for one file. uWS sets Content-Length itself for a body; for HEAD (sent
 * without a body) the header is written here so that clients learn the size.
 */
export async function serveFile(req: Request, path: string, file: FileSource, opts: ServeOptions = {}): Promise<Reply> {
  const head = req.method === 'head';
  const etag = file.etag ?? defaultEtag(file.size, file.lastModified);
  const headers: Record<string, string> = {
    ...(opts.headers ?? {}),
    'content-type': knownContentType(path) ?? file.contentType ?? DEFAULT_CONTENT_TYPE,
    'last-modified': file.lastModified.toUTCString(),
    etag,
    'cache-control': cacheControlFor(path),
    'accept-ranges': 'bytes',
  };
  if (notModified(req, etag, file.lastModified)) {
    delete headers['content-type'];
    return { status: 304, headers };
  }
  let range = parseRange(req.headers['range'], file.size);
  if (range !== null && !rangeStillValid(req, etag, file.lastModified)) range = null;
  if (range === 'unsatisfiable') {
    return {
      status: 416,
      headers: { ...headers, 'content-range': `bytes */${file.size}`, 'content-type': 'text/plain; charset=utf-8' },
      body: head ? undefined : 'Range Not Satisfiable',
    };
  }
  const limit = opts.maxBodyBytes ?? Infinity;
  let status = 200;
  let start = 0;
  let end = file.size;
  if (range) {
    status = 206;
    start = range.start;
    // An open-ended range of a big file is shortened: a 206 may carry less than was asked for.
    end = Math.min(range.end, start + limit);
    headers['content-range'] = `bytes ${start}-${end - 1}/${file.size}`;
  } else if (file.size > limit) {
    return {
      status: 501,
      headers: { ...(opts.headers ?? {}), 'content-type': 'application/json', 'accept-ranges': 'bytes' },
      body: head
        ? undefined
        : JSON.stringify({ code: 501, message: `files over ${limit} bytes are served in ranges only: send a Range header`, details: [path] }),
    };
  }
  if (head) {
    headers['content-length'] = String(end - start);
    return { status, headers };
  }
  const body = end > start ? await file.read(start, end) : Buffer.alloc(0);
  return { status, headers, body };
}
