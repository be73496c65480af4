// Turns ring buffer records into ordered byte streams: per connection (pid + SSL*), per
// direction. Records of one connection arrive in order (an SSL object's calls are serialised by
// its owner, and the ring keeps reservation order), so there is no reordering; the work is
// noticing what is missing and saying so:
//   - whole calls lost because the ring was full (the BPF side reports them on the next record),
//   - the tail of a call beyond the capture cap (the record flagged last ends before call_len),
//   - segments lost or unreadable in the middle of a call.
// Each becomes an explicit gap of a known size, never bytes glued together. Bytes the BPF side
// counted instead of copying (body skipping: DataRecord.skipped) are handed on as such: the
// sink decides whether they are the body bytes it expects, or a gap.
//
// Memory is bounded: no payload is buffered here (data is passed on as it arrives, possibly as a
// view into the ring: see CaptureSink.keepsPayloads), the number of connections is capped, idle
// ones are evicted, and a process's connections go when it exits.
import type { ConnectionAddresses, DataRecord, Direction, TlsRecord } from './record';

/** 'skipped': body bytes counted, not copied, by the BPF side, for a sink that takes no skips. */
export type GapReason = 'ring-full' | 'truncated' | 'not-captured' | 'skipped';
export type CloseReason = 'closed' | 'process-exited' | 'idle' | 'evicted' | 'agent-stopped';

export interface Connection {
  /** "pid:ssl-pointer-hex", unique while the connection lives. */
  id: string;
  pid: number;
  conn: bigint;
  comm: string;
  libId: number;
  firstNs: bigint;
  lastNs: bigint;
  /** Bytes seen and bytes known missing, per direction. */
  bytes: { write: number; read: number };
  missing: { write: number; read: number };
  /** The TCP socket's addresses, once the BPF side has found them. */
  addresses?: ConnectionAddresses;
  /** For the next stage's per-connection state (parsers, pending exchanges). */
  state?: unknown;
}

export interface StreamSink {
  /** `data` is the record's payload; from Capture, valid only during the call when the sink
   *  declared keepsPayloads: false (a view of the ring buffer). */
  onData(c: Connection, dir: Direction, data: Buffer, tsNs: bigint): void;
  onGap(c: Connection, dir: Direction, bytes: number, tsNs: bigint, reason: GapReason): void;
  /**
   * `bytes` of the stream, right after the last onData, were counted by the BPF side as HTTP/1
   * body bytes instead of being copied. Only a parser knows whether a body is due there: the
   * sink accepts them as body bytes or takes them for a gap. A sink without onSkip gets them
   * as a gap ('skipped').
   */
  onSkip?(c: Connection, dir: Direction, bytes: number, tsNs: bigint): void;
  onClose(c: Connection, reason: CloseReason, tsNs: bigint): void;
  /** The connection's addresses became known (c.addresses). */
  onAddresses?(c: Connection): void;
}

export interface StreamOptions {
  /** Connections tracked at once; the oldest is evicted beyond it. */
  maxConnections?: number;
  /** A connection with no record for this long is closed ('idle'). */
  idleTimeoutMs?: number;
  /** What a connection lost and has not reported yet (the BPF side's `lost` and `owed_closes`
   *  maps), taken when it ends with no record to say so (its process exited, it went idle). */
  pendingLoss?: (pid: number, conn: bigint) => PendingLoss | undefined;
  /** The close a connection owes (the BPF side's `owed_closes`), taken (see settleOwedCloses). */
  owedClose?: (pid: number, conn: bigint) => PendingLoss | undefined;
}

/** Losses of a connection not reported by any record yet (struct lost_val). */
export interface PendingLoss {
  /** Bytes of whole calls lost, by direction. */
  written: number;
  read: number;
  /** Non-zero: the connection was freed at this time, and its close record (with what it lost
   *  before, closedWritten and closedRead) did not fit in the ring; written and read are then
   *  a later connection's at the same address. */
  closedNs: bigint;
  closedWritten: number;
  closedRead: number;
}

export interface StreamStats {
  connections: number;
  opened: number;
  closed: Record<CloseReason, number>;
  gaps: Record<GapReason, number>;
  gapBytes: Record<GapReason, number>;
  records: number;
  bytes: number;
  /** Bytes the BPF side counted instead of copying (body skipping), and in how many records. */
  skippedBytes: number;
  skips: number;
  /** Connections ended by a close the BPF side owed, taken by the agent (settleOwedCloses, a
   *  process exit, idle) rather than sent before the address's next record. */
  owedClosesTaken: number;
}

