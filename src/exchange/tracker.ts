// Byte streams → exchanges. Per connection: the protocol is detected from its first bytes
// (src/protocol/detect.ts), a protocol session pairs requests with responses, and each pair
// becomes a protocol-neutral Exchange with who made it (process, connection, library) and where
// (the socket's addresses, which may come a little after the first exchange). Connections of a
// protocol we do not parse are counted and ignored.
import type { CloseReason, Connection, GapReason, StreamSink } from '../capture/streams';
import type { Direction } from '../capture/record';
import { detect, DETECT_BYTES, Verdict, type ProtocolDetector } from '../protocol/detect';
import {
  ProtocolCounter, type ProtocolExchange, type ProtocolName, type ProtocolSession, type SessionOutput,
} from '../protocol/session';
import { ERROR_KINDS, ErrorKind } from './error-kind';
import type { ConnectionAddresses, Exchange, ProcessInfo } from './types';

export interface ExchangeOptions {
  /** A request with no response after this long is reported as cut short (ResponseTimeout). */
  responseTimeoutMs?: number;
  /** Requests waiting for a response per connection; beyond it the oldest is given up. */
  maxPendingPerConnection?: number;
  /** Identity of a process (read when its first connection is seen, while it still runs). */
  processInfo(pid: number, comm: string): ProcessInfo;
  /** Name of the TLS library behind a probed file id (records carry the id). */
  libraryOf?(libId: number): string | undefined;
  /** Exchanges of a connection whose addresses are not known yet wait this long for them (the
   *  socket of a memory-BIO program such as node is found only after its first write). */
  addressWaitMs?: number;
  /** Called once per connection when its addresses are known (its side may not be yet: the
   *  socket is often found inside the first TLS call, before its data is seen). */
  onConnection?(connectionId: string, addresses: ConnectionAddresses): void;
}

export interface ExchangeStats {
  exchanges: number;
  /** Exchanges reported with an error, by ERROR_KINDS[kind].reason. */
  cutShort: Record<string, number>;
  /** Responses with no request to pair with (connection joined mid-way, or request lost). */
  unpairedResponses: number;
  /** Connections by the protocol detected on them. */
  connections: Record<ProtocolName, number>;
  /** Connections whose bytes are no protocol we parse (other protocols, garbage): ignored. */
  otherProtocolConnections: number;
  parseErrors: { invalid: number; 'too-large': number; gap: number; truncated: number };
  /** Header blocks (or fields of them) that could not be decoded (HTTP/2 joined mid-way). */
  undecodableHeaders: number;
  /** Skipped (counted, not captured) bytes where no body was due: taken for gaps. */
  skipMismatches: number;
  /** Requests pending when the agent stopped: not reported. */
  droppedAtStop: number;
}

export const EXCHANGE_DEFAULTS = { responseTimeoutMs: 60_000, maxPendingPerConnection: 64, addressWaitMs: 250 };

const CLOSE_KINDS: Record<CloseReason, ErrorKind> = {
  closed: ErrorKind.ClosedBeforeResponse,
  'process-exited': ErrorKind.ProcessExited,
  idle: ErrorKind.ResponseTimeout,
  evicted: ErrorKind.ConnectionEvicted,
  'agent-stopped': ErrorKind.AgentStopped,
};

/** Bytes seen before the protocol was known, replayed to the session once it is. */
interface Early {
  dir: Direction;
  /** A copy of the bytes, or the size of a gap (or of skipped bytes: `skip`). */
  data: Buffer | number;
  tsNs: bigint;
  skip: boolean;
}

const enum Phase {
  Detecting,
  Active,
  Ignored,
}

/** A connection's state in this stage; also what its session reports to. */
class ConnState implements SessionOutput {
  phase = Phase.Detecting;
  session: ProtocolSession | undefined = undefined;
  /** Detection input per direction (copies, at most DETECT_BYTES each), and all of it in
   *  arrival order for the replay. */
  early: Early[] = [];
  heads: Record<Direction, Buffer | undefined> = { write: undefined, read: undefined };
  /** Exchanges waiting for the connection's addresses, oldest first. */
  held: Exchange[] = [];
  /** onConnection was called. */
  announced = false;

  constructor(readonly tracker: ExchangeTracker, readonly c: Connection, readonly info: ProcessInfo, public library: string | undefined) {}

  exchange(ex: ProtocolExchange): void {
    this.tracker.emit(this, ex);
  }

  count(counter: ProtocolCounter, n = 1): void {
    this.tracker.count(counter, n);
  }

  notMine(): void {
    if (this.phase === Phase.Ignored) return;
    this.phase = Phase.Ignored;
    this.session = undefined;
    this.tracker.ignored(this);
  }
}

