// Contract between the HTTP/1.x parser and the exchange layer (src/protocol/http1/session.ts).
// Timestamps are BPF monotonic nanoseconds (bigint) of the capture record that carried the byte.

/** One parsed HTTP/1.x message (request or response). Body bytes are counted, not kept. */
export interface HttpMessage {
  kind: 'request' | 'response';
  /** Request method as written (e.g. "GET"); undefined for responses. */
  method?: string;
  /** Request target as written (e.g. "/users/42?token=abc"); undefined for responses. */
  url?: string;
  /** Response status code; undefined for requests. */
  statusCode?: number;
  /** Response reason phrase; undefined for requests. */
  reason?: string;
  /** Version; -1 and -1 when unknown (a request line too long to read to its end). */
  versionMajor: number;
  versionMinor: number;
  /** Header fields in order, flat: [name0, value0, name1, value1, …] (no array per field: a
   *  message has a dozen of them). Names as received (not lower-cased), values trimmed of OWS. */
  headers: string[];
  /** Trailer fields of a chunked body, in order, flat as `headers`. */
  trailers: string[];
  /** Body length in bytes after transfer decoding, including bytes lost in capture gaps. */
  bodySize: number;
  /** Body bytes that were inside capture gaps (not seen, only counted). */
  bodyBytesMissing: number;
  /** True when the body ended early (connection closed, or a gap made framing unknowable). */
  incomplete: boolean;
  /** Monotonic ns of the record holding the first byte of the message. */
  startNs: bigint;
  /** Monotonic ns of the record holding the last byte of the message (of a request's head,
   *  from onRequestHead until its body is complete). */
  endNs: bigint;
  /** Connection will be closed after this message (Connection: close, or HTTP/1.0 without keep-alive). */
  shouldClose: boolean;
  /** The message asked for a protocol switch (Upgrade / CONNECT); the parser stops after it. */
  upgrade: boolean;
}

/** Why the parser gave up on (part of) a stream. */
export type ParseErrorReason =
  | 'not-http'        // the stream does not start like HTTP/1.x: the rest of it is ignored
  | 'invalid'         // a syntax error inside a message: the message is dropped, the parser resyncs
  | 'too-large'       // a start line or header block over the size limit
  | 'gap'             // a capture gap where framing cannot be recovered (headers, chunk sizes)
  | 'truncated';      // stream ended (finish) inside a message whose end is not close-delimited

export interface ParseError {
  reason: ParseErrorReason;
  detail: string;
  /** Monotonic ns of the record where the error was found. */
  atNs: bigint;
  /** A partial message cut short by the error, when its start line was parsed. */
  partial?: HttpMessage;
}

export interface Http1ParserCallbacks {
  /** A complete message, including 1xx interim responses (statusCode 100..199). */
  onMessage(message: HttpMessage): void;
  /**
   * A request's header block is complete; its body (if any) is still to come, and the same
   * object is given to onMessage once it is (or as the partial of an error). A server may
   * answer before it has read the body (nginx's `return`, an early 413): pairing starts here.
   */
  onRequestHead?(request: HttpMessage): void;
  onError(error: ParseError): void;
  /**
   * Method of the request the next *final* response answers (for HEAD / CONNECT body rules).
   * Called when a response's header block is complete. May return undefined (unknown).
   */
  methodForResponse?(): string | undefined;
}
