// Server-added latency: from a packet's arrival at the stream actor's RTP socket to its hand-off to a
// viewer's socket, per viewer-packet. Fixed log-spaced buckets in a typed array: recording allocates
// nothing. Counts are cumulative; readers diff two snapshots for a window.

/** Upper bounds in µs; the last bucket is everything above the last bound. */
export const LATENCY_BOUNDS_US = [25, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000] as const;

export interface LatencySnapshot {
  bounds_us: number[];
  counts: number[];
  max_us: number;
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(LATENCY_BOUNDS_US.length + 1);
  #max = 0;

  /** `n` viewer-packets that waited `us` (a batch leaves for all its viewers at once). */
  record(us: number, n = 1): void {
    if (n <= 0) return;
    let i = 0;
    while (i < LATENCY_BOUNDS_US.length && us > LATENCY_BOUNDS_US[i]!) i++;
    this.#counts[i]! += n;
    if (us > this.#max) this.#max = us;
  }

  snapshot(): LatencySnapshot {
    return { bounds_us: [...LATENCY_BOUNDS_US], counts: [...this.#counts], max_us: Math.round(this.#max) };
  }
}

/** Percentile (0–100) from counts: the upper bound of the bucket that holds it (Infinity for the last). */
export function latencyPercentile(counts: readonly number[], p: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return i < LATENCY_BOUNDS_US.length ? LATENCY_BOUNDS_US[i]! : Infinity;
  }
  return Infinity;
}
