// Starts an actor's worker thread from source (under tsx) or from tsc output. The tsx loader does
// not reach worker threads on Node 20, so a .ts entry registers tsx inside the worker first.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startWorker(entry: URL, opts: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, opts);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { ...opts, eval: true });
}

/** URL of a module relative to base (`../stream/worker`), with the extension this build runs with (.ts under tsx, .js after tsc). */
export function siblingModule(name: string, base: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}
