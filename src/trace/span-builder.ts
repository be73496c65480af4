// Exchange → ReadableSpan, shaped per DESIGN.md "Span shape" (OTel HTTP semconv, stable).
//
// Spans are built as plain ReadableSpan objects, not through Tracer.startSpan/end: that path
// costs ~12 µs a span (DESIGN.md) for context, sampling and processor work we do not need —
// the span is already finished when the exchange is. The exporter only reads ReadableSpan.
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type Link, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import {
  ATTR_CLIENT_ADDRESS, ATTR_CLIENT_PORT, ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_LOCAL_ADDRESS, ATTR_NETWORK_LOCAL_PORT, ATTR_NETWORK_PEER_PORT, ATTR_NETWORK_PROTOCOL_VERSION, ATTR_NETWORK_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT,
  ATTR_URL_FULL, ATTR_URL_PATH, ATTR_URL_QUERY, ATTR_URL_SCHEME, ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import { ERROR_KINDS, errorMessage } from '../exchange/error-kind';
import type { Exchange, ProcessInfo, RequestPart } from '../exchange/types';
import { durationHrTime, wallClock } from './clock';
import { newSpanId, newTraceId } from './ids';
import { Redactor, type RedactionOptions } from './redact';
import { resourceFor as defaultResourceFor } from './resource';
import { routeOf } from './route';
import { grpcStatusIsError, grpcStatusName, rpcMethod } from './rpc';
import type { PairDecision } from './sampler';
import { VERSION } from './version';

// Not in the stable semconv package (opt-in attributes): spelled out here.
const ATTR_HTTP_REQUEST_BODY_SIZE = 'http.request.body.size';
const ATTR_HTTP_RESPONSE_BODY_SIZE = 'http.response.body.size';
// Stable RPC attributes of semconv 1.45 (spelled out: this project's module resolution does not
// reach the package's newest entry points for every name).
const ATTR_RPC_SYSTEM_NAME = 'rpc.system.name';
const ATTR_RPC_METHOD = 'rpc.method';
const ATTR_RPC_STATUS_CODE = 'rpc.status_code';
/** Why an exchange that did get a response is incomplete (e.g. capture_gap); ours, not semconv. */
export const ATTR_TLSOTEL_EXCHANGE_ERROR = 'tlsotel.exchange.error';
/** The TLS library whose calls carried the exchange ("openssl", "gnutls", "go"); ours, not
 *  semconv (which names the TLS protocol, not its implementation). */
export const ATTR_TLSOTEL_TLS_LIBRARY = 'tlsotel.tls.library';

/** One scope object for every span: the OTLP serializer groups spans by scope identity. */
export const INSTRUMENTATION_SCOPE: InstrumentationScope = { name: 'tlsotel', version: VERSION };

/** Methods semconv knows (RFC 9110 + PATCH + QUERY); anything else is reported as _OTHER. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

/** A parent span context, e.g. from an incoming `traceparent` header. */
export interface ParentContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  /** Serialized W3C tracestate. */
  traceState?: string;
  /** True (default) when the parent came over the wire. */
  isRemote?: boolean;
}

export interface BuildOptions {
  parent?: ParentContext;
  /** Use this span id (e.g. one already promised to a peer); random otherwise. */
  spanId?: string;
  /** Use this trace id when there is no parent; random otherwise. */
  traceId?: string;
  /** Set for the two spans of a pair stitched on this host: one sampling decision for both
   *  (src/trace/sampler.ts). Not read by build(). */
  pair?: PairDecision;
  /** The span starts no later than this (monotonic ns): a client span whose same-host server
   *  span started first (TraceLinker). The client's write began before the server read it (and
   *  is stamped at its entry): a guard. */
  startNotAfterNs?: bigint;
}

/** Default for SpanBuilderOptions.attributeValueLengthLimit (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT
 *  overrides it): generous, but a 20 KiB query string is not exported twice in full. */
export const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT = 4096;

