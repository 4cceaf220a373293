// POST /api/login and GET /api/login/refresh (mounted only when API auth is on).
import { z } from 'zod';
import { UnauthorizedError, ValidationError } from '../../shared/errors.ts';
import type { ApiAuth } from '../auth/ApiAuth.ts';
import { readJson } from '../body.ts';
import { json, type Route } from '../http.ts';

const loginSchema = z.object({ username: z.string().min(1).max(256), password: z.string().min(1).max(1024) });

export function authRoutes(auth: ApiAuth): Route[] {
  return [
    {
      method: 'post',
      pattern: '/api/login',
      body: true,
      maxBodyBytes: 4096,
      summary: 'Exchange {username, password} for {access_token (10 min), refresh_token (24 h)}',
      handler: async (req) => {
        const parsed = loginSchema.safeParse(readJson(req));
        if (!parsed.success) throw new ValidationError('username and password are required');
        const tokens = auth.login(parsed.data.username, parsed.data.password);
        if (!tokens) {
          await new Promise((r) => setTimeout(r, auth.failureDelayMs));
          throw new UnauthorizedError('invalid username or password');
        }
        return json(200, tokens);
      },
    },
    {
      method: 'get',
      pattern: '/api/login/refresh',
      summary: 'A new access token for the refresh token in Authorization: Bearer',
      handler: (req) => json(200, auth.refresh(req)),
    },
  ];
}
