// `npm start`: load the config, start drake, print where it listens and where data lives, and shut
// down cleanly on Ctrl-C / SIGTERM (every FFmpeg stopped, nothing left running).
// GET /api/v3/config/reload restarts drake in place with the saved config.
import { parseArgs } from 'node:util';
import { createDrake, type Drake } from './app.ts';
import { loadConfig, type DrakeConfig } from './shared/config.ts';
import { DrakeError } from './shared/errors.ts';
import { Logger } from './shared/log.ts';
import { srtpBackendInfo } from './shared/srtp/index.ts';

const log = new Logger('drake');

function fail(err: unknown): never {
  if (err instanceof DrakeError) {
    process.stderr.write(`drake: ${err.message}\n${err.details.map((d) => `  - ${d}\n`).join('')}`);
  } else {
    process.stderr.write(`drake: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
}

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
let drake: Drake;
let reloading = false;

async function boot(previous?: Drake): Promise<Drake> {
  const fallback: DrakeConfig | undefined = previous?.config;
  const loaded = loadConfig({ file: values.config ?? null });
  const source = { file: loaded.file, raw: loaded.raw, overrides: loaded.overrides, reload: () => void reload(), ...(previous ? { mem: previous.mem } : {}) };
  let d: Drake;
  try {
    d = await createDrake(loaded.config, source);
  } catch (err) {
    if (!fallback) throw err;
    log.error(`the saved config does not start (${(err as Error).message}); staying on the previous one`);
    d = await createDrake(fallback, source);
  }
  log.info(`config: ${loaded.file ?? '(built-in defaults)'}${loaded.overrides.length ? `, overridden by ${loaded.overrides.join(', ')}` : ''}`);
  log.info(`FFmpeg ${d.ffmpeg.version} at ${d.ffmpeg.path} (from ${d.ffmpeg.source})`);
  const srtpInfo = srtpBackendInfo;
  if (srtpInfo.backend === 'native') log.info(`SRTP: native addon (${srtpInfo.openssl}); UDP GSO for bursts ${srtpInfo.gso ? 'on' : 'off'}; media sockets read with ${srtpInfo.recv}`);
  else log.warn(`SRTP: pure-JS fallback (${srtpInfo.reason}); run npm install with a C compiler for the native addon`);
  log.info(`store: ${d.supervisor.storeFile}; disk filesystem: ${d.config.storage.disk.dir}`);
  log.info(`listening on ${d.url}  (API: ${d.url}/api/v3/process)`);
  // Listing FFmpeg's skills takes seconds: start now so the first /api/v3/skills does not wait.
  void d.skills.get().catch((err: unknown) => log.warn(`cannot list FFmpeg's skills: ${String(err)}`));
  if (d.supervisor.has('demo')) log.info(`watch the demo: ${d.url}/player/demo   (all streams: ${d.url}/)`);
  return d;
}

async function reload(): Promise<void> {
  if (reloading) return;
  reloading = true;
  log.info('config reload: restarting drake with the saved config');
  const previous = drake;
  await drake.close();
  drake = await boot(previous).catch(fail);
  reloading = false;
}

let stoppingSince = 0;
function stop(signal: string): void {
  if (stoppingSince) {
    // npm and tsx relay the terminal's signal, so one Ctrl-C arrives two or three times: only a
    // second Ctrl-C a moment later means "now".
    if (Date.now() - stoppingSince < 2000) return;
    log.warn(`${signal} again: killing every FFmpeg and exiting now`);
    drake.supervisor.killChildrenNow();
    process.exit(130);
  }
  stoppingSince = Date.now();
  log.info(`${signal}: stopping every process`);
  drake.close().then(
    () => process.exit(0),
    (err) => fail(err),
  );
}

try {
  drake = await boot();
} catch (err) {
  fail(err);
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
