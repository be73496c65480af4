// The agent's own metrics: one table row per instrument, each saying how to read its data
// points from one AgentStats snapshot. Pure (no SDK here): agent-metrics.ts turns the rows into
// observable instruments, and tests can check the mapping alone.
//
// Every loss counter of src/telemetry/loss-reporter.ts (lossCounters) has a metric here, plus
// throughput counters and two current values. Names follow the OpenTelemetry naming
// guidelines (dotted namespaces, snake_case words, no `_total`, UCUM units with {annotations}).
import type { AgentStats } from './loss-reporter';

export type MetricKind =
  /** Monotonic sum (ObservableCounter): the value only grows while the agent runs. */
  | 'counter'
  /** Non-monotonic sum (ObservableUpDownCounter): a current, additive amount. */
  | 'updowncounter';

export interface MetricPoint {
  value: number;
  attributes?: Record<string, string>;
}

export interface MetricSpec {
  name: string;
  kind: MetricKind;
  unit: string;
  description: string;
  /** Which loss counter of lossCounters() this metric carries (the sum over its points). */
  lossCounter?: string;
  points(s: AgentStats): MetricPoint[];
}

const GAP_REASONS = ['ring-full', 'truncated', 'not-captured', 'skipped'] as const;
/** 'not-http' is not an error (the connection is simply not HTTP/1.x): see tlsotel.connections.other_protocol. */
const PARSE_ERROR_REASONS = ['invalid', 'too-large', 'gap', 'truncated'] as const;

function one(value: number | bigint): MetricPoint[] {
  return [{ value: Number(value) }];
}

function byReason<R extends string>(reasons: readonly R[], values: Record<R, number>): MetricPoint[] {
  return reasons.map((reason) => ({ value: values[reason] ?? 0, attributes: { reason } }));
}

