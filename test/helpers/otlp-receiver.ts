// A real OTLP/gRPC receiver for tests: serves
// opentelemetry.proto.collector.trace.v1.TraceService/Export and
// opentelemetry.proto.collector.metrics.v1.MetricsService/Export on localhost with @grpc/grpc-js,
// keeps every request's raw bytes, and decodes them by hand (protobuf wire format, the few
// OTLP messages we need) into flat ReceivedSpan / ReceivedMetricPoint objects. Traces and
// metrics are kept apart: `spans`, `resources`, `requests`, `metadata`, `calls()`, `waitFor()`
// and `rawBytes()` are about traces only; `metrics`, `metricResources`, `metricRequests`,
// `metricCalls()` and `waitForMetrics()` about metrics.
//
// Options: `tls` serves over TLS with the given certificate (url is then https://); `services`
// registers only some of the two services (a traces-only collector answers UNIMPLEMENTED for
// metrics, as grpc-js does for any unregistered method).
//
// Modes (both services): 'ok' answers every export; 'unavailable' answers UNAVAILABLE (a
// collector that is up but refusing); 'hang' never answers (a stuck collector). Stop it and
// start a new one on the same port for "collector down, then back up".
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as net from 'node:net';

export type AttrValue = string | number | boolean | bigint | Buffer | AttrValue[] | { [key: string]: AttrValue } | null;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: 'UNSPECIFIED' | 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttrValue>;
  droppedAttributesCount: number;
  status: { code: 'UNSET' | 'OK' | 'ERROR'; message?: string };
  flags?: number;
  resource: Record<string, AttrValue>;
  scope: { name: string; version?: string };
}

/** One data point of one metric, flattened with its metric's fields, resource and scope. */
export interface ReceivedMetricPoint {
  name: string;
  description: string;
  unit: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';
  /** Sums only. */
  monotonic?: boolean;
  /** Sums and histograms only. */
  temporality?: 'UNSPECIFIED' | 'DELTA' | 'CUMULATIVE';
  /** Gauges and sums: as_int (a number when it fits, else a bigint) or as_double.
   *  Histograms and summaries: their sum (0 when absent). */
  value: number | bigint;
  /** Histograms and summaries: the count. */
  count?: bigint;
  attributes: Record<string, AttrValue>;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  resource: Record<string, AttrValue>;
  scope: { name: string; version?: string };
}

export type ReceiverMode = 'ok' | 'unavailable' | 'hang';

export interface OtlpReceiver {
  port: number;
  /** http://127.0.0.1:PORT (https:// with `tls`) — for OTLPTraceExporter({ url }). */
  url: string;
  spans: ReceivedSpan[];
  /** Resource attributes, one entry per ResourceSpans received. */
  resources: Array<Record<string, AttrValue>>;
  /** Raw bytes of every accepted request, in order. */
  requests: Buffer[];
  /** Metadata (gRPC headers) of every accepted request. */
  metadata: grpc.Metadata[];
  /** Export calls seen in any mode (traces). */
  calls(): number;
  /** Metric data points received, in order. */
  metrics: ReceivedMetricPoint[];
  /** Resource attributes, one entry per ResourceMetrics received. */
  metricResources: Array<Record<string, AttrValue>>;
  /** Raw bytes of every accepted metrics request, in order. */
  metricRequests: Buffer[];
  /** Metrics export calls seen in any mode. */
  metricCalls(): number;
  mode: ReceiverMode;
  /** Answer UNAVAILABLE until resume(). */
  pause(): void;
  resume(): void;
  /** Resolves once pred(spans) is true; rejects after timeoutMs. */
  waitFor(pred: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves once pred(metrics) is true; rejects after timeoutMs. */
  waitForMetrics(pred: (metrics: ReceivedMetricPoint[]) => boolean, timeoutMs?: number): Promise<void>;
  /** The latest total of counter `name` (latestTotal). */
  total(name: string): number;
  /** Resolves once counter `name` has risen to `atLeast` (default timeout 10 s); rejects saying
   *  how far it rose from `from`. */
  waitForTotal(name: string, from: number, atLeast: number, timeoutMs?: number): Promise<void>;
  /** All trace request bytes, concatenated (to check a secret appears nowhere). */
  rawBytes(): Buffer;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire decoding (bounds-checked; throws on malformed input).

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer, private readonly end = buf.length) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  }

  uint(): number {
    return Number(this.varint());
  }

  fixed64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Buffer {
    const len = this.uint();
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  sub(): Reader {
    const len = this.uint();
    this.need(len);
    const r = new Reader(this.buf, this.pos + len);
    r.pos = this.pos;
    this.pos += len;
    return r;
  }

  string(): string {
    return this.bytes().toString('utf8');
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.need(8); this.pos += 8; return;
      case 2: this.bytes(); return;
      case 5: this.need(4); this.pos += 4; return;
      default: throw new Error(`unsupported wire type ${wireType}`);
    }
  }

  /** Iterate fields: calls fn(fieldNumber, wireType) which must consume the value. */
  fields(fn: (field: number, wire: number) => boolean | void): void {
    while (!this.done()) {
      const tag = this.uint();
      const field = tag >>> 3;
      const wire = tag & 7;
      const before = this.pos;
      const handled = fn(field, wire);
      if (handled === false || this.pos === before) this.skip(wire);
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error('truncated message');
  }
}

