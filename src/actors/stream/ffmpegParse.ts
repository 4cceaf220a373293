// The only module that reads FFmpeg's text output. Vanilla FFmpeg (checked against 4.1 and 5.1) prints a
// stream dump before it starts ("the prelude") and then one stats line per half second; it has no
// per-stream counters, so the per-IO progress below is mostly layout and zeros, unlike datarhei's patched
// FFmpeg that prints JSON. Every entry point is total: garbage, truncated or hostile text never throws.
import { redact } from '../../shared/redact.ts';
import type { ProgressIODto, ProgressSampleDto } from '../../shared/protocol.ts';

export type IoKind = 'input' | 'output';

export interface StreamInfo {
  kind: IoKind;
  /** FFmpeg's input/output file index. */
  index: number;
  stream: number;
  format: string;
  address: string;
  /** video | audio | subtitle | data | attachment */
  type: string;
  codec: string;
  /** Encoder or decoder name when known, else the codec. */
  coder: string;
  pix_fmt?: string;
  width?: number;
  height?: number;
  fps?: number;
  sampling_hz?: number;
  layout?: string;
  channels?: number;
  bitrate_kbit?: number;
  language?: string;
}

export type ProgressSample = ProgressSampleDto;

/** Core's per-stream progress shape; the protocol owns it. */
export type ProgressIO = ProgressIODto;

const CR = 0x0d;
const LF = 0x0a;

/** Splits a byte/text stream on \r, \n or \r\n (FFmpeg ends its stats line with \r). Bounded: a line longer than maxLineBytes (default 16384) is cut. */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  readonly #max: number;
  #parts: Buffer[] = [];
  #size = 0;
  #cut = false;
  #afterCR = false;

  constructor(onLine: (line: string) => void, maxLineBytes = 16384) {
    this.#onLine = onLine;
    this.#max = Number.isFinite(maxLineBytes) && maxLineBytes >= 1 ? Math.floor(maxLineBytes) : 16384;
  }

  push(chunk: Buffer | string): void {
    // Splitting bytes, not text: CR and LF never occur inside a UTF-8 sequence, and a character cut
    // by a chunk boundary is decoded whole once its line is complete.
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (!buf || typeof buf.length !== 'number') return;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i];
      if (this.#afterCR) {
        this.#afterCR = false;
        // "\r\n" is one terminator, also when a chunk boundary falls between the two bytes.
        if (b === LF) {
          start = i + 1;
          continue;
        }
      }
      if (b !== LF && b !== CR) continue;
      this.#keep(buf.subarray(start, i));
      start = i + 1;
      this.#afterCR = b === CR;
      this.#emit();
    }
    this.#keep(buf.subarray(start));
  }

  /** Emits a last unterminated line, if any (call when the stream ends). */
  flush(): void {
    this.#afterCR = false;
    if (this.#size > 0 || this.#cut) this.#emit();
  }

  #keep(part: Uint8Array): void {
    if (part.length === 0) return;
    const room = this.#max - this.#size;
    if (room <= 0) {
      this.#cut = true;
      return;
    }
    // A copy, so that a kept tail does not pin the whole chunk in memory.
    const kept = Buffer.from(part.subarray(0, room));
    if (part.length > room) this.#cut = true;
    this.#parts.push(kept);
    this.#size += kept.length;
  }

  #emit(): void {
    const line = Buffer.concat(this.#parts, this.#size).toString('utf8');
    this.#parts = [];
    this.#size = 0;
    this.#cut = false;
    this.#onLine(line);
  }
}

export interface FfmpegParserOptions {
  /** Size of the log ring, e.g. 50. */
  maxLogLines: number;
  preludeHead?: number;
  preludeTail?: number;
  /** Millisecond clock, injectable for tests. */
  now?: () => number;
}

/** Lines reaching feed() without the splitter are cut too, so that the log ring stays bounded. */
const MAX_LINE_CHARS = 16384;
/** More streams than this would only come from garbage; the cap keeps memory bounded. */
const MAX_STREAMS = 1024;

// `-loglevel level+...` prefixes every line with its level; the content is the same.
const LEVEL_PREFIX = /^\[(?:quiet|panic|fatal|error|warning|info|verbose|debug|trace)\] /;
// Video runs start with frame=, audio-only runs with size= (never Lsize= in 4.1/5.1, accepted anyway).
const STATS_START = /^(?:frame|L?size)=/;
// `-progress pipe:2` blocks; not parsed, but they are progress, not log noise. "frame=12" alone is one
// of them, which is why a stats line must also carry " time=".
const PROGRESS_KV =
  /^(?:frame|fps|stream_\d+_\d+_\w+|bitrate|total_size|out_time(?:_us|_ms)?|dup_frames|drop_frames|speed|progress)=\s*\S*$/;

