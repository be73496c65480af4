// The metrics stage as the agent starts it: RedMetrics fed with every exchange (before
// sampling), and where its values go — OTLP (same collector as spans), a Prometheus scrape
// endpoint, or, with no collector configured, a per-route table on stdout every interval.
import type { Exchange } from '../exchange/types';
import type { AgentMetricsSettings } from '../telemetry/agent-metrics';
import type { Logger } from '../util/log';
import { OtlpMetricsPush } from './otlp-push';
import { PrometheusEndpoint } from './prometheus';
import { RedMetrics, type RedMetricsOptions, type RedMetricsStats } from './red-metrics';
import { routeTable } from './route-table';

/** What src/config resolves (flags > environment > defaults). */
export interface MetricsSettings {
  limits: Required<Pick<RedMetricsOptions, 'maxRoutesPerService' | 'maxSeriesPerMetric' | 'processTtlMs'>>;
  /** OTLP export to the spans' collector; undefined: none. */
  otlp?: AgentMetricsSettings;
  /** A Prometheus scrape endpoint; undefined: none. */
  prometheus?: { port: number; host?: string };
  /** The per-route table on stdout every intervalMs; undefined: none. */
  table?: { intervalMs: number };
}

export interface MetricsStageStats extends RedMetricsStats {
  failedExports: number;
  /** Exchanges whose recording threw (a bug; counted, logged once). */
  recordErrors: number;
}

export class MetricsStage {
  readonly red: RedMetrics;
  private otlp: OtlpMetricsPush | undefined;
  private prometheus: PrometheusEndpoint | undefined;
  private tableTimer: NodeJS.Timeout | undefined;
  private recordErrors = 0;

  constructor(private readonly settings: MetricsSettings, private readonly log: Logger, private readonly write: (text: string) => void = (t) => process.stdout.write(t)) {
    this.red = new RedMetrics(settings.limits);
  }

  /** One exchange (every one, before sampling). Never throws. */
  record(ex: Exchange): void {
    try {
      this.red.record(ex);
    } catch (e) {
      if (this.recordErrors++ === 0) this.log.error(`metrics: cannot record an exchange (counted, logged once): ${(e as Error).stack}`);
    }
  }

  /** These processes exited (their series are forgotten after the configured time). */
  processesExited(pids: readonly number[]): void {
    this.red.processesExited(pids);
  }

  /** Starts the exports (timers unref'd; the scrape server listens). */
  start(): void {
    const s = this.settings;
    if (s.otlp !== undefined) this.otlp = new OtlpMetricsPush({ ...s.otlp, collect: () => this.red.collect(), log: this.log });
    if (s.prometheus !== undefined) this.prometheus = new PrometheusEndpoint(this.red, { ...s.prometheus, log: this.log });
    const table = s.table;
    if (table !== undefined) {
      this.tableTimer = setInterval(() => this.printTable(table.intervalMs), table.intervalMs).unref();
    }
  }

  private printTable(intervalMs: number): void {
    const text = routeTable(this.red, intervalMs);
    if (text !== '') this.write(text);
  }

  stats(): MetricsStageStats {
    return { ...this.red.stats(), failedExports: this.otlp?.stats().failedExports ?? 0, recordErrors: this.recordErrors };
  }

  /** The last export and table, then everything stops. Never rejects. */
  async shutdown(): Promise<void> {
    if (this.tableTimer !== undefined) {
      clearInterval(this.tableTimer);
      this.tableTimer = undefined;
      this.printTable(this.settings.table!.intervalMs);
    }
    await Promise.all([this.otlp?.shutdown(), this.prometheus?.shutdown()]);
  }
}
