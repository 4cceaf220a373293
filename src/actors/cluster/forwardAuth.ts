// The credential of a request one node forwards to another (the owner of a process). The cluster secret
// lives in Redis (made once by the first node; whoever can read the cluster's Redis is inside the
// cluster anyway), so no extra setting is needed and the client's own token, which only its node can
// verify, never has to travel. The signature binds the method, the URL, the sender, the time (±30 s)
// and the body's hash, so a forwarded call cannot be turned into another call.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const FORWARD_HEADERS = {
  by: 'x-drake-forwarded-by',
  at: 'x-drake-forwarded-at',
  body: 'x-drake-forwarded-body',
  sig: 'x-drake-forwarded-sig',
} as const;

const MAX_SKEW_MS = 30_000;

export function bodyHash(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex');
}

function mac(secret: string, method: string, url: string, by: string, at: string, body: string): string {
  return createHmac('sha256', secret).update(`drake-forward\n${method.toUpperCase()}\n${url}\n${by}\n${at}\n${body}`).digest('hex');
}

/** Headers that mark a request as forwarded by node `by` (url: path and query). */
export function signForward(secret: string, method: string, url: string, by: string, body: Buffer | string): Record<string, string> {
  const at = String(Date.now());
  const hash = bodyHash(body);
  return {
    [FORWARD_HEADERS.by]: by,
    [FORWARD_HEADERS.at]: at,
    [FORWARD_HEADERS.body]: hash,
    [FORWARD_HEADERS.sig]: mac(secret, method, url, by, at, hash),
  };
}

export type ForwardCheck = { ok: true; by: string } | { ok: false; reason: string } | null;

/**
 * null: the request is not marked as forwarded. Otherwise whether the marks hold; `body` is checked
 * when given (the gateway checks the headers before the body has arrived, the handler again with it).
 */
export function checkForward(secret: string | null, method: string, url: string, headers: Record<string, string>, body?: Buffer): ForwardCheck {
  const by = headers[FORWARD_HEADERS.by];
  const sig = headers[FORWARD_HEADERS.sig];
  if (by === undefined && sig === undefined) return null;
  const at = headers[FORWARD_HEADERS.at] ?? '';
  const hash = headers[FORWARD_HEADERS.body] ?? '';
  if (!secret) return { ok: false, reason: 'this node has no cluster secret yet (Redis unreachable)' };
  if (!by || !sig || !/^\d{1,15}$/.test(at) || !/^[0-9a-f]{64}$/.test(hash)) return { ok: false, reason: 'incomplete forwarding headers' };
  if (Math.abs(Date.now() - Number(at)) > MAX_SKEW_MS) return { ok: false, reason: 'forwarded request too old (or clocks apart by more than 30 s)' };
  const want = Buffer.from(mac(secret, method, url, by, at, hash));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: 'bad forwarding signature' };
  if (body && bodyHash(body) !== hash) return { ok: false, reason: 'forwarded body does not match its hash' };
  return { ok: true, by };
}
