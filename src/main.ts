// `npm start`: load the config, start drake, print where it listens and where data lives, and shut
// down cleanly on Ctrl-C / SIGTERM (every FFmpeg stopped, nothing left running).
import { parseArgs } from 'node:util';
import { createDrake } from './app.ts';
import { loadConfig } from './shared/config.ts';
import { DrakeError } from './shared/errors.ts';
import { Logger } from './shared/log.ts';

const log = new Logger('drake');

function fail(err: unknown): never {
  if (err instanceof DrakeError) {
    process.stderr.write(`drake: ${err.message}\n${err.details.map((d) => `  - ${d}\n`).join('')}`);
  } else {
    process.stderr.write(`drake: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
  const loaded = loadConfig({ file: values.config ?? null });
  const drake = await createDrake(loaded.config);
  log.info(`config: ${loaded.file ?? '(built-in defaults)'}${loaded.overrides.length ? `, overridden by ${loaded.overrides.join(', ')}` : ''}`);
  log.info(`FFmpeg ${drake.ffmpeg.version} at ${drake.ffmpeg.path} (from ${drake.ffmpeg.source})`);
  log.info(`store: ${drake.supervisor.storeFile}; disk filesystem: ${drake.config.storage.disk.dir}`);
  log.info(`listening on ${drake.url}  (API: ${drake.url}/api/v3/process)`);
  if (drake.supervisor.has('demo')) log.info(`watch the demo: ${drake.url}/player/demo   (all streams: ${drake.url}/)`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    log.info(`${signal}: stopping every process`);
    drake.close().then(
      () => process.exit(0),
      (err) => fail(err),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch(fail);
