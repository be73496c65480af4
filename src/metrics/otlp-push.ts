// RED metrics to the OTLP collector: every interval, one export per traced process (the OTLP
// metric exporter takes one ResourceMetrics, and each process has its own Resource, as its spans
// do). Cumulative values: an export that fails or is skipped loses nothing, the next carries the
// totals.
//
// Safety, as for the agent's own metrics (src/telemetry/agent-metrics.ts): the timer is unref'd;
// a dead or stuck collector never throws into the agent and is logged at most once per
// max(interval, 10 s); a round still in flight when the next is due makes that one skip (counted);
// a collector without the metrics service (UNIMPLEMENTED) turns this off with one line;
// shutdown() exports once more, never rejects, and resolves within its budget.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { describeExportError, grpcCode, GRPC_UNIMPLEMENTED } from '../export/export-errors';
import { AGENT_METRICS_DEFAULTS, FailureLog, type AgentMetricsSettings } from '../telemetry/agent-metrics';
import type { Logger } from '../util/log';

export interface OtlpPushOptions extends AgentMetricsSettings {
  /** The values to send now, one entry per process. */
  collect(): ResourceMetrics[];
  log: Logger;
  /** For tests: an exporter instead of the OTLP/gRPC one. */
  exporter?: PushMetricExporter;
  shutdownTimeoutMs?: number;
}

export interface OtlpPushStats {
  exports: number;
  failedExports: number;
  skippedRounds: number;
}

export class OtlpMetricsPush {
  readonly endpoint: string;
  readonly intervalMs: number;
  private readonly exporter: PushMetricExporter;
  private readonly timer: NodeJS.Timeout;
  private readonly failures: FailureLog;
  private inFlight: Promise<void> | undefined;
  private off = false;
  private lastFailed = false;
  private readonly callDeadlineMs: number;
  private readonly shutdownMs: number;
  private readonly s: OtlpPushStats = { exports: 0, failedExports: 0, skippedRounds: 0 };
  private shutdownPromise: Promise<void> | undefined;

  constructor(private readonly opts: OtlpPushOptions) {
    const d = AGENT_METRICS_DEFAULTS;
    this.endpoint = opts.endpoint ?? opts.endpointUrl ?? d.endpoint;
    this.intervalMs = opts.intervalMs !== undefined && opts.intervalMs > 0 ? opts.intervalMs : d.intervalMs;
    this.shutdownMs = opts.shutdownTimeoutMs ?? d.shutdownTimeoutMs;
    // Never longer than the interval nor the shutdown budget: no gRPC call holds the process
    // after shutdown() (see agent-metrics.ts).
    this.callDeadlineMs = Math.max(1, Math.min(opts.callTimeoutMs ?? d.exporterTimeoutMs, opts.exportTimeoutMs ?? d.exportTimeoutMs, this.intervalMs, this.shutdownMs - 200));
    this.exporter = opts.exporter ?? new OTLPMetricExporter({
      ...(opts.endpointUrl?.trim() ? { url: opts.endpointUrl.trim() } : {}),
      timeoutMillis: this.callDeadlineMs,
    });
    this.failures = new FailureLog(opts.log, `RED metrics: cannot export to ${this.endpoint}`, Math.max(this.intervalMs, d.minLogIntervalMs));
    this.timer = setInterval(() => this.round(), this.intervalMs).unref();
  }

  stats(): OtlpPushStats {
    return { ...this.s };
  }

  /** One export per process, one after the other. */
  private round(): Promise<void> {
    if (this.off) return Promise.resolve();
    if (this.inFlight !== undefined) {
      this.s.skippedRounds++;
      return this.inFlight;
    }
    let batch: ResourceMetrics[];
    try {
      batch = this.opts.collect();
    } catch (error) {
      this.failures.failed(`cannot collect: ${describeExportError(error)}`);
      return Promise.resolve();
    }
    const run = async (): Promise<void> => {
      for (const rm of batch) {
        if (this.off || rm.scopeMetrics.every((s) => s.metrics.length === 0)) continue;
        const result = await this.exportOne(rm);
        this.s.exports++;
        this.lastFailed = result.code !== ExportResultCode.SUCCESS;
        if (!this.lastFailed) {
          this.failures.succeeded(`RED metrics: exporting to ${this.endpoint} again`);
          continue;
        }
        this.s.failedExports++;
        if (grpcCode(result.error) === GRPC_UNIMPLEMENTED) {
          this.off = true;
          this.opts.log.warn(`RED metrics off: ${this.endpoint} does not accept OTLP metrics (UNIMPLEMENTED); spans still go there`);
          return;
        }
        this.failures.failed(describeExportError(result.error));
        return; // the collector is failing: the rest waits for the next round
      }
    };
    const p = run().finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = p;
    return p;
  }

  private exportOne(rm: ResourceMetrics): Promise<ExportResult> {
    return new Promise<ExportResult>((resolve) => {
      try {
        this.exporter.export(rm, resolve);
      } catch (error) {
        resolve({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
      }
    });
  }

  /** Exports the last values (unless the last export failed), then stops. Never rejects. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= new Promise<void>((resolve) => {
      clearInterval(this.timer);
      const deadline = setTimeout(() => resolve(), this.shutdownMs);
      deadline.unref();
      // After a failed export the collector is not waited on again.
      const last = this.lastFailed ? Promise.resolve() : (this.inFlight ?? Promise.resolve()).then(() => this.round());
      void last
        .catch((error: unknown) => this.opts.log.debug(`metrics: last export: ${describeExportError(error)}`))
        .then(() => this.exporter.shutdown())
        .catch((error: unknown) => this.opts.log.debug(`metrics: shutdown: ${describeExportError(error)}`))
        .finally(() => {
          clearTimeout(deadline);
          resolve();
        });
    });
    return this.shutdownPromise;
  }
}
