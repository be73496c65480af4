// Robustness and property tests for the HTTP/1.x parser: random bytes, mutated messages and
// random capture gaps must never throw, never grow the buffer past maxHeaderBytes and never
// pile up errors; random valid streams cut anywhere must parse to exactly what was written.

import assert from 'node:assert/strict';
import test from 'node:test';

import fc from 'fast-check';

import { Http1Parser } from '../../../src/protocol/http1/index';
import type { HttpMessage, ParseError } from '../../../src/protocol/http1/index';
import { messagesOf, run } from './harness';
import type { ParserEvent, Step } from './harness';
import { prng } from '../../helpers/prng';
import { fieldPairs, type Field } from '../../helpers/fields';

const MAX_HEADER_BYTES = 512;

/** Cases per randomized test: a bounded number in `npm test`, millions in `npm run fuzz`
 *  (TLSOTEL_FUZZ_CASES); TLSOTEL_FUZZ_SEED replays another sequence. */
const CASES = Number(process.env.TLSOTEL_FUZZ_CASES) > 0 ? Number(process.env.TLSOTEL_FUZZ_CASES) : 3000;
const SEED = Number(process.env.TLSOTEL_FUZZ_SEED) || 0;

/** Feeds the steps, cutting byte steps at random points; checks the invariants after each call. */
function feedChecked(steps: Step[], rand: () => number, label: string): ParserEvent[] {
  const events: ParserEvent[] = [];
  const parser = new Http1Parser(
    {
      onMessage: (message) => events.push({ message }),
      onError: (error) => events.push({ error }),
      methodForResponse: () => (rand() < 0.1 ? 'HEAD' : rand() < 0.05 ? 'CONNECT' : 'GET'),
    },
    { maxHeaderBytes: MAX_HEADER_BYTES },
  );
  let ts = 0n;
  const check = (): void => {
    assert.ok(parser.bufferedBytes <= MAX_HEADER_BYTES, `${label}: ${parser.bufferedBytes} bytes buffered`);
  };
  try {
    for (const step of steps) {
      ts += 1n;
      if (!Buffer.isBuffer(step)) {
        parser.gap('gap' in step ? step.gap : step.skip, ts);
        check();
        continue;
      }
      let pos = 0;
      while (pos < step.length) {
        const n = rand() < 0.3 ? 1 + Math.floor(rand() * 3) : 1 + Math.floor(rand() * step.length);
        parser.execute(step.subarray(pos, pos + n), ts);
        check();
        pos += n;
      }
    }
    parser.finish(ts + 1n);
  } catch (err) {
    assert.fail(`${label}: parser threw ${err instanceof Error ? err.stack : String(err)}`);
  }
  checkEvents(events, label);
  return events;
}

/** What must hold for any input: sane messages, errors that do not pile up, silence after not-http. */
function checkEvents(events: ParserEvent[], label: string): void {
  let errorsInARow = 0;
  events.forEach((event, i) => {
    if ('message' in event) {
      checkMessage(event.message, label);
      errorsInARow = 0;
      return;
    }
    const error: ParseError = event.error;
    if (error.partial !== undefined) checkMessage(error.partial, label);
    if (error.reason === 'not-http') {
      assert.equal(i, events.length - 1, `${label}: events after not-http`);
      return;
    }
    if (error.reason === 'invalid' || error.reason === 'too-large') {
      errorsInARow++;
      assert.ok(errorsInARow <= 4, `${label}: ${errorsInARow} errors in a row`);
    }
  });
}

function checkMessage(m: HttpMessage, label: string): void {
  assert.ok(m.bodySize >= m.bodyBytesMissing && m.bodyBytesMissing >= 0, `${label}: body counts ${m.bodySize}/${m.bodyBytesMissing}`);
  assert.ok(m.startNs <= m.endNs, `${label}: startNs after endNs`);
  assert.equal(m.kind === 'request', m.method !== undefined, `${label}: method vs kind`);
  assert.equal(m.kind === 'response', m.statusCode !== undefined, `${label}: status vs kind`);
}

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

