// A view of storage.disk.dir: files are served (GET /data/*), listed and written through
// /api/v3/fs/disk/*. Nothing outside the directory is ever reached: the path is normalised so
// `..` cannot climb above the root, the joined path must start with the root plus a separator, and
// the real path (symlinks resolved) must still lie inside the real root.
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { ValidationError } from '../../shared/errors.ts';
import type { FileSource } from './serveFile.ts';
import { listRows, normalizePath, type FsEntry, type SortBy, type SortOrder } from './MemFs.ts';

export interface DiskFsOptions {
  /** Most entries a listing walks (directories included) before it stops. */
  maxListEntries?: number;
  /** The file served for a directory. */
  indexFile?: string;
}

export interface DiskFile extends FileSource {
  /** Absolute real path of the file. */
  path: string;
  /** Path inside the filesystem, e.g. `/dir/index.html` when `/dir/` was asked for. */
  name: string;
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG';
}

export class DiskFs {
  readonly dir: string;
  readonly #realDir: string;
  readonly #maxList: number;
  readonly #index: string;

  /** `dir` must exist (app.ts creates storage.disk.dir before the gateway starts). */
  constructor(dir: string, opts: DiskFsOptions = {}) {
    this.#realDir = realpathSync(dir);
    this.dir = this.#realDir;
    this.#maxList = opts.maxListEntries ?? 100_000;
    this.#index = opts.indexFile ?? 'index.html';
  }

  #inside(abs: string): boolean {
    return abs === this.#realDir || abs.startsWith(this.#realDir + sep);
  }

  /** The absolute path for a filesystem path (not resolved through symlinks), or null when it would leave the root. */
  #join(path: string): { name: string; abs: string } | null {
    const name = normalizePath(path);
    const abs = join(this.#realDir, name);
    return this.#inside(abs) ? { name, abs } : null;
  }

  /** The real path of an existing file or directory inside the root, or null (missing, or a symlink that leads out). */
  async #real(abs: string): Promise<string | null> {
    try {
      const real = await fsp.realpath(abs);
      return this.#inside(real) ? real : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** A regular file to serve, or null. A directory serves its index.html. */
  async get(path: string): Promise<DiskFile | null> {
    const j = this.#join(path);
    if (!j) return null;
    let real = await this.#real(j.abs);
    if (!real) return null;
    let name = j.name;
    let st = await fsp.stat(real);
    if (st.isDirectory()) {
      name = name === '/' ? `/${this.#index}` : `${name}/${this.#index}`;
      real = await this.#real(join(real, this.#index));
      if (!real) return null;
      st = await fsp.stat(real);
    }
    if (!st.isFile()) return null;
    return this.#source(real, name, st);
  }

  #source(real: string, name: string, st: Stats): DiskFile {
    return {
      path: real,
      name,
      size: st.size,
      lastModified: st.mtime,
      async read(start: number, end: number): Promise<Buffer> {
        // O_NOFOLLOW: if the file was swapped for a symlink since the check, refuse.
        const fh = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          const buf = Buffer.alloc(end - start);
          let off = 0;
          while (off < buf.length) {
            const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
            if (bytesRead === 0) break;
            off += bytesRead;
          }
          return off === buf.length ? buf : buf.subarray(0, off);
        } finally {
          await fh.close();
        }
      },
    };
  }

  /** Every regular file under the root (symlinks are not followed), filtered and sorted like Core. */
  async list(glob?: string | null, sort: SortBy = 'none', order: SortOrder = 'asc'): Promise<FsEntry[]> {
    const rows: Array<{ name: string; size: number; mtime: number }> = [];
    let seen = 0;
    const walk = async (abs: string, name: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(abs, { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'EACCES') return;
        throw err;
      }
      for (const e of entries) {
        if (++seen > this.#maxList) return;
        const childAbs = join(abs, e.name);
        const childName = `${name === '/' ? '' : name}/${e.name}`;
        if (e.isDirectory()) await walk(childAbs, childName);
        else if (e.isFile()) {
          try {
            const st = await fsp.lstat(childAbs);
            rows.push({ name: childName, size: st.size, mtime: st.mtimeMs });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
      }
    };
    await walk(this.#realDir, '/');
    return listRows(rows, glob, sort, order);
  }

  /**
   * Writes a file (parents are created), atomically: a temp file in the same directory, then a
   * rename. Refuses paths that leave the root, also through a symlinked directory.
   */
  async put(path: string, data: Buffer): Promise<'created' | 'replaced'> {
    const j = this.#join(path);
    if (!j || j.name === '/') throw new ValidationError('invalid file path', [path]);
    const parent = dirname(j.abs);
    await fsp.mkdir(parent, { recursive: true });
    const realParent = await this.#real(parent);
    if (!realParent) throw new ValidationError('invalid file path: it leads outside the disk filesystem', [j.name]);
    const target = join(realParent, basename(j.abs));
    let existed = false;
    try {
      const st = await fsp.lstat(target);
      if (st.isDirectory()) throw new ValidationError('a directory of that name exists', [j.name]);
      existed = true;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fsp.writeFile(tmp, data, { flag: 'wx' });
      await fsp.rename(tmp, target);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return existed ? 'replaced' : 'created';
  }

  /** Deletes a file (or a symlink inside the root, not its target); false when there is none. */
  async delete(path: string): Promise<boolean> {
    const j = this.#join(path);
    if (!j || j.name === '/') return false;
    const realParent = await this.#real(dirname(j.abs));
    if (!realParent) return false;
    const target = join(realParent, basename(j.abs));
    try {
      const st = await fsp.lstat(target);
      if (st.isDirectory()) return false;
      await fsp.unlink(target);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
