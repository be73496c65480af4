// The one place that turns an ExportConfig into a SpanSink.
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportConfig } from './config';
import { ConsoleSpanSink, NullSpanSink } from './console-sink';
import { OtlpSpanSink, type BatchTransport } from './otlp-sink';
import { OtlpGrpcTraceTransport } from './otlp-transport';
import type { Logger, SpanSink } from './types';

export interface CreateSinkDeps {
  logger: Logger;
  /** Console mode output; default process.stdout. */
  stream?: NodeJS.WritableStream;
  /** OTLP mode: use this exporter instead of building one from the config (tests). */
  exporter?: SpanExporter | BatchTransport<unknown>;
}

/**
 * The agent's OTLP/gRPC transport: OTLPTraceExporter's own parts (same options conversion, so
 * the same OTEL_EXPORTER_OTLP_* variables, headers, TLS, compression and timeout; same gRPC
 * client and service path), with batches serialized by OtlpTraceSerializer (the SDK's bytes at
 * a third of the CPU) when the sink seals them. Reads OTEL_EXPORTER_OTLP_* itself unless the
 * URL came from the CLI.
 */
export function createOtlpTransport(config: Pick<ExportConfig, 'exporterUrl'>): OtlpGrpcTraceTransport {
  try {
    return new OtlpGrpcTraceTransport(config.exporterUrl !== undefined ? { url: config.exporterUrl } : {});
  } catch (err) {
    throw new Error(`cannot set up the OTLP exporter: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function createSpanSink(config: ExportConfig, deps: CreateSinkDeps): SpanSink {
  switch (config.mode) {
    case 'console':
      return new ConsoleSpanSink({ stream: deps.stream, logger: deps.logger });
    case 'none':
      return new NullSpanSink();
    case 'otlp':
      return new OtlpSpanSink(deps.exporter ?? createOtlpTransport(config), {
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
