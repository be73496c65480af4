// OtlpTraceSerializer must write exactly the bytes of the SDK's ProtobufTraceSerializer, for
// spans as the agent builds them and for any ReadableSpan the SDK accepts: random batches
// (property test), SpanBuilder spans, and a decode of our bytes that does not rely on the SDK.

import assert from 'node:assert/strict';
import test from 'node:test';

import fc from 'fast-check';
import { SpanKind, SpanStatusCode, type Attributes, type HrTime, type Link, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

import { OtlpTraceSerializer, serializeTraceRequest, TraceRequestBuilder } from '../../src/export/otlp-trace-serializer';
import { MonotonicWallClock } from '../../src/trace/clock';
import { ResourceFactory } from '../../src/trace/resource';
import { SpanBuilder } from '../../src/trace/span-builder';
import { decodeExportTraceRequest } from '../helpers/otlp-receiver';
import { CURL, NGINX, exchange, request, response } from '../trace/fixtures';
import { ErrorKind } from '../../src/exchange/error-kind';

/** Cases for the property test: a few thousand in `npm test`, more with TLSOTEL_FUZZ_CASES. */
const CASES = Number(process.env.TLSOTEL_FUZZ_CASES) > 0 ? Number(process.env.TLSOTEL_FUZZ_CASES) : 3000;
const SEED = Number(process.env.TLSOTEL_FUZZ_SEED) || 0x5e71a1;

function sdkBytes(spans: ReadableSpan[]): Buffer {
  // The SDK's types name @opentelemetry/sdk-trace's ReadableSpan; sdk-trace-base's is the same shape.
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans as never)!);
}

/** One builder for every check: each is also a check that a sealed builder starts afresh. */
const requestBuilder = new TraceRequestBuilder();

/** Our bytes for `spans`, by both paths (all at once, and span by span), are the SDK's. */
function assertSameBytes(spans: ReadableSpan[], label = ''): Buffer {
  const expected = sdkBytes(spans);
  const actual = Buffer.from(OtlpTraceSerializer.serializeRequest(spans)!);
  assertBytes(actual, expected, label);
  for (const span of spans) requestBuilder.add(span);
  assert.equal(requestBuilder.spans, spans.length);
  assertBytes(Buffer.from(requestBuilder.seal()), expected, `${label} (span by span)`);
  assert.equal(requestBuilder.spans, 0);
  return actual;
}

