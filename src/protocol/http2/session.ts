// The HTTP/2 protocol session: one connection's frames, both directions, become exchanges —
// one per stream, ended by END_STREAM in the response direction (so a streaming RPC lasts as
// long as it does), by RST_STREAM, by GOAWAY, or by the connection's end.
//
// Header blocks are decoded in wire order by one HPACK decoder per direction (hpack-decoder.ts
// says how it keeps going on a connection joined mid-way). A field whose value is not known
// is left out, and a pseudo-header that is not known (or not valid) leaves its property
// undefined: an exchange never carries a value we cannot vouch for.
//
// Which side the traced process is on: the direction that sent the HEADERS opening a stream is
// the client's ('write': the traced process is the client). On a connection joined mid-way,
// the client direction is learnt from the first request or response decoded; until then a
// header block that tells nothing is dropped (counted).

import { ErrorKind } from '../../exchange/error-kind';
import { ProtocolCounter } from '../session';
import type {
  Direction, Fields, ProtocolExchange, ProtocolSession, SessionOptions, SessionOutput,
} from '../session';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, Flag, FrameType, MAX_MAX_FRAME_SIZE, SettingId, errorCodeName } from './frame';
import { FrameReader, SyncLoss } from './frame-reader';
import type { FrameHead, FrameSink } from './frame-reader';
import { DecodeResult, HpackDecoder } from './hpack-decoder';
import {
  fieldValue, isGrpcContentType, parseStatus, rpcInfo, validAuthority, validMethod, validPath, validScheme,
} from './fields';

/** Largest header block (HEADERS + CONTINUATION fragments) kept for decoding. */
export const MAX_HEADER_BLOCK = 65536;
/** Frames at the start of a direction not seen from its preface that must pass the strict
 *  frame checks (known type, defined flags, default maximum size). */
const STRICT_FIRST_FRAMES = 2;
/** Fewest streams a connection may have in flight before the oldest is given up. */
export const MIN_STREAMS = 256;

const NO_FIELDS: Fields = Object.freeze([]) as unknown as Fields;

/** Why a header block's fields are not known. */
const enum BlockLoss {
  None,
  Gap,
  TooLarge,
  Invalid,
}

const enum Resp {
  None,
  Headers,
}

/** One stream: small, fields in a fixed order. */
class Stream {
  method: string | undefined = undefined;
  path: string | undefined = undefined;
  scheme: string | undefined = undefined;
  authority: string | undefined = undefined;
  reqHeaders: Fields = NO_FIELDS;
  reqBody = 0;
  reqEnd: bigint;
  status: number | undefined = undefined;
  respHeaders: Fields = NO_FIELDS;
  trailers: Fields = NO_FIELDS;
  respBody = 0;
  respStart = 0n;
  respEnd = 0n;
  resp = Resp.None;
  /** The response's final HEADERS also ended it (gRPC trailers-only). */
  trailersOnly = false;
  grpc = false;
  error: ErrorKind | undefined = undefined;
  errorDetail: string | undefined = undefined;
  /** The request's END_STREAM was seen (its body is all counted). */
  reqDone = false;
  /** The response ended first (a server may answer before it has read the request body):
   *  the exchange is reported when the request ends too, at a reset, or a little later. */
  respDone = false;
  doneNs = 0n;

  constructor(
    readonly id: number,
    /** The request went 'write' (the traced process is the client). */
    readonly reqWrite: boolean,
    readonly reqStart: bigint,
  ) {
    this.reqEnd = reqStart;
  }

  flag(kind: ErrorKind, detail: string): void {
    if (this.error === undefined) {
      this.error = kind;
      this.errorDetail = detail;
    }
  }
}

/** How long an answered stream waits for its request's END_STREAM (its body still being read)
 *  before it is reported as it stands: the request's end may have been lost. */
const ANSWERED_WAIT_NS = 1_000_000_000n;

