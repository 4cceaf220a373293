// HLS/HTTP viewers seen by the filesystem mounts. A session is one remote address reading one
// directory (one stream's playlist and segments); it is active while it keeps reading and ends
// after `timeoutMs` of silence, as Core's session_timeout_sec does. Bounded: the oldest ended
// sessions are dropped past `maxEnded`.
import { randomBytes } from 'node:crypto';

export interface HttpSession {
  id: string;
  remote: string;
  /** The directory read, e.g. /memfs/hls. */
  reference: string;
  created_at: number;
  last_at: number;
  bytes_tx: number;
  requests: number;
}

const STREAM_FILE = /\.(m3u8|ts|m4s|mp4|aac|vtt|mpd)$/i;

export class HttpSessions {
  readonly #active = new Map<string, HttpSession>();
  readonly #timeoutMs: number;
  #ended = 0;
  #endedBytes = 0;

  constructor(timeoutMs = 30_000) {
    this.#timeoutMs = timeoutMs;
  }

  /** A served file; only media files count (a page or an image is not a viewer). */
  record(remote: string, url: string, bytes: number, now = Date.now()): void {
    const path = url.split('?')[0]!;
    if (!STREAM_FILE.test(path)) return;
    const reference = path.slice(0, path.lastIndexOf('/')) || '/';
    const key = `${remote}|${reference}`;
    let s = this.#active.get(key);
    if (!s) {
      s = { id: randomBytes(8).toString('hex'), remote, reference, created_at: Math.floor(now / 1000), last_at: now, bytes_tx: 0, requests: 0 };
      this.#active.set(key, s);
    }
    s.last_at = now;
    s.bytes_tx += bytes;
    s.requests++;
  }

  /** Active sessions; ends the ones silent for longer than the timeout. */
  active(now = Date.now()): HttpSession[] {
    for (const [key, s] of this.#active) {
      if (now - s.last_at <= this.#timeoutMs) continue;
      this.#active.delete(key);
      this.#ended++;
      this.#endedBytes += s.bytes_tx;
    }
    return [...this.#active.values()];
  }

  summary(now = Date.now()): { active: number; total: number; traffic_tx_mb: number } {
    const active = this.active(now);
    const bytes = this.#endedBytes + active.reduce((n, s) => n + s.bytes_tx, 0);
    return { active: active.length, total: this.#ended + active.length, traffic_tx_mb: bytes / 1e6 };
  }
}
