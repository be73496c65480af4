// Which spans are kept: OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (always_on, always_off,
// traceidratio, parentbased_*), plus --keep-errors and --keep-slower-than, which keep an
// exchange that failed or was slow whatever the ratio.
//
// One decision per trace, so that the CLIENT and SERVER spans of a stitched exchange are kept or
// dropped together:
//   - traceidratio decides from the trace id alone, which both stitched spans share;
//   - parentbased_* follows the sampled flag of the parent: a `traceparent` header is the same
//     bytes for the client that wrote it and the server that read it;
//   - for a pair stitched on this host (TraceLinker), the first side built decides and the
//     second takes that decision as it is (PairDecision): the keep-errors and keep-slower-than
//     rules can see different things on the two sides (the client's duration includes the
//     network; a connection cut can look different from each end), and following the first
//     side is what keeps the pair whole. So a pair is kept for slowness only when the side built
//     first (usually the server: it ends when it has written the response) saw it slow.
//   - "failed", for --keep-errors, is what both ends see alike: a 5xx status, a gRPC status that
//     is a server fault, no response at all. A 4xx is not (only a client span calls it an error).
// What cannot be guaranteed: a pair linked only by traceparent (not stitched here) under
// keep-slower-than, when one side saw it slower than the threshold and the other did not.
import type { Exchange } from '../exchange/types';
import { newTraceId } from './ids';
import type { BuildOptions } from './span-builder';

export const SAMPLER_NAMES = [
  'always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio',
] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

export interface SamplingConfig {
  sampler: SamplerName;
  /** traceidratio's ratio, 0..1 (OTEL_TRACES_SAMPLER_ARG; default 1). */
  ratio: number;
  /** --keep-errors */
  keepErrors: boolean;
  /** --keep-slower-than, in ms. */
  keepSlowerThanMs?: number;
}

/** The decision shared by the two spans of a stitched pair (set by the first side). */
export interface PairDecision {
  sampled?: boolean;
}

export interface SamplerStats {
  kept: number;
  /** Spans not exported because sampling said so (not a loss). */
  sampledOut: number;
  /** Kept only because of --keep-errors / --keep-slower-than. */
  keptForError: number;
  keptForSlowness: number;
}

/** 2^56: the trace id's last 14 hex digits (56 bits) are compared to ratio · 2^56. */
const RANDOM_RANGE = 2 ** 56;

/** Whether traceidratio keeps this trace id (lower-case hex, 32 digits). */
export function traceIdKept(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  const r = parseInt(traceId.slice(18, 32), 16);
  return r < ratio * RANDOM_RANGE;
}

/** Failed as both ends see it (see the header). */
export function failedForBothSides(ex: Exchange): boolean {
  if (ex.response === undefined) return true;
  const grpc = ex.rpc?.statusCode;
  if (grpc !== undefined) return grpc === 2 || grpc === 4 || grpc === 12 || grpc === 13 || grpc === 14 || grpc === 15;
  const code = ex.response.statusCode;
  return code !== undefined && code >= 500;
}

export class SpanSampler {
  private readonly s: SamplerStats = { kept: 0, sampledOut: 0, keptForError: 0, keptForSlowness: 0 };
  private readonly slowNs: bigint | undefined;

  constructor(private readonly config: SamplingConfig) {
    this.slowNs = config.keepSlowerThanMs !== undefined ? BigInt(Math.round(config.keepSlowerThanMs * 1e6)) : undefined;
  }

  /**
   * Keep the span of `ex`, built with `options` (from TraceLinker)? When nobody drew its trace
   * id yet it is drawn here, into `options`: the decision and the span must see the same one.
   */
  keep(ex: Exchange, options: BuildOptions): boolean {
    const parent = options.parent;
    const traceId = parent?.traceId ?? (options.traceId ??= newTraceId());
    // A local parent is the CLIENT span of a pair stitched here: not a caller's decision to
    // follow. The pair is decided as a root (or by the client's own remote parent).
    const remote = parent !== undefined && parent.isRemote !== false;
    return this.decide(ex, traceId, remote ? (parent.traceFlags & 1) === 1 : undefined, options.pair);
  }

  /**
   * Keep the span of `ex`, in trace `traceId`, whose parent (when there is one) has the sampled
   * flag `parentSampled`? `pair`: the decision shared with the other side of a stitched pair.
   */
  decide(ex: Exchange, traceId: string, parentSampled: boolean | undefined, pair: PairDecision | undefined): boolean {
    let keep: boolean;
    if (pair !== undefined && pair.sampled !== undefined) {
      keep = pair.sampled;
    } else {
      keep = this.base(traceId, parentSampled);
      if (!keep && this.config.keepErrors && failedForBothSides(ex)) {
        keep = true;
        this.s.keptForError++;
      }
      if (!keep && this.slowNs !== undefined && ex.endNs - ex.startNs >= this.slowNs) {
        keep = true;
        this.s.keptForSlowness++;
      }
      if (pair !== undefined) pair.sampled = keep;
    }
    if (keep) this.s.kept++;
    else this.s.sampledOut++;
    return keep;
  }

  private base(traceId: string, parentSampled: boolean | undefined): boolean {
    const c = this.config;
    switch (c.sampler) {
      case 'always_on':
        return true;
      case 'always_off':
        return false;
      case 'traceidratio':
        return traceIdKept(traceId, c.ratio);
      case 'parentbased_always_on':
        return parentSampled ?? true;
      case 'parentbased_always_off':
        return parentSampled ?? false;
      case 'parentbased_traceidratio':
        return parentSampled ?? traceIdKept(traceId, c.ratio);
    }
  }

  stats(): SamplerStats {
    return { ...this.s };
  }
}
