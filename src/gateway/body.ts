// Request body decoding shared by the routes: JSON only with a JSON content type, clear errors.
import { UnsupportedMediaTypeError, ValidationError } from '../shared/errors.ts';
import type { Request } from './http.ts';

export function readJson(req: Request): unknown {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new UnsupportedMediaTypeError(`Content-Type must be application/json, got "${type || '(none)'}"`);
  }
  if (req.body.length === 0) throw new ValidationError('Invalid JSON', ['request body is empty']);
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch (err) {
    throw new ValidationError('Invalid JSON', [(err as Error).message]);
  }
}
