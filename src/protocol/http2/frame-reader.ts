// Incremental HTTP/2 frame reader for one direction of one connection, fed captured bytes and
// capture gaps in order.
//
// Shape (after pg-protocol, like the HTTP/1 parser): execute() walks the chunk with an offset
// and never concatenates chunks. What is kept between calls: up to 9 bytes of a frame header,
// and the payload of a non-DATA frame cut by a chunk boundary (bounded by maxPayload; HEADERS
// payloads that arrive whole are handed over as a view of the chunk). DATA payloads are counted,
// never kept. So memory per direction is bounded whatever the input, and nothing throws.
//
// A capture gap inside a payload keeps the framing (the frame's length says where it ends): a
// DATA frame then has `missing` bytes, another frame has no payload. A gap anywhere else loses
// the framing: the reader scans for a frame header that passes the strict checks, and skips it
// and the next two frames, whose headers (and the one after) must pass them too; a false match
// inside a payload is then very unlikely to survive.

import {
  DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_BYTES, Flag, FrameCheck, FrameType, MAX_MAX_FRAME_SIZE, checkFrameHeader,
} from './frame';

/** The frame being read or handed over; one object per reader, reused for every frame. */
export interface FrameHead {
  length: number;
  type: number;
  flags: number;
  stream: number;
  /** Monotonic ns of the records holding the first and the last byte of the frame. */
  startNs: bigint;
  endNs: bigint;
  /** Payload bytes lost in capture gaps. */
  missing: number;
  /** The payload was over the reader's maxPayload and was not kept. */
  tooLarge: boolean;
}

/** Why the reader lost the frame boundaries. */
export const enum SyncLoss {
  /** A capture gap that was not inside a frame payload. */
  Gap,
  /** Bytes that are not a valid frame header where one was due. */
  InvalidFrame,
}

export interface FrameSink {
  /** A complete frame other than DATA: its payload is buf[start, start + h.length), valid
   *  during the call only; buf is undefined when the payload was lost to a gap or not kept. */
  frame(h: FrameHead, buf: Buffer | undefined, start: number): void;
  /** A complete DATA frame carrying `body` bytes of data (padding excluded), `h.missing` of
   *  them (or of its padding) lost to gaps. */
  dataFrame(h: FrameHead, body: number): void;
  /** The frame boundaries are lost: frames are skipped until a few in a row check out. */
  lostSync(why: SyncLoss, tsNs: bigint): void;
  /** Frames are handed over again after a resync; the ones skipped since lostSync are lost. */
  resynced(tsNs: bigint): void;
}

export interface FrameReaderOptions {
  /** Largest non-DATA payload kept (default 64 KiB). */
  maxPayload?: number;
}

const enum State {
  Header,
  Payload,
  Resync,
}

const DEFAULT_MAX_PAYLOAD = 65536;
/** Frames skipped after a resync candidate, besides the candidate itself. */
const PROBATION_SKIPS = 2;

export class FrameReader {
  readonly head: FrameHead = { length: 0, type: 0, flags: 0, stream: 0, startNs: 0n, endNs: 0n, missing: 0, tooLarge: false };
  /** Frames handed over since the reader was made (0: this direction never framed). */
  frames = 0;
  /** Largest payload the receiver of this direction accepts: SETTINGS_MAX_FRAME_SIZE from
   *  the other direction once seen (until then any length passes, since it may have been
   *  raised before we joined; detection and resync assume the default). */
  maxFrameSize = MAX_MAX_FRAME_SIZE;
  strictMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;

  private readonly sink: FrameSink;
  private readonly maxPayload: number;
  private state = State.Header;
  private ts = 0n;

  private readonly hdr = Buffer.alloc(FRAME_HEADER_BYTES);
  private hdrLen = 0;

  private remaining = 0;
  /** DATA: the pad length byte is still to come (or was lost: padding then counts as data). */
  private padPending = false;
  private pad = 0;
  /** The frame's payload is kept in payBuf (cut by a chunk boundary). */
  private payBuf: Buffer | undefined;
  private payLen = 0;
  /** Hand the frame over (false: skipped, on probation after a resync). */
  private deliver = true;
  /** Frame headers still to pass the strict checks after a resync, and frames still to skip. */
  private strictLeft = 0;
  private skipLeft = 0;
  /** Between lostSync and the first frame handed over after it. */
  private resyncing = false;
  /** Up to 8 bytes of a possible frame header cut by a chunk boundary, while resyncing. */
  private scanCarry: Buffer | undefined;

