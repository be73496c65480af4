// ExportTraceServiceRequest protobuf encoder, byte-identical to the SDK's ProtobufTraceSerializer
// (@opentelemetry/otlp-transformer 0.223.1, trace/protobuf/trace-serializer.js and
// common/protobuf/*.js) for any ReadableSpan[], at a fraction of its CPU.
//
// Why: the SDK's encoder costs ~7 µs a span here. It runs a size-estimation pass and a write
// pass, each walking every string char by char, and writes through small methods that check
// capacity per byte group. This one makes one pass into a buffer kept between calls, writes the
// usual shapes (ASCII strings, integers, doubles, booleans; hex ids) with lengths computed up
// front, reuses the encoded bytes of attribute keys, and copies the result out once. Everything
// else (non-ASCII strings, arrays, maps, bytes, values of unexpected types) goes through a slow
// path that follows the SDK's code step by step, so the bytes are the same whatever the input.
// Spans are grouped as the SDK groups them: by resource identity, then by scope identity, in
// first-seen order. Resource and scope messages are not cached: each is written once per batch,
// and a batch holds spans of a few processes at most, so they are a negligible share of it.
import type { HrTime, Link } from '@opentelemetry/api';
import { ProtobufTraceSerializer, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/** What the slow paths take: whatever a span holds, used as the SDK uses it. */
type Loose = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const INITIAL_BUFFER = 256 * 1024;
/** A buffer grown past this (one huge batch) is dropped after the call instead of kept. */
const KEEP_BUFFER_MAX = 4 * 1024 * 1024;
/** Attribute keys whose encoding is kept; past this, keys are encoded each time (no unbounded
 *  growth if some producer makes keys up). */
const KEY_CACHE_MAX = 4096;
/** Strings at least this long are written with one native Buffer.write instead of a JS loop
 *  (below, the call costs more than the loop; measured). */
const NATIVE_STRING_MIN = 32;

const MIN_64_BIT_INT = -(2 ** 63);
const MAX_64_BIT_INT = 2 ** 63;

let buf: Buffer = Buffer.allocUnsafeSlow(INITIAL_BUFFER);
let view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
let pos = 0;
// Only for strings that are not strings (String objects...), exactly as the SDK encodes them.
const textEncoder = new TextEncoder();

function grow(needed: number): void {
  let size = buf.length * 2;
  while (size < pos + needed) size *= 2;
  const next = Buffer.allocUnsafeSlow(size);
  buf.copy(next, 0, 0, pos);
  buf = next;
  view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function ensure(n: number): void {
  if (pos + n > buf.length) grow(n);
}

/** Bytes of the varint of a uint32. */
function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Varint of a uint32 the caller knows is one; capacity already ensured. */
function putVarint32(v: number): void {
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
}

/** Varint of a uint32 at p in b (capacity ensured); returns the position after it. */
function varintAt(b: Buffer, p: number, v: number): number {
  while (v > 0x7f) {
    b[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[p++] = v;
  return p;
}

/** ProtobufWriter.writeVarint, step for step: any value (negative, fractional, NaN, undefined,
 *  a string...) comes out as the SDK writes it. */
function writeVarint(value: Loose): void {
  ensure(10);
  if (value === 0) {
    buf[pos++] = 0;
    return;
  }
  if (value >= 0 && value <= 0xffffffff) {
    putVarint32(value >>> 0);
    return;
  }
  let low: number;
  let high: number;
  if (value >= 0) {
    low = value >>> 0;
    high = (value / 0x100000000) >>> 0;
  } else {
    const abs = Math.abs(value);
    low = abs >>> 0;
    high = (abs / 0x100000000) >>> 0;
    low = ~low >>> 0;
    high = ~high >>> 0;
    low = (low + 1) >>> 0;
    if (low === 0) high = (high + 1) >>> 0;
  }
  while (high > 0 || low > 0x7f) {
    buf[pos++] = (low & 0x7f) | 0x80;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  buf[pos++] = low & 0x7f;
}

/** Start of a length-delimited message: `reserved` bytes kept for its length. */
function reserve(reserved: number): number {
  ensure(reserved);
  const start = pos;
  pos += reserved;
  return start;
}

/** Writes the length of the message begun at `start`, moving its body if the length does not
 *  take exactly the reserved bytes. */
function finish(start: number, reserved: number): void {
  const len = pos - start - reserved;
  const n = varintSize(len);
  if (n !== reserved) {
    if (n > reserved) ensure(n - reserved);
    buf.copyWithin(start + n, start + reserved, pos);
    pos += n - reserved;
  }
  const end = pos;
  pos = start;
  putVarint32(len);
  pos = end;
}

function putFixed32(v: number): void {
  buf[pos++] = v & 0xff;
  buf[pos++] = (v >>> 8) & 0xff;
  buf[pos++] = (v >>> 16) & 0xff;
  buf[pos++] = (v >>> 24) & 0xff;
}

/** writeHrTimeAsFixed64 of common-serializer.js: the same arithmetic, so any HrTime (even out of
 *  range or fractional) gives the SDK's 8 bytes. Capacity: 8. */
function putHrTime(hrTime: HrTime): void {
  const seconds = hrTime[0];
  const nanos = hrTime[1];
  const lower16 = (seconds & 0xffff) * 1000000000;
  const upper = ((seconds / 0x10000) >>> 0) * 1000000000;
  const low32WithCarry = (lower16 >>> 0) + (((upper & 0xffff) * 0x10000) >>> 0) + nanos;
  putFixed32(low32WithCarry >>> 0);
  putFixed32((Math.floor(lower16 / 0x100000000) + ((upper / 0x10000) >>> 0) + Math.floor(low32WithCarry / 0x100000000)) >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Strings and ids.

/** UTF-8 of a string: ASCII byte by byte, else one native write (the same bytes as the SDK's
 *  TextEncoder, lone surrogates included: both give EF BF BD). Length prefix included. */
function writeString(s: Loose): void {
  if (typeof s !== 'string') {
    writeStringLoose(s);
    return;
  }
  const n = s.length;
  ensure(5 + 3 * n);
  const start = pos;
  putVarint32(n);
  if (putAscii(s, n)) return;
  pos = start;
  const bytes = Buffer.byteLength(s, 'utf8');
  putVarint32(bytes);
  pos += buf.write(s, pos, bytes, 'utf8');
}

/** Writes `s` (length n, capacity ensured) if it is all ASCII; false (pos unspecified) if not. */
function putAscii(s: string, n: number): boolean {
  if (n >= NATIVE_STRING_MIN) {
    // UTF-8 of a string is longer than the string exactly when it holds a non-ASCII char.
    const written = buf.write(s, pos, 3 * n, 'utf8');
    pos += written;
    return written === n;
  }
  // Locals: module variables in the loop would be reloaded and stored on every char.
  const b = buf;
  let p = pos;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return false;
    b[p++] = c;
  }
  pos = p;
  return true;
}

/** ProtobufWriter.writeString for a value that is not a string (String object, number, ...):
 *  its own steps, throwing where it throws. */
function writeStringLoose(str: Loose): void {
  let isAscii = true;
  const len = str.length;
  for (let i = 0; i < len; i++) {
    if (str.charCodeAt(i) > 127) {
      isAscii = false;
      break;
    }
  }
  if (isAscii) {
    writeVarint(len);
    for (let i = 0; i < len; i++) {
      ensure(1);
      buf[pos++] = str.charCodeAt(i);
    }
  } else {
    const bytes = textEncoder.encode(str);
    writeVarint(bytes.length);
    ensure(bytes.length);
    buf.set(bytes, pos);
    pos += bytes.length;
  }
}

/** hex-to-binary.js's digit value, for any UTF-16 unit. */
function hexDigit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c - 55;
}

/** The byte hexToBinary makes of two chars below 128, indexed (hi << 7) | lo: one load a byte. */
const HEX_PAIR = new Uint8Array(128 * 128);
for (let hi = 0; hi < 128; hi++) {
  for (let lo = 0; lo < 128; lo++) HEX_PAIR[(hi << 7) | lo] = ((hexDigit(hi) << 4) | hexDigit(lo)) & 0xff;
}

/** Length-delimited bytes of hexToBinary(id): floor(len/2) bytes, each ((hi << 4) | lo) & 0xff
 *  with the SDK's digit values whatever the chars; a trailing odd char is dropped, as the SDK's
 *  out-of-range typed-array store drops it. */
function writeHexBytes(id: Loose): void {
  if (typeof id !== 'string') {
    writeHexLoose(id);
    return;
  }
  const n = id.length >>> 1;
  ensure(5 + n);
  putVarint32(n);
  const b = buf;
  let p = pos;
  for (let i = 0; i < 2 * n; i += 2) {
    const hi = id.charCodeAt(i);
    const lo = id.charCodeAt(i + 1);
    b[p++] = (hi | lo) < 128 ? HEX_PAIR[(hi << 7) | lo] : ((hexDigit(hi) << 4) | hexDigit(lo)) & 0xff;
  }
  pos = p;
}

/** hexToBinary + writeBytes for a non-string id, step for step. */
function writeHexLoose(hexStr: Loose): void {
  const out = new Uint8Array(hexStr.length / 2);
  let offset = 0;
  for (let i = 0; i < hexStr.length; i += 2) {
    out[offset++] = (hexDigit(hexStr.charCodeAt(i)) << 4) | hexDigit(hexStr.charCodeAt(i + 1));
  }
  writeVarint(out.length);
  ensure(out.length);
  buf.set(out, pos);
  pos += out.length;
}

// ---------------------------------------------------------------------------------------------
// Attributes.

/** KeyValue.key field (tag, length, UTF-8) of an attribute key, as little-endian 32-bit words
 *  (zero-padded): copied with a few DataView stores instead of byte by byte. */
interface EncodedKey {
  words: Int32Array;
  /** Bytes that count; up to 3 more are written and then overwritten. */
  length: number;
}

const keyCache = new Map<string, EncodedKey>();

function encodedKey(key: string): EncodedKey {
  let k = keyCache.get(key);
  if (k === undefined) {
    const utf8 = Buffer.from(key, 'utf8');
    const length = 1 + varintSize(utf8.length) + utf8.length;
    const bytes = Buffer.alloc((length + 3) & ~3);
    bytes[0] = 0x0a;
    let p = 1;
    for (let v = utf8.length; ; v >>>= 7) {
      if (v <= 0x7f) {
        bytes[p++] = v;
        break;
      }
      bytes[p++] = (v & 0x7f) | 0x80;
    }
    utf8.copy(bytes, p);
    const words = new Int32Array(bytes.length / 4);
    for (let i = 0; i < words.length; i++) words[i] = bytes.readInt32LE(4 * i);
    k = { words, length };
    if (keyCache.size < KEY_CACHE_MAX) keyCache.set(key, k);
  }
  return k;
}

/** Writes the key at p (capacity for k.length + 3 ensured); returns the position after it. */
function keyAt(p: number, k: EncodedKey): number {
  const w = k.words;
  const v = view;
  for (let i = 0; i < w.length; i++) v.setInt32(p + 4 * i, w[i], true);
  return p + k.length;
}

/** Span attribute keys in the order spans list them, with their encodings, learned from the
 *  spans seen: a span builder adds keys in one order, some of them optional, so the next key is
 *  almost always a few places on from the last one found, and comparing property-name strings
 *  is a pointer comparison, cheaper than the Map lookup it replaces. */
const seqKeys: string[] = [];
const seqEncoded: EncodedKey[] = [];
const SEQ_MAX = 64;
const SEQ_LOOKAHEAD = 6;

/** Repeated KeyValue under field tag byte `tag` (all attribute fields are < 16: one byte).
 *  Object.keys/Object.values list exactly the keys the SDK's for-in + hasOwnProperty visits, in
 *  the same order, with the same values; they cost half as much: a for-in that has once met a
 *  dictionary-mode object (some attribute objects are) does a generic lookup per key. */
function writeAttributes(attributes: Loose, tag: number): void {
  const keys = Object.keys(attributes);
  const values = Object.values(attributes);
  const learn = tag === 0x4a; // span attributes; the others are few per batch
  let cursor = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    let k: EncodedKey | undefined;
    if (learn) {
      const end = Math.min(cursor + SEQ_LOOKAHEAD, seqKeys.length);
      for (let j = cursor; j < end; j++) {
        if (seqKeys[j] === key) {
          k = seqEncoded[j];
          cursor = j + 1;
          break;
        }
      }
      if (k === undefined) {
        k = encodedKey(key);
        if (seqKeys.length < SEQ_MAX) {
          seqKeys.splice(cursor, 0, key);
          seqEncoded.splice(cursor, 0, k);
          cursor++;
        }
      }
    } else {
      k = encodedKey(key);
    }
    writeKeyValue(tag, k, values[i]);
  }
}

/** One KeyValue with its tag. Lengths computed up front for the usual value types, written
 *  through locals (module variables would be loaded and stored at every byte). */
function writeKeyValue(tag: number, k: EncodedKey, value: Loose): void {
  const kl = k.length;
  switch (typeof value) {
    case 'string': {
      const n = value.length;
      const anyLen = 1 + varintSize(n) + n;
      ensure(24 + kl + 3 * n);
      const b = buf;
      let p = varintAt(b, pos + 1, kl + 1 + varintSize(anyLen) + anyLen);
      b[pos] = tag;
      p = keyAt(p, k);
      b[p++] = 0x12;
      p = varintAt(b, p, anyLen);
      b[p++] = 0x0a;
      p = varintAt(b, p, n);
      if (n >= NATIVE_STRING_MIN) {
        // UTF-8 of a string is longer than the string exactly when it holds a non-ASCII char.
        if (b.write(value, p, 3 * n, 'utf8') === n) {
          pos = p + n;
          return;
        }
        break;
      }
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c > 0x7f) break;
        b[p++] = c;
      }
      if (i === n) {
        pos = p;
        return;
      }
      break; // not ASCII: general path, from the tag again
    }
    case 'number': {
      if (value >>> 0 === value) {
        // Non-negative integer below 2^32 (or -0, which the SDK writes as 0 too).
        const anyLen = 1 + varintSize(value);
        ensure(24 + kl);
        const b = buf;
        let p = varintAt(b, pos + 1, kl + 2 + anyLen);
        b[pos] = tag;
        p = keyAt(p, k);
        b[p++] = 0x12;
        b[p++] = anyLen;
        b[p++] = 0x18;
        pos = varintAt(b, p, value);
        return;
      }
      if (!Number.isInteger(value) || value < MIN_64_BIT_INT || value >= MAX_64_BIT_INT) {
        ensure(24 + kl);
        const b = buf;
        let p = varintAt(b, pos + 1, kl + 11);
        b[pos] = tag;
        p = keyAt(p, k);
        b[p++] = 0x12;
        b[p++] = 9;
        b[p++] = 0x21;
        view.setFloat64(p, value, true);
        pos = p + 8;
        return;
      }
      break; // negative or ≥ 2^32 integer: general path
    }
    case 'boolean': {
      ensure(24 + kl);
      const b = buf;
      let p = varintAt(b, pos + 1, kl + 4);
      b[pos] = tag;
      p = keyAt(p, k);
      b[p++] = 0x12;
      b[p++] = 2;
      b[p++] = 0x10;
      b[p++] = value ? 1 : 0;
      pos = p;
      return;
    }
    case 'undefined': {
      // No AnyValue field at all: an empty value message.
      ensure(24 + kl);
      const b = buf;
      let p = varintAt(b, pos + 1, kl + 2);
      b[pos] = tag;
      p = keyAt(p, k);
      b[p++] = 0x12;
      b[p++] = 0;
      pos = p;
      return;
    }
  }
  ensure(1);
  buf[pos++] = tag;
  const kvStart = reserve(1);
  ensure(kl + 3);
  pos = keyAt(pos, k);
  ensure(1);
  buf[pos++] = 0x12;
  const valueStart = reserve(1);
  writeAnyValue(value);
  finish(valueStart, 1);
  finish(kvStart, 1);
}

/** common-serializer.js writeAnyValue, same order of type tests. */
function writeAnyValue(value: Loose): void {
  const t = typeof value;
  ensure(10);
  if (t === 'string') {
    buf[pos++] = 0x0a;
    writeString(value);
  } else if (t === 'boolean') {
    buf[pos++] = 0x10;
    buf[pos++] = value ? 1 : 0;
  } else if (t === 'number') {
    if (Number.isInteger(value) && value >= MIN_64_BIT_INT && value < MAX_64_BIT_INT) {
      buf[pos++] = 0x18;
      writeVarint(value);
    } else {
      buf[pos++] = 0x21;
      view.setFloat64(pos, value, true);
      pos += 8;
    }
  } else if (value instanceof Uint8Array) {
    buf[pos++] = 0x3a;
    writeVarint(value.length);
    ensure(value.length);
    buf.set(value, pos);
    pos += value.length;
  } else if (Array.isArray(value)) {
    buf[pos++] = 0x2a;
    const arrayStart = reserve(1);
    for (const item of value) {
      ensure(1);
      buf[pos++] = 0x0a;
      const itemStart = reserve(1);
      writeAnyValue(item);
      finish(itemStart, 1);
    }
    finish(arrayStart, 1);
  } else if (t === 'object' && value != null) {
    buf[pos++] = 0x32;
    const listStart = reserve(1);
    const keys = Object.keys(value);
    const values = Object.values(value);
    for (let i = 0; i < keys.length; i++) writeKeyValue(0x0a, encodedKey(keys[i]), values[i]);
    finish(listStart, 1);
  }
  // Anything else (null, function, symbol, bigint): no field, as in the SDK.
}

// ---------------------------------------------------------------------------------------------
// Messages.

/** Span.flags: W3C trace flags plus HAS_IS_REMOTE (0x100) and IS_REMOTE (0x200). */
function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);
}

