// Actor methods answer CallResult instead of throwing: error classes and details survive the thread hop
// (comlink would turn them into plain Errors).
import { serializeError } from './errors.ts';
import type { CallResult } from './protocol.ts';

export async function toCallResult<T>(fn: () => T | Promise<T>): Promise<CallResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: serializeError(err) };
  }
}
