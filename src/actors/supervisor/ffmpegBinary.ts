// Finds the FFmpeg to run: the configured binary, then FFMPEG_PATH, then `ffmpeg` on PATH, then the
// static build that `npm install` brings (@ffmpeg-installer/ffmpeg, optional). Checked by running it.
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { FfmpegMissingError } from '../../shared/errors.ts';

export interface FfmpegBinary {
  path: string;
  version: string;
  /** Where it was found, for the start-up line. */
  source: 'config' | 'FFMPEG_PATH' | 'PATH' | '@ffmpeg-installer/ffmpeg';
}

/** True when `path` exists and this process may execute it. */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return null;
}

function bundled(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('@ffmpeg-installer/ffmpeg') as { path?: string };
    return mod.path && executable(mod.path) ? mod.path : null;
  } catch {
    return null;
  }
}

export async function resolveFfmpeg(configured: string, env: NodeJS.ProcessEnv = process.env): Promise<FfmpegBinary> {
  const candidates: Array<[FfmpegBinary['source'], string | null]> = configured
    ? [['config', configured]]
    : [
        ['FFMPEG_PATH', env.FFMPEG_PATH ?? null],
        ['PATH', onPath('ffmpeg', env)],
        ['@ffmpeg-installer/ffmpeg', bundled()],
      ];
  const tried: string[] = [];
  for (const [source, path] of candidates) {
    if (!path) continue;
    const result = await execa(path, ['-hide_banner', '-version'], { reject: false, timeout: 10_000 });
    if (result.exitCode === 0) {
      const first = String(result.stdout).split('\n')[0] ?? '';
      const version = /ffmpeg version (\S+)/.exec(first)?.[1] ?? 'unknown';
      return { path, version, source };
    }
    tried.push(`${path} (${source}): ${result.shortMessage ?? `exit ${result.exitCode}`}`);
  }
  throw new FfmpegMissingError(
    configured
      ? `the configured FFmpeg (ffmpeg.binary / DRAKE_FFMPEG_BINARY = ${configured}) does not run`
      : 'no FFmpeg found: install one (e.g. apt-get install ffmpeg), set DRAKE_FFMPEG_BINARY, or run npm install so the bundled build is present',
    tried,
  );
}