export interface SpanBuilderOptions extends RedactionOptions {
  /** Longest string attribute value; longer values are cut to it (OTel's attribute limits). */
  attributeValueLengthLimit?: number;
  /** Resource per process; default the cached resourceFor() of resource.ts. */
  resourceFor?: (info: ProcessInfo) => Resource;
  /** Monotonic ns → HrTime; default the process-wide clock of clock.ts. */
  clock?: { monoToHrTime(monoNs: bigint): HrTime };
}

/** The ReadableSpan handed to exporters; immutable once built. */
const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];
const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];

class ExchangeSpan implements ReadableSpan {
  // Shared and frozen: exchange spans never have links or events.
  readonly links: Link[] = NO_LINKS;
  readonly events: TimedEvent[] = NO_EVENTS;
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;

  constructor(
    readonly name: string,
    readonly kind: SpanKind,
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly startTime: HrTime,
    readonly endTime: HrTime,
    readonly duration: HrTime,
    readonly status: SpanStatus,
    readonly attributes: Attributes,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
  ) {}

  spanContext(): SpanContext {
    return this.context;
  }
}

/** normalizeMethod's answer for each known method: one frozen object each, not one per call. */
const KNOWN_NORMALIZED = new Map([...KNOWN_METHODS].map((m) => [m, Object.freeze({ method: m })]));

/** Normalised method per semconv: unknown (or non-canonical case) methods become "_OTHER". */
export function normalizeMethod(method: string): { readonly method: string; readonly original?: string } {
  const known = KNOWN_NORMALIZED.get(method);
  if (known !== undefined) return known;
  return method === '' ? { method: '_OTHER' } : { method: '_OTHER', original: method };
}

/**
 * A span's attributes: an ordinary object (prototype Object.prototype), made by a constructor
 * so that V8 gives it room for ten properties in the object itself (slack tracking). An object
 * literal starts with room for four, and each property past those regrows an out-of-object
 * array three slots at a time: a span's twenty-odd attributes made ~0.3 KB more garbage.
 */
const SpanAttributes = function SpanAttributes(this: Attributes) {} as unknown as { new (): Attributes; prototype: object };
SpanAttributes.prototype = Object.prototype;

/** "host", "host:8443", "[::1]:8080" → address (lower-cased, no brackets) and port. */
export function parseHostHeader(value: string): { address: string; port?: number } | undefined {
  const v = value.trim();
  if (v.length === 0) return undefined;
  let address: string;
  let portText: string | undefined;
  if (v.startsWith('[')) {
    const close = v.indexOf(']');
    if (close < 0) return undefined;
    address = v.slice(1, close);
    if (v.length > close + 1) {
      if (v[close + 1] !== ':') return undefined;
      portText = v.slice(close + 2);
    }
  } else {
    const colon = v.lastIndexOf(':');
    if (colon >= 0 && v.indexOf(':') === colon) {
      address = v.slice(0, colon);
      portText = v.slice(colon + 1);
    } else {
      address = v;
    }
  }
  if (address.length === 0) return undefined;
  address = address.toLowerCase();
  if (portText === undefined || portText === '') return { address };
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) return { address };
  return { address, port };
}

/** The request headers span building reads (first of each), found in one pass. */
interface RequestHeaders {
  host?: string;
  userAgent?: string;
  forwarded?: string;
  xForwardedFor?: string;
}

function requestHeadersOf(message: RequestPart): RequestHeaders {
  const out: RequestHeaders = { host: undefined, userAgent: undefined, forwarded: undefined, xForwardedFor: undefined };
  const h = message.headers;
  for (let i = 0; i + 1 < h.length; i += 2) {
    const name = h[i];
    // Length first: most names are none of the four. Then the usual spellings, before
    // lower-casing (which allocates).
    switch (name.length) {
      case 4:
        if (out.host === undefined && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) out.host = h[i + 1];
        break;
      case 9:
        if (out.forwarded === undefined && name.toLowerCase() === 'forwarded') out.forwarded = h[i + 1];
        break;
      case 10:
        if (out.userAgent === undefined && (name === 'User-Agent' || name === 'user-agent' || name.toLowerCase() === 'user-agent')) out.userAgent = h[i + 1];
        break;
      case 15:
        if (out.xForwardedFor === undefined && name.toLowerCase() === 'x-forwarded-for') out.xForwardedFor = h[i + 1];
        break;
    }
  }
  return out;
}

