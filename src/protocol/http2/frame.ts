// HTTP/2 frame layout (RFC 9113 4.1, 6): the 9-byte frame header, the frame types and their
// flags, the checks a frame header must pass, and an encoder beside them (tests, benchmarks).
//
//   +-----------------------------------------------+
//   |                 Length (24)                   |
//   +---------------+---------------+---------------+
//   |   Type (8)    |   Flags (8)   |
//   +-+-------------+---------------+-------------------------------+
//   |R|                 Stream Identifier (31)                      |
//   +=+=============================================================+
//   |                   Frame Payload (0...)                      ...

export const FRAME_HEADER_BYTES = 9;

/** The client connection preface (RFC 9113 3.4), before the client's SETTINGS frame. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** SETTINGS_MAX_FRAME_SIZE's initial value: the largest payload until a peer allows more. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
/** The largest SETTINGS_MAX_FRAME_SIZE a peer may allow (2^24 - 1). */
export const MAX_MAX_FRAME_SIZE = 16777215;

export const enum FrameType {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  GoAway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}

export const FRAME_TYPE_NAMES: readonly string[] = [
  'DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY',
  'WINDOW_UPDATE', 'CONTINUATION',
];

export const enum Flag {
  /** DATA, HEADERS: the sender's last frame on the stream. */
  EndStream = 0x1,
  /** SETTINGS, PING: an acknowledgement. */
  Ack = 0x1,
  /** HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends with this frame. */
  EndHeaders = 0x4,
  /** DATA, HEADERS, PUSH_PROMISE: a pad length byte first, padding last. */
  Padded = 0x8,
  /** HEADERS: 5 bytes of priority after the pad length. */
  Priority = 0x20,
}

/** The flags each known type defines (others must be ignored by receivers, RFC 9113 4.1). */
const DEFINED_FLAGS = [0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04];

/** Error codes (RFC 9113 7), for readable RST_STREAM and GOAWAY. */
const ERROR_CODE_NAMES: readonly string[] = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT',
  'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR',
  'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

export function errorCodeName(code: number): string {
  return ERROR_CODE_NAMES[code] ?? `0x${code.toString(16)}`;
}

export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES[type] ?? `UNKNOWN(0x${type.toString(16)})`;
}

/** Settings identifiers the session reads. */
export const enum SettingId {
  HeaderTableSize = 0x1,
  MaxFrameSize = 0x5,
}

/** Why a frame header cannot be right (Valid: it can). */
export const enum FrameCheck {
  Valid,
  /** Payload over the maximum frame size. */
  TooLong,
  /** Stream id on a connection-level frame, or none on a stream-level one, or R set. */
  BadStream,
  /** A payload length the type does not allow. */
  BadLength,
  /** Type unknown, or flags the type does not define (strict checks only). */
  Unknown,
}

/**
 * Checks the frame header at buf[at, at + 9). `strict` is for bytes whose framing is not
 * established (detection, resync): only known types with only their defined flags, and a
 * payload within `maxLength`. Otherwise unknown types and flags are allowed, as receivers must.
 */
export function checkFrameHeader(buf: Uint8Array, at: number, maxLength: number, strict: boolean): FrameCheck {
  const length = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
  const type = buf[at + 3];
  const flags = buf[at + 4];
  const r = buf[at + 5] & 0x80;
  const stream = ((buf[at + 5] & 0x7f) << 24) | (buf[at + 6] << 16) | (buf[at + 7] << 8) | buf[at + 8];
  if (length > maxLength) return FrameCheck.TooLong;
  // Extension frames are small: a long one of an unknown type is more likely garbage.
  if (type > FrameType.Continuation) return strict ? FrameCheck.Unknown : length > DEFAULT_MAX_FRAME_SIZE ? FrameCheck.TooLong : FrameCheck.Valid;
  if (strict && (r !== 0 || (flags & ~DEFINED_FLAGS[type]) !== 0)) return r !== 0 ? FrameCheck.BadStream : FrameCheck.Unknown;
  switch (type as FrameType) {
    case FrameType.Data:
    case FrameType.Headers:
    case FrameType.PushPromise:
    case FrameType.Continuation:
      if (stream === 0) return FrameCheck.BadStream;
      if (type === FrameType.PushPromise && length < 4) return FrameCheck.BadLength;
      // A padded frame needs its pad length byte; HEADERS with priority its 5 bytes.
      if ((flags & Flag.Padded) !== 0 && type !== FrameType.Continuation && length < 1) return FrameCheck.BadLength;
      if (type === FrameType.Headers && (flags & Flag.Priority) !== 0 && length < 5 + ((flags & Flag.Padded) !== 0 ? 1 : 0)) return FrameCheck.BadLength;
      return FrameCheck.Valid;
    case FrameType.Priority:
      if (stream === 0) return FrameCheck.BadStream;
      return length === 5 ? FrameCheck.Valid : FrameCheck.BadLength;
    case FrameType.RstStream:
      if (stream === 0) return FrameCheck.BadStream;
      return length === 4 ? FrameCheck.Valid : FrameCheck.BadLength;
    case FrameType.Settings:
      if (stream !== 0) return FrameCheck.BadStream;
      if ((flags & Flag.Ack) !== 0 ? length !== 0 : length % 6 !== 0) return FrameCheck.BadLength;
      return FrameCheck.Valid;
    case FrameType.Ping:
      if (stream !== 0) return FrameCheck.BadStream;
      return length === 8 ? FrameCheck.Valid : FrameCheck.BadLength;
    case FrameType.GoAway:
      if (stream !== 0) return FrameCheck.BadStream;
      return length >= 8 ? FrameCheck.Valid : FrameCheck.BadLength;
    case FrameType.WindowUpdate:
      return length === 4 ? FrameCheck.Valid : FrameCheck.BadLength;
  }
}

/** One frame's bytes (tests, benchmarks). */
export function encodeFrame(type: number, flags: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream & 0x7fffffff, 5);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}
