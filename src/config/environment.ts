// The only place in the agent that reads process.env. Every variable the agent decides on is
// named here, once; the rest of the agent receives resolved values (see commands.ts).
//
// Not read here, on purpose: the OTLP connection settings (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT
// for spans, _COMPRESSION, _CERTIFICATE, _CLIENT_KEY, _CLIENT_CERTIFICATE, _INSECURE, the
// metrics temporality, and the endpoint when it does not come from --otlp-endpoint): the
// OpenTelemetry OTLP/gRPC exporters read them themselves, exactly as every OpenTelemetry SDK
// documents them. We read the endpoints too, but only to decide the mode and to name the
// destination in messages.

/** Every variable the agent itself reads. */
export const ENV_VARS = [
  // Where spans go, and how they are batched (src/export).
  'OTEL_TRACES_EXPORTER',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  'OTEL_EXPORTER_OTLP_INSECURE',
  'OTEL_EXPORTER_OTLP_TRACES_INSECURE',
  'OTEL_BSP_MAX_QUEUE_SIZE',
  'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
  'OTEL_BSP_SCHEDULE_DELAY',
  'OTEL_BSP_EXPORT_TIMEOUT',
  // What spans hold, and which are kept (src/trace).
  'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  // Resource attributes of every span: where the agent runs (the DaemonSet's k8s.node.name).
  'OTEL_RESOURCE_ATTRIBUTES',
  // The agent's own metrics (src/telemetry).
  'OTEL_METRICS_EXPORTER',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'OTEL_METRIC_EXPORT_TIMEOUT',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT',
  // Capture: where programs that carry OpenSSL inside (node) are looked for at start.
  'PATH',
  // Capture: directories searched for TLS library files before any program maps them.
  'TLSOTEL_LIBRARY_ROOTS',
  // The agent's process: 0 keeps V8's garbage-collection helper threads (src/util/v8-flags.ts).
  'TLSOTEL_SINGLE_THREADED_GC',
  // Development.
  'TLSOTEL_DEBUG',
  'TLSOTEL_CPU_PROFILE',
] as const;

export type EnvVar = (typeof ENV_VARS)[number];

/** The variables above that are set and not blank, trimmed. */
export type Environment = Readonly<Partial<Record<EnvVar, string>>>;

/** A snapshot of the variables the agent reads; `source` is for tests. A blank value counts
 *  as unset. */
export function readEnvironment(source: NodeJS.ProcessEnv = process.env): Environment {
  const out: Partial<Record<EnvVar, string>> = {};
  for (const name of ENV_VARS) {
    const v = source[name]?.trim();
    if (v !== undefined && v !== '') out[name] = v;
  }
  return Object.freeze(out);
}
