// Byte streams → HTTP exchanges: one HTTP/1.x parser per connection and direction; requests
// queue in order, and each final response takes the oldest request (HTTP/1.x answers in order,
// also when pipelined). The process that wrote the request is the CLIENT, the one that read it
// the SERVER. An exchange cut short (connection closed, process exited, no response in time)
// still becomes an Exchange, with `error` saying why.
import type { Direction } from '../capture/record';
import type { CloseReason, Connection, GapReason, StreamSink } from '../capture/streams';
import { Http1Parser } from '../protocol/http1/parser';
import type { HttpMessage, ParseError, ParseErrorReason } from '../protocol/http1/types';
import type { Exchange, ProcessInfo } from './types';

export interface ExchangeOptions {
  /** A request with no response after this long is reported as cut short ('response timeout'). */
  responseTimeoutMs?: number;
  /** Requests waiting for a response per connection; beyond it the oldest is given up. */
  maxPendingPerConnection?: number;
  /** Identity of a process (read when its first connection is seen, while it still runs). */
  processInfo(pid: number, comm: string): ProcessInfo;
}

export interface ExchangeStats {
  exchanges: number;
  /** Exchanges reported with an error because they did not complete, by reason. */
  cutShort: Record<string, number>;
  /** Responses with no request to pair with (connection joined mid-way, or request lost). */
  unpairedResponses: number;
  /** Connections whose bytes are not HTTP/1.x (HTTP/2, other protocols, garbage). */
  notHttpConnections: number;
  parseErrors: Record<ParseErrorReason, number>;
  /** Requests pending when the agent stopped: not reported. */
  droppedAtStop: number;
}

export const EXCHANGE_DEFAULTS = { responseTimeoutMs: 60_000, maxPendingPerConnection: 64 };

interface Pending {
  request: HttpMessage;
  /** The request was cut by a capture gap: its exchange carries that error. */
  error?: string;
}

interface ConnState {
  info: ProcessInfo;
  parsers: Record<Direction, Http1Parser>;
  /** Which side this process is, known from the first request seen. */
  kind?: 'client' | 'server';
  pending: Pending[];
  /** Responses still owed to requests already given up (timed out): skipped when they come. */
  owed: number;
  notHttp: boolean;
}

const CLOSE_ERRORS: Record<CloseReason, string> = {
  closed: 'connection closed before response',
  'process-exited': 'process exited',
  idle: 'response timeout',
  evicted: 'connection evicted',
  'agent-stopped': 'agent stopped',
};

export class ExchangeTracker implements StreamSink {
  private readonly responseTimeoutNs: bigint;
  private readonly maxPending: number;
  private readonly live = new Set<Connection>();
  private readonly s: ExchangeStats = {
    exchanges: 0,
    cutShort: {},
    unpairedResponses: 0,
    notHttpConnections: 0,
    parseErrors: { 'not-http': 0, invalid: 0, 'too-large': 0, gap: 0, truncated: 0 },
    droppedAtStop: 0,
  };

  constructor(private readonly onExchange: (ex: Exchange) => void, private readonly opts: ExchangeOptions) {
    this.responseTimeoutNs = BigInt(opts.responseTimeoutMs ?? EXCHANGE_DEFAULTS.responseTimeoutMs) * 1_000_000n;
    this.maxPending = opts.maxPendingPerConnection ?? EXCHANGE_DEFAULTS.maxPendingPerConnection;
  }

  onData(c: Connection, dir: Direction, data: Buffer, tsNs: bigint): void {
    const st = this.state(c);
    if (!st.notHttp) st.parsers[dir].execute(data, tsNs);
  }

  onGap(c: Connection, dir: Direction, bytes: number, tsNs: bigint, _reason: GapReason): void {
    const st = this.state(c);
    if (!st.notHttp) st.parsers[dir].gap(bytes, tsNs);
  }

  onClose(c: Connection, reason: CloseReason, tsNs: bigint): void {
    const st = c.state as ConnState | undefined;
    if (!st) return;
    this.live.delete(c);
    if (!st.notHttp) {
      // End of stream completes close-delimited responses before anything is given up.
      st.parsers.write.finish(tsNs);
      st.parsers.read.finish(tsNs);
    }
    if (reason === 'agent-stopped') {
      this.s.droppedAtStop += st.pending.length;
    } else {
      for (const p of st.pending) this.cutShort(c, st, p, p.error ?? CLOSE_ERRORS[reason], tsNs);
    }
    st.pending.length = 0;
    c.state = undefined;
  }

