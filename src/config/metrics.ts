// The agent's own metrics (src/telemetry): on only when spans go to a collector and
// OTEL_METRICS_EXPORTER is not "none"; period and deadlines from OTEL_METRIC_EXPORT_INTERVAL,
// OTEL_METRIC_EXPORT_TIMEOUT and OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT, else the defaults of
// src/telemetry/agent-metrics.ts.
import type { ExportConfig } from '../export/config';
import { AGENT_METRICS_DEFAULTS, type AgentMetricsSettings } from '../telemetry/agent-metrics';
import type { Environment } from './environment';
import { fromEnv, milliseconds } from './values';

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
