// Bounded, retrying batch queue in front of an OTLP SpanExporter.
//
// Why not the SDK's BatchSpanProcessor: it drops a batch whose export failed and drops queue
// overflow without telling anyone. Here a batch that failed with a retryable error (collector
// down, UNAVAILABLE, deadline, "Concurrent export limit reached") goes back to the front of the
// queue and is retried with exponential backoff; the queue bound covers waiting, retrying and
// in-flight spans together, and every span refused for lack of room is counted.
//
// Nothing here can block or throw into capture: export() is O(1) but for sealing a full batch,
// and all exporter calls are made from timers with their results (and rejections) handled.
//
// A batch is sealed by its transport as soon as it is full, and the OTLP transport builds it
// span by span: each span is encoded as it comes (a few µs, not a whole batch's ≈ 1.5 ms in one
// piece) and dies young instead of waiting in the queue (and in flight) as an object that
// survives garbage collections; retries resend the same bytes.
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { describeExportError, grpcCode } from './export-errors';
import { silentLogger, type Logger, type SinkStats, type SpanSink } from './types';

export interface OtlpSinkOptions {
  /** Most spans held at once (waiting + retrying + in flight). Default 8192. */
  maxQueueSize?: number;
  /** Most spans per export request. Default 512. */
  maxExportBatchSize?: number;
  /** A partial batch is sent this long after the previous send tick. Default 1000 ms. */
  scheduledDelayMillis?: number;
  /** Export requests in flight at once. Default 2. */
  maxConcurrentExports?: number;
  /** An export whose callback has not come back after this long is treated as failed
   *  (retryable). Keep above the exporter's own timeout. Default 30000 ms. */
  exportTimeoutMillis?: number;
  /** First wait after a failed export; doubles per failure up to retryMaxBackoffMillis. */
  retryInitialBackoffMillis?: number;
  retryMaxBackoffMillis?: number;
  /** Longest forceFlush()/shutdown() wait for the queue to drain. Default 3000 ms. */
  flushTimeoutMillis?: number;
  /** Drops and failures are summarised at most once per interval. Default 10000 ms. */
  logIntervalMillis?: number;
  logger?: Logger;
  /** Where spans go, for log messages (e.g. the endpoint). */
  destination?: string;
}

// gRPC status codes the OTLP spec calls retryable (RESOURCE_EXHAUSTED too: we are bounded).
const RETRYABLE_GRPC_CODES = new Set([1, 4, 8, 10, 11, 14, 15]);

/** Whether an export error is worth retrying (errors without a gRPC code are, bar one). */
export function isRetryableExportError(error: unknown): boolean {
  const code = grpcCode(error);
  if (code !== undefined) return RETRYABLE_GRPC_CODES.has(code);
  const message = error instanceof Error ? error.message : String(error);
  return message !== 'Nothing to send';
}

/** A batch being filled, span by span. */
export interface BatchBuilder<B> {
  /** Spans added since the last seal. */
  readonly spans: number;
  /** May throw: that span then fails, and the batch goes on without it. */
  add(span: ReadableSpan): void;
  /** The batch of the spans added (at least one); the builder starts the next. May throw (the
   *  spans then fail), and starts the next all the same. */
  seal(): B;
  /** Forgets the spans added. */
  reset(): void;
}

