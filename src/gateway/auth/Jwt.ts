// HS256 JSON Web Tokens with node:crypto, in Core's shape: claims iss, sub, usefor (access|refresh),
// iat, exp, exi, jti. Access tokens live 10 minutes, refresh tokens 24 hours. `exi` (seconds the token
// lives) is Core's: Restreamer UI schedules its refresh from it, and without it refreshes in a loop.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenUse = 'access' | 'refresh';

export interface JwtClaims {
  iss: string;
  sub: string;
  usefor: TokenUse;
  iat: number;
  exp: number;
  /** Seconds from iat to exp (Core's claim). */
  exi: number;
  jti: string;
}

export const ACCESS_TTL_S = 10 * 60;
export const REFRESH_TTL_S = 24 * 60 * 60;
const ISSUER = 'drake';

const b64url = (buf: Buffer | string) => Buffer.from(buf).toString('base64url');

export class Jwt {
  readonly #key: Buffer;
  readonly #now: () => number;

  constructor(secret: string, now: () => number = () => Math.floor(Date.now() / 1000)) {
    this.#key = Buffer.from(secret);
    this.#now = now;
  }

  sign(sub: string, usefor: TokenUse): string {
    const iat = this.#now();
    const ttl = usefor === 'access' ? ACCESS_TTL_S : REFRESH_TTL_S;
    const claims: JwtClaims = { iss: ISSUER, sub, usefor, iat, exp: iat + ttl, exi: ttl, jti: randomBytes(12).toString('hex') };
    const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
    return `${head}.${this.#mac(head)}`;
  }

  /** The claims of a valid, unexpired token meant for `usefor`; otherwise a reason. */
  verify(token: string, usefor: TokenUse): { ok: true; claims: JwtClaims } | { ok: false; reason: string } {
    const parts = token.split('.');
    if (parts.length !== 3 || token.length > 4096) return { ok: false, reason: 'malformed token' };
    const [h, p, sig] = parts as [string, string, string];
    const expected = Buffer.from(this.#mac(`${h}.${p}`));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'invalid signature' };
    let header: { alg?: unknown };
    let claims: Partial<JwtClaims>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'malformed token' };
    }
    // Signed but not objects (e.g. "null"): never a token drake made.
    if (!header || typeof header !== 'object' || !claims || typeof claims !== 'object') return { ok: false, reason: 'malformed token' };
    if (header.alg !== 'HS256') return { ok: false, reason: 'unsupported algorithm' };
    if (claims.iss !== ISSUER || typeof claims.sub !== 'string') return { ok: false, reason: 'invalid claims' };
    if (claims.usefor !== usefor) return { ok: false, reason: `this is not an ${usefor} token` };
    if (typeof claims.exp !== 'number' || claims.exp <= this.#now()) return { ok: false, reason: 'token expired' };
    return { ok: true, claims: claims as JwtClaims };
  }

  #mac(data: string): string {
    return createHmac('sha256', this.#key).update(data).digest('base64url');
  }
}
