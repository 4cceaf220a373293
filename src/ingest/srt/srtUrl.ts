// The {srt} placeholder's URL and the shape of GET /api/v3/srt, after Core: a caller URL with the stream
// id in Core's own syntax (`name,mode:publish|request,token:T`), passphrase and latency in the query.
import { z } from 'zod';

/**
 * The template {srt} becomes: `{name}`, `{mode}` and `{latency}` (µs) are the placeholder's parameters
 * (defaults: mode by section, latency 20000 as Core). Token and passphrase are restricted by the config
 * schema to characters that need no escaping: FFmpeg passes the stream id on unescaped.
 */
export function srtUrlTemplate(host: string, port: number, token: string, passphrase: string): string {
  const h = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `srt://${h}:${port}?mode=caller&transtype=live&latency={latency}&streamid={name},mode:{mode}${token ? `,token:${token}` : ''}${passphrase ? `&passphrase=${passphrase}` : ''}`;
}

const stats = z
  .record(z.string(), z.number())
  .describe('libsrt statistics of the connection (srt_bstats, totals since connect and instant values) under Core\'s names: sent_pkt, recv_pkt, sent_bytes, recv_bytes, recv_loss_pkt, send_loss_pkt, sent_retrans_pkt, send_drop_pkt, recv_drop_pkt, rtt_ms, bandwidth_mbit, send_buf_ms, recv_buf_ms, recv_tsbpd_delay_ms, …');

/** One connection of GET /api/v3/srt: Core's `{log, stats}` plus what drake knows of it. */
export const srtConnectionSchema = z.object({
  log: z.record(z.string(), z.array(z.object({ ts: z.number(), msg: z.array(z.string()) }))).describe('Core\'s per-connection log topics: drake logs to its own log, so this is empty'),
  stats,
  mode: z.enum(['publish', 'request']).describe('drake: what the connection does'),
  name: z.string().describe('drake: the stream (resource) it publishes or plays'),
  remote: z.string().describe('drake: the peer\'s address and port'),
  connected_at: z.number().describe('drake: Unix seconds of the connect'),
  relay_drops: z.number().describe('drake: messages a player could not take in time (its send buffer was full)'),
});

/** GET /api/v3/srt (Core's SRTChannels). */
export const srtChannelsSchema = z.object({
  publisher: z.record(z.string(), z.number()).describe('stream name → the publishing connection\'s id'),
  subscriber: z.record(z.string(), z.array(z.number())).describe('stream name → the playing connections\' ids'),
  connections: z.record(z.string(), srtConnectionSchema).describe('connection id → its statistics'),
  log: z.record(z.string(), z.array(z.object({ ts: z.number(), msg: z.array(z.string()) }))).describe('Core\'s server log topics: empty, drake logs to its own log'),
});
export type SrtChannels = z.output<typeof srtChannelsSchema>;
