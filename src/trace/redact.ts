// Redaction of credentials before anything leaves the agent. On by default.
//
// What the agent sees is plaintext an application meant to protect with TLS: tokens in query
// strings, passwords in URLs, bearer tokens and cookies in headers. Policy:
// - query parameters whose *name* looks like a credential keep their name and position, their
//   value becomes "REDACTED"; values shaped like a JWT are redacted whatever the name;
// - userinfo in absolute URLs becomes "REDACTED:REDACTED" (OTel semconv for url.full);
// - headers are exported only when named by the user; even then credential headers
//   (Authorization, Cookie, Set-Cookie, X-Api-Key, …) export "REDACTED" unless allowSensitive.
import type { Attributes } from '@opentelemetry/api';

export const REDACTED = 'REDACTED';

/** Any name *part* equal to one of these marks a credential (parts split on non-alphanumerics
 *  and camelCase: "X-Amz-Signature" → x, amz, signature; "accessToken" → access, token). */
const SENSITIVE_PARTS = new Set([
  'token', 'tokens', 'secret', 'secrets', 'password', 'passwd', 'passphrase', 'pwd',
  'signature', 'sig', 'credential', 'credentials', 'key', 'apikey', 'accesskey',
  'accesskeyid', 'awsaccesskeyid', 'privatekey', 'secretkey', 'auth', 'authorization',
  'authtoken', 'session', 'sessionid', 'sessid', 'jsessionid', 'phpsessid', 'sid', 'jwt',
  'bearer', 'cookie', 'otp', 'saml', 'samlresponse', 'samlrequest', 'assertion', 'ticket',
  'hmac', 'csrf', 'xsrf',
]);

/** Whole names (lower-cased) that are credentials only when they stand alone: "code" (OAuth
 *  authorization code) but not "country_code". */
const SENSITIVE_WHOLE_NAMES = new Set(['code', 'pass', 'pin', 'client_assertion']);

/** Headers that always carry credentials (besides any name matching SENSITIVE_PARTS). */
const SENSITIVE_HEADERS = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'set-cookie2',
  'x-api-key', 'x-auth-token', 'private-token',
]);

/** Headers whose values are URLs: captured values get the URL redaction. */
const URL_HEADERS = new Set(['referer', 'location', 'content-location', 'origin', 'refresh']);

const JWT_VALUE = /^eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\./;

/**
 * Path segments that are credentials by their shape alone, wherever they stand: a JWT (or any
 * JWS/JWE: base64url JSON header "eyJ…" and dot-separated parts), and API keys whose vendors
 * give them a recognisable prefix so that secret scanners can find them (Stripe sk_/rk_ live
 * and test keys, GitHub ghp_/gho_/ghu_/ghs_/ghr_/github_pat_, Slack xox?-, GitLab glpat-, AWS
 * access key ids, Google API keys, OpenAI-style sk-). Ids, slugs and hashes are not redacted:
 * the route template already hides them from span names, and they are not secrets.
 */
const CREDENTIAL_SEGMENT = new RegExp([
  '^eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_.-]*$',
  '^(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}$',
  '^(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}$',
  '^github_pat_[A-Za-z0-9_]{30,}$',
  '^xox[abposr]-[A-Za-z0-9-]{10,}$',
  '^glpat-[A-Za-z0-9_-]{20,}$',
  '^(?:AKIA|ASIA)[A-Z0-9]{16}$',
  '^AIza[A-Za-z0-9_-]{35}$',
  '^sk-(?:proj-)?[A-Za-z0-9_-]{20,}$',
  '^bot[0-9]{5,}:[A-Za-z0-9_-]{30,}$',
].join('|'));

/** Name parts of a path segment right after which a random-looking segment is a credential
 *  whatever its shape (see secretContext): "/reset-password/<token>", "/invite/<code>",
 *  "/api/webhooks/<id>/<token>", "/keys/<key>", "/sessions/<id>", "…;jsessionid=<id>". */