function writeSpan(span: ReadableSpan): void {
  ensure(64);
  buf[pos++] = 0x12; // ScopeSpans.spans
  const spanStart = reserve(2); // most spans are 128 B..16 KiB
  const ctx = span.spanContext();
  buf[pos++] = 0x0a;
  writeHexBytes(ctx.traceId);
  ensure(1);
  buf[pos++] = 0x12;
  writeHexBytes(ctx.spanId);
  const traceState = ctx.traceState?.serialize();
  if (traceState) {
    ensure(1);
    buf[pos++] = 0x1a;
    writeString(traceState);
  }
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    ensure(1);
    buf[pos++] = 0x22;
    writeHexBytes(parent.spanId);
  }
  ensure(1);
  buf[pos++] = 0x2a;
  writeString(span.name);
  // The API has no "unspecified" kind: proto = API + 1. (Loose: the SDK adds whatever is there.)
  const kind = span.kind == null ? 0 : (span.kind as Loose) + 1;
  if (kind !== 0) {
    ensure(1);
    buf[pos++] = 0x30;
    writeVarint(kind);
  }
  ensure(18);
  buf[pos++] = 0x39;
  putHrTime(span.startTime);
  buf[pos++] = 0x41;
  putHrTime(span.endTime);
  if (span.attributes) writeAttributes(span.attributes, 0x4a);
  const flags = spanFlags(ctx.traceFlags, parent?.isRemote);
  const events = span.events;
  const links = span.links;
  const status = span.status;
  const code = status.code;
  if (
    span.droppedAttributesCount === 0 && span.droppedEventsCount === 0 && span.droppedLinksCount === 0 &&
    Array.isArray(events) && events.length === 0 && Array.isArray(links) && links.length === 0 &&
    !status.message && code >>> 0 === code && code < 0x80
  ) {
    // The usual tail, in one go: no drops, events, links or status message.
    ensure(16);
    const b = buf;
    let p = pos;
    b[p++] = 0x50;
    b[p++] = 0;
    b[p++] = 0x60;
    b[p++] = 0;
    b[p++] = 0x70;
    b[p++] = 0;
    b[p++] = 0x7a;
    b[p++] = 2;
    b[p++] = 0x18;
    b[p++] = code;
    b[p++] = 0x85;
    b[p++] = 0x01;
    pos = p;
    putFixed32(flags);
  } else {
    writeSpanTail(span, flags);
  }
  finish(spanStart, 2);
}