function decodeAnyValue(r: Reader): AttrValue {
  let value: AttrValue = null;
  r.fields((field) => {
    switch (field) {
      case 1: value = r.string(); break;
      case 2: value = r.varint() !== 0n; break;
      case 3: {
        const v = BigInt.asIntN(64, r.varint());
        value = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
        break;
      }
      case 4: value = r.double(); break;
      case 5: {
        const arr: AttrValue[] = [];
        const list = r.sub();
        list.fields((f) => {
          if (f !== 1) return false;
          arr.push(decodeAnyValue(list.sub()));
          return true;
        });
        value = arr;
        break;
      }
      case 6: {
        const obj: Record<string, AttrValue> = {};
        const list = r.sub();
        list.fields((f) => {
          if (f !== 1) return false;
          const [k, v] = decodeKeyValue(list.sub());
          obj[k] = v;
          return true;
        });
        value = obj;
        break;
      }
      case 7: value = Buffer.from(r.bytes()); break;
      default: return false;
    }
    return true;
  });
  return value;
}

function decodeKeyValue(r: Reader): [string, AttrValue] {
  let key = '';
  let value: AttrValue = null;
  r.fields((field) => {
    if (field === 1) key = r.string();
    else if (field === 2) value = decodeAnyValue(r.sub());
    else return false;
    return true;
  });
  return [key, value];
}

const KINDS: ReceivedSpan['kind'][] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS: ReceivedSpan['status']['code'][] = ['UNSET', 'OK', 'ERROR'];

function decodeSpan(r: Reader, resource: Record<string, AttrValue>, scope: { name: string; version?: string }): ReceivedSpan {
  const span: ReceivedSpan = {
    traceId: '', spanId: '', name: '', kind: 'UNSPECIFIED', startTimeUnixNano: 0n, endTimeUnixNano: 0n,
    attributes: {}, droppedAttributesCount: 0, status: { code: 'UNSET' }, resource, scope,
  };
  r.fields((field) => {
    switch (field) {
      case 1: span.traceId = r.bytes().toString('hex'); break;
      case 2: span.spanId = r.bytes().toString('hex'); break;
      case 3: span.traceState = r.string(); break;
      case 4: {
        const p = r.bytes().toString('hex');
        if (p !== '') span.parentSpanId = p;
        break;
      }
      case 5: span.name = r.string(); break;
      case 6: span.kind = KINDS[r.uint()] ?? 'UNSPECIFIED'; break;
      case 7: span.startTimeUnixNano = r.fixed64(); break;
      case 8: span.endTimeUnixNano = r.fixed64(); break;
      case 9: {
        const [k, v] = decodeKeyValue(r.sub());
        span.attributes[k] = v;
        break;
      }
      case 10: span.droppedAttributesCount = r.uint(); break;
      case 15: {
        const status: ReceivedSpan['status'] = { code: 'UNSET' };
        const s = r.sub();
        s.fields((f) => {
          if (f === 2) status.message = s.string();
          else if (f === 3) status.code = STATUS[s.uint()] ?? 'UNSET';
          else return false;
          return true;
        });
        span.status = status;
        break;
      }
      case 16: span.flags = r.fixed32(); break;
      default: return false;
    }
    return true;
  });
  return span;
}

