// A node keeps its cluster id across restarts: placements in Redis name the node, so a restarted node
// must come back as the same one. Without cluster.node_id the id is generated once and kept in
// <db.dir>/cluster.json (written atomically, like the store).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { NODE_ID } from '../../shared/config.ts';
import { ValidationError } from '../../shared/errors.ts';

const fileSchema = z.object({ node_id: z.string().regex(NODE_ID) });

export function clusterFile(dbDir: string): string {
  return join(dbDir, 'cluster.json');
}

/** The configured id, else the kept one, else a new one (kept from now on). */
export function resolveNodeId(dbDir: string, configured: string): { id: string; source: 'config' | 'kept' | 'generated' } {
  if (configured) return { id: configured, source: 'config' };
  const file = clusterFile(dbDir);
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ValidationError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text !== null) {
    let parsed: ReturnType<typeof fileSchema.safeParse>;
    try {
      parsed = fileSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = fileSchema.safeParse(null);
    }
    // Never replace a damaged file silently: a new id would make this node a stranger to its own placements.
    if (!parsed.success) throw new ValidationError(`${file} does not hold a valid {"node_id": "..."}: fix it, delete it (a new id is generated), or set cluster.node_id`);
    return { id: parsed.data.node_id, source: 'kept' };
  }
  const id = `node-${randomBytes(6).toString('hex')}`;
  mkdirSync(dbDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ node_id: id }, null, 2)}\n`);
  renameSync(tmp, file);
  return { id, source: 'generated' };
}
