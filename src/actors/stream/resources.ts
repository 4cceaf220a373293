// CPU and memory of a child from /proc, as Core reports them: CPU in % of all cores, RSS in bytes.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

const CLOCK_TICKS = 100; // USER_HZ on Linux
const PAGE_SIZE = 4096;
const CORES = availableParallelism();

export interface ResourceSample {
  cpu_usage: number;
  memory_bytes: number;
}

export class ResourceSampler {
  readonly #pid: number;
  #lastTicks = -1;
  #lastAt = 0;
  constructor(pid: number) {
    this.#pid = pid;
  }

  /** Returns null when the process is gone. The first sample reports 0 % CPU (no interval yet). */
  async sample(): Promise<ResourceSample | null> {
    let stat: string;
    let statm: string;
    try {
      [stat, statm] = await Promise.all([readFile(`/proc/${this.#pid}/stat`, 'utf8'), readFile(`/proc/${this.#pid}/statm`, 'utf8')]);
    } catch {
      return null;
    }
    // The command name (field 2) may contain spaces: fields are counted after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    const now = performance.now();
    let cpu = 0;
    if (this.#lastTicks >= 0 && now > this.#lastAt) {
      cpu = (((ticks - this.#lastTicks) / CLOCK_TICKS) * 1000 * 100) / ((now - this.#lastAt) * CORES);
    }
    this.#lastTicks = ticks;
    this.#lastAt = now;
    const rssPages = Number(statm.split(' ')[1]);
    return { cpu_usage: Math.max(0, cpu), memory_bytes: Number.isFinite(rssPages) ? rssPages * PAGE_SIZE : 0 };
  }
}
