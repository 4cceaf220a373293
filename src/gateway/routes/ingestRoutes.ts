// GET /api/v3/rtmp and /api/v3/srt: what the built-in RTMP and SRT servers carry now (Core's shapes).
import type { RtmpServer } from '../../ingest/rtmp/RtmpServer.ts';
import type { SrtServer } from '../../ingest/srt/SrtServer.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { json, type Route } from '../http.ts';

export function ingestRoutes(rtmp: () => RtmpServer | null, srt: () => SrtServer | null = () => null): Route[] {
  return [
    {
      method: 'get',
      pattern: '/api/v3/rtmp',
      summary: 'The streams being published to the built-in RTMP server',
      handler: () => {
        const server = rtmp();
        if (!server) throw new NotFoundError('the RTMP server is off (rtmp.enable)');
        return json(200, server.list());
      },
    },
    {
      method: 'get',
      pattern: '/api/v3/srt',
      summary: 'The built-in SRT server\'s publishers, players and per-connection statistics',
      handler: () => {
        const server = srt();
        if (!server) throw new NotFoundError('the SRT server is off (srt.enable)');
        return json(200, server.channels());
      },
    },
  ];
}
