// Is this HTTP/2? From the first bytes seen in one direction: the client preface on a
// connection seen from its start, else (joined mid-way) the shape of frame headers. The shape
// test is strict — a known type with only its defined flags, a payload within the default
// maximum, the stream-id and length rules of the type — and wants the next frame's header to
// pass too when it lies within the bytes a detector is shown. HTTP/1 text fails at once (its
// first byte is a letter, a frame's is the top byte of a length under 2^14: zero); so do TLS
// records and most binary protocols.

// Verdict is a const enum (inlined): nothing of ../detect is loaded at run time, which matters
// because ../detect loads this folder to list it in PROTOCOLS.
import { Verdict } from '../detect';
import type { Direction } from '../session';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_BYTES, FrameCheck, FrameType, checkFrameHeader } from './frame';

/** DETECT_BYTES of ../detect (a test checks they agree): the most bytes a detector is shown. */
export const SHOWN_BYTES = 64;
/** A lone frame header (its follower out of sight) is believed only on a stream id this low. */
const LONE_FRAME_MAX_STREAM = 1 << 20;

export function detectHttp2(_dir: Direction, head: Buffer): Verdict {
  if (head.length === 0) return Verdict.Maybe;
  if (head[0] === CLIENT_PREFACE[0]) {
    const n = Math.min(head.length, CLIENT_PREFACE.length);
    if (head.compare(CLIENT_PREFACE, 0, n, 0, n) !== 0) return Verdict.No;
    return n === CLIENT_PREFACE.length ? Verdict.Yes : Verdict.Maybe;
  }
  return frameShape(head);
}

function frameShape(head: Buffer): Verdict {
  if (head[0] !== 0) return Verdict.No;
  if (head.length < FRAME_HEADER_BYTES) return Verdict.Maybe;
  if (checkFrameHeader(head, 0, DEFAULT_MAX_FRAME_SIZE, true) !== FrameCheck.Valid) return Verdict.No;
  const next = FRAME_HEADER_BYTES + ((head[1] << 8) | head[2]);
  if (next + FRAME_HEADER_BYTES <= head.length) {
    return checkFrameHeader(head, next, DEFAULT_MAX_FRAME_SIZE, true) === FrameCheck.Valid ? Verdict.Yes : Verdict.No;
  }
  if (next + FRAME_HEADER_BYTES <= SHOWN_BYTES) return Verdict.Maybe;
  // The next header is out of sight: believe a stream frame on a plausible stream.
  const type = head[3];
  const stream = head.readUInt32BE(5);
  const streamFrame = type === FrameType.Data || type === FrameType.Headers || type === FrameType.Continuation;
  return streamFrame && stream < LONE_FRAME_MAX_STREAM ? Verdict.Yes : Verdict.No;
}