export const AGENT_METRICS: readonly MetricSpec[] = [
  // --- BPF side (per-CPU counters summed) ---
  {
    name: 'tlsotel.bpf.records',
    kind: 'counter',
    unit: '{record}',
    description: 'Records the BPF probes wrote to the ring buffer.',
    points: (s) => one(s.capture.bpf.TLS_CNT_EVENTS),
  },
  {
    name: 'tlsotel.bpf.ring_buffer.dropped_records',
    kind: 'counter',
    unit: '{record}',
    description: 'Data and close records lost because the ring buffer was full.',
    lossCounter: 'ring buffer full (records)',
    points: (s) => one(s.capture.bpf.TLS_CNT_RB_DROPS + s.capture.bpf.TLS_CNT_CLOSE_DROPS),
  },
  {
    name: 'tlsotel.bpf.ring_buffer.dropped_bytes',
    kind: 'counter',
    unit: 'By',
    description: 'Plaintext bytes not delivered because their records were lost (ring buffer full).',
    points: (s) => one(s.capture.bpf.TLS_CNT_RB_DROP_BYTES),
  },
  {
    name: 'tlsotel.bpf.ring_buffer.dropped_connection_records',
    kind: 'counter',
    unit: '{record}',
    description: 'Connection (socket address) records lost because the ring buffer was full; retried on the next call.',
    lossCounter: 'connection records lost',
    points: (s) => one(s.capture.bpf.TLS_CNT_CONN_DROPS),
  },
  {
    name: 'tlsotel.bpf.ring_buffer.dropped_process_records',
    kind: 'counter',
    unit: '{record}',
    description: "Process records (a process's environment and cgroup, taken at its first connection) lost because the ring buffer was full; retried at its next connection, /proc read meanwhile.",
    lossCounter: 'process records lost',
    points: (s) => one(s.capture.bpf.TLS_CNT_PROC_DROPS),
  },
  {
    name: 'tlsotel.bpf.late_close_records',
    kind: 'counter',
    unit: '{record}',
    description: 'Close records that did not fit in the ring buffer when their connection ended, delivered later: sent by the probes just before the next record at the same SSL address, or taken by the agent from the BPF map (the connection quiet, its process exited).',
    points: (s) => one(s.capture.bpf.TLS_CNT_LATE_CLOSES + BigInt(s.capture.streams.owedClosesTaken)),
  },
  {
    name: 'tlsotel.bpf.truncated_bytes',
    kind: 'counter',
    unit: 'By',
    description: 'Plaintext bytes beyond the per-call capture cap, not copied.',
    lossCounter: 'bytes beyond the capture cap',
    points: (s) => one(s.capture.bpf.TLS_CNT_TRUNC_BYTES),
  },
  {
    name: 'tlsotel.bpf.unreadable_payloads',
    kind: 'counter',
    unit: '{payload}',
    description: 'Payloads whose user memory could not be read at return.',
    lossCounter: 'unreadable payloads',
    points: (s) => one(s.capture.bpf.TLS_CNT_READ_ERRORS),
  },
  {
    name: 'tlsotel.bpf.calls_without_entry',
    kind: 'counter',
    unit: '{call}',
    description: "Calls whose return probe fired without their entry's arguments (the agent attached while the call was in progress, as a client blocked in a read; or the entry's state was gone): that call's bytes were not captured.",
    points: (s) => one(s.capture.bpf.TLS_CNT_NO_ENTRY),
  },
  {
    name: 'tlsotel.bpf.skipped_bytes',
    kind: 'counter',
    unit: 'By',
    description: 'Body bytes (HTTP/1 bodies of known length, HTTP/2 DATA payloads) the probes counted instead of copying into the ring buffer (--keep-bodies turns this off).',
    points: (s) => one(s.capture.bpf.TLS_CNT_SKIP_BYTES),
  },
  {
    name: 'tlsotel.bpf.frames_unfollowed',
    kind: 'counter',
    unit: '{direction}',
    description: 'HTTP/2 connection directions whose frames the probes stopped following (a frame header that fails the checks, too many frames in one call): their DATA payloads are copied from then on, nothing is lost.',
    points: (s) => one(s.capture.bpf.TLS_CNT_H2_LOST),
  },
  {
    name: 'tlsotel.bpf.ring_buffer.pending',
    kind: 'updowncounter',
    unit: 'By',
    description: 'Bytes waiting in the ring buffer, not yet read by the agent.',
    points: (s) => one(s.capture.ringPendingBytes),
  },
  {
    name: 'tlsotel.probes.attached_files',
    kind: 'updowncounter',
    unit: '{file}',
    description: 'Library and executable files the probes are attached to.',
    points: (s) => one(s.capture.files),
  },
  // --- Finding new TLS library files (exec and executable mappings announced by BPF) ---
  {
    name: 'tlsotel.discovery.new_files',
    kind: 'counter',
    unit: '{file}',
    description: 'Files a process exec\'d or mapped executable before the agent had examined them, by what came of it: attached, not_tls (examined, no TLS library), missing (the process was gone first; the next mapping announces it again), dropped (event ring full; the rescan finds it).',
    points: (s) => {
      const d = s.capture.discovery;
      if (d === undefined) return [];
      return [
        { value: d.noticesAttached, attributes: { outcome: 'attached' } },
        { value: d.noticesNotTls, attributes: { outcome: 'not_tls' } },
        { value: d.noticesMissing, attributes: { outcome: 'missing' } },
        { value: Number(d.bpf.TLS_FCNT_DROPS), attributes: { outcome: 'dropped' } },
      ];
    },
  },
  {
    name: 'tlsotel.discovery.known_file_mappings',
    kind: 'counter',
    unit: '{mapping}',
    description: 'Execs and executable mappings of files already examined: filtered in BPF, no event, no work.',
    points: (s) => (s.capture.discovery === undefined ? [] : one(s.capture.discovery.bpf.TLS_FCNT_KNOWN)),
  },
  {
    name: 'tlsotel.discovery.held_processes',
    kind: 'counter',
    unit: '{process}',
    description: 'Processes stopped at a new file until the agent had examined (and attached) it, so that their first request is traced, by outcome: resumed, or gone (killed while held). Only with --hold-new-programs.',
    points: (s) => {
      const d = s.capture.discovery;
      if (d === undefined) return [];
      return [
        { value: d.resumed, attributes: { outcome: 'resumed' } },
        { value: d.resumeGone, attributes: { outcome: 'gone' } },
      ];
    },
  },
  // --- Capture and streams ---
  {
    name: 'tlsotel.capture.malformed_records',
    kind: 'counter',
    unit: '{record}',
    description: 'Ring buffer records that could not be decoded.',
    lossCounter: 'malformed records',
    points: (s) => one(s.capture.malformedRecords),
  },
  {
    name: 'tlsotel.capture.record_errors',
    kind: 'counter',
    unit: '{record}',
    description: 'Records whose handling failed with an internal error.',
    lossCounter: 'record handling errors',
    points: (s) => one(s.capture.sinkErrors),
  },
  {
    name: 'tlsotel.streams.bytes',
    kind: 'counter',
    unit: 'By',
    description: 'Plaintext bytes delivered to the per-connection streams.',
    points: (s) => one(s.capture.streams.bytes),
  },
  {
    name: 'tlsotel.streams.gaps',
    kind: 'counter',
    unit: '{gap}',
    description: 'Gaps in connection byte streams, by reason (ring-full, truncated, not-captured, skipped: body bytes counted, not copied, for a consumer that takes none).',
    lossCounter: 'stream gaps',
    points: (s) => byReason(GAP_REASONS, s.capture.streams.gaps),
  },
  {
    name: 'tlsotel.streams.gap_bytes',
    kind: 'counter',
    unit: 'By',
    description: 'Bytes missing from connection byte streams, by reason.',
    points: (s) => byReason(GAP_REASONS, s.capture.streams.gapBytes),
  },
  {
    name: 'tlsotel.connections.opened',
    kind: 'counter',
    unit: '{connection}',
    description: 'TLS connections seen.',
    points: (s) => one(s.capture.streams.opened),
  },
  {
    name: 'tlsotel.connections.evicted',
    kind: 'counter',
    unit: '{connection}',
    description: 'Connections dropped from tracking because too many were open at once.',
    lossCounter: 'connections evicted',
    points: (s) => one(s.capture.streams.closed.evicted),
  },
  {
    name: 'tlsotel.connections.active',
    kind: 'updowncounter',
    unit: '{connection}',
    description: 'TLS connections tracked now.',
    points: (s) => one(s.capture.streams.connections),
  },
  {
    name: 'tlsotel.connections.by_protocol',
    kind: 'counter',
    unit: '{connection}',
    description: 'Connections by the protocol detected on them (http/1, http/2).',
    points: (s) => Object.entries(s.exchanges.connections).map(([protocol, value]) => ({ value, attributes: { protocol } })),
  },
  {
    name: 'tlsotel.connections.other_protocol',
    kind: 'counter',
    unit: '{connection}',
    description: 'Connections whose plaintext is no protocol tlsotel parses; ignored.',
    points: (s) => one(s.exchanges.otherProtocolConnections),
  },
  {
    name: 'tlsotel.http.undecodable_headers',
    kind: 'counter',
    unit: '{header_block}',
    description: 'Header blocks (or fields) that could not be decoded (HTTP/2 joined mid-connection): reported as unknown.',
    lossCounter: 'undecodable header blocks',
    points: (s) => one(s.exchanges.undecodableHeaders),
  },
  {
    name: 'tlsotel.http.skip_mismatches',
    kind: 'counter',
    unit: '{skip}',
    description: 'Body bytes counted (not copied) by the probes where the parser expected no body bytes: taken for capture gaps.',
    lossCounter: 'skipped bytes where no body was due',
    points: (s) => one(s.exchanges.skipMismatches),
  },
  // --- HTTP and exchanges ---
  {
    name: 'tlsotel.http.parse_errors',
    kind: 'counter',
    unit: '{error}',
    description: 'HTTP/1.x parse errors, by reason (invalid, too-large, gap, truncated).',
    // lossCounters() sums invalid + too-large + gap; 'truncated' is also reported as a cut-short exchange.
    lossCounter: 'HTTP parse errors',
    points: (s) => byReason(PARSE_ERROR_REASONS, s.exchanges.parseErrors),
  },
  {
    name: 'tlsotel.http.unpaired_responses',
    kind: 'counter',
    unit: '{response}',
    description: 'HTTP responses with no request to pair with.',
    lossCounter: 'responses without request',
    points: (s) => one(s.exchanges.unpairedResponses),
  },
  {
    name: 'tlsotel.exchanges',
    kind: 'counter',
    unit: '{exchange}',
    description: 'HTTP exchanges reported (one span each), complete or not.',
    points: (s) => one(s.exchanges.exchanges),
  },
  {
    name: 'tlsotel.exchanges.cut_short',
    kind: 'counter',
    unit: '{exchange}',
    description: 'Exchanges reported with an error (src/exchange/error-kind.ts), by reason.',
    // Keyed by ERROR_KINDS[kind].reason: a fixed set.
    points: (s) => Object.entries(s.exchanges.cutShort).map(([reason, value]) => ({ value, attributes: { reason } })),
  },
  {
    name: 'tlsotel.exchanges.dropped_at_stop',
    kind: 'counter',
    unit: '{exchange}',
    description: 'Requests still waiting for a response when the agent stopped: not reported.',
    points: (s) => one(s.exchanges.droppedAtStop),
  },
  // --- Spans and export ---
  {
    name: 'tlsotel.spans.exported',
    kind: 'counter',
    unit: '{span}',
    description: 'Spans the backend accepted.',
    points: (s) => one(s.sink.exported),
  },
  {
    name: 'tlsotel.spans.dropped',
    kind: 'counter',
    unit: '{span}',
    description: 'Spans dropped because the export queue was full.',
    lossCounter: 'spans dropped (queue full)',
    points: (s) => one(s.sink.dropped),
  },
  {
    name: 'tlsotel.spans.failed',
    kind: 'counter',
    unit: '{span}',
    description: 'Spans given up on after export failed (non-retryable error, or still failing at shutdown).',
    lossCounter: 'spans failed to export',
    points: (s) => one(s.sink.failed),
  },
  {
    name: 'tlsotel.spans.export_retries',
    kind: 'counter',
    unit: '{request}',
    description: 'Span export requests that failed and were retried.',
    points: (s) => one(s.sink.retries),
  },
  {
    name: 'tlsotel.spans.build_errors',
    kind: 'counter',
    unit: '{exchange}',
    description: 'Exchanges for which no span could be built (internal error).',
    lossCounter: 'span build errors',
    points: (s) => one(s.buildErrors),
  },
  {
    name: 'tlsotel.spans.sampled_out',
    kind: 'counter',
    unit: '{span}',
    description: 'Spans not exported because sampling dropped them (OTEL_TRACES_SAMPLER); not a loss.',
    points: (s) => one(s.sampling?.sampledOut ?? 0),
  },
  {
    name: 'tlsotel.metrics.series',
    kind: 'updowncounter',
    unit: '{series}',
    description: 'RED metric series kept now (overflow series included), over every metric family.',
    points: (s) => one(s.metrics?.series ?? 0),
  },
  {
    name: 'tlsotel.metrics.folded',
    kind: 'counter',
    unit: '{exchange}',
    description: 'Exchanges recorded in an overflow series (otel.metric.overflow=true), by the bound they passed (route, series).',
    points: (s) => [
      { value: s.metrics?.folded.route ?? 0, attributes: { reason: 'route' } },
      { value: s.metrics?.folded.series ?? 0, attributes: { reason: 'series' } },
    ],
  },
  {
    name: 'tlsotel.metrics.record_errors',
    kind: 'counter',
    unit: '{exchange}',
    description: 'Exchanges that could not be recorded in the RED metrics (internal error).',
    lossCounter: 'metric recording errors',
    points: (s) => one(s.metrics?.recordErrors ?? 0),
  },
  {
    name: 'tlsotel.spans.queued',
    kind: 'updowncounter',
    unit: '{span}',
    description: 'Spans waiting, retrying or in flight in the export queue now.',
    points: (s) => one(s.sink.queued),
  },
];
