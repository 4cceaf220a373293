// HLS/HTTP viewers seen by the filesystem mounts. A session is one remote address reading one
// directory (one stream's playlist and segments); it is active while it keeps reading and ends
// after `timeoutMs` of silence, as Core's session_timeout_sec does. Bounded: the oldest ended
// sessions are dropped past `maxEnded`.
// A session also has a name, Core's HLS reference: the playlist it reads, without directory and
// extension (/memfs/abc.m3u8 → abc). Core's widget counts a process's viewers by it.
import { randomBytes } from 'node:crypto';

export interface HttpSession {
  id: string;
  remote: string;
  /** The directory read, e.g. /memfs/hls. */
  reference: string;
  /** The first playlist read, without directory and extension (the first file until a playlist is read). */
  name: string;
  /** Whether `name` comes from a playlist. */
  named: boolean;
  created_at: number;
  last_at: number;
  bytes_tx: number;
  requests: number;
}

const STREAM_FILE = /\.(m3u8|ts|m4s|mp4|aac|vtt|mpd)$/i;
const PLAYLIST = /\.(m3u8|mpd)$/i;
/** Ended sessions are counted per name for this many names (the oldest name is dropped past it). */
const MAX_NAMES = 1000;

function baseName(path: string): string {
  const file = path.slice(path.lastIndexOf('/') + 1);
  const dot = file.lastIndexOf('.');
  return dot > 0 ? file.slice(0, dot) : file;
}

export class HttpSessions {
  readonly #active = new Map<string, HttpSession>();
  readonly #timeoutMs: number;
  #ended = 0;
  #endedBytes = 0;
  readonly #endedByName = new Map<string, number>();

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
      s = { id: randomBytes(8).toString('hex'), remote, reference, name: baseName(path), named: PLAYLIST.test(path), created_at: Math.floor(now / 1000), last_at: now, bytes_tx: 0, requests: 0 };
      this.#active.set(key, s);
    } else if (!s.named && PLAYLIST.test(path)) {
      s.name = baseName(path);
      s.named = true;
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
      const n = this.#endedByName.get(s.name);
      if (n === undefined && this.#endedByName.size >= MAX_NAMES) this.#endedByName.delete(this.#endedByName.keys().next().value!);
      this.#endedByName.set(s.name, (n ?? 0) + 1);
    }
    return [...this.#active.values()];
  }

  summary(now = Date.now()): { active: number; total: number; traffic_tx_mb: number } {
    const active = this.active(now);
    const bytes = this.#endedBytes + active.reduce((n, s) => n + s.bytes_tx, 0);
    return { active: active.length, total: this.#ended + active.length, traffic_tx_mb: bytes / 1e6 };
  }

  /** Sessions whose name starts with `prefix` (Core's widget): active now, and all since drake started. */
  byNamePrefix(prefix: string, now = Date.now()): { current: number; total: number } {
    const current = this.active(now).filter((s) => s.name.startsWith(prefix)).length;
    let ended = 0;
    for (const [name, n] of this.#endedByName) if (name.startsWith(prefix)) ended += n;
    return { current, total: current + ended };
  }
}