function decodeScope(r: Reader): { name: string; version?: string } {
  const scope: { name: string; version?: string } = { name: '' };
  r.fields((f) => {
    if (f === 1) scope.name = r.string();
    else if (f === 2) scope.version = r.string();
    else return false;
    return true;
  });
  return scope;
}

type Scope = { name: string; version?: string };

/**
 * The envelope both export requests share: repeated Resource{Spans,Metrics} (field 1), each a
 * resource (1) and repeated Scope{Spans,Metrics} (2), each a scope (1) and repeated items (2).
 * `decodeItem` turns one item into what the caller collects.
 */
function decodeResourceScopes<T>(
  buf: Buffer,
  decodeItem: (item: Reader, resource: Record<string, AttrValue>, scope: Scope) => T[],
): { items: T[]; resources: Array<Record<string, AttrValue>> } {
  const items: T[] = [];
  const resources: Array<Record<string, AttrValue>> = [];
  const top = new Reader(buf);
  top.fields((field) => {
    if (field !== 1) return false;
    const rs = top.sub();
    const resource: Record<string, AttrValue> = {};
    const scopes: Reader[] = [];
    rs.fields((f) => {
      if (f === 1) {
        const res = rs.sub();
        res.fields((rf) => {
          if (rf !== 1) return false;
          const [k, v] = decodeKeyValue(res.sub());
          resource[k] = v;
          return true;
        });
      } else if (f === 2) {
        scopes.push(rs.sub());
      } else {
        return false;
      }
      return true;
    });
    resources.push(resource);
    for (const ss of scopes) {
      let scope: Scope = { name: '' };
      const raw: Reader[] = [];
      ss.fields((f) => {
        if (f === 1) scope = decodeScope(ss.sub());
        else if (f === 2) raw.push(ss.sub());
        else return false;
        return true;
      });
      for (const item of raw) items.push(...decodeItem(item, resource, scope));
    }
    return true;
  });
  return { items, resources };
}

/** Decode an ExportTraceServiceRequest into spans and resources. */
export function decodeExportTraceRequest(buf: Buffer): { spans: ReceivedSpan[]; resources: Array<Record<string, AttrValue>> } {
  const { items, resources } = decodeResourceScopes(buf, (s, resource, scope) => [decodeSpan(s, resource, scope)]);
  return { spans: items, resources };
}

// ---------------------------------------------------------------------------------------------
// Metrics (opentelemetry/proto/metrics/v1/metrics.proto).

const TEMPORALITY: NonNullable<ReceivedMetricPoint['temporality']>[] = ['UNSPECIFIED', 'DELTA', 'CUMULATIVE'];

type MetricHeader = Pick<ReceivedMetricPoint, 'name' | 'description' | 'unit' | 'type' | 'monotonic' | 'temporality' | 'resource' | 'scope'>;

/** Field number of `attributes` in each data point message. */
const POINT_ATTRIBUTES_FIELD: Record<ReceivedMetricPoint['type'], number> = {
  gauge: 7, sum: 7, histogram: 9, exponential_histogram: 1, summary: 7,
};

