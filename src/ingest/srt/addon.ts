// Loads the SRT server addon (native/srt, built by `npm install` when libsrt's headers are there). Missing
// or unloadable, drake runs on without SRT and says so only when srt.enable asks for it.
import { createRequire } from 'node:module';

/** One event of the native server (publish, play, their ends, refusals at the handshake). */
export interface SrtNativeEvent {
  type: 'publish' | 'unpublish' | 'play' | 'play-end' | 'refused';
  /** The SRT socket id (Core lists connections by it). */
  id: number;
  /** For refusals: the SRT reject reason sent to the caller (1400 bad request, 1401 token, 1404, 1405, 1409, 1402). */
  code: number;
  name: string;
  peer: string;
  reason: string;
}

/** libsrt's srt_bstats totals and instant values under Core's /api/v3/srt names. */
export type SrtNativeStats = Record<string, number>;

export interface SrtNativeConnection {
  id: number;
  mode: 'publish' | 'request';
  name: string;
  peer: string;
  /** Unix ms of the accept. */
  since: number;
  /** Messages a player could not take (its send buffer was full). */
  relayDrops: number;
  stats: SrtNativeStats;
}

export interface SrtNativeOptions {
  host: string;
  port: number;
  passphrase: string;
  token: string;
  maxConnections: number;
  latencyMs: number;
}

declare const handle: unique symbol;
export type SrtHandle = { readonly [handle]: true };

/** The exports of native/srt/srt_server.c. */
export interface SrtAddon {
  start(options: SrtNativeOptions, onEvent: (e: SrtNativeEvent) => void): SrtHandle;
  stop(h: SrtHandle): void;
  port(h: SrtHandle): number;
  connections(h: SrtHandle): SrtNativeConnection[];
  counters(h: SrtHandle): { relayed: number; refused: number };
  /** The admission rule for a stream id, as the listen callback applies it (without the name lookups). */
  parseStreamId(id: string, token: string): { ok: boolean; mode: string; name: string; token: string; code: number; reason: string };
  /** libsrt's version, e.g. 1.5.1. */
  readonly libsrt: string;
}

const ADDON_PATH = '../../../native/srt/build/Release/srt_server.node';

let loaded: { addon: SrtAddon | null; error: string | null } | null = null;

export function loadSrtAddon(): { addon: SrtAddon | null; error: string | null } {
  if (!loaded) {
    try {
      loaded = { addon: createRequire(import.meta.url)(ADDON_PATH) as SrtAddon, error: null };
    } catch (e) {
      loaded = { addon: null, error: (e as Error).message.split('\n')[0] ?? String(e) };
    }
  }
  return loaded;
}
