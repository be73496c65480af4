// HTTP/1.x session: one parser per direction; requests queue in order, and each final response
// takes the oldest request (HTTP/1.x answers in order, also when pipelined). The direction the
// first request travels says which side the traced process is: it wrote it (client) or read it
// (server). An exchange cut short (connection closed, process exited, no response in time,
// capture gap) is still reported, with its error kind.
import { ErrorKind } from '../../exchange/error-kind';
import { Verdict, type ProtocolDetector } from '../detect';
import {
  ProtocolCounter, type Direction, type ProtocolExchange, type ProtocolSession, type SessionOptions, type SessionOutput,
} from '../session';
import { Http1Parser } from './parser';
import { plausibleStartPrefix } from './syntax';
import type { HttpMessage, ParseError } from './types';

interface Pending {
  request: HttpMessage;
  /** 1 for the connection's first request, 2 for the next… */
  ordinal: number;
  /** The request was cut (capture gap, over the limit, invalid): its exchange carries that. */
  error: ErrorKind | undefined;
  detail: string | undefined;
  /** When its head was complete: a response that began before that cannot answer it. */
  headNs: bigint;
  /** Its body has been read to the end (or it has none). */
  complete: boolean;
  /** A response that came before the request's body was all read (the server answered
   *  early): the exchange is reported once the body is complete, or the connection closes. */
  response: HttpMessage | undefined;
  responseError: ErrorKind | undefined;
  responseDetail: string | undefined;
}

export class Http1Session implements ProtocolSession {
  private readonly parsers: Record<Direction, Http1Parser>;
  /** Which side this process is, known from the first request seen. */
  private side: 'client' | 'server' | undefined = undefined;
  private readonly pending: Pending[] = [];
  /** The request whose body is being read (its head is in `pending`, or was answered early). */
  private inBody: Pending | undefined = undefined;
  /** Methods of requests already given up (timed out, over the limit) whose responses are still
   *  to come: those responses are skipped, but framed by the right method (HEAD has no body). */
  private readonly owed: Array<string | undefined> = [];
  private requests = 0;
  /** Set while responses cannot be paired by order: a capture gap may have swallowed whole
   *  messages, or the parser skipped bytes of the response stream to find its way. Responses
   *  are then paired by time until the queue of waiting requests is empty again. The kind is
   *  the error of a request found to have lost its response. */
  private outOfSync: ErrorKind | undefined = undefined;
  /** When each direction lost bytes it could not frame, since the oldest waiting request's head
   *  (older ones answer no pairing question): the earliest of each stretch between two request
   *  heads, so at most maxPending + 1 entries a direction. Not only the latest: a response may
   *  complete after a later loss was reported (a record carrying both directions' losses), and
   *  the loss that matters to it is the one before it began. */
  private readonly gapsNs: Record<Direction, bigint[]> = { write: [], read: [] };
  /** A response (a status line) has been seen: an HTTP/0.9 request is believed only then. */
  private sawResponse = false;
  private ignored = false;

  constructor(private readonly out: SessionOutput, private readonly opts: SessionOptions) {
    const make = (dir: Direction) => new Http1Parser({
      onMessage: (m) => this.message(dir, m),
      onRequestHead: (m) => this.requestHead(dir, m),
      onError: (e) => this.error(dir, e),
      methodForResponse: () => (this.owed.length > 0 ? this.owed[0] : this.pending[0]?.request.method),
    });
    this.parsers = { write: make('write'), read: make('read') };
  }

  data(dir: Direction, bytes: Buffer, tsNs: bigint): void {
    if (!this.ignored) this.parsers[dir].execute(bytes, tsNs);
  }

  gap(dir: Direction, bytes: number, tsNs: bigint): void {
    if (this.ignored) return;
    this.parsers[dir].gap(bytes, tsNs);
    // Whole messages may have been inside the gap (the parser cannot say so when the gap falls
    // between messages): pair by time until the queue drains.
    this.outOfSync = ErrorKind.CaptureGap;
    this.noteGap(dir, tsNs);
  }

  skip(dir: Direction, bytes: number, tsNs: bigint): void {
    if (this.ignored || this.parsers[dir].skip(bytes, tsNs)) return;
    this.out.count(ProtocolCounter.SkipMismatches);
    this.gap(dir, bytes, tsNs);
  }