/** Per direction: its frame reader, HPACK decoder and the header block being assembled. */
class Side implements FrameSink {
  readonly reader: FrameReader;
  decoder: HpackDecoder | undefined = undefined;
  /** Bytes of this direction were lost before its first header block. */
  lostEarly = false;
  /** Framing was found again after a loss, and no header block since has fitted a stream we
   *  know: a false resync would feed HPACK garbage, whose insertions must not be trusted. */
  suspect = false;
  /** Preface bytes matched at the start of this direction (-1: nothing seen yet; 24 or more:
   *  done, either way). */
  preface = -1;
  /** The receiver of this direction announced its SETTINGS_MAX_FRAME_SIZE (reader.maxFrameSize
   *  is its value, not a guess). */
  maxFrameSizeKnown = false;
  // The header block in progress: HEADERS or PUSH_PROMISE, then CONTINUATIONs.
  blockActive = false;
  blockType = 0;
  blockStream = 0;
  blockPromised = 0;
  blockEndStream = false;
  blockStartNs = 0n;
  blockLoss = BlockLoss.None;
  blockBuf: Buffer | undefined = undefined;
  blockLen = 0;

  constructor(readonly session: Http2Session, readonly dir: Direction) {
    this.reader = new FrameReader(this);
  }

  frame(h: FrameHead, buf: Buffer | undefined, start: number): void {
    this.session.onFrame(this, h, buf, start);
  }

  dataFrame(h: FrameHead, body: number): void {
    this.session.onData(this, h, body);
  }

  lostSync(why: SyncLoss, tsNs: bigint): void {
    void tsNs;
    this.session.onLostSync(this, why);
  }

  resynced(tsNs: bigint): void {
    void tsNs;
    this.session.onResynced(this);
  }
}

export class Http2Session implements ProtocolSession {
  private readonly out: SessionOutput;
  private readonly maxStreams: number;
  private readonly streams = new Map<number, Stream>();
  private readonly write: Side;
  private readonly read: Side;
  /** The direction of requests (the client's), once known. */
  private clientDir: Direction | undefined = undefined;
  /** The client preface was seen: the connection is seen from its start. */
  private fromStart = false;
  /** Highest stream id opened by the client so far (new ones are higher). */
  private lastClientStream = 0;
  /** Framing failures before any frame was read (joined mid-way). */
  private unframedFailures = 0;
  /** notMine() was called: everything else is ignored. */
  private dead = false;

  constructor(out: SessionOutput, opts: SessionOptions) {
    this.out = out;
    this.maxStreams = Math.max(opts.maxPending, MIN_STREAMS);
    this.write = new Side(this, 'write');
    this.read = new Side(this, 'read');
  }

  /** Streams in flight (tests). */
  get inFlight(): number {
    return this.streams.size;
  }

  /** Bytes held for unfinished frames and header blocks, both directions (bounded: twice a
   *  frame reader's maxPayload and MAX_HEADER_BLOCK, plus headers). */
  get bufferedBytes(): number {
    let n = this.write.reader.bufferedBytes + this.read.reader.bufferedBytes;
    n += (this.write.blockBuf?.length ?? 0) + (this.read.blockBuf?.length ?? 0);
    return n;
  }

  data(dir: Direction, bytes: Buffer, tsNs: bigint): void {
    if (this.dead || bytes.length === 0) return;
    const side = dir === 'write' ? this.write : this.read;
    let pos = 0;
    if (side.preface < CLIENT_PREFACE.length) {
      pos = this.matchPreface(side, bytes, tsNs);
      if (pos < 0) return;
    }
    side.reader.execute(pos === 0 ? bytes : bytes.subarray(pos), tsNs);
  }

  /** Strips the client preface at the start of a direction; returns where frames start, or -1
   *  when all of `bytes` was preface. */
  private matchPreface(side: Side, bytes: Buffer, tsNs: bigint): number {
    const matched = Math.max(side.preface, 0);
    if (side.preface < 0 && bytes[0] !== CLIENT_PREFACE[0]) {
      side.preface = CLIENT_PREFACE.length;
      this.joinedMidway(side);
      return 0;
    }
    let i = 0;
    while (i < bytes.length && matched + i < CLIENT_PREFACE.length && bytes[i] === CLIENT_PREFACE[matched + i]) i++;
    if (matched + i === CLIENT_PREFACE.length) {
      side.preface = CLIENT_PREFACE.length;
      this.fromStart = true;
      this.clientDir = side.dir;
      // Seen from the start: frames are within the default size until SETTINGS allow more. A
      // server may send its SETTINGS before it reads the client's preface (grpc's C core does):
      // what they allowed the client stays.
      for (const s of [this.write, this.read]) if (!s.maxFrameSizeKnown) s.reader.maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
      return i;
    }
    if (i === bytes.length) {
      side.preface = matched + i;
      return -1;
    }
    // Not the preface after all: the bytes taken for it are frame bytes.
    side.preface = CLIENT_PREFACE.length;
    this.joinedMidway(side);
    if (matched > 0) side.reader.execute(CLIENT_PREFACE.subarray(0, matched), tsNs);
    return 0;
  }