const INPUT_HEADER = /^Input #(\d{1,6}), (.+?), from '(.*)':$/;
const OUTPUT_HEADER = /^Output #(\d{1,6}), (.+?), to '(.*)':$/;
// 4.1 indents stream lines by 4, 5.1 by 2; 5.1 adds the container id: "Stream #0:1[0x2](eng): Audio: ...".
const STREAM_LINE = /^\s*Stream #(\d{1,6}):(\d{1,6})(?:\[[^\]]*\])?(?:\(([^)]*)\))?: ([A-Za-z]+): (.*)$/;
// "Stream #0:0 -> #0:0 (rawvideo (native) -> h264 (libx264))" or "... (copy)".
const SIMPLE_MAP = /^\s*Stream #(\d{1,6}):(\d{1,6})\S* -> #(\d{1,6}):(\d{1,6})\S*(?: \[[^\]]*\])? \((.*)\)$/;
const SIMPLE_MAP_CODECS = /^(\S+) \(([^)]*)\) -> (\S+) \(([^)]*)\)$/;
// Filtergraph mappings name decoder and encoder directly: "Stream #0:0 (rawvideo) -> scale:default
// (graph 0)" and "scale:default (graph 0) -> Stream #0:0 (libx264)".
const GRAPH_IN = /^\s*Stream #(\d{1,6}):(\d{1,6}) \(([^)\s]+)\) -> /;
const GRAPH_OUT = / -> Stream #(\d{1,6}):(\d{1,6}) \(([^)\s]+)\)$/;
// A lowercase identifier in the stream line's parentheses is an encoder (4.1: "h264 (libx264)"); the
// capitalised ones are profiles ("aac (LC)", "h264 (High)") and tags contain " / ".
const ENCODER_NAME = /^[a-z][a-z0-9_]*$/;

const NAMED_LAYOUTS: Record<string, number> = {
  mono: 1,
  stereo: 2,
  downmix: 2,
  binaural: 2,
  quad: 4,
  hexagonal: 6,
  octagonal: 8,
  cube: 8,
  hexadecagonal: 16,
};

function channelsOf(layout: string): number | undefined {
  const counted = /^(\d{1,4}) channels?\b/.exec(layout);
  if (counted) return Number(counted[1]);
  const base = layout.replace(/\(.*$/, '');
  const named = NAMED_LAYOUTS[base];
  if (named !== undefined) return named;
  // "5.1" is 5+1 channels, "7.1.4" 7+1+4: FFmpeg's numeric names add up.
  if (/^\d{1,2}(?:\.\d{1,2}){1,3}$/.test(base)) return base.split('.').reduce((sum, n) => sum + Number(n), 0);
  return undefined;
}

/** Splits at commas outside () and [], so "yuv420p(tv, bt709)" stays one part. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[') depth++;
    else if ((c === ')' || c === ']') && depth > 0) depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/** "25", "29.97", "30k" (FFmpeg abbreviates large rates with k). */
function rate(value: string, suffix: string): number {
  return suffix === 'k' ? Number(value) * 1000 : Number(value);
}

interface ParsedStream {
  info: StreamInfo;
  /** Encoder named in the stream line itself (4.1 only), used when the mapping does not say. */
  encoderHint: string | undefined;
}

function parseStreamLine(kind: IoKind, m: RegExpExecArray): ParsedStream {
  const parts = splitTopLevel(m[5]);
  const head = parts[0] ?? '';
  const codec = /^[^\s(,]+/.exec(head)?.[0] ?? '';
  const hint = /^\S+ \(([^)]*)\)/.exec(head)?.[1];
  const info: StreamInfo = {
    kind,
    index: Number(m[1]),
    stream: Number(m[2]),
    format: '',
    address: '',
    type: m[4].toLowerCase(),
    codec,
    coder: codec,
  };
  if (m[3]) info.language = m[3];

  let tbr: number | undefined;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i];
    let p: RegExpExecArray | null;
    if ((p = /^(\d{1,6})x(\d{1,6})\b/.exec(part))) {
      info.width = Number(p[1]);
      info.height = Number(p[2]);
    } else if ((p = /^(\d+(?:\.\d+)?)(k?) fps\b/.exec(part))) {
      info.fps = rate(p[1], p[2]);
    } else if ((p = /^(\d+(?:\.\d+)?)(k?) tbr\b/.exec(part))) {
      tbr = rate(p[1], p[2]);
    } else if ((p = /^(\d+(?:\.\d+)?) kb\/s\b/.exec(part))) {
      info.bitrate_kbit = Number(p[1]);
    } else if ((p = /^(\d{1,7}) Hz$/.exec(part))) {
      info.sampling_hz = Number(p[1]);
      // The channel layout always follows the sample rate.
      const layout = parts[i + 1];
      if (layout) {
        info.layout = layout;
        const channels = channelsOf(layout);
        if (channels !== undefined) info.channels = channels;
      }
    } else if (i === 1 && info.type === 'video' && (p = /^([a-z][a-z0-9_]*)(?:\(|$)/.exec(part)) && p[1] !== 'none') {
      info.pix_fmt = p[1];
    }
  }
  // Inputs from lavfi and many live sources give only "25 tbr"; that is the best rate known then.
  if (info.fps === undefined && tbr !== undefined && info.type === 'video') info.fps = tbr;

  return { info, encoderHint: kind === 'output' && hint && ENCODER_NAME.test(hint) ? hint : undefined };
}

