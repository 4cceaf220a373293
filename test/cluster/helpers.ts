// Shared by the cluster's process tests: a marked test process, where each node runs its FFmpeg
// (read from /proc: processes of the node's process group whose command line carries the mark), and
// the placements as Redis holds them.
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { ProcessConfigInput } from '../../src/shared/processConfig.ts';
import { testProcess, waitFor } from '../helpers/drake.ts';
import type { DrakeNode } from '../helpers/drakeNodes.ts';

export const PREFIX = 'ct';

/** A light endless FFmpeg whose command line names the process (so /proc tells which process it is). */
export function markedProcess(id: string, extra: Partial<ProcessConfigInput> = {}): ProcessConfigInput {
  return testProcess(id, { output: [{ id: 'out', address: '-', options: ['-metadata', `title=drake-ct-${id}`, '-f', 'null'] }], ...extra });
}

/** FFmpeg pids running process `id` in the process group of `pgid` (a node and its children). */
export function ffmpegPids(pgid: number, id: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid || fields[0] === 'Z') continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      if (cmd.includes(`title=drake-ct-${id}`)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Which nodes run process `id` now (by their process groups, also of a node killed with -9). */
export function runningOn(nodes: Array<{ node: DrakeNode; pgid: number }>, id: string): string[] {
  return nodes.filter((n) => ffmpegPids(n.pgid, id).length > 0).map((n) => n.node.name);
}

export async function placements(redisUrl: string): Promise<Record<string, { node: string; epoch: number }>> {
  const r = new Redis(redisUrl);
  try {
    const raw = await r.hgetall(`${PREFIX}:place`);
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.parse(v) as { node: string; epoch: number }]));
  } finally {
    r.disconnect();
  }
}

export function clusterEnv(redisUrl: string, id: string): Record<string, string> {
  return { DRAKE_CLUSTER_ENABLE: 'true', DRAKE_CLUSTER_REDIS_URL: redisUrl, DRAKE_CLUSTER_KEY_PREFIX: PREFIX, DRAKE_CLUSTER_NODE_ID: id };
}

/**
 * Waits until `node` lists the WHEP session at `sessionUrl` with RTCP received from its viewer. A test that
 * closes a browser page and waits for its session to end needs this first: the page's DELETE and DTLS
 * close_notify are lost when Chromium shuts the renderer down fast, and then only viewer_timeout (RTCP
 * silence) ends the session quickly, which it does only for a viewer that has reported at least once
 * (Chromium often decodes its first frames before its first receiver report; without one, the 30 s
 * consent timeout is what ends the session).
 */
export async function waitReported(node: DrakeNode, sessionUrl: string): Promise<void> {
  await waitFor(`the viewer of ${sessionUrl} reports RTCP`, async () => {
    const r = await node.api<{ whep: Array<{ id: string; rtcp_rx: number }> }>('GET', '/api/v3/session/active?collectors=whep');
    return r.body.whep.some((x) => sessionUrl.endsWith(`/${x.id}`) && x.rtcp_rx > 0);
  }, 15_000);
}
