// From a stored process config to ffmpeg's argv, after datarhei Core: io id checks
// (restream.go validateConfig), placeholder resolution (resolvePlaceholders), address validation
// (validateInputAddress / validateOutputAddress, net/url) and the command line (app.Config.CreateCommand).
// Pure functions: no I/O (paths are checked lexically, symlinks are not followed).
import path from 'node:path';
import { ValidationError } from '../../shared/errors.ts';
import { shortId, type ProcessConfig, type ProcessConfigIO } from '../../shared/processConfig.ts';
import { resolvePlaceholders, type PlaceholderValues } from './placeholders.ts';

export interface CommandContext {
  /** Absolute storage.disk.dir: {diskfs} and the root every file output must stay inside. */
  diskDir: string;
  /** Base URL of the in-memory filesystem for {memfs}, e.g. http://127.0.0.1:8080/memfs. */
  memfsUrl: string;
  /** `Basic ...` when memfs writes need credentials: sent up front by outputs that write there. */
  memfsAuthorization?: string;
  /** {rtmp}'s template when the built-in RTMP server runs: rtmp://host:port<app>/{name}[?token=…]. */
  rtmpUrl?: string;
  /** {srt}'s template when the built-in SRT server runs (see ingest/srt/srtUrl.ts). */
  srtUrl?: string;
  /** {whip}'s template when WHIP ingest is on: http://host:port/whip/{name}/sdp?token=… (FFmpeg reads the SDP). */
  whipUrl?: string;
}

/** A config that cannot become a command; `details` lists every problem found, one sentence each. */
export class CommandError extends ValidationError {
  constructor(details: string[]) {
    super(details.join('; '), details);
  }
}

type IoKind = 'input' | 'output';
const KINDS: readonly IoKind[] = ['input', 'output'];

/**
 * Returns a copy of the config with empty io ids generated (shortId()) and ids trimmed. Ids must be
 * unique among the inputs, and separately among the outputs; duplicates throw a CommandError.
 */
export function normalizeIds(config: ProcessConfig): ProcessConfig {
  const out = structuredClone(config);
  const problems: string[] = [];
  for (const kind of KINDS) {
    const ios = out[kind];
    const seen = new Set<string>();
    const reported = new Set<string>();
    for (const io of ios) {
      io.id = io.id.trim();
      if (io.id === '') continue;
      if (seen.has(io.id)) {
        if (!reported.has(io.id)) problems.push(`the ${kind} ID '${io.id}' is already in use`);
        reported.add(io.id);
      }
      seen.add(io.id);
    }
    for (const io of ios) {
      if (io.id !== '') continue;
      let id = shortId();
      while (seen.has(id)) id = shortId();
      seen.add(id);
      io.id = id;
    }
  }
  if (problems.length > 0) throw new CommandError(problems);
  return out;
}

/**
 * Returns a resolved copy of the config, the one a run uses (the stored config keeps its
 * placeholders): placeholders replaced per section, io ids checked again after resolution, addresses
 * trimmed and validated. Outputs are rewritten as Core does: `-` becomes `pipe:`, a `file:` prefix is
 * dropped, a path becomes `file:<absolute path>` (relative paths are taken relative to diskDir, and the
 * result must be inside diskDir or under /dev/), tee addresses are checked part by part.
 * Throws a CommandError listing every problem.
 */
/**
 * FFmpeg sends URL credentials only after a 401, and only after it has sent the whole body
 * (Expect: 100-continue is answered by the server before any handler runs), so an output that
 * writes to memfs gets the credentials up front: -headers for HLS and plain HTTP, http_opts for DASH.
 */
function addMemfsAuth(io: ProcessConfigIO, authorization: string): void {
  const f = io.options.indexOf('-f');
  const format = f >= 0 ? io.options[f + 1] : undefined;
  if (format === 'dash') {
    if (!io.options.includes('-http_opts')) io.options.push('-http_opts', 'auth_type=basic');
    return;
  }
  const h = io.options.indexOf('-headers');
  if (h >= 0 && h + 1 < io.options.length) io.options[h + 1] = `${io.options[h + 1]!.replace(/(\r\n)?$/, '\r\n')}Authorization: ${authorization}\r\n`;
  else io.options.unshift('-headers', `Authorization: ${authorization}\r\n`);
}