function assertBytes(actual: Buffer, expected: Buffer, label: string): void {
  if (Buffer.compare(actual, expected) !== 0) {
    let at = 0;
    while (at < Math.min(actual.length, expected.length) && actual[at] === expected[at]) at++;
    assert.fail(
      `${label} bytes differ at ${at} (ours ${actual.length} B, SDK ${expected.length} B)\n` +
        `  ours ${actual.subarray(Math.max(0, at - 16), at + 16).toString('hex')}\n` +
        `  sdk  ${expected.subarray(Math.max(0, at - 16), at + 16).toString('hex')}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Random ReadableSpans.

/** Strings: ASCII, any code point, lone surrogates, long ones (multi-byte length prefixes). */
const char = (min: number, max: number): fc.Arbitrary<string> => fc.integer({ min, max }).map((c) => String.fromCodePoint(c));
const anyUnit = fc.oneof(
  { weight: 6, arbitrary: char(0, 0x7f) },
  { weight: 1, arbitrary: char(0x80, 0xff) },
  { weight: 1, arbitrary: char(0x100, 0xd7ff) },
  { weight: 1, arbitrary: char(0x10000, 0x10ffff) },
  // Lone surrogates: UTF-8 has no encoding for them, both sides must write U+FFFD.
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
);
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: anyUnit, maxLength: 40 }) },
  // Around the ASCII/native threshold and the 1- and 2-byte length boundaries.
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(31, 32, 33, 126, 127, 128, 200, 3000), fc.constantFrom('a', 'é', '😀', '\ud800', '~')).map(([n, c]) => 'x'.repeat(n) + c) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'binary-ascii', minLength: 30, maxLength: 90 }), fc.string({ unit: anyUnit, maxLength: 3 })).map(([a, b]) => a + b) },
);

const number = fc.oneof(
  fc.integer(),
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(
    0, -0, 1, -1, 127, 128, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 62, 2 ** 63, -(2 ** 63), 2 ** 63 - 1024,
    2 ** 64, -(2 ** 64), 1e300, -1e-300, 0.5, -0.5, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON,
  ),
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: text },
  { weight: 4, arbitrary: number },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: -40000, max: 40000 }), { maxLength: 3 }).map((a) => Int16Array.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(10n, Symbol('s'), () => 1) },
);

/** Attribute values, arrays (mixed, holes, nested) and maps included. */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('map')),
  array: fc.oneof(
    fc.array(tie('value'), { maxLength: 5 }),
    fc.sparseArray(leaf, { maxLength: 5 }),
  ),
  map: fc.array(fc.tuple(text, tie('value')), { maxLength: 4 }).map((e) => Object.fromEntries(e)),
})).value;

const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('http.request.method', 'url.path', 'server.port', 'a', '', '0', '10', '__proto__', 'é', 'k\ud800', 'x'.repeat(130)) },
  { weight: 2, arbitrary: text },
);

/** Plain objects, as SDK spans carry (built with defineProperty: "__proto__" stays a key). */
const attributes = fc.array(fc.tuple(key, value), { maxLength: 12 }).map((entries) => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out as Attributes;
});
const optionalAttributes = fc.option(attributes, { nil: undefined });

const hexChars = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
/** W3C ids, and ids the SDK still turns into bytes: upper case, wrong length, not hex at all. */
const id = (n: number): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: hexChars(n) },
    { weight: 1, arbitrary: hexChars(n).map((s) => s.toUpperCase()) },
    { weight: 1, arbitrary: fc.string({ unit: anyUnit, maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom('', 'a', 'abc', '0'.repeat(n - 1), 'f'.repeat(n + 1), 'zz'.repeat(n / 2), 'é'.repeat(n)) },
  );

const hrTime: fc.Arbitrary<HrTime> = fc.oneof(
  fc.tuple(fc.integer({ min: 1_600_000_000, max: 2_100_000_000 }), fc.integer({ min: 0, max: 999_999_999 })),
  fc.tuple(fc.integer({ min: 0, max: 18_446_744_072 }), fc.integer({ min: 0, max: 999_999_999 })),
  fc.tuple(fc.constantFrom(0, 1, 0xffff, 0x10000, 0xffffffff, 2 ** 32, 18_446_744_073), fc.constantFrom(0, 1, 999_999_999, 709_551_615)),
) as fc.Arbitrary<HrTime>;

const traceState = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom('vendor=value', 'a=1,b=2', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', '').map((s) => new TraceState(s)) },
  // Only serialize() is read: any string it may return.
  { weight: 1, arbitrary: text.map((s) => ({ serialize: () => s }) as unknown as TraceState) },
);

const traceFlags = fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 0xffff }));
const isRemote = fc.constantFrom<boolean | undefined>(undefined, true, false);

const spanContext: fc.Arbitrary<SpanContext> = fc
  .record({ traceId: id(32), spanId: id(16), traceFlags, isRemote, traceState }, { requiredKeys: ['traceId', 'spanId', 'traceFlags'] })
  .map((c) => c as SpanContext);

const count = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.constantFrom(127, 128, 300, 2 ** 32, 2 ** 40) });
const optionalCount = fc.option(count, { nil: undefined });

const event: fc.Arbitrary<TimedEvent> = fc
  .record({ name: text, time: hrTime, attributes: optionalAttributes, droppedAttributesCount: optionalCount }, { requiredKeys: ['name', 'time'] })
  .map((e) => e as TimedEvent);
const link: fc.Arbitrary<Link> = fc
  .record({ context: spanContext, attributes: optionalAttributes, droppedAttributesCount: optionalCount }, { requiredKeys: ['context'] })
  .map((l) => l as Link);

const status = fc.oneof(
  fc.record({ code: fc.constantFrom(SpanStatusCode.UNSET, SpanStatusCode.OK, SpanStatusCode.ERROR) }),
  fc.record({ code: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 1000 })), message: fc.option(text, { nil: undefined }) }),
);

interface SpanShape {
  name: string;
  kind: SpanKind | undefined;
  context: SpanContext;
  parent: SpanContext | undefined;
  start: HrTime;
  end: HrTime;
  attributes: Attributes | undefined;
  droppedAttributesCount: number;
  events: TimedEvent[];
  droppedEventsCount: number;
  links: Link[];
  droppedLinksCount: number;
  status: { code: number; message?: string };
  resource: number;
  scope: number;
}

const spanShape: fc.Arbitrary<SpanShape> = fc.record({
  name: text,
  kind: fc.constantFrom(undefined, SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER),
  context: spanContext,
  parent: fc.option(
    fc.oneof({ weight: 4, arbitrary: spanContext }, { weight: 1, arbitrary: spanContext.map((c) => ({ ...c, spanId: '' })) }),
    { nil: undefined },
  ),
  start: hrTime,
  end: hrTime,
  attributes: fc.oneof({ weight: 8, arbitrary: attributes }, { weight: 1, arbitrary: fc.constant(undefined) }),
  droppedAttributesCount: count,
  events: fc.array(event, { maxLength: 2 }),
  droppedEventsCount: count,
  links: fc.array(link, { maxLength: 2 }),
  droppedLinksCount: count,
  status,
  resource: fc.nat(3),
  scope: fc.nat(2),
});

const resourcePool = fc.array(
  fc.oneof(
    fc.tuple(attributes, fc.option(fc.constantFrom('https://opentelemetry.io/schemas/1.30.0', 'é'), { nil: undefined }))
      .map(([a, schemaUrl]) => resourceFromAttributes(a as never, { schemaUrl })),
    fc.record({ attributes: optionalAttributes, schemaUrl: fc.option(text, { nil: undefined }) }),
  ),
  { minLength: 4, maxLength: 4 },
);
const scopePool = fc.array(
  fc.record(
    { name: text, version: fc.option(text, { nil: undefined }), schemaUrl: fc.option(text, { nil: undefined }), attributes: optionalAttributes, droppedAttributesCount: optionalCount },
    { requiredKeys: ['name'] },
  ),
  { minLength: 3, maxLength: 3 },
);

function toSpans(shapes: SpanShape[], resources: unknown[], scopes: unknown[]): ReadableSpan[] {
  return shapes.map((s) => {
    const context = s.context;
    return {
      name: s.name,
      kind: s.kind as SpanKind,
      spanContext: () => context,
      parentSpanContext: s.parent,
      startTime: s.start,
      endTime: s.end,
      duration: [0, 0],
      ended: true,
      status: s.status,
      attributes: s.attributes as Attributes,
      links: s.links,
      events: s.events,
      droppedAttributesCount: s.droppedAttributesCount,
      droppedEventsCount: s.droppedEventsCount,
      droppedLinksCount: s.droppedLinksCount,
      resource: resources[s.resource],
      instrumentationScope: scopes[s.scope],
    } as ReadableSpan;
  });
}

test(`property: random span batches serialize to the SDK's bytes (${CASES} cases)`, () => {
  fc.assert(
    fc.property(fc.array(spanShape, { maxLength: 8 }), resourcePool, scopePool, (shapes, resources, scopes) => {
      assertSameBytes(toSpans(shapes, resources, scopes));
    }),
    { numRuns: CASES, seed: SEED },
  );
});

test('property: one attribute of every kind, alone in a minimal span (small messages, 1-byte lengths)', () => {
  const resource = resourceFromAttributes({});
  const scope = { name: '' };
  fc.assert(
    fc.property(key, value, (k, v) => {
      const ctx = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
      const attrs: Record<string, unknown> = {};
      Object.defineProperty(attrs, k, { value: v, enumerable: true });
      const span = {
        name: '', kind: SpanKind.INTERNAL, spanContext: () => ctx, startTime: [0, 0], endTime: [0, 0], duration: [0, 0], ended: true,
        status: { code: 0 }, attributes: attrs, links: [], events: [], droppedAttributesCount: 0, droppedEventsCount: 0,
        droppedLinksCount: 0, resource, instrumentationScope: scope,
      } as unknown as ReadableSpan;
      assertSameBytes([span]);
    }),
    { numRuns: CASES, seed: SEED + 1 },
  );
});

// ---------------------------------------------------------------------------------------------
// Corners written out (each would be found by the property test; here they fail by name).

function minimalSpan(overrides: Record<string, unknown> = {}): ReadableSpan {
  const ctx = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
  return {
    name: 'GET /', kind: SpanKind.CLIENT, spanContext: () => ctx, parentSpanContext: undefined, startTime: [1_700_000_000, 123],
    endTime: [1_700_000_001, 999_999_999], duration: [1, 0], ended: true, status: { code: SpanStatusCode.UNSET }, attributes: {},
    links: [], events: [], droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
    resource: SHARED_RESOURCE, instrumentationScope: SHARED_SCOPE, ...overrides,
  } as unknown as ReadableSpan;
}
const SHARED_RESOURCE = resourceFromAttributes({ 'service.name': 'svc', 'process.pid': 42 });
const SHARED_SCOPE = { name: 'tlsotel', version: '0.1.0' };

test('corners: numbers (int64 edges, -0, NaN, ±Infinity, fractions), strings, arrays, maps, bytes, odd types', () => {
  const cases: Array<[string, unknown]> = [
    ['zero', 0], ['minus zero', -0], ['-1', -1], ['2^31', 2 ** 31], ['2^32-1', 2 ** 32 - 1], ['2^32', 2 ** 32], ['2^53+2', 2 ** 53 + 2],
    ['2^63 (double)', 2 ** 63], ['-2^63 (int)', -(2 ** 63)], ['2^64', 2 ** 64], ['NaN', NaN], ['Infinity', Infinity],
    ['-Infinity', -Infinity], ['0.1', 0.1], ['-1.5', -1.5], ['true', true], ['false', false], ['undefined', undefined],
    ['null', null], ['empty string', ''], ['latin1', 'café'], ['emoji', 'a😀b'], ['lone high surrogate', 'x\ud800y'],
    ['lone low surrogate at end', 'xy\udc00'], ['long ASCII', 'a'.repeat(300)], ['long non-ASCII', 'é'.repeat(300)],
    ['32 chars with non-ASCII last', 'a'.repeat(31) + 'ß'], ['DEL', '\x7f'], ['NUL', '\0'],
    ['string array', ['a', 'b', '']], ['mixed array with holes', [1, 'two', , null, undefined, true, 2.5]],
    ['nested arrays', [[1, [2]], []]], ['map', { a: 1, b: { c: ['x'] }, d: undefined }], ['empty map', {}],
    ['Uint8Array', new Uint8Array([0, 1, 255])], ['Buffer', Buffer.from('hi')], ['empty bytes', new Uint8Array(0)],
    ['Int16Array (a map to the SDK)', Int16Array.from([-1, 2])], ['bigint (nothing)', 5n], ['function (nothing)', () => 1],
    ['symbol (nothing)', Symbol('x')], ['Date (a map with no keys)', new Date(0)], ['String object (a map)', new String('ab')],
  ];
  for (const [label, v] of cases) assertSameBytes([minimalSpan({ attributes: { k: v } })], label);
  // All at once, with numeric-looking keys (listed first by property order).
  assertSameBytes([minimalSpan({ attributes: Object.fromEntries(cases.map(([l, v], i) => [i % 3 === 0 ? String(i) : l, v])) })]);
});

test('corners: ids, trace state, parent, flags, status, drops, events, links, kind', () => {
  const ctx = (o: Partial<SpanContext> = {}): SpanContext => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, ...o });
  const spans: Array<[string, Record<string, unknown>]> = [
    ['upper-case ids', { spanContext: () => ctx({ traceId: '0AF7651916CD43DD8448EB211C80319C', spanId: 'B7AD6B7169203331' }) }],
    ['odd-length ids', { spanContext: () => ctx({ traceId: 'abc', spanId: '1' }) }],
    ['empty ids', { spanContext: () => ctx({ traceId: '', spanId: '' }) }],
    ['non-hex ids', { spanContext: () => ctx({ traceId: 'zz-- gg\u0100é😀', spanId: 'xyz!' }) }],
    ['trace state', { spanContext: () => ctx({ traceState: new TraceState('a=1,b=2') }) }],
    ['empty trace state', { spanContext: () => ctx({ traceState: new TraceState('') }) }],
    ['flags 0', { spanContext: () => ctx({ traceFlags: 0 }) }],
    ['flags > 255', { spanContext: () => ctx({ traceFlags: 0x1ff }) }],
    ['remote parent', { parentSpanContext: ctx({ spanId: '00f067aa0ba902b7', isRemote: true }) }],
    ['local parent', { parentSpanContext: ctx({ spanId: '00f067aa0ba902b7', isRemote: false }) }],
    ['parent without span id', { parentSpanContext: ctx({ spanId: '' }) }],
    ['status error with message', { status: { code: SpanStatusCode.ERROR, message: 'process exited' } }],
    ['status ok, empty message', { status: { code: SpanStatusCode.OK, message: '' } }],
    ['status message non-ASCII', { status: { code: 2, message: 'Zeitüberschreitung' } }],
    ['status code 200', { status: { code: 200 } }],
    ['drops', { droppedAttributesCount: 3, droppedEventsCount: 200, droppedLinksCount: 2 ** 33 }],
    ['undefined drops', { droppedAttributesCount: undefined, droppedEventsCount: undefined, droppedLinksCount: undefined }],
    ['kind undefined', { kind: undefined }],
    ['kind internal', { kind: SpanKind.INTERNAL }],
    ['no attributes', { attributes: undefined }],
    ['non-ASCII name', { name: 'GET /ünïcödé/😀' }],
    ['name at the native-write threshold', { name: 'G'.repeat(32) }],
    ['events', {
      events: [
        { name: 'exception', time: [1_700_000_000, 5], attributes: { 'exception.message': 'boom', n: 1 }, droppedAttributesCount: 2 },
        { name: '', time: [0, 0] },
      ],
    }],
    ['links', {
      links: [
        { context: ctx({ traceState: new TraceState('x=y'), isRemote: true }), attributes: { a: 'b' }, droppedAttributesCount: 1 },
        { context: ctx({ traceFlags: 0 }) },
      ],
    }],
    ['large span (3-byte length)', { attributes: { big: 'b'.repeat(20_000) } }],
    ['huge span (buffer growth)', { attributes: { big: 'c'.repeat(5_000_000), more: 'é'.repeat(1_000_000) } }],
  ];
  for (const [label, o] of spans) assertSameBytes([minimalSpan(o)], label);
  assertSameBytes(spans.map(([, o]) => minimalSpan(o)), 'all together');
});