/** First client address from Forwarded (for=) or X-Forwarded-For. */
function forwardedClient(fwd: string | undefined, xff: string | undefined): string | undefined {
  if (fwd !== undefined) {
    const m = /(?:^|[;,\s])for=("?)\[?([^\]",;\s]+)/i.exec(fwd);
    if (m) {
      const v = m[2];
      // "for=192.0.2.1:4711" — drop the port of an IPv4 address; keep IPv6 whole.
      const colon = v.indexOf(':');
      return colon >= 0 && v.indexOf(':', colon + 1) < 0 ? v.slice(0, colon) : v;
    }
  }
  if (xff !== undefined) {
    const first = xff.split(',')[0].trim();
    if (first.length > 0) return first;
  }
  return undefined;
}

interface Target {
  scheme?: string;
  authority?: string;
  path?: string;
  query?: string;
}

/** Split a request target (origin-, absolute-, authority- or asterisk-form). */
function splitTarget(url: string | undefined, method: string): Target {
  if (url === undefined || url.length === 0) return {};
  let rest = url;
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const t: Target = {};
  if (method === 'CONNECT' && !rest.startsWith('/')) {
    t.authority = rest;
    return t;
  }
  if (!rest.startsWith('/') && rest !== '*') {
    const sep = rest.indexOf('://');
    if (sep > 0) {
      t.scheme = rest.slice(0, sep).toLowerCase();
      const slash = rest.slice(sep + 3).search(/[/?]/);
      const authEnd = slash >= 0 ? sep + 3 + slash : rest.length;
      let authority = rest.slice(sep + 3, authEnd);
      const at = authority.lastIndexOf('@');
      if (at >= 0) authority = authority.slice(at + 1);
      t.authority = authority;
      rest = rest.slice(authEnd);
      if (rest.length === 0 || rest.startsWith('?')) rest = '/' + rest;
    }
  }
  const q = rest.indexOf('?');
  if (q >= 0) {
    t.path = rest.slice(0, q);
    t.query = rest.slice(q + 1);
  } else {
    t.path = rest;
  }
  return t;
}

/** `value` cut to `max` UTF-16 units (the SDK's attribute value length limit does the same). */
function cut(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value;
}

const UNSET_STATUS: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const ERROR_STATUS: SpanStatus = Object.freeze({ code: SpanStatusCode.ERROR });

export class SpanBuilder {
  private readonly redactor: Redactor;
  private readonly resourceFor: (info: ProcessInfo) => Resource;
  private readonly clock: { monoToHrTime(monoNs: bigint): HrTime };
  private readonly maxValue: number;

