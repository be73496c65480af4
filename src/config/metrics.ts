// The agent's own metrics (src/telemetry): on only when spans go to a collector and
// OTEL_METRICS_EXPORTER is not "none"; period and deadlines from OTEL_METRIC_EXPORT_INTERVAL,
// OTEL_METRIC_EXPORT_TIMEOUT and OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT, else the defaults of
// src/telemetry/agent-metrics.ts.
import type { ExportConfig } from '../export/config';
import type { MetricsSettings } from '../metrics/metrics-stage';
import { RED_METRICS_DEFAULTS } from '../metrics/red-metrics';
import type { Flags } from './commands';
import { AGENT_METRICS_DEFAULTS, type AgentMetricsSettings } from '../telemetry/agent-metrics';
import type { Environment } from './environment';
import { duration, fromEnv, fromFlag, integer, milliseconds } from './values';

/** False when OTEL_METRICS_EXPORTER asks for no metrics ("none"); any other value is OTLP. */
export function agentMetricsEnabled(env: Environment): boolean {
  const v = env.OTEL_METRICS_EXPORTER?.toLowerCase();
  return v === undefined || !v.split(',').map((s) => s.trim()).includes('none');
}

/** The endpoint the metric exporter will use, for messages: CLI URL, then the environment. */
export function metricsEndpoint(endpointUrl: string | undefined, env: Environment): string {
  return endpointUrl ?? env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? AGENT_METRICS_DEFAULTS.endpoint;
}

/** The settings of the agent's metrics, or undefined when they are off. */
export function resolveMetricsConfig(exp: ExportConfig, env: Environment, warnings: string[]): AgentMetricsSettings | undefined {
  if (exp.mode !== 'otlp' || !agentMetricsEnabled(env)) return undefined;
  // To the same collector as the spans. With only the traces endpoint configured, metrics
  // follow it rather than defaulting to localhost.
  const endpointUrl = exp.exporterUrl ??
    (exp.endpointSource === 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' && env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT === undefined && env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? exp.endpoint
      : undefined);
  const d = AGENT_METRICS_DEFAULTS;
  const callTimeoutMs =
    fromEnv(milliseconds, 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', env.OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, warnings, d.exporterTimeoutMs) ??
    fromEnv(milliseconds, 'OTEL_EXPORTER_OTLP_TIMEOUT', env.OTEL_EXPORTER_OTLP_TIMEOUT, warnings, d.exporterTimeoutMs);
  const settings: AgentMetricsSettings = {
    endpoint: metricsEndpoint(endpointUrl, env),
    intervalMs: fromEnv(milliseconds, 'OTEL_METRIC_EXPORT_INTERVAL', env.OTEL_METRIC_EXPORT_INTERVAL, warnings, d.intervalMs) ?? d.intervalMs,
    exportTimeoutMs: fromEnv(milliseconds, 'OTEL_METRIC_EXPORT_TIMEOUT', env.OTEL_METRIC_EXPORT_TIMEOUT, warnings, d.exportTimeoutMs) ?? d.exportTimeoutMs,
  };
  if (endpointUrl !== undefined) settings.endpointUrl = endpointUrl;
  if (callTimeoutMs !== undefined) settings.callTimeoutMs = callTimeoutMs;
  return settings;
}

/** The Prometheus exporter's registered default port. */
export const PROMETHEUS_DEFAULT_PORT = 9464;

/**
 * Where the RED metrics of the traced exchanges go (src/metrics), or undefined when nowhere:
 *   - OTLP, to the spans' collector, with the agent's own metrics' settings (`otlp`), when spans
 *     go to a collector and OTEL_METRICS_EXPORTER is unset or names otlp;
 *   - a Prometheus scrape endpoint with --prometheus-port, or on 9464 when
 *     OTEL_METRICS_EXPORTER names prometheus;
 *   - the per-route table on stdout when spans print to stdout (no collector) and
 *     OTEL_METRICS_EXPORTER is unset, or whenever it names console.
 */
export function resolveRedMetricsConfig(flags: Flags, exp: ExportConfig, env: Environment, otlp: AgentMetricsSettings | undefined, warnings: string[]): MetricsSettings | undefined {
  const names = env.OTEL_METRICS_EXPORTER?.toLowerCase().split(',').map((s) => s.trim());
  const named = (n: string): boolean => names === undefined || names.includes(n);
  for (const n of names ?? []) {
    if (!['otlp', 'prometheus', 'console', 'none'].includes(n)) warnings.push(`OTEL_METRICS_EXPORTER: unknown exporter "${n}" (otlp, prometheus, console or none); ignored`);
  }
  const d = RED_METRICS_DEFAULTS;
  const settings: MetricsSettings = {
    limits: {
      maxRoutesPerService: fromFlag(integer(1, 1_000_000), 'metrics-max-routes', flags['metrics-max-routes']) ?? d.maxRoutesPerService,
      maxSeriesPerMetric: fromFlag(integer(1, 10_000_000), 'metrics-max-series', flags['metrics-max-series']) ?? d.maxSeriesPerMetric,
      processTtlMs: fromFlag(duration, 'metrics-process-ttl', flags['metrics-process-ttl']) ?? d.processTtlMs,
    },
  };
  const port = fromFlag(integer(1, 65535), 'prometheus-port', flags['prometheus-port']);
  if (port !== undefined) settings.prometheus = { port };
  else if (names?.includes('prometheus')) settings.prometheus = { port: PROMETHEUS_DEFAULT_PORT };
  if (otlp !== undefined && named('otlp')) settings.otlp = otlp;
  // The table by default when spans print to stdout, and whenever console is asked for.
  if (names?.includes('console') || (exp.mode === 'console' && names === undefined)) {
    const intervalMs = fromEnv(milliseconds, 'OTEL_METRIC_EXPORT_INTERVAL', env.OTEL_METRIC_EXPORT_INTERVAL, [], AGENT_METRICS_DEFAULTS.intervalMs) ?? AGENT_METRICS_DEFAULTS.intervalMs;
    settings.table = { intervalMs };
  }
  if (settings.otlp === undefined && settings.prometheus === undefined && settings.table === undefined) return undefined;
  return settings;
}
