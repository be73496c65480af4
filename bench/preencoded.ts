// PROTOTYPE (benchmark only, not used by the agent): serialize spans to OTLP protobuf when a
// batch fills, and queue bytes instead of span objects. What it tests: how much of the export
// stage's cost is span objects living in the sink's queue until their export completes (they
// survive young-generation GCs, get promoted, and old-generation marking pays for them).
//
// The transport is the SDK's own: createOtlpGrpcExportDelegate (the OTLPTraceExporter's gRPC
// client, environment configuration, timeouts and concurrency limit) with a pass-through
// serializer instead of ProtobufTraceSerializer. Not a full sink: no retries, no drop counting
// beyond the queue bound; OtlpSpanSink would keep those and store encoded batches.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase, type CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate } from '@opentelemetry/otlp-grpc-exporter-base';
import { ProtobufTraceSerializer, type IExportTraceServiceResponse } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** One already-serialized ExportTraceServiceRequest and the number of spans in it. */
export interface EncodedBatch {
  bytes: Uint8Array;
  spans: number;
}

const passThrough = {
  serializeRequest: (batches: EncodedBatch[]): Uint8Array | undefined => batches[0]?.bytes,
  deserializeResponse: (data: Uint8Array): IExportTraceServiceResponse => ProtobufTraceSerializer.deserializeResponse(data),
};
const countSpans = { name: 'span' as const, countItems: (batches: EncodedBatch[]) => batches.reduce((n, b) => n + b.spans, 0) };

/** OTLP/gRPC trace exporter for pre-serialized requests (always exactly one per export call). */
export class PreEncodedTraceExporter extends OTLPExporterBase<EncodedBatch[]> {
  constructor(config: { url?: string; compression?: CompressionAlgorithm } = {}) {
    super(
      createOtlpGrpcExportDelegate(
        convertLegacyOtlpGrpcOptions(config, 'TRACES'),
        passThrough,
        'otlp_grpc_span_exporter',
        countSpans,
        undefined,
        'TraceExportService',
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      ),
    );
  }
}

/** Builds batches of spans, serializes each as soon as it is full, exports the bytes. */
export class EncodingSink {
  private spans: ReadableSpan[] = [];
  private readonly queue: EncodedBatch[] = [];
  private queuedSpans = 0;
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  exported = 0;
  failed = 0;
  dropped = 0;
  maxQueued = 0;

  constructor(
    private readonly exporter: PreEncodedTraceExporter,
    private readonly opts: { batchSize: number; maxConcurrent: number; maxQueueSize: number },
  ) {}

  export(span: ReadableSpan): void {
    if (this.queuedSpans + this.spans.length >= this.opts.maxQueueSize) {
      this.dropped++;
      return;
    }
    this.spans.push(span);
    if (this.spans.length >= this.opts.batchSize) this.seal();
  }

  /** Spans waiting (encoded or not) plus in flight. */
  queued(): number {
    return this.queuedSpans + this.spans.length;
  }

  flush(): Promise<void> {
    if (this.spans.length > 0) this.seal();
    if (this.queuedSpans === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private seal(): void {
    const batch = this.spans;
    this.spans = [];
    const bytes = ProtobufTraceSerializer.serializeRequest(batch as never);
    if (!bytes) return;
    this.queue.push({ bytes, spans: batch.length });
    this.queuedSpans += batch.length;
    if (this.queuedSpans > this.maxQueued) this.maxQueued = this.queuedSpans;
    this.drain();
  }

  private drain(): void {
    while (this.inFlight < this.opts.maxConcurrent && this.queue.length > 0) {
      const b = this.queue.shift()!;
      this.inFlight++;
      this.exporter.export([b], (r: ExportResult) => {
        this.inFlight--;
        this.queuedSpans -= b.spans;
        if (r.code === ExportResultCode.SUCCESS) this.exported += b.spans;
        else this.failed += b.spans;
        this.drain();
        if (this.queuedSpans === 0) for (const w of this.waiters.splice(0)) w();
      });
    }
  }
}
