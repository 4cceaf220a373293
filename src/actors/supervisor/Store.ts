// Persistence of processes and metadata in <db.dir>/db.json (Core's v4 layout). Every save is
// atomic (temp file, fsync, rename) and saves are serialised. A file that cannot be read is moved
// aside, never overwritten; a single entry that no longer validates is kept verbatim and written back.
import { mkdirSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { formatZodIssues } from '../../shared/config.ts';
import { Logger } from '../../shared/log.ts';
import { processConfigSchema, type ProcessConfig, type ProcessOrder } from '../../shared/processConfig.ts';

const log = new Logger('Store');
export const STORE_VERSION = 4;

const storedProcessSchema = z.object({
  id: z.string(),
  reference: z.string().default(''),
  config: processConfigSchema,
  created_at: z.number().int(),
  updated_at: z.number().int(),
  order: z.enum(['start', 'stop']),
});

export interface StoredProcess {
  id: string;
  reference: string;
  config: ProcessConfig;
  created_at: number;
  updated_at: number;
  order: ProcessOrder;
}

export type Metadata = Record<string, unknown>;

export interface StoreData {
  processes: StoredProcess[];
  processMetadata: Record<string, Metadata>;
  systemMetadata: Metadata;
}

export class Store {
  readonly file: string;
  /** Entries that did not validate on load: kept as they were so nothing is lost. */
  #unloadable: Record<string, unknown> = {};
  #chain: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'db.json');
  }

  async load(): Promise<StoreData> {
    const empty: StoreData = { processes: [], processMetadata: {}, systemMetadata: {} };
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty;
      throw err;
    }
    let raw: { version?: unknown; process?: unknown; metadata?: { system?: unknown; process?: unknown } };
    try {
      raw = JSON.parse(text);
      if (!raw || typeof raw !== 'object' || raw.version !== STORE_VERSION) {
        throw new Error(`unsupported store version ${JSON.stringify((raw as { version?: unknown })?.version)} (want ${STORE_VERSION})`);
      }
    } catch (err) {
      const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(this.file, aside);
      log.error(`store ${this.file} is unreadable (${(err as Error).message}); moved it to ${aside} and starting with an empty store`);
      return empty;
    }
    const data = empty;
    const procs = raw.process && typeof raw.process === 'object' ? (raw.process as Record<string, unknown>) : {};
    for (const [id, entry] of Object.entries(procs)) {
      const parsed = storedProcessSchema.safeParse(entry);
      if (!parsed.success || parsed.data.id !== id || parsed.data.config.id !== id) {
        const why = parsed.success ? 'id mismatch' : formatZodIssues(parsed.error).join('; ');
        log.error(`stored process "${id}" is invalid and was not loaded (${why}); it stays in ${this.file} untouched`);
        this.#unloadable[id] = entry;
        continue;
      }
      data.processes.push(parsed.data);
    }
    const meta = raw.metadata ?? {};
    if (meta.system && typeof meta.system === 'object') data.systemMetadata = meta.system as Metadata;
    if (meta.process && typeof meta.process === 'object') data.processMetadata = meta.process as Record<string, Metadata>;
    return data;
  }

  /** Writes a full snapshot; concurrent calls are applied in order. */
  save(data: StoreData): Promise<void> {
    const text = this.#serialise(data);
    const job = this.#chain.then(() => this.#write(text));
    this.#chain = job.catch((err) => log.error(`cannot write ${this.file}: ${(err as Error).message}`));
    return job;
  }

  /** Resolves when every save so far has reached the disk. */
  flush(): Promise<void> {
    return this.#chain;
  }

  #serialise(data: StoreData): string {
    const process: Record<string, unknown> = { ...this.#unloadable };
    for (const p of data.processes) process[p.id] = p;
    const metaProcess: Record<string, Metadata> = {};
    for (const [id, m] of Object.entries(data.processMetadata)) if (m && Object.keys(m).length) metaProcess[id] = m;
    return JSON.stringify({ version: STORE_VERSION, process, metadata: { system: data.systemMetadata, process: metaProcess } }, null, 2);
  }

  async #write(text: string): Promise<void> {
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}
