// The cluster's shapes: a node's record as it is kept in Redis (validated when read back: Redis is a
// boundary), and the reply of GET /api/v3/cluster.
import { z } from 'zod';

/** What a node reports with every heartbeat; `room` is what placement compares. */
export const nodeLoadSchema = z.object({
  cpu_cores: z.number().int().min(0),
  cpu_usage: z.number().min(0).max(1).describe('Busy share of all CPU cores of the machine, 0..1'),
  memory_total_bytes: z.number().min(0),
  memory_available_bytes: z.number().min(0),
  rss_bytes: z.number().min(0).describe("drake's own resident memory"),
  processes: z.number().int().min(0),
  running: z.number().int().min(0).describe('Processes whose FFmpeg runs'),
  viewers: z.number().int().min(0),
  max_processes: z.number().int().min(0).describe('ffmpeg.max_processes (0: no limit)'),
  max_viewers: z.number().int().min(0),
  processes_left: z.number().int().nullable().describe('Processes with order start this node still takes; null: no limit'),
  viewers_left: z.number().int(),
  room: z.number().min(0).max(1).describe('Capacity left, 0..1: the least of free CPU, available memory, process and viewer slots'),
  relays_out: z.number().int().min(0).default(0).describe('Edge relays this node sends (one per stream and edge node)'),
  relays_in: z.number().int().min(0).default(0).describe('Streams this node serves as an edge (relayed from their owners)'),
  edge_viewers: z.number().int().min(0).default(0).describe('Of viewers: those served here from a relay'),
});
export type NodeLoad = z.output<typeof nodeLoadSchema>;

/** A node's record in Redis (the hash `<prefix>:nodes`, one JSON field per node id). */
export const nodeRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  advertise_url: z.string(),
  advertise_host: z.string(),
  started_at: z.number().describe('Unix ms'),
  heartbeat_at: z.number().describe('Unix ms, by the node clock'),
  load: nodeLoadSchema,
});
export type NodeRecord = z.output<typeof nodeRecordSchema>;

export const NODE_STATES = ['online', 'lost'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const clusterNodeSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(NODE_STATES).describe('online: its heartbeat lease is alive; lost: the lease lapsed (listed for 24 h or until it comes back)'),
  self: z.boolean().describe('The node that answers'),
  version: z.string(),
  advertise_url: z.string(),
  advertise_host: z.string(),
  started_at: z.string().describe('ISO 8601'),
  last_seen: z.string().describe('ISO 8601: its last heartbeat'),
  load: nodeLoadSchema.describe('As of its last heartbeat'),
});
export type ClusterNodeDto = z.output<typeof clusterNodeSchema>;

export const clusterTotalsSchema = z.object({
  nodes: z.number().int(),
  online: z.number().int(),
  lost: z.number().int(),
  cpu_cores: z.number().int(),
  memory_total_bytes: z.number(),
  memory_available_bytes: z.number(),
  processes: z.number().int(),
  running: z.number().int(),
  viewers: z.number().int(),
  processes_left: z.number().int().nullable().describe('null: some online node has no process limit'),
  viewers_left: z.number().int(),
  relays_out: z.number().int(),
  relays_in: z.number().int(),
  edge_viewers: z.number().int(),
});

/** GET /api/v3/cluster. Totals count online nodes only. */
export const clusterSchema = z.object({
  node_id: z.string(),
  redis: z.object({ url: z.string(), connected: z.boolean() }),
  nodes: z.array(clusterNodeSchema),
  totals: clusterTotalsSchema,
});
export type ClusterDto = z.output<typeof clusterSchema>;
