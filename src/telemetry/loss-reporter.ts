// Logs, once per interval and only when something changed, every count of data the agent
// lost or gave up on: nothing is dropped silently, and nothing is logged per event.
import type { CaptureStats } from '../agent/agent';
import type { MetricsStageStats } from '../metrics/metrics-stage';
import type { SamplerStats } from '../trace/sampler';
import type { SinkStats } from '../export/types';
import type { ExchangeStats } from '../exchange/tracker';
import type { Logger } from '../util/log';

export interface AgentStats {
  capture: CaptureStats;
  exchanges: ExchangeStats;
  sink: SinkStats;
  buildErrors: number;
  /** Undefined when no sampler is configured (every span kept). */
  sampling?: SamplerStats;
  /** Undefined when RED metrics are off. */
  metrics?: MetricsStageStats;
}

/** What the agent chose not to keep or to fold (not losses): sampled-out spans, metric series
 *  and the exchanges folded into overflow series. */
export function keptCounters(s: AgentStats): Record<string, number> {
  const out: Record<string, number> = {};
  if (s.sampling !== undefined) out['spans sampled out'] = s.sampling.sampledOut;
  if (s.metrics !== undefined) {
    out['metric series'] = s.metrics.series;
    out['exchanges folded into overflow series (route limit)'] = s.metrics.folded.route;
    out['exchanges folded into overflow series (series limit)'] = s.metrics.folded.series;
  }
  return out;
}

/** Flattens the loss counters into named numbers. */
export function lossCounters(s: AgentStats): Record<string, number> {
  const b = s.capture.bpf;
  const g = s.capture.streams;
  return {
    'ring buffer full (records)': Number(b.TLS_CNT_RB_DROPS) + Number(b.TLS_CNT_CLOSE_DROPS),
    'bytes beyond the capture cap': Number(b.TLS_CNT_TRUNC_BYTES),
    'unreadable payloads': Number(b.TLS_CNT_READ_ERRORS),
    'connection records lost': Number(b.TLS_CNT_CONN_DROPS),
    'process records lost': Number(b.TLS_CNT_PROC_DROPS),
    'stream gaps': g.gaps['ring-full'] + g.gaps.truncated + g.gaps['not-captured'] + g.gaps.skipped,
    'connections evicted': g.closed.evicted,
    'malformed records': s.capture.malformedRecords,
    'record handling errors': s.capture.sinkErrors,
    'HTTP parse errors': s.exchanges.parseErrors.invalid + s.exchanges.parseErrors['too-large'] + s.exchanges.parseErrors.gap,
    'undecodable header blocks': s.exchanges.undecodableHeaders,
    'skipped bytes where no body was due': s.exchanges.skipMismatches,
    'responses without request': s.exchanges.unpairedResponses,
    'spans dropped (queue full)': s.sink.dropped,
    'spans failed to export': s.sink.failed,
    'span build errors': s.buildErrors,
    ...(s.metrics !== undefined ? { 'metric recording errors': s.metrics.recordErrors } : {}),
  };
}

export class LossReporter {
  private last: Record<string, number> = {};
  private lastKept: Record<string, number> = {};

  constructor(private readonly log: Logger, private readonly read: () => AgentStats) {}

  report(): void {
    let now: Record<string, number>;
    let kept: Record<string, number>;
    try {
      const stats = this.read();
      now = lossCounters(stats);
      kept = keptCounters(stats);
    } catch (e) {
      this.log.warn(`cannot read loss counters: ${(e as Error).message}`);
      return;
    }
    const changed = Object.entries(now).filter(([k, v]) => v !== (this.last[k] ?? 0));
    this.last = now;
    if (changed.length) this.log.warn(`losses so far: ${changed.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    // Sampling and metric folds are choices, not losses: their own line, at info level.
    // The series count alone changes with every new route: said only beside a sampling or fold change.
    const keptChanged = Object.entries(kept).some(([k, v]) => k !== 'metric series' && v !== (this.lastKept[k] ?? 0));
    this.lastKept = kept;
    if (keptChanged) this.log.info(`sampling and metrics so far: ${Object.entries(kept).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
}
