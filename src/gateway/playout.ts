// Core's playout is a proxy in front of a process input whose address is `playout:` (or `avstream:`);
// its API (REST under /api/v3/process/:id/playout/:inputid, GraphQL playoutStatus) talks to that
// proxy. drake has no playout inputs, so every such call gets what Core says for an input without
// playout. The reason is Core's (restream.GetPlayout), word for word.
import type { ClusterNode } from '../actors/cluster/ClusterNode.ts';
import type { Supervisor } from '../actors/supervisor/Supervisor.ts';

/** Why process `id` has no playout for `input`: an unknown process, or (always, in drake) no playout. */
export async function noPlayoutReason(sup: Supervisor, cluster: () => ClusterNode | null, id: string, input: string): Promise<string> {
  // A process of another cluster node is known too: its table record says so.
  const known = sup.has(id) || (await cluster()?.table.record(id).catch(() => null)) != null;
  return known ? `no playout for input ID '${input}' and process '${id}'` : 'unknown process';
}
