// `tlsotel run`: the agent. Capture → exchanges → spans → OTLP (or stdout), until SIGINT/SIGTERM;
// then flush what is buffered, detach every probe, exit 0.
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { Capture, type CaptureOptions } from '../capture/capture';
import { createSpanSink, type ExportConfig } from '../export';
import { ExchangeTracker } from '../trace/exchanges';
import { TraceLinker } from '../trace/linker';
import { ProcessInfoReader } from '../trace/resource';
import { SpanBuilder } from '../trace/span-builder';
import { startPeriodicResync } from '../trace/clock';
import type { RedactionOptions } from '../trace/redact';
import { startCpuProfiler, writeProfile } from '../util/profiler';
import type { Logger } from '../util/log';
import { LossReporter, type AgentStats } from './loss-reporter';
import { startAgentMetrics, type AgentMetricsSettings } from '../telemetry/agent-metrics';
import { untilSignal } from './signals';

export interface RunOptions extends Omit<CaptureOptions, 'log'> {
  /** Resolved by src/config (flags > environment > defaults). */
  export: ExportConfig;
  /** The agent's own metrics; undefined when off. */
  metrics?: AgentMetricsSettings;
  /** Write a V8 CPU profile from ready to stop to this file (TLSOTEL_CPU_PROFILE). */
  cpuProfile?: string;
  redaction: RedactionOptions;
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
  // The SDK's own diagnostics (export errors, retries) only with -v: the sink already reports
  // failures and drops once per interval.
  if (opts.verbose) {
    diag.setLogger({ error: log.debug, warn: log.debug, info: log.debug, debug: log.debug, verbose: () => {} }, DiagLogLevel.WARN);
  }
  const config = opts.export;
  const sink = createSpanSink(config, { logger: log });
  const builder = new SpanBuilder(opts.redaction);
  const processes = new ProcessInfoReader();
  const linker = new TraceLinker({ stitch: opts.stitch });
  let buildErrors = 0;
  const tracker = new ExchangeTracker((ex) => {
    try {
      sink.export(builder.build(ex, linker.optionsFor(ex)));
    } catch (e) {
      if (buildErrors++ === 0) log.error(`cannot build a span (counted, logged once): ${(e as Error).message}`);
    }
  }, {
    processInfo: (pid, comm) => processes.read(pid, comm),
    responseTimeoutMs: opts.responseTimeoutMs,
    onConnection: (id, addresses) => linker.connectionKnown(id, addresses),
  });

  let capture: Capture;
  try {
    capture = Capture.start({ ...opts, log }, tracker);
  } catch (e) {
    await sink.shutdown();
    throw e;
  }
  const expire = setInterval(() => tracker.expire(process.hrtime.bigint()), 1000).unref();
  const stopResync = startPeriodicResync();
  const readStats = (): AgentStats => ({ capture: capture.stats(), exchanges: tracker.stats(), sink: sink.stats(), buildErrors });
  const losses = new LossReporter(log, readStats);
  // The agent's own counters as OTLP metrics, to the same collector as the spans (src/config
  // decides when and where).
  const metrics = opts.metrics !== undefined ? startAgentMetrics({ ...opts.metrics, read: readStats, logger: log }) : undefined;
  const statsTimer = setInterval(() => losses.report(), opts.statsIntervalMs).unref();

  const where = config.mode === 'otlp' ? `spans to ${config.endpoint} (OTLP/gRPC)` : config.mode === 'console' ? 'spans to stdout' : 'spans discarded (OTEL_TRACES_EXPORTER=none)';
  log.info(`ready: tracing ${capture.files.length} file(s) carrying OpenSSL; ${where}`);
  // For finding where the agent's CPU goes (bench/README.md): a V8 profile from ready to stop.
  const profileFile = opts.cpuProfile;
  const profiler = profileFile ? await startCpuProfiler() : undefined;

  const signal = await stopped;
  log.info(`${signal}: stopping`);
  if (profiler !== undefined) {
    await writeProfile(profiler, profileFile!).then(
      () => log.info(`CPU profile written to ${profileFile}`),
      (e: Error) => log.warn(`cannot write the CPU profile to ${profileFile}: ${e.message}`),
    );
  }
  clearInterval(expire);
  clearInterval(statsTimer);
  stopResync();
  const links = capture.stop(); // drains the ring, completes what can be completed
  await sink.shutdown(); // bounded: never waits for a dead collector for long
  await metrics?.shutdown(); // after the sink, so the last values include its final counts; <= 2 s
  losses.report();
  const s = sink.stats();
  const t = tracker.stats();
  log.info(`stopped: detached ${links} probes; ${t.exchanges} exchanges, ${s.exported} spans exported, ${s.dropped + s.failed} not exported${s.discarded > 0 ? `, ${s.discarded} discarded (OTEL_TRACES_EXPORTER=none)` : ''}`);
  return 0;
}