interface CallState {
  open: boolean;
  tsNs: bigint;
  callLen: number;
  covered: number;
}

interface Tracked extends Connection {
  calls: { write: CallState; read: CallState };
  /** Next connection with the same SSL* in another process (forked servers share heap layouts). */
  samePtr: Tracked | undefined;
}

export const STREAM_DEFAULTS = { maxConnections: 16384, idleTimeoutMs: 300_000 };

export class StreamTable {
  /** By id; Map order is creation order, which eviction relies on. */
  private readonly conns = new Map<string, Tracked>();
  /** By SSL* (then pid, along samePtr): found per record without building the id string. */
  private readonly byPtr = new Map<bigint, Tracked>();
  /** The connection of the previous record (see push). */
  private last: Tracked | undefined;
  private readonly maxConnections: number;
  private readonly pendingLoss: StreamOptions['pendingLoss'];
  private readonly owedClose: StreamOptions['owedClose'];
  private readonly idleTimeoutNs: bigint;
  private readonly s: StreamStats = {
    connections: 0,
    opened: 0,
    closed: { closed: 0, 'process-exited': 0, idle: 0, evicted: 0, 'agent-stopped': 0 },
    gaps: { 'ring-full': 0, truncated: 0, 'not-captured': 0, skipped: 0 },
    gapBytes: { 'ring-full': 0, truncated: 0, 'not-captured': 0, skipped: 0 },
    records: 0,
    bytes: 0,
    skippedBytes: 0,
    skips: 0,
    owedClosesTaken: 0,
  };

  constructor(private readonly sink: StreamSink, opts: StreamOptions = {}) {
    this.maxConnections = opts.maxConnections ?? STREAM_DEFAULTS.maxConnections;
    this.pendingLoss = opts.pendingLoss;
    this.owedClose = opts.owedClose;
    this.idleTimeoutNs = BigInt(opts.idleTimeoutMs ?? STREAM_DEFAULTS.idleTimeoutMs) * 1_000_000n;
  }

  push(rec: TlsRecord): void {
    if (rec.type === 'proc') return; // about a process, not a connection (Pipeline.handle)
    this.s.records++;
    // Records of many connections interleave in the ring, so the connection is looked up by
    // SSL* (a bigint key: no id string per record), the previous record's connection first.
    const last = this.last;
    let c = last !== undefined && last.conn === rec.conn && last.pid === rec.pid ? last : this.find(rec.pid, rec.conn);
    if (rec.type === 'close') {
      if (c === undefined) return;
      // Calls lost since the connection's last record: gaps where they were, before the end.
      if (rec.lostWritten !== undefined && rec.lostWritten > 0) this.lostCalls(c, 'write', rec.lostWritten, rec.tsNs);
      if (rec.lostRead !== undefined && rec.lostRead > 0) this.lostCalls(c, 'read', rec.lostRead, rec.tsNs);
      this.close(c, 'closed', rec.tsNs);
      return;
    }
    c ??= this.open(rec);
    this.last = c;
    // Writes are stamped at their entry: one that blocked may come after later reads.
    if (rec.tsNs > c.lastNs) c.lastNs = rec.tsNs;
    c.comm = rec.comm;
    if (!c.libId) c.libId = rec.libId; // a conn record (from the syscall hook) has no library
    if (rec.type === 'conn') {
      // Found once per connection; it may come before or after the first data.
      c.addresses = rec.addresses;
      this.sink.onAddresses?.(c);
      return;
    }
    this.data(c, rec);
  }

  /** Closes every connection of these processes (they exited). */
  processesExited(pids: number[], tsNs: bigint): void {
    const set = new Set(pids);
    for (const c of this.conns.values()) if (set.has(c.pid)) this.end(c, 'process-exited', tsNs);
  }

  /** Closes connections idle for longer than the idle timeout. */
  evictIdle(nowNs: bigint): void {
    for (const c of this.conns.values()) {
      if (nowNs - c.lastNs > this.idleTimeoutNs) this.end(c, 'idle', nowNs);
    }
  }

