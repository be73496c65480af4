// Why an exchange did not complete normally: one kind per cause, and one table that every
// consumer reads (span status message and error.type, the agent's loss counters and metrics).
// Code acts on the kind; the sentence is derived from it and never parsed back.

/** Why an exchange was cut short, or what is wrong with the part of it that was seen. */
export const enum ErrorKind {
  /** The connection closed (SSL_free, TLS close) before the response began. */
  ClosedBeforeResponse,
  /** The connection closed in the middle of a message. */
  ClosedMidMessage,
  /** The traced process exited with the exchange in progress. */
  ProcessExited,
  /** No response within --response-timeout. */
  ResponseTimeout,
  /** The agent's connection table was full and this connection was the oldest. */
  ConnectionEvicted,
  /** The agent stopped with the exchange in progress. */
  AgentStopped,
  /** Bytes of the exchange were not captured (ring buffer full, cap, unreadable memory). */
  CaptureGap,
  /** A message did not parse. */
  InvalidMessage,
  /** A start line or header block was over the parser's limit: cut, the rest unknown. */
  MessageTooLarge,
  /** The parser skipped bytes to find its way after invalid input; this request's response
   *  was among them. */
  SkippedAfterInvalid,
  /** More requests waited for responses on one connection than the agent keeps. */
  TooManyPending,
  /** HTTP/2: the stream was reset (RST_STREAM). */
  StreamReset,
  /** HTTP/2: the connection was shut down (GOAWAY) before the stream completed. */
  GoAway,
}

export interface ErrorKindInfo {
  /** The span's error.type (low cardinality, semconv style). */
  errorType: string;
  /** The span status message, and the sentence in logs. */
  message: string;
  /** Label of the agent's own counter and metric attribute (tlsotel.exchanges.cut_short). */
  reason: string;
  /** True when the cause is the agent's (it lost or gave up data), not the traced program's:
   *  an exchange that did get its response is then not an error of the application. */
  agentLoss: boolean;
}

export const ERROR_KINDS: Readonly<Record<ErrorKind, ErrorKindInfo>> = Object.freeze({
  [ErrorKind.ClosedBeforeResponse]: { errorType: 'connection_closed', message: 'connection closed before response', reason: 'closed-before-response', agentLoss: false },
  [ErrorKind.ClosedMidMessage]: { errorType: 'connection_closed', message: 'connection closed mid-message', reason: 'closed-mid-message', agentLoss: false },
  [ErrorKind.ProcessExited]: { errorType: 'process_exited', message: 'process exited', reason: 'process-exited', agentLoss: false },
  [ErrorKind.ResponseTimeout]: { errorType: 'timeout', message: 'response timeout', reason: 'response-timeout', agentLoss: false },
  [ErrorKind.ConnectionEvicted]: { errorType: 'tlsotel_connection_evicted', message: 'connection evicted (agent connection limit)', reason: 'connection-evicted', agentLoss: true },
  [ErrorKind.AgentStopped]: { errorType: 'tlsotel_agent_stopped', message: 'agent stopped', reason: 'agent-stopped', agentLoss: true },
  [ErrorKind.CaptureGap]: { errorType: 'capture_gap', message: 'capture gap', reason: 'capture-gap', agentLoss: true },
  [ErrorKind.InvalidMessage]: { errorType: 'protocol_error', message: 'invalid HTTP', reason: 'invalid-http', agentLoss: false },
  [ErrorKind.MessageTooLarge]: { errorType: 'message_too_large', message: 'message head over the parser limit', reason: 'too-large', agentLoss: true },
  [ErrorKind.SkippedAfterInvalid]: { errorType: 'protocol_error', message: 'messages skipped after invalid HTTP', reason: 'skipped-after-invalid', agentLoss: true },
  [ErrorKind.TooManyPending]: { errorType: 'tlsotel_too_many_pending', message: 'too many requests without response', reason: 'too-many-pending', agentLoss: true },
  [ErrorKind.StreamReset]: { errorType: 'stream_reset', message: 'stream reset', reason: 'stream-reset', agentLoss: false },
  [ErrorKind.GoAway]: { errorType: 'goaway', message: 'connection shut down (GOAWAY) before the stream completed', reason: 'goaway', agentLoss: false },
});

/** Every kind, in enum order (for counters keyed by kind). */
export const ALL_ERROR_KINDS: readonly ErrorKind[] = Object.keys(ERROR_KINDS).map(Number) as ErrorKind[];

/** "invalid HTTP (bad header)": the kind's message, with the detail the protocol gave. */
export function errorMessage(kind: ErrorKind, detail?: string): string {
  const m = ERROR_KINDS[kind].message;
  return detail ? `${m} (${detail})` : m;
}