export function resolveConfig(config: ProcessConfig, ctx: CommandContext): ProcessConfig {
  const out = structuredClone(config);
  const problems: string[] = [];
  const diskDir = path.resolve(ctx.diskDir);
  const base: PlaceholderValues = {
    processid: out.id,
    reference: out.reference,
    diskfs: diskDir,
    memfs: ctx.memfsUrl.replace(/\/+$/, ''),
    ...(ctx.rtmpUrl ? { rtmp: ctx.rtmpUrl } : {}),
    ...(ctx.srtUrl ? { srt: ctx.srtUrl } : {}),
    ...(ctx.whipUrl ? { whip: ctx.whipUrl } : {}),
  };
  if (out.id.trim() === '') problems.push('an empty process ID is not allowed');

  out.options = out.options.map((o) => resolvePlaceholders(o, 'global', base));

  for (const kind of KINDS) {
    const seen = new Set<string>();
    out[kind] = out[kind].map((orig): ProcessConfigIO => {
      const id = resolvePlaceholders(orig.id, 'io-id', base);
      if (id.trim() === '') problems.push(`empty ${kind} IDs are not allowed`);
      else if (seen.has(id)) problems.push(`the ${kind} ID '${id}' is already in use`);
      seen.add(id);

      const values: PlaceholderValues = kind === 'input' ? { ...base, inputid: id } : { ...base, outputid: id };
      const io: ProcessConfigIO = {
        id,
        address: resolvePlaceholders(orig.address, 'address', values).trim(),
        options: orig.options.map((o) => resolvePlaceholders(o, 'io-options', values)),
        cleanup: orig.cleanup.map((c) => ({ ...c, pattern: resolvePlaceholders(c.pattern, 'cleanup', values) })),
      };

      const where = `${kind} '#${out.id}:${id}'`;
      if (io.address === '') {
        problems.push(`the address for ${where} must not be empty`);
        return io;
      }
      try {
        io.address = kind === 'input' ? validateInputAddress(io.address) : validateOutputAddress(io.address, diskDir);
      } catch (err) {
        problems.push(`the address for ${where} (${io.address}) is invalid: ${(err as Error).message}`);
      }
      if (kind === 'output' && ctx.memfsAuthorization && io.address.startsWith(base.memfs)) addMemfsAuth(io, ctx.memfsAuthorization);
      return io;
    });
  }

  if (problems.length > 0) throw new CommandError(problems);
  return out;
}

/** argv without the binary, in Core's order: global options, per input [...options, -i, address], per output [...options, address]. */
export function buildArgs(resolved: ProcessConfig): string[] {
  const args = [...resolved.options];
  for (const io of resolved.input) args.push(...io.options, '-i', io.address);
  for (const io of resolved.output) args.push(...io.options, io.address);
  return args;
}

// ---------------------------------------------------------------------------------------------
// Address validation

/** A URL scheme followed by one to three slashes (Core net/url HasScheme, with an RFC 3986 scheme). */
const SCHEME_RE = /^([a-z][a-z0-9+.-]*):\/{1,3}/i;
const TEE_OPTIONS_RE = /^\[[^\]]*\]/;

function hasScheme(address: string): boolean {
  return SCHEME_RE.test(address);
}

function validateInputAddress(address: string): string {
  if (hasScheme(address)) checkUrl(address);
  return address;
}

function validateOutputAddress(address: string, diskDir: string): string {
  if (!address.includes('|') && !address.startsWith('[')) return validateSingleOutput(address, diskDir);
  return address
    .split('|')
    .map((part) => {
      const options = TEE_OPTIONS_RE.exec(part)?.[0] ?? '';
      if (options === '' && part.startsWith('[')) throw new Error(`unterminated tee options in '${part}'`);
      const rest = part.slice(options.length);
      if (rest.trim() === '') throw new Error('a tee output part has no address');
      return options + validateSingleOutput(rest, diskDir);
    })
    .join('|');
}

function validateSingleOutput(address: string, diskDir: string): string {
  const a = address.startsWith('file:') ? address.slice('file:'.length) : address;
  if (hasScheme(a)) {
    checkUrl(a);
    return a;
  }
  if (a === '-') return 'pipe:';
  if (a === '') throw new Error('empty file path');
  const abs = path.resolve(diskDir, a);
  if (abs.startsWith('/dev/')) return `file:${abs}`;
  const rel = path.relative(diskDir, abs);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new Error(`${abs} is not inside of ${diskDir}`);
  }
  return `file:${abs}`;
}

/**
 * Core's relaxed URL parse (net/url Parse): only the authority of `scheme://authority/...` is checked,
 * like Go's url.Parse("//" + authority) does: userinfo characters, host characters, a numeric port,
 * brackets around IPv6 literals, well-formed percent escapes.
 */
function checkUrl(address: string): void {
  let rest = address.split('#', 1)[0] ?? '';
  const m = SCHEME_RE.exec(rest);
  if (!m) return;
  rest = rest.slice((m[1] ?? '').length + 1);
  rest = rest.split('?', 1)[0] ?? '';
  if (rest.startsWith('///') || !rest.startsWith('//')) return;
  const authority = rest.slice(2).split('/', 1)[0] ?? '';
  checkAuthority(authority);
}

const USERINFO_RE = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@]*$/;
const HOST_RE = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"%\u{80}-\u{10FFFF}]*$/u;

function checkAuthority(authority: string): void {
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    if (!USERINFO_RE.test(userinfo)) throw new Error('invalid userinfo');
    checkPercent(userinfo, false);
  }
  const host = authority.slice(at + 1);
  let port: string;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) throw new Error(`missing ']' in host`);
    port = host.slice(close + 1);
    if (!/^(:[0-9]*)?$/.test(port)) throw new Error(`invalid port '${port}' after host`);
  } else {
    const colon = host.lastIndexOf(':');
    port = colon >= 0 ? host.slice(colon) : '';
    if (!/^(:[0-9]*)?$/.test(port)) throw new Error(`invalid port '${port}' after host`);
  }
  const bad = [...host].find((ch) => !HOST_RE.test(ch));
  if (bad !== undefined) throw new Error(`invalid character ${JSON.stringify(bad)} in host name`);
  checkPercent(host, true);
}

function checkPercent(s: string, isHost: boolean): void {
  for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', i + 1)) {
    const hex = s.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`invalid URL escape '${s.slice(i, i + 3)}'`);
    // Go: in a host only %25 or escapes of non-ASCII bytes are allowed.
    if (isHost && parseInt(hex, 16) < 0x80 && hex !== '25') throw new Error(`invalid URL escape '%${hex}'`);
  }
}