  /** A direction whose first bytes are not the preface: the server's side of a new
   *  connection, or either side of one joined mid-way, where the first bytes may not even be
   *  at a frame boundary. Its first frames must pass the strict checks, and its first header
   *  block must fit a stream before the decoder's insertions are trusted. */
  private joinedMidway(side: Side): void {
    side.reader.expectStrict(STRICT_FIRST_FRAMES);
    side.suspect = true;
  }

  gap(dir: Direction, bytes: number, tsNs: bigint): void {
    if (this.dead || !(bytes > 0)) return;
    const side = dir === 'write' ? this.write : this.read;
    if (side.preface < CLIENT_PREFACE.length) {
      side.preface = CLIENT_PREFACE.length;
      side.suspect = true;
    }
    side.reader.gap(bytes, tsNs);
  }

  skip(dir: Direction, bytes: number, tsNs: bigint): void {
    if (this.dead || !(bytes > 0)) return;
    const side = dir === 'write' ? this.write : this.read;
    if (side.preface >= CLIENT_PREFACE.length && side.reader.skip(bytes, tsNs)) return;
    this.out.count(ProtocolCounter.SkipMismatches);
    this.gap(dir, bytes, tsNs);
  }

  expire(deadlineNs: bigint, nowNs: bigint): void {
    for (const st of this.streams.values()) {
      if (st.respDone) {
        // Answered, its request's end not seen (lost, or never sent): reported as it stands.
        if (nowNs - st.doneNs > ANSWERED_WAIT_NS) this.finish(st, st.doneNs, st.error, st.errorDetail);
      } else if (st.resp === Resp.None && st.reqStart < deadlineNs) {
        this.finish(st, nowNs, ErrorKind.ResponseTimeout, undefined);
      }
    }
  }

  close(reason: ErrorKind, tsNs: bigint): number {
    const n = this.streams.size;
    if (reason === ErrorKind.AgentStopped) {
      this.streams.clear();
      return n;
    }
    for (const st of [...this.streams.values()]) {
      if (st.respDone) {
        this.finish(st, st.doneNs, st.error, st.errorDetail);
        continue;
      }
      const midResponse = st.resp !== Resp.None;
      if (midResponse) this.out.count(ProtocolCounter.Truncated);
      this.finish(st, tsNs, reason === ErrorKind.ClosedBeforeResponse && midResponse ? ErrorKind.ClosedMidMessage : reason, undefined);
    }
    return 0;
  }

  // -------------------------------------------------------------------------------------------
  // Frames

  onFrame(side: Side, h: FrameHead, buf: Buffer | undefined, start: number): void {
    if (this.dead) return;
    const type = h.type;
    if (side.blockActive && type !== FrameType.Continuation) {
      // RFC 9113 6.10: nothing may come between a header block's frames.
      this.abandonBlock(side, BlockLoss.Invalid);
    }
    switch (type) {
      case FrameType.Headers:
      case FrameType.PushPromise:
        this.beginBlock(side, h, buf, start);
        break;
      case FrameType.Continuation:
        this.continueBlock(side, h, buf, start);
        break;
      case FrameType.RstStream: {
        const st = this.streams.get(h.stream);
        if (st === undefined) break;
        const code = buf === undefined ? undefined : buf.readUInt32BE(start);
        // After a complete response, a reset only asks the client to stop sending the request
        // (RFC 9113 8.1): what it sent before still arrives, and its END_STREAM (or the wait
        // of expire()) completes the exchange.
        if (!st.respDone) this.finish(st, h.endNs, ErrorKind.StreamReset, code === undefined ? undefined : errorCodeName(code));
        break;
      }
      case FrameType.Settings:
        if (buf !== undefined && (h.flags & Flag.Ack) === 0) this.settings(side, buf, start, h.length);
        break;
      case FrameType.GoAway:
        if (buf !== undefined) this.goAway(side, buf.readUInt32BE(start) & 0x7fffffff, buf.readUInt32BE(start + 4), h.endNs);
        break;
      default:
        // PING, PRIORITY, WINDOW_UPDATE and extension frames carry nothing an exchange needs.
        break;
    }
  }

