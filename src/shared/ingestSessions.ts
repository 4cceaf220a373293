// Sessions of drake's ingest servers (RTMP, SRT, WHIP publishers) in datarhei Core's session shape, so
// /api/v3/session and /api/v3/session/active list them under their collector name (Core's `rtmp`, `srt`;
// drake's `whip`) next to whep and hls.

/** One connection as Core's /api/v3/session/active lists it. */
export interface CoreSession {
  id: string;
  /** The stream it publishes or plays (Core: the resource). */
  reference: string;
  created_at: number;
  local: string;
  remote: string;
  /** 'publish' or 'play' (Core puts the protocol's own detail here). */
  extra: string;
  bytes_rx: number;
  bytes_tx: number;
  bandwidth_rx_kbit: number;
  bandwidth_tx_kbit: number;
}

/** What a collector has seen since drake started: totals include connections that are gone. */
export interface CollectorTotals {
  sessions: number;
  bytesRx: number;
  bytesTx: number;
}

/** An ingest server's sessions under one collector name. */
export interface SessionSource {
  readonly collector: string;
  /** The open connections, `now` in Unix seconds (for average bandwidths); WHIP asks its publish workers. */
  sessions(now: number): CoreSession[] | Promise<CoreSession[]>;
  totals(): CollectorTotals;
  /** Core's max_sessions for the collector (0: no limit). */
  readonly maxSessions: number;
}

/** Average bandwidth in kbit/s of `bytes` since `since` (Unix seconds). */
export function kbitSince(bytes: number, since: number, now: number): number {
  return (bytes * 8) / 1000 / Math.max(1, now - since);
}