export class ExchangeTracker implements StreamSink {
  /** Sessions copy what they keep of a payload (an unfinished line or frame), nothing else is
   *  kept: Capture can hand over views of its ring buffer (see CaptureSink.keepsPayloads). */
  readonly keepsPayloads = false;
  private readonly responseTimeoutNs: bigint;
  private readonly maxPending: number;
  private readonly addressWaitNs: bigint;
  private readonly live = new Set<Connection>();
  private readonly s: ExchangeStats = {
    exchanges: 0,
    cutShort: {},
    unpairedResponses: 0,
    connections: { 'http/1': 0, 'http/2': 0 },
    otherProtocolConnections: 0,
    parseErrors: { invalid: 0, 'too-large': 0, gap: 0, truncated: 0 },
    undecodableHeaders: 0,
    skipMismatches: 0,
    droppedAtStop: 0,
  };

  constructor(private readonly onExchange: (ex: Exchange) => void, private readonly opts: ExchangeOptions) {
    this.responseTimeoutNs = BigInt(opts.responseTimeoutMs ?? EXCHANGE_DEFAULTS.responseTimeoutMs) * 1_000_000n;
    this.maxPending = opts.maxPendingPerConnection ?? EXCHANGE_DEFAULTS.maxPendingPerConnection;
    this.addressWaitNs = BigInt(opts.addressWaitMs ?? EXCHANGE_DEFAULTS.addressWaitMs) * 1_000_000n;
  }

  onAddresses(c: Connection): void {
    const st = this.state(c);
    this.announce(st);
    this.release(st);
  }

  onData(c: Connection, dir: Direction, data: Buffer, tsNs: bigint): void {
    const st = this.state(c);
    if (st.phase === Phase.Active) st.session!.data(dir, data, tsNs);
    else if (st.phase === Phase.Detecting) this.detecting(st, dir, data, tsNs);
  }

  onGap(c: Connection, dir: Direction, bytes: number, tsNs: bigint, _reason: GapReason): void {
    const st = this.state(c);
    if (st.phase === Phase.Active) st.session!.gap(dir, bytes, tsNs);
    else if (st.phase === Phase.Detecting && st.early.length > 0) st.early.push({ dir, data: bytes, tsNs, skip: false });
    // A gap before any byte: the connection is joined mid-way; detection starts after it.
  }

  onSkip(c: Connection, dir: Direction, bytes: number, tsNs: bigint): void {
    const st = this.state(c);
    if (st.phase === Phase.Active) st.session!.skip(dir, bytes, tsNs);
    else if (st.phase === Phase.Detecting && st.early.length > 0) st.early.push({ dir, data: bytes, tsNs, skip: true });
    // Before any byte: as a gap there, nothing to frame them by.
  }

  onClose(c: Connection, reason: CloseReason, tsNs: bigint): void {
    const st = c.state as ConnState | undefined;
    if (st === undefined) return;
    this.live.delete(c);
    if (st.phase === Phase.Detecting && st.early.length > 0) this.decide(st, undefined); // too few bytes to tell
    if (st.session !== undefined) this.s.droppedAtStop += st.session.close(CLOSE_KINDS[reason], tsNs);
    st.session = undefined;
    c.state = undefined;
    this.release(st);
  }

  /** Gives up requests that have waited longer than the response timeout, and stops waiting
   *  for addresses that did not come. */
  expire(nowNs: bigint): void {
    const deadline = nowNs - this.responseTimeoutNs;
    for (const c of this.live) {
      const st = c.state as ConnState;
      if (st.held.length > 0 && nowNs - st.held[0].endNs > this.addressWaitNs) this.release(st);
      st.session?.expire(deadline, nowNs);
    }
  }

  stats(): ExchangeStats {
    const s = this.s;
    return { ...s, cutShort: { ...s.cutShort }, connections: { ...s.connections }, parseErrors: { ...s.parseErrors } };
  }

  /** A session's report (ConnState.exchange). */
  emit(st: ConnState, p: ProtocolExchange): void {
    const c = st.c;
    if (p.error !== undefined) {
      const reason = ERROR_KINDS[p.error].reason;
      this.s.cutShort[reason] = (this.s.cutShort[reason] ?? 0) + 1;
    }
    this.s.exchanges++;
    // Completed in place: the session made the object with these slots (ProtocolExchange).
    const ex = p as Exchange;
    ex.process = st.info;
    ex.connectionId = c.id;
    // A connection first seen by its socket (a conn record, from the syscall hook) learns its
    // library with its first data record.
    ex.library = st.library ??= c.libId ? this.opts.libraryOf?.(c.libId) : undefined;
    ex.addresses = c.addresses;
    // Without addresses yet, wait a little (in order) unless nothing could bring them any more.
    if ((c.addresses === undefined && this.addressWaitNs > 0n && c.state === st) || st.held.length > 0) st.held.push(ex);
    else this.onExchange(ex);
  }