  /**
   * Ends the connections whose close record did not fit in the ring (the BPF side owes it, and
   * would send it only with the next record at that address, which may never come): after
   * close records were lost, each connection quiet for `quietNs` is looked up, at most `limit`
   * of them, quietest first. Returns how many were closed.
   */
  settleOwedCloses(nowNs: bigint, quietNs: bigint, limit: number): number {
    const owed = this.owedClose;
    if (owed === undefined) return 0;
    const quiet = [...this.conns.values()].filter((c) => nowNs - c.lastNs >= quietNs);
    if (quiet.length > limit) quiet.sort((a, b) => (a.lastNs < b.lastNs ? -1 : a.lastNs > b.lastNs ? 1 : 0)).length = limit;
    let closed = 0;
    for (const c of quiet) {
      const l = owed(c.pid, c.conn);
      if (l === undefined) continue;
      this.endOwed(c, l);
      closed++;
    }
    return closed;
  }

  /** It was closed at l.closedNs, having lost what l says: its close record is owed. */
  private endOwed(c: Tracked, l: PendingLoss): void {
    this.s.owedClosesTaken++;
    if (l.closedWritten > 0) this.lostCalls(c, 'write', l.closedWritten, l.closedNs);
    if (l.closedRead > 0) this.lostCalls(c, 'read', l.closedRead, l.closedNs);
    this.close(c, 'closed', l.closedNs);
  }

  /** Closes a connection that no record said was closed. Losses it did not report yet are
   *  gaps first; a close the BPF side still owes (its record did not fit in the ring) is the
   *  end it really had. */
  private end(c: Tracked, reason: CloseReason, tsNs: bigint): void {
    const l = this.pendingLoss?.(c.pid, c.conn);
    if (l !== undefined && l.closedNs > 0n) {
      this.endOwed(c, l);
      return;
    }
    if (l !== undefined && l.written > 0) this.lostCalls(c, 'write', l.written, tsNs);
    if (l !== undefined && l.read > 0) this.lostCalls(c, 'read', l.read, tsNs);
    this.close(c, reason, tsNs);
  }

  closeAll(reason: CloseReason, tsNs: bigint): void {
    for (const c of this.conns.values()) this.close(c, reason, tsNs);
  }

  /** Processes that have connections now. */
  pids(): number[] {
    const out = new Set<number>();
    for (const c of this.conns.values()) out.add(c.pid);
    return [...out];
  }

  get(id: string): Connection | undefined {
    return this.conns.get(id);
  }

  stats(): StreamStats {
    // A snapshot: the nested counters are copied too, so a later record cannot change it.
    const s = this.s;
    return { ...s, connections: this.conns.size, closed: { ...s.closed }, gaps: { ...s.gaps }, gapBytes: { ...s.gapBytes } };
  }

  private find(pid: number, conn: bigint): Tracked | undefined {
    let c = this.byPtr.get(conn);
    while (c !== undefined && c.pid !== pid) c = c.samePtr;
    return c;
  }

  private open(rec: Exclude<TlsRecord, { type: 'close' }>): Tracked {
    if (this.conns.size >= this.maxConnections) {
      // Map order is creation order: the first entry is the oldest connection.
      const oldest = this.conns.values().next().value as Tracked;
      this.close(oldest, 'evicted', rec.tsNs);
    }
    const idle = (): CallState => ({ open: false, tsNs: 0n, callLen: 0, covered: 0 });
    const c: Tracked = {
      id: `${rec.pid}:${rec.conn.toString(16)}`,
      pid: rec.pid,
      conn: rec.conn,
      comm: rec.comm,
      libId: rec.libId,
      firstNs: rec.tsNs,
      lastNs: rec.tsNs,
      bytes: { write: 0, read: 0 },
      missing: { write: 0, read: 0 },
      // Set later; present from the start so that every connection keeps one hidden class
      // (an added property makes a new one, which dies with the last such object and takes the
      // code optimized for it along).
      addresses: undefined,
      state: undefined,
      calls: { write: idle(), read: idle() },
      samePtr: this.byPtr.get(rec.conn),
    };
    this.conns.set(c.id, c);
    this.byPtr.set(c.conn, c);
    this.s.opened++;
    return c;
  }

