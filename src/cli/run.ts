// `tlsotel run`: the agent (src/agent) until SIGINT/SIGTERM; then it flushes what is buffered,
// detaches every probe, and exits 0.
import { Agent, type CaptureOptions, type TracingOptions } from '../agent/agent';
import { resolveExportConfig, type ExportCliOptions } from '../export';
import { startCpuProfiler, writeProfile } from '../util/profiler';
import type { Logger } from '../util/log';
import { untilSignal } from './signals';

export interface RunOptions extends CaptureOptions {
  export: ExportCliOptions;
  redaction: TracingOptions['redaction'];
  responseTimeoutMs?: number;
  /** Same-host client↔server stitching (default on). */
  stitch: boolean;
  statsIntervalMs: number;
  verbose: boolean;
  log: Logger;
}

export async function run(opts: RunOptions): Promise<number> {
  const stopped = untilSignal(); // before anything slow: a signal during start-up still stops cleanly
  const log = opts.log;
  const { config, warnings } = resolveExportConfig(opts.export);
  for (const w of warnings) log.warn(w);
  // With only the traces endpoint configured, the agent's metrics follow it rather than
  // defaulting to localhost.
  const env = process.env;
  const metricsUrl = config.exporterUrl ??
    (config.endpointSource === 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' && !env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim() && !env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
      ? config.endpoint
      : undefined);
  // OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, as the SDKs read it (blank: unset; invalid: warn).
  const rawLimit = env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT?.trim();
  let attributeValueLengthLimit: number | undefined;
  if (rawLimit) {
    const n = Number(rawLimit);
    if (Number.isInteger(n) && n > 0) attributeValueLengthLimit = n;
    else log.warn(`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="${rawLimit}" is not a positive integer; using the default`);
  }
  const agent = Agent.start({
    capture: opts,
    tracing: {
      export: config,
      redaction: opts.redaction,
      stitch: opts.stitch,
      responseTimeoutMs: opts.responseTimeoutMs,
      attributeValueLengthLimit,
      statsIntervalMs: opts.statsIntervalMs,
      agentMetrics: { endpointUrl: metricsUrl },
      verbose: opts.verbose,
    },
    log,
  });
  const where = config.mode === 'otlp' ? `spans to ${config.endpoint} (OTLP/gRPC)` : config.mode === 'console' ? 'spans to stdout' : 'spans discarded (OTEL_TRACES_EXPORTER=none)';
  const libs = [...new Set(agent.files.map((f) => f.library))].join(', ') || 'none yet';
  log.info(`ready: tracing ${agent.files.length} file(s) (${libs}); ${where}`);
  // For finding where the agent's CPU goes (bench/README.md): a V8 profile from ready to stop.
  const profileFile = process.env.TLSOTEL_CPU_PROFILE?.trim();
  const profiler = profileFile ? await startCpuProfiler() : undefined;

  const signal = await stopped;
  log.info(`${signal}: stopping`);
  if (profiler !== undefined) {
    await writeProfile(profiler, profileFile!).then(
      () => log.info(`CPU profile written to ${profileFile}`),
      (e: Error) => log.warn(`cannot write the CPU profile to ${profileFile}: ${e.message}`),
    );
  }
  const links = await agent.stop();
  const s = agent.stats();
  log.info(`stopped: detached ${links} probes; ${s.exchanges.exchanges} exchanges, ${s.sink.exported} spans exported, ${s.sink.dropped + s.sink.failed} not exported`);
  return 0;
}