function decodeDataPoint(r: Reader, header: MetricHeader): ReceivedMetricPoint {
  const point: ReceivedMetricPoint = { ...header, value: 0, attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 0n };
  const attributesField = POINT_ATTRIBUTES_FIELD[header.type];
  const numeric = header.type === 'gauge' || header.type === 'sum';
  r.fields((field, wire) => {
    if (field === attributesField && wire === 2) {
      const [k, v] = decodeKeyValue(r.sub());
      point.attributes[k] = v;
    } else if (field === 2 && wire === 1) {
      point.startTimeUnixNano = r.fixed64();
    } else if (field === 3 && wire === 1) {
      point.timeUnixNano = r.fixed64();
    } else if (numeric && field === 4 && wire === 1) {
      point.value = r.double(); // as_double
    } else if (numeric && field === 6 && wire === 1) {
      const v = BigInt.asIntN(64, r.fixed64()); // as_int (sfixed64)
      point.value = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    } else if (!numeric && field === 4 && wire === 1) {
      point.count = r.fixed64();
    } else if (!numeric && field === 5 && wire === 1) {
      point.value = r.double();
    } else {
      return false;
    }
    return true;
  });
  return point;
}

function decodeMetric(r: Reader, resource: Record<string, AttrValue>, scope: { name: string; version?: string }): ReceivedMetricPoint[] {
  const header: MetricHeader = { name: '', description: '', unit: '', type: 'gauge', resource, scope };
  let data: Reader | undefined;
  const TYPES: Record<number, ReceivedMetricPoint['type']> = { 5: 'gauge', 7: 'sum', 9: 'histogram', 10: 'exponential_histogram', 11: 'summary' };
  r.fields((field) => {
    if (field === 1) header.name = r.string();
    else if (field === 2) header.description = r.string();
    else if (field === 3) header.unit = r.string();
    else if (TYPES[field] !== undefined) {
      header.type = TYPES[field];
      data = r.sub();
    } else return false;
    return true;
  });
  if (data === undefined) return [];
  const d: Reader = data;
  const raw: Reader[] = [];
  d.fields((field) => {
    if (field === 1) raw.push(d.sub());
    else if (field === 2 && header.type !== 'gauge' && header.type !== 'summary') header.temporality = TEMPORALITY[d.uint()] ?? 'UNSPECIFIED';
    else if (field === 3 && header.type === 'sum') header.monotonic = d.varint() !== 0n;
    else return false;
    return true;
  });
  if (header.type === 'sum') header.monotonic ??= false;
  return raw.map((p) => decodeDataPoint(p, header));
}

/** Decode an ExportMetricsServiceRequest into data points and resources. */
function decodeExportMetricsRequest(buf: Buffer): { metrics: ReceivedMetricPoint[]; resources: Array<Record<string, AttrValue>> } {
  const { items, resources } = decodeResourceScopes(buf, decodeMetric);
  return { metrics: items, resources };
}

// ---------------------------------------------------------------------------------------------
// The gRPC server.

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const METRICS_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

