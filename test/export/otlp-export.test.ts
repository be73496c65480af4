// End to end: Exchange → SpanBuilder → OtlpSpanSink → OTLP/gRPC exporter → real gRPC receiver.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanBuilder } from '../../src/trace/span-builder';
import { ResourceFactory } from '../../src/trace/resource';
import { OtlpSpanSink } from '../../src/export/otlp-sink';
import { createOtlpTransport, createSpanSink } from '../../src/export/create-sink';
import { OtlpGrpcTraceTransport } from '../../src/export/otlp-transport';
import { resolveExportConfig } from '../../src/config/export';
import { getFreePort, startOtlpReceiver } from '../helpers/otlp-receiver';
import { CLIENT_ATTRIBUTES, NGINX, exchange, response } from '../trace/fixtures';
import { recordingLogger } from '../helpers/logger';
import { ErrorKind } from '../../src/exchange/error-kind';


const builder = new SpanBuilder({ resourceFor: (i) => resources.resourceFor(i) });
const resources = new ResourceFactory({ hostName: 'test-host' });

test('spans arrive at a real OTLP/gRPC receiver with the DESIGN.md shape; secrets appear nowhere', async () => {
  const receiver = await startOtlpReceiver();
  const logger = recordingLogger();
  const { config } = resolveExportConfig({ otlpEndpoint: receiver.url }, {});
  assert.equal(config.mode, 'otlp');
  const sink = createSpanSink({ ...config, scheduledDelayMillis: 100 }, { logger });
  try {
    const client = builder.build(exchange());
    const server = builder.build(
      exchange({ side: 'server', process: NGINX, response: response(500) }),
      { parent: { traceId: client.spanContext().traceId, spanId: client.spanContext().spanId, traceFlags: 1 } },
    );
    const cut = builder.build(exchange({ response: undefined, error: ErrorKind.ProcessExited }));
    sink.export(client);
    sink.export(server);
    sink.export(cut);
    await receiver.waitFor((s) => s.length >= 3, 5000);
    await sink.forceFlush();
    assert.deepEqual(sink.stats(), { exported: 3, dropped: 0, discarded: 0, failed: 0, queued: 0, retries: 0 });

    const byId = new Map(receiver.spans.map((s) => [s.spanId, s]));
    const c = byId.get(client.spanContext().spanId)!;
    assert.equal(c.name, 'GET /users/{id}');
    assert.equal(c.kind, 'CLIENT');
    assert.equal(c.traceId, client.spanContext().traceId);
    assert.equal(c.parentSpanId, undefined);
    assert.deepEqual(c.status, { code: 'UNSET' });
    assert.deepEqual(c.attributes, CLIENT_ATTRIBUTES);
    const durationNs = c.endTimeUnixNano - c.startTimeUnixNano;
    assert.equal(durationNs, 12_300_000n);
    assert.equal(c.scope.name, 'tlsotel');
    assert.equal(c.resource['service.name'], 'curl');
    assert.equal(c.resource['process.pid'], 1234);
    assert.equal(c.resource['process.executable.path'], '/usr/bin/curl');
    assert.equal(c.resource['host.name'], 'test-host');
    assert.equal(c.resource['telemetry.distro.name'], 'tlsotel');

    const s = byId.get(server.spanContext().spanId)!;
    assert.equal(s.kind, 'SERVER');
    assert.equal(s.traceId, c.traceId);
    assert.equal(s.parentSpanId, c.spanId);
    assert.equal(s.status.code, 'ERROR');
    assert.equal(s.attributes['error.type'], '500');
    assert.equal(s.attributes['client.address'], '93.184.216.34');
    assert.equal(s.resource['service.name'], 'nginx');

    const x = byId.get(cut.spanContext().spanId)!;
    assert.deepEqual(x.status, { code: 'ERROR', message: 'process exited' });
    assert.equal(x.attributes['error.type'], 'process_exited');

    // Start times are wall clock: within a day of now.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    assert.ok(c.startTimeUnixNano > nowNs - 86_400_000_000_000n && c.startTimeUnixNano < nowNs + 60_000_000_000n);

    const raw = receiver.rawBytes();
    assert.ok(raw.length > 0);
    for (const secret of ['token=abc', 's3cr3t-bearer', 'Bearer', 'cookie-secret', 'abc&page']) {
      assert.equal(raw.includes(secret), false, `"${secret}" must not be exported`);
    }
  } finally {
    await sink.shutdown();
    await receiver.stop();
  }
});

