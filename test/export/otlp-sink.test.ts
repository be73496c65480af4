// OtlpSpanSink queue/retry logic against scripted exporters (no network).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OtlpSpanSink, isRetryableExportError, type BatchTransport } from '../../src/export/otlp-sink';
import { SpanBuilder } from '../../src/trace/span-builder';
import { exchange } from '../trace/fixtures';
import { recordingLogger as logger } from '../helpers/logger';

type Behaviour = (spans: ReadableSpan[], cb: (r: ExportResult) => void) => void;

class ScriptedExporter implements SpanExporter {
  batches: ReadableSpan[][] = [];
  delivered: ReadableSpan[] = [];
  shutdownCalls = 0;
  constructor(private readonly script: Behaviour[], private readonly fallback: Behaviour = ok, private readonly shutdownRejects = false) {}
  export(spans: ReadableSpan[], cb: (r: ExportResult) => void): void {
    this.batches.push(spans);
    const step = this.script.shift() ?? this.fallback;
    step(spans, (r) => {
      if (r.code === ExportResultCode.SUCCESS) this.delivered.push(...spans);
      cb(r);
    });
  }
  shutdown(): Promise<void> {
    this.shutdownCalls++;
    return this.shutdownRejects ? Promise.reject(Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4 })) : Promise.resolve();
  }
}

const ok: Behaviour = (_s, cb) => setImmediate(() => cb({ code: ExportResultCode.SUCCESS }));
const fail = (error: Error): Behaviour => (_s, cb) => setImmediate(() => cb({ code: ExportResultCode.FAILED, error }));
const grpcError = (code: number, message: string): Error => Object.assign(new Error(message), { code });


const builder = new SpanBuilder();
const spans = (n: number): ReadableSpan[] => Array.from({ length: n }, () => builder.build(exchange()));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fast = { scheduledDelayMillis: 20, retryInitialBackoffMillis: 20, retryMaxBackoffMillis: 50, flushTimeoutMillis: 1000 };

test('full batches go out at once, partial ones on the timer', async () => {
  const exp = new ScriptedExporter([]);
  const sink = new OtlpSpanSink(exp, { ...fast, scheduledDelayMillis: 200, maxExportBatchSize: 10 });
  const t0 = Date.now();
  for (const s of spans(25)) sink.export(s);
  // Polled, not slept: on a loaded machine timers run late, and the test must not depend on it.
  const until = async (pred: () => boolean, ms: number) => {
    while (!pred() && Date.now() - t0 < ms) await sleep(5);
  };
  await until(() => exp.batches.length >= 2, 2000);
  const early = Date.now() - t0;
  assert.deepEqual(exp.batches.slice(0, 2).map((b) => b.length), [10, 10]);
  if (early < 150) assert.equal(exp.batches.length, 2, 'the partial batch waits for the schedule delay');
  await until(() => exp.batches.length >= 3, 3000);
  assert.ok(Date.now() - t0 >= 190, 'the partial batch went out on the timer, not at once');
  assert.deepEqual(exp.batches.map((b) => b.length), [10, 10, 5]);
  // The exporter answers asynchronously: the count follows the batch by a moment.
  await until(() => sink.stats().exported >= 25, 3000);
  assert.equal(sink.stats().exported, 25);
  await sink.shutdown();
});

test('"Concurrent export limit reached", UNAVAILABLE and DEADLINE_EXCEEDED are retried; order kept', async () => {
  const exp = new ScriptedExporter([
    fail(new Error('Concurrent export limit reached')),
    fail(grpcError(14, '14 UNAVAILABLE: connect ECONNREFUSED')),
    fail(grpcError(4, '4 DEADLINE_EXCEEDED')),
  ]);
  const log = logger();
  const sink = new OtlpSpanSink(exp, { ...fast, logger: log, maxConcurrentExports: 1 });
  const made = spans(7);
  for (const s of made) sink.export(s);
  await sink.forceFlush();
  assert.deepEqual(sink.stats(), { exported: 7, dropped: 0, discarded: 0, failed: 0, queued: 0, retries: 3 });
  assert.deepEqual(exp.delivered, made);
  assert.ok(log.lines.some((l) => l.startsWith('warn OTLP export') && l.includes('Concurrent export limit')));
  assert.ok(log.lines.some((l) => l.startsWith('info') && l.includes('works again')));
  await sink.shutdown();
});