/** Span fields 10 to 16 in full, as serializeSpan writes them. */
function writeSpanTail(span: ReadableSpan, flags: number): void {
  ensure(1);
  buf[pos++] = 0x50;
  writeVarint(span.droppedAttributesCount);
  for (const event of span.events) writeEvent(event);
  ensure(1);
  buf[pos++] = 0x60;
  writeVarint(span.droppedEventsCount);
  for (const link of span.links) writeLink(link);
  ensure(1);
  buf[pos++] = 0x70;
  writeVarint(span.droppedLinksCount);
  const status = span.status;
  ensure(1);
  buf[pos++] = 0x7a;
  const statusStart = reserve(1);
  if (status.message) {
    ensure(1);
    buf[pos++] = 0x12;
    writeString(status.message);
  }
  ensure(1);
  buf[pos++] = 0x18;
  writeVarint(status.code);
  finish(statusStart, 1);
  // Always written: HAS_IS_REMOTE makes the flags non-zero.
  ensure(6);
  buf[pos++] = 0x85;
  buf[pos++] = 0x01;
  putFixed32(flags);
}

function writeEvent(event: TimedEvent): void {
  ensure(1);
  buf[pos++] = 0x5a;
  const start = reserve(1);
  ensure(9);
  buf[pos++] = 0x09;
  putHrTime(event.time);
  ensure(1);
  buf[pos++] = 0x12;
  writeString(event.name);
  if (event.attributes) writeAttributes(event.attributes, 0x1a);
  ensure(1);
  buf[pos++] = 0x20;
  writeVarint(event.droppedAttributesCount || 0);
  finish(start, 1);
}