const SIZE_UNITS: Record<string, number> = { B: 1 / 1024, kB: 1, KiB: 1, mB: 1024, MB: 1024, MiB: 1024, GiB: 1024 * 1024 };

/** Reads one stats line. A field that is N/A or missing keeps its previous value, as datarhei Core does, so
 * that the API does not flap to 0 (size=N/A with -f null, bitrate=N/A at the start, dup/drop only
 * appear once non-zero). */
function parseStats(line: string, prev: ProgressSample): ProgressSample {
  const fields = new Map<string, string>();
  // First occurrence wins: with several video outputs FFmpeg repeats q= per stream.
  for (const m of line.matchAll(/(\w+)=\s*(\S+)/g)) if (!fields.has(m[1])) fields.set(m[1], m[2]);
  const pick = (key: string, re: RegExp): RegExpExecArray | null => {
    const value = fields.get(key);
    return value === undefined ? null : re.exec(value);
  };
  const finite = (n: number, fallback: number): number => (Number.isFinite(n) ? n : fallback);
  const next = { ...prev };

  let m = pick('frame', /^(\d+)$/);
  if (m) next.frame = finite(Number(m[1]), prev.frame);
  if ((m = pick('fps', /^(\d+(?:\.\d+)?)$/))) next.fps = finite(Number(m[1]), prev.fps);
  if ((m = pick('q', /^(-?\d+(?:\.\d+)?)$/))) next.q = finite(Number(m[1]), prev.q);
  const size = fields.has('size') ? 'size' : 'Lsize';
  if ((m = pick(size, /^(\d+(?:\.\d+)?)(B|kB|KiB|mB|MB|MiB|GiB)$/))) {
    next.size_kb = finite(Number(m[1]) * (SIZE_UNITS[m[2]] ?? 1), prev.size_kb);
  }
  // 5.1 prints a sign when the output timestamps are still negative: "time=-00:00:00.04".
  if ((m = pick('time', /^(-?)(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/))) {
    const seconds = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
    next.time = finite(m[1] === '-' ? -seconds : seconds, prev.time);
  }
  if ((m = pick('bitrate', /^(\d+(?:\.\d+)?)kbits\/s$/))) next.bitrate_kbit = finite(Number(m[1]), prev.bitrate_kbit);
  // Speed is printed with %g, so large values come as "1.23e+03x".
  if ((m = pick('speed', /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?)x$/))) next.speed = finite(Number(m[1]), prev.speed);
  if ((m = pick('drop', /^(\d+)$/))) next.drop = finite(Number(m[1]), prev.drop);
  if ((m = pick('dup', /^(\d+)$/))) next.dup = finite(Number(m[1]), prev.dup);
  return next;
}

function count(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : fallback;
}

export class FfmpegParser {
  readonly #maxLog: number;
  readonly #head: number;
  readonly #tail: number;
  readonly #now: () => number;

  #log: Array<[string, string]> = [];
  #lastLogline = '';
  #preludeDone = false;
  #preludeHead: string[] = [];
  #preludeTail: string[] = [];
  #preludeDropped = 0;

