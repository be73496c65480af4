// What the session reads from a decoded header block: pseudo-header fields, checked (a value
// that cannot be right is treated as unknown — the guard against a decoder fed garbage), and
// the regular fields, flat. Also the gRPC facts read from fields.

import type { Fields, RpcInfo } from '../session';

/** tchar (RFC 9110 5.6.2). */
const TCHAR = (() => {
  const t = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~") t[c.charCodeAt(0)] = 1;
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  return t;
})();

export function validMethod(s: string): boolean {
  if (s.length === 0 || s.length > 32) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** A request target as HTTP/2 allows in :path: origin form, or "*" (OPTIONS); no controls,
 *  spaces or non-ASCII bytes (RFC 9113 8.3.1 and the URI grammar). */
export function validPath(s: string): boolean {
  if (s === '*') return true;
  if (s.length === 0 || s.charCodeAt(0) !== 0x2f) return false;
  return visibleAscii(s);
}

function visibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

export function validAuthority(s: string): boolean {
  return s.length > 0 && visibleAscii(s);
}

export function validScheme(s: string): boolean {
  if (s.length === 0 || s.length > 16) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e));
    if (!ok) return false;
  }
  return true;
}

/** :status as a number, or -1 when it is not three digits from 100 to 599. */
export function parseStatus(s: string): number {
  if (s.length !== 3) return -1;
  const a = s.charCodeAt(0) - 0x30, b = s.charCodeAt(1) - 0x30, c = s.charCodeAt(2) - 0x30;
  if (a < 1 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  return a * 100 + b * 10 + c;
}

/** The value of the first field named `name` (lower-case) in flat fields. */
export function fieldValue(fields: Fields, name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** content-type application/grpc, application/grpc+proto, application/grpc-web… */
export function isGrpcContentType(v: string | undefined): boolean {
  return v !== undefined && v.startsWith('application/grpc');
}

/** Service and method from a gRPC :path "/package.Service/Method"; undefined when not so. */
export function grpcRoute(path: string): { service: string; method: string } | undefined {
  const slash = path.lastIndexOf('/');
  if (slash <= 1 || slash === path.length - 1 || path.indexOf('?') >= 0) return undefined;
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

/** grpc-status as a number (0..2^31), or undefined when not a decimal number. */
export function parseGrpcStatus(v: string): number | undefined {
  if (v.length === 0 || v.length > 10) return undefined;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}

/** grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2 spec); a bad escape is kept as is. */
export function decodeGrpcMessage(v: string): string {
  if (v.indexOf('%') < 0) return v;
  const bytes: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x25 && i + 2 < v.length && isHex(v.charCodeAt(i + 1)) && isHex(v.charCodeAt(i + 2))) {
      bytes.push(parseInt(v.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** The gRPC facts of an exchange: route from :path, status from trailers (or a trailers-only
 *  response's headers). A grpc-message without grpc-status means UNKNOWN (2). */
export function rpcInfo(path: string | undefined, statusFields: Fields | undefined): RpcInfo | undefined {
  if (path === undefined) return undefined;
  const route = grpcRoute(path);
  if (route === undefined) return undefined;
  const info: RpcInfo = { system: 'grpc', service: route.service, method: route.method, statusCode: undefined, statusMessage: undefined };
  if (statusFields !== undefined) {
    const status = fieldValue(statusFields, 'grpc-status');
    const message = fieldValue(statusFields, 'grpc-message');
    if (status !== undefined) info.statusCode = parseGrpcStatus(status);
    else if (message !== undefined) info.statusCode = 2;
    if (message !== undefined) info.statusMessage = decodeGrpcMessage(message);
  }
  return info;
}