  expire(deadlineNs: bigint, nowNs: bigint): void {
    const pending = this.pending;
    const responseDir = this.side === 'server' ? 'write' : 'read';
    while (pending.length > 0 && pending[0].headNs < deadlineNs) {
      const p = pending.shift()!;
      // An HTTP/0.9 request nobody answered was not HTTP after all (a text protocol's command).
      if (p.request.versionMajor === 0 && !this.sawResponse) continue;
      // As at a close: bytes of the answering direction lost after it may have held its answer.
      this.giveUp(p, this.gapBetween(responseDir, p.headNs, nowNs) ? ErrorKind.CaptureGap : ErrorKind.ResponseTimeout, nowNs);
    }
  }

  close(reason: ErrorKind, tsNs: bigint): number {
    if (!this.ignored) {
      // End of stream completes close-delimited responses before anything is given up.
      this.parsers.write.finish(tsNs);
      this.parsers.read.finish(tsNs);
    }
    const pending = this.pending.splice(0);
    // A request answered before its body was all read: the answer is what counts.
    const early = this.inBody !== undefined && this.inBody.response !== undefined ? this.inBody : undefined;
    this.inBody = undefined;
    if (reason === ErrorKind.AgentStopped) return pending.length + (early !== undefined ? 1 : 0);
    if (early !== undefined) this.emit(early, early.response, early.responseError, early.responseDetail, tsNs);
    const responseDir = this.side === 'server' ? 'write' : 'read';
    for (const p of pending) {
      // An HTTP/0.9 request nobody answered was not HTTP after all (e.g. a text protocol).
      if (p.request.versionMajor === 0 && !this.sawResponse) continue;
      // Bytes of the answering direction lost after the request: its answer may have been in
      // them, so the capture, not the connection, is why there is none.
      const why = p.error ?? (this.gapBetween(responseDir, p.headNs, tsNs) ? ErrorKind.CaptureGap : reason);
      this.cutShort(p, why, p.detail, tsNs);
    }
    return 0;
  }

  /** A request's head is complete: it waits for its answer from now on. */
  private requestHead(dir: Direction, m: HttpMessage): void {
    this.side ??= dir === 'write' ? 'client' : 'server';
    this.inBody = this.queue(m, m.endNs, undefined, undefined);
  }

  private queue(request: HttpMessage, headNs: bigint, error: ErrorKind | undefined, detail: string | undefined): Pending {
    const p: Pending = {
      request, ordinal: ++this.requests, error, detail, headNs, complete: false,
      response: undefined, responseError: undefined, responseDetail: undefined,
    };
    this.pending.push(p);
    if (this.pending.length > this.opts.maxPending) this.giveUp(this.pending.shift()!, ErrorKind.TooManyPending, request.startNs);
    return p;
  }

  private message(dir: Direction, m: HttpMessage): void {
    if (m.kind === 'request') {
      const p = this.inBody;
      if (p !== undefined && p.request === m) {
        this.inBody = undefined;
        p.complete = true;
        // Answered before its body was read to the end: report it now.
        if (p.response !== undefined) this.emit(p, p.response, p.responseError, p.responseDetail, m.endNs);
      } else {
        // Not announced by its head (cannot happen with our parser; kept total).
        this.side ??= dir === 'write' ? 'client' : 'server';
        this.queue(m, m.endNs, undefined, undefined).complete = true;
      }
      return;
    }
    this.sawResponse = true;
    const p = this.answered(m);
    if (p !== undefined) this.respond(p, m, p.error ?? (m.incomplete ? ErrorKind.CaptureGap : undefined), p.detail);
  }

  /** `p` is answered by `response`: reported now, or once the request's body is complete. */
  private respond(p: Pending, response: HttpMessage, error: ErrorKind | undefined, detail: string | undefined): void {
    if (p.complete || p !== this.inBody) {
      this.emit(p, response, error, detail, response.endNs);
      return;
    }
    p.response = response;
    p.responseError = error;
    p.responseDetail = detail;
  }

