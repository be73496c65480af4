// The protocol seam: a session takes one connection's bytes and gaps, per direction and in the
// order they were captured, and yields request/response pairs. Sessions are pure: no
// OpenTelemetry, no BPF, no streams, no process or socket facts (the exchange stage adds
// those). A new protocol is a folder with a session factory, plus one line in detect.ts.
import type { ErrorKind } from '../exchange/error-kind';

/** 'write': bytes the traced process sent; 'read': bytes it received. */
export type Direction = 'write' | 'read';

/** Protocols a session can speak (network.protocol.name / version come from it). */
export type ProtocolName = 'http/1' | 'http/2';

/** Header or trailer fields, flat: [name0, value0, name1, value1, …]. */
export type Fields = string[];

/** The request side of an exchange, as much as was seen. */
export interface RequestPart {
  /** Method as sent (e.g. "GET"); undefined when unknown. */
  method?: string;
  /** Request target as sent ("/users/42?x=1", absolute form, authority form…); undefined
   *  when unknown. */
  url?: string;
  /** Header fields (HTTP/2: regular fields only, pseudo-headers are the properties above). */
  headers: Fields;
  /** Body length in bytes, including bytes lost in capture gaps. */
  bodySize: number;
  /** Monotonic ns of the record holding the first / last byte of the request. */
  startNs: bigint;
  endNs: bigint;
}

/** The response side of an exchange. */
export interface ResponsePart {
  /** Final status code; undefined when unknown (e.g. its header block was not decodable). */
  statusCode?: number;
  headers: Fields;
  /** Trailer fields (HTTP/1 chunked trailers, HTTP/2 trailing HEADERS). */
  trailers: Fields;
  bodySize: number;
  startNs: bigint;
  endNs: bigint;
}

/** An RPC carried by the exchange (gRPC over HTTP/2). */
export interface RpcInfo {
  system: 'grpc';
  /** "package.Service" and "Method" from the :path "/package.Service/Method". */
  service: string;
  method: string;
  /** grpc-status from trailers (or a trailers-only response); undefined when not seen. */
  statusCode?: number;
  /** grpc-message, percent-decoded. */
  statusMessage?: string;
}

/** One request and its response (or why there is none), as one protocol session saw them. */
export interface ProtocolExchange {
  /** 'client': the traced process wrote the request; 'server': it read it. */
  side: 'client' | 'server';
  protocol: ProtocolName;
  /** network.protocol.version: "1.1", "1.0", "2"; undefined when unknown. */
  version: string | undefined;
  request: RequestPart;
  /** Undefined when the exchange was cut short before a response began. */
  response: ResponsePart | undefined;
  /** Monotonic ns: first byte of the request; last byte of the response (or when given up). */
  startNs: bigint;
  endNs: bigint;
  /** Set when the exchange did not complete normally, or a part of it was not seen. */
  error: ErrorKind | undefined;
  /** More about the error, for the status message ("bad chunk size"); never data. */
  errorDetail: string | undefined;
  /** Names the exchange on its connection the same way at both ends: HTTP/1, the request's
   *  position (1, 2, …; only when the connection was seen from its first request); HTTP/2,
   *  the stream id. Undefined when no such name is certain. */
  ordinal: number | undefined;
  /** HTTP/2: the :scheme and :authority pseudo-headers. */
  scheme: string | undefined;
  authority: string | undefined;
  rpc: RpcInfo | undefined;
  /** Who made the exchange: filled in by the exchange stage (src/exchange/types.ts), which
   *  knows the process and the connection. A session leaves them undefined; they are part of
   *  the object from its creation so that the exchange stage completes it in place (one object
   *  and one hidden class per exchange, nothing copied). */
  process: unknown;
  connectionId: unknown;
  library: unknown;
  addresses: unknown;
}

/** Counters every session may add to (the agent's loss report reads them). */
export const enum ProtocolCounter {
  /** A message that did not parse (the session resynced after it). */
  InvalidMessages,
  /** A start line or header block over the limit. */
  TooLarge,
  /** Framing lost to a capture gap. */
  GapErrors,
  /** A stream ended inside a message. */
  Truncated,
  /** A response with no request to pair with (joined mid-way, or the request was lost). */
  UnpairedResponses,
  /** HTTP/2 header blocks (or fields) that could not be decoded (unknown HPACK entries). */
  UndecodableHeaders,
  /** Bytes the capture counted as body bytes (skip) where the parser expected no body bytes:
   *  taken for a gap instead. */
  SkipMismatches,
}

/** Where a session sends what it finds. */
export interface SessionOutput {
  exchange(ex: ProtocolExchange): void;
  count(counter: ProtocolCounter, n?: number): void;
  /** The connection turned out not to be this protocol (or any protocol the agent parses):
   *  the session is dropped and the rest of the connection ignored. */
  notMine(): void;
}

export interface ProtocolSession {
  /** Bytes of one direction, in capture order; valid only during the call (copy what you keep). */
  data(dir: Direction, bytes: Buffer, tsNs: bigint): void;
  /** `bytes` of one direction were not captured here. */
  gap(dir: Direction, bytes: number, tsNs: bigint): void;
  /**
   * `bytes` of one direction were counted instead of captured, by a capture that took them for
   * message body bytes. The session accepts them only where its own framing expects that many
   * body bytes (they then count in the body's size, exactly as captured bytes would); anywhere
   * else they are a gap, counted as a SkipMismatches. Never a wrong size either way.
   */
  skip(dir: Direction, bytes: number, tsNs: bigint): void;
  /** Gives up requests that have waited for a response since before `deadlineNs`. */
  expire(deadlineNs: bigint, nowNs: bigint): void;
  /** The connection is gone: complete what the end of the stream completes; report the rest
   *  as cut short with `reason` (nothing for AgentStopped: returns how many were dropped). */
  close(reason: ErrorKind, tsNs: bigint): number;
}

export interface SessionOptions {
  /** Requests waiting for a response per connection; beyond it the oldest is given up. */
  maxPending: number;
}

export type SessionFactory = (out: SessionOutput, opts: SessionOptions) => ProtocolSession;
