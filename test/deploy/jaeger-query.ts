// Reads traces back from a running Jaeger through its HTTP query APIs, as a user (or the UI)
// would: api/v3 (OTLP's JSON form: kinds, statuses, parent ids and typed attributes as stored)
// and /api/traces (the UI's own JSON form). Jaeger ingests asynchronously, so callers poll.
import { sleep } from '../helpers/procs';

export type Attr = string | number | boolean | null;

export interface StoredSpan {
  traceId: string;
  spanId: string;
  /** undefined for a root span. */
  parentSpanId?: string;
  name: string;
  kind: 'UNSPECIFIED' | 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
  status: { code: 'UNSET' | 'OK' | 'ERROR'; message?: string };
  attributes: Record<string, Attr>;
  resource: Record<string, Attr>;
}

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
const CODES = ['UNSET', 'OK', 'ERROR'] as const;

/** OTLP JSON AnyValue → a plain value (int64 arrives as a string in JSON: back to a number). */
function anyValue(v: Record<string, unknown> | undefined): Attr {
  if (!v) return null;
  if ('stringValue' in v) return String(v.stringValue);
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  return JSON.stringify(v);
}

function attrs(list: unknown): Record<string, Attr> {
  const out: Record<string, Attr> = {};
  for (const a of (list ?? []) as Array<{ key: string; value?: Record<string, unknown> }>) out[a.key] = anyValue(a.value);
  return out;
}

/** An enum in OTLP JSON is its number or its name (with the proto prefix). */
function enumName<T extends string>(names: readonly T[], v: unknown, prefix: string): T {
  if (typeof v === 'number') return names[v] ?? names[0];
  const s = String(v ?? '').replace(prefix, '');
  return (names as readonly string[]).includes(s) ? (s as T) : names[0];
}

/** Flattens api/v3's { result: { resourceSpans } } into one object per span. */
export function flattenOtlpJson(body: unknown): StoredSpan[] {
  const out: StoredSpan[] = [];
  const result = (body as { result?: { resourceSpans?: unknown[] } }).result;
  for (const rs of (result?.resourceSpans ?? []) as Array<{ resource?: { attributes?: unknown }; scopeSpans?: Array<{ spans?: unknown[] }> }>) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of (ss.spans ?? []) as Array<Record<string, unknown>>) {
        const status = (s.status ?? {}) as { code?: unknown; message?: string };
        out.push({
          traceId: String(s.traceId),
          spanId: String(s.spanId),
          parentSpanId: s.parentSpanId ? String(s.parentSpanId) : undefined,
          name: String(s.name),
          kind: enumName(KINDS, s.kind, 'SPAN_KIND_'),
          status: { code: enumName(CODES, status.code, 'STATUS_CODE_'), message: status.message || undefined },
          attributes: attrs(s.attributes),
          resource,
        });
      }
    }
  }
  return out;
}

/** GET a JSON document; null for 404, which is how Jaeger says "nothing stored (yet)". Any
 *  other failure is an error with Jaeger's own words, not something to poll through. */
async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`Jaeger answered ${res.status} to GET ${url}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

/** Spans of the traces in which `service` has a span that started at or after `since`. */
export async function findTraces(queryUrl: string, service: string, since: Date): Promise<StoredSpan[]> {
  const q = new URLSearchParams({
    'query.service_name': service,
    'query.start_time_min': new Date(since.getTime() - 1000).toISOString(),
    'query.start_time_max': new Date(Date.now() + 60_000).toISOString(),
    'query.num_traces': '1000',
  });
  const body = await getJson(`${queryUrl}/api/v3/traces?${q}`);
  return body ? flattenOtlpJson(body) : [];
}

/** One whole trace by id, through api/v3. */
export async function getTrace(queryUrl: string, traceId: string): Promise<StoredSpan[]> {
  const body = await getJson(`${queryUrl}/api/v3/traces/${traceId}`);
  return body ? flattenOtlpJson(body) : [];
}

/** The UI's form of one trace: spans with references, and the process (service) of each. */
export interface UiTrace {
  traceID: string;
  spans: Array<{
    traceID: string;
    spanID: string;
    operationName: string;
    references: Array<{ refType: string; traceID: string; spanID: string }>;
    tags: Array<{ key: string; type: string; value: unknown }>;
    processID: string;
  }>;
  processes: Record<string, { serviceName: string; tags: Array<{ key: string; value: unknown }> }>;
}

export async function getUiTrace(queryUrl: string, traceId: string): Promise<UiTrace | undefined> {
  const body = (await getJson(`${queryUrl}/api/traces/${traceId}`)) as { data?: UiTrace[] } | null;
  return body?.data?.[0];
}

/** Polls `probe` until it returns a value (not undefined), or fails with `what` at the deadline. */
export async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}
