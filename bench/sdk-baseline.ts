// The pipeline benchmark's baseline row: the stock OpenTelemetry JS path, as an application
// instrumented with the SDK would pay it — BasicTracerProvider / Tracer.startSpan, setAttributes,
// setStatus, end → BatchSpanProcessor → OTLPTraceExporter (@opentelemetry/exporter-trace-otlp-grpc)
// → the same receiver child — for the same spans tlsotel exports: name, kind, attributes, status,
// parent, start and end times, instrumentation scope, and the resource of each traced process.
//
// The inputs come from tlsotel's own SpanBuilder (a dry run of the pipeline over the same corpus,
// untimed): what a timed run pays is the SDK's span API, its batching, the SDK serializer and
// gRPC — no capture, no parsing, no span shaping.
//
// Resource per process: a TracerProvider has one resource, so there is one provider per traced
// process, all sharing ONE BatchSpanProcessor and exporter. Batches are then 512 spans whatever
// their process, and the serializer groups them by resource, as tlsotel's one sink does.
import { diag, DiagLogLevel, ROOT_CONTEXT, trace, TraceFlags, type Attributes, type Context, type HrTime, type SpanKind, type SpanStatus, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { Resource } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from '../src/export/types';

/** What startSpan … end needs for one span, prepared outside the timed region. */
export interface SdkSpanInput {
  tracer: Tracer;
  name: string;
  kind: SpanKind;
  startTime: HrTime;
  endTime: HrTime;
  attributes: Attributes;
  /** Set only when tlsotel's span has a status other than UNSET. */
  status?: SpanStatus;
  /** ROOT_CONTEXT, or one holding the parent span context (traceparent or same-host peer). */
  parent: Context;
  /** For checks only: the process's resource (the tracer's) and the parent's span id. */
  resource: Resource;
  parentSpanId?: string;
}

export interface SdkBaselineOptions {
  url: string;
  compression: 'none' | 'gzip';
  /** BatchSpanProcessor maxQueueSize: it drops what does not fit (counted here). */
  maxQueueSize: number;
  /** BatchSpanProcessor maxExportBatchSize: spans per export request. */
  maxExportBatchSize: number;
  /** Where the SDK's own diagnostics (diag warn/error: drops, export errors) go. */
  logger: Logger;
}

export interface SdkBaselineStats {
  /** Spans ended on a recording span (all of them: the sampler is AlwaysOn). */
  ended: number;
  /** Spans in export requests that succeeded / failed. */
  exported: number;
  failed: number;
  /** Spans in export requests not answered yet. */
  inFlight: number;
}

/** The exporter seen by the processor: OTLPTraceExporter, with its results counted per span. */
class CountingExporter implements SpanExporter {
  exported = 0;
  failed = 0;
  /** Spans in export requests not answered yet. */
  inFlight = 0;
  constructor(private readonly inner: OTLPTraceExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inFlight += spans.length;
    this.inner.export(spans, (result) => {
      this.inFlight -= spans.length;
      if (result.code === ExportResultCode.SUCCESS) this.exported += spans.length;
      else this.failed += spans.length;
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
}

export class SdkBaseline {
  private readonly exporter: CountingExporter;
  private readonly processor: BatchSpanProcessor;
  /** One provider (so one tracer) per resource, i.e. per traced process. */
  private readonly tracers = new Map<Resource, Tracer>();
  private ended = 0;
  private readonly log: Logger;

  constructor(options: SdkBaselineOptions) {
    // The SDK reports drops and export errors through the API's diag logger only.
    const log = (this.log = options.logger);
    diag.setLogger(
      {
        error: (m: string) => log.error(`otel diag: ${m}`),
        warn: (m: string) => log.warn(`otel diag: ${m}`),
        info: () => {},
        debug: () => {},
        verbose: () => {},
      },
      DiagLogLevel.WARN,
    );
    this.exporter = new CountingExporter(
      new OTLPTraceExporter({
        url: options.url,
        compression: options.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
        // forceFlush hands the exporter every queued batch at once, and the exporter fails
        // (does not queue) what is past its limit, 30 by default: room for a full queue.
        concurrencyLimit: Math.ceil(options.maxQueueSize / options.maxExportBatchSize) + 1,
      }),
    );
    this.processor = new BatchSpanProcessor(this.exporter, {
      maxQueueSize: options.maxQueueSize,
      maxExportBatchSize: options.maxExportBatchSize,
      // The run ends with forceFlush: the timer only matters for a last partial batch otherwise.
      scheduledDelayMillis: 200,
      exportTimeoutMillis: 30_000,
    });
  }

  private tracerFor(span: ReadableSpan): Tracer {
    let tracer = this.tracers.get(span.resource);
    if (tracer === undefined) {
      const provider = new BasicTracerProvider({
        resource: span.resource,
        spanProcessors: [this.processor],
        // tlsotel exports every exchange, whatever a traceparent's sampled flag says; the
        // default ParentBased sampler would not record children of unsampled parents.
        sampler: new AlwaysOnSampler(),
      });
      const scope = span.instrumentationScope;
      tracer = provider.getTracer(scope.name, scope.version);
      this.tracers.set(span.resource, tracer);
    }
    return tracer;
  }

  /**
   * One input per span, in the order tlsotel exported them. Attributes are copied into plain
   * objects with strings of their own: tlsotel's values are slices of each message head, and
   * holding 80k of those heads alive through the timed run would make its GC pay for them.
   */
  prepare(spans: readonly ReadableSpan[]): SdkSpanInput[] {
    return spans.map((s) => {
      const parentCtx = s.parentSpanContext;
      return {
        tracer: this.tracerFor(s),
        name: s.name,
        kind: s.kind,
        startTime: [s.startTime[0], s.startTime[1]],
        endTime: [s.endTime[0], s.endTime[1]],
        attributes: JSON.parse(JSON.stringify(s.attributes)) as Attributes,
        status: s.status.code !== 0 ? { ...s.status } : undefined,
        parent: parentCtx === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parentCtx }),
        resource: s.resource,
        parentSpanId: parentCtx?.spanId,
      };
    });
  }

  /**
   * The timed part: every span started, given its attributes (and status) and ended, `perTurn`
   * spans per event-loop turn (as the agent's capture poll hands spans over), then the processor
   * flushed and every export answered (forceFlush waits only for the batches it starts, not for
   * one the processor had already started). The caller then waits until the receiver has them all.
   */
  async run(inputs: readonly SdkSpanInput[], perTurn: number): Promise<{ maxQueued: number }> {
    const n = inputs.length;
    // Spans ended but not yet handed to the exporter: the processor's queue (its size is private).
    const queued = (): number => this.ended - this.exporter.exported - this.exporter.failed - this.exporter.inFlight;
    const queued0 = queued();
    let maxQueued = 0;
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + perTurn);
      for (; i < end; i++) {
        const x = inputs[i];
        const span = x.tracer.startSpan(x.name, { kind: x.kind, startTime: x.startTime }, x.parent);
        span.setAttributes(x.attributes);
        if (x.status !== undefined) span.setStatus(x.status);
        span.end(x.endTime);
        if (span.spanContext().traceFlags & TraceFlags.SAMPLED) this.ended++;
      }
      maxQueued = Math.max(maxQueued, queued() - queued0);
      await yieldToLoop();
    }
    // It rejects when an export failed; the exporter has counted those spans as failed.
    await this.processor.forceFlush().catch((err: unknown) => this.log.error(`sdk: forceFlush: ${err instanceof Error ? err.message : String(err)}`));
    const deadline = Date.now() + 60_000;
    while (this.exporter.inFlight > 0 && Date.now() < deadline) await sleep(1);
    return { maxQueued };
  }

  stats(): SdkBaselineStats {
    return { ended: this.ended, exported: this.exporter.exported, failed: this.exporter.failed, inFlight: this.exporter.inFlight };
  }

  shutdown(): Promise<void> {
    return this.processor.shutdown();
  }
}
