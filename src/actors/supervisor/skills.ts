// GET /skills and /skills/reload: what the FFmpeg binary can do, in datarhei Core's shape
// (core:ffmpeg/skills/skills.go, core:http/api/skills.go). Nine FFmpeg runs (-version, -codecs, -encoders,
// -decoders, -formats, -protocols, -filters, -hwaccels, -devices), each parsed from its listing. Checked
// against FFmpeg 4.1 (static 2018 build) and 5.1 (Debian 12); the listings of newer versions (a third
// "d" column in -formats) are accepted as well. Differences from Core: empty lists are [] rather than
// null, library versions are printed without FFmpeg's padding ("59.7.100", not "59.  7.100"), and the
// devices' hardware lists (Core enumerates ALSA/V4L2/framebuffer devices) are left empty.
import { execa } from 'execa';
import { FfmpegMissingError } from '../../shared/errors.ts';

export interface SkillsIdName {
  id: string;
  name: string;
}

export interface SkillsLibrary {
  name: string;
  compiled: string;
  linked: string;
}

export interface SkillsCodec {
  id: string;
  name: string;
  encoders: string[];
  decoders: string[];
}

export interface SkillsHWDevice {
  id: string;
  name: string;
  extra: string;
  media: string;
}

export interface SkillsDevice {
  id: string;
  name: string;
  devices: SkillsHWDevice[];
}

export interface SkillsDto {
  ffmpeg: { version: string; compiler: string; configuration: string; libraries: SkillsLibrary[] };
  filter: SkillsIdName[];
  hwaccels: SkillsIdName[];
  codecs: { audio: SkillsCodec[]; video: SkillsCodec[]; subtitle: SkillsCodec[] };
  devices: { demuxers: SkillsDevice[]; muxers: SkillsDevice[] };
  formats: { demuxers: SkillsIdName[]; muxers: SkillsIdName[] };
  protocols: { input: SkillsIdName[]; output: SkillsIdName[] };
}

/** The raw stdout of each listing, keyed by the FFmpeg option without its dash. */
export interface SkillsListings {
  version: string;
  codecs: string;
  encoders: string;
  decoders: string;
  formats: string;
  protocols: string;
  filters: string;
  hwaccels: string;
  devices: string;
}

export interface LoadSkillsOptions {
  /** Limit per FFmpeg run (default 10 s). */
  timeoutMs?: number;
}

const LISTINGS: ReadonlyArray<keyof SkillsListings> = [
  'version',
  'codecs',
  'encoders',
  'decoders',
  'formats',
  'protocols',
  'filters',
  'hwaccels',
  'devices',
];

/** Runs the nine listings in parallel and parses them. Throws FfmpegMissingError when `-version` does
 * not run (Core refuses to start then); a listing that fails otherwise just yields empty lists. */
export async function loadSkills(binary: string, opts: LoadSkillsOptions = {}): Promise<SkillsDto> {
  const timeout = opts.timeoutMs && opts.timeoutMs > 0 ? opts.timeoutMs : 10_000;
  const results = await Promise.all(
    LISTINGS.map((name) =>
      execa(binary, ['-hide_banner', `-${name}`], {
        reject: false,
        stdin: 'ignore',
        env: {},
        extendEnv: false,
        timeout,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
      }),
    ),
  );
  const version = results[0];
  if (!version || version.exitCode !== 0) {
    const why = version?.timedOut ? `timed out after ${timeout} ms` : (version?.shortMessage ?? 'failed');
    throw new FfmpegMissingError(`can't read the FFmpeg version of ${binary}`, [why]);
  }
  const texts = {} as SkillsListings;
  LISTINGS.forEach((name, i) => {
    const r = results[i];
    texts[name] = r && !r.timedOut && typeof r.stdout === 'string' ? r.stdout : '';
  });
  return parseSkills(texts);
}

/** Pure: the listings' text to Core's shape. */
export function parseSkills(texts: SkillsListings): SkillsDto {
  const codecs = parseCodecs(lines(texts.codecs));
  mergeCoders(codecs, parseCoderListing(lines(texts.encoders)), 'encoders');
  mergeCoders(codecs, parseCoderListing(lines(texts.decoders)), 'decoders');
  const formats = parseFormatLike(lines(texts.formats));
  const devices = parseFormatLike(lines(texts.devices));
  const asDevice = (f: SkillsIdName): SkillsDevice => ({ id: f.id, name: f.name, devices: [] });
  return {
    ffmpeg: parseVersion(texts.version),
    filter: parseFilters(lines(texts.filters)),
    hwaccels: parseHwaccels(lines(texts.hwaccels)),
    codecs: {
      audio: codecs.filter((c) => c.type === 'A').map((c) => c.codec),
      video: codecs.filter((c) => c.type === 'V').map((c) => c.codec),
      subtitle: codecs.filter((c) => c.type === 'S').map((c) => c.codec),
    },
    devices: { demuxers: devices.demuxers.map(asDevice), muxers: devices.muxers.map(asDevice) },
    formats,
    protocols: parseProtocols(lines(texts.protocols)),
  };
}

