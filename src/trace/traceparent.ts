// W3C Trace Context: the traceparent and tracestate request headers
// (https://www.w3.org/TR/trace-context/). Parsing only: tlsotel never changes traffic.
import type { ParentContext } from './span-builder';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** "00-<32 lower hex>-<16 lower hex>-<2 lower hex>" exactly, as nearly every sender writes it. */
function isPlainVersion00(v: string): boolean {
  if (v.length !== 55 || v.charCodeAt(0) !== 48 || v.charCodeAt(1) !== 48) return false;
  for (let i = 2; i < 55; i++) {
    const c = v.charCodeAt(i);
    if (i === 2 || i === 35 || i === 52) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) {
      return false;
    }
  }
  return true;
}

/** The parent context a traceparent header names, or undefined when absent or invalid. */
export function parseTraceparent(value: string | undefined, tracestate?: string): ParentContext | undefined {
  if (!value) return undefined;
  if (isPlainVersion00(value)) {
    const traceId = value.substring(3, 35);
    const spanId = value.substring(36, 52);
    if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
    const ctx: ParentContext = { traceId, spanId, traceFlags: parseInt(value.substring(53, 55), 16), isRemote: true };
    if (tracestate !== undefined && tracestate.length <= 512) ctx.traceState = tracestate;
    return ctx;
  }
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  // Version ff is invalid; version 00 allows nothing after the flags; later versions may.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const ctx: ParentContext = { traceId, spanId, traceFlags: parseInt(flags, 16) & 0xff, isRemote: true };
  if (tracestate !== undefined && tracestate.length <= 512) ctx.traceState = tracestate;
  return ctx;
}

/** The trace context of a request's headers (flat, as HttpMessage.headers; case-insensitive
 *  names; first traceparent wins). */
export function traceContextOf(headers: readonly string[]): ParentContext | undefined {
  let tp: string | undefined;
  let ts: string | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    // Length first, then the usual spelling before lower-casing (which allocates).
    if (name.length === 11) {
      if (tp === undefined && (name === 'traceparent' || name.toLowerCase() === 'traceparent')) tp = headers[i + 1];
    } else if (name.length === 10 && (name === 'tracestate' || name.toLowerCase() === 'tracestate')) {
      const value = headers[i + 1];
      ts = ts === undefined ? value : `${ts},${value}`;
    }
  }
  return parseTraceparent(tp, ts);
}