  /** A session's counter (ConnState.count). */
  count(counter: ProtocolCounter, n: number): void {
    const s = this.s;
    switch (counter) {
      case ProtocolCounter.InvalidMessages: s.parseErrors.invalid += n; break;
      case ProtocolCounter.TooLarge: s.parseErrors['too-large'] += n; break;
      case ProtocolCounter.GapErrors: s.parseErrors.gap += n; break;
      case ProtocolCounter.Truncated: s.parseErrors.truncated += n; break;
      case ProtocolCounter.UnpairedResponses: s.unpairedResponses += n; break;
      case ProtocolCounter.UndecodableHeaders: s.undecodableHeaders += n; break;
      case ProtocolCounter.SkipMismatches: s.skipMismatches += n; break;
    }
  }

  /** A session found its connection is not its protocol (ConnState.notMine). */
  ignored(st: ConnState): void {
    this.s.otherProtocolConnections++;
    st.early = [];
  }

  private state(c: Connection): ConnState {
    const st = c.state as ConnState | undefined;
    // Creation is a separate call: run once per connection, it is not inlined into the
    // per-record path.
    return st !== undefined ? st : this.newState(c);
  }

  private newState(c: Connection): ConnState {
    const st = new ConnState(this, c, this.opts.processInfo(c.pid, c.comm), this.opts.libraryOf?.(c.libId));
    c.state = st;
    this.live.add(c);
    if (c.addresses !== undefined) this.announce(st);
    return st;
  }

  /** Bytes of a connection whose protocol is not known yet. */
  private detecting(st: ConnState, dir: Direction, data: Buffer, tsNs: bigint): void {
    const had = st.heads[dir];
    const head = had === undefined
      ? data.subarray(0, DETECT_BYTES)
      : Buffer.concat([had, data.subarray(0, DETECT_BYTES - had.length)]);
    const found = detect(dir, head);
    if (found === Verdict.Maybe) {
      // Kept until more bytes come: copies (the caller's buffer may be the ring's).
      st.heads[dir] = Buffer.from(head);
      st.early.push({ dir, data: Buffer.from(data), tsNs, skip: false });
      this.bound(st);
      return;
    }
    // Replayed at once, within this call: no copy needed.
    st.early.push({ dir, data, tsNs, skip: false });
    this.decide(st, found === Verdict.No ? undefined : found);
  }

  /** Early bytes are kept only while detection needs them (DETECT_BYTES a direction): past
   *  that, detection has decided. A direction that keeps sending short chunks is bounded too. */
  private bound(st: ConnState): void {
    let n = 0;
    for (const e of st.early) n += typeof e.data === 'number' ? 0 : e.data.length;
    if (n > 4 * DETECT_BYTES) this.decide(st, undefined);
  }

  private decide(st: ConnState, detector: ProtocolDetector | undefined): void {
    const early = st.early;
    st.early = [];
    st.heads = { write: undefined, read: undefined };
    if (detector === undefined) {
      st.phase = Phase.Ignored;
      this.s.otherProtocolConnections++;
      return;
    }
    this.s.connections[detector.protocol]++;
    const session = detector.create(st, { maxPending: this.maxPending });
    st.session = session;
    st.phase = Phase.Active;
    for (const e of early) {
      if (st.phase !== Phase.Active) break; // the session gave the connection up
      if (typeof e.data !== 'number') session.data(e.dir, e.data, e.tsNs);
      else if (e.skip) session.skip(e.dir, e.data, e.tsNs);
      else session.gap(e.dir, e.data, e.tsNs);
    }
  }

  private announce(st: ConnState): void {
    const c = st.c;
    if (st.announced || c.addresses === undefined) return;
    st.announced = true;
    this.opts.onConnection?.(c.id, c.addresses);
  }

  /** Hands on the exchanges that were waiting for addresses (with them, if known now). */
  private release(st: ConnState): void {
    if (st.held.length === 0) return;
    const addresses = st.c.addresses;
    for (const ex of st.held.splice(0)) {
      if (addresses !== undefined) ex.addresses = addresses;
      this.onExchange(ex);
    }
  }
}

// Keeps the tracker's hidden class alive with no tracker in use (see keptForShape in
// src/protocol/http1/parser.ts): otherwise code optimized for it is dropped at the next full GC.
export const keptForShape: readonly object[] = [
  new ExchangeTracker(() => {}, { processInfo: (pid, comm) => ({ pid, comm, exeName: comm, exePath: '', serviceName: comm }) }),
];
