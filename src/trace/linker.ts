// Which trace a span belongs to, and its parent:
//   - a request carrying `traceparent` puts its span in that trace, as a child of the named span
//     (SERVER: the caller's span; CLIENT: the span of the code that made the request);
//   - same-host stitching: when both ends of a connection are on this host and the request
//     carries no traceparent, the SERVER span of an exchange is the child of the CLIENT span of
//     the same exchange. Both sides name an
//     exchange the same way — the client's connection (found from the server's socket
//     addresses, mirrored) and the request's ordinal on it — so the ids can be drawn by
//     whichever side is built first, and the other finds them. No header is needed.
import type { BuildOptions, ParentContext } from './span-builder';
import type { ConnectionAddresses, Exchange } from '../exchange/types';
import { newSpanId, newTraceId } from './ids';
import type { PairDecision } from './sampler';
import { traceContextOf } from './traceparent';

export interface LinkerOptions {
  /** Same-host client↔server stitching (default on; --no-stitch turns it off). */
  stitch?: boolean;
  /** Bounds on remembered connections and exchanges. */
  maxConnections?: number;
  maxExchanges?: number;
}

interface ClientIds extends PairDecision {
  traceId: string;
  spanId: string;
  parent?: ParentContext;
  /** Hash of the request method and target, to check both sides talk about the same request
   *  (a number: the strings would keep the whole request head they were cut from alive). */
  line: number;
  /** Whose ids these are (the numeric key below can, in principle, be reused). */
  conn: Conn;
  ordinal: number;
  /** The server end's start (its read of the request returned), when it was built first: the
   *  client's request was written before that, whatever its own stamp says. */
  serverStartNs?: bigint;
}

export interface LinkerStats {
  stitched: number;
  fromTraceparent: number;
}

/** "client-ip:port>server-ip:port": the same string from both ends of one TCP connection. */
function tupleKey(client: string, clientPort: number, server: string, serverPort: number): string {
  return `${client}:${clientPort}>${server}:${serverPort}`;
}

/** "a>b" → "b>a": a connection's tuple as the other end names it. */
function mirrorOf(key: string): string {
  const i = key.indexOf('>');
  return `${key.slice(i + 1)}>${key.slice(0, i)}`;
}

/** A connection on this host whose addresses are known. */
interface Conn {
  /** Its tuple ("local>remote"; the same string as its key in byTuple). */
  key: string;
  /** The connection at the other end, once found on this host. */
  peer: Conn | undefined;
  /** Numbers the connection in the keys of early-drawn ids. */
  serial: number;
  /** Replaced (a new connection with the same tuple or id) or evicted: no longer a peer. */
  gone: boolean;
  /** Highest ordinal whose client span was built with ids nobody else was given (its peer was
   *  not known then): a server must not claim those as parents. */
  unsharedUpTo: number;
}

/** Serials wrap here; with the ordinal they make a key below 2^53. */
const SERIALS = 2 ** 21;

export class TraceLinker {
  private readonly stitch: boolean;
  private readonly maxConnections: number;
  private readonly maxExchanges: number;
  /** Known connections by tuple ("local>remote") and by connection id; oldest first. */
  private readonly byTuple = new Map<string, Conn>();
  private readonly byId = new Map<string, Conn>();
  /** Ids of client spans drawn early, by serial·2^32 + ordinal, oldest first. Only for
   *  connections whose other end is on this host too: nothing else can look them up. */
  private readonly ids = new Map<number, ClientIds>();
  private nextSerial = 0;
  private readonly s: LinkerStats = { stitched: 0, fromTraceparent: 0 };

  constructor(opts: LinkerOptions = {}) {
    this.stitch = opts.stitch ?? true;
    this.maxConnections = opts.maxConnections ?? 65536;
    this.maxExchanges = opts.maxExchanges ?? 65536;
  }

  /**
   * A connection's addresses are known. Every connection is remembered as "local>remote",
   * whichever side it is (its side may not be known yet): a server looks its client up as
   * "remote>local", which only the client's own entry can match.
   */
  connectionKnown(connectionId: string, a: ConnectionAddresses): void {
    if (!this.stitch) return;
    const key = tupleKey(a.localAddress, a.localPort, a.remoteAddress, a.remotePort);
    // The exchange layer tells each connection once: a connection told again (same id, i.e.
    // the same SSL* in the same process, or the same tuple) is a new one and starts afresh.
    const conn: Conn = { key, peer: undefined, serial: this.nextSerial, gone: false, unsharedUpTo: 0 };
    this.nextSerial = (this.nextSerial + 1) % SERIALS;
    this.forget(this.byTuple.get(key));
    this.forget(this.byId.get(connectionId));
    this.remember(this.byTuple, key, conn);
    this.remember(this.byId, connectionId, conn);
  }

