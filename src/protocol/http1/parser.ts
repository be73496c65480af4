// Incremental HTTP/1.x parser for one direction of one connection, fed captured plaintext.
//
// Shape (after pg-protocol): execute() walks the chunk it is given with an offset and never
// concatenates chunks. The only bytes kept between calls are one unfinished line (start line,
// field line or chunk-size line), copied to the front of a small reusable buffer and bounded by
// maxHeaderBytes; bodies are counted as they pass, never stored. So memory per stream is
// bounded whatever the input.
//
// Framing follows llhttp's strict mode (the corpus in shared/conformance/llhttp). Where llhttp
// would stop for good, an observer wants to keep going: after an error or a capture gap the
// parser resyncs at the next line that parses as a start line. A stream that does not begin
// like HTTP/1.x (TLS inside TLS, the HTTP/2 preface, binary) is reported once and then ignored,
// as is everything after an upgrade or CONNECT.

import type { HttpMessage, Http1ParserCallbacks, ParseErrorReason } from './types';
import {
  CONN_CLOSE, CONN_KEEP_ALIVE, CONN_UPGRADE, CR, Codings, HeaderKind, LF, PREFIX_CHECK_BYTES,
  chunkLine, chunkSizeCrlf, connectionTokens, fieldName, fieldNameInfo, headerLine, latin1, parseChunkSizeLine,
  parseContentLength, parseTransferCodings, plausibleStartPrefix, scanFieldLineCrlf, scanHeaderLine,
  scanStartLine, startLine, startLinePrefix,
} from './syntax';

export interface Http1ParserOptions {
  /** Limit on a message's start line plus header block (and on its trailers). Default 64 KiB. */
  maxHeaderBytes?: number;
}

/** The fields of a message that has none (most have no trailers): shared, never written to —
 *  the first field replaces it. */
const NO_FIELDS: string[] = Object.freeze([]) as unknown as string[];

const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/** Smallest accepted maxHeaderBytes: a start line and a few fields must fit. */
const MIN_MAX_HEADER_BYTES = 256;
/** Errors in a row without one good message before the stream is declared not HTTP. */
const MAX_FAILED_RESYNCS = 4;
/** A carry buffer grown past this is dropped once empty, so idle streams stay small. */
const KEEP_CARRY_BYTES = 4096;

const EMPTY = Buffer.alloc(0);
const prefixScratch = Buffer.alloc(PREFIX_CHECK_BYTES);
/**
 * Fields whose values are not cut yet (see Http1Parser.flushText): the name, and the value's
 * offsets into the current chunk. Shared by every parser: filled and emptied within one
 * execute() call, and emptied before any callback runs.
 */
const pendingNames: string[] = [];
let pendingValues = new Int32Array(64 * 2);

/** Where the parser is in the stream. */
const enum State {
  /** Between messages: skipping CR/LF before the next start line. */
  Idle,
  /** Reading a start line (request line or status line). */
  StartLine,
  /** Reading field lines up to the empty line. */
  Headers,
  /** Counting a Content-Length body; `remaining` bytes to go. */
  BodyFixed,
  /** Counting a body that ends with the stream (finish()). */
  BodyUntilClose,
  /** Reading a chunk-size line, with optional extensions. */
  ChunkSize,
  /** Counting chunk data; `remaining` bytes to go. */
  ChunkData,
  /** Expecting the CR that ends chunk data. */
  ChunkDataCr,
  /** Expecting the LF that ends chunk data. */
  ChunkDataLf,
  /** Reading trailer field lines after the last chunk. */
  Trailers,
  /** Framing lost mid-line: dropping bytes up to the next LF. */
  SkipLine,
  /** Framing lost at a line start: dropping whole lines until one parses as a start line. */
  Resync,
  /** Not HTTP, upgraded, or finished: every byte is ignored. */
  Ignore,
}

/** How the body of the message whose header block just ended is delimited. */
const enum Body {
  /** No body: the message is complete at the empty line. */
  None,
  /** Content-Length bytes. */
  Fixed,
  /** Chunked transfer coding. */
  Chunked,
  /** Everything up to the end of the stream. */
  UntilClose,
}

// takeLine() results besides a new offset.
const LINE_INCOMPLETE = -1;
const LINE_TOO_LONG = -2;

export class Http1Parser {
  private readonly callbacks: Http1ParserCallbacks;
  private readonly maxHeaderBytes: number;

  private state = State.Idle;
  /** A start line has parsed on this stream: from now on garbage is 'invalid', not 'not-http'. */
  private seenHttp = false;
  private failedResyncs = 0;
  /** tsNs of the record being parsed (execute, gap or finish). */
  private ts = 0n;

