// The one place that turns an ExportConfig into a SpanSink.
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate, type OTLPGRPCExporterConfigNode,
} from '@opentelemetry/otlp-grpc-exporter-base';
import { TraceExporterMetricsHelper } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ExportConfigError, type ExportConfig } from './config';
import { ConsoleSpanSink, NullSpanSink } from './console-sink';
import { OtlpSpanSink } from './otlp-sink';
import { OtlpTraceSerializer } from './otlp-trace-serializer';
import type { Logger, SpanSink } from './types';

export interface CreateSinkDeps {
  logger: Logger;
  /** Console mode output; default process.stdout. */
  stream?: NodeJS.WritableStream;
  /** OTLP mode: use this exporter instead of building one from the config (tests). */
  exporter?: SpanExporter;
}

/**
 * @opentelemetry/exporter-trace-otlp-grpc's OTLPTraceExporter (0.223.1), built the same way
 * (same options conversion, so the same OTEL_EXPORTER_OTLP_* variables, headers, TLS,
 * compression and timeout; same gRPC client, service path and self-observability metrics)
 * but serializing with OtlpTraceSerializer: the same bytes at a third of the CPU.
 */
export class OtlpGrpcTraceExporter extends OTLPExporterBase<ReadableSpan[]> implements SpanExporter {
  constructor(config: OTLPGRPCExporterConfigNode = {}) {
    super(
      createOtlpGrpcExportDelegate(
        convertLegacyOtlpGrpcOptions(config, 'TRACES'),
        OtlpTraceSerializer,
        'otlp_grpc_span_exporter', // OTEL_COMPONENT_TYPE_VALUE_OTLP_GRPC_SPAN_EXPORTER, not exported by the package
        TraceExporterMetricsHelper,
        config.selfObsMeterProvider,
        'TraceExportService',
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      ),
    );
  }
}

/** OTLP/gRPC exporter; reads OTEL_EXPORTER_OTLP_* itself unless the URL came from the CLI. */
export function createOtlpExporter(config: Pick<ExportConfig, 'exporterUrl'>): OtlpGrpcTraceExporter {
  try {
    return new OtlpGrpcTraceExporter(config.exporterUrl !== undefined ? { url: config.exporterUrl } : {});
  } catch (err) {
    throw new ExportConfigError(`cannot set up the OTLP exporter: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function createSpanSink(config: ExportConfig, deps: CreateSinkDeps): SpanSink {
  switch (config.mode) {
    case 'console':
      return new ConsoleSpanSink({ stream: deps.stream, logger: deps.logger });
    case 'none':
      return new NullSpanSink();
    case 'otlp':
      return new OtlpSpanSink(deps.exporter ?? createOtlpExporter(config), {
        maxQueueSize: config.maxQueueSize,
        maxExportBatchSize: config.maxExportBatchSize,
        scheduledDelayMillis: config.scheduledDelayMillis,
        exportTimeoutMillis: config.exportTimeoutMillis,
        flushTimeoutMillis: config.flushTimeoutMillis,
        logger: deps.logger,
        destination: config.endpoint,
      });
  }
}
