// The path of one ring-buffer record to the exporter, in order:
//
//   ring record ──decodeRecord──▶ TlsRecord ──▶ StreamTable (per connection and
//   direction: ordered bytes, gaps of known size) ──▶ ExchangeTracker (protocol detected per
//   connection; its session pairs requests and responses) ──▶ Exchange ──(onExchange: the RED
//   metrics see every one)──▶ TraceLinker (trace and parent ids: traceparent, same-host
//   stitching) ──▶ SpanSampler (OTEL_TRACES_SAMPLER; one decision per stitched pair) ──▶
//   SpanBuilder (semconv, redaction) ──▶ SpanSink (OTLP queue, console, or nothing)
//
// No BPF and no timers here: the live agent (agent.ts) feeds it from the ring buffer and drives
// its clocks; the pipeline benchmark feeds it recorded records. With `observe` instead of
// `trace`, records and stream events go to an observer (sniff, tests) and nothing is traced.
import { decodeRecord, RecordCopier, type ProcRecord, type TlsRecord } from '../capture/record';
import { StreamTable, type StreamOptions, type StreamSink, type StreamStats } from '../capture/streams';
import { ExchangeTracker, type ExchangeStats } from '../exchange/tracker';
import type { Exchange, ProcessInfo } from '../exchange/types';
import type { SinkStats, SpanSink } from '../export/types';
import { TraceLinker } from '../trace/linker';
import type { RedactionOptions } from '../trace/redact';
import { SpanSampler, type SamplerStats, type SamplingConfig } from '../trace/sampler';
import { SpanBuilder } from '../trace/span-builder';
import { ResourceFactory } from '../trace/resource';
import type { Logger } from '../util/log';

/** What sees every record and stream event when the agent observes instead of tracing. */
export interface Observer extends StreamSink {
  /** Every record that passed the filters, before stream reassembly (for `sniff`); process
   *  records too, which go nowhere else when observing. */
  onRecord?(rec: TlsRecord): void;
  /**
   * False when the observer never keeps a payload (a data record's `data`, an onData buffer)
   * past the call: records are then decoded straight from the ring buffer, whose bytes the
   * kernel reuses as soon as the record is released. Otherwise (the default) each record is
   * first copied into memory of our own, and payloads are safe to keep.
   */
  keepsPayloads?: boolean;
}

export interface TraceOptions {
  sink: SpanSink;
  redaction: RedactionOptions;
  /** Same-host client↔server stitching (default on). */
  stitch: boolean;
  /** A request unanswered this long becomes an error span. */
  responseTimeoutMs?: number;
  /** Longest string attribute value (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT). */
  attributeValueLengthLimit?: number;
  /** On every span's resource, under the process's own attributes (OTEL_RESOURCE_ATTRIBUTES of the agent). */
  resourceAttributes?: Record<string, string>;
  /** Identity of a traced process (default: none; the live agent reads /proc). */
  processInfo(pid: number, comm: string): ProcessInfo;
  /** Who a process is, as the probes took it at its first connection (before that connection's
   *  records): for processInfo, when /proc no longer has it. */
  onProcess?(rec: ProcRecord): void;
  /** Every exchange, before it becomes a span (metrics, tests). */
  onExchange?(ex: Exchange): void;
  /** False: exchanges only, no span is built (the pipeline benchmark's parse stage). */
  spans?: boolean;
  /** Which spans are kept (OTEL_TRACES_SAMPLER, --keep-errors…); undefined: every span. */
  sampling?: SamplingConfig;
}

export interface PipelineOptions {
  streams?: StreamOptions;
  /** Exactly one of trace and observe. */
  trace?: TraceOptions;
  observe?: Observer;
  /** Name of the TLS library behind a probed file id. */
  libraryOf?(libId: number): string | undefined;
  log: Logger;
}

export interface PipelineStats {
  streams: StreamStats;
  malformedRecords: number;
  /** Records whose handling threw (a bug downstream; counted, logged once). */
  sinkErrors: number;
  /** Undefined when observing. */
  exchanges: ExchangeStats | undefined;
  sink: SinkStats | undefined;
  buildErrors: number;
  /** Undefined when every span is kept (no sampler configured). */
  sampling: SamplerStats | undefined;
}