function writeLink(link: Link): void {
  ensure(1);
  buf[pos++] = 0x6a;
  const start = reserve(1);
  const lc = link.context;
  ensure(1);
  buf[pos++] = 0x0a;
  writeHexBytes(lc.traceId);
  ensure(1);
  buf[pos++] = 0x12;
  writeHexBytes(lc.spanId);
  const linkTraceState = lc.traceState?.serialize();
  if (linkTraceState) {
    ensure(1);
    buf[pos++] = 0x1a;
    writeString(linkTraceState);
  }
  if (link.attributes) writeAttributes(link.attributes, 0x22);
  ensure(1);
  buf[pos++] = 0x28;
  writeVarint(link.droppedAttributesCount || 0);
  ensure(5);
  buf[pos++] = 0x35;
  putFixed32(spanFlags(lc.traceFlags, lc.isRemote));
  finish(start, 1);
}

/** InstrumentationScope under ScopeSpans.scope. */
function writeScope(scope: Loose): void {
  ensure(1);
  buf[pos++] = 0x0a;
  const start = reserve(1);
  ensure(1);
  buf[pos++] = 0x0a;
  writeString(scope.name);
  if (scope.version) {
    ensure(1);
    buf[pos++] = 0x12;
    writeString(scope.version);
  }
  if (scope.attributes) writeAttributes(scope.attributes, 0x1a);
  if (scope.droppedAttributesCount) {
    ensure(1);
    buf[pos++] = 0x20;
    writeVarint(scope.droppedAttributesCount);
  }
  finish(start, 1);
}

