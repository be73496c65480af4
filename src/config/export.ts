// Where spans go: --print / --otlp-endpoint / --max-queue-size over the OTEL_* variables over
// the export stage's defaults (src/export/config.ts). Mode, in order: --print → console;
// --otlp-endpoint → otlp; OTEL_TRACES_EXPORTER=console|none|otlp; an endpoint in
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT → otlp; nothing → console.
import { EXPORT_DEFAULTS, type ExportConfig, type ExportMode } from '../export/config';
import type { Environment } from './environment';
import { UsageError } from './errors';
import { fromEnv, milliseconds, integer } from './values';

/** Export flags, already validated (undefined = not given). */
export interface ExportFlags {
  /** --otlp-endpoint */
  otlpEndpoint?: string;
  /** --print */
  print?: boolean;
  /** --max-queue-size */
  maxQueueSize?: number;
}

export interface Resolved<T> {
  config: T;
  /** Problems that did not stop the agent (invalid variables, ignored values): log as warnings. */
  warnings: string[];
  /** How an ambiguous setting was understood: log as information. */
  notes: string[];
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Throws UsageError unless `value` can be an OTLP/gRPC endpoint. A flag must say http:// or
 * https://: `localhost:4317` would otherwise mean TLS to a collector that most likely speaks
 * plaintext, and every export would fail later. A variable without a scheme is what the
 * OpenTelemetry specification allows (TLS unless OTEL_EXPORTER_OTLP_INSECURE=true, as the SDK
 * then connects): accepted, and the interpretation is returned as a note.
 */
export function checkEndpoint(value: string, source: string, env: Environment = {}): string | undefined {
  if (/^unix:/i.test(value)) return undefined;
  const hasScheme = SCHEME.test(value);
  const example = `http://${hasScheme ? 'localhost:4317' : value} (plaintext) or https://${hasScheme ? 'localhost:4317' : value} (TLS)`;
  if (!hasScheme && source.startsWith('--')) {
    throw new UsageError(`${source} '${value}' has no scheme; write ${example}`);
  }
  let url: URL;
  try {
    url = new URL(hasScheme ? value : `https://${value}`);
  } catch {
    throw new UsageError(`${source} '${value}' is not a valid endpoint; expected e.g. http://localhost:4317`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${source} '${value}' uses ${url.protocol}//; OTLP/gRPC endpoints are ${example}`);
  }
  if (url.hostname === '') {
    throw new UsageError(`${source} '${value}' has no host; expected e.g. http://localhost:4317`);
  }
  if (hasScheme) return undefined;
  const insecureVar = source === 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' && env.OTEL_EXPORTER_OTLP_TRACES_INSECURE !== undefined
    ? 'OTEL_EXPORTER_OTLP_TRACES_INSECURE'
    : 'OTEL_EXPORTER_OTLP_INSECURE';
  const insecure = (env[insecureVar] ?? '').toLowerCase() === 'true';
  return insecure
    ? `${source}=${value} has no scheme: connecting without TLS (${insecureVar}=true), as http://${value}`
    : `${source}=${value} has no scheme: connecting with TLS, as https://${value} (OpenTelemetry's rule); for a plaintext collector write http://${value} or set ${insecureVar}=true`;
}

export function resolveExportConfig(flags: ExportFlags, env: Environment): Resolved<ExportConfig> {
  const warnings: string[] = [];
  const notes: string[] = [];
  const positive = integer(1, Number.MAX_SAFE_INTEGER);
  const envQueue = fromEnv(positive, 'OTEL_BSP_MAX_QUEUE_SIZE', env.OTEL_BSP_MAX_QUEUE_SIZE, warnings, EXPORT_DEFAULTS.maxQueueSize);
  const envBatch = fromEnv(positive, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, warnings, EXPORT_DEFAULTS.maxExportBatchSize);
  const envDelay = fromEnv(milliseconds, 'OTEL_BSP_SCHEDULE_DELAY', env.OTEL_BSP_SCHEDULE_DELAY, warnings, EXPORT_DEFAULTS.scheduledDelayMillis);
  const envTimeout = fromEnv(milliseconds, 'OTEL_BSP_EXPORT_TIMEOUT', env.OTEL_BSP_EXPORT_TIMEOUT, warnings, EXPORT_DEFAULTS.exportTimeoutMillis);

  const maxQueueSize = flags.maxQueueSize ?? envQueue ?? EXPORT_DEFAULTS.maxQueueSize;
  let maxExportBatchSize = envBatch ?? EXPORT_DEFAULTS.maxExportBatchSize;
  if (maxExportBatchSize > maxQueueSize) {
    if (envBatch !== undefined) {
      warnings.push(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${maxExportBatchSize} exceeds the queue size ${maxQueueSize}; using ${maxQueueSize}`);
    }
    maxExportBatchSize = maxQueueSize;
  }
  const base = {
    maxQueueSize,
    maxExportBatchSize,
    scheduledDelayMillis: envDelay ?? EXPORT_DEFAULTS.scheduledDelayMillis,
    exportTimeoutMillis: envTimeout ?? EXPORT_DEFAULTS.exportTimeoutMillis,
    flushTimeoutMillis: EXPORT_DEFAULTS.flushTimeoutMillis,
  };

  const cliEndpoint = flags.otlpEndpoint?.trim() || undefined;
  if (cliEndpoint !== undefined) checkEndpoint(cliEndpoint, '--otlp-endpoint');
  if (flags.print === true) return { config: { mode: 'console', ...base }, warnings, notes };

  let envMode: ExportMode | undefined;
  for (const name of (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (name === 'otlp' || name === 'console' || name === 'none') {
      envMode = name;
      break;
    }
    warnings.push(`OTEL_TRACES_EXPORTER value "${name}" is not supported (use otlp, console or none); ignored`);
  }

  let endpoint: string;
  let endpointSource: NonNullable<ExportConfig['endpointSource']>;
  let exporterUrl: string | undefined;
  if (cliEndpoint !== undefined) {
    endpoint = cliEndpoint;
    endpointSource = '--otlp-endpoint';
    exporterUrl = cliEndpoint;
  } else if (envMode === 'console' || envMode === 'none') {
    return { config: { mode: envMode, ...base }, warnings, notes };
  } else if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined) {
    endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    endpointSource = 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';
  } else if (env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined) {
    endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
    endpointSource = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  } else if (envMode === 'otlp') {
    endpoint = EXPORT_DEFAULTS.endpoint;
    endpointSource = 'default';
  } else {
    return { config: { mode: 'console', ...base }, warnings, notes };
  }
  if (endpointSource !== '--otlp-endpoint' && endpointSource !== 'default') {
    const note = checkEndpoint(endpoint, endpointSource, env);
    if (note !== undefined) notes.push(note);
  }

  const protocolVar = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = env[protocolVar]?.toLowerCase();
  if (protocol !== undefined && protocol !== 'grpc') {
    warnings.push(
      `${protocolVar}=${protocol}: tlsotel exports OTLP over gRPC only; make sure ${endpoint} is a gRPC endpoint (usually port 4317, not 4318)`,
    );
  }
  const config: ExportConfig = { mode: 'otlp', endpoint, endpointSource, ...base };
  if (exporterUrl !== undefined) config.exporterUrl = exporterUrl;
  return { config, warnings, notes };
}
