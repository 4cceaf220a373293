// GET /api/v3/cluster: the nodes of the cluster this drake belongs to, with state and load.
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { json, type Route } from '../http.ts';

export function clusterRoutes(cluster: () => ClusterNode | null): Route[] {
  return [
    {
      method: 'get',
      pattern: '/api/v3/cluster',
      summary: 'Cluster nodes (online / lost) with their load, and totals of the online ones',
      handler: async () => {
        const node = cluster();
        if (!node) throw new NotFoundError('this drake is not part of a cluster: set cluster.enable and cluster.redis_url (DRAKE_CLUSTER_ENABLE, DRAKE_CLUSTER_REDIS_URL)');
        return json(200, await node.view());
      },
    },
  ];
}