/** Resource under ResourceSpans.resource; dropped_attributes_count always 0, as the SDK has it. */
function writeResource(resource: Loose): void {
  ensure(1);
  buf[pos++] = 0x0a;
  const start = reserve(2);
  const attributes = resource.attributes;
  if (attributes) writeAttributes(attributes, 0x0a);
  ensure(2);
  buf[pos++] = 0x10;
  buf[pos++] = 0;
  finish(start, 2);
}

/** One ResourceSpans; the spans of each scope (the map's key: the scope object) are written by
 *  `writeSpans`, as Span messages under ScopeSpans.spans. */
function writeResourceSpans<T>(resource: Loose, scopes: Map<unknown, T>, writeSpans: (spans: T) => void): void {
  ensure(1);
  buf[pos++] = 0x0a; // ExportTraceServiceRequest.resource_spans
  const start = reserve(3);
  writeResource(resource);
  for (const [key, spans] of scopes) {
    const scope: Loose = key;
    ensure(1);
    buf[pos++] = 0x12; // ResourceSpans.scope_spans
    const scopeStart = reserve(3);
    writeScope(scope);
    writeSpans(spans);
    if (scope.schemaUrl) {
      ensure(1);
      buf[pos++] = 0x1a;
      writeString(scope.schemaUrl);
    }
    finish(scopeStart, 3);
  }
  if (resource.schemaUrl) {
    ensure(1);
    buf[pos++] = 0x1a;
    writeString(resource.schemaUrl);
  }
  finish(start, 3);
}

