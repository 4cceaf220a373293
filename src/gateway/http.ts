// The thin layer between uWebSockets.js and drake's handlers: reads what a handler needs
// synchronously (uWS invalidates the request after the first await), reads the body with a size
// limit, and writes one corked reply. A handler is `(req) => Reply`, easy to test and to list.
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { errorReply } from './errorStatus.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'del' | 'options' | 'head' | 'any';

export interface Request {
  method: string;
  url: string;
  query: URLSearchParams;
  params: Record<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: Buffer;
  remoteAddress: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /**
   * A streamed body (server-sent events): status and headers are written, then `stream` gets the open
   * response and writes until it ends it or the client goes away. `body` is ignored.
   */
  stream?: (out: StreamOut) => void;
}

/** An open streamed response. Writes after the client left or after end() are dropped. */
export interface StreamOut {
  write(chunk: string): void;
  end(): void;
  /** Called once when the client goes away (not after end()). */
  onClose(cb: () => void): void;
  readonly open: boolean;
}

export type Handler = (req: Request) => Reply | Promise<Reply>;

export interface Route {
  method: Method;
  pattern: string;
  handler: Handler;
  /** Whether the route reads a request body (POST/PUT/PATCH). */
  body?: boolean;
  /** Short description, used by docs and listings. */
  summary: string;
  /** Body limit of this route when smaller than the server's. */
  maxBodyBytes?: number;
}

export interface MountOptions {
  maxBodyBytes: number;
  /** Headers added to every reply (CORS and the like). */
  commonHeaders?: (req: Request) => Record<string, string>;
  /** Throws (UnauthorizedError) to refuse the request before its body is read. */
  authorize?: (req: Request) => void;
  /** Told about every reply (metrics, HTTP sessions). */
  onReply?: (route: Route, status: number, seconds: number, req: Request, bytes: number) => void;
  /** True once the server is closed: requests still arriving on kept-alive connections get 503 and the connection is closed. */
  isClosed?: () => boolean;
}

/** JSON with Core's number format: integers as they are, other numbers with at most 3 decimals. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  const body = JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v,
  );
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: body ?? 'null' };
}

export function text(status: number, body: string, contentType = 'text/plain; charset=utf-8'): Reply {
  return { status, headers: { 'content-type': contentType }, body };
}

function paramNames(pattern: string): string[] {
  return pattern
    .split('/')
    .filter((s) => s.startsWith(':'))
    .map((s) => s.slice(1));
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

export function mount(app: TemplatedApp, route: Route, server: MountOptions): void {
  const names = paramNames(route.pattern);
  const opts = { ...server, maxBodyBytes: Math.min(server.maxBodyBytes, route.maxBodyBytes ?? Infinity) };
  app[route.method](route.pattern, (res: HttpResponse, uReq: HttpRequest) => {
    const req = snapshot(res, uReq, names);
    const started = performance.now();
    let aborted = false;
    let answered = false;
    let onAbort: (() => void) | null = null;
    res.onAborted(() => {
      aborted = true;
      onAbort?.();
    });
    const send = (reply: Reply): void => {
      if (aborted || answered) return;
      answered = true;
      opts.onReply?.(route, reply.status, (performance.now() - started) / 1000, req, req.method === 'head' ? 0 : Buffer.byteLength(reply.body ?? ''));
      const headers = { ...(opts.commonHeaders?.(req) ?? {}), ...(reply.headers ?? {}) };
      const closing = opts.isClosed?.() ?? false;
      const head = req.method === 'head';
      if (reply.stream && !head) {
        res.cork(() => {
          res.writeStatus(statusLine(reply.status));
          for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
          // Flush the head now: an EventSource fires 'open' on it, before the first event.
          res.write('');
        });
        let open = true;
        const out: StreamOut = {
          get open() {
            return open && !aborted;
          },
          write(chunk) {
            if (open && !aborted) res.cork(() => res.write(chunk));
          },
          end() {
            if (!open || aborted) return;
            open = false;
            res.cork(() => res.end());
          },
          onClose(cb) {
            onAbort = () => {
              if (open) cb();
              open = false;
            };
          },
        };
        reply.stream(out);
        return;
      }
      res.cork(() => {
        res.writeStatus(statusLine(reply.status));
        for (const [k, v] of Object.entries(headers)) if (!head || k.toLowerCase() !== 'content-length') res.writeHeader(k, v);
        // Always a number: uWS turns an explicit undefined into Content-Length 9223372036854775808.
        if (head) res.endWithoutBody(Number(headers['content-length'] ?? Buffer.byteLength(reply.body ?? '')), closing);
        else res.end(reply.body ?? '', closing);
      });
    };
    if (opts.isClosed?.()) {
      send({ status: 503, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"code":503,"message":"drake is restarting","details":[]}' });
      return;
    }
    const run = (): void => {
      Promise.resolve()
        .then(() => route.handler(req))
        .then(send, (err: unknown) => send(errorReply(err)));
    };
    if (opts.authorize && req.method !== 'options') {
      try {
        opts.authorize(req);
      } catch (err) {
        send(errorReply(err));
        return;
      }
    }
    if (!route.body) {
      run();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
      send(errorReply(tooLarge(opts.maxBodyBytes)));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (answered || aborted) return;
      size += chunk.byteLength;
      if (size > opts.maxBodyBytes) {
        send(errorReply(tooLarge(opts.maxBodyBytes)));
        return;
      }
      // The chunk is detached once this callback returns: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        req.body = Buffer.concat(chunks, size);
        run();
      }
    });
  });
}

function tooLarge(limit: number): Error {
  const err = new Error(`request body is larger than ${limit} bytes`);
  err.name = 'PayloadTooLargeError';
  return err;
}

function snapshot(res: HttpResponse, uReq: HttpRequest, names: string[]): Request {
  const headers: Record<string, string> = {};
  uReq.forEach((k, v) => {
    headers[k] = v;
  });
  const params: Record<string, string> = {};
  names.forEach((name, i) => {
    params[name] = decodeParam(uReq.getParameter(i) ?? '');
  });
  return {
    method: uReq.getMethod(),
    url: uReq.getUrl(),
    query: new URLSearchParams(uReq.getQuery() ?? ''),
    params,
    headers,
    body: Buffer.alloc(0),
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