  onData(side: Side, h: FrameHead, body: number): void {
    if (this.dead) return;
    if (side.blockActive) this.abandonBlock(side, BlockLoss.Invalid);
    const st = this.streams.get(h.stream);
    if (st === undefined) return;
    if (h.missing > 0) st.flag(ErrorKind.CaptureGap, `${h.missing} bytes of DATA not captured`);
    const endStream = (h.flags & Flag.EndStream) !== 0;
    if ((side.dir === 'write') === st.reqWrite) {
      st.reqBody += body;
      st.reqEnd = h.endNs;
      if (endStream) this.requestEnded(st);
    } else {
      if (st.resp === Resp.None) {
        // DATA before any response HEADERS: those were lost.
        st.resp = Resp.Headers;
        st.respStart = h.startNs;
        st.flag(ErrorKind.CaptureGap, 'response headers not captured');
      }
      st.respBody += body;
      st.respEnd = h.endNs;
      if (endStream) this.responseEnded(st, h.endNs);
    }
  }

  onLostSync(side: Side, why: SyncLoss): void {
    if (this.dead) return;
    if (why === SyncLoss.InvalidFrame && this.write.reader.frames === 0 && this.read.reader.frames === 0) {
      // Not one frame made sense yet. After the preface that means not HTTP/2; joined
      // mid-way, one direction may start inside a frame (a read that began mid-record), but
      // the direction the detector saw starts at a frame: if both fail, it is not HTTP/2.
      if (!this.fromStart && ++this.unframedFailures < 2) {
        this.out.count(ProtocolCounter.InvalidMessages);
        return;
      }
      this.dead = true;
      this.streams.clear();
      this.out.notMine();
      return;
    }
    this.out.count(why === SyncLoss.Gap ? ProtocolCounter.GapErrors : ProtocolCounter.InvalidMessages);
    if (side.blockActive) this.abandonBlock(side, why === SyncLoss.Gap ? BlockLoss.Gap : BlockLoss.Invalid);
    // Header blocks may have been among the lost bytes: the table's positions are unknown.
    if (side.decoder === undefined) side.lostEarly = true;
    else side.decoder.lose();
    const detail = why === SyncLoss.Gap ? 'frames lost in a capture gap' : 'invalid frame; frames skipped to resync';
    const kind = why === SyncLoss.Gap ? ErrorKind.CaptureGap : ErrorKind.SkippedAfterInvalid;
    // Any stream may have had frames there (its end, too).
    for (const st of this.streams.values()) st.flag(kind, detail);
  }

  /** Frames of this direction were skipped while resyncing: any stream in flight, including
   *  those opened since the loss, may have lost some. */
  onResynced(side: Side): void {
    if (this.dead) return;
    side.suspect = true;
    for (const st of this.streams.values()) st.flag(ErrorKind.CaptureGap, 'frames skipped while resyncing after a loss');
  }

  private settings(side: Side, buf: Buffer, start: number, length: number): void {
    // A peer's settings govern what the other direction may send it.
    const other = side === this.write ? this.read : this.write;
    for (let at = start; at + 6 <= start + length; at += 6) {
      const id = buf.readUInt16BE(at);
      const value = buf.readUInt32BE(at + 2);
      if (id === SettingId.MaxFrameSize && value >= DEFAULT_MAX_FRAME_SIZE && value <= MAX_MAX_FRAME_SIZE) {
        other.reader.maxFrameSize = value;
        other.reader.strictMaxFrameSize = value;
        other.maxFrameSizeKnown = true;
      }
      // SETTINGS_HEADER_TABLE_SIZE needs nothing here: the encoder must announce any change
      // in a table size update, which the decoder reads.
    }
  }

