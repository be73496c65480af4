// Byte streams → HTTP exchanges: one HTTP/1.x parser per connection and direction; requests
// queue in order, and each final response takes the oldest request (HTTP/1.x answers in order,
// also when pipelined). The process that wrote the request is the CLIENT, the one that read it
// the SERVER. An exchange cut short (connection closed, process exited, no response in time)
// still becomes an Exchange, with `error` saying why.
import type { Direction } from '../capture/record';
import type { CloseReason, Connection, GapReason, StreamSink } from '../capture/streams';
import { Http1Parser } from '../protocol/http1/parser';
import type { HttpMessage, ParseError, ParseErrorReason } from '../protocol/http1/types';
import type { ConnectionAddresses, Exchange, ProcessInfo } from './types';

export interface ExchangeOptions {
  /** A request with no response after this long is reported as cut short ('response timeout'). */
  responseTimeoutMs?: number;
  /** Requests waiting for a response per connection; beyond it the oldest is given up. */
  maxPendingPerConnection?: number;
  /** Identity of a process (read when its first connection is seen, while it still runs). */
  processInfo(pid: number, comm: string): ProcessInfo;
  /** Exchanges of a connection whose addresses are not known yet wait this long for them (the
   *  socket of a memory-BIO program such as node is found only after its first write). */
  addressWaitMs?: number;
  /** Called once per connection when its addresses are known (its side may not be yet: the
   *  socket is often found inside the first SSL call, before its data is seen). */
  onConnection?(connectionId: string, addresses: ConnectionAddresses): void;
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

export const EXCHANGE_DEFAULTS = { responseTimeoutMs: 60_000, maxPendingPerConnection: 64, addressWaitMs: 250 };

interface Pending {
  request: HttpMessage;
  /** 1 for the connection's first request, 2 for the next… */
  ordinal: number;
  /** The request was cut by a capture gap: its exchange carries that error. */
  error?: string;
}

interface ConnState {
  info: ProcessInfo;
  parsers: Record<Direction, Http1Parser>;
  /** Which side this process is, known from the first request seen. */
  kind?: 'client' | 'server';
  pending: Pending[];
  /** Methods of requests already given up (timed out, over the limit) whose responses are still
   *  to come: those responses are skipped, but framed by the right method (HEAD has no body). */
  owed: Array<string | undefined>;
  notHttp: boolean;
  /** Requests seen on the connection so far. */
  requests: number;
  /** Exchanges waiting for the connection's addresses, oldest first. */
  held: Exchange[];
  /** onConnection was called. */
  announced: boolean;
  /** A capture gap may have swallowed whole messages, or the parser skipped some to find its
   *  way after bytes it could not parse: responses are paired by time, not by order, until the
   *  queue of waiting requests is empty again. Set, it is the error of a request found to have
   *  lost its response. */
  outOfSync: string | undefined;
  /** When each direction last lost bytes it could not frame (a parse 'gap'). */
  gapNs: Record<Direction, bigint>;
}

const CLOSE_ERRORS: Record<CloseReason, string> = {
  closed: 'connection closed before response',
  'process-exited': 'process exited',
  idle: 'response timeout',
  evicted: 'connection evicted',
  'agent-stopped': 'agent stopped',
};

export class ExchangeTracker implements StreamSink {
  /** The parsers copy what they keep of a payload (an unfinished line), nothing else is kept:
   *  Capture can hand over views of its ring buffer (see CaptureSink.keepsPayloads). */
  readonly keepsPayloads = false;
  private readonly responseTimeoutNs: bigint;
  private readonly maxPending: number;
  private readonly addressWaitNs: bigint;
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
    this.addressWaitNs = BigInt(opts.addressWaitMs ?? EXCHANGE_DEFAULTS.addressWaitMs) * 1_000_000n;
  }

  onAddresses(c: Connection): void {
    const st = this.state(c);
    this.announce(c, st);
    this.release(st, c.addresses);
  }

  onData(c: Connection, dir: Direction, data: Buffer, tsNs: bigint): void {
    const st = this.state(c);
    if (!st.notHttp) st.parsers[dir].execute(data, tsNs);
  }

