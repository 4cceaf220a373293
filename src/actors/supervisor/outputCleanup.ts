// Core's output cleanup: per output, rules `<fs>:<glob>` (fs = memfs|mem|diskfs|disk) that keep at
// most max_files files and none older than max_file_age_seconds, applied every second, and files
// removed when the process is deleted (purge_on_delete). A pattern without an fs prefix is ignored.
import type { ProcessConfig } from '../../shared/processConfig.ts';
import { resolvePlaceholders } from '../stream/placeholders.ts';

export interface CleanupEntry {
  name: string;
  size_bytes: number;
  /** Unix seconds. */
  last_modified: number;
}

export interface CleanupFs {
  list(glob: string, sort: 'lastmod', order: 'asc'): CleanupEntry[] | Promise<CleanupEntry[]>;
  delete(path: string): boolean | Promise<boolean>;
}

export interface CleanupRule {
  fs: 'mem' | 'disk';
  glob: string;
  maxFiles: number;
  maxAgeSeconds: number;
  purgeOnDelete: boolean;
}

const FS_PREFIX = /^(memfs|mem|diskfs|disk):(.+)$/;

export function cleanupRules(config: ProcessConfig): CleanupRule[] {
  const rules: CleanupRule[] = [];
  for (const out of config.output) {
    for (const c of out.cleanup) {
      const values = { processid: config.id, reference: config.reference, outputid: out.id, diskfs: '', memfs: '' };
      const m = FS_PREFIX.exec(resolvePlaceholders(c.pattern, 'cleanup', values));
      if (!m) continue;
      rules.push({
        fs: m[1]!.startsWith('mem') ? 'mem' : 'disk',
        glob: m[2]!.startsWith('/') ? m[2]! : `/${m[2]!}`,
        maxFiles: c.max_files,
        maxAgeSeconds: c.max_file_age_seconds,
        purgeOnDelete: c.purge_on_delete,
      });
    }
  }
  return rules;
}

/** Deletes what the rule no longer allows; returns the deleted paths. */
export async function applyCleanup(rule: CleanupRule, fs: CleanupFs, nowSeconds: number): Promise<string[]> {
  if (rule.maxFiles === 0 && rule.maxAgeSeconds === 0) return [];
  const files = await fs.list(rule.glob, 'lastmod', 'asc');
  const doomed = new Set<string>();
  if (rule.maxAgeSeconds > 0) for (const f of files) if (nowSeconds - f.last_modified > rule.maxAgeSeconds) doomed.add(f.name);
  if (rule.maxFiles > 0 && files.length > rule.maxFiles) for (const f of files.slice(0, files.length - rule.maxFiles)) doomed.add(f.name);
  const deleted: string[] = [];
  for (const name of doomed) if (await fs.delete(name)) deleted.push(name);
  return deleted;
}

export async function purgeFiles(rule: CleanupRule, fs: CleanupFs): Promise<string[]> {
  const deleted: string[] = [];
  for (const f of await fs.list(rule.glob, 'lastmod', 'asc')) if (await fs.delete(f.name)) deleted.push(f.name);
  return deleted;
}
