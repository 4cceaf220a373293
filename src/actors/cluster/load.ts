// A node's load as its heartbeat carries it: machine CPU (busy share, smoothed over ≈ 5 heartbeats),
// memory, and drake's own counts from the supervisor. `room` folds them into one 0..1 figure for
// placement. The smoothing keeps a one-second spike (an FFmpeg starting, a GC) from deciding where the
// next process goes: nodes whose room differs by less than the placement's band count as equal, and
// then the one with fewer processes wins.
import { availableParallelism, cpus, freemem, totalmem } from 'node:os';
import type { NodeLoad } from '../../shared/cluster.ts';

export interface LocalCounts {
  processes: number;
  running: number;
  /** Processes with order start (what ffmpeg.max_processes limits). */
  started: number;
  viewers: number;
  relaysOut?: number;
  relaysIn?: number;
  edgeViewers?: number;
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    const sum = t.user + t.nice + t.sys + t.idle + t.irq;
    total += sum;
    busy += sum - t.idle;
  }
  return { busy, total };
}

/** Weight of the newest sample in the CPU average (heartbeats every second: a time constant of ≈ 5 s). */
const CPU_ALPHA = 0.2;

export class LoadSampler {
  #last = cpuTimes();
  #cpu = -1;
  readonly #limits: { maxProcesses: number; maxViewers: number };

  constructor(limits: { maxProcesses: number; maxViewers: number }) {
    this.#limits = limits;
  }

  sample(counts: LocalCounts): NodeLoad {
    const now = cpuTimes();
    const dt = now.total - this.#last.total;
    const sampled = dt > 0 ? Math.min(1, Math.max(0, (now.busy - this.#last.busy) / dt)) : 0;
    this.#last = now;
    this.#cpu = this.#cpu < 0 ? sampled : this.#cpu + CPU_ALPHA * (sampled - this.#cpu);
    const cpuUsage = this.#cpu;
    const memTotal = totalmem();
    const memAvail = freemem();
    const { maxProcesses, maxViewers } = this.#limits;
    const processesLeft = maxProcesses > 0 ? Math.max(0, maxProcesses - counts.started) : null;
    const viewersLeft = Math.max(0, maxViewers - counts.viewers);
    const shares = [1 - cpuUsage, memTotal > 0 ? memAvail / memTotal : 0, maxViewers > 0 ? viewersLeft / maxViewers : 1];
    if (processesLeft !== null) shares.push(processesLeft / maxProcesses);
    return {
      cpu_cores: availableParallelism(),
      cpu_usage: round(cpuUsage),
      memory_total_bytes: memTotal,
      memory_available_bytes: memAvail,
      rss_bytes: process.memoryUsage.rss(),
      processes: counts.processes,
      running: counts.running,
      viewers: counts.viewers,
      max_processes: maxProcesses,
      max_viewers: maxViewers,
      processes_left: processesLeft,
      viewers_left: viewersLeft,
      room: round(Math.max(0, Math.min(...shares))),
      relays_out: counts.relaysOut ?? 0,
      relays_in: counts.relaysIn ?? 0,
      edge_viewers: counts.edgeViewers ?? 0,
    };
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
