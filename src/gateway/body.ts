// Request body decoding shared by the routes: JSON only with a JSON content type, clear errors.
import { UnsupportedMediaTypeError, ValidationError } from '../shared/errors.ts';
import type { Request } from './http.ts';

/**
 * Deeper JSON is refused: JSON.parse takes any depth, but the recursive steps after it (JSON.stringify
 * when the store saves, structuredClone to a worker) overflow the stack near 5000 levels, and metadata
 * kept in memory would then fail every later save.
 */
export const MAX_JSON_DEPTH = 100;

export function readJson(req: Request): unknown {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new UnsupportedMediaTypeError(`Content-Type must be application/json, got "${type || '(none)'}"`);
  }
  if (req.body.length === 0) throw new ValidationError('Invalid JSON', ['request body is empty']);
  let value: unknown;
  try {
    value = JSON.parse(req.body.toString('utf8'));
  } catch (err) {
    throw new ValidationError('Invalid JSON', [(err as Error).message]);
  }
  if (depthExceeds(value, MAX_JSON_DEPTH)) throw new ValidationError('Invalid JSON', [`nested deeper than ${MAX_JSON_DEPTH} levels`]);
  return value;
}

/** Iterative (a recursive walk would overflow on exactly the input it looks for). */
function depthExceeds(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d >= max) return true;
    for (const c of Array.isArray(v) ? v : Object.values(v)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return false;
}
