// The one place that turns an ExportConfig into a SpanSink.
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ExportConfigError, type ExportConfig } from './config';
import { ConsoleSpanSink, NullSpanSink } from './console-sink';
import { OtlpSpanSink } from './otlp-sink';
import type { Logger, SpanSink } from './types';

export interface CreateSinkDeps {
  logger: Logger;
  /** Console mode output; default process.stdout. */
  stream?: NodeJS.WritableStream;
  /** OTLP mode: use this exporter instead of building one from the config (tests). */
  exporter?: SpanExporter;
}

/** OTLP/gRPC exporter; reads OTEL_EXPORTER_OTLP_* itself unless the URL came from the CLI. */
export function createOtlpExporter(config: Pick<ExportConfig, 'exporterUrl'>): OTLPTraceExporter {
  try {
    return new OTLPTraceExporter(config.exporterUrl !== undefined ? { url: config.exporterUrl } : {});
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