  /** Gives up requests that have waited longer than the response timeout. */
  expire(nowNs: bigint): void {
    for (const c of this.live) {
      const st = c.state as ConnState;
      while (st.pending.length && nowNs - st.pending[0].request.endNs > this.responseTimeoutNs) {
        const p = st.pending.shift()!;
        st.owed++;
        this.cutShort(c, st, p, p.error ?? 'response timeout', nowNs);
      }
    }
  }

  stats(): ExchangeStats {
    return { ...this.s, cutShort: { ...this.s.cutShort }, parseErrors: { ...this.s.parseErrors } };
  }

  private state(c: Connection): ConnState {
    let st = c.state as ConnState | undefined;
    if (st) return st;
    const make = (dir: Direction) => new Http1Parser({
      onMessage: (m) => this.message(c, st!, dir, m),
      onError: (e) => this.error(c, st!, dir, e),
      methodForResponse: () => st!.pending[0]?.request.method,
    });
    st = {
      info: this.opts.processInfo(c.pid, c.comm),
      parsers: { write: make('write'), read: make('read') },
      pending: [],
      owed: 0,
      notHttp: false,
    };
    c.state = st;
    this.live.add(c);
    return st;
  }

  private message(c: Connection, st: ConnState, dir: Direction, m: HttpMessage): void {
    if (m.kind === 'request') {
      st.kind ??= dir === 'write' ? 'client' : 'server';
      st.pending.push({ request: m });
      if (st.pending.length > this.maxPending) this.cutShort(c, st, st.pending.shift()!, 'too many requests without response', m.startNs);
      return;
    }
    const code = m.statusCode ?? 0;
    if (code >= 100 && code < 200 && code !== 101) return; // interim: the final response follows
    if (st.owed > 0) {
      st.owed--; // the answer to a request already reported as timed out
      return;
    }
    const p = st.pending.shift();
    if (!p) {
      this.s.unpairedResponses++;
      return;
    }
    this.emit(c, st, p.request, m, p.error ?? (m.incomplete ? 'capture gap' : undefined), m.endNs);
  }

  private error(c: Connection, st: ConnState, dir: Direction, e: ParseError): void {
    this.s.parseErrors[e.reason]++;
    if (e.reason === 'not-http') {
      // One protocol per connection: if one direction is not HTTP/1.x, neither is the other.
      if (!st.notHttp && st.pending.length === 0) {
        st.notHttp = true;
        this.s.notHttpConnections++;
      }
      return;
    }
    const partial = e.partial;
    if (!partial) return;
    const why = e.reason === 'gap' ? 'capture gap' : e.reason === 'truncated' ? 'connection closed mid-message' : `invalid HTTP (${e.detail})`;
    if (partial.kind === 'request') {
      // Keep its place in the queue, or every later response would pair with the wrong request.
      st.kind ??= dir === 'write' ? 'client' : 'server';
      st.pending.push({ request: partial, error: why });
      return;
    }
    const p = st.pending.shift();
    if (p) this.emit(c, st, p.request, partial, p.error ?? why, e.atNs);
    else this.s.unpairedResponses++;
  }

  private cutShort(c: Connection, st: ConnState, p: Pending, error: string, endNs: bigint): void {
    this.emit(c, st, p.request, undefined, error, endNs > p.request.endNs ? endNs : p.request.endNs);
  }

  private emit(c: Connection, st: ConnState, request: HttpMessage, response: HttpMessage | undefined, error: string | undefined, endNs: bigint): void {
    if (error) this.s.cutShort[error] = (this.s.cutShort[error] ?? 0) + 1;
    this.s.exchanges++;
    this.onExchange({
      kind: st.kind ?? 'client',
      process: st.info,
      connectionId: c.id,
      scheme: 'https',
      request,
      response,
      startNs: request.startNs,
      endNs: response ? response.endNs : endNs,
      error,
    });
  }
}
