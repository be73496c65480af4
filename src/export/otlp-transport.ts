// The OTLP/gRPC trace transport of OtlpSpanSink: a batch is serialized to an
// ExportTraceServiceRequest once, span by span as the sink adds them (TraceRequestBuilder), and
// the bytes sealed are what wait, get sent and get retried.
//
// The sending is the SDK's own OTLPTraceExporter machinery (createOtlpGrpcExportDelegate:
// OTEL_EXPORTER_OTLP_* configuration, headers, TLS credentials, compression, timeout,
// concurrency limit), given a serializer that passes the sealed bytes through.
import type { ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate, type OTLPGRPCExporterConfigNode } from '@opentelemetry/otlp-grpc-exporter-base';
import { ProtobufTraceSerializer, type IExportTraceServiceResponse } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { BatchBuilder, BatchTransport } from './otlp-sink';
import { serializeTraceRequest, TraceRequestBuilder } from './otlp-trace-serializer';

/** One serialized ExportTraceServiceRequest and how many spans it carries. */
export interface EncodedSpans {
  bytes: Uint8Array;
  spans: number;
}

/** ReadableSpan[] → ExportTraceServiceRequest bytes (undefined: nothing to send). */
export type TraceRequestSerializer = (spans: ReadableSpan[]) => Uint8Array | undefined;

const passThrough = {
  serializeRequest: (batches: EncodedSpans[]): Uint8Array | undefined => {
    const bytes = batches[0]?.bytes;
    // The SDK's gRPC transport (0.223.1) starts with Buffer.from(data): a copy of a Uint8Array,
    // but a view of an ArrayBuffer. A sealed batch is never written again, so when it owns its
    // whole ArrayBuffer, hand that over and spare the copy of every request.
    if (bytes !== undefined && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
      return bytes.buffer as unknown as Uint8Array;
    }
    return bytes;
  },
  deserializeResponse: (data: Uint8Array): IExportTraceServiceResponse => ProtobufTraceSerializer.deserializeResponse(data),
};

// For the exporter's self-observability metrics (exported span counts).
const countSpans = { name: 'span' as const, countItems: (batches: EncodedSpans[]) => batches.reduce((n, b) => n + b.spans, 0) };

export class OtlpGrpcTraceTransport implements BatchTransport<EncodedSpans> {
  private readonly exporter: OTLPExporterBase<EncodedSpans[]>;
  private readonly serialize: TraceRequestSerializer;
  private readonly custom: boolean;

  /**
   * @param config as OTLPTraceExporter's: what it leaves out (the endpoint, say) comes from
   *   OTEL_EXPORTER_OTLP_TRACES_* / OTEL_EXPORTER_OTLP_*.
   * @param serialize default: OtlpTraceSerializer (the SDK's bytes at a third of its CPU).
   */
  constructor(config: OTLPGRPCExporterConfigNode = {}, serialize?: TraceRequestSerializer) {
    this.serialize = serialize ?? serializeTraceRequest;
    this.custom = serialize !== undefined;
    this.exporter = new OTLPExporterBase(
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

  seal(spans: ReadableSpan[]): EncodedSpans {
    const bytes = this.serialize(spans);
    if (bytes === undefined) throw new Error('the OTLP serializer produced nothing');
    return { bytes, spans: spans.length };
  }

  /** With the default serializer, batches are built span by span (TraceRequestBuilder). */
  builder(): BatchBuilder<EncodedSpans> | undefined {
    if (this.custom) return undefined;
    const request = new TraceRequestBuilder();
    return {
      get spans() {
        return request.spans;
      },
      add: (span) => request.add(span),
      seal: () => {
        const spans = request.spans;
        return { bytes: request.seal(), spans };
      },
      reset: () => request.reset(),
    };
  }

  export(batch: EncodedSpans, resultCallback: (result: ExportResult) => void): void {
    this.exporter.export([batch], resultCallback);
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}