  /** The pending request a (possibly partial) response answers; undefined for an interim
   *  response, for the answer to a request already given up, and when there is none. */
  private answered(m: HttpMessage): Pending | undefined {
    const code = m.statusCode ?? 0;
    if (code >= 100 && code < 200 && code !== 101) return undefined; // interim: the final response follows
    if (this.owed.length > 0) {
      this.owed.shift(); // the answer to a request already reported as cut short
      return undefined;
    }
    const pending = this.pending;
    const lostWhy = this.outOfSync;
    if (lostWhy !== undefined) {
      // Requests or responses may have been lost: a response answers the newest request that
      // was complete before the response began; older ones lost their responses.
      let i = pending.length - 1;
      while (i >= 0 && pending[i].headNs > m.startNs) i--;
      // Requests lost after that one (a gap in the request direction between its end and this
      // response) were sent after its response had come: this response answers one of them.
      if (i >= 0 && this.gapBetween(this.side === 'server' ? 'read' : 'write', pending[i].headNs, m.startNs)) {
        for (const lost of pending.splice(0, i + 1)) this.cutShort(lost, lost.error ?? lostWhy, lost.detail, m.startNs);
        i = -1;
      }
      if (i < 0) {
        this.out.count(ProtocolCounter.UnpairedResponses); // the answer to a request we never saw
        if (pending.length === 0) this.outOfSync = undefined;
        return undefined;
      }
      for (const lost of pending.splice(0, i)) this.cutShort(lost, lost.error ?? lostWhy, lost.detail, m.startNs);
    }
    const p = pending.shift();
    if (p === undefined) this.out.count(ProtocolCounter.UnpairedResponses);
    if (pending.length === 0) this.outOfSync = undefined;
    return p;
  }

  private error(dir: Direction, e: ParseError): void {
    switch (e.reason) {
      case 'not-http':
        // One protocol per connection: if one direction is not HTTP/1.x, neither is the other
        // (unless requests were seen and wait for answers: then it is HTTP that went wrong). A
        // request line without a version (HTTP/0.9) is believed only with a response after it.
        if (!this.ignored && (this.pending.length === 0 || (!this.sawResponse && this.pending.every((p) => p.request.versionMajor === 0)))) {
          this.ignored = true;
          this.pending.length = 0;
          this.out.notMine();
        }
        return;
      case 'invalid': this.out.count(ProtocolCounter.InvalidMessages); break;
      case 'too-large': this.out.count(ProtocolCounter.TooLarge); break;
      case 'gap': this.out.count(ProtocolCounter.GapErrors); break;
      case 'truncated': this.out.count(ProtocolCounter.Truncated); break;
    }
    const kind = e.reason === 'gap' ? ErrorKind.CaptureGap
      : e.reason === 'truncated' ? ErrorKind.ClosedMidMessage
        : e.reason === 'too-large' ? ErrorKind.MessageTooLarge : ErrorKind.InvalidMessage;
    const detail = e.reason === 'gap' || e.reason === 'truncated' ? undefined : e.detail;
    const partial = e.partial;
    if (partial !== undefined) {
      if (partial.kind === 'request') {
        const p = this.inBody;
        if (p !== undefined && p.request === partial) {
          // Cut inside its body: it is queued already (or answered early).
          this.inBody = undefined;
          p.complete = true;
          p.error ??= kind;
          p.detail ??= detail;
          if (p.response !== undefined) {
            // The server answered before the cut: that answer is the exchange's outcome.
            this.emit(p, p.response, p.responseError ?? (kind === ErrorKind.CaptureGap ? kind : undefined), p.responseDetail, e.atNs);
          }
        } else {
          // Keep its place in the queue, or every later response would pair with the wrong
          // request. A server answers (or rejects) requests in order even when one did not
          // parse for us, so order stays the rule: only a gap can hide whole requests.
          this.side ??= dir === 'write' ? 'client' : 'server';
          this.queue(partial, partial.endNs > partial.startNs ? partial.endNs : e.atNs, kind, detail).complete = true;
        }
      } else {
        this.sawResponse = true;
        const p = this.answered(partial);
        if (p !== undefined) this.respond(p, partial, p.error ?? kind, p.detail ?? detail);
      }
    }
    if (e.reason === 'truncated') return;
    // What a gap swallowed after the message cut short (whole messages, perhaps), or what the
    // parser skipped of the response stream to find the next status line, makes the order of
    // responses unreliable from here on. Bytes skipped in the request direction after a request
    // that kept its place hide no request the server answered (the server reads the same bytes).
    const requestDir = this.side === 'server' ? 'read' : this.side === 'client' ? 'write' : undefined;
    if (e.reason === 'gap' || partial === undefined || partial.kind === 'response' || dir !== requestDir) {
      // A capture gap explains more than a parse error does: it stays the reason once given.
      if (this.outOfSync !== ErrorKind.CaptureGap) this.outOfSync = e.reason === 'gap' ? ErrorKind.CaptureGap : ErrorKind.SkippedAfterInvalid;
      this.noteGap(dir, e.atNs);
    }
  }