const SAMPLES = [
  'GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n',
  'POST /upload HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world',
  'PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end',
  'CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n\u0016\u0003\u0001',
];

test('random bytes with random cuts and gaps never throw nor buffer past the limit', () => {
  const seed = 0x5eed + SEED;
  const rand = prng(seed);
  for (let i = 0; i < CASES; i++) {
    const steps: Step[] = [];
    const pieces = 1 + Math.floor(rand() * 4);
    for (let p = 0; p < pieces; p++) {
      if (rand() < 0.2) steps.push({ gap: Math.floor(rand() * 2000) });
      // Random bytes, sometimes behind a valid start so the parser gets past detection, and
      // sometimes as a run of messages broken right after their start line.
      const prefix = rand() < 0.5 ? Buffer.from(SAMPLES[Math.floor(rand() * SAMPLES.length)], 'latin1') : Buffer.alloc(0);
      steps.push(Buffer.concat([prefix, randomBytes(rand, Math.floor(rand() * 700))]));
      if (rand() < 0.1) {
        const broken = Array.from({ length: 8 }, () => Buffer.concat([Buffer.from('GET /x HTTP/1.1\r\n'), randomBytes(rand, 12), Buffer.from('\r\n')]));
        steps.push(Buffer.concat(broken));
      }
    }
    feedChecked(steps, rand, `seed ${seed} case ${i}`);
  }
});

test('mutated valid streams with random gaps never throw and errors do not pile up', () => {
  const seed = 0xfeed + SEED;
  const rand = prng(seed);
  const alphabet = Buffer.from('\r\n :;,"\\=0123456789abcdefABCDEF\t\u0000\u00ffHTTP/1.1 GET chunked Content-Length Transfer-Encoding', 'latin1');
  for (let i = 0; i < CASES; i++) {
    let stream = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 5) }, () => SAMPLES[Math.floor(rand() * SAMPLES.length)]).join(''), 'latin1');
    const mutations = Math.floor(rand() * 4);
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(rand() * stream.length);
      const kind = rand();
      if (kind < 0.4) {
        stream = Buffer.from(stream);
        stream[at] = alphabet[Math.floor(rand() * alphabet.length)];
      } else if (kind < 0.7) {
        const insert = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => alphabet[Math.floor(rand() * alphabet.length)]));
        stream = Buffer.concat([stream.subarray(0, at), insert, stream.subarray(at)]);
      } else {
        stream = Buffer.concat([stream.subarray(0, at), stream.subarray(at + 1 + Math.floor(rand() * 10))]);
      }
    }
    const steps: Step[] = [];
    let pos = 0;
    while (pos < stream.length) {
      const n = 1 + Math.floor(rand() * 60);
      steps.push(stream.subarray(pos, pos + n));
      if (rand() < 0.1) {
        const lost = Math.floor(rand() * 30);
        steps.push({ gap: lost });
        pos += lost; // the gap replaces bytes, as in a real capture
      }
      pos += n;
    }
    feedChecked(steps, rand, `seed ${seed} case ${i}`);
  }
});

test('an endless line or body of garbage keeps the buffer bounded', () => {
  const rand = prng(7);
  const lineOfA = Buffer.alloc(100000, 0x41);
  const events = feedChecked([Buffer.from('GET / HTTP/1.1\r\nX: '), lineOfA, Buffer.from('\r\n\r\nGET /ok HTTP/1.1\r\n\r\n')], rand, 'long header');
  assert.deepStrictEqual(events.map((e) => ('error' in e ? e.error.reason : e.message.url)), ['too-large', '/ok']);
  const binary = feedChecked([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), randomBytes(rand, 200000)], rand, 'binary after http');
  assert.ok(events.length <= 6 && binary.length <= 6, 'a few errors at most');
});

// ---------------------------------------------------------------------------------------------
// Property: valid streams parse to exactly what was written, however they are cut.

