// /api/v3/process/:id/playout/:inputid/*: Core's playout API. drake has no playout inputs (see
// ../playout.ts), so each route answers as Core does for an input without playout: 404 "Unknown
// process or input" with Core's reason. The routes exist so that a Core client gets Core's answer
// rather than drake's "no route" 404, and so that the document lists them.
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import type { Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { NotFoundError } from '../../shared/errors.ts';
import type { Method, Route } from '../http.ts';
import { noPlayoutReason } from '../playout.ts';

const BASE = '/api/v3/process/:id/playout/:inputid';

export function playoutRoutes(sup: Supervisor, cluster: () => ClusterNode | null): Route[] {
  // Core looks the playout up before it reads a body: a body is never read here.
  const route = (method: Method, path: string, what: string): Route => ({
    method,
    pattern: `${BASE}${path}`,
    summary: `Core's playout ${what}; drake has no playout inputs: always 404 "Unknown process or input", as Core for an input without playout`,
    handler: async (req) => {
      throw new NotFoundError('Unknown process or input', [await noPlayoutReason(sup, cluster, req.params.id ?? '', req.params.inputid ?? '')]);
    },
  });
  return [
    route('get', '/status', 'status of an input'),
    route('get', '/reopen', 'reopen of an input'),
    route('get', '/keyframe/*', 'last keyframe (.jpg or .png)'),
    route('get', '/errorframe/encode', 'error frame encoding'),
    route('put', '/errorframe/*', 'error frame upload'),
    route('post', '/errorframe/*', 'error frame upload'),
    route('put', '/stream', 'stream switch'),
  ];
}
