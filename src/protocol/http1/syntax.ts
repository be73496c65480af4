// Line-level HTTP/1.x syntax: character classes and small parse functions over a byte range.
//
// Every function here looks at one complete line `buf[s, e)` (without its CRLF) and either
// accepts it or says no; none of them throws or allocates more than the strings it returns.
// The rules are llhttp's strict mode (the corpus in shared/conformance/llhttp), loosened only
// where an observer loses nothing by accepting what a server would refuse (any token as a
// method, UTF-8 in the request target).

export const CR = 0x0d;
export const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const DEL = 0x7f;
const COLON = 0x3a;
const COMMA = 0x2c;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Longest method we accept; the prefix check below relies on it to reject binary early. */
export const MAX_METHOD_LENGTH = 20;
/** How many leading bytes of an unfinished start line plausibleStartPrefix() looks at. */
export const PREFIX_CHECK_BYTES = 32;

// Character classes, one bit each in CLASS[byte].
const C_TCHAR = 1; //         RFC 9110 token: header names, methods, chunk-extension names
const C_FIELD_VALUE = 2; //   HTAB / SP / VCHAR / obs-text (llhttp HEADER_CHARS: no DEL, no CTLs)
const C_TARGET = 4; //        request-target bytes: VCHAR / obs-text (no SP, no CTLs, no DEL)
const C_QDTEXT = 8; //        quoted-string text in chunk extensions
const C_QUOTED_PAIR = 16; //  byte allowed after a backslash in a quoted-string

const CLASS = buildClasses();
/** Hex digit value, or 0xff for a non-hex byte. */
const HEX = buildHex();

function buildClasses(): Uint8Array {
  const t = new Uint8Array(256);
  const tokenSymbols = "!#$%&'*+-.^_`|~";
  for (let b = 0; b < 256; b++) {
    const isAlnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
    const isVchar = b >= 0x21 && b <= 0x7e;
    const isObsText = b >= 0x80;
    let c = 0;
    if (isAlnum || tokenSymbols.includes(String.fromCharCode(b))) c |= C_TCHAR;
    if (b === HT || b === SP || isVchar || isObsText) c |= C_FIELD_VALUE | C_QUOTED_PAIR;
    if (isVchar || isObsText) c |= C_TARGET;
    if (b === HT || b === SP || b === 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || isObsText) {
      c |= C_QDTEXT;
    }
    t[b] = c;
  }
  return t;
}

function buildHex(): Uint8Array {
  const t = new Uint8Array(256).fill(0xff);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[0x41 + i] = 10 + i;
    t[0x61 + i] = 10 + i;
  }
  return t;
}

// Buffer#latin1Slice skips Buffer#toString's argument handling; it exists on every Node
// Buffer but is not in @types/node, hence the narrow cast and the fallback.
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
const hasLatin1Slice = typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice === 'function';

/** Bytes [s, e) as a latin1 string: one byte, one char, so any byte sequence round-trips. */
export function latin1(buf: Buffer, s: number, e: number): string {
  return hasLatin1Slice ? (buf as unknown as Latin1Slicer).latin1Slice(s, e) : buf.toString('latin1', s, e);
}

