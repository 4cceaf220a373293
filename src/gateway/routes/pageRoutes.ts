// The human pages: GET / lists the processes that can be watched, GET /player/:id plays one with a
// small WHEP client (src/gateway/static/player.html). Templates are read once, at start. In a cluster
// the player is served for a process another node runs too: its WHEP POST here is redirected there.
import { readFileSync } from 'node:fs';
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import type { Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { idSchema } from '../../shared/processConfig.ts';
import { text, type Route } from '../http.ts';
import type { WhipIngest } from '../../ingest/whip/WhipIngest.ts';
import { WHIP_PREFIX } from './whepRoutes.ts';

const staticFile = (name: string) => readFileSync(new URL(`../static/${name}`, import.meta.url), 'utf8');

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** Tokens go into a JS string in the page: only URL-safe token characters are ever substituted. */
const SAFE_TOKEN = /^[A-Za-z0-9._~+/=-]{1,512}$/;

export function pageRoutes(sup: Supervisor, version: string, cluster: () => ClusterNode | null = () => null, whip: () => WhipIngest | null = () => null): Route[] {
  const index = staticFile('index.html');
  const player = staticFile('player.html');
  const html = (body: string) => ({ ...text(200, body, 'text/html; charset=utf-8'), headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } });
  return [
    {
      method: 'get',
      pattern: '/',
      summary: 'Index page: the processes that can be watched',
      handler: () => {
        const rows = sup
          .webrtcProcesses()
          .sort((a, b) => a.id.localeCompare(b.id))
          .map((p) => `<tr><td><a href="/player/${encodeURIComponent(p.id)}">${escapeHtml(p.id)}</a></td><td>${escapeHtml(p.exec)}</td><td>${p.viewers}</td></tr>`)
          .join('\n');
        return html(index.replaceAll('{{ROWS}}', rows || '<tr><td colspan="3">no process has WebRTC enabled</td></tr>').replaceAll('{{VERSION}}', escapeHtml(version)));
      },
    },
    {
      method: 'get',
      pattern: '/player/:id',
      summary: 'Player page for one process (?token= for a protected stream)',
      handler: async (req) => {
        const raw = req.params.id ?? '';
        if (raw.startsWith(WHIP_PREFIX)) {
          // A stream published over WHIP (its name is safe in HTML and URLs: A-Z a-z 0-9 _ . ~ -).
          const name = raw.slice(WHIP_PREFIX.length);
          if (!whip()?.has(name)) throw new NotFoundError(`no stream ${raw} is being published`);
          return html(player.replaceAll('{{PROCESS_ID}}', raw).replaceAll('{{WHEP_URL}}', `/whep/${raw}`).replaceAll('{{TOKEN}}', ''));
        }
        const parsed = idSchema.safeParse(req.params.id);
        const local = parsed.success && sup.has(parsed.data) && sup.webrtcProcesses().some((p) => p.id === parsed.data);
        const elsewhere = parsed.success && !sup.has(parsed.data) && (await cluster()?.table.record(parsed.data).catch(() => null))?.config.webrtc.enabled === true;
        if (!parsed.success || (!local && !elsewhere)) {
          throw new NotFoundError(`no process ${req.params.id} with WebRTC enabled`);
        }
        const id = parsed.data;
        const token = req.query.get('token') ?? '';
        return html(
          player
            .replaceAll('{{PROCESS_ID}}', id)
            .replaceAll('{{WHEP_URL}}', `/whep/${id}`)
            .replaceAll('{{TOKEN}}', SAFE_TOKEN.test(token) ? token : ''),
        );
      },
    },
  ];
}