test('an exporter failing synchronously (as on the concurrency limit) backs off instead of spinning', async () => {
  const syncFail: Behaviour = (_s, cb) => cb({ code: ExportResultCode.FAILED, error: new Error('Concurrent export limit reached') });
  const exp = new ScriptedExporter([syncFail, syncFail]);
  const sink = new OtlpSpanSink(exp, fast);
  for (const s of spans(3)) sink.export(s);
  await sink.forceFlush();
  assert.equal(exp.batches.length, 3);
  assert.deepEqual(sink.stats(), { exported: 3, dropped: 0, discarded: 0, failed: 0, queued: 0, retries: 2 });
  await sink.shutdown();
});

test('non-retryable errors (INVALID_ARGUMENT) count as failed, are logged, and do not block', async () => {
  const exp = new ScriptedExporter([fail(grpcError(3, '3 INVALID_ARGUMENT: bad span'))]);
  const log = logger();
  const sink = new OtlpSpanSink(exp, { ...fast, logger: log });
  for (const s of spans(4)) sink.export(s);
  await sink.forceFlush();
  for (const s of spans(2)) sink.export(s);
  await sink.forceFlush();
  const st = sink.stats();
  assert.equal(st.failed, 4);
  assert.equal(st.exported, 2);
  assert.equal(st.retries, 0);
  assert.ok(log.lines.some((l) => l.startsWith('error') && l.includes('INVALID_ARGUMENT')));
  await sink.shutdown();
});

test('an exporter that throws, or never calls back, cannot break or stall the sink', async () => {
  const throwing: Behaviour = () => {
    throw new Error('boom');
  };
  const silent: Behaviour = () => {};
  const exp = new ScriptedExporter([throwing, silent]);
  const sink = new OtlpSpanSink(exp, { ...fast, exportTimeoutMillis: 100, maxConcurrentExports: 1 });
  for (const s of spans(3)) sink.export(s);
  await sink.forceFlush();
  assert.equal(sink.stats().exported, 3);
  assert.equal(sink.stats().retries, 2);
  await sink.shutdown();
});

test('bound counts waiting + retrying + in-flight spans; drops counted and summarised once per interval', async () => {
  const exp = new ScriptedExporter([], fail(grpcError(14, '14 UNAVAILABLE')));
  const log = logger();
  const sink = new OtlpSpanSink(exp, { ...fast, maxQueueSize: 10, maxExportBatchSize: 4, logger: log, logIntervalMillis: 60_000, flushTimeoutMillis: 100 });
  for (const s of spans(25)) sink.export(s);
  await sleep(100);
  for (const s of spans(5)) sink.export(s);
  const st = sink.stats();
  assert.equal(st.queued, 10);
  assert.equal(st.dropped, 20);
  assert.ok(st.retries >= 1);
  const drops = log.lines.filter((l) => l.includes('dropped'));
  assert.equal(drops.length, 1, log.lines.join('\n'));
  assert.match(drops[0], /dropped 15 spans: export queue full \(10 spans\), the OTLP endpoint failing: 14 UNAVAILABLE/);
  await sink.shutdown();
  const end = sink.stats();
  assert.equal(end.queued, 0);
  assert.equal(end.failed, 10, 'what could not be delivered by shutdown is counted as failed');
  assert.ok(log.lines.some((l) => l.includes('dropped 5 spans')), 'shutdown flushes the summary');
  // All 10 undelivered; a retry can be in flight at that moment ("…, N still unconfirmed").
  const summary = log.lines.find((l) => l.includes('shutdown: '));
  const m = /shutdown: (\d+) spans not delivered[^,]*(?:, (\d+) still unconfirmed)?/.exec(summary ?? '');
  assert.ok(m, log.lines.join('\n'));
  assert.equal(Number(m[1]) + Number(m[2] ?? 0), 10, summary);
});

test('shutdown: idempotent, resolves when the exporter shutdown rejects, later spans dropped', async () => {
  const exp = new ScriptedExporter([], ok, true);
  const sink = new OtlpSpanSink(exp, fast);
  for (const s of spans(3)) sink.export(s);
  const a = sink.shutdown();
  const b = sink.shutdown();
  assert.equal(a, b);
  await a;
  assert.equal(exp.shutdownCalls, 1);
  assert.equal(sink.stats().exported, 3);
  sink.export(spans(1)[0]);
  assert.equal(sink.stats().dropped, 1);
});

