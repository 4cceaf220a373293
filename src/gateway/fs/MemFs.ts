// The memory filesystem behind /memfs: FFmpeg pushes HLS/DASH playlists and segments here with
// HTTP PUT and viewers read them back. Files live in a Map in insertion order; a replaced file
// moves to the end, so the Map's order is "least recently written first" and purging the oldest
// files is a walk from the front. Like Core's memfs: an optional size limit, and `purge` to make
// room by deleting the oldest files instead of refusing the write.
import { randomBytes } from 'node:crypto';
import { ValidationError } from '../../shared/errors.ts';

export const MAX_PATH_LENGTH = 1024;

export type SortBy = 'none' | 'name' | 'size' | 'lastmod';
export type SortOrder = 'asc' | 'desc';

export interface MemFsOptions {
  /** Total size limit in bytes; 0 means unlimited. */
  maxBytes?: number;
  /** When full, delete the oldest files to make room instead of refusing the write. */
  purge?: boolean;
}

export interface MemFile {
  data: Buffer;
  contentType: string | null;
  lastModified: Date;
  size: number;
  /** Strong ETag, unique per write. */
  etag: string;
}

/** One row of `GET /api/v3/fs/:name`, as Core writes it (last_modified in Unix seconds). */
export interface FsEntry {
  name: string;
  size_bytes: number;
  last_modified: number;
}

export interface FsUsage {
  files: number;
  bytes: number;
  /** 0: unlimited. */
  limit: number;
}

/**
 * Normalises a filesystem path: a leading slash, `.` and `..` resolved, `..` never climbing above
 * the root (like Go's path.Join("/", p)), repeated slashes folded, a trailing slash dropped.
 * Throws ValidationError for NUL bytes, backslashes and paths over 1024 characters.
 */
export function normalizePath(raw: string): string {
  if (raw.length > MAX_PATH_LENGTH) throw new ValidationError(`path is longer than ${MAX_PATH_LENGTH} characters`);
  if (raw.includes('\0')) throw new ValidationError('path contains a NUL byte');
  if (raw.includes('\\')) throw new ValidationError('path contains a backslash');
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Compiles a glob like Core's (gobwas/glob with '/' as separator): `*` and `?` stay within one
 * path segment, `**` crosses segments, `[abc]`, `[a-z]`, `[!a]` classes and `{a,b}` alternatives.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else if (c === '{') {
      depth++;
      re += '(?:';
    } else if (c === '}' && depth > 0) {
      depth--;
      re += ')';
    } else if (c === ',' && depth > 0) re += '|';
    else if (c === '\\' && i + 1 < glob.length) re += escapeRe(glob[++i]!);
    else re += escapeRe(c);
  }
  if (depth > 0) throw new ValidationError(`invalid glob "${glob}": unclosed "{"`);
  return new RegExp(`^${re}$`);
}

export function parseSort(sort: string | null | undefined): SortBy {
  const s = sort || 'none';
  if (s === 'none' || s === 'name' || s === 'size' || s === 'lastmod') return s;
  throw new ValidationError(`invalid sort "${s}"`, ['sort must be none, name, size or lastmod']);
}

export function parseOrder(order: string | null | undefined): SortOrder {
  const o = order || 'asc';
  if (o === 'asc' || o === 'desc') return o;
  throw new ValidationError(`invalid order "${o}"`, ['order must be asc or desc']);
}

interface Row {
  name: string;
  size: number;
  mtime: number;
}

