// Low-cardinality route templates for span names.
//
// Span names must not carry ids: every distinct name becomes its own operation in Jaeger/Tempo.
// We cannot know the application's real routes, so segments that look like identifiers are
// replaced by the one placeholder ROUTE_PLACEHOLDER ("{id}"), and so are credentials (what
// redactPath replaces). Kept as-is: words, short mixed tokens ("v2", "user3"), lower-case slugs
// ("my-blog-post-2024").

import { REDACTED, redactPath } from './redact';

export const ROUTE_PLACEHOLDER = '{id}';

/** Longest route we keep; longer ones end in "/…" so one odd client cannot flood names. */
const MAX_ROUTE_LENGTH = 200;

const UUID = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const HEX16 = /^(?:0x)?[0-9a-fA-F]{16,}$/;
const DIGITS = /^[0-9]+$/;
// Numbers with separators or a sign, 6+ chars: "2024-11-25", "-12345", "10,000" (not "1.0").
const NUMERIC = /^[-+]?[0-9][0-9.,:_-]*$/;
// Tokens in base64 / base64url / base36 alphabets (optionally percent-encoded padding).
const TOKEN_CHARS = /^[A-Za-z0-9_\-+=.~]+(?:%3[dD])*$/;
const HAS_DIGIT = /[0-9]/;
const HAS_UPPER = /[A-Z]/;

/** True when a single path segment looks like an identifier rather than a route word. */
export function isIdLikeSegment(seg: string): boolean {
  if (seg.length === 0) return false;
  // Fast path for route words: with no digit, "@" or "%", only a 16+ character hex run
  // (HEX16, UUID) can still be an id.
  if (seg.length < 16) {
    let plain = true;
    for (let i = 0; i < seg.length; i++) {
      const c = seg.charCodeAt(i);
      if ((c >= 48 && c <= 57) || c === 64 || c === 37) {
        plain = false;
        break;
      }
    }
    if (plain) return false;
  }
  if (DIGITS.test(seg) || (seg.length >= 6 && NUMERIC.test(seg))) return true;
  if (seg.length >= 32 && UUID.test(seg)) return true;
  if (seg.length >= 16 && HEX16.test(seg)) return true;
  // e-mail addresses and other user data with an "@".
  if (seg.includes('@') || seg.includes('%40')) return true;
  // At least 8 characters, at least half of them digits: order numbers, dates, "ab12345678".
  if (seg.length >= 8) {
    let digits = 0;
    for (let i = 0; i < seg.length; i++) {
      const c = seg.charCodeAt(i);
      if (c >= 48 && c <= 57) digits++;
    }
    if (digits * 2 >= seg.length) return true;
  }
  // Long random tokens (base64-ish, JWT, base36). A lower-case slug with hyphens is a word.
  if (seg.length >= 24 && TOKEN_CHARS.test(seg) && HAS_DIGIT.test(seg)) {
    const slug = !HAS_UPPER.test(seg) && seg.includes('-');
    if (!slug) return true;
  }
  return false;
}

/**
 * Template of a request target's path: query and fragment stripped, id-like segments replaced
 * by "{id}". Absolute-form targets ("http://host/p") keep only the path; "*" stays "*";
 * an empty or authority-form target ("host:443" of CONNECT) gives "/".
 */
export function routeOf(path: string): string {
  // The same target is templated twice per exchange (RED metrics, then the span's name) with
  // the same string: the last answer is kept.
  if (path === lastTarget) return lastRoute;
  const route = templateOf(path);
  lastTarget = path;
  lastRoute = route;
  return route;
}

let lastTarget: string | undefined;
let lastRoute = '';

function templateOf(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q >= 0) end = q;
  const h = path.indexOf('#');
  if (h >= 0 && h < end) end = h;
  let p = path.slice(0, end);
  if (p === '*') return '*';
  if (!p.startsWith('/')) {
    // absolute-form: scheme://authority/path
    const scheme = p.indexOf('://');
    if (scheme > 0) {
      const slash = p.indexOf('/', scheme + 3);
      p = slash >= 0 ? p.slice(slash) : '/';
    } else {
      return '/';
    }
  }
  if (p.length <= 1) return '/';
  // A credential in the path (redact.ts) is never part of a name, whatever the redaction
  // settings: it becomes the placeholder too.
  const redacted = redactPath(p);
  const secrets = redacted !== p;
  if (secrets) p = redacted;
  // Segment by segment without splitting: most paths have nothing to replace.
  let route = p;
  let out: string | undefined;
  let copied = 0;
  for (let start = 1; start <= p.length; ) {
    let end = p.indexOf('/', start);
    if (end < 0) end = p.length;
    if (end > start && (isIdLikeSegment(p.slice(start, end)) || (secrets && p.slice(start, end).includes(REDACTED)))) {
      out = (out ?? '') + p.slice(copied, start) + ROUTE_PLACEHOLDER;
      copied = end;
    }
    start = end + 1;
  }
  if (out !== undefined) route = out + p.slice(copied);
  if (route.length > MAX_ROUTE_LENGTH) {
    const cut = route.lastIndexOf('/', MAX_ROUTE_LENGTH);
    route = route.slice(0, cut > 0 ? cut : MAX_ROUTE_LENGTH) + '/…';
  }
  return route;
}
