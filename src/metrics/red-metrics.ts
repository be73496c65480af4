// RED metrics (rate, errors, duration) from every exchange, before any sampling: the HTTP and
// RPC duration histograms of the semantic conventions (@opentelemetry/semantic-conventions
// 1.45), and the HTTP body size histograms, per traced process (its Resource, as for spans).
//
//   HTTP:  http.server.request.duration, http.client.request.duration (s)
//          http.{server,client}.request.body.size, http.{server,client}.response.body.size (By)
//   gRPC:  rpc.server.call.duration, rpc.client.call.duration (s)
//
// Attributes: http.request.method, http.route (routeOf: a template, never the path),
// http.response.status_code, error.type, server.address, server.port, url.scheme,
// network.protocol.version; for RPCs rpc.system.name, rpc.method, rpc.status_code, error.type,
// server.address, server.port. Never a path, a query, a peer port or an id.
//
// Cardinality is bounded twice: at most maxRoutesPerService distinct routes per service.name,
// and at most maxSeriesPerMetric series per metric (over every process). An exchange past either
// bound is recorded in its process's overflow series, whose only attribute is
// otel.metric.overflow=true (the conventions' overflow attribute), and the fold is counted.
// A process that exited is forgotten `processTtlMs` after it was seen gone.
//
// Recording finds the series by its route's number in the process (one string lookup), then by
// small integers made of the other parts (the route's last series, else SeriesIndex), and
// writes its numbers in SeriesSlab; the attribute set of a series is built once, when the series
// is created. Why this shape: bench/PIPELINE.md, "RED metrics".
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ERROR_KINDS, type ErrorKind } from '../exchange/error-kind';
import type { Exchange, ProcessInfo, RpcInfo } from '../exchange/types';
import { resourceFor as defaultResourceFor } from '../trace/resource';
import { routeOf } from '../trace/route';
import { grpcStatusIsError, grpcStatusName, rpcMethod } from '../trace/rpc';
import { normalizeMethod, parseHostHeader } from '../trace/span-builder';
import { VERSION } from '../trace/version';
import { cellSize, clearCell, DURATION_BOUNDARIES, HistogramCell, recordIn, SIZE_BOUNDARIES } from './histogram';
import { SeriesIndex } from './series-index';
import { SeriesSlab } from './series-slab';

export const RED_METRICS_DEFAULTS = {
  /** Distinct http.route values per service.name. */
  maxRoutesPerService: 100,
  /** Series per metric, over every process. */
  maxSeriesPerMetric: 2000,
  /** How long the series of an exited process stay (their last values are exported). */
  processTtlMs: 5 * 60_000,
} as const;

export const OVERFLOW_ATTRIBUTE = 'otel.metric.overflow';

export const METRIC_NAMES = {
  httpServerDuration: 'http.server.request.duration',
  httpClientDuration: 'http.client.request.duration',
  httpServerRequestSize: 'http.server.request.body.size',
  httpServerResponseSize: 'http.server.response.body.size',
  httpClientRequestSize: 'http.client.request.body.size',
  httpClientResponseSize: 'http.client.response.body.size',
  rpcServerDuration: 'rpc.server.call.duration',
  rpcClientDuration: 'rpc.client.call.duration',
} as const;

/** The families of metrics sharing one attribute set per series (hence one series count). */
export const enum Family {
  HttpServer,
  HttpClient,
  RpcServer,
  RpcClient,
}
const FAMILIES = 4;

export type FoldReason = 'route' | 'series';

export interface RedMetricsOptions {
  maxRoutesPerService?: number;
  maxSeriesPerMetric?: number;
  processTtlMs?: number;
  /** Resource per process; default the cached resourceFor() of src/trace/resource.ts. */
  resourceFor?: (info: ProcessInfo) => Resource;
  /** Wall clock in ms (tests). */
  now?: () => number;
}

export interface RedMetricsStats {
  /** Exchanges recorded (folded ones included). */
  recorded: number;
  /** Series now, per metric family (the overflow series included). */
  series: number;
  /** Exchanges recorded in an overflow series, by why. */
  folded: Record<FoldReason, number>;
  /** Processes whose series are kept now. */
  processes: number;
}

/** Where a series' numbers are in its store (see histogram.ts), RPC series using the first
 *  histogram only. */