/** Values kept by resource identity, then scope identity, in first-seen order (as the SDK groups
 *  spans); the last group is found again without a lookup (spans of one process come in runs). */
class ScopeGroups<T> {
  readonly byResource = new Map<unknown, Map<unknown, T>>();
  private lastResource: unknown = undefined;
  private lastScope: unknown = undefined;
  private last: T | undefined = undefined;

  constructor(private readonly make: () => T) {}

  /** The group of `resource` and `scope`, made empty the first time. */
  of(resource: unknown, scope: unknown): T {
    if (this.last !== undefined && resource === this.lastResource && scope === this.lastScope) return this.last;
    let scopes = this.byResource.get(resource);
    if (!scopes) {
      scopes = new Map();
      this.byResource.set(resource, scopes);
    }
    let group = scopes.get(scope);
    if (group === undefined) {
      group = this.make();
      scopes.set(scope, group);
    }
    this.lastResource = resource;
    this.lastScope = scope;
    this.last = group;
    return group;
  }
}

/** Spans by resource identity, then scope identity, in first-seen order (as the SDK). */
function group(spans: ReadableSpan[]): Map<unknown, Map<unknown, ReadableSpan[]>> {
  const groups = new ScopeGroups<ReadableSpan[]>(() => []);
  for (const span of spans) groups.of(span.resource, span.instrumentationScope).push(span);
  return groups.byResource;
}