  // The unfinished line carried between execute() calls.
  private carry: Buffer | undefined;
  private carryLen = 0;

  // The complete line found by takeLine(): lineBuf[lineStart, lineEnd) plus the LF at lineEnd.
  private lineBuf: Buffer = EMPTY;
  private lineStart = 0;
  private lineEnd = 0;
  /** tsNs of the record holding the first byte of the line being read. */
  private lineStartNs = 0n;

  // The chunk execute() is walking (dropped when it returns: the caller may reuse its buffer).
  private chunk: Buffer | undefined;
  // Strings of the head read from the chunk are cut when the head is complete (or the chunk
  // ends): the bytes from the start line (or the first field value) to the last field value
  // are then decoded as one latin1 string and every value is a substring of it (names come
  // from fieldName's cache): one native call per head, and no search for the end of the head
  // beforehand. pendFrom < 0: nothing pending.
  private pendFrom = -1;
  private pendTo = 0;
  /** Fields pending in pendingNames / pendingValues. */
  private pendCount = 0;
  /** The start line's strings are pending too; offsets [a, b) and [c, d) (method and target
   *  of a request; the reason phrase of a response is [a, b)). */
  private pendStartLine = false;
  private pendA = 0;
  private pendB = 0;
  private pendC = 0;
  private pendD = 0;

  // The message being parsed and the framing facts gathered from its fields.
  private msg: HttpMessage | undefined;
  private headBytes = 0;
  private remaining = 0;
  private lastNs = 0n;
  private contentLength = -1;
  private transferEncoding = false;
  private chunked = false;
  private connection = 0;
  private upgradeHeader = false;

  constructor(callbacks: Http1ParserCallbacks, options: Http1ParserOptions = {}) {
    const max = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    if (!Number.isSafeInteger(max) || max < MIN_MAX_HEADER_BYTES) {
      throw new RangeError(`maxHeaderBytes must be an integer >= ${MIN_MAX_HEADER_BYTES}, got ${String(max)}`);
    }
    this.callbacks = callbacks;
    this.maxHeaderBytes = max;
  }

  /**
   * Memory held between calls for an unfinished line: the size of the carry buffer (not just
   * the bytes in it). Never more than maxHeaderBytes, whatever the input.
   */
  get bufferedBytes(): number {
    return this.carry === undefined ? 0 : this.carry.length;
  }