const DURATION_AT = 0;
const REQUEST_SIZE_AT = cellSize(DURATION_BOUNDARIES);
const RESPONSE_SIZE_AT = REQUEST_SIZE_AT + cellSize(SIZE_BOUNDARIES);
const ERRORS_AT = RESPONSE_SIZE_AT + cellSize(SIZE_BOUNDARIES);
const SLOT_SIZE = ERRORS_AT + 1;

/** Empties a series' numbers. */
function clearSlot(store: Float64Array, base: number): void {
  clearCell(store, base + DURATION_AT, DURATION_BOUNDARIES);
  clearCell(store, base + REQUEST_SIZE_AT, SIZE_BOUNDARIES);
  clearCell(store, base + RESPONSE_SIZE_AT, SIZE_BOUNDARIES);
  store[base + ERRORS_AT] = 0;
}

/** One exchange in the series whose numbers are at `base` of `store` (body sizes: HTTP series
 *  only; a response size only with a response). */
function recordExchange(store: Float64Array, base: number, http: boolean, duration: number, requestSize: number, responseSize: number | undefined, error: boolean): void {
  recordIn(store, base + DURATION_AT, DURATION_BOUNDARIES, duration);
  if (http) {
    recordIn(store, base + REQUEST_SIZE_AT, SIZE_BOUNDARIES, requestSize);
    if (responseSize !== undefined) recordIn(store, base + RESPONSE_SIZE_AT, SIZE_BOUNDARIES, responseSize);
  }
  if (error) store[base + ERRORS_AT]++;
}

function isHttp(family: Family): boolean {
  return family === Family.HttpServer || family === Family.HttpClient;
}

/** One series: its attribute set (built once) and its histograms, which share one store: a
 *  slot of RedMetrics' slab, or an array of its own (overflow and merged series). */
export class Series {
  readonly store: Float64Array;
  readonly base: number;
  /** The slab slot (-1: its own store). */
  slot = -1;
  /** What the per-route table printed last (console mode). */
  shownCount = 0;
  shownSum = 0;
  shownErrors = 0;

  constructor(
    readonly family: Family,
    readonly key: string,
    readonly attributes: Attributes,
    readonly startTime: HrTime,
    /** For the table: "GET /users/{id}", "pkg.Svc/Method". */
    readonly label: string,
    readonly status: string,
    readonly isError: boolean,
    store?: Float64Array,
    base = 0,
  ) {
    if (store === undefined) {
      store = new Float64Array(SLOT_SIZE);
      clearSlot(store, 0);
      base = 0;
    }
    this.store = store;
    this.base = base;
  }

  // Views made when asked (collection, the table): recording does not go through them, and a
  // series made costs three objects fewer.
  get duration(): HistogramCell {
    return new HistogramCell(DURATION_BOUNDARIES, this.store, this.base + DURATION_AT);
  }

  /** HTTP only. */
  get requestSize(): HistogramCell | undefined {
    return isHttp(this.family) ? new HistogramCell(SIZE_BOUNDARIES, this.store, this.base + REQUEST_SIZE_AT) : undefined;
  }

  /** HTTP only. */
  get responseSize(): HistogramCell | undefined {
    return isHttp(this.family) ? new HistogramCell(SIZE_BOUNDARIES, this.store, this.base + RESPONSE_SIZE_AT) : undefined;
  }

  /** Exchanges recorded with an error.type. */
  get errors(): number {
    return this.store[this.base + ERRORS_AT];
  }

  /** One exchange (see recordExchange). */
  record(duration: number, requestSize: number, responseSize: number | undefined, error: boolean): void {
    recordExchange(this.store, this.base, isHttp(this.family), duration, requestSize, responseSize, error);
  }
}

/** Everything kept for one traced process. */
export class ProcessSeries {
  /** Route (or RPC method, '' for none) → a number of this process, given when the route's
   *  first series is made: with the process's id and the variant, the key of RedMetrics'
   *  series index. */
  readonly routeIds = new Map<string, number>();
  /** The routes by their number. */
  readonly routeNames: string[] = [];
  /** By route number: the key (variant·server) and slot of the route's series used last. */
  readonly lastKey: number[] = [];
  readonly lastSlot: number[] = [];
  /** The process's series but the overflow ones. */
  readonly list: Series[] = [];
  /** Overflow series per family, created on the first fold. */
  readonly overflow: Array<Series | undefined> = new Array<Series | undefined>(FAMILIES).fill(undefined);
  /** Wall-clock ms when the process was seen exited; undefined while it runs. */
  exitedAt: number | undefined;
  /** Swept: an exchange still carrying its ProcessInfo starts a new entry. */
  forgotten = false;

