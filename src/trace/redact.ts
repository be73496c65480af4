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

const USERINFO = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#@]*)@/;

/** "https://user:pw@host/p" → "https://REDACTED:REDACTED@host/p"; other URLs unchanged. */
export function redactUserinfo(url: string): string {
  return USERINFO.test(url) ? url.replace(USERINFO, `$1${REDACTED}:${REDACTED}@`) : url;
}

/** Userinfo and query redaction of a whole URL (absolute or origin-form). */
export function redactUrl(url: string): string {
  let out = redactUserinfo(url);
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

  /** Adds the named request headers to `out` as string[] attributes. */
  requestHeaders(headers: readonly string[], out: Attributes): void {
    if (this.request.size > 0) this.capture(this.request, headers, out);
  }

  responseHeaders(headers: readonly string[], out: Attributes): void {
    if (this.response.size > 0) this.capture(this.response, headers, out);
  }

  /** `headers` flat, as HttpMessage.headers. */
  private capture(specs: Map<string, HeaderSpec>, headers: readonly string[], out: Attributes): void {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const spec = specs.get(headers[i].toLowerCase());
      if (spec === undefined) continue;
      const value = headers[i + 1];
      const v = spec.sensitive ? REDACTED : spec.url ? this.url(value) : value;
      const prev = out[spec.attribute];
      if (Array.isArray(prev)) (prev as string[]).push(v);
      else out[spec.attribute] = [v];
    }
  }
}
