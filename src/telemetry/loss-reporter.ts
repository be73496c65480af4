// Logs, once per interval and only when something changed, every count of data the agent
// lost or gave up on: nothing is dropped silently, and nothing is logged per event.
import type { CaptureStats } from '../agent/agent';
import type { SinkStats } from '../export/types';
import type { ExchangeStats } from '../exchange/tracker';
import type { Logger } from '../util/log';

export interface AgentStats {
  capture: CaptureStats;
  exchanges: ExchangeStats;
  sink: SinkStats;
  buildErrors: number;
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
    'stream gaps': g.gaps['ring-full'] + g.gaps.truncated + g.gaps['not-captured'],
    'connections evicted': g.closed.evicted,
    'malformed records': s.capture.malformedRecords,
    'record handling errors': s.capture.sinkErrors,
    'HTTP parse errors': s.exchanges.parseErrors.invalid + s.exchanges.parseErrors['too-large'] + s.exchanges.parseErrors.gap,
    'undecodable header blocks': s.exchanges.undecodableHeaders,
    'responses without request': s.exchanges.unpairedResponses,
    'spans dropped (queue full)': s.sink.dropped,
    'spans failed to export': s.sink.failed,
    'span build errors': s.buildErrors,
  };
}

export class LossReporter {
  private last: Record<string, number> = {};

  constructor(private readonly log: Logger, private readonly read: () => AgentStats) {}

  report(): void {
    let now: Record<string, number>;
    try {
      now = lossCounters(this.read());
    } catch (e) {
      this.log.warn(`cannot read loss counters: ${(e as Error).message}`);
      return;
    }
    const changed = Object.entries(now).filter(([k, v]) => v !== (this.last[k] ?? 0));
    this.last = now;
    if (changed.length) this.log.warn(`losses so far: ${changed.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
}