const SECRET_CONTEXT_PARTS = new Set([
  ...SENSITIVE_PARTS, 'keys', 'passwords', 'sessions', 'signatures', 'reset', 'invite', 'invites',
  'invitation', 'invitations', 'magic', 'verify', 'verification', 'confirm', 'confirmation',
  'activate', 'activation', 'webhook', 'webhooks', 'hooks', 'unsubscribe',
]);
const TOKEN_SEGMENT = /^[A-Za-z0-9_\-+=~]+$/;

function nameParts(name: string): string[] {
  let decoded = name;
  if (decoded.includes('%') || decoded.includes('+')) {
    try {
      decoded = decodeURIComponent(decoded.replace(/\+/g, ' '));
    } catch {
      // Malformed percent-encoding: judge the name as written.
    }
  }
  return decoded
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((p) => p.length > 0);
}

// Parameter names repeat endlessly across requests; remember the verdict (bounded).
const paramVerdicts = new Map<string, boolean>();
const MAX_VERDICTS = 4096;

/** True when a query parameter of this name carries a credential. */
export function isSensitiveParamName(name: string): boolean {
  const cached = paramVerdicts.get(name);
  if (cached !== undefined) return cached;
  const parts = nameParts(name);
  let sensitive = SENSITIVE_WHOLE_NAMES.has(parts.join('_'));
  for (const p of parts) {
    if (SENSITIVE_PARTS.has(p)) {
      sensitive = true;
      break;
    }
  }
  if (paramVerdicts.size >= MAX_VERDICTS) paramVerdicts.clear();
  paramVerdicts.set(name, sensitive);
  return sensitive;
}

/** True for header names whose values are credentials. */
export function isSensitiveHeaderName(name: string): boolean {
  const lower = name.toLowerCase();
  if (SENSITIVE_HEADERS.has(lower)) return true;
  for (const p of nameParts(lower)) {
    if (SENSITIVE_PARTS.has(p)) return true;
  }
  return false;
}

/**
 * Redact the values of credential-like parameters in a query string (with or without the
 * leading "?"). Names, order, separators and non-sensitive values are kept byte for byte.
 */
export function redactQuery(query: string): string {
  if (query.length === 0 || !query.includes('=')) return query;
  const lead = query.startsWith('?') ? '?' : '';
  const parts = (lead ? query.slice(1) : query).split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const value = part.slice(eq + 1);
    if (value.length === 0 || value === REDACTED) continue;
    if (isSensitiveParamName(part.slice(0, eq)) || JWT_VALUE.test(value)) {
      parts[i] = part.slice(0, eq + 1) + REDACTED;
      changed = true;
    }
  }
  return changed ? lead + parts.join('&') : query;
}

/** Quick test before the regular expression: every shape above is at least this long and
 *  starts with one of these letters. */
function mayBeCredentialSegment(seg: string): boolean {
  if (seg.length < 20) return false;
  const c = seg.charCodeAt(0);
  return c === 0x65 /* e */ || c === 0x73 /* s */ || c === 0x72 /* r */ || c === 0x67 /* g */ ||
    c === 0x78 /* x */ || c === 0x41 /* A */ || c === 0x62 /* b */;
}

/**
 * "/users/<jwt>/profile" → "/users/REDACTED/profile": credential-shaped segments of a path
 * (CREDENTIAL_SEGMENT), and random-looking ones right after a segment naming a secret
 * ("/reset-password/<token>", secretContext), are replaced; everything else is kept byte for
 * byte. Linear in the path's length (a client chooses it: up to 64 KiB). Segments are judged
 * percent-decoded (a JWT has no character that needs encoding, but a client may encode one
 * anyway); also ";"-parameters of a segment.
 */
export function redactPath(path: string): string {
  if (path.length < 12) return path;
  let out: string | undefined;
  let copied = 0;
  let segStart = 0;
  // The two segments before the current one (start, end): the context of a random-looking one.
  let prevStart = -1;
  let prevEnd = -1;
  let prev2Start = -1;
  let prev2End = -1;
  for (let i = 0; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2f;
    if (c !== 0x2f /* / */ && c !== 0x3b /* ; */ && c !== 0x3d /* = */ && c !== 0x2c /* , */) continue;
    if (i - segStart >= 8) {
      let secret = isRandomLookingAt(path, segStart, i) && secretContext(path, prevStart, prevEnd, prev2Start, prev2End);
      if (!secret && i - segStart >= 20) secret = isCredentialSegment(decoded(path.slice(segStart, i)));
      if (secret) {
        out = (out ?? '') + path.slice(copied, segStart) + REDACTED;
        copied = i;
      }
    }
    if (i > segStart) {
      prev2Start = prevStart;
      prev2End = prevEnd;
      prevStart = segStart;
      prevEnd = i;
    }
    segStart = i + 1;
  }
  return out === undefined ? path : out + path.slice(copied);
}

