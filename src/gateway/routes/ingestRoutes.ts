// GET /api/v3/rtmp: the streams being published to the built-in RTMP server (Core's shape).
import type { RtmpServer } from '../../ingest/rtmp/RtmpServer.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { json, type Route } from '../http.ts';

export function ingestRoutes(rtmp: () => RtmpServer | null): Route[] {
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
  ];
}