interface ModelMessage {
  kind: 'request' | 'response';
  startLine: string;
  method?: string;
  url?: string;
  statusCode?: number;
  reason?: string;
  headers: Array<[string, string]>;
  framing: { kind: 'length'; size: number } | { kind: 'chunked'; chunks: Array<{ size: number; ext: string }>; trailers: Array<[string, string]> } | { kind: 'none' };
  /** Body bytes of a length or chunked body (their values do not matter). */
  fill: number;
}

const FRAMING_NAMES = new Set(['content-length', 'transfer-encoding', 'connection', 'proxy-connection', 'upgrade']);
const tokenArb = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}$/);
const headerNameArb = tokenArb.filter((n) => !FRAMING_NAMES.has(n.toLowerCase()));
// Field values: visible ASCII and obs-text, inner spaces/tabs, nothing to trim at either end.
const valueArb = fc
  .array(fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constantFrom(0x20, 0x09)), { maxLength: 24 })
  .map((codes) => String.fromCharCode(...codes).replace(/^[ \t]+|[ \t]+$/g, ''));
const headersArb = fc.array(fc.tuple(headerNameArb, valueArb), { maxLength: 6 });
const extArb = fc.oneof(
  fc.constant(''),
  tokenArb.map((n) => `;${n}`),
  fc.tuple(tokenArb, tokenArb).map(([n, v]) => `;${n}=${v}`),
  fc.tuple(tokenArb, fc.stringMatching(/^[a-z ;=,]{0,8}$/)).map(([n, v]) => `;${n}="${v}"`),
);
const framingArb = fc.oneof(
  fc.record({ kind: fc.constant('length' as const), size: fc.nat({ max: 300 }) }),
  fc.record({
    kind: fc.constant('chunked' as const),
    chunks: fc.array(fc.record({ size: fc.integer({ min: 1, max: 200 }), ext: extArb }), { maxLength: 4 }),
    trailers: fc.array(fc.tuple(headerNameArb, valueArb), { maxLength: 2 }),
  }),
);
const requestArb: fc.Arbitrary<ModelMessage> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'X-CUSTOM'),
    url: fc.stringMatching(/^\/[A-Za-z0-9/?=&%._~-]{0,40}$/),
    headers: headersArb,
    framing: fc.oneof(framingArb, fc.constant({ kind: 'none' as const })),
  })
  .map((r) => ({ kind: 'request' as const, startLine: `${r.method} ${r.url} HTTP/1.1`, method: r.method, url: r.url, headers: r.headers, framing: r.framing, fill: 0 }));
const responseArb: fc.Arbitrary<ModelMessage> = fc.oneof(
  fc
    .record({ status: fc.constantFrom(200, 201, 206, 301, 404, 500, 503), reason: fc.stringMatching(/^[A-Za-z ]{0,20}$/), headers: headersArb, framing: framingArb })
    .map((r) => ({ kind: 'response' as const, startLine: `HTTP/1.1 ${r.status} ${r.reason}`, statusCode: r.status, reason: r.reason, headers: r.headers, framing: r.framing, fill: 0 })),
  fc
    .record({ status: fc.constantFrom(100, 103, 204, 304), headers: headersArb })
    .map((r) => ({ kind: 'response' as const, startLine: `HTTP/1.1 ${r.status} X`, statusCode: r.status, reason: 'X', headers: r.headers, framing: { kind: 'none' as const }, fill: 0 })),
);