function exportOnce(exporter: SpanExporter | OtlpGrpcTraceTransport, spans: ReadableSpan[]): Promise<ExportResult> {
  if (exporter instanceof OtlpGrpcTraceTransport) return new Promise((resolve) => exporter.export(exporter.seal(spans), resolve));
  return new Promise((resolve) => exporter.export(spans, resolve));
}

/** The agent's transport, as create-sink builds it, with an explicit config (tests). */
function agentTransport(config: ConstructorParameters<typeof OtlpGrpcTraceTransport>[0]): OtlpGrpcTraceTransport {
  return new OtlpGrpcTraceTransport(config);
}

test("the agent's exporter puts the SDK exporter's bytes and metadata on the wire, environment honoured", async () => {
  const receiver = await startOtlpReceiver();
  const saved = { endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, headers: process.env.OTEL_EXPORTER_OTLP_HEADERS };
  try {
    const spans = [
      builder.build(exchange()),
      builder.build(exchange({ side: 'server', process: NGINX, response: response(503) }), {
        parent: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, traceState: 'rojo=1' },
      }),
      builder.build(exchange({ response: undefined, error: ErrorKind.StreamReset })),
    ];
    const ours = createOtlpTransport({ exporterUrl: receiver.url });
    const sdk = new OTLPTraceExporter({ url: receiver.url });
    assert.deepEqual(await exportOnce(ours, spans), { code: ExportResultCode.SUCCESS });
    assert.deepEqual(await exportOnce(sdk, spans), { code: ExportResultCode.SUCCESS });
    assert.equal(receiver.requests.length, 2);
    assert.ok(receiver.requests[0].equals(receiver.requests[1]), 'same request bytes as OTLPTraceExporter');
    assert.ok(receiver.requests[0].equals(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans as never)!)));
    assert.deepEqual(receiver.metadata[0].get('user-agent'), receiver.metadata[1].get('user-agent'));
    assert.deepEqual(receiver.spans.slice(0, 3).map((s) => s.name), spans.map((s) => s.name));
    await ours.shutdown();
    await sdk.shutdown();

    // Endpoint and headers from the environment, read by the SDK's configuration code.
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-tenant=acme';
    const fromEnv = createOtlpTransport({});
    assert.deepEqual(await exportOnce(fromEnv, spans.slice(0, 1)), { code: ExportResultCode.SUCCESS });
    assert.deepEqual(receiver.metadata[2].get('x-tenant'), ['acme']);
    await fromEnv.shutdown();
  } finally {
    restoreEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', saved.endpoint);
    restoreEnv('OTEL_EXPORTER_OTLP_HEADERS', saved.headers);
    await receiver.stop();
  }
});