  onGap(c: Connection, dir: Direction, bytes: number, tsNs: bigint, _reason: GapReason): void {
    const st = this.state(c);
    if (st.notHttp) return;
    st.parsers[dir].gap(bytes, tsNs);
    // Whole messages may have been inside the gap (the parser cannot say so when the gap falls
    // between messages): pair by time until the queue drains.
    st.outOfSync = 'capture gap';
    if (tsNs > st.gapNs[dir]) st.gapNs[dir] = tsNs;
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
    this.release(st, c.addresses);
    c.state = undefined;
  }

  /** Gives up requests that have waited longer than the response timeout, and stops waiting
   *  for addresses that did not come. */
  expire(nowNs: bigint): void {
    for (const c of this.live) {
      const st = c.state as ConnState;
      if (st.held.length && nowNs - st.held[0].endNs > this.addressWaitNs) this.release(st, c.addresses);
      while (st.pending.length && nowNs - st.pending[0].request.endNs > this.responseTimeoutNs) {
        const p = st.pending.shift()!;
        this.giveUp(c, st, p, p.error ?? 'response timeout', nowNs);
      }
    }
  }

  stats(): ExchangeStats {
    return { ...this.s, cutShort: { ...this.s.cutShort }, parseErrors: { ...this.s.parseErrors } };
  }

  private state(c: Connection): ConnState {
    const st = c.state as ConnState | undefined;
    // Creation is a separate call: run once per connection, it is not inlined into the
    // per-record path, which then does not depend on processInfo and the parsers' callbacks.
    return st !== undefined ? st : this.newState(c);
  }

  private newState(c: Connection): ConnState {
    let st: ConnState | undefined = undefined;
    const make = (dir: Direction) => new Http1Parser({
      onMessage: (m) => this.message(c, st!, dir, m),
      onError: (e) => this.error(c, st!, dir, e),
      methodForResponse: () => (st!.owed.length > 0 ? st!.owed[0] : st!.pending[0]?.request.method),
    });
    st = {
      info: this.opts.processInfo(c.pid, c.comm),
      parsers: { write: make('write'), read: make('read') },
      kind: undefined, // set by the first request; present from the start (one hidden class)
      pending: [],
      owed: [],
      notHttp: false,
      requests: 0,
      held: [],
      announced: false,
      outOfSync: undefined,
      gapNs: { write: -1n, read: -1n },
    };
    c.state = st;
    this.live.add(c);
    return st;
  }

  private message(c: Connection, st: ConnState, dir: Direction, m: HttpMessage): void {
    if (m.kind === 'request') {
      this.sideIs(st, dir);
      st.pending.push({ request: m, ordinal: ++st.requests, error: undefined }); // same shape as with an error
      if (st.pending.length > this.maxPending) this.giveUp(c, st, st.pending.shift()!, 'too many requests without response', m.startNs);
      return;
    }
    const p = this.answered(c, st, m);
    if (p) this.emit(c, st, p, m, p.error ?? (m.incomplete ? 'capture gap' : undefined), m.endNs);
  }

  /** The first request's direction says which side of the connection this process is. */
  private sideIs(st: ConnState, dir: Direction): void {
    st.kind ??= dir === 'write' ? 'client' : 'server';
  }

  private announce(c: Connection, st: ConnState): void {
    if (st.announced || !c.addresses) return;
    st.announced = true;
    this.opts.onConnection?.(c.id, c.addresses);
  }

  /** Hands on the exchanges that were waiting for addresses (with them, if known now). */
  private release(st: ConnState, addresses: ConnectionAddresses | undefined): void {
    for (const ex of st.held.splice(0)) {
      if (addresses) ex.addresses = addresses;
      this.onExchange(ex);
    }
  }