const identity = (b: Buffer): Buffer => b;
function exportService(path: string): grpc.ServiceDefinition {
  return {
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
}
const traceService = exportService(EXPORT_PATH);
const metricsService = exportService(METRICS_EXPORT_PATH);

/** The latest total of one of the agent's own counters (summed over its attributes), 0 before
 *  its first export. */
export function latestTotal(metrics: readonly ReceivedMetricPoint[], name: string): number {
  const points = metrics.filter((p) => p.name === name);
  if (points.length === 0) return 0;
  const last = points[points.length - 1].timeUnixNano;
  return points.filter((p) => p.timeUnixNano === last).reduce((a, p) => a + Number(p.value), 0);
}

/** A port that was free a moment ago (bind to 0, read, close). */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface ReceiverOptions {
  port?: number;
  mode?: ReceiverMode;
  /** Serve TLS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /** Services to register; default both. */
  services?: Array<'traces' | 'metrics'>;
}

export async function startOtlpReceiver(options: ReceiverOptions = {}): Promise<OtlpReceiver> {
  const server = new grpc.Server();
  const hanging: Array<grpc.sendUnaryData<Buffer>> = [];
  let calls = 0;
  let metricCalls = 0;
  const waiters = new Set<() => void>();
  const waitUntil = (met: () => boolean, timeoutMs: number, describe: () => string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (met()) return resolve();
      const check = (): void => {
        if (met()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms (${describe()})`));
      }, timeoutMs);
      waiters.add(check);
    });

  const receiver: OtlpReceiver = {
    port: 0,
    url: '',
    spans: [],
    resources: [],
    requests: [],
    metadata: [],
    calls: () => calls,
    metrics: [],
    metricResources: [],
    metricRequests: [],
    metricCalls: () => metricCalls,
    mode: options.mode ?? 'ok',
    pause() {
      receiver.mode = 'unavailable';
    },
    resume() {
      receiver.mode = 'ok';
    },
    waitFor(pred, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        if (pred(receiver.spans)) return resolve();
        const check = (): void => {
          if (pred(receiver.spans)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms (${receiver.spans.length} spans received)`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    waitForMetrics(pred, timeoutMs = 5000) {
      return waitUntil(() => pred(receiver.metrics), timeoutMs, () => `${receiver.metrics.length} metric points received`);
    },
    total(name) {
      return latestTotal(receiver.metrics, name);
    },
    waitForTotal(name, from, atLeast, timeoutMs = 10_000) {
      return waitUntil(() => receiver.total(name) >= atLeast, timeoutMs, () => `${name} rose by ${receiver.total(name) - from}, want at least ${atLeast - from}`);
    },
    rawBytes() {
      return Buffer.concat(receiver.requests);
    },
    stop() {
      return new Promise<void>((resolve) => {
        for (const cb of hanging.splice(0)) cb({ code: grpc.status.UNAVAILABLE, details: 'receiver stopped' });
        server.forceShutdown();
        resolve();
      });
    },
  };

  /** One Export handler per service: pause, hang, or decode (INVALID_ARGUMENT when it cannot)
   *  and keep. Both responses are empty messages (no partial_success): zero bytes. */
  const exportHandler = <T>(count: () => void, decode: (req: Buffer) => T, keep: (call: grpc.ServerUnaryCall<Buffer, Buffer>, decoded: T) => void) => ({
    Export(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      count();
      if (receiver.mode === 'unavailable') {
        callback({ code: grpc.status.UNAVAILABLE, details: 'receiver paused' });
        return;
      }
      if (receiver.mode === 'hang') {
        hanging.push(callback);
        return;
      }
      let decoded: T;
      try {
        decoded = decode(call.request);
      } catch (err) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: `undecodable request: ${(err as Error).message}` });
        return;
      }
      keep(call, decoded);
      callback(null, Buffer.alloc(0));
      for (const w of [...waiters]) w();
    },
  });

  const services = options.services ?? ['traces', 'metrics'];
  if (services.includes('traces')) server.addService(traceService, exportHandler(() => calls++, decodeExportTraceRequest, (call, decoded) => {
    receiver.requests.push(Buffer.from(call.request));
    receiver.metadata.push(call.metadata);
    receiver.spans.push(...decoded.spans);
    receiver.resources.push(...decoded.resources);
  }));

  if (services.includes('metrics')) server.addService(metricsService, exportHandler(() => metricCalls++, decodeExportMetricsRequest, (call, decoded) => {
    receiver.metricRequests.push(Buffer.from(call.request));
    receiver.metrics.push(...decoded.metrics);
    receiver.metricResources.push(...decoded.resources);
  }));

  receiver.port = await new Promise<number>((resolve, reject) => {
    const credentials = options.tls
      ? grpc.ServerCredentials.createSsl(null, [{ private_key: fs.readFileSync(options.tls.key), cert_chain: fs.readFileSync(options.tls.cert) }])
      : grpc.ServerCredentials.createInsecure();
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, credentials, (err, port) => {
      if (err) reject(err);
      else resolve(port);
    });
  });
  receiver.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${receiver.port}`;
  return receiver;
}