/** A segment percent-decoded (a client may encode any character), or as written when malformed. */
function decoded(seg: string): string {
  if (!seg.includes('%')) return seg;
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}

function isCredentialSegment(seg: string): boolean {
  return mayBeCredentialSegment(seg) && CREDENTIAL_SEGMENT.test(seg);
}

/**
 * What precedes a random-looking segment says it is a secret: the segment just before names
 * one ("/reset-password/<token>", ";jsessionid=<id>"), or the one before that does with a
 * number between ("/api/webhooks/<id>/<token>"), or the two before are a Slack webhook's team
 * and channel ids ("/services/T…/B…/<secret>"). Only what is next to it: a word further up
 * ("/auth/…/users/<id>") does not make every id after it a secret.
 */
function secretContext(path: string, prevStart: number, prevEnd: number, prev2Start: number, prev2End: number): boolean {
  if (prevStart < 0) return false;
  const prev = path.slice(prevStart, prevEnd);
  if (namesSecret(prev)) return true;
  if (prev2Start < 0) return false;
  const prev2 = path.slice(prev2Start, prev2End);
  if (/^[0-9]+$/.test(prev)) return namesSecret(prev2);
  return SLACK_CHANNEL.test(prev) && SLACK_TEAM.test(prev2);
}

const SLACK_TEAM = /^T[A-Z0-9]{8,12}$/;
const SLACK_CHANNEL = /^B[A-Z0-9]{8,12}$/;

/** A word (no digit) whose name parts include one of SECRET_CONTEXT_PARTS. */
function namesSecret(seg: string): boolean {
  if (seg.length === 0 || seg.length > 40 || /[0-9]/.test(seg)) return false;
  for (const p of nameParts(seg)) if (SECRET_CONTEXT_PARTS.has(p)) return true;
  return false;
}

/** path[start, end) is random-looking (isRandomLooking), judged percent-decoded. */
function isRandomLookingAt(path: string, start: number, end: number): boolean {
  let digit = false;
  let lower = false;
  let upper = false;
  for (let i = start; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digit = true;
    else if (c >= 0x61 && c <= 0x7a) lower = true;
    else if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (c === 0x25 /* % */) return isRandomLooking(decoded(path.slice(start, end)));
    else if (c !== 0x5f && c !== 0x2d && c !== 0x2b && c !== 0x3d && c !== 0x7e) return false; // _ - + = ~ (a dot: a file or package name)
  }
  return randomMix(end - start, digit, lower, upper);
}

/** Random-looking, as a token or key is: 8+ token characters (base64, base64url, hex: no dot)
 *  mixing letters and digits, or 16+ mixing cases. Words, slugs, file names and plain numbers
 *  are not. */
function isRandomLooking(seg: string): boolean {
  if (seg.length < 8 || !TOKEN_SEGMENT.test(seg)) return false;
  return randomMix(seg.length, /[0-9]/.test(seg), /[a-z]/.test(seg), /[A-Z]/.test(seg));
}

function randomMix(length: number, digit: boolean, lower: boolean, upper: boolean): boolean {
  return length >= 8 && ((digit && (lower || upper)) || (length >= 16 && lower && upper));
}

const USERINFO = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#@]*)@/;

/** "https://user:pw@host/p" → "https://REDACTED:REDACTED@host/p"; other URLs unchanged. */
export function redactUserinfo(url: string): string {
  return USERINFO.test(url) ? url.replace(USERINFO, `$1${REDACTED}:${REDACTED}@`) : url;
}

