// The agent's own counters (src/telemetry/instruments.ts) as OTLP metrics, over gRPC to the same
// collector as the spans.
//
// Start it only in OTLP mode (src/config/metrics.ts decides: with spans printed to stdout or
// discarded there is no collector to send metrics to, and OTEL_METRICS_EXPORTER=none opts out);
// its settings come resolved from src/config, this file reads no environment.
//
// Cost and safety:
//   - one read() per collection, shared by every instrument (a batch observable callback);
//   - the MeterProvider is private (never registered globally) and its timer is unref'd;
//   - a dead, refusing or stuck collector never throws into the agent, never blocks it, and is
//     logged through the agent's logger at most once per max(interval, 10 s), plus one line
//     when exports work again; the SDK's own diagnostics stay behind `diag` (-v in `run`);
//   - counters are exported as monotonic: a source value that goes down (e.g. BPF counters once
//     the capture has freed its maps) is held at its highest value;
//   - a collector without the metrics service (UNIMPLEMENTED) turns the metrics off, with one
//     line, instead of failing every interval;
//   - shutdown() collects and exports one last time, never rejects, and resolves within 2 s.
import { ValueType, type BatchObservableResult, type Observable } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type AggregationOption,
  type AggregationTemporality,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import * as os from 'node:os';
import type { AgentStats } from './loss-reporter';
import { ATTR_HOST_NAME, ATTR_PROCESS_PID } from '../trace/semconv';
import { VERSION } from '../trace/version';
import { describeExportError, grpcCode, GRPC_UNIMPLEMENTED } from '../export/export-errors';
import { silentLogger, type Logger } from '../util/log';
import { AGENT_METRICS, type MetricPoint, type MetricSpec } from './instruments';

export const AGENT_METRICS_DEFAULTS = {
  /** Collection and export period (OTEL_METRIC_EXPORT_INTERVAL overrides it). */
  intervalMs: 10_000,
  /** Longest wait for one export (OTEL_METRIC_EXPORT_TIMEOUT); never more than the interval. */
  exportTimeoutMs: 30_000,
  /** Deadline of one gRPC call when OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT is unset; in any case
   *  capped at the interval and at the shutdown budget less 200 ms (1.8 s by default). */
  exporterTimeoutMs: 10_000,
  /** Longest shutdown() wait, final export included. */
  shutdownTimeoutMs: 2_000,
  /** Export failures are logged at most once per max(interval, this). */
  minLogIntervalMs: 10_000,
  /** What the gRPC exporter uses when no endpoint is configured anywhere. */
  endpoint: 'http://localhost:4317',
} as const;

/** What src/config resolves from the environment (flags > environment > these defaults). */
export interface AgentMetricsSettings {
  /** The OTLP/gRPC endpoint given on the command line (ExportConfig.exporterUrl), or the traces
   *  endpoint when it is the only one configured. When unset, the exporter reads
   *  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT (with headers, TLS
   *  and compression settings), as the span exporter does. */
  endpointUrl?: string;
  /** Where metrics go, for messages; default endpointUrl, else the exporter's default. */
  endpoint?: string;
  /** Collection/export period (OTEL_METRIC_EXPORT_INTERVAL); default 10000 ms. */
  intervalMs?: number;
  /** Longest wait for one export (OTEL_METRIC_EXPORT_TIMEOUT), at most the interval; default 30000 ms. */
  exportTimeoutMs?: number;
  /** gRPC deadline per call (OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT), capped to fit the shutdown
   *  budget (README.md); default 10000 ms. */
  callTimeoutMs?: number;
}

export interface AgentMetricsOptions extends AgentMetricsSettings {
  /** A snapshot of every counter; called once per collection. May throw (logged, skipped). */
  read(): AgentStats;
  logger?: Logger;
  /** Longest shutdown() wait; default 2000 ms. */
  shutdownTimeoutMs?: number;
}

export interface AgentMetrics {
  /** Where metrics are sent, for messages. */
  readonly endpoint: string;
  readonly intervalMs: number;
  /** Collects and exports the last values, then stops. Never rejects; bounded by
   *  shutdownTimeoutMs (2 s). Calling it again returns the same promise. */
  shutdown(): Promise<void>;
}

function describe(error: unknown): string {
  return describeExportError(error);
}

/** Logs a repeating failure at most once per interval: the first at once, then a count. */
export class FailureLog {
  private failures = 0;
  private unlogged = 0;
  private lastLogAt = -Infinity;

  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly intervalMs: number,
  ) {}

  failed(reason: string): void {
    this.failures++;
    this.unlogged++;
    const now = Date.now();
    if (now - this.lastLogAt < this.intervalMs) return;
    const times = this.unlogged > 1 ? ` (${this.unlogged} times since the last message)` : '';
    this.log.warn(`${this.what}: ${reason}${times}; logged at most every ${Math.round(this.intervalMs / 1000)} s`);
    this.lastLogAt = now;
    this.unlogged = 0;
  }

  succeeded(recovered: string): void {
    if (this.failures === 0) return;
    this.log.info(`${recovered} (after ${this.failures} failures)`);
    this.failures = 0;
    this.unlogged = 0;
    this.lastLogAt = -Infinity;
  }
}