/** Case-insensitive compare of buf[s, e) with an all-lowercase ASCII word. */
function equalsLower(buf: Buffer, s: number, e: number, word: string): boolean {
  if (e - s !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    // `| 0x20` folds A-Z onto a-z and leaves '-' alone; names are tokens, so no other
    // byte can fold onto a letter or '-'.
    if ((buf[s + i] | 0x20) !== word.charCodeAt(i)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Start lines

/** Methods llhttp knows; an HTTP/0.9 line (no version) is only believed with one of these. */
const KNOWN_METHODS = new Set([
  'DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL',
  'MOVE', 'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT',
  'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH',
  'PURGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'SOURCE', 'QUERY',
]);

/**
 * Length of a protocol name plus slash at buf[s] ("HTTP/", "RTSP/", "ICE/"), or 0.
 * RTSP and ICE lines are HTTP/1.x in all but name; llhttp accepts them, so do we.
 */
function protocolLength(buf: Buffer, s: number, e: number): number {
  if (e - s >= 5 && buf[s + 4] === 0x2f) {
    const a = buf[s], b = buf[s + 1], c = buf[s + 2], d = buf[s + 3];
    if (a === 0x48 && b === 0x54 && c === 0x54 && d === 0x50) return 5; // HTTP/
    if (a === 0x52 && b === 0x54 && c === 0x53 && d === 0x50) return 5; // RTSP/
  }
  if (e - s >= 4 && buf[s] === 0x49 && buf[s + 1] === 0x43 && buf[s + 2] === 0x45 && buf[s + 3] === 0x2f) {
    return 4; // ICE/
  }
  return 0;
}

/**
 * "D.D" at buf[i] as major * 10 + minor, or -1. Only 0.9, 1.0 and 1.1 are HTTP/1.x;
 * llhttp also takes 2.0, but that is the HTTP/2 preface ("PRI * HTTP/2.0"), not ours.
 */
function parseVersion(buf: Buffer, i: number, e: number): number {
  if (e - i < 3 || buf[i + 1] !== DOT) return -1;
  const major = buf[i] - DIGIT_0;
  const minor = buf[i + 2] - DIGIT_0;
  if ((major === 1 && (minor === 0 || minor === 1)) || (major === 0 && minor === 9)) {
    return major * 10 + minor;
  }
  return -1;
}

/**
 * What the first bytes of a start line too long to keep say (a method, or a status code),
 * from its prefix buf[s, e): the message it begins is then reported with what is known.
 * Undefined when the prefix says neither.
 */
export function startLinePrefix(buf: Buffer, s: number, e: number): { method?: string; statusCode?: number; version?: number } | undefined {
  const proto = protocolLength(buf, s, e);
  if (proto > 0) {
    const i = s + proto;
    const version = parseVersion(buf, i, e);
    if (version < 0 || e - i < 7 || buf[i + 3] !== SP) return undefined;
    const d1 = buf[i + 4] - DIGIT_0, d2 = buf[i + 5] - DIGIT_0, d3 = buf[i + 6] - DIGIT_0;
    if (d1 < 1 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return undefined;
    return { statusCode: d1 * 100 + d2 * 10 + d3, version };
  }
  let i = s;
  while (i < e && (CLASS[buf[i]] & C_TCHAR) !== 0) i++;
  if (i === s || i - s > MAX_METHOD_LENGTH || i === e || buf[i] !== SP) return undefined;
  return { method: latin1(buf, s, i) };
}

/** Result of scanStartLine(), reused so that the hot path allocates nothing. */
export const startLine = {
  isResponse: false,
  /** Request: method is [lineStart, methodEnd), target is [urlStart, urlEnd). */
  methodEnd: 0,
  urlStart: 0,
  urlEnd: 0,
  /** Response: status code, and the reason phrase from reasonStart to the line end. */
  statusCode: 0,
  reasonStart: 0,
  /** major * 10 + minor. */
  version: 0,
};

/**
 * A request line or status line in buf[s, e) (CR excluded): fills `startLine` and returns
 * true, or returns false when the line is neither. `allowHttp09` accepts "GET /path" with no
 * version (llhttp does, for known methods; we also want the target to start with "/"); resync
 * passes false so a stray "word word" line in lost data is not taken for a request.
 */
export function scanStartLine(buf: Buffer, s: number, e: number, allowHttp09: boolean): boolean {
  const proto = protocolLength(buf, s, e);
  return proto > 0 ? scanStatusLine(buf, s + proto, e) : scanRequestLine(buf, s, e, allowHttp09);
}

/** "D.D SP DDD [SP reason]" starting at i, after "HTTP/". */
function scanStatusLine(buf: Buffer, i: number, e: number): boolean {
  const version = parseVersion(buf, i, e);
  if (version < 0) return false;
  i += 3;
  if (e - i < 4 || buf[i] !== SP) return false;
  const d1 = buf[i + 1] - DIGIT_0, d2 = buf[i + 2] - DIGIT_0, d3 = buf[i + 3] - DIGIT_0;
  if (d1 < 1 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return false;
  i += 4;
  if (i < e) {
    if (buf[i] !== SP) return false;
    i++;
    // llhttp takes any byte in the reason phrase; a bare CR would make the line ambiguous.
    for (let j = i; j < e; j++) if (buf[j] === CR) return false;
  }
  startLine.isResponse = true;
  startLine.statusCode = d1 * 100 + d2 * 10 + d3;
  startLine.reasonStart = i;
  startLine.version = version;
  return true;
}

/** "METHOD SP+ target [SP+ HTTP/D.D]". */
function scanRequestLine(buf: Buffer, s: number, e: number, allowHttp09: boolean): boolean {
  let i = s;
  while (i < e && (CLASS[buf[i]] & C_TCHAR) !== 0) i++;
  const methodEnd = i;
  if (methodEnd === s || methodEnd - s > MAX_METHOD_LENGTH || i === e || buf[i] !== SP) return false;
  while (i < e && buf[i] === SP) i++;
  const urlStart = i;
  while (i < e && (CLASS[buf[i]] & C_TARGET) !== 0) i++;
  const urlEnd = i;
  if (urlEnd === urlStart) return false;
  let version: number;
  if (i === e) {
    // HTTP/0.9 ("GET /path", no version): only an origin-form target, with a known method;
    // "GET foo" is a text protocol's command, not HTTP.
    if (!allowHttp09 || buf[urlStart] !== 0x2f /* / */ || !KNOWN_METHODS.has(latin1(buf, s, methodEnd))) return false;
    version = 9;
  } else {
    if (buf[i] !== SP) return false;
    while (i < e && buf[i] === SP) i++;
    const proto = protocolLength(buf, i, e);
    if (proto === 0) return false;
    i += proto;
    version = parseVersion(buf, i, e);
    if (version < 0 || i + 3 !== e) return false;
  }
  startLine.isResponse = false;
  startLine.methodEnd = methodEnd;
  startLine.urlStart = urlStart;
  startLine.urlEnd = urlEnd;
  startLine.version = version;
  return true;
}

/**
 * Could buf[s, e) be the beginning of a start line whose end has not arrived yet?
 * Looks at a bounded prefix only, so an unterminated line of binary is refused after a few
 * bytes instead of being buffered up to the header limit. It never refuses a prefix of a line
 * scanStartLine() accepts, so the verdict does not depend on where a chunk ends.
 */
export function plausibleStartPrefix(buf: Buffer, s: number, e: number): boolean {
  const n = Math.min(e - s, PREFIX_CHECK_BYTES);
  if (n <= 0) return true;
  return plausibleStatusPrefix(buf, s, s + n) || plausibleRequestPrefix(buf, s, s + n);
}

const STATUS_PREFIXES = ['HTTP/', 'RTSP/', 'ICE/'];
// After the protocol: D '.' D SP D D D, then SP or CR (the rest is the reason phrase).
const STATUS_PATTERN = '9.9 999';

function matchesPrefix(buf: Buffer, i: number, e: number, word: string): number {
  // Returns the index after `word`, e when the bytes run out first, or -1 on a mismatch.
  for (let k = 0; k < word.length; k++, i++) {
    if (i >= e) return e;
    if (buf[i] !== word.charCodeAt(k)) return -1;
  }
  return i;
}

function matchesVersionPattern(buf: Buffer, i: number, e: number, pattern: string): number {
  for (let k = 0; k < pattern.length; k++, i++) {
    if (i >= e) return e;
    const p = pattern.charCodeAt(k);
    const b = buf[i];
    if (p === DIGIT_9 ? b < DIGIT_0 || b > DIGIT_9 : b !== p) return -1;
  }
  return i;
}

function plausibleStatusPrefix(buf: Buffer, s: number, e: number): boolean {
  for (const proto of STATUS_PREFIXES) {
    let i = matchesPrefix(buf, s, e, proto);
    if (i < 0) continue;
    if (i === e) return true;
    i = matchesVersionPattern(buf, i, e, STATUS_PATTERN);
    if (i < 0) return false;
    return i === e || buf[i] === SP || buf[i] === CR;
  }
  return false;
}

function plausibleRequestPrefix(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  while (i < e && (CLASS[buf[i]] & C_TCHAR) !== 0) i++;
  if (i - s > MAX_METHOD_LENGTH) return false;
  if (i === e) return true;
  if (i === s || buf[i] !== SP) return false;
  while (i < e && buf[i] === SP) i++;
  if (i === e) return true;
  const urlStart = i;
  while (i < e && (CLASS[buf[i]] & C_TARGET) !== 0) i++;
  if (i === e) return true;
  if (i === urlStart) return false;
  if (buf[i] === CR) return true; // HTTP/0.9, or a CR whose LF has not arrived
  if (buf[i] !== SP) return false;
  while (i < e && buf[i] === SP) i++;
  if (i === e) return true;
  for (const proto of STATUS_PREFIXES) {
    let j = matchesPrefix(buf, i, e, proto);
    if (j < 0) continue;
    if (j === e) return true;
    j = matchesVersionPattern(buf, j, e, '9.9');
    return j === e || (j > 0 && buf[j] === CR);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Header lines

/** Result of scanHeaderLine(), reused so that the hot path allocates nothing but strings. */
export const headerLine = { nameEnd: 0, valueStart: 0, valueEnd: 0 };

/**
 * A field line "name: value" in buf[s, e): fills `headerLine` and returns true, or returns
 * false. The value is trimmed of OWS. A line starting with SP/HTAB is obsolete line folding,
 * which llhttp's strict mode refuses, as we do.
 */
export function scanHeaderLine(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  while (i < e && (CLASS[buf[i]] & C_TCHAR) !== 0) i++;
  if (i === s || i === e || buf[i] !== COLON) return false;
  const nameEnd = i++;
  while (i < e && (buf[i] === SP || buf[i] === HT)) i++;
  let ve = e;
  while (ve > i && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
  for (let j = i; j < ve; j++) if ((CLASS[buf[j]] & C_FIELD_VALUE) === 0) return false;
  headerLine.nameEnd = nameEnd;
  headerLine.valueStart = i;
  headerLine.valueEnd = ve;
  return true;
}

/**
 * The common case of a field line, found and checked in one pass: buf[s] starts a well-formed
 * field line whose CRLF is inside buf[s, end). Fills `headerLine` (as scanHeaderLine would for
 * the line) and returns the offset after the LF; returns -1 for anything else (a line not ended
 * in this range, a bare LF or CR, any invalid byte), which the caller hands to the general path
 * (find the LF, then scanHeaderLine) to be judged exactly as before. No byte of a valid name or
 * value is an LF, so the first LF from s is the one after the CR found here.
 */
export function scanFieldLineCrlf(buf: Buffer, s: number, end: number): number {
  let i = s;
  while (i < end && (CLASS[buf[i]] & C_TCHAR) !== 0) i++;
  if (i === s || i >= end || buf[i] !== COLON) return -1;
  const nameEnd = i++;
  while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
  const valueStart = i;
  // Values are most of a head: four bytes a step while none is a CTL (HTAB included) or DEL,
  // then byte by byte from the first that is. (b - 0x20 < 0 for a CTL; an OR of the four keeps
  // the sign bit of any.)
  while (i + 4 <= end) {
    const a = buf[i], b = buf[i + 1], c = buf[i + 2], d = buf[i + 3];
    if (((a - SP) | (b - SP) | (c - SP) | (d - SP)) < 0 || a === DEL || b === DEL || c === DEL || d === DEL) break;
    i += 4;
  }
  while (i < end && (CLASS[buf[i]] & C_FIELD_VALUE) !== 0) i++;
  if (i + 1 >= end || buf[i] !== CR || buf[i + 1] !== LF) return -1;
  let ve = i;
  while (ve > valueStart && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
  headerLine.nameEnd = nameEnd;
  headerLine.valueStart = valueStart;
  headerLine.valueEnd = ve;
  return i + 2;
}

/** Header fields that change how a message is framed. */
export const enum HeaderKind {
  /** Any other field: kept, not interpreted. */
  Other,
  /** Content-Length: body length. */
  ContentLength,
  /** Transfer-Encoding: chunked framing, or body until close. */
  TransferEncoding,
  /** Connection or Proxy-Connection: close / keep-alive / upgrade tokens. */
  Connection,
  /** Upgrade: with Connection: upgrade, the stream switches protocol after this message. */
  Upgrade,
}

export function headerKind(buf: Buffer, s: number, e: number): HeaderKind {
  switch (e - s) {
    case 7: return equalsLower(buf, s, e, 'upgrade') ? HeaderKind.Upgrade : HeaderKind.Other;
    case 10: return equalsLower(buf, s, e, 'connection') ? HeaderKind.Connection : HeaderKind.Other;
    case 14: return equalsLower(buf, s, e, 'content-length') ? HeaderKind.ContentLength : HeaderKind.Other;
    case 16: return equalsLower(buf, s, e, 'proxy-connection') ? HeaderKind.Connection : HeaderKind.Other;
    case 17: return equalsLower(buf, s, e, 'transfer-encoding') ? HeaderKind.TransferEncoding : HeaderKind.Other;
    default: return HeaderKind.Other;
  }
}

// Field names are few and come back on every message: each distinct name (as received, case
// kept) is decoded once and kept with its HeaderKind in a small cache (two ways per hash, so two
// frequent names that hash alike do not evict each other), so a field name costs a hash of a
// few bytes and a comparison instead of a new string and a kind lookup. Bounded (NAME_SLOTS
// names of at most MAX_CACHED_NAME bytes); a miss takes the slot of the older entry.
const NAME_BITS = 10;
const NAME_SLOTS = 1 << NAME_BITS;
const MAX_CACHED_NAME = 40;
const nameStrings: string[] = new Array<string>(NAME_SLOTS).fill('');
const nameKinds = new Uint8Array(NAME_SLOTS);
/** The bytes of each cached name, compared on a lookup (cheaper than charCodeAt). */
const nameBytes = new Uint8Array(NAME_SLOTS * MAX_CACHED_NAME);

/** The HeaderKind of the name fieldName() returned last. */
export const fieldNameInfo = { kind: HeaderKind.Other };

function cachedNameIs(slot: number, buf: Buffer, s: number, len: number): boolean {
  if (nameStrings[slot].length !== len) return false;
  const base = slot * MAX_CACHED_NAME;
  let i = 0;
  while (i < len && nameBytes[base + i] === buf[s + i]) i++;
  return i === len;
}

/** The field name buf[s, e) (a token, so 1 byte or more) as a string; its kind in fieldNameInfo. */
export function fieldName(buf: Buffer, s: number, e: number): string {
  const len = e - s;
  if (len > MAX_CACHED_NAME) {
    fieldNameInfo.kind = headerKind(buf, s, e);
    return latin1(buf, s, e);
  }
  // Slots `first` and `first + 1` form the two ways.
  const mixed = (len << 24) ^ (buf[s] << 16) ^ (buf[s + (len >> 2)] << 8) ^ (buf[s + (len >> 1)] << 4) ^ buf[e - 1];
  const first = (Math.imul(mixed, 0x9e3779b1) >>> (32 - NAME_BITS)) & (NAME_SLOTS - 2);
  if (cachedNameIs(first, buf, s, len)) {
    fieldNameInfo.kind = nameKinds[first];
    return nameStrings[first];
  }
  if (cachedNameIs(first + 1, buf, s, len)) {
    fieldNameInfo.kind = nameKinds[first + 1];
    return nameStrings[first + 1];
  }
  const name = latin1(buf, s, e);
  const kind = headerKind(buf, s, e);
  // The entry of the first way moves to the second (dropping that one); the new name goes first.
  const base = first * MAX_CACHED_NAME;
  nameBytes.copyWithin(base + MAX_CACHED_NAME, base, base + nameStrings[first].length);
  nameStrings[first + 1] = nameStrings[first];
  nameKinds[first + 1] = nameKinds[first];
  buf.copy(nameBytes, base, s, e);
  nameStrings[first] = name;
  nameKinds[first] = kind;
  fieldNameInfo.kind = kind;
  return name;
}

/** Content-Length value: 1*DIGIT up to 2^53-1, else -1 (llhttp: "Invalid character", "overflow"). */
export function parseContentLength(buf: Buffer, s: number, e: number): number {
  if (s === e) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i] - DIGIT_0;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

// Connection header tokens, as bits.
export const CONN_KEEP_ALIVE = 1;
export const CONN_CLOSE = 2;
export const CONN_UPGRADE = 4;

/** CONN_* bits for the comma-separated tokens of a Connection value. */
export function connectionTokens(buf: Buffer, s: number, e: number): number {
  let flags = 0;
  let i = s;
  while (i < e) {
    while (i < e && (buf[i] === SP || buf[i] === HT || buf[i] === COMMA)) i++;
    const ts = i;
    while (i < e && buf[i] !== COMMA) i++;
    let te = i;
    while (te > ts && (buf[te - 1] === SP || buf[te - 1] === HT)) te--;
    if (equalsLower(buf, ts, te, 'close')) flags |= CONN_CLOSE;
    else if (equalsLower(buf, ts, te, 'keep-alive')) flags |= CONN_KEEP_ALIVE;
    else if (equalsLower(buf, ts, te, 'upgrade')) flags |= CONN_UPGRADE;
  }
  return flags;
}

/** Result of parseTransferCodings(). */
export const enum Codings {
  /** A request coding after "chunked": the body length cannot be known (RFC 9112 6.3). */
  Invalid = -1,
  /** The last coding so far is not "chunked". */
  NotChunked = 0,
  /** The last coding so far is "chunked". */
  Chunked = 1,
}

/**
 * Folds one Transfer-Encoding value into the state of the previous ones (several fields form
 * one list). In a request nothing may follow "chunked" (llhttp strict, RFC 9112 6.1).
 */
export function parseTransferCodings(buf: Buffer, s: number, e: number, chunkedSoFar: boolean, isRequest: boolean): Codings {
  let chunked = chunkedSoFar;
  let i = s;
  while (i < e) {
    while (i < e && (buf[i] === SP || buf[i] === HT || buf[i] === COMMA)) i++;
    if (i === e) break;
    const ts = i;
    while (i < e && buf[i] !== COMMA) i++;
    let te = i;
    while (te > ts && (buf[te - 1] === SP || buf[te - 1] === HT)) te--;
    if (isRequest && chunked) return Codings.Invalid;
    chunked = equalsLower(buf, ts, te, 'chunked');
  }
  return chunked ? Codings.Chunked : Codings.NotChunked;
}

// ---------------------------------------------------------------------------------------------
// Chunked framing

/** Result of chunkSizeCrlf(): the offset after the line's LF. */
export const chunkLine = { next: 0 };

/**
 * The common case of a chunk-size line: hex digits and CRLF, no extensions, all inside
 * buf[s, end). Returns the size and sets chunkLine.next; returns -1 for anything else, which the
 * caller hands to the general path (find the LF, then parseChunkSizeLine).
 */
export function chunkSizeCrlf(buf: Buffer, s: number, end: number): number {
  let i = s;
  let size = 0;
  while (i < end) {
    const h = HEX[buf[i]];
    if (h === 0xff) break;
    size = size * 16 + h;
    i++;
  }
  // size only grows, so it is over the limit here iff it was at some digit (as parseChunkSizeLine checks).
  if (i === s || i + 1 >= end || buf[i] !== CR || buf[i + 1] !== LF || size > Number.MAX_SAFE_INTEGER) return -1;
  chunkLine.next = i + 2;
  return size;
}

/**
 * A chunk-size line "HEX *( ';' name [ '=' ( token / quoted-string ) ] )" in buf[s, e):
 * the chunk size, or -1. Like llhttp strict: no whitespace anywhere, sizes up to 2^53-1.
 */
export function parseChunkSizeLine(buf: Buffer, s: number, e: number): number {
  let i = s;
  let size = 0;
  while (i < e) {
    const h = HEX[buf[i]];
    if (h === 0xff) break;
    size = size * 16 + h;
    if (size > Number.MAX_SAFE_INTEGER) return -1;
    i++;
  }
  if (i === s) return -1;
  while (i < e) {
    if (buf[i] !== SEMI) return -1;
    i++;
    const nameStart = i;
    while (i < e && (CLASS[buf[i]] & C_TCHAR) !== 0) i++;
    if (i === nameStart) return -1;
    if (i === e || buf[i] !== EQUALS) continue;
    i++;
    if (i < e && buf[i] === DQUOTE) {
      i++;
      for (;;) {
        if (i >= e) return -1;
        const c = buf[i];
        if (c === DQUOTE) {
          i++;
          break;
        }
        if (c === BACKSLASH) {
          if (i + 1 >= e || (CLASS[buf[i + 1]] & C_QUOTED_PAIR) === 0) return -1;
          i += 2;
        } else if ((CLASS[c] & C_QDTEXT) !== 0) {
          i++;
        } else {
          return -1;
        }
      }
    } else {
      const valueStart = i;
      while (i < e && (CLASS[buf[i]] & C_TCHAR) !== 0) i++;
      if (i === valueStart) return -1;
    }
  }
  return size;
}
