// One FFmpeg child: spawn with execa, stream stderr lines out, stop gracefully (SIGINT, then
// SIGKILL after a timeout) or kill at once. The runner knows nothing about states or policies.
import { execa } from 'execa';
import { LineSplitter } from './ffmpegParse.ts';

export interface ExitInfo {
  /** Exit status, null when a signal ended the child or it never started. */
  code: number | null;
  signal: string | null;
  /** Set when the child could not be spawned at all (ENOENT, EACCES...). */
  spawnError: string | null;
}

export interface FfmpegRunnerOptions {
  binary: string;
  args: string[];
  stopTimeoutMs: number;
  onLine: (line: string) => void;
  /** setpriv's path: FFmpeg gets SIGKILL when the thread that started it ends (drake killed included). */
  setpriv?: string;
}

/** How every FFmpeg child runs: stderr read as a stream, nothing buffered, and (as in Core) an empty
 *  environment so nothing of drake's leaks into the child. */
export const FFMPEG_CHILD_OPTIONS = {
  reject: false,
  buffer: false,
  stdin: 'ignore',
  stdout: 'ignore',
  stderr: 'pipe',
  env: {},
  extendEnv: false,
  cleanup: true,
} as const;

function spawnFfmpeg(opts: FfmpegRunnerOptions) {
  // setpriv execs FFmpeg in place: same pid, argv[0] the FFmpeg binary.
  if (opts.setpriv) return execa(opts.setpriv, ['--pdeathsig', 'KILL', '--', opts.binary, ...opts.args], { ...FFMPEG_CHILD_OPTIONS, killSignal: 'SIGINT', forceKillAfterDelay: opts.stopTimeoutMs });
  return execa(opts.binary, opts.args, { ...FFMPEG_CHILD_OPTIONS, killSignal: 'SIGINT', forceKillAfterDelay: opts.stopTimeoutMs });
}

export class FfmpegRunner {
  readonly #child: ReturnType<typeof spawnFfmpeg>;
  readonly #splitter: LineSplitter;
  readonly exited: Promise<ExitInfo>;
  #done = false;

  constructor(opts: FfmpegRunnerOptions) {
    this.#splitter = new LineSplitter(opts.onLine);
    this.#child = spawnFfmpeg(opts);
    this.#child.stderr.on('data', (chunk: Buffer) => this.#splitter.push(chunk));
    this.exited = this.#child.then((result) => {
      this.#done = true;
      this.#splitter.flush();
      const neverStarted = this.#child.pid === undefined;
      return {
        code: typeof result.exitCode === 'number' ? result.exitCode : null,
        signal: result.signal ?? null,
        spawnError: neverStarted ? result.shortMessage || result.message || 'spawn failed' : null,
      };
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return !this.#done;
  }

  /** SIGINT (FFmpeg finishes its outputs and exits 255), SIGKILL if it is still there after the timeout. */
  stop(): Promise<ExitInfo> {
    if (!this.#done) this.#child.kill();
    return this.exited;
  }

  kill(): Promise<ExitInfo> {
    if (!this.#done) this.#child.kill('SIGKILL');
    return this.exited;
  }
}
