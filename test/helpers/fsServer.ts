// A small uWS server with only the filesystem routes mounted (plus any extra routes a test adds),
// on 127.0.0.1 and a random port, with throw-away disk and memory filesystems.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import uWS from 'uWebSockets.js';
import { DiskFs } from '../../src/gateway/fs/DiskFs.ts';
import { MemFs, type MemFsOptions } from '../../src/gateway/fs/MemFs.ts';
import { json, mount, type Route } from '../../src/gateway/http.ts';
import { fsRoutes, type FsRoutesOptions } from '../../src/gateway/routes/fsRoutes.ts';

export interface FsServer {
  url: string;
  port: number;
  mem: MemFs;
  disk: DiskFs;
  /** The temporary directory; the disk filesystem is its `data/`. */
  dir: string;
  diskDir: string;
  close(): void;
}

export async function startFsServer(
  opts: { routes?: Partial<FsRoutesOptions>; mem?: MemFsOptions; extra?: Route[] } = {},
): Promise<FsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'drake-fs-test-'));
  const diskDir = join(dir, 'data');
  mkdirSync(diskDir);
  const mem = new MemFs(opts.mem);
  const disk = new DiskFs(diskDir);
  const routeOpts: FsRoutesOptions = { memfsAuth: null, ...opts.routes };
  const app = uWS.App();
  // Routes bring their own body limits; the server's must not be smaller.
  const server = { maxBodyBytes: Number.MAX_SAFE_INTEGER };
  for (const r of [...fsRoutes(mem, disk, routeOpts), ...(opts.extra ?? [])]) mount(app, r, server);
  mount(
    app,
    { method: 'any', pattern: '/*', summary: 'Not found', handler: (req) => json(404, { code: 404, message: `no route for ${req.url}`, details: [] }) },
    { maxBodyBytes: 0 },
  );
  const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('cannot listen'))));
  });
  const port = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    mem,
    disk,
    dir,
    diskDir,
    close() {
      uWS.us_listen_socket_close(socket);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const FFMPEG = '/usr/bin/ffmpeg';

export function haveFfmpeg(): boolean {
  try {
    accessSync(FFMPEG, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface FfmpegRun {
  /** Resolves with the exit code (null when killed) and the end of stderr. */
  done: Promise<{ code: number | null; stderr: string }>;
  kill(): void;
}

/** Runs FFmpeg with a hard time limit; stderr is kept for failure messages. */
export function runFfmpeg(args: string[], limitMs = 25_000): FfmpegRun {
  const child = spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr = (stderr + c).slice(-8000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  return {
    done,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** The FFmpeg arguments of an HLS push of a 320x240 test pattern to `url` (HTTP PUT). */
export function hlsPushArgs(url: string, seconds: number, extra: string[] = [], listSize = 2): string[] {
  return [
    '-re',
    '-f',
    'lavfi',
    '-t',
    String(seconds),
    '-i',
    'testsrc=size=320x240:rate=25',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-g',
    '25',
    '-f',
    'hls',
    '-hls_time',
    '1',
    '-hls_list_size',
    String(listSize),
    '-hls_flags',
    'delete_segments',
    ...extra,
    '-method',
    'PUT',
    url,
  ];
}