/**
 * Passes every call through; sees each export's outcome (to log it) without changing it.
 *
 * gRPC keeps the process alive while a call is in flight, until its deadline, and closing the
 * client does not cancel it. So every call's deadline is shorter than the shutdown budget, and
 * once shutdown has begun, an export that could outlive the budget is not started: nothing of
 * this path holds the agent after shutdown() resolves.
 */
class ObservedExporter implements PushMetricExporter {
  readonly selectAggregationTemporality?: (instrumentType: InstrumentType) => AggregationTemporality;
  readonly selectAggregation?: (instrumentType: InstrumentType) => AggregationOption;
  private stopBy: number | undefined;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly callDeadlineMs: number,
    private readonly onResult: (result: ExportResult) => void,
    private readonly log: Logger,
  ) {
    // The OTLP exporter's choice: cumulative unless OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE says otherwise.
    this.selectAggregationTemporality = inner.selectAggregationTemporality?.bind(inner);
    this.selectAggregation = inner.selectAggregation?.bind(inner);
  }

  /** From now on, start no call that could still be in flight at `epochMs`. */
  finishBy(epochMs: number): void {
    this.stopBy = epochMs;
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (this.stopBy !== undefined && Date.now() + this.callDeadlineMs > this.stopBy) {
      this.log.debug('agent metrics: last export not sent: it could outlast the shutdown budget');
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('not sent: the agent is stopping') });
      return;
    }
    let done = false;
    const finish = (result: ExportResult): void => {
      if (done) return;
      done = true;
      try {
        this.onResult(result);
      } catch {
        // Logging must not break the export path.
      }
      resultCallback(result);
    };
    try {
      this.inner.export(metrics, finish);
    } catch (error) {
      finish({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** Room left inside the shutdown budget for connecting, logging and closing. */
const SHUTDOWN_MARGIN_MS = 200;

const NOOP: AgentMetrics = { endpoint: '', intervalMs: 0, shutdown: () => Promise.resolve() };

/**
 * Starts exporting the agent's counters every interval. Never throws: a configuration the
 * exporter refuses is logged and gives a handle that does nothing.
 */
export function startAgentMetrics(opts: AgentMetricsOptions): AgentMetrics {
  const log = opts.logger ?? silentLogger;
  const endpoint = opts.endpoint ?? opts.endpointUrl ?? AGENT_METRICS_DEFAULTS.endpoint;
  const intervalMs = opts.intervalMs !== undefined && opts.intervalMs > 0 ? opts.intervalMs : AGENT_METRICS_DEFAULTS.intervalMs;
  const exportTimeoutMs = Math.min(opts.exportTimeoutMs ?? AGENT_METRICS_DEFAULTS.exportTimeoutMs, intervalMs);
  const callTimeoutMs = opts.callTimeoutMs;
  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? AGENT_METRICS_DEFAULTS.shutdownTimeoutMs;
  const logIntervalMs = Math.max(intervalMs, AGENT_METRICS_DEFAULTS.minLogIntervalMs);

  // Deadline of each gRPC call: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT
  // (else 10 s), but never longer than the interval nor than the shutdown budget, so that no
  // call can hold the process after shutdown() (see ObservedExporter). Nothing is lost by a
  // short deadline: the counters are cumulative, the next export carries the totals.
  const callDeadlineMs = Math.max(
    1,
    Math.min(callTimeoutMs ?? AGENT_METRICS_DEFAULTS.exporterTimeoutMs, exportTimeoutMs, shutdownTimeoutMs - SHUTDOWN_MARGIN_MS),
  );
  if (callTimeoutMs !== undefined && callTimeoutMs > callDeadlineMs) {
    log.debug(`agent metrics: export deadline ${callDeadlineMs} ms (the OTLP timeout ${callTimeoutMs} ms would outlast shutdown)`);
  }
  let otlp: OTLPMetricExporter;
  try {
    otlp = new OTLPMetricExporter({
      ...(opts.endpointUrl?.trim() ? { url: opts.endpointUrl.trim() } : {}),
      timeoutMillis: callDeadlineMs,
    });
  } catch (error) {
    log.warn(`agent metrics disabled: cannot set up the OTLP metric exporter for ${endpoint}: ${describe(error)}`);
    return NOOP;
  }

  const exportFailures = new FailureLog(log, `agent metrics: cannot export to ${endpoint}`, logIntervalMs);
  const readFailures = new FailureLog(log, 'agent metrics: cannot read the counters', logIntervalMs);
  let lastExportFailed = false;
  let off = false;
  const exporter = new ObservedExporter(otlp, callDeadlineMs, (result) => {
    if (off) return;
    lastExportFailed = result.code !== ExportResultCode.SUCCESS;
    if (lastExportFailed && grpcCode(result.error) === GRPC_UNIMPLEMENTED) {
      // A collector (or a traces-only backend such as Jaeger) that takes spans but has no
      // metrics service answers every export so: retrying every interval only fills the log.
      off = true;
      log.warn(`agent metrics off: ${endpoint} does not accept OTLP metrics (UNIMPLEMENTED); spans still go there, the agent's own counters stay in this log`);
      setImmediate(() => void shutdown()); // the last export failed: no final one is attempted
      return;
    }
    if (lastExportFailed) exportFailures.failed(describe(result.error));
    else exportFailures.succeeded(`agent metrics: exporting to ${endpoint} again`);
  }, log);
  let stopped = false;
  // Highest value observed per counter series. A monotonic counter must never be seen going
  // down (backends take that as a reset); the sources can: the BPF counters read 0 once the
  // capture has stopped and freed its maps, which happens before the final export.
  const highWater = new Map<string, number>();

  const provider = new MeterProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: 'tlsotel',
        [ATTR_SERVICE_VERSION]: VERSION,
        [ATTR_HOST_NAME]: os.hostname(),
        [ATTR_PROCESS_PID]: process.pid,
      }),
    ),
    readers: [
      new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: intervalMs, exportTimeoutMillis: exportTimeoutMs }),
    ],
  });
  const meter = provider.getMeter('tlsotel', VERSION);

  const instruments: Array<[MetricSpec, Observable]> = AGENT_METRICS.map((spec) => {
    const options = { description: spec.description, unit: spec.unit, valueType: ValueType.INT };
    const instrument = spec.kind === 'counter'
      ? meter.createObservableCounter(spec.name, options)
      : meter.createObservableUpDownCounter(spec.name, options);
    return [spec, instrument];
  });
  meter.addBatchObservableCallback((result: BatchObservableResult) => {
    if (stopped) return; // the caller may have torn down what read() reads
    let stats: AgentStats;
    try {
      stats = opts.read();
    } catch (error) {
      readFailures.failed(describe(error)); // nothing observed this time: no data points
      return;
    }
    let problem: string | undefined;
    for (const [spec, instrument] of instruments) {
      let points: MetricPoint[];
      try {
        points = spec.points(stats);
      } catch (error) {
        problem ??= `${spec.name}: ${describe(error)}`;
        continue;
      }
      for (const p of points) {
        if (!Number.isFinite(p.value)) continue;
        let value = p.value;
        if (spec.kind === 'counter') {
          const series = p.attributes ? `${spec.name} ${JSON.stringify(p.attributes)}` : spec.name;
          const before = highWater.get(series) ?? 0;
          if (value < before) value = before;
          else highWater.set(series, value);
        }
        result.observe(instrument, value, p.attributes);
      }
    }
    if (problem !== undefined) readFailures.failed(problem);
    else readFailures.succeeded('agent metrics: reading the counters again');
  }, instruments.map(([, instrument]) => instrument));

  log.debug(`agent metrics: every ${intervalMs} ms to ${endpoint} (OTLP/gRPC)`);

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shutdownPromise ??= new Promise<void>((resolve) => {
      const done = (): void => {
        stopped = true;
        resolve();
      };
      // The SDK's shutdown stops the timer, then collects and exports once more. Its promise is
      // always handled; whatever happens inside, resolve by the deadline (the timer does not
      // hold the process) and never reject.
      const sdkShutdown = (): Promise<void> =>
        Promise.resolve()
          .then(() => provider.shutdown({ timeoutMillis: Math.max(1, shutdownTimeoutMs - SHUTDOWN_MARGIN_MS / 2) }))
          .catch((error: unknown) => log.debug(`agent metrics: shutdown: ${describe(error)}`));
      if (lastExportFailed) {
        // The collector did not take the last export: do not wait on it again. Nothing more is
        // sent; a call already in flight ends by its own (short) deadline.
        exporter.finishBy(0);
        stopped = true;
        log.debug(`agent metrics: no final export (the last one to ${endpoint} failed)`);
        void sdkShutdown();
        done();
        return;
      }
      const deadline = setTimeout(() => {
        log.debug(`agent metrics: final export to ${endpoint} not confirmed within ${shutdownTimeoutMs} ms`);
        done();
      }, shutdownTimeoutMs);
      deadline.unref();
      exporter.finishBy(Date.now() + shutdownTimeoutMs);
      void sdkShutdown().then(() => {
        clearTimeout(deadline);
        done();
      });
    });
    return shutdownPromise;
  };

  return { endpoint, intervalMs, shutdown };
}