test('collector down at start, up ~3 s later on the same port: spans made in between arrive', async () => {
  const port = await getFreePort();
  const logger = recordingLogger();
  const exporter = agentTransport({ url: `http://127.0.0.1:${port}`, timeoutMillis: 2000 });
  const sink = new OtlpSpanSink(exporter, {
    scheduledDelayMillis: 100, retryInitialBackoffMillis: 200, retryMaxBackoffMillis: 1000, logger, destination: `127.0.0.1:${port}`,
  });
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
  try {
    const made: string[] = [];
    const produce = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const span = builder.build(exchange());
        made.push(span.spanContext().spanId);
        sink.export(span);
      }
    };
    produce(50);
    await sleep(1500);
    produce(50);
    assert.ok(sink.stats().retries >= 1, 'export failed and was kept for retry');
    assert.equal(sink.stats().queued, 100);
    await sleep(1500);
    receiver = await startOtlpReceiver({ port });
    produce(20);
    const r = receiver;
    await r.waitFor((spans) => spans.length >= made.length, 10_000);
    await sink.forceFlush();
    const got = new Set(r.spans.map((s) => s.spanId));
    assert.ok(made.every((id) => got.has(id)), 'every span made while the collector was down arrived');
    const st = sink.stats();
    assert.equal(st.exported, 120);
    assert.equal(st.dropped, 0);
    assert.equal(st.failed, 0);
    assert.ok(logger.lines.some((l) => l.startsWith('warn OTLP export') && l.includes('UNAVAILABLE')), logger.lines.join('\n'));
    assert.ok(logger.lines.some((l) => l.includes('works again')), logger.lines.join('\n'));
  } finally {
    await sink.shutdown();
    await receiver?.stop();
  }
});

test('queue bound: overflow is dropped and counted, logged once, nothing blocks', async () => {
  const port = await getFreePort(); // nobody listens
  const logger = recordingLogger();
  const exporter = agentTransport({ url: `http://127.0.0.1:${port}`, timeoutMillis: 500 });
  const sink = new OtlpSpanSink(exporter, { maxQueueSize: 100, maxExportBatchSize: 20, scheduledDelayMillis: 50, logger, flushTimeoutMillis: 300 });
  const span = builder.build(exchange());
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) sink.export(span);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 50, `export() of 1000 spans took ${ms} ms`);
  const st = sink.stats();
  assert.equal(st.dropped, 900);
  assert.equal(st.queued, 100);
  await sleep(300);
  for (let i = 0; i < 10; i++) sink.export(span);
  assert.equal(sink.stats().dropped, 910);
  const dropLogs = logger.lines.filter((l) => l.includes('dropped'));
  assert.equal(dropLogs.length, 1, logger.lines.join('\n'));
  assert.match(dropLogs[0], /dropped 900 spans: export queue full \(100 spans\)/);
  await sink.shutdown();
  const end = sink.stats();
  assert.equal(end.failed + end.exported, 100);
  assert.equal(end.queued, 0);
  sink.export(span);
  assert.equal(sink.stats().dropped, 911, 'after shutdown spans are counted as dropped');
});

test('a hung collector: forceFlush and shutdown resolve by their deadline, never reject', async () => {
  const receiver = await startOtlpReceiver({ mode: 'hang' });
  const exporter = agentTransport({ url: receiver.url, timeoutMillis: 800 });
  const sink = new OtlpSpanSink(exporter, { scheduledDelayMillis: 50, flushTimeoutMillis: 400 });
  try {
    for (let i = 0; i < 10; i++) sink.export(builder.build(exchange()));
    const t0 = Date.now();
    await sink.forceFlush();
    await sink.shutdown();
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
    assert.ok(receiver.calls() >= 1);
  } finally {
    await receiver.stop();
  }
});

test('receiver answering UNAVAILABLE then resuming: spans retried and delivered', async () => {
  const receiver = await startOtlpReceiver({ mode: 'unavailable' });
  const exporter = agentTransport({ url: receiver.url, timeoutMillis: 1000 });
  const sink = new OtlpSpanSink(exporter, { scheduledDelayMillis: 50, retryInitialBackoffMillis: 100, retryMaxBackoffMillis: 300 });
  try {
    for (let i = 0; i < 30; i++) sink.export(builder.build(exchange()));
    await sleep(500);
    assert.ok(receiver.calls() >= 2);
    assert.equal(receiver.spans.length, 0);
    receiver.resume();
    await receiver.waitFor((s) => s.length >= 30, 5000);
    await sink.forceFlush();
    assert.equal(sink.stats().exported, 30);
  } finally {
    await sink.shutdown();
    await receiver.stop();
  }
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
