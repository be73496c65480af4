// Reads the environment for the export stage, and nothing else. A blank value means unset; an
// invalid number is reported in `warnings` and left unset (config.ts falls back to defaults).
// OTLP connection details (headers, timeout, compression, certificates, insecure) are *not*
// read here: the SDK's OTLP/gRPC exporter configuration (the one OTLPTraceExporter uses) reads
// them itself, exactly as documented for every OpenTelemetry SDK.

export interface ExportEnv {
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT */
  tracesEndpoint?: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT */
  endpoint?: string;
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL */
  protocol?: string;
  /** Name of the variable `protocol` came from. */
  protocolVar?: string;
  /** OTEL_TRACES_EXPORTER, lower-cased list */
  tracesExporter?: string[];
  /** OTEL_BSP_MAX_QUEUE_SIZE */
  maxQueueSize?: number;
  /** OTEL_BSP_MAX_EXPORT_BATCH_SIZE */
  maxExportBatchSize?: number;
  /** OTEL_BSP_SCHEDULE_DELAY (ms) */
  scheduledDelayMillis?: number;
  /** OTEL_BSP_EXPORT_TIMEOUT (ms) */
  exportTimeoutMillis?: number;
}

function stringVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function numberVar(env: NodeJS.ProcessEnv, name: string, warnings: string[]): number | undefined {
  const v = stringVar(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    warnings.push(`${name}="${v}" is not a positive integer; using the default`);
    return undefined;
  }
  return n;
}

export function readExportEnv(env: NodeJS.ProcessEnv = process.env): { env: ExportEnv; warnings: string[] } {
  const warnings: string[] = [];
  const out: ExportEnv = {};
  const tracesEndpoint = stringVar(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (tracesEndpoint !== undefined) out.tracesEndpoint = tracesEndpoint;
  const endpoint = stringVar(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpoint !== undefined) out.endpoint = endpoint;
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const p = stringVar(env, name);
    if (p !== undefined) {
      out.protocol = p.toLowerCase();
      out.protocolVar = name;
      break;
    }
  }
  const exporters = stringVar(env, 'OTEL_TRACES_EXPORTER');
  if (exporters !== undefined) {
    out.tracesExporter = exporters.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  }
  const q = numberVar(env, 'OTEL_BSP_MAX_QUEUE_SIZE', warnings);
  if (q !== undefined) out.maxQueueSize = q;
  const b = numberVar(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', warnings);
  if (b !== undefined) out.maxExportBatchSize = b;
  const d = numberVar(env, 'OTEL_BSP_SCHEDULE_DELAY', warnings);
  if (d !== undefined) out.scheduledDelayMillis = d;
  const t = numberVar(env, 'OTEL_BSP_EXPORT_TIMEOUT', warnings);
  if (t !== undefined) out.exportTimeoutMillis = t;
  return { env: out, warnings };
}