export class Pipeline {
  readonly streams: StreamTable;
  readonly tracker: ExchangeTracker | undefined;
  readonly linker: TraceLinker | undefined;
  readonly sampler: SpanSampler | undefined;
  private readonly observer: Observer | undefined;
  private readonly sink: SpanSink | undefined;
  /** For observers that keep payloads (see Observer.keepsPayloads). */
  private readonly copier: RecordCopier | undefined;
  private malformed = 0;
  private sinkErrors = 0;
  private buildErrors = 0;
  private readonly onProcess: ((rec: ProcRecord) => void) | undefined;

  constructor(private readonly opts: PipelineOptions) {
    const trace = opts.trace;
    this.onProcess = trace?.onProcess;
    if ((trace === undefined) === (opts.observe === undefined)) throw new Error('a pipeline either traces or observes');
    let streamSink: StreamSink;
    if (trace !== undefined) {
      const extra = trace.resourceAttributes;
      const resources = extra !== undefined && Object.keys(extra).length > 0 ? new ResourceFactory({ agentAttributes: extra }) : undefined;
      const builder = new SpanBuilder({
        ...trace.redaction,
        attributeValueLengthLimit: trace.attributeValueLengthLimit,
        ...(resources !== undefined ? { resourceFor: (info: ProcessInfo) => resources.resourceFor(info) } : {}),
      });
      const linker = new TraceLinker({ stitch: trace.stitch });
      const sink = trace.sink;
      const onExchange = trace.onExchange;
      const spans = trace.spans !== false;
      const sampler = trace.sampling !== undefined ? new SpanSampler(trace.sampling) : undefined;
      this.sampler = sampler;
      this.linker = linker;
      this.sink = sink;
      this.tracker = new ExchangeTracker((ex) => {
        onExchange?.(ex);
        if (!spans) return;
        try {
          const options = linker.optionsFor(ex);
          if (sampler !== undefined && !sampler.keep(ex, options)) return;
          sink.export(builder.build(ex, options));
        } catch (e) {
          if (this.buildErrors++ === 0) opts.log.error(`cannot build a span (counted, logged once): ${(e as Error).message}`);
        }
      }, {
        processInfo: trace.processInfo,
        libraryOf: opts.libraryOf,
        responseTimeoutMs: trace.responseTimeoutMs,
        onConnection: (id, addresses) => linker.connectionKnown(id, addresses),
      });
      streamSink = this.tracker;
    } else {
      this.observer = opts.observe;
      streamSink = opts.observe!;
    }
    this.streams = new StreamTable(streamSink, opts.streams);
    const keeps = this.tracker !== undefined ? this.tracker.keepsPayloads : this.observer!.keepsPayloads;
    this.copier = keeps === false ? undefined : new RecordCopier();
  }

  /** One ring-buffer record (a view of the ring: valid during the call only). */
  handle(ring: Buffer): void {
    const copier = this.copier;
    const rec = decodeRecord(copier === undefined ? ring : copier.copy(ring));
    if (rec === null) {
      this.malformed++;
      return;
    }
    try {
      if (rec.type === 'proc') {
        this.onProcess?.(rec);
        this.observer?.onRecord?.(rec);
        return;
      }
      this.observer?.onRecord?.(rec);
      this.streams.push(rec);
    } catch (e) {
      // A bug downstream must not stop capture: count it, say it once.
      if (this.sinkErrors++ === 0) this.opts.log.error(`error while handling a record (counted, logged once): ${(e as Error).stack}`);
    }
  }

  /** Gives up requests unanswered for too long, and stops waiting for addresses. */
  expire(nowNs: bigint): void {
    this.tracker?.expire(nowNs);
  }

  /** Closes connections idle for too long. */
  evictIdle(nowNs: bigint): void {
    this.streams.evictIdle(nowNs);
  }

  /** These processes exited: their connections close, their exchanges complete or are cut. */
  processesExited(pids: number[], nowNs: bigint): void {
    this.streams.processesExited(pids, nowNs);
  }

  /** Closes every connection (at stop: what is pending is counted, not reported). */
  closeAll(nowNs: bigint): void {
    this.streams.closeAll('agent-stopped', nowNs);
  }

  stats(): PipelineStats {
    return {
      streams: this.streams.stats(),
      malformedRecords: this.malformed,
      sinkErrors: this.sinkErrors,
      exchanges: this.tracker?.stats(),
      sink: this.sink?.stats(),
      buildErrors: this.buildErrors,
      sampling: this.sampler?.stats(),
    };
  }
}

/** What a traced exchange needs when nothing else is known of its process. */
export function processInfoFromComm(pid: number, comm: string): ProcessInfo {
  return { pid, comm, exeName: comm, serviceName: comm };
}
