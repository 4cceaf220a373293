// Placeholder engine after datarhei Core's restream/replace (Replace, compileTemplate) and the section
// rules of restream.go resolvePlaceholders. Pure: no I/O, no clock, no randomness.
//
// Syntax: {name[^c][,k=v,...]} with name matching [a-z]+(:[0-9A-Za-z]+)?
//  - ^c escapes every c in the substituted value with two backslashes (`\\c`), and every backslash in
//    the value becomes three backslashes, exactly as Core does. Two levels are what ffmpeg needs where
//    such values usually go (tee muxer slave options, filter arguments), e.g. {memfs^:}.
//  - Parameters are comma separated k=v pairs; keys and values are URL-unescaped (as Go's
//    url.QueryUnescape: '+' is a space), a pair that does not unescape is ignored. Values may use
//    $processid, $reference, $inputid and $outputid. A {k} inside the substituted value is replaced by
//    the parameter k (Core's template mechanism).
//  - A placeholder that is unknown, or not allowed in the section, stays exactly as written.

export interface PlaceholderValues {
  processid: string;
  reference: string;
  /** Absolute storage.disk.dir. */
  diskfs: string;
  /** Base URL of the in-memory filesystem, e.g. http://127.0.0.1:8080/memfs. */
  memfs: string;
  /** The built-in RTMP server's URL template, `{name}` for the stream (absent: the server is off). */
  rtmp?: string;
  /** The built-in SRT server's URL template, `{name}`, `{mode}` and `{latency}` for its parameters (absent: the server is off). */
  srt?: string;
  /** WHIP ingest's SDP URL template, `{name}` for the published stream (absent: WHIP ingest is off). */
  whip?: string;
  /** The id of the input being resolved (only meaningful for that input's address and options). */
  inputid?: string;
  /** The id of the output being resolved (its address, options and cleanup patterns). */
  outputid?: string;
}

/**
 * Where a text comes from:
 * - `global`: the process's global ffmpeg options
 * - `io-id`: an input or output id
 * - `address`: an input or output address
 * - `io-options`: an input's or output's options
 * - `cleanup`: an output's cleanup pattern
 */
export type PlaceholderSection = 'global' | 'io-id' | 'address' | 'io-options' | 'cleanup';

type ValueName = 'processid' | 'reference' | 'inputid' | 'outputid' | 'diskfs' | 'memfs' | 'rtmp' | 'srt' | 'whip';

/** Placeholder name -> the value it stands for. */
const NAMES: ReadonlyMap<string, ValueName> = new Map<string, ValueName>([
  ['processid', 'processid'],
  ['reference', 'reference'],
  ['inputid', 'inputid'],
  ['outputid', 'outputid'],
  ['diskfs', 'diskfs'],
  ['fs:disk', 'diskfs'],
  ['memfs', 'memfs'],
  ['fs:mem', 'memfs'],
  ['rtmp', 'rtmp'],
  ['srt', 'srt'],
  ['whip', 'whip'],
]);

/**
 * Parameters a placeholder has without being given (Core's template defaults): {srt} plays (`request`)
 * in an input and publishes in an output, at 20 ms latency.
 */
function defaultParams(key: ValueName, values: PlaceholderValues): ReadonlyMap<string, string> | null {
  if (key !== 'srt') return null;
  return new Map([
    ['latency', '20000'],
    ['mode', values.outputid !== undefined ? 'publish' : 'request'],
  ]);
}

/** What each section may use (Core restream.go resolvePlaceholders; {memfs} not in global options, {rtmp}, {srt} and {whip} in addresses only). */
const ALLOWED: Readonly<Record<PlaceholderSection, ReadonlySet<ValueName>>> = {
  global: new Set<ValueName>(['diskfs']),
  'io-id': new Set<ValueName>(['processid', 'reference']),
  address: new Set<ValueName>(['processid', 'reference', 'inputid', 'outputid', 'diskfs', 'memfs', 'rtmp', 'srt', 'whip']),
  'io-options': new Set<ValueName>(['processid', 'reference', 'inputid', 'outputid', 'diskfs', 'memfs']),
  cleanup: new Set<ValueName>(['processid', 'reference', 'outputid']),
};

/** Core: {([a-z]+(?::[0-9A-Za-z]+)?)(?:\^(.))?(?:,(.*?))?} */
const PLACEHOLDER_RE = /\{([a-z]+(?::[0-9A-Za-z]+)?)(?:\^(.))?(?:,(.*?))?\}/gu;
/** Core's template placeholders inside a value: {([a-z:]+)} */
const TEMPLATE_RE = /\{([a-z:]+)\}/g;
const VARS_RE = /\$(processid|reference|inputid|outputid)/g;

/** Go's url.QueryUnescape: '+' is a space, %XX must be well formed. Returns undefined on error. */
function queryUnescape(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function parseParams(params: string, values: PlaceholderValues): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of params.split(',')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const raw = queryUnescape(eq < 0 ? '' : pair.slice(eq + 1));
    if (key === undefined || raw === undefined) continue;
    const value = raw.replace(VARS_RE, (m, name: ValueName) => values[name] ?? m);
    out.set(key, value);
  }
  return out;
}

function escapeValue(value: string, c: string): string {
  // Core: a backslash becomes three backslashes, then each c becomes `\\c`.
  let out = value.replaceAll('\\', '\\\\\\');
  if (c !== '\\') out = out.replaceAll(c, '\\\\' + c);
  return out;
}

/**
 * Replaces every placeholder of `text` that is known and allowed in `section`. One pass: a
 * substituted value is not scanned again for placeholders.
 */
export function resolvePlaceholders(text: string, section: PlaceholderSection, values: PlaceholderValues): string {
  if (!text.includes('{')) return text;
  const allowed = ALLOWED[section];
  return text.replace(
    PLACEHOLDER_RE,
    (match: string, name: string, escape: string | undefined, params: string | undefined) => {
      const key = NAMES.get(name);
      if (key === undefined || !allowed.has(key)) return match;
      let value = values[key];
      if (value === undefined) return match;
      const defaults = defaultParams(key, values);
      if (params || defaults) {
        const p = new Map([...(defaults ?? []), ...(params ? parseParams(params, values) : [])]);
        if (p.size > 0) value = value.replace(TEMPLATE_RE, (m, k: string) => p.get(k) ?? m);
      }
      if (escape) value = escapeValue(value, escape);
      return value;
    },
  );
}