  /** Sets map[key] to conn as its newest entry (Map order is age) and evicts the oldest entry
   *  beyond maxConnections. */
  private remember(map: Map<string, Conn>, key: string, conn: Conn): void {
    map.delete(key);
    map.set(key, conn);
    if (map.size > this.maxConnections) {
      const oldest = map.keys().next().value as string;
      this.forget(map.get(oldest));
      map.delete(oldest);
    }
  }

  private forget(conn: Conn | undefined): void {
    if (conn !== undefined) conn.gone = true;
  }

  /** Trace id, span id and parent for the span of this exchange. */
  optionsFor(ex: Exchange): BuildOptions {
    const tp = traceContextOf(ex.request.headers);
    if (ex.side === 'client') {
      if (tp) this.s.fromTraceparent++;
      const conn = this.stitch && ex.ordinal !== undefined ? this.byId.get(ex.connectionId) : undefined;
      if (conn !== undefined && this.peerOf(conn) !== undefined) {
        const ids = this.clientIds(conn, ex.ordinal!, ex, tp, true)!;
        const opts: BuildOptions = { traceId: ids.traceId, spanId: ids.spanId, parent: ids.parent, pair: ids };
        // Never start after the child. Writes are stamped at their entry, so by causality the
        // client's start is already before the server's read of it returned: a guard.
        if (ids.serverStartNs !== undefined && ids.line === lineHash(ex)) opts.startNotAfterNs = ids.serverStartNs;
        return opts;
      }
      // No traced server on this host can ask for these ids: they are drawn at build time.
      if (conn !== undefined && ex.ordinal! > conn.unsharedUpTo) conn.unsharedUpTo = ex.ordinal!;
      return tp ? { parent: tp } : {};
    }
    // An incoming traceparent wins: the caller is instrumented, and its trace stays as it made it.
    if (tp) {
      this.s.fromTraceparent++;
      return { parent: tp };
    }
    if (this.stitch && ex.addresses && ex.ordinal !== undefined) {
      const conn = this.byId.get(ex.connectionId);
      const a = ex.addresses;
      const client = conn !== undefined ? this.peerOf(conn) : this.byTuple.get(tupleKey(a.remoteAddress, a.remotePort, a.localAddress, a.localPort));
      // Ids are drawn here for the client to find later, unless its span was already built
      // with ids of its own (its side did not know this one yet).
      const ids = client !== undefined ? this.clientIds(client, ex.ordinal, ex, undefined, ex.ordinal > client.unsharedUpTo) : undefined;
      if (ids !== undefined && ids.line === lineHash(ex)) {
        this.s.stitched++;
        ids.serverStartNs = ex.startNs;
        return { parent: { traceId: ids.traceId, spanId: ids.spanId, traceFlags: 1, isRemote: false }, pair: ids };
      }
    }
    return {};
  }

  stats(): LinkerStats {
    return { ...this.s };
  }

  /**
   * The other end of this connection, when it is a connection on this host. A server's
   * connection is known once it reads or writes (the request, at the latest), so before its
   * client can have read the response and completed the exchange.
   */
  private peerOf(conn: Conn): Conn | undefined {
    if (conn.peer === undefined || conn.peer.gone) conn.peer = this.byTuple.get(mirrorOf(conn.key));
    return conn.peer;
  }

  /**
   * The ids of a client exchange, shared by its two ends: the first end to be built draws them
   * (only with `mayDraw`), the second takes them, which forgets them.
   */
  private clientIds(conn: Conn, ordinal: number, ex: Exchange, tp: ParentContext | undefined, mayDraw: boolean): ClientIds | undefined {
    const key = conn.serial * 2 ** 32 + (ordinal % 2 ** 32);
    const found = this.ids.get(key);
    if (found !== undefined && found.conn === conn && found.ordinal === ordinal) {
      this.ids.delete(key);
      return found;
    }
    if (!mayDraw) return undefined;
    const ids: ClientIds = { traceId: tp?.traceId ?? newTraceId(), spanId: newSpanId(), parent: tp, line: lineHash(ex), conn, ordinal };
    this.ids.delete(key); // re-insert: Map order is age, the oldest is evicted first
    this.ids.set(key, ids);
    if (this.ids.size > this.maxExchanges) this.ids.delete(this.ids.keys().next().value as number);
    return ids;
  }
}

/** FNV-1a over "METHOD target". */
function lineHash(ex: Exchange): number {
  const h = fnv1a(fnv1a(0x811c9dc5, ex.request.method ?? ''), ' ');
  return fnv1a(h, ex.request.url ?? '') >>> 0;
}

function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}
