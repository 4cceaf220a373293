// The reply shape of GET /api/v3/whip, for the OpenAPI document (checked against WhipPublisherDto there).
import { z } from 'zod';

const counters = z.object({ packets: z.number().int(), bytes: z.number().int() });

export const whipPublisherSchema = z.object({
  name: z.string().describe('The stream name: POST /whip/<name>, WHEP /whep/whip:<name>, {whip,name=<name>}'),
  since: z.number().int().describe('Unix seconds of the publisher\'s POST'),
  connected: z.boolean().describe('ICE and DTLS are up'),
  remote: z.string().describe('The publisher\'s address as ICE selected it (empty before)'),
  codecs: z.object({ video: z.string().nullable().describe('H264 and its profile-level-id'), audio: z.string().nullable().describe('opus, or null without audio') }),
  video: counters,
  audio: counters,
  plis_sent: z.number().int().describe('Keyframe requests drake sent to the publisher (viewer joins, broken pictures, new process readers; at most 2/s)'),
  viewers: z.number().int().describe('WHEP viewers of the stream'),
  readers: z.number().int().describe('Processes reading the stream through {whip,name=…}'),
});
