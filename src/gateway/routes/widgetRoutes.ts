// GET /api/v3/widget/process/:id: Core's public process widget (no auth, as Core): viewers now and
// since start, and how long the process has been running. Core counts its HLS sessions whose
// playlist name starts with the process's reference; drake adds the process's WHEP viewers, which
// are its own viewers (Core has no WebRTC).
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import type { Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { json, type Reply, type Route } from '../http.ts';
import type { HttpSessions } from '../HttpSessions.ts';
import { routerFor } from '../processRouter.ts';

export interface WidgetProcess {
  current_sessions: number;
  total_sessions: number;
  /** Seconds the process has been running; 0 unless it runs now. */
  uptime: number;
}

/** An id longer than any valid one is not looked up anywhere (it is unknown). */
const MAX_ID_LENGTH = 256;

export function widgetRoutes(sup: Supervisor, hls: HttpSessions, cluster: () => ClusterNode | null): Route[] {
  const router = routerFor(sup, cluster);
  // Core's answer for an unknown process, word for word.
  const unknown = () => new NotFoundError('Unknown process ID', ['unknown process']);
  const here = async (id: string): Promise<Reply> => {
    if (!sup.has(id)) throw unknown();
    const { reference } = sup.record(id);
    const state = await sup.state(id);
    const whep = sup.viewerCounts(id);
    // Core matches the reference alone, so an empty one counts every HLS viewer of every stream:
    // drake matches the process id then.
    const http = hls.byNamePrefix(reference || id);
    const widget: WidgetProcess = {
      current_sessions: whep.current + http.current,
      total_sessions: whep.total + http.total,
      uptime: state.exec === 'running' ? Math.floor(state.runtime_seconds) : 0,
    };
    return json(200, widget);
  };
  return [
    {
      method: 'get',
      pattern: '/api/v3/widget/process/:id',
      summary: "Public (no auth, as Core): a process's viewers now and since start (WHEP and HLS) and its uptime in seconds",
      handler: async (req) => {
        const id = req.params.id ?? '';
        if (id.length === 0 || id.length > MAX_ID_LENGTH) throw unknown();
        const r = router();
        if (!r) return here(id);
        // A process of another node is answered by its owner; one whose node is lost is not running.
        return r.read(req, id, () => here(id), () => json(200, { current_sessions: 0, total_sessions: 0, uptime: 0 } satisfies WidgetProcess)).catch((err: unknown) => {
          throw err instanceof NotFoundError ? unknown() : err;
        });
      },
    },
  ];
}