  constructor(readonly key: string, readonly info: ProcessInfo, readonly resource: Resource, readonly id: number) {}
}

export const METRICS_SCOPE: InstrumentationScope = { name: 'tlsotel', version: VERSION };

const DURATION_DESC: Record<Family, [string, string]> = {
  [Family.HttpServer]: [METRIC_NAMES.httpServerDuration, 'Duration of HTTP server requests.'],
  [Family.HttpClient]: [METRIC_NAMES.httpClientDuration, 'Duration of HTTP client requests.'],
  [Family.RpcServer]: [METRIC_NAMES.rpcServerDuration, 'Measures the duration of inbound remote procedure calls.'],
  [Family.RpcClient]: [METRIC_NAMES.rpcClientDuration, 'Measures the duration of outbound remote procedure calls.'],
};

/** Seconds from the first byte of the request to the last of the response. Monotonic ns fit a
 *  double exactly for 104 days of uptime, and to a few ns after: no BigInt per exchange. */
function durationOf(ex: Exchange): number {
  const d = Number(ex.endNs) - Number(ex.startNs);
  return d > 0 ? d / 1e9 : 0;
}

/**
 * The key text of an RPC's method: "/package.Service/Method", which is the request's :path as it
 * came (no string built per call) when the path is exactly that, else built. One text per
 * method either way, so that its series are found again.
 */
function rpcKey(path: string | undefined, rpc: RpcInfo): string {
  const s = rpc.service;
  const m = rpc.method;
  if (path !== undefined && path.length === s.length + m.length + 2 && path.charCodeAt(0) === 47 && path.charCodeAt(s.length + 1) === 47 && path.startsWith(s, 1) && path.endsWith(m)) return path;
  return `/${s}/${m}`;
}

/**
 * A flat string of its own with the same text. Route and authority strings are slices of a
 * message head: kept as they are, a slice keeps the whole head alive, and comparing it with the
 * next exchange's string reads that head again (another cache line, likely cold).
 */
function ownCopy(text: string): string {
  // JSON round-trips every string exactly (lone surrogates are escaped, then restored).
  return JSON.parse(JSON.stringify(text)) as string;
}

function hrTimeOfMs(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** The value of the `host`/`Host` request header, else undefined (one pass, no allocation). */
function hostHeader(headers: string[]): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const n = headers[i];
    if (n.length === 4 && (n === 'host' || n === 'Host' || n.toLowerCase() === 'host')) return headers[i + 1];
  }
  return undefined;
}

/** What error.type an exchange has, as a small number (no string per exchange): 0 none,
 *  1 its HTTP status code, 2 no response, 3 its gRPC status name, 8 + k the ErrorKind k. */
export function errorCodeOf(ex: Exchange): number {
  const response = ex.response;
  const client = ex.side === 'client';
  if (response === undefined) return ex.error !== undefined ? 8 + ex.error : 2;
  const rpc = ex.rpc;
  if (rpc !== undefined && rpc.statusCode !== undefined) return grpcStatusIsError(rpc.statusCode, client) ? 3 : 0;
  const code = response.statusCode;
  if (code !== undefined && (code >= 500 || code < 100 || code > 599 || (client && code >= 400))) return 1;
  if (ex.error !== undefined && !ERROR_KINDS[ex.error].agentLoss) return 8 + ex.error;
  return 0;
}

/** error.type of an exchange for its side, as its span has it (src/trace/span-builder.ts). */
export function errorTypeOf(ex: Exchange): string | undefined {
  const e = errorCodeOf(ex);
  switch (e) {
    case 0: return undefined;
    case 1: return String(ex.response!.statusCode);
    case 2: return 'no_response';
    case 3: return grpcStatusName(ex.rpc!.statusCode!);
    default: return ERROR_KINDS[(e - 8) as ErrorKind].errorType;
  }
}

