// GET /process/:id/probe: runs FFmpeg with the process's global options and its inputs but no outputs, as
// datarhei Core does (restream.go ProbeWithTimeout). FFmpeg opens every input, prints the input dump and
// exits with "At least one output file must be specified"; that is the expected end. The stream info comes
// from FfmpegParser (the one place that reads FFmpeg's text); only the container's "Duration:" line, which
// the parser has no use for, is read here. Never throws: Core always answers 200 and reports problems in
// `log` (spawn errors, unreachable inputs, the timeout).
import { redact } from '../../shared/redact.ts';
import { execa } from 'execa';
import type { ProcessConfig } from '../../shared/processConfig.ts';
import type { ProbeDto, ProbeStreamDto } from '../../shared/protocol.ts';
import { errorText } from '../../shared/errors.ts';
import { FfmpegParser, LineSplitter } from './ffmpegParse.ts';
import { FFMPEG_CHILD_OPTIONS } from './FfmpegRunner.ts';

/** One input stream, Core's ProbeIO (http/api/probe.go): missing numbers are 0, missing strings "". */
export type { ProbeDto, ProbeStreamDto };

export interface ProbeOptions {
  /** Wall-clock limit for the FFmpeg run; Core uses 20 s. The child is killed when it is reached. */
  timeoutMs: number;
}

/** The log keeps the first LOG_HEAD and the last LOG_TAIL lines: a probe that hangs on a noisy input
 * for the whole timeout must not grow without bound. */
const LOG_HEAD = 500;
const LOG_TAIL = 200;

// `-loglevel level+...` prefixes lines with "[info] "; the parser strips it as well.
const LEVEL_PREFIX = /^\[(?:quiet|panic|fatal|error|warning|info|verbose|debug|trace)\] /;
const INPUT_HEADER = /^Input #(\d{1,6}), .*, from '.*':$/;
// "  Duration: 00:00:04.00, start: 0.000000, bitrate: 233 kb/s" (or "Duration: N/A, ..."). It follows
// its "Input #n" header; only the first one per input counts (chapters and programs come later).
const DURATION = /^\s+Duration: (\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?),/;

/** Runs `binary [...options] [...input.options -i input.address]...` and returns the input streams. */
export async function probeInputs(binary: string, resolved: ProcessConfig, opts: ProbeOptions): Promise<ProbeDto> {
  const timeoutMs = Number.isFinite(opts?.timeoutMs) && opts.timeoutMs > 0 ? opts.timeoutMs : 20_000;
  const args = [...resolved.options];
  for (const io of resolved.input) args.push(...io.options, '-i', io.address);

  const parser = new FfmpegParser({ maxLogLines: 1 });
  const head: string[] = [];
  const tail: string[] = [];
  let dropped = 0;
  const durations = new Map<number, number>();
  let currentInput = -1;

  const onLine = (line: string): void => {
    if (line.trim() === '') return;
    line = redact(line);
    parser.feed(line);
    if (head.length < LOG_HEAD) head.push(line);
    else {
      tail.push(line);
      if (tail.length > LOG_TAIL) {
        tail.shift();
        dropped++;
      }
    }
    const bare = line.replace(LEVEL_PREFIX, '');
    const header = INPUT_HEADER.exec(bare);
    if (header) {
      currentInput = Number(header[1]);
      return;
    }
    const d = currentInput >= 0 && !durations.has(currentInput) ? DURATION.exec(bare) : null;
    if (d) durations.set(currentInput, Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]));
  };

  const notes: string[] = [];
  try {
    const splitter = new LineSplitter(onLine);
    // Nothing to finalise: a probe has no outputs, so a hanging one is killed outright.
    const child = execa(binary, args, { ...FFMPEG_CHILD_OPTIONS, timeout: timeoutMs, killSignal: 'SIGKILL' });
    child.stderr?.on('data', (chunk: Buffer) => splitter.push(chunk));
    const result = await child;
    splitter.flush();
    if (result.timedOut) {
      notes.push(`probe timed out after ${formatSeconds(timeoutMs)} s`);
    } else if (child.pid === undefined) {
      const why = result.originalMessage || result.shortMessage || 'spawn failed';
      notes.push(`probe failed: can't run ${binary}: ${why.replace(/\s*\n\s*/g, ' ')}`);
    }
  } catch (err) {
    // execa reports failures in the result with reject:false; this is for anything unexpected.
    notes.push(`probe failed: ${errorText(err)}`);
  }

  // Core's prelude parser knows only these three; data and attachment streams are left out as there.
  const media = parser.inputs.filter((s) => s.type === 'video' || s.type === 'audio' || s.type === 'subtitle');
  const streams = media.map((s): ProbeStreamDto => ({
    url: s.address,
    format: s.format,
    index: s.index,
    stream: s.stream,
    language: s.language && /^[a-z]{3}$/.test(s.language) ? s.language : 'und',
    type: s.type,
    codec: s.codec,
    coder: s.coder,
    bitrate_kbps: s.bitrate_kbit ?? 0,
    duration_sec: durations.get(s.index) ?? 0,
    fps: s.fps ?? 0,
    pix_fmt: s.pix_fmt ?? '',
    width: s.width ?? 0,
    height: s.height ?? 0,
    sampling_hz: s.sampling_hz ?? 0,
    layout: s.layout ?? '',
    channels: s.channels ?? 0,
  }));
  const log = dropped > 0 ? [...head, `... truncated ${dropped} lines ...`, ...tail] : [...head, ...tail];
  return { streams, log: [...log, ...notes] };
}

/** 20000 → "20", 1500 → "1.5". */
function formatSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