  constructor(options: SpanBuilderOptions = {}) {
    this.redactor = new Redactor(options);
    const limit = options.attributeValueLengthLimit ?? DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`attribute value length limit must be a positive integer, got ${limit}`);
    this.maxValue = limit;
    this.resourceFor = options.resourceFor ?? defaultResourceFor;
    this.clock = options.clock ?? wallClock;
  }

  build(exchange: Exchange, options: BuildOptions = {}): ReadableSpan {
    const { request, response } = exchange;
    const client = exchange.side === 'client';
    const notAfter = options.startNotAfterNs;
    const startNs = notAfter !== undefined && notAfter < exchange.startNs ? notAfter : exchange.startNs;
    const max = this.maxValue;
    const rawMethod = request.method ?? '';
    const { method, original } = normalizeMethod(rawMethod);
    const headers = requestHeadersOf(request);
    const target = splitTarget(request.url, rawMethod);
    const scheme = target.scheme ?? exchange.scheme ?? 'https';
    const defaultPort = scheme === 'http' ? 80 : 443;
    const attrs = new SpanAttributes();

    attrs[ATTR_HTTP_REQUEST_METHOD] = method;
    if (original !== undefined) attrs[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = cut(original, max);
    if (response?.statusCode !== undefined) attrs[ATTR_HTTP_RESPONSE_STATUS_CODE] = response.statusCode;
    attrs[ATTR_URL_SCHEME] = scheme;
    const path = target.path !== undefined ? this.redactor.path(target.path) : undefined;
    if (path !== undefined) attrs[ATTR_URL_PATH] = cut(path, max);
    const query = target.query !== undefined && target.query.length > 0 ? this.redactor.query(target.query) : undefined;
    if (query !== undefined) attrs[ATTR_URL_QUERY] = cut(query, max);

    // Authority: absolute-form target wins over Host (RFC 9112 §3.2.2); HTTP/2's :authority
    // is the Host of that protocol.
    const authority = target.authority ?? exchange.authority ?? headers.host;
    const host = authority !== undefined ? parseHostHeader(authority) : undefined;
    const addr = exchange.addresses;
    if (host !== undefined) {
      attrs[ATTR_SERVER_ADDRESS] = cut(host.address, max);
      attrs[ATTR_SERVER_PORT] = host.port ?? defaultPort;
    } else if (addr !== undefined) {
      attrs[ATTR_SERVER_ADDRESS] = client ? addr.remoteAddress : addr.localAddress;
      attrs[ATTR_SERVER_PORT] = client ? addr.remotePort : addr.localPort;
    }
    if (client && path !== undefined) {
      // The origin the request went to: its authority, else the socket it was sent on.
      let origin: string | undefined;
      if (authority !== undefined && host !== undefined) {
        origin = authority.trim().toLowerCase();
      } else if (addr !== undefined) {
        const a = addr.family === 'ipv6' ? `[${addr.remoteAddress}]` : addr.remoteAddress;
        origin = addr.remotePort === defaultPort ? a : `${a}:${addr.remotePort}`;
      }
      if (origin !== undefined) attrs[ATTR_URL_FULL] = cut(`${scheme}://${origin}${path}${query !== undefined ? '?' + query : ''}`, max);
    }
    if (!client) {
      const forwarded = forwardedClient(headers.forwarded, headers.xForwardedFor);
      if (forwarded !== undefined) {
        attrs[ATTR_CLIENT_ADDRESS] = cut(forwarded, max);
      } else if (addr !== undefined) {
        attrs[ATTR_CLIENT_ADDRESS] = addr.remoteAddress;
        attrs[ATTR_CLIENT_PORT] = addr.remotePort;
      }
    } else if (addr !== undefined) {
      // Not in the HTTP client conventions, but the client's own socket is what tells one
      // connection from another (the traced process is the client).
      attrs[ATTR_CLIENT_ADDRESS] = addr.localAddress;
      attrs[ATTR_CLIENT_PORT] = addr.localPort;
    }
    if (addr !== undefined) {
      attrs[ATTR_NETWORK_PEER_ADDRESS] = addr.remoteAddress;
      attrs[ATTR_NETWORK_PEER_PORT] = addr.remotePort;
      attrs[ATTR_NETWORK_LOCAL_ADDRESS] = addr.localAddress;
      attrs[ATTR_NETWORK_LOCAL_PORT] = addr.localPort;
      attrs[ATTR_NETWORK_TYPE] = addr.family;
    }
    if (exchange.version !== undefined) attrs[ATTR_NETWORK_PROTOCOL_VERSION] = exchange.version;
    if (exchange.library !== undefined) attrs[ATTR_TLSOTEL_TLS_LIBRARY] = exchange.library;
    const ua = headers.userAgent;
    if (ua !== undefined) attrs[ATTR_USER_AGENT_ORIGINAL] = cut(ua, max);
    attrs[ATTR_HTTP_REQUEST_BODY_SIZE] = request.bodySize;
    if (response !== undefined) attrs[ATTR_HTTP_RESPONSE_BODY_SIZE] = response.bodySize;
    this.redactor.requestHeaders(request.headers, attrs, max);
    if (response !== undefined) this.redactor.responseHeaders(response.headers, attrs, max);

    let status = UNSET_STATUS;
    const code = response?.statusCode;
    const error = exchange.error;
    if (response === undefined) {
      if (error !== undefined) {
        attrs[ATTR_ERROR_TYPE] = ERROR_KINDS[error].errorType;
        status = { code: SpanStatusCode.ERROR, message: errorMessage(error, exchange.errorDetail) };
      } else {
        attrs[ATTR_ERROR_TYPE] = 'no_response';
        status = { code: SpanStatusCode.ERROR, message: 'no response' };
      }
    } else if (code !== undefined && (code >= 500 || code < 100 || code > 599 || (client && code >= 400))) {
      attrs[ATTR_ERROR_TYPE] = String(code);
      status = ERROR_STATUS;
    }
    if (response !== undefined && error !== undefined) {
      const info = ERROR_KINDS[error];
      attrs[ATTR_TLSOTEL_EXCHANGE_ERROR] = info.errorType;
      // A response cut short (connection closed, process exited mid-body) failed for the
      // application; what the agent lost or cut (a capture gap, a head over its limit) is only
      // the agent's loss, not the exchange's.
      if (!info.agentLoss && status === UNSET_STATUS) {
        attrs[ATTR_ERROR_TYPE] = info.errorType;
        status = { code: SpanStatusCode.ERROR, message: errorMessage(error, exchange.errorDetail) };
      }
    }

    // Semconv: "{method} {target}", with "HTTP" standing in for an _OTHER method.
    const nameMethod = method === '_OTHER' ? 'HTTP' : method;
    // routeOf takes the whole target (it drops query and authority itself): the very string the
    // RED metrics templated just before, so that the answer is reused.
    let name = target.path !== undefined ? `${nameMethod} ${routeOf(request.url!)}` : nameMethod;

    const rpc = exchange.rpc;
    if (rpc !== undefined) {
      // An RPC (gRPC over HTTP/2): the RPC conventions name it and judge it; the HTTP
      // attributes stay (they say what went over the wire).
      name = rpcMethod(rpc);
      attrs[ATTR_RPC_SYSTEM_NAME] = rpc.system;
      attrs[ATTR_RPC_METHOD] = cut(name, max);
      const grpc = rpc.statusCode;
      if (grpc !== undefined) {
        const statusName = grpcStatusName(grpc);
        attrs[ATTR_RPC_STATUS_CODE] = statusName;
        if (response !== undefined && grpcStatusIsError(grpc, client)) {
          attrs[ATTR_ERROR_TYPE] = statusName;
          status = { code: SpanStatusCode.ERROR, message: rpc.statusMessage !== undefined ? cut(rpc.statusMessage, max) : statusName };
        }
      }
    }

    const parent = options.parent;
    let parentContext: SpanContext | undefined;
    let traceState: TraceState | undefined;
    if (parent !== undefined) {
      traceState = parent.traceState ? new TraceState(parent.traceState) : undefined;
      parentContext = {
        traceId: parent.traceId,
        spanId: parent.spanId,
        traceFlags: parent.traceFlags,
        isRemote: parent.isRemote ?? true,
      };
      if (traceState !== undefined) parentContext.traceState = traceState;
    }
    const context: SpanContext = {
      traceId: parent?.traceId ?? options.traceId ?? newTraceId(),
      spanId: options.spanId ?? newSpanId(),
      traceFlags: TraceFlags.SAMPLED,
    };
    if (traceState !== undefined) context.traceState = traceState;

    return new ExchangeSpan(
      name,
      client ? SpanKind.CLIENT : SpanKind.SERVER,
      context,
      parentContext,
      this.clock.monoToHrTime(startNs),
      this.clock.monoToHrTime(exchange.endNs >= startNs ? exchange.endNs : startNs),
      durationHrTime(startNs, exchange.endNs),
      status,
      attrs,
      this.resourceFor(exchange.process),
      INSTRUMENTATION_SCOPE,
    );
  }
}