/** Small numbers for the low-cardinality parts of a series key. */
const METHOD_IDS = new Map(['_OTHER', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY'].map((m, i) => [m, i]));
const VERSION_IDS = new Map([['1.1', 1], ['1.0', 2], ['2', 3], ['3', 4], ['0.9', 5]]);
/** Distinct server.address/port pairs remembered (they are part of series keys); beyond, an
 *  exchange folds into the overflow series. */
const MAX_SERVERS = 4095;
/** Server ids are below this (MAX_SERVERS + 1; 0 is NO_SERVER's). */
const SERVER_ID_SPAN = 4096;
/** Distinct variants (side, method, status, error, version, scheme) remembered over the agent's
 *  life: variant ids · SERVER_ID_SPAN stay below 2^30 (a Smi); beyond, exchanges fold. */
const MAX_VARIANTS = 1 << 18;

interface ServerId {
  id: number;
  address: string;
  /** -1: unknown (no server.address/port attributes). */
  port: number;
}

const NO_SERVER: ServerId = Object.freeze({ id: 0, address: '', port: -1 });

export class RedMetrics {
  private readonly maxRoutes: number;
  private readonly maxSeries: number;
  private readonly ttlMs: number;
  private readonly resourceFor: (info: ProcessInfo) => Resource;
  private readonly now: () => number;
  /** By ProcessInfo object (the process reader hands out one per process, a new one when it
   *  re-reads /proc: weak, so the old ones go) and by pid/start. */
  private readonly byInfo = new WeakMap<ProcessInfo, ProcessSeries>();
  private readonly byKey = new Map<string, ProcessSeries>();
  /** Routes seen per service.name, and how many live processes use the entry. */
  private readonly routes = new Map<string, { routes: Set<string>; users: number }>();
  private readonly seriesCount = new Int32Array(FAMILIES);
  /** server.address/port by the authority (or socket) they come from. */
  private readonly servers = new Map<string, ServerId>();
  /** Small numbers for the variants seen (see record), so that a series key is a Smi. */
  private readonly variantIds = new Map<number, number>();
  /** Series by (process id, route id, variant id · SERVER_ID_SPAN + server id) → slab slot. */
  private readonly index = new SeriesIndex();
  /** The numbers of every series but the overflow ones. */
  private readonly slab = new SeriesSlab(SLOT_SIZE, clearSlot);
  /** Process ids (small numbers, part of index keys) of forgotten processes, to reuse. */
  private readonly freeProcessIds: number[] = [];
  private nextProcessId = 0;
  private recorded = 0;
  private readonly folded: Record<FoldReason, number> = { route: 0, series: 0 };

  constructor(opts: RedMetricsOptions = {}) {
    this.maxRoutes = opts.maxRoutesPerService ?? RED_METRICS_DEFAULTS.maxRoutesPerService;
    this.maxSeries = opts.maxSeriesPerMetric ?? RED_METRICS_DEFAULTS.maxSeriesPerMetric;
    this.ttlMs = opts.processTtlMs ?? RED_METRICS_DEFAULTS.processTtlMs;
    this.resourceFor = opts.resourceFor ?? defaultResourceFor;
    this.now = opts.now ?? Date.now;
    if (!(this.maxRoutes >= 1) || !(this.maxSeries >= 1)) throw new RangeError('metric cardinality limits must be at least 1');
  }

  /**
   * One exchange: its duration (and HTTP body sizes) in its series. The series is found by its
   * route (or RPC :path) and then by one number made of the other parts (side, method, status,
   * error, server, protocol version, scheme): no key string is built per exchange.
   */
  record(ex: Exchange): void {
    this.recorded++;
    const proc = this.processOf(ex.process);
    const client = ex.side === 'client';
    const rpc = ex.rpc;
    const family = rpc !== undefined ? (client ? Family.RpcClient : Family.RpcServer) : client ? Family.HttpClient : Family.HttpServer;
    const request = ex.request;
    const response = ex.response;
    const server = this.serverOf(ex, client);
    if (server === undefined) {
      this.fold(proc, family, 'series').duration.record(durationOf(ex));
      return;
    }
    let route: string;
    let methodId: number;
    let status: number;
    if (rpc !== undefined) {
      route = rpcKey(request.url, rpc);
      methodId = 0;
      status = rpc.statusCode !== undefined ? rpc.statusCode : 1000;
    } else {
      const method = request.method ?? '';
      methodId = METHOD_IDS.get(method) ?? 0;
      route = request.url !== undefined && methodId !== 6 ? routeOf(request.url) : '';
      const code = response?.statusCode;
      status = code !== undefined && code >= 0 && code < 1000 ? code : 1000;
    }
    const errorCode = errorCodeOf(ex);
    const versionId = ex.version === undefined ? 0 : VERSION_IDS.get(ex.version) ?? 6;
    const schemeId = ex.scheme === undefined || ex.scheme === 'https' ? 0 : ex.scheme === 'http' ? 1 : 2;
    // A small integer (< 2^27, a Smi: no allocation, a cheap hash): 4·16·1001·64·8·3 ≈ 9.8e7.
    const variant = (((((family * 16 + methodId) * 1001 + status) * 64 + errorCode) * 8 + versionId) * 3) + schemeId;
    // With the server, a Smi too: the variant interned first.
    let variantId = this.variantIds.get(variant);
    if (variantId === undefined && this.variantIds.size < MAX_VARIANTS) {
      variantId = this.variantIds.size;
      this.variantIds.set(variant, variantId);
    }
    const http = family === Family.HttpServer || family === Family.HttpClient;
    const duration = durationOf(ex);
    const responseSize = response?.bodySize;
    if (variantId !== undefined) {
      const key = variantId * SERVER_ID_SPAN + server.id;
      const routeId = proc.routeIds.get(route);
      let slot = -1;
      if (routeId !== undefined) {
        // The route's last series first (a small array of the process, likely in cache), then
        // the index.
        if (proc.lastKey[routeId] === key) slot = proc.lastSlot[routeId];
        else if ((slot = this.index.get(proc.id, routeId, key)) >= 0) {
          proc.lastKey[routeId] = key;
          proc.lastSlot[routeId] = slot;
        }
      }
      if (slot >= 0) {
        const slab = this.slab;
        recordExchange(slab.chunkOf(slot), slab.baseOf(slot), http, duration, request.bodySize, responseSize, errorCode !== 0);
        return;
      }
      this.newSeries(proc, family, route, routeId, variant, key, ex, server, status).record(duration, request.bodySize, responseSize, errorCode !== 0);
    } else {
      this.fold(proc, family, 'series').record(duration, request.bodySize, responseSize, errorCode !== 0);
    }
  }

  /** server.address/port: the authority the request named (as the span has it), else the
   *  socket's server end; undefined when too many distinct ones were seen. */
  private serverOf(ex: Exchange, client: boolean): ServerId | undefined {
    const authority = ex.authority ?? hostHeader(ex.request.headers);
    if (authority !== undefined) {
      const scheme = ex.scheme ?? 'https';
      // Without a port, the port depends on the scheme: keyed with it unless https.
      const key = scheme === 'https' ? authority : `${scheme}|${authority}`;
      const known = this.servers.get(key);
      if (known !== undefined) return known;
      const host = parseHostHeader(authority);
      if (host !== undefined) return this.newServer(key, host.address, host.port ?? (scheme === 'http' ? 80 : 443));
    }
    const a = ex.addresses;
    if (a === undefined) return NO_SERVER;
    const address = client ? a.remoteAddress : a.localAddress;
    const port = client ? a.remotePort : a.localPort;
    const key = `>${address}:${port}`;
    return this.servers.get(key) ?? this.newServer(key, address, port);
  }

  private newServer(key: string, address: string, port: number): ServerId | undefined {
    if (this.servers.size >= MAX_SERVERS) return undefined;
    const id: ServerId = { id: this.servers.size + 1, address: ownCopy(address), port };
    this.servers.set(ownCopy(key), id);
    return id;
  }

  /** The overflow series of a process, created on first use; the fold counted. */
  private fold(proc: ProcessSeries, family: Family, reason: FoldReason): Series {
    this.folded[reason]++;
    let over = proc.overflow[family];
    if (over === undefined) {
      over = new Series(family, '', Object.freeze({ [OVERFLOW_ATTRIBUTE]: true }), hrTimeOfMs(this.now()), '(overflow)', '', false);
      proc.overflow[family] = over;
    }
    return over;
  }

  /** A new series in a slot of the slab, found by (process, route, key) from now on; or the
   *  overflow series (slot -1, key '') when a bound is reached. */
  private newSeries(proc: ProcessSeries, family: Family, freshRoute: string, routeId: number | undefined, variant: number, key: number, ex: Exchange, server: ServerId, status: number): Series {
    const isRpc = ex.rpc !== undefined;
    const hasRoute = !isRpc && freshRoute !== '';
    let routeSet: Set<string> | undefined;
    if (hasRoute) {
      routeSet = this.routes.get(proc.info.serviceName)!.routes;
      if (!routeSet.has(freshRoute) && routeSet.size >= this.maxRoutes) return this.fold(proc, family, 'route');
    }
    if (this.seriesCount[family] >= this.maxSeries) return this.fold(proc, family, 'series');
    // Kept (as a key and in attributes): a copy of its own, made once per route and process.
    const kept = routeId === undefined ? ownCopy(freshRoute) : proc.routeNames[routeId];
    // An RPC's key is its :path; the attribute, "package.Service/Method".
    const route = isRpc ? ownCopy(rpcMethod(ex.rpc!)) : kept;
    routeSet?.add(route);
    const attrs: Attributes = {};
    let label: string;
    let statusText = '';
    if (isRpc) {
      attrs['rpc.system.name'] = 'grpc';
      attrs['rpc.method'] = route;
      if (status !== 1000) attrs['rpc.status_code'] = statusText = grpcStatusName(status);
      label = route;
    } else {
      const method = normalizeMethod(ex.request.method ?? '').method;
      attrs['http.request.method'] = method;
      if (hasRoute) attrs['http.route'] = route;
      if (status !== 1000) {
        attrs['http.response.status_code'] = status;
        statusText = String(status);
      }
      attrs['url.scheme'] = ex.scheme ?? 'https';
      label = hasRoute ? `${method} ${route}` : method;
    }
    const errorType = errorTypeOf(ex);
    if (errorType !== undefined) attrs['error.type'] = errorType;
    if (server.port !== -1) {
      attrs['server.address'] = server.address;
      attrs['server.port'] = server.port;
    }
    if (ex.version !== undefined) attrs['network.protocol.version'] = ex.version;
    const slot = this.slab.allocate();
    const series = new Series(family, `${route}#${variant}#${server.id}`, Object.freeze(attrs), hrTimeOfMs(this.now()), label, statusText, errorType !== undefined, this.slab.chunkOf(slot), this.slab.baseOf(slot));
    series.slot = slot;
    let id = routeId;
    if (id === undefined) {
      proc.routeIds.set(kept, (id = proc.routeNames.length));
      proc.routeNames.push(kept);
      proc.lastKey.push(-1);
      proc.lastSlot.push(-1);
    }
    proc.lastKey[id] = key;
    proc.lastSlot[id] = slot;
    this.index.set(proc.id, id, key, slot);
    proc.list.push(series);
    this.seriesCount[family]++;
    return series;
  }

  private processOf(info: ProcessInfo): ProcessSeries {
    const known = this.byInfo.get(info);
    if (known !== undefined && !known.forgotten) return known;
    const key = `${info.pid}/${info.startTime ?? ''}`;
    let proc = this.byKey.get(key);
    if (proc === undefined) {
      const id = this.freeProcessIds.length > 0 ? this.freeProcessIds.pop()! : this.nextProcessId++;
      proc = new ProcessSeries(key, info, this.resourceFor(info), id);
      this.byKey.set(key, proc);
      const svc = this.routes.get(info.serviceName);
      if (svc !== undefined) svc.users++;
      else this.routes.set(info.serviceName, { routes: new Set(), users: 1 });
    } else if (proc.exitedAt !== undefined) {
      proc.exitedAt = undefined; // a pid seen again within the same start time: still running
    }
    this.byInfo.set(info, proc);
    return proc;
  }

  /** These processes exited: their series go `processTtlMs` from now. */
  processesExited(pids: readonly number[]): void {
    const now = this.now();
    const gone = new Set(pids);
    for (const proc of this.byKey.values()) {
      if (proc.exitedAt === undefined && gone.has(proc.info.pid)) proc.exitedAt = now;
    }
  }

  /** Forgets the processes that exited more than processTtlMs ago. */
  sweep(): void {
    const now = this.now();
    let gone: Set<number> | undefined;
    for (const [key, proc] of this.byKey) {
      if (proc.exitedAt === undefined || now - proc.exitedAt < this.ttlMs) continue;
      this.byKey.delete(key);
      this.byInfo.delete(proc.info);
      proc.forgotten = true;
      for (const s of proc.list) {
        this.seriesCount[s.family]--;
        this.slab.release(s.slot);
      }
      const svc = this.routes.get(proc.info.serviceName);
      if (svc !== undefined && --svc.users === 0) this.routes.delete(proc.info.serviceName);
      (gone ??= new Set()).add(proc.id);
    }
    if (gone === undefined) return;
    const ids = gone;
    this.index.removeIf((processId) => ids.has(processId));
    for (const id of ids) this.freeProcessIds.push(id);
  }

  /** What the series lookup keeps (tests: bounded memory). */
  indexStats(): { entries: number; buckets: number; slots: number; slotsAllocated: number; processIds: number } {
    return { entries: this.index.size, buckets: this.index.capacity, slots: this.slab.live, slotsAllocated: this.slab.allocated, processIds: this.nextProcessId - this.freeProcessIds.length };
  }

  /** Every process kept now (after a sweep). */
  processes(): ProcessSeries[] {
    this.sweep();
    return [...this.byKey.values()];
  }

  /** One ResourceMetrics per process: cumulative histograms, in the SDK's export shape. */
  collect(): ResourceMetrics[] {
    const end = hrTimeOfMs(this.now());
    return this.processes().map((proc) => ({
      resource: proc.resource,
      scopeMetrics: [{ scope: METRICS_SCOPE, metrics: metricData(allSeries(proc), end) }],
    }));
  }

  stats(): RedMetricsStats {
    let series = 0;
    for (let f = 0; f < FAMILIES; f++) series += this.seriesCount[f];
    for (const proc of this.byKey.values()) for (const o of proc.overflow) if (o !== undefined) series++;
    return { recorded: this.recorded, series, folded: { ...this.folded }, processes: this.byKey.size };
  }
}

/** A process's series, the overflow ones included. */
export function allSeries(proc: ProcessSeries): Series[] {
  const out: Series[] = proc.list.slice();
  for (const o of proc.overflow) if (o !== undefined) out.push(o);
  return out;
}

type Cell = 'duration' | 'requestSize' | 'responseSize';

/** The series as MetricData, one entry per metric that has data points. `extra` adds attributes
 *  to every point (the Prometheus view has no per-process resource). */
export function metricData(series: readonly Series[], end: HrTime, extra?: (s: Series) => Attributes): MetricData[] {
  const out: MetricData[] = [];
  const add = (family: Family, cell: Cell, name: string, description: string, unit: string): void => {
    const points = [];
    for (const s of series) {
      const h = s.family === family ? s[cell] : undefined;
      if (h === undefined || h.count === 0) continue;
      points.push({ attributes: extra ? { ...s.attributes, ...extra(s) } : s.attributes, startTime: s.startTime, endTime: end, value: h.value() });
    }
    if (points.length === 0) return;
    out.push({
      descriptor: { name, description, unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: points,
    });
  };
  for (const f of [Family.HttpServer, Family.HttpClient, Family.RpcServer, Family.RpcClient]) {
    const [name, description] = DURATION_DESC[f];
    add(f, 'duration', name, description, 's');
  }
  add(Family.HttpServer, 'requestSize', METRIC_NAMES.httpServerRequestSize, 'Size of HTTP server request bodies.', 'By');
  add(Family.HttpServer, 'responseSize', METRIC_NAMES.httpServerResponseSize, 'Size of HTTP server response bodies.', 'By');
  add(Family.HttpClient, 'requestSize', METRIC_NAMES.httpClientRequestSize, 'Size of HTTP client request bodies.', 'By');
  add(Family.HttpClient, 'responseSize', METRIC_NAMES.httpClientResponseSize, 'Size of HTTP client response bodies.', 'By');
  return out;
}
