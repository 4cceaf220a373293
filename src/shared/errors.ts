// Errors that cross thread boundaries as {name, message, details} and are rebuilt by name.
// The gateway maps each class to one HTTP status (src/gateway/errorStatus.ts).

export interface SerializedError {
  name: string;
  message: string;
  details: string[];
}

export class DrakeError extends Error {
  readonly details: string[];
  constructor(message: string, details: string[] = []) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }
}

/** Bad input: a body, a query, a config that does not validate. */
export class ValidationError extends DrakeError {}
/** Something the caller named does not exist. */
export class NotFoundError extends DrakeError {}
/** The thing exists already, or its state forbids the request. */
export class ConflictError extends DrakeError {}
/** A limit of drake itself was reached (max processes, viewer caps). */
export class LimitError extends DrakeError {}
/** A request body is over its size limit. */
export class PayloadTooLargeError extends DrakeError {}
/** A call to an actor whose worker is gone. */
export class WorkerClosedError extends DrakeError {}
/** FFmpeg could not be found or does not run. */
export class FfmpegMissingError extends DrakeError {}

const CLASSES: Record<string, new (message: string, details?: string[]) => DrakeError> = {
  DrakeError,
  ValidationError,
  NotFoundError,
  ConflictError,
  LimitError,
  PayloadTooLargeError,
  WorkerClosedError,
  FfmpegMissingError,
};

export function serializeError(err: unknown): SerializedError {
  if (err instanceof DrakeError) return { name: err.name, message: err.message, details: err.details };
  if (err instanceof Error) return { name: 'DrakeError', message: err.message, details: [] };
  return { name: 'DrakeError', message: String(err), details: [] };
}

export function rebuildError(s: SerializedError): DrakeError {
  const Cls = CLASSES[s.name] ?? DrakeError;
  return new Cls(s.message, s.details);
}

/** One-line text of any thrown value, for logs. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** drake is still starting (the store is being loaded, actors spawned): retry in a moment. */
export class StartingError extends DrakeError {}
/** A body in a content type the route does not take. */
export class UnsupportedMediaTypeError extends DrakeError {}
/** The thing exists but cannot serve yet (process not running, no media): retry later. */
export class NotReadyError extends DrakeError {}
/** A cap was reached (viewers per stream, viewers in total): retry later. */
export class CapacityError extends DrakeError {}
/** The offer cannot be served: a codec drake sends is missing. */
export class NotAcceptableError extends DrakeError {}
/** Something drake waited for (ICE gathering) did not happen in time. */
export class TimeoutError extends DrakeError {}
/** If-Match did not match the resource's ETag. */
export class PreconditionFailedError extends DrakeError {}
/** If-Match is required (strict mode) and missing. */
export class PreconditionRequiredError extends DrakeError {}
/** Missing or wrong credentials. */
export class UnauthorizedError extends DrakeError {}
/** A service drake depends on (the cluster's Redis) does not answer: retry later. */
export class UnavailableError extends DrakeError {}

for (const cls of [
  UnsupportedMediaTypeError,
  NotReadyError,
  CapacityError,
  NotAcceptableError,
  TimeoutError,
  PreconditionFailedError,
  PreconditionRequiredError,
  UnauthorizedError,
  UnavailableError,
]) {
  CLASSES[cls.name] = cls;
}
