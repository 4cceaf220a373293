// The Pion v3 path of the benchmarks: bench/pion/main.go built offline with Debian's Go and Pion
// packages (golang-go, golang-github-pion-webrtc.v3-dev), run as a child process with its own FFmpeg
// encoding the same source with the same RTP outputs drake appends (webrtcOutputArgs), and made to look
// like a bench drake (CPU samples, process start/stop, WHEP stats) so the scenarios compare it as a path.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveFfmpeg } from '../../src/actors/supervisor/ffmpegBinary.ts';
import { webrtcOutputArgs } from '../../src/actors/stream/webrtcOutputs.ts';
import { parseProcessConfig } from '../../src/shared/processConfig.ts';
import type { WhepStatsDto } from '../../src/shared/protocol.ts';
import { procSample, type ProcSample } from './drakeChild.ts';
import { alive } from './proc.ts';

const SOURCE_GO = fileURLToPath(new URL('../pion/main.go', import.meta.url));
const GOCODE = '/usr/share/gocode/src';
const live = new Set<PionChild>();

/** Builds the Pion server once per machine; null + why when Go or Debian's Pion sources are missing. */
export function buildPion(): { binary: string } | { skipped: string } {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) return { skipped: 'Go is not installed (apt-get install golang-go golang-github-pion-webrtc.v3-dev)' };
  if (!existsSync(join(GOCODE, 'github.com/pion/webrtc/settingengine.go'))) {
    return { skipped: "Debian's Pion sources are not installed (apt-get install golang-github-pion-webrtc.v3-dev)" };
  }
  const dir = join(tmpdir(), 'drake-bench-pion');
  const gopath = join(dir, 'gopath');
  const pkg = join(gopath, 'src', 'drakepion');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(SOURCE_GO, join(pkg, 'main.go'));
  // Debian ships Pion v3 at github.com/pion/webrtc (module path .../webrtc/v3); GOPATH mode needs the /v3 path.
  const v3 = join(gopath, 'src', 'github.com', 'pion', 'webrtc', 'v3');
  if (!existsSync(v3)) {
    mkdirSync(join(v3, '..'), { recursive: true });
    symlinkSync(join(GOCODE, 'github.com/pion/webrtc'), v3);
  }
  const binary = join(dir, 'pion-whep');
  const r = spawnSync('go', ['build', '-o', binary, '.'], {
    cwd: pkg,
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: join(dir, 'cache'), GOFLAGS: '' },
  });
  if (r.status !== 0) return { skipped: `building bench/pion failed: ${(r.stderr || r.stdout).trim().slice(0, 400)}` };
  return { binary };
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

interface PionStats {
  viewers: number;
  packets: number;
  bytes: number;
  ingest: { video: number; audio: number };
}

export class PionChild {
  readonly label = 'pion';
  url = '';
  pid = 0;
  ffmpeg = { path: '', version: '' };
  readonly #server: ChildProcess;
  readonly #ffmpegArgs: string[];
  #encoder: ChildProcess | null = null;
  readonly #lastAt = { video: 0, audio: 0 };
  readonly #lastCount = { video: 0, audio: 0 };
  #exited = false;

  private constructor(server: ChildProcess, ffmpegArgs: string[]) {
    this.#server = server;
    this.#ffmpegArgs = ffmpegArgs;
    server.once('exit', () => {
      this.#exited = true;
      live.delete(this);
    });
  }

  /** Starts the server and its FFmpeg (the same source and RTP legs as drake's bench process). */
  static async start(binary: string, source: Record<string, unknown>): Promise<PionChild> {
    const [video, audio] = [await freeUdpPort(), await freeUdpPort()];
    const server = spawn(binary, ['-http', '127.0.0.1:0', '-video', `127.0.0.1:${video}`, '-audio', `127.0.0.1:${audio}`], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const cfg = parseProcessConfig(source);
    const ff = await resolveFfmpeg('');
    const args = ['-hide_banner', '-loglevel', 'error', ...cfg.input.flatMap((i) => [...i.options, '-i', i.address]), ...webrtcOutputArgs(cfg.webrtc, { video, audio })];
    const p = new PionChild(server, args);
    p.ffmpeg = { path: ff.path, version: ff.version };
    live.add(p);
    p.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`pion: no listening line within 10 s: ${out}`)), 10_000);
      const onData = (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      server.stdout!.on('data', onData);
      server.stderr!.on('data', onData);
      server.once('exit', (code) => reject(new Error(`pion exited (${code}): ${out}`)));
    });
    p.pid = server.pid!;
    p.#startEncoder();
    return p;
  }

  #startEncoder(): void {
    if (this.#encoder && this.#encoder.exitCode === null) return;
    this.#encoder = spawn(this.ffmpeg.path, this.#ffmpegArgs, { stdio: 'ignore' });
  }

  #stopEncoder(): void {
    this.#encoder?.kill('SIGKILL');
    this.#encoder = null;
  }

  /** The only calls the scenarios make: start/stop of the bench process. */
  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const command = (body as { command?: string } | undefined)?.command;
    if (method === 'PUT' && path.endsWith('/command') && (command === 'start' || command === 'stop')) {
      if (command === 'start') this.#startEncoder();
      else this.#stopEncoder();
      return { status: 200, body: 'OK' as T };
    }
    return { status: 501, body: `pion: ${method} ${path} is not emulated` as T };
  }

  /** Pion's counters in the shape the scenarios read (what Pion cannot tell is 0 or null). */
  async whepStats(): Promise<WhepStatsDto> {
    const s = (await (await fetch(`${this.url}/stats`)).json()) as PionStats;
    const now = Date.now();
    for (const k of ['video', 'audio'] as const) {
      if (s.ingest[k] !== this.#lastCount[k]) this.#lastAt[k] = now;
      this.#lastCount[k] = s.ingest[k];
    }
    const encoding = this.#encoder !== null && this.#encoder.exitCode === null;
    return {
      viewers: s.viewers,
      packets: s.packets,
      bytes: s.bytes,
      nacks: 0,
      retransmits: 0,
      plis: 0,
      plisIgnored: 0,
      bursts: 0,
      gopPackets: encoding && s.ingest.video > 0 ? 1 : 0,
      sharedPort: null,
      batchDrops: 0,
      batched: 0,
      latency: null,
      ingest: {
        video: { packets: s.ingest.video, bytes: 0, dropped: 0, lastAt: this.#lastAt.video, foreign: 0, kernelDropped: 0 },
        audio: { packets: s.ingest.audio, bytes: 0, dropped: 0, lastAt: this.#lastAt.audio, foreign: 0, kernelDropped: 0 },
      },
    };
  }

  /** The Go process's CPU (all its threads) and its FFmpeg's, as DrakeChild samples drake's. */
  sample(): ProcSample {
    return procSample(this.pid, this.#encoder?.pid ? [this.#encoder.pid] : []);
  }

  async stop(): Promise<void> {
    this.kill();
  }

  kill(): void {
    this.#stopEncoder();
    if (this.#exited || !this.#server.pid) return;
    try {
      process.kill(-this.#server.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }

  get running(): boolean {
    return !this.#exited && alive(this.pid);
  }
}

export function killAllPions(): void {
  for (const p of live) p.kill();
}