  constructor(sink: FrameSink, opts: FrameReaderOptions = {}) {
    this.sink = sink;
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** The next `n` frame headers must pass the strict checks: for bytes whose framing is a
   *  guess (a direction first seen mid-connection). */
  expectStrict(n: number): void {
    if (this.state !== State.Resync) this.strictLeft = Math.max(this.strictLeft, n);
  }

  /** Bytes held between calls (bounded by maxPayload + a frame header). */
  get bufferedBytes(): number {
    return (this.payBuf?.length ?? 0) + (this.scanCarry?.length ?? 0) + FRAME_HEADER_BYTES;
  }

  /** Frame boundaries are known (not resyncing). */
  get inSync(): boolean {
    return this.state !== State.Resync;
  }

  /** The next bytes of the direction, captured in the record stamped tsNs. */
  execute(chunk: Buffer, tsNs: bigint): void {
    this.ts = tsNs;
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case State.Header:
          if (this.hdrLen === 0 && end - pos >= FRAME_HEADER_BYTES) {
            this.head.startNs = tsNs;
            pos += FRAME_HEADER_BYTES;
            this.beginFrame(chunk, pos - FRAME_HEADER_BYTES);
          } else {
            if (this.hdrLen === 0) this.head.startNs = tsNs;
            const n = Math.min(FRAME_HEADER_BYTES - this.hdrLen, end - pos);
            chunk.copy(this.hdr, this.hdrLen, pos, pos + n);
            this.hdrLen += n;
            pos += n;
            if (this.hdrLen === FRAME_HEADER_BYTES) {
              this.hdrLen = 0;
              this.beginFrame(this.hdr, 0);
            }
          }
          break;
        case State.Payload:
          pos = this.readPayload(chunk, pos, end);
          break;
        case State.Resync:
          pos = this.scan(chunk, pos, end);
          break;
      }
    }
  }

  /** `bytes` of the direction were not captured. */
  gap(bytes: number, tsNs: bigint): void {
    if (!(bytes > 0)) return;
    this.ts = tsNs;
    if (this.state === State.Payload) {
      const h = this.head;
      const inFrame = Math.min(bytes, this.remaining);
      h.missing += inFrame;
      this.remaining -= inFrame;
      if (this.padPending && inFrame > 0) this.padPending = false;
      this.payLen = 0;
      if (this.remaining === 0) this.finishFrame();
      if (bytes === inFrame) return;
    }
    this.hdrLen = 0;
    this.scanCarry = undefined;
    if (this.state !== State.Resync) this.loseSync(SyncLoss.Gap);
  }

  /**
   * `bytes` here were counted instead of captured (see ProtocolSession.skip). Accepted (true)
   * only inside a DATA frame's payload, past its pad length byte, with at least that many bytes
   * of it to go: they count exactly as captured DATA bytes would. Otherwise false: the caller
   * takes them for a gap.
   */
  skip(bytes: number, tsNs: bigint): boolean {
    if (!(bytes > 0)) return true;
    if (this.state !== State.Payload || this.head.type !== FrameType.Data || this.padPending || bytes > this.remaining) return false;
    this.ts = tsNs;
    this.remaining -= bytes;
    if (this.remaining === 0) this.finishFrame();
    return true;
  }

  private loseSync(why: SyncLoss): void {
    this.state = State.Resync;
    this.payBuf = undefined;
    this.payLen = 0;
    this.hdrLen = 0;
    this.strictLeft = 0;
    this.skipLeft = 0;
    this.deliver = true;
    this.resyncing = true;
    this.sink.lostSync(why, this.ts);
  }

  /** The frame header at buf[at, at + 9) is complete. */
  private beginFrame(buf: Buffer, at: number): void {
    const strict = this.strictLeft > 0;
    const check = checkFrameHeader(buf, at, strict ? this.strictMaxFrameSize : this.maxFrameSize, strict);
    if (check !== FrameCheck.Valid) {
      if (strict && this.resyncing) {
        // The candidate found by the scan was a false match: keep scanning (already reported).
        this.strictLeft = 0;
        this.skipLeft = 0;
        this.state = State.Resync;
        return;
      }
      this.loseSync(SyncLoss.InvalidFrame);
      return;
    }
    if (strict) this.strictLeft--;
    this.deliver = this.skipLeft === 0;
    if (this.skipLeft > 0) this.skipLeft--;
    else if (this.resyncing) {
      this.resyncing = false;
      this.sink.resynced(this.ts);
    }
    const h = this.head;
    h.length = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
    h.type = buf[at + 3];
    h.flags = buf[at + 4];
    h.stream = ((buf[at + 5] & 0x7f) << 24) | (buf[at + 6] << 16) | (buf[at + 7] << 8) | buf[at + 8];
    h.missing = 0;
    h.tooLarge = h.type !== FrameType.Data && h.length > this.maxPayload;
    this.remaining = h.length;
    this.payLen = 0;
    this.padPending = h.type === FrameType.Data && (h.flags & Flag.Padded) !== 0;
    this.pad = 0;
    if (h.length === 0) {
      this.finishFrame();
    } else {
      this.state = State.Payload;
    }
  }

  private readPayload(chunk: Buffer, pos: number, end: number): number {
    const h = this.head;
    const n = Math.min(this.remaining, end - pos);
    if (h.type === FrameType.Data) {
      if (this.padPending) {
        this.padPending = false;
        this.pad = chunk[pos];
      }
    } else if (this.deliver && !h.tooLarge && h.missing === 0) {
      if (this.payLen === 0 && n === h.length) {
        // The whole payload in this chunk: hand over a view, copy nothing.
        this.remaining = 0;
        this.state = State.Header;
        h.endNs = this.ts;
        this.frames++;
        this.sink.frame(h, chunk, pos);
        return pos + n;
      }
      let buf = this.payBuf;
      if (buf === undefined || buf.length < h.length) {
        buf = Buffer.allocUnsafe(Math.max(h.length, 256));
        if (this.payLen > 0 && this.payBuf !== undefined) this.payBuf.copy(buf, 0, 0, this.payLen);
        this.payBuf = buf;
      }
      chunk.copy(buf, this.payLen, pos, pos + n);
      this.payLen += n;
    }
    this.remaining -= n;
    if (this.remaining === 0) this.finishFrame();
    return pos + n;
  }

  private finishFrame(): void {
    const h = this.head;
    h.endNs = this.ts;
    this.state = State.Header;
    if (!this.deliver) {
      this.deliver = true;
      return;
    }
    this.frames++;
    if (h.type === FrameType.Data) {
      const padded = (h.flags & Flag.Padded) !== 0;
      // A pad length past the payload is a protocol error; count what the frame could carry.
      const body = padded ? Math.max(0, h.length - 1 - this.pad) : h.length;
      this.sink.dataFrame(h, body);
      return;
    }
    const kept = !h.tooLarge && h.missing === 0;
    const buf = kept ? this.payBuf : undefined;
    this.payLen = 0;
    // A large kept payload is not held on to between frames.
    if (this.payBuf !== undefined && this.payBuf.length > 16384 + 256) this.payBuf = undefined;
    this.sink.frame(h, h.length === 0 ? EMPTY : buf, 0);
  }

  /** Looks for two frame headers in a row that check out; returns where scanning stopped. */
  private scan(chunk: Buffer, pos: number, end: number): number {
    const carry = this.scanCarry;
    const buf = carry === undefined ? chunk : Buffer.concat([carry, chunk.subarray(pos, end)]);
    const base = carry === undefined ? pos : 0;
    const len = carry === undefined ? end : buf.length;
    const toChunk = (i: number): number => (carry === undefined ? i : pos + i - carry.length);
    this.scanCarry = undefined;
    const max = this.strictMaxFrameSize;
    for (let i = base; i + FRAME_HEADER_BYTES <= len; i++) {
      // Most bytes fail the first test: a payload length under 2^16 starts with a zero byte.
      if (buf[i] !== 0 && max <= 0xffff) continue;
      if (checkFrameHeader(buf, i, max, true) !== FrameCheck.Valid) continue;
      const next = i + FRAME_HEADER_BYTES + ((buf[i] << 16) | (buf[i + 1] << 8) | buf[i + 2]);
      // A follower in sight must check out as well (a cheap early filter).
      if (next + FRAME_HEADER_BYTES <= len && checkFrameHeader(buf, next, max, true) !== FrameCheck.Valid) continue;
      // Possibly a frame: skip it and the next PROBATION_SKIPS, whose headers (and the one
      // after) must pass the strict checks too. A false start would feed garbage to HPACK,
      // whose insertions could later be taken for real entries: better lose a few frames.
      this.head.startNs = this.ts;
      this.deliver = false;
      this.strictLeft = PROBATION_SKIPS + 1;
      this.skipLeft = PROBATION_SKIPS;
      this.beginFrameOnProbation(buf, i);
      return toChunk(i + FRAME_HEADER_BYTES);
    }
    const keep = Math.min(FRAME_HEADER_BYTES - 1, len - base);
    this.scanCarry = Buffer.from(buf.subarray(len - keep, len));
    return end;
  }

  private beginFrameOnProbation(buf: Buffer, at: number): void {
    const h = this.head;
    h.length = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
    h.type = buf[at + 3];
    h.flags = buf[at + 4];
    h.stream = 0;
    h.missing = 0;
    h.tooLarge = true;
    this.remaining = h.length;
    this.padPending = false;
    this.state = State.Payload;
    if (h.length === 0) this.finishFrame();
  }
}

const EMPTY = Buffer.alloc(0);