/** Filters and sorts rows the way /api/v3/fs/:name does; shared with the disk filesystem. */
export function listRows(rows: Iterable<Row>, glob: string | null | undefined, sort: SortBy, order: SortOrder): FsEntry[] {
  const re = glob ? globToRegExp(glob) : null;
  const out: Row[] = [];
  for (const r of rows) if (!re || re.test(r.name)) out.push(r);
  const dir = order === 'desc' ? -1 : 1;
  if (sort === 'name') out.sort((a, b) => dir * (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  else if (sort === 'size') out.sort((a, b) => dir * (a.size - b.size) || (a.name < b.name ? -1 : 1));
  else if (sort === 'lastmod') out.sort((a, b) => dir * (a.mtime - b.mtime) || (a.name < b.name ? -1 : 1));
  else if (order === 'desc') out.reverse();
  return out.map((r) => ({ name: r.name, size_bytes: r.size, last_modified: Math.floor(r.mtime / 1000) }));
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** How long writes are remembered for writeKbit(), and at most how many. */
const WRITE_WINDOW_MS = 10_000;
const MAX_WRITES = 4096;

export class MemFs {
  readonly #files = new Map<string, MemFile>();
  readonly #maxBytes: number;
  readonly #purge: boolean;
  readonly #tag = randomBytes(4).toString('hex');
  #bytes = 0;
  #generation = 0;
  /** Recent writes (time, name, bytes), for the write rate of a file family (writeKbit). */
  readonly #writes: Array<{ at: number; name: string; bytes: number }> = [];

  constructor(opts: MemFsOptions = {}) {
    const max = opts.maxBytes ?? 0;
    if (!Number.isFinite(max) || max < 0) throw new ValidationError('memfs maxBytes must be 0 (unlimited) or a positive number');
    this.#maxBytes = Math.floor(max);
    this.#purge = opts.purge ?? false;
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  get purge(): boolean {
    return this.#purge;
  }

  get usage(): FsUsage {
    return { files: this.#files.size, bytes: this.#bytes, limit: this.#maxBytes };
  }

  /**
   * Stores a file. Throws ValidationError (400, as Core) for a bad path, a file larger than the
   * whole filesystem, or a full filesystem without purge.
   */
  put(path: string, data: Buffer, contentType?: string | null): 'created' | 'replaced' {
    const name = normalizePath(path);
    if (name === '/') throw new ValidationError('a file needs a name', [path]);
    const old = this.#files.get(name);
    const max = this.#maxBytes;
    if (max > 0) {
      if (data.length > max) {
        throw new ValidationError(`file is larger than the memory filesystem (${mib(data.length)} > ${mib(max)})`, [name]);
      }
      const free = max - (this.#bytes - (old?.size ?? 0));
      if (data.length > free) {
        if (!this.#purge) {
          throw new ValidationError(
            `memory filesystem is full: ${mib(this.#bytes)} of ${mib(max)} used, ${mib(data.length)} does not fit (purge is off)`,
            [name],
          );
        }
        this.#purgeFor(data.length, name);
      }
    }
    if (old) {
      this.#files.delete(name);
      this.#bytes -= old.size;
    }
    // Keep our own copy: the caller's buffer may be a view into a pooled or reused one.
    const copy = Buffer.from(data);
    this.#files.set(name, {
      data: copy,
      contentType: contentType ?? null,
      lastModified: new Date(),
      size: copy.length,
      etag: `"${this.#tag}-${(++this.#generation).toString(36)}-${copy.length.toString(36)}"`,
    });
    this.#bytes += copy.length;
    this.#noteWrite(name, copy.length);
    return old ? 'replaced' : 'created';
  }

  #noteWrite(name: string, bytes: number, now = Date.now()): void {
    this.#writes.push({ at: now, name, bytes });
    const cut = now - WRITE_WINDOW_MS;
    let drop = 0;
    while (drop < this.#writes.length && (this.#writes[drop]!.at < cut || this.#writes.length - drop > MAX_WRITES)) drop++;
    if (drop) this.#writes.splice(0, drop);
  }

  /**
   * kbit/s written over the last `windowMs` to files whose name starts with `prefix` (an HLS output's
   * playlist and segments: `/abc_output_0` covers `/abc_output_0.m3u8` and `/abc_output_0_0001.ts`).
   */
  writeKbit(prefix: string, windowMs = WRITE_WINDOW_MS, now = Date.now()): number {
    const since = now - Math.min(windowMs, WRITE_WINDOW_MS);
    let bytes = 0;
    for (const w of this.#writes) if (w.at >= since && w.name.startsWith(prefix)) bytes += w.bytes;
    return (bytes * 8) / Math.min(windowMs, WRITE_WINDOW_MS);
  }

  /** Deletes the oldest files (not `keep`) until `need` bytes fit. */
  #purgeFor(need: number, keep: string): void {
    const keepSize = this.#files.get(keep)?.size ?? 0;
    for (const [name, file] of this.#files) {
      if (this.#maxBytes - (this.#bytes - keepSize) >= need) return;
      if (name === keep) continue;
      this.#files.delete(name);
      this.#bytes -= file.size;
    }
  }

  get(path: string): MemFile | null {
    return this.#files.get(normalizePath(path)) ?? null;
  }

  has(path: string): boolean {
    return this.#files.has(normalizePath(path));
  }

  delete(path: string): boolean {
    const name = normalizePath(path);
    const file = this.#files.get(name);
    if (!file) return false;
    this.#files.delete(name);
    this.#bytes -= file.size;
    return true;
  }

  /** Deletes every file matching the glob; returns their names (for output cleanup's purge_on_delete). */
  deleteMatching(glob: string): string[] {
    const re = globToRegExp(glob);
    const gone: string[] = [];
    for (const [name, file] of this.#files) {
      if (!re.test(name)) continue;
      this.#files.delete(name);
      this.#bytes -= file.size;
      gone.push(name);
    }
    return gone;
  }

  /** Files matching the glob (all when empty), sorted; `none` is the order of last writes, oldest first. */
  list(glob?: string | null, sort: SortBy = 'none', order: SortOrder = 'asc'): FsEntry[] {
    const rows = (function* (files: Map<string, MemFile>) {
      for (const [name, f] of files) yield { name, size: f.size, mtime: f.lastModified.getTime() };
    })(this.#files);
    return listRows(rows, glob, sort, order);
  }

  clear(): void {
    this.#files.clear();
    this.#bytes = 0;
  }
}