const writeSpanList = (spans: ReadableSpan[]): void => {
  for (let i = 0; i < spans.length; i++) writeSpan(spans[i]);
};

let busy = false;

/** The ExportTraceServiceRequest bytes for `spans`, identical to ProtobufTraceSerializer's. */
export function serializeTraceRequest(spans: ReadableSpan[]): Uint8Array {
  // Called again from inside a call (an attribute getter that exports...): the shared buffer
  // is in use, let the SDK do this one.
  if (busy) return ProtobufTraceSerializer.serializeRequest(spans as never) ?? new Uint8Array(0);
  busy = true;
  pos = 0;
  try {
    for (const [resource, scopes] of group(spans)) writeResourceSpans(resource, scopes, writeSpanList);
    return copyOut();
  } finally {
    release();
  }
}

/** The bytes written, in memory of their own, exactly this long and not zero-filled first (see
 *  otlp-transport.ts). */
function copyOut(): Buffer {
  const out = Buffer.allocUnsafeSlow(pos);
  buf.copy(out, 0, 0, pos);
  return out;
}

/** The shared buffer is free again (and shrunk if one huge call grew it). */
function release(): void {
  if (buf.length > KEEP_BUFFER_MAX) {
    buf = Buffer.allocUnsafeSlow(INITIAL_BUFFER);
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  pos = 0;
  busy = false;
}

/** Spans of one scope in a TraceRequestBuilder: [start, end) ranges of its staging buffer. */
interface StagedScope {
  ranges: number[];
}

/**
 * One ExportTraceServiceRequest built span by span: each span is encoded when it is added, and
 * seal() writes the resource and scope messages around the encoded spans. The bytes are those
 * serializeTraceRequest gives for the same spans in the same order.
 *
 * Why: a batch of 512 spans serialized at once is ≈ 1.5 ms of work in one piece, in which a
 * traced program that wakes on the agent's core waits (bench/README.md); encoded as they come,
 * the pieces are a few µs, between which the agent's drain yields. And a span dies as soon as it
 * is encoded, instead of surviving garbage collections while its batch fills.
 */
export class TraceRequestBuilder {
  private staged: Buffer = Buffer.allocUnsafeSlow(INITIAL_BUFFER);
  private used = 0;
  /** Resource → scope → its spans, in first-seen order (as the SDK groups them). */
  private groups = TraceRequestBuilder.newGroups();
  private count = 0;

  private static newGroups(): ScopeGroups<StagedScope> {
    return new ScopeGroups<StagedScope>(() => ({ ranges: [] }));
  }

  /** Spans added since the last seal. */
  get spans(): number {
    return this.count;
  }

  /** Encodes `span` into the request; throws, adding nothing, where serializeTraceRequest would
   *  (and when called from inside an encoding: an attribute getter that exports). */
  add(span: ReadableSpan): void {
    if (busy) throw new Error('a span was added while another was being encoded');
    busy = true;
    pos = 0;
    let n: number;
    try {
      writeSpan(span);
      n = pos;
      if (this.used + n > this.staged.length) this.grow(n);
      buf.copy(this.staged, this.used, 0, n);
    } finally {
      release();
    }
    const start = this.used;
    this.used += n;
    this.count++;
    // Spans of one group added one after another are one range.
    const r = this.groups.of(span.resource, span.instrumentationScope).ranges;
    if (r.length > 0 && r[r.length - 1] === start) r[r.length - 1] = this.used;
    else r.push(start, this.used);
  }

  /** The request of every span added since the last seal (empty with none); starts the next. */
  seal(): Uint8Array {
    if (busy) throw new Error('a request was sealed while a span was being encoded');
    busy = true;
    pos = 0;
    try {
      const staged = this.staged;
      const writeStaged = (s: StagedScope): void => {
        const r = s.ranges;
        for (let i = 0; i < r.length; i += 2) {
          ensure(r[i + 1] - r[i]);
          pos += staged.copy(buf, pos, r[i], r[i + 1]);
        }
      };
      for (const [resource, scopes] of this.groups.byResource) writeResourceSpans(resource, scopes, writeStaged);
      return copyOut();
    } finally {
      release();
      this.reset();
    }
  }

  /** Forgets the spans added since the last seal. */
  reset(): void {
    this.groups = TraceRequestBuilder.newGroups();
    this.used = 0;
    this.count = 0;
    if (this.staged.length > KEEP_BUFFER_MAX) this.staged = Buffer.allocUnsafeSlow(INITIAL_BUFFER);
  }

  private grow(needed: number): void {
    let size = this.staged.length * 2;
    while (size < this.used + needed) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.staged.copy(next, 0, 0, this.used);
    this.staged = next;
  }
}

/** Drop-in for the SDK's ProtobufTraceSerializer (requests ours, responses the SDK's). */
export const OtlpTraceSerializer: ISerializer<ReadableSpan[], IExportTraceServiceResponse> = {
  serializeRequest: serializeTraceRequest,
  deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
};