/** How the sink turns spans into export requests and sends them. */
export interface BatchTransport<B> {
  /** Called once per batch, with 1..maxExportBatchSize spans; may throw (the spans then fail). */
  seal(spans: ReadableSpan[]): B;
  /** A builder that takes in each span as it comes (seal() is then not used): the work of a
   *  batch is spread over its spans, and spans are not kept until it is full. */
  builder?(): BatchBuilder<B> | undefined;
  export(batch: B, resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

/** A plain SpanExporter as a transport: the batch is the span array. */
export function spanExporterTransport(exporter: SpanExporter): BatchTransport<ReadableSpan[]> {
  return {
    seal: (spans) => spans,
    export: (batch, cb) => exporter.export(batch, cb),
    shutdown: () => exporter.shutdown(),
  };
}

/** A builder that keeps the spans until the batch is sealed by the transport. */
function keepingBuilder<B>(transport: BatchTransport<B>): BatchBuilder<B> {
  let spans: ReadableSpan[] = [];
  return {
    get spans() {
      return spans.length;
    },
    add: (span) => {
      spans.push(span);
    },
    seal: () => {
      const batch = spans;
      spans = [];
      return transport.seal(batch);
    },
    reset: () => {
      spans = [];
    },
  };
}

function isTransport(e: SpanExporter | BatchTransport<unknown>): e is BatchTransport<unknown> {
  return typeof (e as BatchTransport<unknown>).seal === 'function';
}

interface Sealed<B> {
  batch: B;
  spans: number;
}

interface FlushWaiter {
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export class OtlpSpanSink<B = unknown> implements SpanSink {
  private readonly transport: BatchTransport<B>;
  private readonly maxQueueSize: number;
  private readonly batchSize: number;
  private readonly delayMs: number;
  private readonly maxConcurrent: number;
  private readonly exportTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly flushTimeoutMs: number;
  private readonly logIntervalMs: number;
  private readonly logger: Logger;
  private readonly destination: string;

  /** The batch being filled. */
  private readonly pending: BatchBuilder<B>;
  /** Sealed batches not sent yet, oldest first. */
  private readonly ready: Array<Sealed<B>> = [];
  private readySpans = 0;
  private readonly retry: Array<Sealed<B>> = [];
  private retrySpans = 0;
  private inFlightSpans = 0;
  private inFlightExports = 0;

  private exported = 0;
  private dropped = 0;
  private failed = 0;
  private retries = 0;

  private backoffMs: number;
  private backoffUntil = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private drainScheduled = false;
  private readonly ticker: NodeJS.Timeout;
  private readonly flushWaiters: FlushWaiter[] = [];
  /** No new spans accepted (shutdown started). */
  private stopped = false;
  /** Shutdown's flush is over: failures are final, nothing is retried. */
  private finalized = false;
  /** Shutdown is over: results that still arrive were already counted as failed. */
  private abandoned = false;
  private shutdownPromise: Promise<void> | undefined;

  // For the once-per-interval summary.
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private droppedSinceLog = 0;
  private failuresSinceLog = 0;
  private lastError = '';
  private failing = false;
  private unencodableSinceLog = 0;
  private lastEncodeError = '';

  constructor(exporter: SpanExporter | BatchTransport<B>, options: OtlpSinkOptions = {}) {
    this.transport = isTransport(exporter) ? (exporter as BatchTransport<B>) : (spanExporterTransport(exporter) as BatchTransport<unknown> as BatchTransport<B>);
    this.pending = this.transport.builder?.() ?? keepingBuilder(this.transport);
    this.maxQueueSize = positive(options.maxQueueSize, 8192);
    this.batchSize = Math.min(positive(options.maxExportBatchSize, 512), this.maxQueueSize);
    this.delayMs = positive(options.scheduledDelayMillis, 1000);
    this.maxConcurrent = positive(options.maxConcurrentExports, 2);
    this.exportTimeoutMs = positive(options.exportTimeoutMillis, 30_000);
    this.initialBackoffMs = positive(options.retryInitialBackoffMillis, 500);
    this.maxBackoffMs = Math.max(this.initialBackoffMs, positive(options.retryMaxBackoffMillis, 5000));
    this.flushTimeoutMs = positive(options.flushTimeoutMillis, 3000);
    this.logIntervalMs = positive(options.logIntervalMillis, 10_000);
    this.logger = options.logger ?? silentLogger;
    this.destination = options.destination ?? 'the OTLP endpoint';
    this.backoffMs = this.initialBackoffMs;
    this.ticker = setInterval(() => this.tick(), this.delayMs);
    this.ticker.unref();
  }

  export(span: ReadableSpan): void {
    if (this.stopped || this.queued() >= this.maxQueueSize) {
      this.dropped++;
      this.droppedSinceLog++;
      return;
    }
    try {
      this.pending.add(span);
    } catch (err) {
      this.failed++;
      this.unencodableSinceLog++;
      this.lastEncodeError = describeExportError(err);
      this.summarise(false);
      return;
    }
    if (this.pending.spans >= this.batchSize) {
      this.sealPending();
      this.scheduleDrain();
    }
  }

  stats(): SinkStats {
    return {
      exported: this.exported,
      dropped: this.dropped,
      discarded: 0,
      failed: this.failed,
      queued: this.queued(),
      retries: this.retries,
    };
  }

  forceFlush(): Promise<void> {
    return this.flush(this.flushTimeoutMs);
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    this.stopped = true;
    await this.flush(this.flushTimeoutMs);
    this.finalized = true;
    clearInterval(this.ticker);
    if (this.backoffTimer !== undefined) clearTimeout(this.backoffTimer);
    const left = this.pending.spans + this.readySpans + this.retrySpans;
    if (left > 0) {
      this.failed += left;
      this.pending.reset();
      this.ready.length = 0;
      this.readySpans = 0;
      this.retry.length = 0;
      this.retrySpans = 0;
    }
    this.summarise(true);
    if (left > 0 || this.inFlightSpans > 0) {
      this.logger.warn(
        `shutdown: ${left} spans not delivered to ${this.destination}` +
          (this.inFlightSpans > 0 ? `, ${this.inFlightSpans} still unconfirmed` : ''),
      );
    }
    // The exporter waits for its in-flight requests; do not let a hung collector hold us.
    await withDeadline(Promise.resolve().then(() => this.transport.shutdown()), 1000).catch((err: unknown) => {
      this.logger.debug(`exporter shutdown: ${describeExportError(err)}`);
    });
    // Exports still unanswered now will not be waited for: they count as failed, once.
    this.failed += this.inFlightSpans;
    this.inFlightSpans = 0;
    this.abandoned = true;
  }

  private queued(): number {
    return this.pending.spans + this.readySpans + this.retrySpans + this.inFlightSpans;
  }

  /** Seal the pending spans (never more than batchSize: export() seals at that); spans a
   *  transport cannot seal fail. */
  private sealPending(): void {
    const spans = this.pending.spans;
    if (spans === 0) return;
    try {
      this.ready.push({ batch: this.pending.seal(), spans });
      this.readySpans += spans;
    } catch (err) {
      this.failed += spans;
      this.logger.error(`cannot encode ${spans} spans for ${this.destination}: ${describeExportError(err)}`);
      this.settleFlushes();
    }
  }

  private flush(timeoutMs: number): Promise<void> {
    if (this.queued() === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter: FlushWaiter = {
        resolve,
        timer: setTimeout(() => {
          const i = this.flushWaiters.indexOf(waiter);
          if (i >= 0) this.flushWaiters.splice(i, 1);
          resolve();
        }, timeoutMs),
      };
      // Kept ref'd: whoever awaits a flush needs the process alive until its deadline.
      this.flushWaiters.push(waiter);
      this.drain(true);
    });
  }

  private settleFlushes(): void {
    if (this.queued() !== 0 || this.flushWaiters.length === 0) return;
    for (const w of this.flushWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  private tick(): void {
    this.drain(true);
    this.summarise(false);
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain(this.flushWaiters.length > 0);
    });
  }

  /** Start exports while there is room; partial batches only when `partial`. */
  private drain(partial: boolean): void {
    // Re-checked per batch: an exporter may fail synchronously inside send() (the OTLP
    // exporter does for "Concurrent export limit reached"), which starts a backoff.
    while (!this.finalized && this.inFlightExports < this.maxConcurrent && Date.now() >= this.backoffUntil) {
      let batch: Sealed<B> | undefined;
      if (this.retry.length > 0) {
        batch = this.retry.shift()!;
        this.retrySpans -= batch.spans;
      } else {
        if (this.ready.length === 0 && (this.pending.spans >= this.batchSize || (partial && this.pending.spans > 0))) this.sealPending();
        batch = this.ready.shift();
        if (batch !== undefined) this.readySpans -= batch.spans;
      }
      if (batch === undefined) break;
      this.send(batch);
    }
  }

  private send(batch: Sealed<B>): void {
    this.inFlightExports++;
    this.inFlightSpans += batch.spans;
    let done = false;
    const finish = (result: ExportResult): void => {
      if (done || this.abandoned) return;
      done = true;
      clearTimeout(guard);
      this.inFlightExports--;
      this.inFlightSpans -= batch.spans;
      this.onResult(batch, result);
    };
    const guard = setTimeout(() => {
      finish({ code: ExportResultCode.FAILED, error: new Error(`export timed out after ${this.exportTimeoutMs} ms`) });
    }, this.exportTimeoutMs);
    guard.unref();
    try {
      this.transport.export(batch.batch, finish);
    } catch (err) {
      finish({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  private onResult(batch: Sealed<B>, result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this.exported += batch.spans;
      this.backoffMs = this.initialBackoffMs;
      this.backoffUntil = 0;
      if (this.failing) {
        this.failing = false;
        this.logger.info(`OTLP export to ${this.destination} works again`);
      }
    } else {
      const error = result.error;
      this.lastError = describeExportError(error);
      this.failuresSinceLog++;
      if (!this.finalized && isRetryableExportError(error)) {
        this.retries++;
        this.retry.unshift(batch);
        this.retrySpans += batch.spans;
        this.startBackoff();
      } else {
        this.failed += batch.spans;
        if (!isRetryableExportError(error)) {
          this.logger.error(`OTLP export to ${this.destination} rejected ${batch.spans} spans: ${this.lastError}`);
        }
      }
      if (!this.failing) {
        this.failing = true;
        this.summarise(false);
      }
    }
    this.settleFlushes();
    if (!this.finalized) this.drain(this.flushWaiters.length > 0);
  }

  private startBackoff(): void {
    const wait = this.backoffMs * (0.8 + 0.4 * Math.random());
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.backoffUntil = Date.now() + wait;
    if (this.backoffTimer !== undefined) clearTimeout(this.backoffTimer);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.drain(true);
    }, wait + 1);
    this.backoffTimer.unref();
  }

  private summarise(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastLogAt < this.logIntervalMs) return;
    let logged = false;
    if (this.droppedSinceLog > 0) {
      this.logger.warn(
        `dropped ${this.droppedSinceLog} spans: export queue full (${this.maxQueueSize} spans)` +
          (this.failing ? `, ${this.destination} failing: ${this.lastError}` : ''),
      );
      this.droppedSinceLog = 0;
      logged = true;
    }
    if (this.unencodableSinceLog > 0) {
      this.logger.error(`cannot encode ${this.unencodableSinceLog} spans for ${this.destination}: ${this.lastEncodeError}`);
      this.unencodableSinceLog = 0;
      logged = true;
    }
    if (this.failuresSinceLog > 0) {
      this.logger.warn(
        `OTLP export to ${this.destination} failed ${this.failuresSinceLog}x: ${this.lastError}; ` +
          `${this.queued()} spans queued, retrying`,
      );
      this.failuresSinceLog = 0;
      logged = true;
    }
    if (logged) this.lastLogAt = now;
  }
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
}

function withDeadline(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
