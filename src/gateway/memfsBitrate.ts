// A stock FFmpeg prints `size=N/A bitrate=N/A` for outputs it writes over HTTP (HLS/DASH into memfs),
// so a process's progress.bitrate_kbit stays 0 there, and Restreamer UI shows 0 kbit/s for every
// channel (Core gets the byte counts from datarhei's patched FFmpeg). drake sees those bytes arrive in
// its memfs: a running process whose own bitrate is 0 gets the rate written to the files of its memfs
// outputs (the output's name without extension as prefix: playlist and segments) over the last 10 s.
import type { MemFs } from './fs/MemFs.ts';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The memfs names an output address writes to (several in a tee address): a playlist (.m3u8, .mpd)
 * stands for its family (name without extension as prefix: its segments), any other file for itself.
 */
export function memfsPrefixes(address: string): string[] {
  const out: string[] = [];
  for (const m of address.matchAll(/\/memfs(\/[^|\]\s?#]+)/g)) {
    const name = m[1]!;
    out.push(/\.(m3u8|mpd)$/i.test(name) ? name.slice(0, name.lastIndexOf('.')) : name);
  }
  return out;
}

/** A state (Core's shape) with progress.bitrate_kbit from memfs when FFmpeg gave none; other states as they are. */
export function withMemfsBitrate(state: unknown, mem: MemFs): unknown {
  if (!isObj(state) || state.exec !== 'running' || !isObj(state.progress)) return state;
  const progress = state.progress;
  if (Number(progress.bitrate_kbit) > 0 || !Array.isArray(progress.outputs)) return state;
  const prefixes = new Set<string>();
  for (const o of progress.outputs) if (isObj(o) && typeof o.address === 'string') for (const p of memfsPrefixes(o.address)) prefixes.add(p);
  if (!prefixes.size) return state;
  let kbit = 0;
  for (const p of prefixes) kbit += mem.writeKbit(p);
  return kbit > 0 ? { ...state, progress: { ...progress, bitrate_kbit: kbit } } : state;
}