function lines(text: string): string[] {
  return typeof text === 'string' ? text.split(/\r?\n/) : [];
}

// ---------------------------------------------------------------------------------------------
// -version

// libavutil major.minor of each FFmpeg release, for builds that do not print a release number
// ("ffmpeg version N-47683-g0e8eb07980-static" is a git snapshot after 4.1, libavutil 56.24).
const AVUTIL_RELEASES: Array<[number, number, string]> = [
  [55, 17, '3.0'],
  [55, 78, '3.4'],
  [56, 14, '4.0'],
  [56, 22, '4.1'],
  [56, 31, '4.2'],
  [56, 51, '4.3'],
  [56, 70, '4.4'],
  [57, 17, '5.0'],
  [57, 28, '5.1'],
  [58, 2, '6.0'],
  [58, 29, '6.1'],
  [59, 8, '7.0'],
  [59, 39, '7.1'],
  [60, 8, '8.0'],
];

function parseVersion(text: string): SkillsDto['ffmpeg'] {
  const out: SkillsDto['ffmpeg'] = { version: '', compiler: '', configuration: '', libraries: [] };
  for (const line of lines(text)) {
    let m: RegExpExecArray | null;
    if ((m = /^ffmpeg version (\S+)/.exec(line))) {
      // Core: "5.1.9-0+deb12u1" → "5.1.9", "n6.0" / "ffmpeg-4.4" → "6.0.0" / "4.4.0".
      const release = /^(?:n|ffmpeg-)?(\d+)\.(\d+)(?:\.(\d+))?/.exec(m[1]);
      out.version = release ? `${release[1]}.${release[2]}.${release[3] ?? '0'}` : m[1];
    } else if ((m = /^\s*built with (.*)$/.exec(line))) {
      out.compiler = m[1].trim();
    } else if ((m = /^\s*configuration: ?(.*)$/.exec(line))) {
      out.configuration = m[1].trim();
    } else if ((m = /^\s*(lib[a-z0-9_]+)\s+(\d+\.\s*\d+\.\s*\d+) \/\s*(\d+\.\s*\d+\.\s*\d+)\s*$/.exec(line))) {
      out.libraries.push({ name: m[1], compiled: m[2].replace(/\s+/g, ''), linked: m[3].replace(/\s+/g, '') });
    }
  }
  // A git build: the release it follows, by its libavutil version.
  if (out.version !== '' && !/^\d+\.\d+\.\d+$/.test(out.version)) {
    const avutil = out.libraries.find((l) => l.name === 'libavutil');
    const [major, minor] = (avutil?.linked ?? '').split('.').map(Number);
    if (major !== undefined && minor !== undefined && Number.isFinite(major) && Number.isFinite(minor)) {
      let release: string | undefined;
      for (const [ma, mi, rel] of AVUTIL_RELEASES) if (major > ma || (major === ma && minor >= mi)) release = rel;
      if (release) out.version = `${release}.0`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// -codecs, -encoders, -decoders

interface TypedCodec {
  type: string;
  codec: SkillsCodec;
}

// " DEV.LS h264                 H.264 / AVC / ... (decoders: h264 h264_qsv ) (encoders: libx264 ... )"
// Flags: Decoding, Encoding, type (Video Audio Subtitle Data aTtachment), Intra-only, Lossy, lossleSs.
const CODEC_LINE = /^ ([D.])([E.])([VASDT])[I.][L.][S.] (\S+)\s+(.*)$/;
const CODERS_SUFFIX = /\s*\((decoders|encoders):([^)]*)\)\s*$/;

function parseCodecs(all: string[]): TypedCodec[] {
  const out: TypedCodec[] = [];
  for (const line of all) {
    const m = CODEC_LINE.exec(line);
    if (!m || (m[3] !== 'V' && m[3] !== 'A' && m[3] !== 'S')) continue;
    const id = m[4];
    let rest = m[5];
    const named: Record<string, string[]> = {};
    // The two lists trail the description; peel them off from the end.
    for (let s = CODERS_SUFFIX.exec(rest); s; s = CODERS_SUFFIX.exec(rest)) {
      named[s[1]] = s[2].trim().split(/\s+/).filter(Boolean);
      rest = rest.slice(0, s.index);
    }
    out.push({
      type: m[3],
      codec: {
        id,
        name: rest.trim(),
        // Without a list, the codec's own coder carries its name (Core does the same).
        encoders: m[2] === 'E' ? (named.encoders ?? [id]) : [],
        decoders: m[1] === 'D' ? (named.decoders ?? [id]) : [],
      },
    });
  }
  return out;
}

// " V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)"; no
// "(codec x)" means the coder is named after its codec.
const CODER_LINE = /^ ([VAS])[F.][S.][X.][B.][D.] (\S+)\s+(.*)$/;

function parseCoderListing(all: string[]): Map<string, string[]> {
  const byCodec = new Map<string, string[]>();
  for (const line of all) {
    const m = CODER_LINE.exec(line);
    if (!m) continue;
    const codec = /\(codec (\S+)\)\s*$/.exec(m[3])?.[1] ?? m[2];
    const key = `${m[1]}:${codec}`;
    const list = byCodec.get(key) ?? [];
    list.push(m[2]);
    byCodec.set(key, list);
  }
  return byCodec;
}

/** Adds coders that -encoders/-decoders list but -codecs left out, keeping -codecs' order first. */
function mergeCoders(codecs: TypedCodec[], listing: Map<string, string[]>, field: 'encoders' | 'decoders'): void {
  for (const { type, codec } of codecs) {
    const extra = listing.get(`${type}:${codec.id}`);
    if (!extra) continue;
    for (const name of extra) if (!codec[field].includes(name)) codec[field].push(name);
  }
}

// ---------------------------------------------------------------------------------------------
// -formats, -devices

// " DE mpegts          MPEG-TS (MPEG-2 Transport Stream)" (4.1, 5.1) or " DE  flv  FLV" with a third
// "d" (device) column (6.1+). Names are comma lists ("mov,mp4,m4a,3gp,3g2,mj2"): the first is the id,
// as in Core. The description may be empty ("libcdio").
const FORMAT_LINE = /^ ([D ])([E ])[d ]? (\S+)(?:\s+(.*))?$/;

function parseFormatLike(all: string[]): { demuxers: SkillsIdName[]; muxers: SkillsIdName[] } {
  const demuxers: SkillsIdName[] = [];
  const muxers: SkillsIdName[] = [];
  for (const line of all) {
    const m = FORMAT_LINE.exec(line);
    if (!m || (m[1] !== 'D' && m[2] !== 'E')) continue;
    const entry = (): SkillsIdName => ({ id: m[3].split(',')[0] ?? m[3], name: (m[4] ?? '').trim() });
    if (m[1] === 'D') demuxers.push(entry());
    if (m[2] === 'E') muxers.push(entry());
  }
  return { demuxers, muxers };
}

// ---------------------------------------------------------------------------------------------
// -protocols, -hwaccels, -filters

function parseProtocols(all: string[]): SkillsDto['protocols'] {
  const out: SkillsDto['protocols'] = { input: [], output: [] };
  let section: SkillsIdName[] | null = null;
  for (const line of all) {
    const t = line.trim();
    if (t === 'Input:') section = out.input;
    else if (t === 'Output:') section = out.output;
    else if (section && /^[A-Za-z0-9_.+-]+$/.test(t)) section.push({ id: t, name: t });
  }
  return out;
}

function parseHwaccels(all: string[]): SkillsIdName[] {
  const out: SkillsIdName[] = [];
  let started = false;
  for (const line of all) {
    const t = line.trim();
    if (t === 'Hardware acceleration methods:') started = true;
    else if (started && /^[A-Za-z0-9_]+$/.test(t)) out.push({ id: t, name: t });
  }
  return out;
}

// " ..C scale             V->V       Scale the input video size and/or convert the image format."
// Flags: Timeline, Slice threading, Command support; then the pads (A, V, N, | for source/sink).
const FILTER_LINE = /^ [T.][S.][C.] (\S+)\s+([AVN|]*->[AVN|]*)\s+(.*)$/;

function parseFilters(all: string[]): Array<{ id: string; name: string }> {
  const out: SkillsIdName[] = [];
  for (const line of all) {
    const m = FILTER_LINE.exec(line);
    if (m) out.push({ id: m[1], name: m[3].trim() });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cache

export type SkillsLoader = (binary: string) => Promise<SkillsDto>;

/** Skills of one binary, computed on first use. Concurrent callers share one run; a failed run is
 * not kept, so the next get() tries again. reload() re-runs and swaps the result in when it succeeds
 * (the previous skills stay when it fails, as in Core); concurrent reloads share one run too. */
export class SkillsCache {
  readonly #binary: string;
  readonly #load: SkillsLoader;
  #current: Promise<SkillsDto> | null = null;
  #reloading: Promise<SkillsDto> | null = null;

  constructor(binary: string, load: SkillsLoader = (b) => loadSkills(b)) {
    this.#binary = binary;
    this.#load = load;
  }

  get binary(): string {
    return this.#binary;
  }

  get(): Promise<SkillsDto> {
    if (this.#current) return this.#current;
    if (this.#reloading) return this.#reloading;
    const run = this.#load(this.#binary);
    this.#current = run;
    run.catch(() => {
      if (this.#current === run) this.#current = null;
    });
    return run;
  }

  reload(): Promise<SkillsDto> {
    if (this.#reloading) return this.#reloading;
    const run = this.#load(this.#binary).then((skills) => {
      this.#current = Promise.resolve(skills);
      return skills;
    });
    this.#reloading = run;
    const clear = (): void => {
      if (this.#reloading === run) this.#reloading = null;
    };
    run.then(clear, clear);
    return run;
  }
}
