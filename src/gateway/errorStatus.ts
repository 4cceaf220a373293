// The one place where drake's error classes become HTTP statuses and Core's error body
// {code, message, details}.
import { DrakeError } from '../shared/errors.ts';
import { Logger } from '../shared/log.ts';
import { json, type Reply } from './http.ts';

const log = new Logger('gateway');

const STATUS_BY_NAME: Record<string, number> = {
  ValidationError: 400,
  NotFoundError: 404,
  ConflictError: 409,
  PayloadTooLargeError: 413,
  UnsupportedMediaTypeError: 415,
  LimitError: 503,
  NotReadyError: 409,
  CapacityError: 503,
  NotAcceptableError: 406,
  TimeoutError: 504,
  PreconditionFailedError: 412,
  PreconditionRequiredError: 428,
  UnauthorizedError: 401,
  UnavailableError: 503,
  WorkerClosedError: 503,
  StartingError: 503,
  FfmpegMissingError: 500,
  NotImplementedError: 501,
};

/** Conditions that pass: the reply tells the client when to try again. */
const RETRY_LATER = new Set(['NotReadyError', 'CapacityError', 'LimitError', 'WorkerClosedError', 'StartingError', 'UnavailableError']);

export function statusOf(err: unknown): number {
  if (err instanceof Error) return STATUS_BY_NAME[err.name] ?? 500;
  return 500;
}

export function errorReply(err: unknown): Reply {
  const code = statusOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const details = err instanceof DrakeError ? err.details : [];
  const headers: Record<string, string> = RETRY_LATER.has(err instanceof Error ? err.name : '') ? { 'retry-after': '2' } : {};
  if (code === 401) headers['www-authenticate'] = 'Bearer';
  if (code >= 500 && code !== 501 && code !== 503 && code !== 504) log.error(`${code}: ${message}${err instanceof Error && !(err instanceof DrakeError) ? `\n${err.stack}` : ''}`);
  return json(code, { code, message, details }, headers);
}