  /** The pending request a (possibly partial) response answers; undefined for an interim
   *  response, for the answer to a request already given up, and when there is none. */
  private answered(c: Connection, st: ConnState, m: HttpMessage): Pending | undefined {
    const code = m.statusCode ?? 0;
    if (code >= 100 && code < 200 && code !== 101) return undefined; // interim: the final response follows
    if (st.owed.length > 0) {
      st.owed.shift(); // the answer to a request already reported as cut short
      return undefined;
    }
    const lostWhy = st.outOfSync;
    if (lostWhy !== undefined) {
      // Requests or responses may have been lost: a response answers the newest request that
      // was complete before the response began; older ones lost their responses.
      let i = st.pending.length - 1;
      while (i >= 0 && st.pending[i].request.endNs > m.startNs) i--;
      // Requests lost after that one (a gap in the request direction between its end and this
      // response) were sent after its response had come: this response answers one of them.
      const requestGap = st.gapNs[st.kind === 'server' ? 'read' : 'write'];
      if (i >= 0 && requestGap > st.pending[i].request.endNs && requestGap <= m.startNs) {
        for (const lost of st.pending.splice(0, i + 1)) this.cutShort(c, st, lost, lost.error ?? lostWhy, m.startNs);
        i = -1;
      }
      if (i < 0) {
        this.s.unpairedResponses++; // the answer to a request we never saw
        if (st.pending.length === 0) st.outOfSync = undefined;
        return undefined;
      }
      for (const lost of st.pending.splice(0, i)) this.cutShort(c, st, lost, lost.error ?? lostWhy, m.startNs);
    }
    const p = st.pending.shift();
    if (!p) this.s.unpairedResponses++;
    if (st.pending.length === 0) st.outOfSync = undefined;
    return p;
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
    if (partial) {
      const why = e.reason === 'gap' ? 'capture gap' : e.reason === 'truncated' ? 'connection closed mid-message' : `invalid HTTP (${e.detail})`;
      if (partial.kind === 'request') {
        // Keep its place in the queue, or every later response would pair with the wrong request.
        this.sideIs(st, dir);
        st.pending.push({ request: partial, ordinal: ++st.requests, error: why });
      } else {
        const p = this.answered(c, st, partial);
        if (p) this.emit(c, st, p, partial, p.error ?? why, e.atNs);
      }
    }
    // The message cut short is known and was paired in order; what the gap swallowed after it
    // (whole messages, perhaps), or what the parser skipped to find the next start line after
    // bytes it could not parse, makes the order unreliable from here on.
    if (e.reason !== 'truncated') {
      // A capture gap explains more than a parse error does: it stays the reason once given.
      if (st.outOfSync !== 'capture gap') st.outOfSync = e.reason === 'gap' ? 'capture gap' : 'messages skipped after invalid HTTP';
      st.gapNs[dir] = e.atNs;
    }
  }

  /** Reports a request still waiting for its response as cut short; the response, if it comes
   *  later, is skipped (bounded: beyond maxPending the oldest is forgotten). */
  private giveUp(c: Connection, st: ConnState, p: Pending, error: string, endNs: bigint): void {
    st.owed.push(p.request.method);
    if (st.owed.length > this.maxPending) st.owed.shift();
    this.cutShort(c, st, p, error, endNs);
  }

  private cutShort(c: Connection, st: ConnState, p: Pending, error: string, endNs: bigint): void {
    this.emit(c, st, p, undefined, error, endNs > p.request.endNs ? endNs : p.request.endNs);
  }

  private emit(c: Connection, st: ConnState, p: Pending, response: HttpMessage | undefined, error: string | undefined, endNs: bigint): void {
    if (error) this.s.cutShort[error] = (this.s.cutShort[error] ?? 0) + 1;
    this.s.exchanges++;
    const ex: Exchange = {
      kind: st.kind ?? 'client',
      process: st.info,
      connectionId: c.id,
      scheme: 'https',
      request: p.request,
      response,
      startNs: p.request.startNs,
      endNs: response ? response.endNs : endNs,
      error,
      ordinal: p.ordinal,
      // Always present (undefined until known), so every exchange has one hidden class.
      addresses: c.addresses,
    };
    // Without addresses yet, wait a little (in order) unless nothing could bring them any more.
    if ((!c.addresses && this.addressWaitNs > 0n && c.state === st) || st.held.length) st.held.push(ex);
    else this.onExchange(ex);
  }
}

// Keeps the tracker's hidden class alive with no tracker in use (see keptForShape in
// src/protocol/http1/parser.ts): otherwise code optimized for it is dropped at the next full GC.
export const keptForShape: readonly object[] = [
  new ExchangeTracker(() => {}, { processInfo: (pid, comm) => ({ pid, comm, exeName: comm, exePath: '', serviceName: comm }) }),
];
