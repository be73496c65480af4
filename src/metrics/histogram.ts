// One explicit-bucket histogram, cumulative, in the shape the OpenTelemetry metrics SDK exports
// (sdk-metrics' Histogram). Recording is a scan of at most ~15 boundaries and five number
// updates: no allocation per value.
//
// The numbers of a histogram live in a slice of a Float64Array (its bucket counts, then count,
// sum, min, max), so that the histograms of one series share one store: recording an exchange
// touches one object and a few adjacent cache lines instead of an object, a typed array and a
// separately allocated backing store per histogram (measured in bench/PIPELINE.md, Metrics).
import type { Histogram } from '@opentelemetry/sdk-metrics';

/** Advised boundaries of http.*.request.duration and rpc.*.call.duration (semantic conventions),
 *  in seconds. */
// Not frozen: V8 keeps a frozen array's numbers boxed, and the bucket search reads them per value.
export const DURATION_BOUNDARIES: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The conventions advise no boundaries for body sizes: the SDK's default explicit boundaries
 *  would put every body over 10 kB in one bucket, so powers of four up to 64 MiB (bytes). */
export const SIZE_BOUNDARIES: readonly number[] = [0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/** Numbers a histogram with these boundaries takes in a store: a count per bucket (one more
 *  than the boundaries), then count, sum, min, max. */
export function cellSize(boundaries: readonly number[]): number {
  return boundaries.length + 5;
}

/** Sets the store's slice at `base` to an empty histogram (min +∞, max −∞). */
export function clearCell(store: Float64Array, base: number, boundaries: readonly number[]): void {
  const n = boundaries.length + 1;
  store.fill(0, base, base + n + 2);
  store[base + n + 2] = Infinity;
  store[base + n + 3] = -Infinity;
}

/** Records one value in the histogram at `base` of `store` (small enough to be inlined). */
export function recordIn(store: Float64Array, base: number, boundaries: readonly number[], value: number): void {
  const n = boundaries.length;
  let i = 0;
  while (i < n && value > boundaries[i]) i++;
  store[base + i]++;
  const s = base + n + 1;
  store[s]++;
  store[s + 1] += value;
  if (value < store[s + 2]) store[s + 2] = value;
  if (value > store[s + 3]) store[s + 3] = value;
}

/** One histogram: a view of its slice of a store (its own store when none is given). */
export class HistogramCell {
  readonly store: Float64Array;
  readonly base: number;
  /** Where count, sum, min and max are in the store. */
  private readonly stats: number;

  constructor(readonly boundaries: readonly number[], store?: Float64Array, base = 0) {
    if (store === undefined) {
      this.store = new Float64Array(cellSize(boundaries));
      this.base = 0;
      clearCell(this.store, 0, boundaries);
    } else {
      if (!(base >= 0 && base + cellSize(boundaries) <= store.length)) throw new RangeError('histogram slice outside its store');
      this.store = store;
      this.base = base;
    }
    this.stats = this.base + boundaries.length + 1;
  }

  /** Bucket counts: counts[i] values ≤ boundaries[i] (and > boundaries[i-1]); the last, above
   *  every boundary. A view of the store. */
  get counts(): Float64Array {
    return this.store.subarray(this.base, this.stats);
  }

  get count(): number {
    return this.store[this.stats];
  }

  get sum(): number {
    return this.store[this.stats + 1];
  }

  get min(): number {
    return this.store[this.stats + 2];
  }

  get max(): number {
    return this.store[this.stats + 3];
  }

  record(value: number): void {
    recordIn(this.store, this.base, this.boundaries, value);
  }

  /** Adds another cell's values (same boundaries): merging series for one scrape. */
  add(other: HistogramCell): void {
    const a = this.store;
    const b = other.store;
    const n = this.boundaries.length + 1;
    for (let i = 0; i < n + 2; i++) a[this.base + i] += b[other.base + i];
    if (other.min < this.min) a[this.stats + 2] = other.min;
    if (other.max > this.max) a[this.stats + 3] = other.max;
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