  /** `dir` lost bytes it could not frame at `tsNs` (see gapsNs). */
  private noteGap(dir: Direction, tsNs: bigint): void {
    const pending = this.pending;
    const oldest = pending.length > 0 ? pending[0].headNs : -1n;
    const newest = pending.length > 0 ? pending[pending.length - 1].headNs : -1n;
    let list = this.gapsNs[dir];
    if (list.length > 0 && list[0] <= oldest) list = this.gapsNs[dir] = list.filter((g) => g > oldest);
    // One gap after the newest request's head answers every question about that stretch: the
    // earliest, since the question is whether one came before a response began.
    const last = list.length > 0 ? list[list.length - 1] : -1n;
    if (last > newest && last <= tsNs) return;
    list.push(tsNs);
    // Bounded even if timestamps go backwards (a parse error's time): the oldest goes first.
    if (list.length > this.opts.maxPending + 1) list.shift();
  }

  /** `dir` lost bytes after `afterNs` and no later than `untilNs`. */
  private gapBetween(dir: Direction, afterNs: bigint, untilNs: bigint): boolean {
    for (const g of this.gapsNs[dir]) if (g > afterNs && g <= untilNs) return true;
    return false;
  }

  /** Reports a request still waiting for its response as cut short; the response, if it comes
   *  later, is skipped (bounded: beyond maxPending the oldest is forgotten). */
  private giveUp(p: Pending, kind: ErrorKind, endNs: bigint): void {
    this.owed.push(p.request.method);
    if (this.owed.length > this.opts.maxPending) this.owed.shift();
    this.cutShort(p, p.error ?? kind, p.detail, endNs);
  }

  private cutShort(p: Pending, kind: ErrorKind, detail: string | undefined, endNs: bigint): void {
    this.emit(p, undefined, kind, detail, endNs > p.request.endNs ? endNs : p.request.endNs);
  }

  private emit(p: Pending, response: HttpMessage | undefined, error: ErrorKind | undefined, detail: string | undefined, endNs: bigint): void {
    const request = p.request;
    // network.protocol.version: what the answer was spoken in (an HTTP/1.0 reply is 1.0).
    const v = response ?? request;
    const ex: ProtocolExchange = {
      side: this.side ?? 'client',
      protocol: 'http/1',
      version: versionText(v.versionMajor, v.versionMinor),
      request,
      response,
      startNs: request.startNs,
      endNs: response !== undefined ? response.endNs : endNs,
      error,
      errorDetail: error === undefined ? undefined : detail,
      ordinal: p.ordinal,
      scheme: undefined,
      authority: undefined,
      rpc: undefined,
      process: undefined,
      connectionId: undefined,
      library: undefined,
      addresses: undefined,
    };
    this.out.exchange(ex);
  }
}

/** "1.1" without building the string for the versions nearly every message has. */
function versionText(major: number, minor: number): string | undefined {
  if (major === 1 && minor === 1) return '1.1';
  if (major === 1 && minor === 0) return '1.0';
  return major < 0 ? undefined : `${major}.${minor}`;
}

/** HTTP/1.x: the connection's first bytes (either direction) start a request or status line. */
export const http1: ProtocolDetector = {
  protocol: 'http/1',
  detect(_dir: Direction, head: Buffer): Verdict {
    if (!plausibleStartPrefix(head, 0, head.length)) return Verdict.No;
    // A start line is a token, a space and more (or "HTTP/1.x"): wait for the space.
    return head.indexOf(0x20) > 0 ? Verdict.Yes : Verdict.Maybe;
  },
  create: (out, opts) => new Http1Session(out, opts),
};