  private data(c: Tracked, rec: DataRecord): void {
    const dir = rec.dir;
    if (rec.lostOther > 0) {
      // Calls of the other direction were lost since its last record: that stream has a gap
      // here, before whatever it carries next (a lost request is known before its response).
      this.lostCalls(c, dir === 'read' ? 'write' : 'read', rec.lostOther, rec.tsNs);
    }
    const call = c.calls[dir];
    if (rec.offset === 0 || !call.open || call.tsNs !== rec.tsNs) {
      // A new call. Whatever the previous one did not deliver is missing.
      if (call.open && call.covered < call.callLen) this.gap(c, dir, call.callLen - call.covered, rec.tsNs, 'not-captured');
      if (rec.lostBefore > 0) this.gap(c, dir, rec.lostBefore, rec.tsNs, 'ring-full');
      call.open = true;
      call.tsNs = rec.tsNs;
      call.callLen = rec.callLen;
      call.covered = 0;
    }
    if (rec.offset > call.covered) this.gap(c, dir, rec.offset - call.covered, rec.tsNs, 'not-captured');
    if (rec.data.length > 0) {
      c.bytes[dir] += rec.data.length;
      this.s.bytes += rec.data.length;
      this.sink.onData(c, dir, rec.data, rec.tsNs);
    }
    // Skipped bytes past the call's end would be a malformed record: never more than it holds.
    const skipped = rec.skipped > 0 ? Math.max(0, Math.min(rec.skipped, call.callLen - rec.offset - rec.data.length)) : 0;
    if (skipped > 0) {
      this.s.skippedBytes += skipped;
      this.s.skips++;
      if (this.sink.onSkip !== undefined) this.sink.onSkip(c, dir, skipped, rec.tsNs);
      else this.gap(c, dir, skipped, rec.tsNs, 'skipped');
    }
    call.covered = Math.max(call.covered, rec.offset + rec.data.length + skipped);
    if (rec.last) {
      if (call.covered < call.callLen) {
        // A tail past the cap was never copied; a short record means unreadable memory.
        this.gap(c, dir, call.callLen - call.covered, rec.tsNs, rec.data.length > 0 ? 'truncated' : 'not-captured');
      }
      call.open = false;
    }
  }

  /** Whole calls of `dir` lost (ring buffer full), reported now: the tail of its call in
   *  flight first, then the lost calls. */
  private lostCalls(c: Tracked, dir: Direction, bytes: number, tsNs: bigint): void {
    const call = c.calls[dir];
    if (call.open && call.covered < call.callLen) this.gap(c, dir, call.callLen - call.covered, tsNs, 'not-captured');
    call.open = false;
    this.gap(c, dir, bytes, tsNs, 'ring-full');
  }

  private gap(c: Tracked, dir: Direction, bytes: number, tsNs: bigint, reason: GapReason): void {
    c.missing[dir] += bytes;
    this.s.gaps[reason]++;
    this.s.gapBytes[reason] += bytes;
    this.sink.onGap(c, dir, bytes, tsNs, reason);
  }

  private unlink(c: Tracked): void {
    const head = this.byPtr.get(c.conn);
    if (head === c) {
      if (c.samePtr === undefined) this.byPtr.delete(c.conn);
      else this.byPtr.set(c.conn, c.samePtr);
      return;
    }
    for (let p = head; p !== undefined; p = p.samePtr) {
      if (p.samePtr === c) {
        p.samePtr = c.samePtr;
        return;
      }
    }
  }

  private close(c: Tracked, reason: CloseReason, tsNs: bigint): void {
    for (const dir of ['write', 'read'] as const) {
      const call = c.calls[dir];
      if (call.open && call.covered < call.callLen) this.gap(c, dir, call.callLen - call.covered, tsNs, 'not-captured');
      call.open = false;
    }
    this.conns.delete(c.id);
    this.unlink(c);
    if (this.last === c) this.last = undefined;
    this.s.closed[reason]++;
    this.sink.onClose(c, reason, tsNs);
  }
}

// Keeps the table's hidden class alive with no table in use (see keptForShape in
// src/protocol/http1/parser.ts): otherwise code optimized for it is dropped at the next full GC.
export const keptForShape: readonly object[] = [new StreamTable({ onData() {}, onGap() {}, onClose() {} }, { maxConnections: 1 })];
