import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { ConsoleSpanSink, NullSpanSink, formatSpanLine } from '../../src/export/console-sink';
import { MonotonicWallClock } from '../../src/trace/clock';
import { ResourceFactory } from '../../src/trace/resource';
import { SpanBuilder } from '../../src/trace/span-builder';
import { NGINX, exchange, request, response } from '../trace/fixtures';
import { ErrorKind } from '../../src/exchange/error-kind';

// 2026-11-25T14:00:00.000Z at monotonic 0.
const clock = new MonotonicWallClock(1_795_615_200_000_000_000n);
const factory = new ResourceFactory({ hostName: 'h' });
const builder = new SpanBuilder({ clock, resourceFor: (i) => factory.resourceFor(i) });

test('one readable line per span', () => {
  const line = formatSpanLine(builder.build(exchange({ startNs: 123_000_000n, endNs: 135_300_000n })));
  assert.equal(line, '2026-11-25T14:00:00.123Z CLIENT curl[1234] GET /users/{id} -> 200 12.3ms https://api.example.com/users/42?token=REDACTED&page=2');
});

test('server and cut-short lines', () => {
  const server = formatSpanLine(builder.build(exchange({
    side: 'server', process: NGINX, startNs: 0n, endNs: 2_000_000n,
    request: request('POST', '/api/1?x=1', [['Host', 'shop:8443']]), response: response(502),
  })));
  assert.equal(server, '2026-11-25T14:00:00.000Z SERVER nginx[77] POST /api/{id} -> 502 2.0ms https://shop:8443/api/1?x=1 from 93.184.216.34');
  const cut = formatSpanLine(builder.build(exchange({ response: undefined, error: ErrorKind.ResponseTimeout, startNs: 0n, endNs: 0n })));
  assert.match(cut, / CLIENT curl\[1234\] GET \/users\/\{id\} -> ERR timeout 0\.0ms https:\/\/api\.example\.com/);
});

test('ConsoleSpanSink writes lines and counts; survives a broken stream', async () => {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  const sink = new ConsoleSpanSink({ stream: out });
  sink.export(builder.build(exchange()));
  sink.export(builder.build(exchange()));
  await sink.forceFlush();
  await new Promise((r) => setImmediate(r));
  assert.equal(chunks.join('').split('\n').filter(Boolean).length, 2);
  assert.deepEqual(sink.stats(), { exported: 2, dropped: 0, discarded: 0, failed: 0, queued: 0, retries: 0 });
  await sink.shutdown();
  sink.export(builder.build(exchange()));
  assert.equal(sink.stats().dropped, 1);

  const warnings: string[] = [];
  const broken = new Writable({ write(_c, _e, cb) { cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })); } });
  const sink2 = new ConsoleSpanSink({ stream: broken, logger: { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} } });
  sink2.export(builder.build(exchange()));
  await new Promise((r) => setImmediate(r));
  sink2.export(builder.build(exchange()));
  assert.equal(sink2.stats().failed, 1);
  assert.deepEqual(warnings, ['cannot print spans: write EPIPE']);
});

test('NullSpanSink discards and counts what it discards as discarded, not as a loss', () => {
  const s = new NullSpanSink();
  s.export();
  s.export();
  assert.deepEqual(s.stats(), { exported: 0, dropped: 0, discarded: 2, failed: 0, queued: 0, retries: 0 });
});
