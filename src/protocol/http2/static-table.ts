// HPACK's static table (RFC 7541 Appendix A): index 1..61. Its names are the strings every
// decoded header shares (no allocation for a name found here).

export const STATIC_NAMES: readonly string[] = [
  '', // index 0 is not an entry
  ':authority', ':method', ':method', ':path', ':path', ':scheme', ':scheme', ':status',
  ':status', ':status', ':status', ':status', ':status', ':status', 'accept-charset',
  'accept-encoding', 'accept-language', 'accept-ranges', 'accept', 'access-control-allow-origin',
  'age', 'allow', 'authorization', 'cache-control', 'content-disposition', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-range', 'content-type',
  'cookie', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since',
  'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'link', 'location',
  'max-forwards', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'refresh',
  'retry-after', 'server', 'set-cookie', 'strict-transport-security', 'transfer-encoding',
  'user-agent', 'vary', 'via', 'www-authenticate',
];

export const STATIC_VALUES: readonly string[] = [
  '', // index 0 is not an entry
  '', 'GET', 'POST', '/', '/index.html', 'http', 'https', '200',
  '204', '206', '304', '400', '404', '500', '', 'gzip, deflate',
  // Entries 17 to 61 have empty values.
  ...new Array<string>(61 - 16).fill(''),
];

/** Entries in the static table; dynamic entries start at STATIC_COUNT + 1. */
export const STATIC_COUNT = 61;

// Names that are not in the static table but common in HTTP/2 and gRPC traffic: decoded
// literal names equal to one of these share its string.
const COMMON_NAMES = [
  'te', 'grpc-status', 'grpc-message', 'grpc-encoding', 'grpc-accept-encoding', 'grpc-timeout',
  'grpc-status-details-bin', 'traceparent', 'tracestate', 'baggage', 'x-request-id',
  'x-forwarded-for', 'x-forwarded-proto', 'content-security-policy', 'x-content-type-options',
  'x-frame-options', 'x-xss-protection', 'alt-svc', 'access-control-allow-credentials',
  'access-control-allow-headers', 'access-control-allow-methods', 'origin', 'upgrade-insecure-requests',
  'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-dest', 'priority', 'x-powered-by',
];

/** Interned names by length, for the lookup in internName. */
const byLength = new Map<number, string[]>();
for (const n of [...STATIC_NAMES.slice(1), ...COMMON_NAMES]) {
  const list = byLength.get(n.length) ?? [];
  if (!list.includes(n)) list.push(n);
  byLength.set(n.length, list);
}

/** The interned string equal to the latin1 bytes buf[s, e), or undefined. */
export function internName(buf: Uint8Array, s: number, e: number): string | undefined {
  const list = byLength.get(e - s);
  if (list === undefined) return undefined;
  outer: for (let k = 0; k < list.length; k++) {
    const n = list[k];
    for (let i = 0; i < n.length; i++) {
      if (n.charCodeAt(i) !== buf[s + i]) continue outer;
    }
    return n;
  }
  return undefined;
}
