// GET /api/v3/cluster: the nodes of the cluster this drake belongs to, with state and load.
// /api/v3/cluster/relay/...: edge relays, node to node only (signed with the cluster secret, see
// forwardAuth.ts): an edge asks the owner of a stream to send it the stream's RTP (and renews that
// ask), or says it no longer wants it.
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import type { Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { NotFoundError, UnauthorizedError, ValidationError } from '../../shared/errors.ts';
import { idSchema } from '../../shared/processConfig.ts';
import { relayTargetSchema } from '../../shared/protocol.ts';
import { readJson } from '../body.ts';
import { json, type Request, type Route } from '../http.ts';
import { pathAndQuery } from '../processRouter.ts';

function member(cluster: () => ClusterNode | null): ClusterNode {
  const node = cluster();
  if (!node) throw new NotFoundError('this drake is not part of a cluster: set cluster.enable and cluster.redis_url (DRAKE_CLUSTER_ENABLE, DRAKE_CLUSTER_REDIS_URL)');
  return node;
}

/** The node that signed this request; anything else is refused (these routes are not for clients). */
function signedBy(node: ClusterNode, req: Request): string {
  const check = node.checkForward(req.method, pathAndQuery(req), req.headers, req.body);
  if (!check) throw new UnauthorizedError('node-to-node route: only other cluster nodes call it');
  if (!check.ok) throw new UnauthorizedError(`forwarded request refused: ${check.reason}`);
  return check.by;
}

function processId(req: Request): string {
  const parsed = idSchema.safeParse(req.params.id);
  if (!parsed.success) throw new NotFoundError('unknown stream');
  return parsed.data;
}

export function clusterRoutes(cluster: () => ClusterNode | null, sup?: Supervisor): Route[] {
  return [
    {
      method: 'get',
      pattern: '/api/v3/cluster',
      summary: 'Cluster nodes (online / lost) with their load, and totals of the online ones',
      handler: async () => json(200, await member(cluster).view()),
    },
    {
      method: 'post',
      pattern: '/api/v3/cluster/relay/:id',
      body: true,
      maxBodyBytes: 4096,
      summary: 'Node to node (signed): an edge starts or renews the relay of a stream this node runs; answers the legs it carries',
      handler: async (req) => {
        const node = member(cluster);
        const by = signedBy(node, req);
        const id = processId(req);
        const parsed = relayTargetSchema.safeParse(readJson(req));
        if (!parsed.success) throw new ValidationError('invalid relay request', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
        if (parsed.data.node !== by) throw new UnauthorizedError('a node asks for relays to itself only');
        if (!sup?.has(id) || !node.owned.has(id)) throw new NotFoundError(`stream ${id} does not run on this node`);
        const legs = await sup.relayHold(id, parsed.data);
        node.edges.relayHeld(id, by, parsed.data.lease_ms);
        return json(200, legs);
      },
    },
    {
      method: 'del',
      pattern: '/api/v3/cluster/relay/:id/:node',
      summary: 'Node to node (signed): an edge no longer wants the relay of a stream',
      handler: async (req) => {
        const node = member(cluster);
        const by = signedBy(node, req);
        const id = processId(req);
        if (req.params.node !== by) throw new UnauthorizedError('a node ends its own relays only');
        node.edges.relayDropped(id, by);
        const had = sup ? await sup.relayDrop(id, by) : false;
        return json(200, { dropped: had });
      },
    },
  ];
}