function serialize(m: ModelMessage, fillByte: number): Buffer {
  const lines = [m.startLine, ...m.headers.map(([n, v]) => `${n}: ${v}`)];
  const parts: Buffer[] = [];
  const f = m.framing;
  if (f.kind === 'length') lines.push(`Content-Length: ${f.size}`);
  if (f.kind === 'chunked') lines.push('Transfer-Encoding: chunked');
  parts.push(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
  if (f.kind === 'length') parts.push(Buffer.alloc(f.size, fillByte));
  if (f.kind === 'chunked') {
    for (const c of f.chunks) parts.push(Buffer.from(`${c.size.toString(16)}${c.ext}\r\n`), Buffer.alloc(c.size, fillByte), Buffer.from('\r\n'));
    parts.push(Buffer.from(['0', ...f.trailers.map(([n, v]) => `${n}: ${v}`)].join('\r\n') + '\r\n\r\n', 'latin1'));
  }
  return Buffer.concat(parts);
}

/** A message as compared: its fields as pairs (see test/helpers/fields.ts). */
type Projected = Omit<Partial<HttpMessage>, 'headers' | 'trailers'> & { headers: Field[]; trailers: Field[] };

function expectedOf(m: ModelMessage): Projected {
  const f = m.framing;
  const headers: Field[] = [...m.headers];
  if (f.kind === 'length') headers.push(['Content-Length', String(f.size)]);
  if (f.kind === 'chunked') headers.push(['Transfer-Encoding', 'chunked']);
  const bodySize = f.kind === 'length' ? f.size : f.kind === 'chunked' ? f.chunks.reduce((s, c) => s + c.size, 0) : 0;
  return {
    kind: m.kind, method: m.method, url: m.url, statusCode: m.statusCode, reason: m.reason,
    headers, trailers: f.kind === 'chunked' ? f.trailers : [], bodySize,
  };
}

function project(m: HttpMessage): Projected {
  return { kind: m.kind, method: m.method, url: m.url, statusCode: m.statusCode, reason: m.reason, headers: fieldPairs(m.headers), trailers: fieldPairs(m.trailers), bodySize: m.bodySize };
}

function cutAt(stream: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, stream.length]) {
    pieces.push(stream.subarray(prev, p));
    prev = p;
  }
  return pieces;
}

test('property: a valid stream cut anywhere parses to the messages written', () => {
  const streamArb = fc.oneof(fc.array(requestArb, { minLength: 1, maxLength: 5 }), fc.array(responseArb, { minLength: 1, maxLength: 5 }));
  fc.assert(
    fc.property(streamArb, fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 0, max: 255 }), (model, points, fillByte) => {
      const stream = Buffer.concat(model.map((m) => serialize(m, fillByte)));
      const r = run(cutAt(stream, points));
      assert.deepStrictEqual([...r.events, ...r.atFinish].filter((e) => 'error' in e), []);
      assert.deepStrictEqual(messagesOf(r.events).map(project), model.map(expectedOf));
    }),
    { numRuns: 300, seed: 0x7e57 },
  );
});

test('property: a gap inside a Content-Length body is counted and the stream stays in sync', () => {
  const withBody = requestArb.filter((m) => m.framing.kind === 'length' && m.framing.size > 0);
  fc.assert(
    fc.property(fc.array(requestArb, { maxLength: 2 }), withBody, fc.array(requestArb, { minLength: 1, maxLength: 3 }), fc.nat(), fc.nat(), (before, target, after, a, b) => {
      const size = target.framing.kind === 'length' ? target.framing.size : 0;
      const start = a % size;
      const lost = 1 + (b % (size - start));
      const head = Buffer.concat([...before.map((m) => serialize(m, 0x61)), serialize(target, 0x62)]);
      const bodyStart = head.length - size;
      const tail = Buffer.concat(after.map((m) => serialize(m, 0x63)));
      const r = run([head.subarray(0, bodyStart + start), { gap: lost }, head.subarray(bodyStart + start + lost), tail]);
      assert.deepStrictEqual([...r.events, ...r.atFinish].filter((e) => 'error' in e), []);
      const got = messagesOf(r.events);
      assert.deepStrictEqual(got.map(project), [...before, target, ...after].map(expectedOf));
      assert.deepStrictEqual(got.map((m) => m.bodyBytesMissing), [...before.map(() => 0), lost, ...after.map(() => 0)]);
    }),
    { numRuns: 200, seed: 0x6a9 },
  );
});
