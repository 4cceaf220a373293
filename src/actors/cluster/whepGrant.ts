// A WHEP POST that reaches a node which does not run the stream is redirected (307) to the node that does.
// Browsers and fetch drop the Authorization header when a redirect crosses origins, so the node that
// checked the viewer's credential (the stream's token, or the API's auth) puts a grant into the Location
// instead: the process id and an expiry, signed with the cluster secret. The owner takes a valid grant in
// place of the credential, for a WHEP POST to that process only, until it expires.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const GRANT_PARAM = 'drake_grant';
/** A redirect is followed at once; the grant only has to outlive that and a clock difference. */
export const GRANT_TTL_MS = 30_000;

function mac(secret: string, processId: string, expires: number): string {
  return createHmac('sha256', secret).update(`drake-whep-grant\n${processId}\n${expires}`).digest('hex');
}

export function signGrant(secret: string, processId: string, now = Date.now()): string {
  const expires = now + GRANT_TTL_MS;
  return `${expires}.${mac(secret, processId, expires)}`;
}

export function grantValid(secret: string | null, processId: string, grant: string | null, now = Date.now()): boolean {
  if (!secret || !grant) return false;
  const m = /^(\d{1,15})\.([0-9a-f]{64})$/.exec(grant);
  if (!m) return false;
  const expires = Number(m[1]);
  if (expires < now || expires > now + 2 * GRANT_TTL_MS) return false;
  const want = Buffer.from(mac(secret, processId, expires));
  const got = Buffer.from(m[2]!);
  return want.length === got.length && timingSafeEqual(want, got);
}
