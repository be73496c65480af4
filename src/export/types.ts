// Contracts of the export stage: where finished spans go.
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** The agent's logger (src/util/log.ts): drops and failures are summarised, never per span. */
export type { Logger } from '../util/log';
export { silentLogger } from '../util/log';

export interface SinkStats {
  /** Spans the backend accepted (OTLP) or that were printed (console). */
  exported: number;
  /** Spans refused because the queue was full, or handed in after shutdown: a loss. */
  dropped: number;
  /** Spans thrown away on purpose (OTEL_TRACES_EXPORTER=none): not a loss, never in `dropped`. */
  discarded: number;
  /** Spans given up on after export failed (non-retryable error, or still failing at shutdown). */
  failed: number;
  /** Spans waiting or in flight now. */
  queued: number;
  /** Export attempts that failed and were (or will be) retried. */
  retries: number;
}

/**
 * A span destination. export() never blocks and never throws: a slow or dead backend shows up
 * as `dropped`/`failed` counts. The agent reads `stats().queued` between drain slices and leaves
 * records in the ring while the queue is three quarters full and the ring less than half
 * (src/agent/export-backpressure.ts). forceFlush()/shutdown() never reject; they
 * resolve when done or when their deadline passes.
 */
export interface SpanSink {
  export(span: ReadableSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  stats(): SinkStats;
}