test('retryable classification', () => {
  assert.equal(isRetryableExportError(grpcError(14, 'x')), true);
  assert.equal(isRetryableExportError(grpcError(8, 'x')), true);
  assert.equal(isRetryableExportError(grpcError(16, 'x')), false);
  assert.equal(isRetryableExportError(grpcError(12, 'x')), false);
  assert.equal(isRetryableExportError(new Error('Concurrent export limit reached')), true);
  assert.equal(isRetryableExportError(new Error('Nothing to send')), false);
  assert.equal(isRetryableExportError(undefined), true);
});

test('a transport seals each full batch at once, and a retry resends the sealed batch', async () => {
  const sealed: number[] = [];
  const sent: string[] = [];
  let fails = 1;
  const transport: BatchTransport<string> = {
    seal: (s) => {
      sealed.push(s.length);
      return `batch${sealed.length}:${s.length}`;
    },
    export: (b, cb) => {
      sent.push(b);
      setImmediate(() => cb(fails-- > 0 ? { code: ExportResultCode.FAILED, error: grpcError(14, 'UNAVAILABLE') } : { code: ExportResultCode.SUCCESS }));
    },
    shutdown: () => Promise.resolve(),
  };
  const sink = new OtlpSpanSink(transport, { ...fast, maxExportBatchSize: 4, scheduledDelayMillis: 60_000 });
  for (const s of spans(9)) sink.export(s);
  // Sealed as they filled, before any send turn ran: the queue holds batches, not spans.
  assert.deepEqual(sealed, [4, 4]);
  await sink.forceFlush();
  assert.deepEqual(sealed, [4, 4, 1]);
  assert.deepEqual(sent, ['batch1:4', 'batch2:4', 'batch1:4', 'batch3:1']);
  assert.deepEqual(sink.stats(), { exported: 9, dropped: 0, discarded: 0, failed: 0, queued: 0, retries: 1 });
  await sink.shutdown();
});

test('spans a transport cannot seal are counted as failed, with an error logged', async () => {
  const log = logger();
  let n = 0;
  const transport: BatchTransport<number> = {
    seal: (s) => {
      if (n++ === 0) throw new Error('unencodable');
      return s.length;
    },
    export: (_b, cb) => setImmediate(() => cb({ code: ExportResultCode.SUCCESS })),
    shutdown: () => Promise.resolve(),
  };
  const sink = new OtlpSpanSink(transport, { ...fast, maxExportBatchSize: 2, logger: log });
  for (const s of spans(5)) sink.export(s);
  await sink.forceFlush();
  assert.deepEqual(sink.stats(), { exported: 3, dropped: 0, discarded: 0, failed: 2, queued: 0, retries: 0 });
  assert.ok(log.lines.some((l) => l.startsWith('error cannot encode 2 spans') && l.includes('unencodable')), log.lines.join('\n'));
  await sink.shutdown();
});

test('a transport that builds batches span by span: a span it cannot take fails alone, counted and logged', async () => {
  const log = logger();
  const sent: string[][] = [];
  let taken: string[] = [];
  const transport: BatchTransport<string[]> = {
    seal: () => assert.fail('not used when the transport builds batches'),
    builder: () => ({
      get spans() {
        return taken.length;
      },
      add: (span) => {
        if (span.name === 'bad') throw new Error('unencodable span');
        taken.push(span.name);
      },
      seal: () => {
        const batch = taken;
        taken = [];
        return batch;
      },
      reset: () => {
        taken = [];
      },
    }),
    export: (b, cb) => {
      sent.push(b);
      setImmediate(() => cb({ code: ExportResultCode.SUCCESS }));
    },
    shutdown: () => Promise.resolve(),
  };
  const sink = new OtlpSpanSink(transport, { ...fast, maxExportBatchSize: 2, scheduledDelayMillis: 60_000, logger: log });
  const all = spans(5);
  const names = ['a', 'b', 'bad', 'c', 'd'];
  all.forEach((s, i) => Object.defineProperty(s, 'name', { value: names[i] }));
  for (const s of all) sink.export(s);
  // Full batches are sealed as the spans come, the bad one left out.
  assert.equal(taken.length, 0);
  await sink.forceFlush();
  assert.deepEqual(sent, [['a', 'b'], ['c', 'd']]);
  assert.deepEqual(sink.stats(), { exported: 4, dropped: 0, discarded: 0, failed: 1, queued: 0, retries: 0 });
  await sink.shutdown();
  assert.ok(log.lines.some((l) => l.startsWith('error cannot encode 1 spans') && l.includes('unencodable span')), log.lines.join('\n'));
});
