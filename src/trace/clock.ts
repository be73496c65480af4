// The one place where BPF timestamps become wall-clock time.
//
// bpf_ktime_get_ns() reads CLOCK_MONOTONIC, and so does process.hrtime.bigint() (libuv's
// uv_hrtime). Their difference to the wall clock is a single offset, measured once and again
// on resync(): the monotonic clock does not jump when NTP or a person sets the time, so the
// offset drifts only with those corrections (resync from time to time, e.g. every minute).
import type { HrTime } from '@opentelemetry/api';

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;
/** Largest ns count a Number holds exactly. */
const MAX_EXACT_NS = BigInt(Number.MAX_SAFE_INTEGER);

/** Wall clock anchored to CLOCK_MONOTONIC. */
export class MonotonicWallClock {
  private offsetNs: bigint;
  /** The offset as whole seconds and remaining ns (0 ≤ ns < 1e9), for Number arithmetic. */
  private offsetS = 0;
  private offsetRemNs = 0;

  /** @param offsetNs fixed epoch-minus-monotonic offset (tests); measured now when omitted. */
  constructor(offsetNs?: bigint) {
    this.offsetNs = offsetNs ?? measureOffsetNs();
    this.splitOffset();
  }

  /** Measure the offset again; returns how far (ns) the new offset moved from the old one. */
  resync(): bigint {
    const next = measureOffsetNs();
    const moved = next - this.offsetNs;
    this.offsetNs = next;
    this.splitOffset();
    return moved;
  }

  private splitOffset(): void {
    let s = this.offsetNs / NS_PER_S;
    let rem = this.offsetNs % NS_PER_S;
    if (rem < 0n) {
      rem += NS_PER_S;
      s -= 1n;
    }
    this.offsetS = Number(s);
    this.offsetRemNs = Number(rem);
  }

  /** epoch ns minus monotonic ns. */
  offset(): bigint {
    return this.offsetNs;
  }

  monoToEpochNs(monoNs: bigint): bigint {
    return monoNs + this.offsetNs;
  }

  monoToHrTime(monoNs: bigint): HrTime {
    // Number arithmetic is exact below 2^53 ns (104 days of uptime) and costs a fraction of
    // BigInt division; one HrTime per span start and end. The floor is exact too: below 2^53,
    // m / 1e9 < 2^24, where half a double's step (≤ 2^-30) is less than the 1e-9 between
    // k - 1e-9 and a whole k, so m = k·1e9 - 1 never rounds up to k.
    if (monoNs >= 0n && monoNs <= MAX_EXACT_NS) {
      const m = Number(monoNs);
      let s = Math.floor(m / 1e9);
      let ns = m - s * 1e9 + this.offsetRemNs;
      if (ns >= 1e9) {
        ns -= 1e9;
        s += 1;
      }
      s += this.offsetS;
      if (s >= 0) return [s, ns];
    }
    return epochNsToHrTime(monoNs + this.offsetNs);
  }
}


export function epochNsToHrTime(epochNs: bigint): HrTime {
  if (epochNs < 0n) return [0, 0];
  return [Number(epochNs / NS_PER_S), Number(epochNs % NS_PER_S)];
}

/** Duration between two monotonic timestamps as HrTime (0 when end precedes start). */
export function durationHrTime(startNs: bigint, endNs: bigint): HrTime {
  const d = endNs - startNs;
  if (d <= 0n) return [0, 0];
  if (d <= MAX_EXACT_NS) {
    const n = Number(d);
    const s = Math.floor(n / 1e9);
    return [s, n - s * 1e9];
  }
  return [Number(d / NS_PER_S), Number(d % NS_PER_S)];
}

/**
 * Date.now() has millisecond resolution, so reading it next to hrtime once would be up to
 * 1 ms off. Instead wait for Date.now() to tick over: the tick is a whole millisecond of wall
 * time, and it happened between the hrtime read before the call that still saw the old value
 * and the one after the call that saw the new value. A preemption inside that window widens
 * it (seen here: several ms), so take up to 4 ticks and keep the narrowest; each costs ≤1 ms.
 */
function measureOffsetNs(): bigint {
  let best: bigint | undefined;
  let bestWidth = 0n;
  for (let attempt = 0; attempt < 4; attempt++) {
    const sample = sampleTick();
    if (sample === undefined) continue;
    if (best === undefined || sample.width < bestWidth) {
      best = sample.offset;
      bestWidth = sample.width;
    }
    if (bestWidth < 20_000n) break;
  }
  // Never ticked (a frozen wall clock): fall back to a plain reading.
  return best ?? BigInt(Date.now()) * NS_PER_MS - process.hrtime.bigint();
}

function sampleTick(): { offset: bigint; width: bigint } | undefined {
  const limit = process.hrtime.bigint() + 3n * NS_PER_MS;
  const first = Date.now();
  let before = process.hrtime.bigint();
  for (;;) {
    const wall = Date.now();
    const after = process.hrtime.bigint();
    if (wall !== first) {
      return { offset: BigInt(wall) * NS_PER_MS - (before + after) / 2n, width: after - before };
    }
    if (after > limit) return undefined;
    before = after;
  }
}

/** The process-wide clock. */
export const wallClock = new MonotonicWallClock();

export function monoToEpochNs(monoNs: bigint): bigint {
  return wallClock.monoToEpochNs(monoNs);
}

export function monoToHrTime(monoNs: bigint): HrTime {
  return wallClock.monoToHrTime(monoNs);
}

/**
 * Re-measure the process-wide offset every `intervalMs` (NTP slews the wall clock, not the
 * monotonic one). Each resync blocks for at most a few ms. Returns a function that stops it.
 */
export function startPeriodicResync(intervalMs = 60_000, onMoved?: (movedNs: bigint) => void): () => void {
  const timer = setInterval(() => {
    const moved = wallClock.resync();
    onMoved?.(moved);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
