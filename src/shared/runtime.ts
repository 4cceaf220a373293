// What one thread holds right now: its V8 heap and its event loop's live resources (timers, sockets,
// ports...). Every drake thread reports its own, the supervisor adds them up for drake_runtime_* on
// /metrics: a leak shows there by thread kind and resource type before RSS alone could say where.
import { getHeapStatistics } from 'node:v8';

export interface RuntimeDto {
  /** Threads counted in here (1 per thread; the main thread included in the supervisor's total). */
  threads: number;
  /** Bytes of live objects in the V8 heaps of those threads. */
  heapUsedBytes: number;
  /** Live event-loop resources by type (Timeout, UDPWRAP, MessagePort, ...), as process.getActiveResourcesInfo() names them. */
  resources: Record<string, number>;
}

/** The calling thread's own figures (each worker has its own isolate and event loop). */
export function threadRuntime(): RuntimeDto {
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  return { threads: 1, heapUsedBytes: getHeapStatistics().used_heap_size, resources };
}

export function addRuntime(parts: RuntimeDto[]): RuntimeDto {
  const out: RuntimeDto = { threads: 0, heapUsedBytes: 0, resources: {} };
  for (const p of parts) {
    out.threads += p.threads;
    out.heapUsedBytes += p.heapUsedBytes;
    for (const [k, v] of Object.entries(p.resources)) out.resources[k] = (out.resources[k] ?? 0) + v;
  }
  return out;
}
