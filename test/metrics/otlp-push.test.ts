// OtlpMetricsPush with an exporter of our own (the live path to a real OTLP receiver is in
// test/run/red-metrics-e2e.test.ts): one export per process and interval, a failing collector
// logged at most once per interval and never thrown, UNIMPLEMENTED turning the metrics off with
// one line, and a shutdown that exports the last values yet never outlasts its budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OtlpMetricsPush } from '../../src/metrics/otlp-push';
import { RedMetrics } from '../../src/metrics/red-metrics';
import type { ProcessInfo } from '../../src/exchange/types';
import { exchange } from '../trace/fixtures';
import { sleep } from '../helpers/procs';

type Answer = 'ok' | 'fail' | 'unimplemented' | 'hang';

class FakeExporter implements PushMetricExporter {
  readonly received: ResourceMetrics[] = [];
  shutdowns = 0;
  constructor(public answer: Answer) {}
  export(metrics: ResourceMetrics, done: (r: ExportResult) => void): void {
    this.received.push(metrics);
    if (this.answer === 'hang') return;
    const error = Object.assign(new Error(this.answer === 'unimplemented' ? 'UNIMPLEMENTED' : 'UNAVAILABLE: connection refused'), { code: this.answer === 'unimplemented' ? 12 : 14 });
    setImmediate(() => done(this.answer === 'ok' ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error }));
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }
}

function lines(): { log: { error(m: string): void; warn(m: string): void; info(m: string): void; debug(m: string): void }; seen: string[] } {
  const seen: string[] = [];
  return { seen, log: { error: (m) => seen.push(`error ${m}`), warn: (m) => seen.push(`warn ${m}`), info: (m) => seen.push(`info ${m}`), debug: () => {} } };
}

function twoProcesses(): RedMetrics {
  const red = new RedMetrics({ resourceFor: (i: ProcessInfo) => resourceFromAttributes({ 'process.pid': i.pid }) });
  red.record(exchange({ process: { pid: 1, comm: 'a', exeName: 'a', serviceName: 'a' } }));
  red.record(exchange({ process: { pid: 2, comm: 'b', exeName: 'b', serviceName: 'b' } }));
  return red;
}

test('one export per process each interval, with its own resource; shutdown sends the last values', async () => {
  const red = twoProcesses();
  const exporter = new FakeExporter('ok');
  const { log, seen } = lines();
  const push = new OtlpMetricsPush({ intervalMs: 50, collect: () => red.collect(), log, exporter });
  await sleep(180);
  await push.shutdown();
  const pids = exporter.received.map((r) => r.resource.attributes['process.pid']);
  assert.ok(pids.length >= 4, `exports: ${pids.join(',')}`);
  assert.equal(pids.filter((p) => p === 1).length, pids.filter((p) => p === 2).length);
  assert.equal(exporter.shutdowns, 1);
  assert.deepEqual(seen, []);
  assert.equal(push.stats().failedExports, 0);
});

test('a failing collector: logged once per interval window, never thrown; no final export after a failure', async () => {
  const red = twoProcesses();
  const exporter = new FakeExporter('fail');
  const { log, seen } = lines();
  const push = new OtlpMetricsPush({ intervalMs: 30, collect: () => red.collect(), log, exporter, endpoint: 'http://collector:4317' });
  await sleep(200);
  const before = exporter.received.length;
  await push.shutdown();
  assert.equal(exporter.received.length, before, 'after a failed export the collector is not waited on again');
  assert.equal(seen.length, 1, seen.join('\n'));
  assert.match(seen[0], /^warn RED metrics: cannot export to http:\/\/collector:4317: .*UNAVAILABLE/);
  assert.ok(push.stats().failedExports >= 3);
  assert.equal(exporter.received.length, push.stats().failedExports, 'a failing round stops at its first failure');
});

test('UNIMPLEMENTED: one line, then no more exports', async () => {
  const red = twoProcesses();
  const exporter = new FakeExporter('unimplemented');
  const { log, seen } = lines();
  const push = new OtlpMetricsPush({ intervalMs: 20, collect: () => red.collect(), log, exporter, endpoint: 'http://jaeger:4317' });
  await sleep(150);
  await push.shutdown();
  assert.equal(exporter.received.length, 1);
  assert.deepEqual(seen, ['warn RED metrics off: http://jaeger:4317 does not accept OTLP metrics (UNIMPLEMENTED); spans still go there']);
});

test('a collector that never answers: rounds are skipped while one hangs, and shutdown resolves within its budget', async () => {
  const red = twoProcesses();
  const exporter = new FakeExporter('hang');
  const { log } = lines();
  const push = new OtlpMetricsPush({ intervalMs: 20, collect: () => red.collect(), log, exporter, shutdownTimeoutMs: 300 });
  await sleep(120);
  assert.equal(exporter.received.length, 1, 'one export in flight, the next rounds wait for it');
  assert.ok(push.stats().skippedRounds >= 2);
  // Its timers are unref'd (they never hold the agent): keep this test's loop alive meanwhile.
  const keepAlive = setInterval(() => {}, 1000);
  const t0 = Date.now();
  await push.shutdown();
  const took = Date.now() - t0;
  clearInterval(keepAlive);
  assert.ok(took >= 250 && took < 1000, `shutdown took ${took} ms`);
});

test('a collect() that throws is logged, not thrown', async () => {
  const exporter = new FakeExporter('ok');
  const { log, seen } = lines();
  const push = new OtlpMetricsPush({ intervalMs: 20, collect: () => { throw new Error('boom'); }, log, exporter });
  await sleep(80);
  await push.shutdown();
  assert.equal(exporter.received.length, 0);
  assert.equal(seen.length, 1);
  assert.match(seen[0], /cannot collect: boom/);
});
