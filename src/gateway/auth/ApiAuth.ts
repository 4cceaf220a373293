// Credentials and tokens of the admin API. With auth on and no password configured, drake makes
// one on the first start, keeps it (and the JWT secret) in <db.dir>/auth.json (mode 0600) and
// prints it once. Tokens are signed with username + password + secret, as Core does, so changing
// the password invalidates every token.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DrakeConfig } from '../../shared/config.ts';
import { UnauthorizedError } from '../../shared/errors.ts';
import { Logger } from '../../shared/log.ts';
import type { Request } from '../http.ts';
import { Jwt } from './Jwt.ts';

const log = new Logger('auth');

type AuthConfig = DrakeConfig['api']['auth'];

interface StoredAuth {
  password?: string;
  jwt_secret?: string;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '0000:0000:0000:0000:0000:0000:0000:0001', '::ffff:127.0.0.1']);

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class ApiAuth {
  readonly username: string;
  readonly #password: string;
  readonly #jwt: Jwt;
  readonly #cfg: AuthConfig;

  private constructor(cfg: AuthConfig, password: string, secret: string) {
    this.#cfg = cfg;
    this.username = cfg.username;
    this.#password = password;
    this.#jwt = new Jwt(cfg.username + password + secret);
  }

  /** null when auth is off. */
  static open(cfg: AuthConfig, dbDir: string): ApiAuth | null {
    if (!cfg.enable) return null;
    mkdirSync(dbDir, { recursive: true });
    const file = join(dbDir, 'auth.json');
    let stored: StoredAuth = {};
    if (existsSync(file)) {
      try {
        stored = JSON.parse(readFileSync(file, 'utf8')) as StoredAuth;
      } catch (err) {
        throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
      }
    }
    let changed = false;
    if (!cfg.password && !stored.password) {
      stored.password = randomBytes(18).toString('base64url');
      changed = true;
      // Printed once, when made: it is in auth.json (0600) afterwards.
      // The password goes to the console once and never into the log ring that /api/v3/log serves.
      log.warn(`API auth is on and no password was configured: generated one for "${cfg.username}" (kept in ${file}; printed below, once)`);
      process.stderr.write(`  API password for "${cfg.username}": ${stored.password}\n`);
    }
    if (!cfg.jwt.secret && !stored.jwt_secret) {
      stored.jwt_secret = randomBytes(32).toString('base64url');
      changed = true;
    }
    if (changed) {
      writeFileSync(`${file}.tmp`, JSON.stringify(stored, null, 2), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    }
    return new ApiAuth(cfg, cfg.password || stored.password!, cfg.jwt.secret || stored.jwt_secret!);
  }

  login(username: string, password: string): { access_token: string; refresh_token: string } | null {
    // Both comparisons always run: the answer time does not tell which one failed.
    const okUser = sameText(username, this.username);
    const okPass = sameText(password, this.#password);
    if (!okUser || !okPass) return null;
    return { access_token: this.#jwt.sign(username, 'access'), refresh_token: this.#jwt.sign(username, 'refresh') };
  }

  get failureDelayMs(): number {
    return this.#cfg.login_failure_delay_ms;
  }

  refresh(req: Request): { access_token: string } {
    const claims = this.#verify(req, 'refresh');
    return { access_token: this.#jwt.sign(claims.sub, 'access') };
  }

  /** Throws UnauthorizedError unless the request carries a valid access token (or is local and that is allowed). */
  check(req: Request): void {
    if (this.#cfg.disable_localhost && LOOPBACK.has(req.remoteAddress)) return;
    this.#verify(req, 'access');
  }

  /** True when check() would pass; for routes that answer less instead of refusing. */
  allows(req: Request): boolean {
    try {
      this.check(req);
      return true;
    } catch {
      return false;
    }
  }

  #verify(req: Request, use: 'access' | 'refresh') {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new UnauthorizedError(`missing Authorization: Bearer <${use} token> (get one from POST /api/login)`);
    const result = this.#jwt.verify(m[1]!, use);
    if (!result.ok) throw new UnauthorizedError(`invalid ${use} token: ${result.reason}`);
    return result.claims;
  }
}