  #progress: ProgressSample | null = null;
  #progressCount = 0;

  readonly #headers: Record<IoKind, Map<number, { format: string; address: string }>> = {
    input: new Map(),
    output: new Map(),
  };
  readonly #streams: Record<IoKind, Map<string, ParsedStream>> = { input: new Map(), output: new Map() };
  /** The section the dump is in, so that a "Stream #0:0: ..." line knows whether it is an input or an output. */
  #section: IoKind | null = null;
  readonly #decoders = new Map<string, string>();
  /** Output stream to encoder name, or "copy". */
  readonly #encoders = new Map<string, string>();

  constructor(opts: FfmpegParserOptions) {
    // Like Core: a ring needs at least one slot.
    this.#maxLog = Math.max(1, count(opts?.maxLogLines, 50));
    this.#head = count(opts?.preludeHead, 100);
    this.#tail = count(opts?.preludeTail, 50);
    this.#now = typeof opts?.now === 'function' ? opts.now : Date.now;
  }

  /** One line, without its terminator. */
  feed(line: string): void {
    if (typeof line !== 'string') return;
    const text = redact(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line);
    const bare = text.replace(LEVEL_PREFIX, '');

    if (STATS_START.test(bare) && bare.includes(' time=')) {
      this.#preludeDone = true;
      this.#progressCount++;
      this.#progress = parseStats(bare, this.#progress ?? emptySample());
      return;
    }
    if (bare.trim() === '' || PROGRESS_KV.test(bare)) return;

    this.#lastLogline = text;
    const ms = this.#now();
    this.#log.push([String(Number.isFinite(ms) ? Math.floor(ms / 1000) : 0), text]);
    if (this.#log.length > this.#maxLog) this.#log.shift();
    if (!this.#preludeDone) this.#addPrelude(text);
    // Read on after the prelude too: an output whose encoder waits for its first frame dumps its
    // "Output #n" block late (seen in 4.1 and 5.1 after "Stream mapping:"), possibly after stats began.
    this.#readDump(bare);
  }

  /** Lines before the first stats line: the first preludeHead and the last preludeTail. */
  get prelude(): string[] {
    if (this.#preludeDropped === 0) return [...this.#preludeHead, ...this.#preludeTail];
    return [...this.#preludeHead, `... truncated ${this.#preludeDropped} lines ...`, ...this.#preludeTail];
  }

  /** The last maxLogLines non-progress lines, prelude included, as [unix seconds, line]. */
  get log(): Array<[string, string]> {
    return this.#log.map(([ts, line]): [string, string] => [ts, line]);
  }

  get lastLogline(): string {
    return this.#lastLogline;
  }

  get inputs(): StreamInfo[] {
    return this.#resolve('input');
  }

  get outputs(): StreamInfo[] {
    return this.#resolve('output');
  }

  get progress(): ProgressSample | null {
    return this.#progress ? { ...this.#progress } : null;
  }

  get progressCount(): number {
    return this.#progressCount;
  }

  /** Per-IO progress in datarhei Core's ProgressIO shape, one entry per ffmpeg stream. ioIds[i] is the
   * config id of ffmpeg input/output file i. Counters that vanilla FFmpeg does not report per stream stay
   * 0, except: output video streams get frame/fps/q from the global stats line; the first stream of the
   * first output file gets size_kb/bitrate_kbit (FFmpeg measures file 0 only; one stream holds it so that
   * sums over streams stay right). */
  progressIO(kind: IoKind, ioIds: string[]): ProgressIO[] {
    const ids = Array.isArray(ioIds) ? ioIds : [];
    const p = this.#progress;
    const streams = this.#resolve(kind === 'output' ? 'output' : 'input');
    const sizeHolder = kind === 'output' ? streams.findIndex((s) => s.index === 0) : -1;
    return streams.map((s, n) => {
      const id = ids[s.index];
      const io: ProgressIO = {
        id: typeof id === 'string' ? id : '',
        address: s.address,
        index: s.index,
        stream: s.stream,
        format: s.format,
        type: s.type,
        codec: s.codec,
        coder: s.coder,
        frame: 0,
        keyframe: 0,
        framerate: { min: 0, max: 0, avg: 0 },
        fps: 0,
        packet: 0,
        pps: 0,
        size_kb: 0,
        bitrate_kbit: 0,
        extradata_size_bytes: 0,
        q: 0,
        // Core's AVstream is the state of its playout proxy on an `avstream:` input; drake has none.
        avstream: null,
      };
      // Core omits empty video/audio fields (omitempty): a 0 or "" is left out here too.
      if (s.type === 'video') {
        if (s.pix_fmt) io.pix_fmt = s.pix_fmt;
        if (s.width) io.width = s.width;
        if (s.height) io.height = s.height;
        if (s.kind === 'output') {
          io.frame = p?.frame ?? 0;
          io.fps = p?.fps ?? 0;
          io.q = p?.q ?? 0;
        }
      } else if (s.type === 'audio') {
        if (s.sampling_hz) io.sampling_hz = s.sampling_hz;
        if (s.layout) io.layout = s.layout;
        if (s.channels) io.channels = s.channels;
      }
      if (n === sizeHolder && p) {
        io.size_kb = p.size_kb;
        io.bitrate_kbit = p.bitrate_kbit;
      }
      return io;
    });
  }

  #addPrelude(line: string): void {
    if (this.#preludeHead.length < this.#head) {
      this.#preludeHead.push(line);
      return;
    }
    this.#preludeTail.push(line);
    if (this.#preludeTail.length > this.#tail) {
      this.#preludeTail.shift();
      this.#preludeDropped++;
    }
  }

  #readDump(line: string): void {
    if (!line.includes('#')) return;
    let m: RegExpExecArray | null;
    // endsWith first: it keeps the lazy header patterns from rescanning long garbage lines.
    if (line.endsWith("':") && ((m = INPUT_HEADER.exec(line)) || (m = OUTPUT_HEADER.exec(line)))) {
      const kind: IoKind = line.startsWith('Input') ? 'input' : 'output';
      const headers = this.#headers[kind];
      if (headers.size < MAX_STREAMS) headers.set(Number(m[1]), { format: m[2], address: m[3] });
      this.#section = kind;
      return;
    }
    if ((m = STREAM_LINE.exec(line))) {
      if (!this.#section) return;
      const streams = this.#streams[this.#section];
      const parsed = parseStreamLine(this.#section, m);
      const key = `${parsed.info.index}:${parsed.info.stream}`;
      if (streams.size < MAX_STREAMS || streams.has(key)) streams.set(key, parsed);
      return;
    }
    if (this.#decoders.size >= MAX_STREAMS || this.#encoders.size >= MAX_STREAMS) return;
    if ((m = SIMPLE_MAP.exec(line))) {
      const inKey = `${m[1]}:${m[2]}`;
      const outKey = `${m[3]}:${m[4]}`;
      if (m[5] === 'copy') {
        this.#encoders.set(outKey, 'copy');
        return;
      }
      // "native" means FFmpeg's own coder, which carries the codec's name.
      const c = SIMPLE_MAP_CODECS.exec(m[5]);
      if (!c) return;
      this.#decoders.set(inKey, c[2] === 'native' ? c[1] : c[2]);
      this.#encoders.set(outKey, c[4] === 'native' ? c[3] : c[4]);
      return;
    }
    if ((m = GRAPH_IN.exec(line)) && m[3] !== '?') this.#decoders.set(`${m[1]}:${m[2]}`, m[3]);
    if ((m = GRAPH_OUT.exec(line)) && m[3] !== '?') this.#encoders.set(`${m[1]}:${m[2]}`, m[3]);
  }

  #resolve(kind: IoKind): StreamInfo[] {
    const headers = this.#headers[kind];
    const out: StreamInfo[] = [];
    for (const [key, { info, encoderHint }] of this.#streams[kind]) {
      const header = headers.get(info.index);
      let coder = info.codec;
      if (kind === 'input') {
        coder = this.#decoders.get(key) ?? coder;
      } else {
        // The mapping is the only place 5.1 names the encoder; the metadata "encoder : Lavc... libx264"
        // is no use, as stream copy inherits it from the source.
        const mapped = this.#encoders.get(key);
        coder = mapped === 'copy' ? coder : (mapped ?? encoderHint ?? coder);
      }
      out.push({ ...info, format: header?.format ?? '', address: header?.address ?? '', coder });
    }
    return out.sort((a, b) => a.index - b.index || a.stream - b.stream);
  }
}

function emptySample(): ProgressSample {
  return { frame: 0, fps: 0, q: 0, size_kb: 0, time: 0, bitrate_kbit: 0, speed: 0, drop: 0, dup: 0 };
}