  /** Parses the next bytes of the stream, captured in the record stamped tsNs. */
  execute(chunk: Buffer, tsNs: bigint): void {
    if (this.state === State.Ignore) return;
    this.ts = tsNs;
    // Reset here too, not only on return: a callback that threw may have skipped the reset,
    // and the caller may hand us the same Buffer object refilled.
    this.chunk = chunk;
    this.pendFrom = -1;
    this.pendCount = 0;
    this.pendStartLine = false;
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      // `as State`: TypeScript keeps the narrowing from the check above across the calls
      // below, which do change the state.
      switch (this.state as State) {
        case State.Idle: pos = this.skipBlankLines(chunk, pos, end); break;
        case State.StartLine: pos = this.readStartLine(chunk, pos, end); break;
        case State.Headers: pos = this.readHeaderLine(chunk, pos, end); break;
        case State.BodyFixed: pos = this.countFixedBody(pos, end); break;
        case State.BodyUntilClose: pos = this.countBodyUntilClose(pos, end); break;
        case State.ChunkSize: pos = this.readChunkSize(chunk, pos, end); break;
        case State.ChunkData: pos = this.countChunkData(pos, end); break;
        case State.ChunkDataCr: pos = this.expectChunkEnd(chunk, pos, CR, State.ChunkDataLf); break;
        case State.ChunkDataLf: pos = this.expectChunkEnd(chunk, pos, LF, State.ChunkSize); break;
        case State.Trailers: pos = this.readTrailerLine(chunk, pos, end); break;
        case State.SkipLine: pos = this.skipLine(chunk, pos, end); break;
        case State.Resync: pos = this.resync(chunk, pos, end); break;
        case State.Ignore: pos = end; break;
      }
    }
    // A head cut by the end of the chunk: its strings are needed now.
    this.flushText();
    // Do not keep the caller's buffer alive between calls.
    this.chunk = undefined;
    this.lineBuf = EMPTY;
  }

  /**
   * The capture lost `length` bytes here. Inside a body of known length they are counted
   * (bodySize, bodyBytesMissing) and parsing goes on; anywhere framing depends on the lost
   * bytes, the message in progress is reported as a 'gap' error and the parser resyncs.
   */
  gap(length: number, tsNs: bigint): void {
    if (!(length > 0) || this.state === State.Ignore) return;
    this.ts = tsNs;
    const msg = this.msg;
    switch (this.state) {
      case State.BodyFixed:
      case State.ChunkData: {
        const counted = Math.min(length, this.remaining);
        msg!.bodySize += counted;
        msg!.bodyBytesMissing += counted;
        this.remaining -= counted;
        this.lastNs = tsNs;
        if (this.remaining > 0) return;
        if (this.state === State.ChunkData) {
          this.state = State.ChunkDataCr;
          if (length > counted) this.lostFraming(`capture gap of ${length} bytes past the end of a chunk`);
          return;
        }
        this.completeMessage();
        // The excess held the start of whatever came next.
        if (length > counted && (this.state as State) === State.Idle) {
          this.lostFraming(`capture gap of ${length - counted} bytes after a message`);
        }
        return;
      }
      case State.BodyUntilClose:
        msg!.bodySize += length;
        msg!.bodyBytesMissing += length;
        this.lastNs = tsNs;
        return;
      case State.SkipLine:
      case State.Resync:
        this.carryLen = 0;
        this.state = State.Resync;
        return;
      default:
        this.lostFraming(msg === undefined
          ? `capture gap of ${length} bytes between messages`
          : `capture gap of ${length} bytes inside the message framing`);
    }
  }

  /**
   * `length` bytes here were counted instead of captured, by a capture that took them for body
   * bytes. Accepted (true) only where this parser's own framing expects at least that many body
   * bytes (a Content-Length body, chunk data, a body delimited by the close): they then count in
   * the body's size exactly as captured bytes would. Anywhere else (a head, a chunk-size line,
   * between messages, past the end of a body) false: the caller takes them for a gap.
   */
  skip(length: number, tsNs: bigint): boolean {
    if (!(length > 0) || this.state === State.Ignore) return true;
    switch (this.state) {
      case State.BodyFixed:
      case State.ChunkData:
        if (length > this.remaining) return false;
        this.ts = tsNs;
        this.msg!.bodySize += length;
        this.remaining -= length;
        this.lastNs = tsNs;
        if (this.remaining === 0) {
          if (this.state === State.ChunkData) this.state = State.ChunkDataCr;
          else this.completeMessage();
        }
        return true;
      case State.BodyUntilClose:
        this.ts = tsNs;
        this.msg!.bodySize += length;
        this.lastNs = tsNs;
        return true;
      default:
        return false;
    }
  }

  /**
   * End of stream. Completes a body delimited by the close; any other message in progress is
   * reported as 'truncated'. Nothing is parsed after this.
   */
  finish(tsNs: bigint): void {
    const state = this.state;
    this.ts = tsNs;
    if (state === State.BodyUntilClose) {
      this.completeMessage();
    } else if (this.msg !== undefined || (state === State.StartLine && this.carryLen > 0)) {
      this.fail('truncated', 'stream ended inside a message', State.Ignore);
    }
    this.state = State.Ignore;
    this.carryLen = 0;
    this.carry = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Lines

  /**
   * Finds the line starting at pos: returns the offset after its LF (the line is then in
   * lineBuf/lineStart/lineEnd), LINE_INCOMPLETE after carrying the partial line over to the
   * next call, or LINE_TOO_LONG when the line (LF included) would exceed `limit` bytes.
   */
  private takeLine(data: Buffer, pos: number, end: number, limit: number): number {
    const lf = data.indexOf(LF, pos);
    const carried = this.carryLen;
    if (carried === 0) {
      this.lineStartNs = this.ts;
      if (lf >= 0) {
        if (lf + 1 - pos > limit) return LINE_TOO_LONG;
        this.lineBuf = data;
        this.lineStart = pos;
        this.lineEnd = lf;
        return lf + 1;
      }
      if (end - pos + 1 > limit) return LINE_TOO_LONG;
      this.addToCarry(data, pos, end);
      return LINE_INCOMPLETE;
    }
    const next = lf >= 0 ? lf + 1 : end;
    if (carried + (next - pos) + (lf >= 0 ? 0 : 1) > limit) return LINE_TOO_LONG;
    this.addToCarry(data, pos, next);
    if (lf < 0) return LINE_INCOMPLETE;
    this.lineBuf = this.carry!;
    this.lineStart = 0;
    this.lineEnd = this.carryLen - 1;
    this.carryLen = 0;
    if (this.carry!.length > KEEP_CARRY_BYTES) this.carry = undefined;
    return next;
  }

  private addToCarry(data: Buffer, s: number, e: number): void {
    const need = this.carryLen + (e - s);
    let carry = this.carry;
    if (carry === undefined || carry.length < need) {
      // need <= limit <= maxHeaderBytes (takeLine checked), so the buffer stays bounded.
      const size = Math.min(Math.max(need, 256, carry === undefined ? 0 : carry.length * 2), this.maxHeaderBytes);
      const grown = Buffer.allocUnsafe(size);
      if (carry !== undefined && this.carryLen > 0) carry.copy(grown, 0, 0, this.carryLen);
      carry = this.carry = grown;
    }
    data.copy(carry, this.carryLen, s, e);
    this.carryLen = need;
  }

  /** plausibleStartPrefix() of the carried bytes followed by data[pos, end). */
  private prefixPlausible(data: Buffer, pos: number, end: number): boolean {
    const carried = this.carryLen;
    if (carried === 0) return plausibleStartPrefix(data, pos, end);
    if (carried >= PREFIX_CHECK_BYTES) return plausibleStartPrefix(this.carry!, 0, carried);
    const n = Math.min(PREFIX_CHECK_BYTES - carried, end - pos);
    this.carry!.copy(prefixScratch, 0, 0, carried);
    data.copy(prefixScratch, carried, pos, pos + n);
    return plausibleStartPrefix(prefixScratch, 0, carried + n);
  }

  /**
   * Cuts the pending strings of the head (see pendFrom) out of one latin1 decoding of the
   * chunk and adds them to the message. Called before anything reads the message or a
   * callback runs (the end of the header block, an error, a field that does not come from the
   * chunk) and when execute() returns.
   */
  private flushText(): void {
    const from = this.pendFrom;
    if (from < 0) return;
    this.pendFrom = -1;
    const text = latin1(this.chunk!, from, this.pendTo);
    const msg = this.msg!;
    if (this.pendStartLine) {
      this.pendStartLine = false;
      if (msg.kind === 'request') {
        msg.method = text.slice(this.pendA - from, this.pendB - from);
        msg.url = text.slice(this.pendC - from, this.pendD - from);
      } else {
        msg.reason = text.slice(this.pendA - from, this.pendB - from);
      }
    }
    const v = pendingValues;
    const n = this.pendCount;
    this.pendCount = 0;
    const h = msg.headers;
    if (h.length === 0) {
      // Usually the whole head at once: an array of the exact size, not one grown by pushes.
      const all = new Array<string>(2 * n);
      for (let i = 0; i < n; i++) {
        all[2 * i] = pendingNames[i];
        all[2 * i + 1] = text.slice(v[2 * i] - from, v[2 * i + 1] - from);
      }
      msg.headers = all;
    } else {
      for (let i = 0; i < n; i++) h.push(pendingNames[i], text.slice(v[2 * i] - from, v[2 * i + 1] - from));
    }
  }

  /** The found line ends with CRLF (bare LF is refused, as in llhttp strict). */
  private lineHasCr(): boolean {
    return this.lineEnd > this.lineStart && this.lineBuf[this.lineEnd - 1] === CR;
  }

  // -------------------------------------------------------------------------------------------
  // States

  private skipBlankLines(data: Buffer, pos: number, end: number): number {
    // llhttp skips any CR or LF before a message (clients send stray CRLFs after a POST).
    while (pos < end) {
      const b = data[pos];
      if (b !== CR && b !== LF) {
        this.state = State.StartLine;
        return pos;
      }
      pos++;
    }
    return pos;
  }

  private readStartLine(data: Buffer, pos: number, end: number): number {
    const next = this.takeLine(data, pos, end, this.maxHeaderBytes);
    if (next === LINE_INCOMPLETE) {
      if (!plausibleStartPrefix(this.carry!, 0, this.carryLen)) this.badStartLine(State.SkipLine);
      return end;
    }
    if (next === LINE_TOO_LONG) {
      // Judge the line as a whole, as if it had arrived in one piece.
      if (!this.prefixPlausible(data, pos, end)) this.badStartLine(State.SkipLine);
      else this.longStartLine(data, pos, end);
      return pos;
    }
    if (this.lineHasCr() && scanStartLine(this.lineBuf, this.lineStart, this.lineEnd - 1, true)) this.beginMessage();
    else this.badStartLine(State.Resync);
    return next;
  }

  /**
   * A start line over the limit: the message it begins is reported (as the partial of a
   * 'too-large' error) with what its first bytes say, a method or a status code, so that it
   * keeps its place among the messages of the stream and its exchange is not lost.
   */
  private longStartLine(data: Buffer, pos: number, end: number): void {
    const carried = this.carryLen;
    let prefix: ReturnType<typeof startLinePrefix>;
    if (carried >= PREFIX_CHECK_BYTES) {
      prefix = startLinePrefix(this.carry!, 0, PREFIX_CHECK_BYTES);
    } else {
      const n = Math.min(PREFIX_CHECK_BYTES - carried, end - pos);
      if (carried > 0) this.carry!.copy(prefixScratch, 0, 0, carried);
      data.copy(prefixScratch, carried, pos, pos + n);
      prefix = startLinePrefix(prefixScratch, 0, carried + n);
    }
    if (prefix !== undefined) {
      const isResponse = prefix.statusCode !== undefined;
      const v = prefix.version;
      // Same fields in the same order as beginMessage: one hidden class for every message.
      this.msg = {
        kind: isResponse ? 'response' : 'request',
        method: prefix.method,
        url: undefined,
        statusCode: prefix.statusCode,
        reason: undefined,
        // A request's version comes after its (too long) target: unknown (-1).
        versionMajor: v === undefined ? -1 : (v / 10) | 0,
        versionMinor: v === undefined ? -1 : v % 10,
        headers: NO_FIELDS,
        trailers: NO_FIELDS,
        bodySize: 0,
        bodyBytesMissing: 0,
        incomplete: false,
        startNs: this.carryLen > 0 ? this.lineStartNs : this.ts,
        endNs: 0n,
        shouldClose: false,
        upgrade: false,
      };
      this.lastNs = this.ts;
      this.seenHttp = true;
    }
    this.fail('too-large', `start line over ${this.maxHeaderBytes} bytes`, State.SkipLine);
  }

  private badStartLine(then: State): void {
    if (!this.seenHttp) this.notHttp('the stream does not start with an HTTP/1.x request or status line');
    else this.fail('invalid', 'malformed start line', then);
  }

  /** Starts a message from the start line just scanned (startLine, lineBuf). */
  private beginMessage(): void {
    const buf = this.lineBuf, s = this.lineStart, e = this.lineEnd - 1;
    const v = startLine.version;
    const isResponse = startLine.isResponse;
    // The strings are cut later from the whole head (flushText) when the line is in the chunk;
    // a line completed in the carry buffer is decoded now (the carry is reused).
    const now = buf !== this.chunk;
    if (!now) {
      this.pendFrom = s;
      this.pendTo = e;
      this.pendStartLine = true;
      this.pendA = isResponse ? startLine.reasonStart : s;
      this.pendB = isResponse ? e : startLine.methodEnd;
      this.pendC = startLine.urlStart;
      this.pendD = startLine.urlEnd;
    }
    // All fields in one fixed order, so every message has the same hidden class.
    this.msg = {
      kind: isResponse ? 'response' : 'request',
      method: isResponse || !now ? undefined : latin1(buf, s, startLine.methodEnd),
      url: isResponse || !now ? undefined : latin1(buf, startLine.urlStart, startLine.urlEnd),
      statusCode: isResponse ? startLine.statusCode : undefined,
      reason: isResponse && now ? latin1(buf, startLine.reasonStart, e) : undefined,
      versionMajor: (v / 10) | 0,
      versionMinor: v % 10,
      headers: NO_FIELDS,
      trailers: NO_FIELDS,
      bodySize: 0,
      bodyBytesMissing: 0,
      incomplete: false,
      startNs: this.lineStartNs,
      endNs: 0n,
      shouldClose: false,
      upgrade: false,
    };
    this.seenHttp = true;
    this.headBytes = this.lineEnd + 1 - this.lineStart;
    this.lastNs = this.ts;
    this.contentLength = -1;
    this.transferEncoding = false;
    this.chunked = false;
    this.connection = 0;
    this.upgradeHeader = false;
    this.state = State.Headers;
  }

  private readHeaderLine(data: Buffer, pos: number, end: number): number {
    const limit = this.maxHeaderBytes - this.headBytes;
    if (this.carryLen === 0) {
      // Fast path: a whole, well-formed line in this chunk, found and checked in one pass (no
      // separate search for the LF). Anything else takes the general path below, which finds
      // the same line and judges it as it always did.
      if (data[pos] === CR) {
        if (pos + 1 < end && data[pos + 1] === LF && limit >= 2) {
          this.headBytes += 2;
          this.lastNs = this.ts;
          this.headersComplete();
          return pos + 2;
        }
      } else {
        const next = scanFieldLineCrlf(data, pos, end);
        if (next >= 0 && next - pos <= limit) {
          this.headBytes += next - pos;
          this.lastNs = this.ts;
          const problem = this.addField(data, pos);
          if (problem !== undefined) this.fail('invalid', problem, State.Resync);
          return next;
        }
      }
    }
    const next = this.takeLine(data, pos, end, limit);
    if (next === LINE_INCOMPLETE) return end;
    if (next === LINE_TOO_LONG) {
      this.fail('too-large', `header block over ${this.maxHeaderBytes} bytes`, State.SkipLine);
      return pos;
    }
    this.headBytes += this.lineEnd + 1 - this.lineStart;
    this.lastNs = this.ts;
    if (!this.lineHasCr()) {
      this.fail('invalid', 'header line not ended by CRLF', State.Resync);
    } else if (this.lineEnd - 1 === this.lineStart) {
      this.headersComplete();
    } else {
      const problem = this.addHeader(this.lineBuf, this.lineStart, this.lineEnd - 1);
      if (problem !== undefined) this.fail('invalid', problem, State.Resync);
    }
    return next;
  }

  /** Adds one field line to the message; returns what is wrong with it, if anything. */
  private addHeader(buf: Buffer, s: number, e: number): string | undefined {
    if (!scanHeaderLine(buf, s, e)) {
      return buf[s] === 0x20 || buf[s] === 0x09 ? 'obsolete line folding' : 'malformed header line';
    }
    return this.addField(buf, s);
  }

  /** Adds the field line at buf[s] that scanHeaderLine (or scanFieldLineCrlf) just accepted. */
  private addField(buf: Buffer, s: number): string | undefined {
    const { nameEnd, valueStart, valueEnd } = headerLine;
    const msg = this.msg!;
    const name = fieldName(buf, s, nameEnd);
    switch (fieldNameInfo.kind) {
      case HeaderKind.Other:
        break;
      case HeaderKind.ContentLength: {
        if (this.contentLength >= 0) return 'duplicate Content-Length';
        if (this.transferEncoding) return 'both Content-Length and Transfer-Encoding';
        const length = parseContentLength(buf, valueStart, valueEnd);
        if (length < 0) return 'invalid Content-Length';
        this.contentLength = length;
        break;
      }
      case HeaderKind.TransferEncoding: {
        if (this.contentLength >= 0) return 'both Content-Length and Transfer-Encoding';
        if (valueStart === valueEnd) return 'empty Transfer-Encoding';
        const codings = parseTransferCodings(buf, valueStart, valueEnd, this.chunked, msg.kind === 'request');
        if (codings === Codings.Invalid) return 'transfer coding after chunked in a request';
        this.transferEncoding = true;
        this.chunked = codings === Codings.Chunked;
        break;
      }
      case HeaderKind.Connection:
        this.connection |= connectionTokens(buf, valueStart, valueEnd);
        break;
      case HeaderKind.Upgrade:
        if (valueEnd > valueStart) this.upgradeHeader = true;
        break;
    }
    if (buf === this.chunk) {
      // The value is cut later from the whole head (flushText).
      if (this.pendFrom < 0) this.pendFrom = valueStart;
      this.pendTo = valueEnd;
      const i = this.pendCount++;
      if (2 * i + 2 > pendingValues.length) {
        const grown = new Int32Array(pendingValues.length * 2);
        grown.set(pendingValues);
        pendingValues = grown;
      }
      pendingNames[i] = name;
      pendingValues[2 * i] = valueStart;
      pendingValues[2 * i + 1] = valueEnd;
    } else {
      // A line completed in the carry buffer: what came before it is complete, so the order holds.
      this.flushText();
      const value = latin1(buf, valueStart, valueEnd);
      if (msg.headers === NO_FIELDS) msg.headers = [name, value];
      else msg.headers.push(name, value);
    }
    return undefined;
  }

  /** The empty line after the fields: decides how the body is delimited (RFC 9112 6.3). */
  private headersComplete(): void {
    this.flushText();
    const msg = this.msg!;
    let body: Body;
    let upgrade = false;
    if (msg.kind === 'request') {
      // Same order as llhttp: a CONNECT (or a bodiless upgrade) switches at once, whatever
      // its framing fields say; an upgrade with a body switches after the body.
      const connect = msg.method === 'CONNECT';
      upgrade = connect || (this.upgradeHeader && (this.connection & CONN_UPGRADE) !== 0);
      if (upgrade && (connect || !(this.chunked || this.contentLength > 0))) {
        body = Body.None;
      } else if (this.chunked) {
        body = Body.Chunked;
      } else if (this.transferEncoding) {
        this.fail('invalid', 'request Transfer-Encoding does not end with chunked', State.Resync);
        return;
      } else {
        body = this.contentLength > 0 ? Body.Fixed : Body.None;
      }
    } else {
      const status = msg.statusCode!;
      if (status < 200) {
        // Interim responses have no body; 101 switches protocol.
        body = Body.None;
        upgrade = status === 101;
      } else {
        const requestMethod = this.callbacks.methodForResponse?.();
        if (requestMethod === 'CONNECT' && status < 300) {
          body = Body.None;
          upgrade = true;
        } else if (requestMethod === 'HEAD' || status === 204 || status === 304) {
          body = Body.None;
        } else if (this.transferEncoding) {
          body = this.chunked ? Body.Chunked : Body.UntilClose;
        } else if (this.contentLength >= 0) {
          body = this.contentLength > 0 ? Body.Fixed : Body.None;
        } else {
          body = Body.UntilClose;
        }
      }
    }
    const persistent = msg.versionMajor === 1 && msg.versionMinor === 1
      ? (this.connection & CONN_CLOSE) === 0
      : (this.connection & CONN_KEEP_ALIVE) !== 0;
    msg.shouldClose = !persistent || body === Body.UntilClose;
    msg.upgrade = upgrade;
    switch (body) {
      case Body.None:
        this.requestHead(msg);
        this.completeMessage();
        break;
      case Body.Fixed:
        this.remaining = this.contentLength;
        this.state = State.BodyFixed;
        this.requestHead(msg);
        break;
      case Body.Chunked:
        this.state = State.ChunkSize;
        this.requestHead(msg);
        break;
      case Body.UntilClose:
        this.state = State.BodyUntilClose;
        this.requestHead(msg);
        break;
    }
  }

  /** A request's head is complete (its body, if any, follows): a server may answer now. */
  private requestHead(msg: HttpMessage): void {
    if (msg.kind !== 'request') return;
    msg.endNs = this.lastNs; // the end of its head, until the body is complete too
    this.callbacks.onRequestHead?.(msg);
  }

  private countFixedBody(pos: number, end: number): number {
    const n = Math.min(this.remaining, end - pos);
    this.msg!.bodySize += n;
    this.remaining -= n;
    this.lastNs = this.ts;
    if (this.remaining === 0) this.completeMessage();
    return pos + n;
  }

  private countBodyUntilClose(pos: number, end: number): number {
    this.msg!.bodySize += end - pos;
    this.lastNs = this.ts;
    return end;
  }

  private readChunkSize(data: Buffer, pos: number, end: number): number {
    if (this.carryLen === 0) {
      // Fast path: hex digits and CRLF in this chunk (see readHeaderLine).
      const size = chunkSizeCrlf(data, pos, end);
      if (size >= 0 && chunkLine.next - pos <= this.maxHeaderBytes) {
        this.lastNs = this.ts;
        this.chunkSize(size);
        return chunkLine.next;
      }
    }
    const next = this.takeLine(data, pos, end, this.maxHeaderBytes);
    if (next === LINE_INCOMPLETE) return end;
    if (next === LINE_TOO_LONG) {
      this.fail('too-large', `chunk-size line over ${this.maxHeaderBytes} bytes`, State.SkipLine);
      return pos;
    }
    this.lastNs = this.ts;
    const size = this.lineHasCr() ? parseChunkSizeLine(this.lineBuf, this.lineStart, this.lineEnd - 1) : -1;
    if (size < 0) this.fail('invalid', 'malformed chunk-size line', State.Resync);
    else this.chunkSize(size);
    return next;
  }

  private chunkSize(size: number): void {
    if (size === 0) {
      this.headBytes = 0; // now counts trailer bytes
      this.state = State.Trailers;
    } else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
  }

  private countChunkData(pos: number, end: number): number {
    const n = Math.min(this.remaining, end - pos);
    this.msg!.bodySize += n;
    this.remaining -= n;
    this.lastNs = this.ts;
    if (this.remaining === 0) this.state = State.ChunkDataCr;
    return pos + n;
  }

  private expectChunkEnd(data: Buffer, pos: number, byte: number, then: State): number {
    if (data[pos] !== byte) {
      this.fail('invalid', 'chunk data not followed by CRLF', State.SkipLine);
      return pos;
    }
    this.lastNs = this.ts;
    this.state = then;
    return pos + 1;
  }

  private readTrailerLine(data: Buffer, pos: number, end: number): number {
    const next = this.takeLine(data, pos, end, this.maxHeaderBytes - this.headBytes);
    if (next === LINE_INCOMPLETE) return end;
    if (next === LINE_TOO_LONG) {
      this.fail('too-large', `trailer block over ${this.maxHeaderBytes} bytes`, State.SkipLine);
      return pos;
    }
    this.headBytes += this.lineEnd + 1 - this.lineStart;
    this.lastNs = this.ts;
    const buf = this.lineBuf, s = this.lineStart, e = this.lineEnd - 1;
    if (!this.lineHasCr()) {
      this.fail('invalid', 'trailer line not ended by CRLF', State.Resync);
    } else if (e === s) {
      this.completeMessage();
    } else if (!scanHeaderLine(buf, s, e)) {
      this.fail('invalid', 'malformed trailer line', State.Resync);
    } else {
      const msg = this.msg!;
      const name = latin1(buf, s, headerLine.nameEnd);
      const value = latin1(buf, headerLine.valueStart, headerLine.valueEnd);
      if (msg.trailers === NO_FIELDS) msg.trailers = [name, value];
      else msg.trailers.push(name, value);
    }
    return next;
  }

  private skipLine(data: Buffer, pos: number, end: number): number {
    const lf = data.indexOf(LF, pos);
    if (lf < 0) return end;
    this.state = State.Resync;
    return lf + 1;
  }

  /** At a line start after lost framing: drop lines until one parses as a start line. */
  private resync(data: Buffer, pos: number, end: number): number {
    // Refuse obvious non-start lines before copying anything into the carry buffer.
    if (this.carryLen === 0 && !plausibleStartPrefix(data, pos, end)) {
      this.state = State.SkipLine;
      return pos;
    }
    const next = this.takeLine(data, pos, end, this.maxHeaderBytes);
    if (next === LINE_INCOMPLETE) {
      if (!plausibleStartPrefix(this.carry!, 0, this.carryLen)) {
        this.carryLen = 0;
        this.state = State.SkipLine;
      }
      return end;
    }
    if (next === LINE_TOO_LONG) {
      this.carryLen = 0;
      this.state = State.SkipLine;
      return pos;
    }
    if (this.lineHasCr() && scanStartLine(this.lineBuf, this.lineStart, this.lineEnd - 1, false)) this.beginMessage();
    return next;
  }

  // -------------------------------------------------------------------------------------------
  // Outcomes. State is settled before each callback, so a callback that throws leaves the
  // parser consistent.

  private completeMessage(): void {
    const msg = this.msg!;
    msg.endNs = this.lastNs;
    this.msg = undefined;
    this.failedResyncs = 0;
    this.state = msg.upgrade ? State.Ignore : State.Idle;
    if (msg.upgrade) this.carry = undefined;
    this.callbacks.onMessage(msg);
  }

  /** Reports the message in progress (if any) as cut short, drops the carry, moves to `then`. */
  private fail(reason: ParseErrorReason, detail: string, then: State): void {
    this.flushText();
    const partial = this.msg;
    if (partial !== undefined) {
      partial.incomplete = true;
      partial.endNs = this.lastNs;
      this.msg = undefined;
    }
    this.carryLen = 0;
    this.state = then;
    const giveUp = (reason === 'invalid' || reason === 'too-large') && ++this.failedResyncs >= MAX_FAILED_RESYNCS;
    if (giveUp) this.state = State.Ignore;
    this.callbacks.onError(partial === undefined ? { reason, detail, atNs: this.ts } : { reason, detail, atNs: this.ts, partial });
    if (giveUp) {
      this.callbacks.onError({
        reason: 'not-http',
        detail: `${MAX_FAILED_RESYNCS} errors in a row without a good message; ignoring the rest of the stream`,
        atNs: this.ts,
      });
    }
  }

  /** Framing lost to a capture gap: report and resync from the bytes after the gap. */
  private lostFraming(detail: string): void {
    this.fail('gap', detail, State.Resync);
  }

  private notHttp(detail: string): void {
    this.pendFrom = -1;
    this.pendCount = 0;
    this.pendStartLine = false;
    this.msg = undefined;
    this.carryLen = 0;
    this.carry = undefined;
    this.state = State.Ignore;
    this.callbacks.onError({ reason: 'not-http', detail, atNs: this.ts });
  }
}

// A parser's hidden class (V8 map) is built field by field, and only live parsers hold on to
// it. When every connection is gone (an idle agent, a pipeline built anew) a full GC drops the
// map, and with it all optimized code that was specialised on it: the parser is then compiled
// again from scratch (tens of ms of CPU per function). One idle parser kept for the life of the
// process keeps the map, and the code, valid.
export const keptForShape: readonly object[] = [new Http1Parser({ onMessage() {}, onError() {} })];
