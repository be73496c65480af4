// The agent's own counters as OTLP metrics: the mapping from AgentStats (pure), then end to end
// through @opentelemetry/sdk-metrics and the OTLP/gRPC metric exporter to a real gRPC receiver,
// including a collector that is down, comes back, or hangs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { lossCounters, type AgentStats } from '../../src/telemetry/loss-reporter';
import { startAgentMetrics, AGENT_METRICS_DEFAULTS } from '../../src/telemetry/agent-metrics';
import { agentMetricsEnabled, metricsEndpoint, resolveMetricsConfig } from '../../src/config/metrics';
import { readEnvironment } from '../../src/config/environment';
import { AGENT_METRICS } from '../../src/telemetry/instruments';
import { getFreePort, startOtlpReceiver, type ReceivedMetricPoint } from '../helpers/otlp-receiver';
import { recordingLogger } from '../helpers/logger';


/** A full AgentStats whose every counter is a distinct function of n. */
function stats(n: number): AgentStats {
  return {
    capture: {
      bpf: {
        TLS_CNT_EVENTS: BigInt(1000 * n),
        TLS_CNT_RB_DROPS: BigInt(3 * n),
        TLS_CNT_RB_DROP_BYTES: BigInt(4096 * n),
        TLS_CNT_TRUNC_BYTES: BigInt(500 * n),
        TLS_CNT_READ_ERRORS: BigInt(n),
        TLS_CNT_NO_ENTRY: 0n,
        TLS_CNT_CLOSE_DROPS: BigInt(n),
        TLS_CNT_CONNS: BigInt(10 * n),
        TLS_CNT_CONN_DROPS: BigInt(2 * n),
        TLS_CNT_SKIP_BYTES: BigInt(16384 * n),
        TLS_CNT_SKIP_HEADS: BigInt(n),
        TLS_CNT_LATE_CLOSES: BigInt(5 * n),
        TLS_CNT_SKIP_FRAMES: BigInt(6 * n),
        TLS_CNT_H2_LOST: BigInt(7 * n),
        TLS_CNT_PROC_DROPS: BigInt(8 * n),
        TLS_CNT__MAX: 0n,
      },
      streams: {
        connections: 7 + n,
        opened: 20 * n,
        closed: { closed: n, 'process-exited': 0, idle: 0, evicted: 5 * n, 'agent-stopped': 0 },
        gaps: { 'ring-full': 3 * n, truncated: 2 * n, 'not-captured': n, skipped: 0 },
        gapBytes: { 'ring-full': 300 * n, truncated: 200 * n, 'not-captured': 100 * n, skipped: 0 },
        records: 900 * n,
        bytes: 123_456 * n,
        skippedBytes: 16384 * n,
        skips: n,
        owedClosesTaken: 2 * n,
      },
      malformedRecords: n,
      sinkErrors: 2 * n,
      files: 3,
      ringPendingBytes: 64 * n,
    },
    exchanges: {
      exchanges: 50 * n,
      cutShort: {
        'response-timeout': n,
        'invalid-http': 3 * n,
        'closed-mid-message': n,
      },
      unpairedResponses: 4 * n,
      connections: { 'http/1': 11 * n, 'http/2': 12 * n },
      otherProtocolConnections: n,
      parseErrors: { invalid: 3 * n, 'too-large': n, gap: 2 * n, truncated: n },
      undecodableHeaders: 5 * n,
      skipMismatches: n,
      droppedAtStop: 0,
    },
    sink: { exported: 40 * n, dropped: 6 * n, discarded: 0, failed: 7 * n, queued: 9 + n, retries: n },
    buildErrors: n,
  };
}

/** The latest value of each (name, attributes) series. */
function latest(points: ReceivedMetricPoint[]): Map<string, ReceivedMetricPoint> {
  const out = new Map<string, ReceivedMetricPoint>();
  for (const p of points) out.set(key(p.name, p.attributes as Record<string, string>), p);
  return out;
}

