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
import type { ConnectionAddresses, Exchange } from './types';
import { newSpanId, newTraceId } from './ids';
import { traceContextOf } from './traceparent';

export interface LinkerOptions {
  /** Same-host client↔server stitching (default on; --no-stitch turns it off). */
  stitch?: boolean;
  /** Bounds on remembered connections and exchanges. */
  maxConnections?: number;
  maxExchanges?: number;
}

interface ClientIds {
  traceId: string;
  spanId: string;
  parent?: ParentContext;
  /** Request method and target, to check both sides talk about the same request. */
  method: string | undefined;
  url: string | undefined;
}

export interface LinkerStats {
  stitched: number;
  fromTraceparent: number;
}

/** "client-ip:port>server-ip:port": the same string from both ends of one TCP connection. */
function tupleKey(client: string, clientPort: number, server: string, serverPort: number): string {
  return `${client}:${clientPort}>${server}:${serverPort}`;
}

export class TraceLinker {
  private readonly stitch: boolean;
  private readonly maxConnections: number;
  private readonly maxExchanges: number;
  /** Connections on this host by TCP tuple ("local>remote") → their connection id. */
  private readonly clients = new Map<string, string>();
  /** Connection id → its tuple as the other end names it ("remote>local"). */
  private readonly mirrors = new Map<string, string>();
  /** Ids of client spans, drawn early: `${clientConnectionId}#${ordinal}`. Only for
   *  connections whose other end is traced on this host too: nothing else can look them up. */
  private readonly ids = new Map<string, ClientIds>();
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
    this.clients.delete(key); // re-insert: Map order is age, the oldest is evicted first
    this.clients.set(key, connectionId);
    if (this.clients.size > this.maxConnections) this.clients.delete(this.clients.keys().next().value as string);
    this.mirrors.delete(connectionId);
    this.mirrors.set(connectionId, tupleKey(a.remoteAddress, a.remotePort, a.localAddress, a.localPort));
    if (this.mirrors.size > this.maxConnections) this.mirrors.delete(this.mirrors.keys().next().value as string);
  }

  /** Trace id, span id and parent for the span of this exchange. */
  optionsFor(ex: Exchange): BuildOptions {
    const tp = traceContextOf(ex.request.headers);
    if (ex.kind === 'client') {
      if (tp) this.s.fromTraceparent++;
      const ids = ex.ordinal !== undefined && this.peerOnHost(ex.connectionId) ? this.clientIds(`${ex.connectionId}#${ex.ordinal}`, ex, tp) : undefined;
      // No traced server on this host can ask for these ids: draw them at build time.
      if (ids === undefined) return tp ? { parent: tp } : {};
      return { traceId: ids.traceId, spanId: ids.spanId, parent: ids.parent };
    }
    // An incoming traceparent wins: the caller is instrumented, and its trace stays as it made it.
    if (tp) {
      this.s.fromTraceparent++;
      return { parent: tp };
    }
    if (this.stitch && ex.addresses && ex.ordinal !== undefined) {
      const a = ex.addresses;
      // The mirrored tuple was made when the connection became known (same addresses).
      const mirror = this.mirrors.get(ex.connectionId) ?? tupleKey(a.remoteAddress, a.remotePort, a.localAddress, a.localPort);
      const client = this.clients.get(mirror);
      if (client) {
        const ids = this.clientIds(`${client}#${ex.ordinal}`, ex, undefined);
        if (ids.method === ex.request.method && ids.url === ex.request.url) {
          this.s.stitched++;
          return { parent: { traceId: ids.traceId, spanId: ids.spanId, traceFlags: 1, isRemote: false } };
        }
      }
    }
    return {};
  }

  stats(): LinkerStats {
    return { ...this.s };
  }

  /**
   * Whether the other end of this connection is a connection on this host. A server's
   * connection is known once it reads or writes (the request, at the latest), so before its
   * client can have read the response and completed the exchange.
   */
  private peerOnHost(connectionId: string): boolean {
    if (!this.stitch) return false;
    const mirror = this.mirrors.get(connectionId);
    return mirror !== undefined && this.clients.has(mirror);
  }

  private clientIds(key: string, ex: Exchange, tp: ParentContext | undefined): ClientIds {
    let ids = this.ids.get(key);
    if (!ids) {
      ids = { traceId: tp?.traceId ?? newTraceId(), spanId: newSpanId(), parent: tp, method: ex.request.method, url: ex.request.url };
      this.ids.set(key, ids);
      if (this.ids.size > this.maxExchanges) this.ids.delete(this.ids.keys().next().value as string);
    }
    return ids;
  }
}
