// One explicit-bucket histogram, cumulative, in the shape the OpenTelemetry metrics SDK exports
// (sdk-metrics' Histogram). Recording is a scan of at most ~15 boundaries and five number
// updates: no allocation per value.
import type { Histogram } from '@opentelemetry/sdk-metrics';

/** Advised boundaries of http.*.request.duration and rpc.*.call.duration (semantic conventions),
 *  in seconds. */
// Not frozen: V8 keeps a frozen array's numbers boxed, and the bucket search reads them per value.
export const DURATION_BOUNDARIES: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The conventions advise no boundaries for body sizes: the SDK's default explicit boundaries
 *  would put every body over 10 kB in one bucket, so powers of four up to 64 MiB (bytes). */
export const SIZE_BOUNDARIES: readonly number[] = [0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

export class HistogramCell {
  /** counts[i]: values ≤ boundaries[i] (and > boundaries[i-1]); the last: above every boundary. */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  constructor(readonly boundaries: readonly number[]) {
    this.counts = new Float64Array(boundaries.length + 1);
  }

  record(value: number): void {
    const b = this.boundaries;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** Adds another cell's values (same boundaries): merging series for one scrape. */
  add(other: HistogramCell): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
  }

  /** A copy in the SDK's shape (the exporters may keep it past the next record()). */
  value(): Histogram {
    const h: Histogram = {
      buckets: { boundaries: this.boundaries.slice(), counts: Array.from(this.counts) },
      count: this.count,
      sum: this.sum,
    };
    if (this.count > 0) {
      h.min = this.min;
      h.max = this.max;
    }
    return h;
  }
}