function key(name: string, attributes: Record<string, string> = {}): string {
  const attrs = Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`);
  return attrs.length ? `${name}{${attrs.join(',')}}` : name;
}

/** The values the receiver should hold for stats(n), per series. */
function expected(n: number): Map<string, number> {
  const out = new Map<string, number>();
  const s = stats(n);
  for (const spec of AGENT_METRICS) for (const p of spec.points(s)) out.set(key(spec.name, p.attributes), p.value);
  return out;
}

function valueOf(points: ReceivedMetricPoint[], name: string, attributes?: Record<string, string>): number | bigint | undefined {
  return latest(points).get(key(name, attributes))?.value;
}

function assertSeries(points: ReceivedMetricPoint[], n: number): void {
  const got = latest(points);
  for (const [series, value] of expected(n)) {
    assert.equal(got.get(series)?.value, value, `${series} should be ${value}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The mapping alone.

test("src/telemetry/README.md's table lists every agent metric, with its unit, kind and loss counter, and no other", () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'src', 'telemetry', 'README.md'), 'utf8');
  const rows = new Map<string, { upDown: boolean; unit: string; loss: string }>();
  for (const m of readme.matchAll(/^\| `(tlsotel[a-z._]*)`( \(up-down\))? \| `([^`]*)` \|[^|]*\|([^|]*)\|$/gm)) {
    assert.ok(!rows.has(m[1]), `${m[1]} listed once`);
    rows.set(m[1], { upDown: m[2] !== undefined, unit: m[3], loss: m[4].trim() });
  }
  const lines = readme.split('\n').filter((l) => l.startsWith('| `tlsotel')).length;
  assert.equal(rows.size, lines, 'every metric row of the table has the shape `name` (up-down)? | `unit` | attributes | loss counter |');
  for (const spec of AGENT_METRICS) {
    const row = rows.get(spec.name);
    assert.ok(row !== undefined, `${spec.name} is in the README's table`);
    assert.equal(row.unit, spec.unit, `${spec.name}: unit`);
    assert.equal(row.upDown, spec.kind === 'updowncounter', `${spec.name}: (up-down) when it is one`);
    if (spec.lossCounter !== undefined) assert.ok(row.loss.startsWith(spec.lossCounter), `${spec.name}: loss counter "${spec.lossCounter}"`);
    else assert.ok(row.loss === '' || row.loss.startsWith('(not a loss'), `${spec.name}: no loss counter`);
  }
  for (const name of rows.keys()) assert.ok(AGENT_METRICS.some((m) => m.name === name), `${name} in the README is a metric the agent exports`);
});

test('every loss counter of lossCounters() has exactly one metric, with the same total', () => {
  const s = stats(3);
  const losses = lossCounters(s);
  for (const [name, value] of Object.entries(losses)) {
    const specs = AGENT_METRICS.filter((m) => m.lossCounter === name);
    assert.equal(specs.length, 1, `one metric for loss counter "${name}"`);
    let points = specs[0].points(s);
    // lossCounters() leaves 'truncated' parse errors out (they are reported as cut-short exchanges).
    if (name === 'HTTP parse errors') points = points.filter((p) => p.attributes?.reason !== 'truncated');
    assert.equal(points.reduce((a, p) => a + p.value, 0), value, name);
  }
  const names = AGENT_METRICS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, 'metric names are unique');
  for (const m of AGENT_METRICS) {
    assert.match(m.name, /^tlsotel(\.[a-z][a-z_]*)+$/, m.name);
    assert.match(m.unit, /^(By|\{[a-z_]+\})$/, `${m.name} unit ${m.unit}`);
    assert.ok(!m.name.endsWith('_total'), m.name);
  }
  for (const required of [
    'tlsotel.bpf.records', 'tlsotel.bpf.ring_buffer.dropped_records', 'tlsotel.bpf.truncated_bytes',
    'tlsotel.streams.gaps', 'tlsotel.streams.gap_bytes', 'tlsotel.connections.evicted', 'tlsotel.http.parse_errors',
    'tlsotel.exchanges', 'tlsotel.exchanges.cut_short', 'tlsotel.spans.exported', 'tlsotel.spans.dropped',
    'tlsotel.spans.failed', 'tlsotel.spans.queued', 'tlsotel.connections.active',
  ]) {
    assert.ok(names.includes(required), required);
  }
});

