// Export configuration: types, defaults, and the merge CLI option → environment → default.
// See README.md in this folder for the table of options and variables.
import { readExportEnv, type ExportEnv } from './env';

/** otlp: OTLP/gRPC to a collector. console: one line per span on stdout. none: discard. */
export type ExportMode = 'otlp' | 'console' | 'none';

/** Options given on the command line (undefined = not given). */
export interface ExportCliOptions {
  /** --otlp-endpoint */
  otlpEndpoint?: string;
  /** --print: print spans to stdout instead of exporting, even when an endpoint is configured. */
  print?: boolean;
  /** --max-queue-size */
  maxQueueSize?: number;
}

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

/** A configuration that cannot work; the message says what to change. */
export class ExportConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportConfigError';
  }
}

/** Throws ExportConfigError unless `value` can be an OTLP/gRPC endpoint. */
export function validateEndpoint(value: string, source: string): void {
  if (/^unix:/i.test(value)) return;
  const withScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value) ? value : `https://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ExportConfigError(`${source} "${value}" is not a valid endpoint; expected e.g. http://localhost:4317`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ExportConfigError(
      `${source} "${value}" uses ${url.protocol}//; OTLP/gRPC endpoints are http:// (plaintext) or https:// (TLS), e.g. http://localhost:4317`,
    );
  }
  if (url.hostname === '') {
    throw new ExportConfigError(`${source} "${value}" has no host; expected e.g. http://localhost:4317`);
  }
}

function positiveOption(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value <= 0) {
    throw new ExportConfigError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Merge CLI options over the environment over defaults. Mode, in order:
 * --print → console; --otlp-endpoint → otlp; OTEL_TRACES_EXPORTER=console|none|otlp;
 * an endpoint in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT → otlp;
 * nothing configured → console.
 */
export function resolveExportConfig(
  cli: ExportCliOptions = {},
  env?: ExportEnv,
): { config: ExportConfig; warnings: string[] } {
  const warnings: string[] = [];
  if (env === undefined) {
    const read = readExportEnv();
    env = read.env;
    warnings.push(...read.warnings);
  }

  const maxQueueSize =
    positiveOption(cli.maxQueueSize, '--max-queue-size') ?? env.maxQueueSize ?? EXPORT_DEFAULTS.maxQueueSize;
  let maxExportBatchSize = env.maxExportBatchSize ?? EXPORT_DEFAULTS.maxExportBatchSize;
  if (maxExportBatchSize > maxQueueSize) {
    if (env.maxExportBatchSize !== undefined) {
      warnings.push(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${maxExportBatchSize} exceeds the queue size ${maxQueueSize}; using ${maxQueueSize}`);
    }
    maxExportBatchSize = maxQueueSize;
  }
  const base = {
    maxQueueSize,
    maxExportBatchSize,
    scheduledDelayMillis: env.scheduledDelayMillis ?? EXPORT_DEFAULTS.scheduledDelayMillis,
    exportTimeoutMillis: env.exportTimeoutMillis ?? EXPORT_DEFAULTS.exportTimeoutMillis,
    flushTimeoutMillis: EXPORT_DEFAULTS.flushTimeoutMillis,
  };

  if (cli.otlpEndpoint !== undefined && cli.otlpEndpoint.trim() !== '') {
    validateEndpoint(cli.otlpEndpoint.trim(), '--otlp-endpoint');
  }
  if (cli.print === true) {
    return { config: { mode: 'console', ...base }, warnings };
  }

  let envMode: ExportMode | undefined;
  for (const name of env.tracesExporter ?? []) {
    if (name === 'otlp' || name === 'console' || name === 'none') {
      envMode = name;
      break;
    }
    warnings.push(`OTEL_TRACES_EXPORTER value "${name}" is not supported (use otlp, console or none); ignored`);
  }

  const cliEndpoint = cli.otlpEndpoint?.trim();
  let endpoint: string | undefined;
  let endpointSource: ExportConfig['endpointSource'];
  let exporterUrl: string | undefined;
  if (cliEndpoint !== undefined && cliEndpoint !== '') {
    endpoint = cliEndpoint;
    endpointSource = '--otlp-endpoint';
    exporterUrl = cliEndpoint;
  } else if (envMode === 'console' || envMode === 'none') {
    return { config: { mode: envMode, ...base }, warnings };
  } else if (env.tracesEndpoint !== undefined) {
    validateEndpoint(env.tracesEndpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    endpoint = env.tracesEndpoint;
    endpointSource = 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';
  } else if (env.endpoint !== undefined) {
    validateEndpoint(env.endpoint, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    endpoint = env.endpoint;
    endpointSource = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  } else if (envMode === 'otlp') {
    endpoint = EXPORT_DEFAULTS.endpoint;
    endpointSource = 'default';
  } else {
    return { config: { mode: 'console', ...base }, warnings };
  }

  if (env.protocol !== undefined && env.protocol !== 'grpc') {
    warnings.push(
      `${env.protocolVar}=${env.protocol}: tlsotel exports OTLP over gRPC only; make sure ${endpoint} is a gRPC endpoint (usually port 4317, not 4318)`,
    );
  }
  const config: ExportConfig = { mode: 'otlp', endpoint, endpointSource, ...base };
  if (exporterUrl !== undefined) config.exporterUrl = exporterUrl;
  return { config, warnings };
}