/** Userinfo, path and query redaction of a whole URL (absolute or origin-form). */
export function redactUrl(url: string): string {
  let out = redactUserinfo(url);
  const pathStart = out.startsWith('/') ? 0 : out.indexOf('/', out.indexOf('://') + 3);
  if (pathStart >= 0) {
    let pathEnd = out.length;
    for (const sep of ['?', '#']) {
      const at = out.indexOf(sep, pathStart);
      if (at >= 0 && at < pathEnd) pathEnd = at;
    }
    const path = out.slice(pathStart, pathEnd);
    const red = redactPath(path);
    if (red !== path) out = out.slice(0, pathStart) + red + out.slice(pathEnd);
  }
  const q = out.indexOf('?');
  if (q >= 0) {
    const h = out.indexOf('#', q);
    const query = h >= 0 ? out.slice(q + 1, h) : out.slice(q + 1);
    const red = redactQuery(query);
    if (red !== query) out = out.slice(0, q + 1) + red + (h >= 0 ? out.slice(h) : '');
  }
  return out;
}

export interface RedactionOptions {
  /** Request headers to export as http.request.header.<name> (case-insensitive). Default none. */
  captureRequestHeaders?: string[];
  /** Response headers to export as http.response.header.<name>. Default none. */
  captureResponseHeaders?: string[];
  /** Export credential headers (Authorization, Cookie, …) in clear when named. Default false. */
  allowSensitive?: boolean;
  /** Redact credential values in queries and userinfo in URLs. Default true. */
  redactUrls?: boolean;
}

interface HeaderSpec {
  attribute: string;
  sensitive: boolean;
  url: boolean;
}

const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function headerSpecs(names: string[] | undefined, prefix: string, allowSensitive: boolean): Map<string, HeaderSpec> {
  const specs = new Map<string, HeaderSpec>();
  for (const raw of names ?? []) {
    const name = raw.trim().toLowerCase();
    if (!HEADER_TOKEN.test(name)) {
      throw new Error(`"${raw}" is not a valid HTTP header name (expected a token like "content-type")`);
    }
    specs.set(name, {
      attribute: prefix + name,
      sensitive: !allowSensitive && isSensitiveHeaderName(name),
      url: URL_HEADERS.has(name),
    });
  }
  return specs;
}

/** Applies RedactionOptions to the parts of a message that become attributes. */
export class Redactor {
  readonly redactUrls: boolean;
  private readonly request: Map<string, HeaderSpec>;
  private readonly response: Map<string, HeaderSpec>;

  constructor(options: RedactionOptions = {}) {
    this.redactUrls = options.redactUrls ?? true;
    const allow = options.allowSensitive ?? false;
    this.request = headerSpecs(options.captureRequestHeaders, 'http.request.header.', allow);
    this.response = headerSpecs(options.captureResponseHeaders, 'http.response.header.', allow);
  }

  query(query: string): string {
    return this.redactUrls ? redactQuery(query) : query;
  }

  url(url: string): string {
    return this.redactUrls ? redactUrl(url) : url;
  }

  path(path: string): string {
    return this.redactUrls ? redactPath(path) : path;
  }

  /** Adds the named request headers to `out` as string[] attributes, each value cut to
   *  `maxLength`. */
  requestHeaders(headers: readonly string[], out: Attributes, maxLength = Infinity): void {
    if (this.request.size > 0) this.capture(this.request, headers, out, maxLength);
  }

  responseHeaders(headers: readonly string[], out: Attributes, maxLength = Infinity): void {
    if (this.response.size > 0) this.capture(this.response, headers, out, maxLength);
  }

  /** `headers` flat, as HttpMessage.headers. */
  private capture(specs: Map<string, HeaderSpec>, headers: readonly string[], out: Attributes, maxLength: number): void {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const spec = specs.get(headers[i].toLowerCase());
      if (spec === undefined) continue;
      const value = headers[i + 1];
      let v = spec.sensitive ? REDACTED : spec.url ? this.url(value) : value;
      if (v.length > maxLength) v = v.slice(0, maxLength);
      const prev = out[spec.attribute];
      if (Array.isArray(prev)) (prev as string[]).push(v);
      else out[spec.attribute] = [v];
    }
  }
}