test('cut-short reasons are the error kinds\' labels: a small fixed set', () => {
  const cut = AGENT_METRICS.find((m) => m.name === 'tlsotel.exchanges.cut_short')!;
  assert.deepEqual(
    cut.points(stats(1)).map((p) => [p.attributes?.reason, p.value]).sort(),
    [['closed-mid-message', 1], ['invalid-http', 3], ['response-timeout', 1]],
  );
});

test('endpoint and opt-out follow the OTLP environment variables', () => {
  const env = (vars: NodeJS.ProcessEnv) => readEnvironment(vars);
  assert.equal(metricsEndpoint('http://cli:4317', env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4317' })), 'http://cli:4317');
  assert.equal(
    metricsEndpoint(undefined, env({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:4317', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4317' })),
    'http://m:4317',
  );
  assert.equal(metricsEndpoint(undefined, env({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: ' ', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4317' })), 'http://env:4317');
  assert.equal(metricsEndpoint(undefined, env({})), AGENT_METRICS_DEFAULTS.endpoint);
  assert.equal(agentMetricsEnabled(env({})), true);
  assert.equal(agentMetricsEnabled(env({ OTEL_METRICS_EXPORTER: 'otlp' })), true);
  assert.equal(agentMetricsEnabled(env({ OTEL_METRICS_EXPORTER: 'None' })), false);
});

// ---------------------------------------------------------------------------------------------
// End to end.

test('counters arrive at a real OTLP/gRPC receiver: names, units, kinds, values, attributes, resource; one read() per collection', async () => {
  const receiver = await startOtlpReceiver();
  const logger = recordingLogger();
  let n = 1;
  let reads = 0;
  const metrics = startAgentMetrics({ read: () => (reads++, stats(n)), endpointUrl: receiver.url, intervalMs: 200, logger });
  try {
    assert.equal(metrics.intervalMs, 200);
    assert.equal(metrics.endpoint, receiver.url);
    await receiver.waitForMetrics((m) => valueOf(m, 'tlsotel.bpf.records') === 1000, 5000);
    assertSeries(receiver.metrics, 1);

    n = 2; // the counters move: the next collection carries the new values
    await receiver.waitForMetrics((m) => valueOf(m, 'tlsotel.bpf.records') === 2000, 5000);
    assertSeries(receiver.metrics, 2);

    const last = latest(receiver.metrics);
    const counter = last.get('tlsotel.spans.dropped')!;
    assert.equal(counter.type, 'sum');
    assert.equal(counter.monotonic, true);
    assert.equal(counter.temporality, 'CUMULATIVE');
    assert.equal(counter.unit, '{span}');
    assert.equal(typeof counter.value, 'number'); // as_int
    assert.ok(counter.description.length > 0);
    assert.ok(counter.timeUnixNano >= counter.startTimeUnixNano && counter.startTimeUnixNano > 0n);
    const gauge = last.get('tlsotel.connections.active')!;
    assert.equal(gauge.type, 'sum');
    assert.equal(gauge.monotonic, false);
    assert.equal(gauge.value, 9);
    assert.equal(last.get('tlsotel.spans.queued')!.value, 11);
    assert.equal(last.get('tlsotel.bpf.truncated_bytes')!.unit, 'By');
    assert.equal(valueOf(receiver.metrics, 'tlsotel.streams.gaps', { reason: 'ring-full' }), 6);
    assert.equal(valueOf(receiver.metrics, 'tlsotel.streams.gap_bytes', { reason: 'not-captured' }), 200);
    assert.equal(valueOf(receiver.metrics, 'tlsotel.http.parse_errors', { reason: 'too-large' }), 2);
    assert.equal(valueOf(receiver.metrics, 'tlsotel.exchanges.cut_short', { reason: 'invalid-http' }), 6);
    assert.equal(valueOf(receiver.metrics, 'tlsotel.bpf.ring_buffer.dropped_records'), 8);

    assert.equal(counter.resource['service.name'], 'tlsotel');
    assert.equal(counter.resource['host.name'], os.hostname());
    assert.equal(counter.resource['process.pid'], process.pid);
    assert.equal(typeof counter.resource['service.version'], 'string');
    assert.equal(counter.scope.name, 'tlsotel');
    for (const r of receiver.metricResources) assert.equal(r['service.name'], 'tlsotel');
    assert.deepEqual(receiver.spans, [], 'metrics are not counted as spans');

    // At shutdown the capture has stopped: its BPF counters read 0 and nothing is active. The
    // final export holds every counter at its highest value; current amounts drop.
    n = 0;
    const requests = receiver.metricRequests.length;
    await metrics.shutdown();
    assert.ok(receiver.metricRequests.length > requests, 'the final export');
    const final = receiver.metrics.filter((p) => p.timeUnixNano === receiver.metrics.at(-1)!.timeUnixNano);
    assert.equal(valueOf(final, 'tlsotel.bpf.records'), 2000);
    assert.equal(valueOf(final, 'tlsotel.streams.gaps', { reason: 'ring-full' }), 6);
    assert.equal(valueOf(final, 'tlsotel.spans.exported'), 80);
    assert.equal(valueOf(final, 'tlsotel.connections.active'), 7);
    assert.equal(valueOf(final, 'tlsotel.spans.queued'), 9);
  } finally {
    await metrics.shutdown();
    await receiver.stop();
  }
  // Each collection read the stats once, for all instruments; each produced one request.
  assert.ok(reads >= 2);
  assert.equal(reads, receiver.metricRequests.length);
  assert.deepEqual(logger.lines.filter((l) => l.startsWith('warn') || l.startsWith('error')), []);
});

test('shutdown() exports the last values, once, and reads nothing afterwards', async () => {
  const receiver = await startOtlpReceiver();
  let n = 1;
  let reads = 0;
  const metrics = startAgentMetrics({ read: () => (reads++, stats(n)), endpointUrl: receiver.url, intervalMs: 60_000 });
  try {
    n = 5;
    const started = Date.now();
    await metrics.shutdown();
    assert.ok(Date.now() - started < 2000);
    assert.equal(receiver.metricRequests.length, 1, 'only the final export (the interval is a minute)');
    assertSeries(receiver.metrics, 5);
    await metrics.shutdown(); // again: same promise, nothing more
    n = 6;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(reads, 1);
    assert.equal(receiver.metricRequests.length, 1);
  } finally {
    await receiver.stop();
  }
});

test('without a URL the exporter takes OTEL_EXPORTER_OTLP_METRICS_ENDPOINT; OTEL_METRIC_EXPORT_INTERVAL sets the period', async () => {
  const receiver = await startOtlpReceiver();
  const saved = { m: process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT };
  process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = receiver.url;
  const logger = recordingLogger();
  let metrics;
  try {
    const otlp = { mode: 'otlp' as const, maxQueueSize: 1, maxExportBatchSize: 1, scheduledDelayMillis: 1, exportTimeoutMillis: 1, flushTimeoutMillis: 1 };
    const settings = resolveMetricsConfig(otlp, readEnvironment({ ...process.env, OTEL_METRIC_EXPORT_INTERVAL: '150' }), []);
    assert.ok(settings);
    assert.equal(settings.endpointUrl, undefined, 'the exporter reads the endpoint variables itself');
    metrics = startAgentMetrics({ ...settings, read: () => stats(1), logger });
  } finally {
    if (saved.m === undefined) delete process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = saved.m;
  }
  try {
    assert.equal(metrics.intervalMs, 150);
    assert.equal(metrics.endpoint, receiver.url);
    await receiver.waitForMetrics((m) => valueOf(m, 'tlsotel.exchanges') === 50, 5000);
    const warnings: string[] = [];
    const otlp = { mode: 'otlp' as const, exporterUrl: receiver.url, maxQueueSize: 1, maxExportBatchSize: 1, scheduledDelayMillis: 1, exportTimeoutMillis: 1, flushTimeoutMillis: 1 };
    const bad = resolveMetricsConfig(otlp, readEnvironment({ OTEL_METRIC_EXPORT_INTERVAL: 'soon' }), warnings);
    assert.equal(bad?.intervalMs, AGENT_METRICS_DEFAULTS.intervalMs);
    assert.deepEqual(warnings, ['OTEL_METRIC_EXPORT_INTERVAL="soon" is not a positive integer (milliseconds); using the default (10000)']);
  } finally {
    await metrics.shutdown();
    await receiver.stop();
  }
});

test('no collector listening: nothing throws or goes unhandled, one warning, shutdown within 2 s; exports resume when it comes up', async () => {
  const port = await getFreePort();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  const logger = recordingLogger();
  let reads = 0;
  const metrics = startAgentMetrics({ read: () => (reads++, stats(1)), endpointUrl: `http://127.0.0.1:${port}`, intervalMs: 200, logger });
  let receiver;
  try {
    await new Promise((r) => setTimeout(r, 1200)); // ~6 failed exports
    assert.ok(reads >= 4, `collections went on (${reads})`);
    const warnings = logger.lines.filter((l) => l.startsWith('warn'));
    assert.equal(warnings.length, 1, `logged once, not per attempt: ${warnings.join(' | ')}`);
    assert.match(warnings[0], /agent metrics: cannot export to http:\/\/127\.0\.0\.1:\d+: .*UNAVAILABLE/);
    assert.deepEqual(logger.lines.filter((l) => l.startsWith('error')), []);

    receiver = await startOtlpReceiver({ port }); // the collector comes up
    await receiver.waitForMetrics((m) => valueOf(m, 'tlsotel.bpf.records') === 1000, 8000);
    await new Promise((r) => setTimeout(r, 50)); // the exporter's callback runs after the reply
    assert.ok(logger.lines.some((l) => l.startsWith('info') && l.includes('exporting to') && l.includes('again')), logger.lines.join('\n'));

    await receiver.stop(); // down again, then stop the agent
    receiver = undefined;
    const started = Date.now();
    await metrics.shutdown();
    assert.ok(Date.now() - started < 2000, `shutdown took ${Date.now() - started} ms`);
  } finally {
    await metrics.shutdown();
    await receiver?.stop();
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

test('collector refusing: once an export has failed, shutdown() does not wait on it again', async () => {
  const receiver = await startOtlpReceiver({ mode: 'unavailable' });
  let reads = 0;
  const metrics = startAgentMetrics({ read: () => (reads++, stats(1)), endpointUrl: receiver.url, intervalMs: 200 });
  try {
    while (receiver.metricCalls() < 2) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 20)); // the UNAVAILABLE answer reaches the exporter
    const calls = receiver.metricCalls();
    const readsBefore = reads;
    const started = Date.now();
    await metrics.shutdown();
    assert.ok(Date.now() - started < 100, `shutdown took ${Date.now() - started} ms`);
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(receiver.metricCalls() <= calls + 1, 'no final export (at most one already in flight)');
    assert.equal(reads, readsBefore, 'nothing read after shutdown()');
    assert.deepEqual(receiver.metrics, []);
  } finally {
    await receiver.stop();
  }
});

/** Runs startAgentMetrics in a child process (gRPC keeps a process alive while a call is in
 *  flight, so "exits soon after shutdown()" is only visible from outside); returns how long
 *  shutdown() took and how long the process lived after it. */
async function shutdownInChild(
  url: string,
  o: { intervalMs: number; shutdownAfterMs: number; shutdownTimeoutMs?: number; env?: NodeJS.ProcessEnv },
): Promise<{ shutdownMs: number; heldMs: number }> {
  const script = `
    const { startAgentMetrics } = require(${JSON.stringify(path.join(__dirname, '../../src/telemetry/agent-metrics.js'))});
    const s = JSON.parse(process.argv[1], (k, v) => (k.startsWith('TLS_CNT_') ? BigInt(v) : v));
    const m = startAgentMetrics({ read: () => s, endpointUrl: ${JSON.stringify(url)}, intervalMs: ${o.intervalMs}, shutdownTimeoutMs: ${o.shutdownTimeoutMs ?? 'undefined'} });
    setTimeout(() => {
      const t = Date.now();
      m.shutdown().then(() => {
        const took = Date.now() - t;
        process.stdout.write(String(took));
        process.on('exit', () => process.stdout.write(' ' + (Date.now() - t - took)));
      });
    }, ${o.shutdownAfterMs});
  `;
  const json = JSON.stringify(stats(1), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['-e', script, json], { timeout: 9000, env: { ...process.env, ...o.env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
  const [shutdownMs, heldMs] = out.trim().split(' ').map(Number);
  return { shutdownMs, heldMs };
}

test('a collector that never answers: shutdown() resolves within 2 s and nothing holds the process afterwards', async () => {
  const receiver = await startOtlpReceiver({ mode: 'hang' });
  try {
    const [finalOnly, inFlight] = await Promise.all([
      // The final export hangs.
      shutdownInChild(receiver.url, { intervalMs: 60_000, shutdownAfterMs: 0 }),
      // A periodic export is in flight when shutdown starts, with a 60 s OTLP timeout configured
      // (and a 1 s shutdown budget, to keep the test short: the interval must exceed it).
      shutdownInChild(receiver.url, {
        intervalMs: 1200, shutdownAfterMs: 1400, shutdownTimeoutMs: 1000, env: { OTEL_EXPORTER_OTLP_TIMEOUT: '60000' },
      }),
    ]);
    assert.ok(finalOnly.shutdownMs < 2050, `shutdown took ${finalOnly.shutdownMs} ms`);
    assert.ok(inFlight.shutdownMs < 1050, `shutdown took ${inFlight.shutdownMs} ms`);
    for (const r of [finalOnly, inFlight]) {
      assert.ok(r.heldMs < 300, `the process stayed alive ${r.heldMs} ms after shutdown()`);
    }
    // The first child's final export, the second's periodic one (its final export would have
    // outlasted the budget, so it was not sent).
    assert.equal(receiver.metricCalls(), 2);
  } finally {
    await receiver.stop();
  }
});

test('read() failing: logged once, nothing observed, no crash; the next collection works', async () => {
  const receiver = await startOtlpReceiver();
  const logger = recordingLogger();
  let fail = true;
  const metrics = startAgentMetrics({
    read: () => {
      if (fail) throw new Error('map lookup failed');
      return stats(1);
    },
    endpointUrl: receiver.url,
    intervalMs: 200,
    logger,
  });
  try {
    await new Promise((r) => setTimeout(r, 700));
    assert.deepEqual(receiver.metrics, []);
    assert.equal(logger.lines.filter((l) => l.includes('cannot read the counters: map lookup failed')).length, 1);
    fail = false;
    await receiver.waitForMetrics((m) => valueOf(m, 'tlsotel.bpf.records') === 1000, 5000);
  } finally {
    await metrics.shutdown();
    await receiver.stop();
  }
  assert.ok(logger.lines.some((l) => l.startsWith('info') && l.includes('reading the counters again')));
});

test('a collector without the metrics service (UNIMPLEMENTED): one line says the metrics are off there, and nothing more is sent', async () => {
  // A real gRPC server with only the trace service: grpc-js answers UNIMPLEMENTED for metrics.
  const receiver = await startOtlpReceiver({ services: ['traces'] });
  const logger = recordingLogger();
  let reads = 0;
  const metrics = startAgentMetrics({ read: () => (reads++, stats(1)), endpointUrl: receiver.url, intervalMs: 100, logger });
  try {
    const deadline = Date.now() + 5000;
    while (!logger.lines.some((l) => l.includes('agent metrics off')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const readsWhenOff = reads;
    await new Promise((r) => setTimeout(r, 800)); // 8 intervals
    const about = logger.lines.filter((l) => l.includes('agent metrics') && !l.startsWith('debug'));
    assert.deepEqual(about, [
      `warn agent metrics off: ${receiver.url} does not accept OTLP metrics (UNIMPLEMENTED); spans still go there, the agent's own counters stay in this log`,
    ]);
    assert.ok(reads <= readsWhenOff + 1, `collections stopped (${readsWhenOff} then ${reads})`);
    const t0 = Date.now();
    await metrics.shutdown();
    assert.ok(Date.now() - t0 < 500, 'shutdown does not try a final export');
    assert.equal(reads, readsWhenOff + (reads > readsWhenOff ? 1 : 0));
  } finally {
    await metrics.shutdown();
    await receiver.stop();
  }
});
