// Export configuration: the types and defaults the export stage consumes. The merge of flags,
// environment and these defaults is src/config/export.ts (the only reader of the environment).
// See README.md in this folder for the table of options and variables.

/** otlp: OTLP/gRPC to a collector. console: one line per span on stdout. none: discard. */
export type ExportMode = 'otlp' | 'console' | 'none';

export interface ExportConfig {
  mode: ExportMode;
  /** The OTLP endpoint in use, for messages (otlp mode). */
  endpoint?: string;
  /** Where `endpoint` came from. */
  endpointSource?: '--otlp-endpoint' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'default';
  /** URL to hand to the OTLP exporter: only set when it came from the CLI; otherwise the
   *  exporter reads its environment itself (with headers, TLS and timeout settings). */
  exporterUrl?: string;
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  flushTimeoutMillis: number;
}

export const EXPORT_DEFAULTS = {
  maxQueueSize: 8192,
  maxExportBatchSize: 512,
  scheduledDelayMillis: 1000,
  exportTimeoutMillis: 30_000,
  /** Bounds the flush on shutdown (SIGTERM must exit within a few seconds). */
  flushTimeoutMillis: 3000,
  /** What the OTLP exporter uses with OTEL_TRACES_EXPORTER=otlp and no endpoint. */
  endpoint: 'http://localhost:4317',
} as const;