  private goAway(side: Side, lastStream: number, code: number, tsNs: bigint): void {
    // Streams the GOAWAY's receiver opened above lastStream were not (and will not be)
    // processed by its sender.
    const senderIsWrite = side.dir === 'write';
    for (const st of [...this.streams.values()]) {
      if (st.reqWrite !== senderIsWrite && st.id > lastStream && !st.respDone) this.finish(st, tsNs, ErrorKind.GoAway, errorCodeName(code));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Header blocks

  private beginBlock(side: Side, h: FrameHead, buf: Buffer | undefined, start: number): void {
    side.blockActive = true;
    side.blockType = h.type;
    side.blockStream = h.stream;
    side.blockEndStream = (h.flags & Flag.EndStream) !== 0 && h.type === FrameType.Headers;
    side.blockStartNs = h.startNs;
    side.blockPromised = 0;
    side.blockLen = 0;
    side.blockLoss = BlockLoss.None;
    let from = 0;
    let to = 0;
    if (buf === undefined) {
      side.blockLoss = h.tooLarge ? BlockLoss.TooLarge : BlockLoss.Gap;
    } else {
      // Padding and priority around the fragment (RFC 9113 6.2, 6.6).
      let off = 0;
      let pad = 0;
      if ((h.flags & Flag.Padded) !== 0) {
        pad = buf[start];
        off = 1;
      }
      if (h.type === FrameType.Headers && (h.flags & Flag.Priority) !== 0) off += 5;
      if (h.type === FrameType.PushPromise) {
        if (off + 4 <= h.length) side.blockPromised = buf.readUInt32BE(start + off) & 0x7fffffff;
        off += 4;
      }
      if (off + pad > h.length || (h.type === FrameType.PushPromise && side.blockPromised === 0)) {
        side.blockLoss = BlockLoss.Invalid;
      } else {
        from = start + off;
        to = start + h.length - pad;
      }
    }
    if ((h.flags & Flag.EndHeaders) !== 0) {
      // The usual case: the whole block in one frame, decoded where it lies.
      this.endBlock(side, h.endNs, buf, from, to);
    } else if (side.blockLoss === BlockLoss.None) {
      this.appendFragment(side, buf!, from, to);
    }
  }

  private continueBlock(side: Side, h: FrameHead, buf: Buffer | undefined, start: number): void {
    // A CONTINUATION with no block open follows frames skipped in a resync: its block is lost
    // already (the decoder was told).
    if (!side.blockActive) return;
    if (h.stream !== side.blockStream) {
      this.abandonBlock(side, BlockLoss.Invalid);
      return;
    }
    if (side.blockLoss === BlockLoss.None) {
      if (buf === undefined) side.blockLoss = h.tooLarge ? BlockLoss.TooLarge : BlockLoss.Gap;
      else this.appendFragment(side, buf, start, start + h.length);
    }
    if ((h.flags & Flag.EndHeaders) !== 0) this.endBlock(side, h.endNs, side.blockBuf, 0, side.blockLen);
  }

  private appendFragment(side: Side, buf: Buffer, from: number, to: number): void {
    const need = side.blockLen + (to - from);
    if (need > MAX_HEADER_BLOCK) {
      side.blockLoss = BlockLoss.TooLarge;
      side.blockBuf = undefined;
      side.blockLen = 0;
      return;
    }
    let b = side.blockBuf;
    if (b === undefined || b.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(MAX_HEADER_BLOCK, Math.max(need, 1024, (b?.length ?? 0) * 2)));
      if (b !== undefined && side.blockLen > 0) b.copy(grown, 0, 0, side.blockLen);
      b = side.blockBuf = grown;
    }
    buf.copy(b, side.blockLen, from, to);
    side.blockLen = need;
  }

  /** A block cut short by a frame that may not interrupt it, or by lost framing. */
  private abandonBlock(side: Side, loss: BlockLoss): void {
    if (side.blockLoss === BlockLoss.None) side.blockLoss = loss;
    this.endBlock(side, side.blockStartNs, undefined, 0, 0);
  }

  /** The header block is complete (buf[from, to), or lost): decode it and apply it. */
  private endBlock(side: Side, endNs: bigint, buf: Buffer | undefined, from: number, to: number): void {
    side.blockActive = false;
    if (side.blockBuf !== undefined && side.blockBuf.length > 16384) side.blockBuf = undefined;
    let decoder = side.decoder;
    if (decoder === undefined) decoder = side.decoder = new HpackDecoder({ fromStart: this.fromStart && !side.lostEarly });
    let loss = side.blockLoss;
    if (loss === BlockLoss.None && buf !== undefined) {
      if (decoder.decode(buf, from, to) === DecodeResult.Invalid) {
        loss = BlockLoss.Invalid;
        this.out.count(ProtocolCounter.InvalidMessages);
      }
    } else {
      if (loss === BlockLoss.None) loss = BlockLoss.Gap;
      decoder.lose();
      this.out.count(loss === BlockLoss.TooLarge ? ProtocolCounter.TooLarge : ProtocolCounter.UndecodableHeaders);
    }
    if (side.suspect && loss === BlockLoss.None) {
      if (this.blockFits(side, decoder)) {
        side.suspect = false;
      } else {
        // Not a stream we can place: maybe not a header block at all. Forget its insertions.
        const unpaired = side.blockType === FrameType.Headers && !this.streams.has(side.blockStream) && this.hasPseudo(decoder, ':status');
        decoder.lose();
        this.out.count(unpaired ? ProtocolCounter.UnpairedResponses : ProtocolCounter.UndecodableHeaders);
        // A response to a stream from before we joined has nothing to apply to.
        if (unpaired) return;
        loss = BlockLoss.Invalid;
      }
    }
    const known = loss === BlockLoss.None;
    if (side.blockType === FrameType.PushPromise) {
      this.pushPromise(side, decoder, known, loss, endNs);
    } else {
      this.headers(side, decoder, known, loss, endNs);
    }
  }

  /** Whether the decoded block belongs where it says: a stream we have (in a direction it
   *  expects), a new request from the client, or a promise of a new even stream. */
  private blockFits(side: Side, d: HpackDecoder): boolean {
    if (side.blockType === FrameType.PushPromise) {
      const p = side.blockPromised;
      return (p & 1) === 0 && p > 0 && !this.streams.has(p) && this.hasPseudo(d, ':method');
    }
    const id = side.blockStream;
    const st = this.streams.get(id);
    if (st !== undefined) {
      const fromRequester = (side.dir === 'write') === st.reqWrite;
      return fromRequester ? !this.hasPseudo(d, ':status') : !this.hasPseudo(d, ':method');
    }
    return this.hasPseudo(d, ':method') && (id & 1) === 1 && id > this.lastClientStream && (this.clientDir === undefined || this.clientDir === side.dir);
  }

  private headers(side: Side, d: HpackDecoder, known: boolean, loss: BlockLoss, endNs: bigint): void {
    const id = side.blockStream;
    const dir = side.dir;
    const st = this.streams.get(id);
    if (st === undefined) {
      this.openStream(side, d, known, loss, endNs);
      return;
    }
    if ((dir === 'write') === st.reqWrite) {
      // Request trailers (or a repeated HEADERS): they end the request; nothing else to keep.
      st.reqEnd = endNs;
      if (!known) st.flag(lossKind(loss), lossDetail(loss, 'request trailers'));
      if (side.blockEndStream) this.requestEnded(st);
      return;
    }
    if (!known) {
      if (st.resp === Resp.None) {
        st.resp = Resp.Headers;
        st.respStart = side.blockStartNs;
        st.flag(lossKind(loss), lossDetail(loss, 'response headers'));
      } else {
        st.flag(lossKind(loss), lossDetail(loss, 'response trailers'));
      }
      st.respEnd = endNs;
      if (side.blockEndStream) this.responseEnded(st, endNs);
      return;
    }
    if (st.resp === Resp.None && !this.hasPseudo(d, ':status')) {
      // The response's HEADERS were lost (this would be its trailers), or its :status is among
      // the unknown fields: either way the fields cannot be placed.
      st.resp = Resp.Headers;
      st.respStart = side.blockStartNs;
      if (d.unknown > 0) {
        // Joined mid-way: the status (or the block) refers to a table entry we never saw.
        this.out.count(ProtocolCounter.UndecodableHeaders, d.unknown);
      } else {
        // A whole block without :status: trailers, whose response headers were lost.
        if (side.blockEndStream) st.trailers = this.regularFields(d);
        st.flag(ErrorKind.CaptureGap, 'response headers not captured');
      }
    } else if (st.resp === Resp.None) {
      const status = this.readResponse(d, st);
      if (status >= 100 && status < 200 && !side.blockEndStream) {
        // An interim response (100 Continue, 103 Early Hints): the final one is still to come.
        st.status = undefined;
        st.respHeaders = NO_FIELDS;
        return;
      }
      st.resp = Resp.Headers;
      st.respStart = side.blockStartNs;
      st.trailersOnly = side.blockEndStream;
    } else {
      st.trailers = this.regularFields(d);
    }
    // grpc-status marks a gRPC response even when its content-type was not decodable.
    if (!st.grpc && (fieldValue(st.trailers, 'grpc-status') !== undefined || fieldValue(st.respHeaders, 'grpc-status') !== undefined)) st.grpc = true;
    st.respEnd = endNs;
    if (side.blockEndStream) this.responseEnded(st, endNs);
  }

  /** A HEADERS block on a stream we do not have: a new request, or (joined mid-way) the
   *  response or trailers of a stream opened before we joined. */
  private openStream(side: Side, d: HpackDecoder, known: boolean, loss: BlockLoss, endNs: bigint): void {
    const id = side.blockStream;
    const dir = side.dir;
    let isRequest: boolean;
    if (known && this.hasPseudo(d, ':method')) {
      isRequest = true;
    } else if (known && this.hasPseudo(d, ':status')) {
      isRequest = false;
    } else {
      // Nothing in the block says which it is: only the direction and the stream id can.
      isRequest = this.clientDir === dir && (id & 1) === 1 && id > this.lastClientStream;
      if (!isRequest) {
        if (this.clientDir !== undefined && this.clientDir !== dir) this.out.count(ProtocolCounter.UnpairedResponses);
        return;
      }
    }
    if (!isRequest) {
      if (this.clientDir === undefined) this.clientDir = dir === 'write' ? 'read' : 'write';
      if (this.clientDir !== dir) this.out.count(ProtocolCounter.UnpairedResponses);
      return;
    }
    if (this.clientDir === undefined) this.clientDir = dir;
    // Requests come from the client only, on odd streams; anything else is not a request we
    // can trust (servers open streams with PUSH_PROMISE).
    if (this.clientDir !== dir || (id & 1) === 0) {
      this.out.count(ProtocolCounter.InvalidMessages);
      return;
    }
    if (id <= this.lastClientStream && !known) return; // trailers of a stream from before we joined
    if (id > this.lastClientStream) this.lastClientStream = id;
    const st = this.addStream(id, dir === 'write', side.blockStartNs);
    st.reqEnd = endNs;
    if (known) this.readRequest(d, st);
    else st.flag(lossKind(loss), lossDetail(loss, 'request headers'));
    if (side.blockEndStream) {
      st.reqEnd = endNs;
      st.reqDone = true;
    }
  }

  private pushPromise(side: Side, d: HpackDecoder, known: boolean, loss: BlockLoss, endNs: bigint): void {
    const id = side.blockPromised;
    if (id === 0 || (id & 1) === 1 || this.streams.has(id)) return;
    // The server sent the promise: the request is the client's, as if it had sent it.
    const st = this.addStream(id, side.dir !== 'write', side.blockStartNs);
    st.reqEnd = endNs;
    st.reqDone = true; // a promised request has no body
    if (known) this.readRequest(d, st);
    else st.flag(lossKind(loss), lossDetail(loss, 'pushed request headers'));
  }

  private addStream(id: number, reqWrite: boolean, startNs: bigint): Stream {
    if (this.streams.size >= this.maxStreams) {
      // Map order is insertion order: the first is the oldest.
      const oldest = this.streams.values().next().value as Stream;
      if (oldest.respDone) this.finish(oldest, oldest.doneNs, oldest.error, oldest.errorDetail);
      else this.finish(oldest, startNs, ErrorKind.TooManyPending, undefined);
    }
    const st = new Stream(id, reqWrite, startNs);
    this.streams.set(id, st);
    return st;
  }

  private hasPseudo(d: HpackDecoder, name: string): boolean {
    for (let i = 0; i < d.count; i++) if (d.names[i] === name) return true;
    return false;
  }

  /** Request pseudo-headers (checked) and regular fields of the decoded block. */
  private readRequest(d: HpackDecoder, st: Stream): void {
    let bad = 0;
    for (let i = 0; i < d.count; i++) {
      const name = d.names[i];
      if (name === undefined || name.charCodeAt(0) !== 0x3a) continue;
      const v = d.values[i]!;
      switch (name) {
        case ':method': if (validMethod(v)) st.method = v; else bad++; break;
        case ':path': if (validPath(v)) st.path = v; else bad++; break;
        case ':scheme': if (validScheme(v)) st.scheme = v; else bad++; break;
        case ':authority': if (validAuthority(v)) st.authority = v; else bad++; break;
        default: break;
      }
    }
    if (bad > 0) this.out.count(ProtocolCounter.InvalidMessages);
    st.reqHeaders = this.regularFields(d);
    if (isGrpcContentType(fieldValue(st.reqHeaders, 'content-type'))) st.grpc = true;
  }

  /** :status (checked; -1 when unknown) and the regular fields of a response block. */
  private readResponse(d: HpackDecoder, st: Stream): number {
    let status = -1;
    for (let i = 0; i < d.count; i++) {
      if (d.names[i] === ':status') {
        status = parseStatus(d.values[i]!);
        if (status < 0) this.out.count(ProtocolCounter.InvalidMessages);
        break;
      }
    }
    st.status = status < 0 ? undefined : status;
    st.respHeaders = this.regularFields(d);
    if (isGrpcContentType(fieldValue(st.respHeaders, 'content-type'))) st.grpc = true;
    return status;
  }

  /** The decoded block's regular fields, flat; unknown ones are counted and left out. */
  private regularFields(d: HpackDecoder): Fields {
    const n = d.count;
    if (d.unknown > 0) this.out.count(ProtocolCounter.UndecodableHeaders, d.unknown);
    let regular = 0;
    for (let i = 0; i < n; i++) {
      const name = d.names[i];
      if (name !== undefined && name.charCodeAt(0) !== 0x3a) regular++;
    }
    if (regular === 0) return NO_FIELDS;
    const out = new Array<string>(regular * 2);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const name = d.names[i];
      if (name === undefined || name.charCodeAt(0) === 0x3a) continue;
      out[o++] = name;
      out[o++] = d.values[i]!;
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Exchanges

  /** The request direction's END_STREAM. */
  private requestEnded(st: Stream): void {
    st.reqDone = true;
    if (st.respDone) this.finish(st, st.reqEnd > st.doneNs ? st.reqEnd : st.doneNs, st.error, st.errorDetail);
  }

  /** The response direction's END_STREAM: the exchange is complete once the request is too. */
  private responseEnded(st: Stream, endNs: bigint): void {
    if (st.reqDone) {
      this.finish(st, endNs, st.error, st.errorDetail);
      return;
    }
    st.respDone = true;
    st.doneNs = endNs;
  }

  private finish(st: Stream, endNs: bigint, error: ErrorKind | undefined, detail: string | undefined): void {
    this.streams.delete(st.id);
    const hasResponse = st.resp !== Resp.None;
    const grpcStatusFields = st.trailers !== NO_FIELDS ? st.trailers : st.trailersOnly ? st.respHeaders : undefined;
    const ex: ProtocolExchange = {
      side: st.reqWrite ? 'client' : 'server',
      protocol: 'http/2',
      version: '2',
      request: {
        method: st.method,
        url: st.path,
        headers: st.reqHeaders,
        bodySize: st.reqBody,
        startNs: st.reqStart,
        endNs: st.reqEnd,
      },
      response: hasResponse
        ? {
          statusCode: st.status,
          headers: st.respHeaders,
          trailers: st.trailers,
          bodySize: st.respBody,
          startNs: st.respStart,
          endNs: st.respEnd > st.respStart ? st.respEnd : st.respStart,
        }
        : undefined,
      startNs: st.reqStart,
      endNs: endNs > st.reqStart ? endNs : st.reqStart,
      error: error ?? st.error,
      errorDetail: error === undefined ? st.errorDetail : error === st.error ? st.errorDetail : detail,
      ordinal: st.id,
      scheme: st.scheme,
      authority: st.authority,
      rpc: st.grpc ? rpcInfo(st.path, grpcStatusFields) : undefined,
      process: undefined,
      connectionId: undefined,
      library: undefined,
      addresses: undefined,
    };
    this.out.exchange(ex);
  }
}

function lossKind(loss: BlockLoss): ErrorKind {
  switch (loss) {
    case BlockLoss.TooLarge: return ErrorKind.MessageTooLarge;
    case BlockLoss.Invalid: return ErrorKind.InvalidMessage;
    default: return ErrorKind.CaptureGap;
  }
}

function lossDetail(loss: BlockLoss, what: string): string {
  switch (loss) {
    case BlockLoss.TooLarge: return `${what} over ${MAX_HEADER_BLOCK} bytes`;
    case BlockLoss.Invalid: return `${what} not decodable`;
    default: return `${what} not captured`;
  }
}

/** Creates an HTTP/2 session (the SessionFactory of the detector). */
export function createHttp2Session(out: SessionOutput, opts: SessionOptions): ProtocolSession {
  return new Http2Session(out, opts);
}