test('corners: grouping by resource then scope identity, schema URLs, scope attributes, plain-object resources', () => {
  const r1 = resourceFromAttributes({ 'service.name': 'a' }, { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' });
  const r2 = resourceFromAttributes({ 'service.name': 'a' }); // equal content, another object: another group
  const r3 = { attributes: undefined };
  const s1 = { name: 'one', version: '1', schemaUrl: 'https://example.com/schema' };
  const s2 = { name: 'one', version: '1', schemaUrl: 'https://example.com/schema' };
  const s3 = { name: 'three', attributes: { 'scope.attr': [1, 2] }, droppedAttributesCount: 7 };
  const order: Array<[unknown, unknown]> = [[r1, s1], [r2, s1], [r1, s2], [r1, s1], [r3, s3], [r2, s3], [r1, s2], [r3, s1]];
  assertSameBytes(order.map(([resource, instrumentationScope]) => minimalSpan({ resource, instrumentationScope })));
  assertSameBytes([]);
});

test('an exception where the SDK throws too (span without status)', () => {
  const span = minimalSpan({ status: undefined });
  assert.throws(() => ProtobufTraceSerializer.serializeRequest([span] as never));
  assert.throws(() => serializeTraceRequest([span]));
  // And the next call is not affected.
  assertSameBytes([minimalSpan()]);
});

test('span by span: a span that cannot be encoded is left out, the others are sent; a nested add is refused', () => {
  const b = new TraceRequestBuilder();
  const good = [minimalSpan({ name: 'one' }), minimalSpan({ name: 'two', attributes: { k: 'v'.repeat(300) } })];
  b.add(good[0]);
  assert.throws(() => b.add(minimalSpan({ status: undefined })));
  let nested: unknown;
  b.add(minimalSpan({
    name: 'three',
    attributes: {
      get during(): string {
        try {
          b.add(minimalSpan({ name: 'nested' }));
        } catch (err) {
          nested = err;
        }
        return 'y';
      },
    },
  }));
  assert.match(String(nested), /while another was being encoded/);
  b.add(good[1]);
  assert.equal(b.spans, 3);
  const third = minimalSpan({ name: 'three', attributes: { during: 'y' } });
  assert.deepEqual(Buffer.from(b.seal()), sdkBytes([good[0], third, good[1]]));
  // Sealed with nothing added: an empty request, as the SDK writes for no spans.
  assert.deepEqual(Buffer.from(b.seal()), sdkBytes([]));
  // Forgotten spans are not in the next request.
  b.add(good[0]);
  b.reset();
  b.add(good[1]);
  assert.deepEqual(Buffer.from(b.seal()), sdkBytes([good[1]]));
});

test('a getter that serializes while we serialize (shared buffer in use): still the SDK bytes', () => {
  let nested: Uint8Array | undefined;
  const attributes = {
    before: 'x',
    get during(): string {
      nested = serializeTraceRequest([minimalSpan({ name: 'nested', attributes: { n: 1 } })]);
      return 'y';
    },
    after: 2,
  };
  assertSameBytes([minimalSpan({ attributes })]);
  assert.ok(nested);
  assert.deepEqual(Buffer.from(nested), sdkBytes([minimalSpan({ name: 'nested', attributes: { n: 1 } })]));
});

test('each call returns its own bytes (the shared buffer is copied out)', () => {
  const a = serializeTraceRequest([minimalSpan({ name: 'first' })]);
  const aCopy = Buffer.from(a);
  const b = serializeTraceRequest([minimalSpan({ name: 'second', attributes: { x: 'y'.repeat(1000) } })]);
  assert.deepEqual(Buffer.from(a), aCopy);
  assert.notEqual(a.buffer, b.buffer);
});

// ---------------------------------------------------------------------------------------------
// Spans as the agent builds them.

const OFFSET = 1_764_079_200_000_000_000n;
const resources = new ResourceFactory({ hostName: 'test-host' });
const builder = new SpanBuilder({
  clock: new MonotonicWallClock(OFFSET),
  resourceFor: (info) => resources.resourceFor(info),
  captureRequestHeaders: ['accept', 'x-request-id'],
  captureResponseHeaders: ['content-type'],
});

function agentSpans(): ReadableSpan[] {
  const parent = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, traceState: 'rojo=00f067aa0ba902b7' };
  return [
    builder.build(exchange()),
    builder.build(exchange({ side: 'server', process: NGINX, response: response(500) }), { parent }),
    builder.build(exchange({ response: undefined, error: ErrorKind.ProcessExited })),
    builder.build(exchange({ response: response(204), error: ErrorKind.CaptureGap })),
    builder.build(exchange({
      request: request('POST', '/api/v1/naïve/😀?q=é', [['Host', 'bücher.example'], ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/124.0'], ['Accept', 'a'], ['Accept', 'b'], ['X-Request-Id', 'r-1']], 12),
      response: response(201, [['Content-Type', 'application/json; charset=utf-8']], 2),
    })),
    builder.build(exchange({ side: 'server', process: CURL, request: request('BREW', '*') })),
    builder.build(exchange({ request: request('GET', 'http://[::1]:8080/x'), addresses: { localAddress: '::1', localPort: 40000, remoteAddress: '::1', remotePort: 8080, family: 'ipv6' } })),
  ];
}

test('SpanBuilder spans (two resources, parents, trace state, errors, captured headers, non-ASCII) serialize to the SDK bytes', () => {
  const spans = agentSpans();
  assertSameBytes(spans);
  for (const span of spans) assertSameBytes([span], span.name);
  // A batch of the agent's size, spans from both processes interleaved.
  const batch: ReadableSpan[] = [];
  for (let i = 0; i < 512; i++) batch.push(builder.build(exchange(i % 3 === 0 ? { side: 'server', process: NGINX, response: response(200 + (i % 5)) } : {})));
  assertSameBytes(batch, '512-span batch');
});

test('our bytes decode (test receiver decoder, no SDK) to the spans we built', () => {
  const spans = agentSpans();
  const { spans: got, resources: res } = decodeExportTraceRequest(Buffer.from(serializeTraceRequest(spans)));
  assert.equal(got.length, spans.length);
  assert.deepEqual(res.map((r) => r['service.name']), ['curl', 'nginx']);
  const byId = new Map(got.map((s) => [s.spanId, s]));
  for (const span of spans) {
    const s = byId.get(span.spanContext().spanId);
    assert.ok(s, `span ${span.spanContext().spanId} decoded`);
    assert.equal(s.name, span.name);
    assert.equal(s.traceId, span.spanContext().traceId);
    assert.equal(s.parentSpanId, span.parentSpanContext?.spanId);
    assert.equal(s.kind, span.kind === SpanKind.CLIENT ? 'CLIENT' : 'SERVER');
    assert.deepEqual(s.attributes, span.attributes);
    assert.equal(s.status.code, ['UNSET', 'OK', 'ERROR'][span.status.code]);
    assert.equal(s.status.message, span.status.message);
    assert.equal(s.flags, span.parentSpanContext?.isRemote ? 0x301 : 0x101);
    assert.equal(s.startTimeUnixNano, BigInt(span.startTime[0]) * 1_000_000_000n + BigInt(span.startTime[1]));
    assert.equal(s.endTimeUnixNano, BigInt(span.endTime[0]) * 1_000_000_000n + BigInt(span.endTime[1]));
    assert.deepEqual(s.scope, { name: 'tlsotel', version: span.instrumentationScope.version });
    assert.equal(s.resource['process.pid'], span.resource.attributes['process.pid']);
  }
  const post = got.find((s) => s.name.startsWith('POST'))!;
  assert.equal(post.attributes['url.path'], '/api/v1/naïve/😀');
  assert.deepEqual(post.attributes['http.request.header.accept'], ['a', 'b']);
  const server = got.find((s) => s.parentSpanId === '00f067aa0ba902b7')!;
  assert.equal(server.traceState, 'rojo=00f067aa0ba902b7');
});
