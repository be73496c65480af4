// tlsotel → OpenTelemetry Collector → Jaeger, with the collector configuration that we ship
// (otel-config/collector.yaml, the one examples/docker-compose.yml uses), so the shipped file is
// the tested one. Jaeger v2 is an OpenTelemetry Collector distribution that has every component
// that file uses, so a second Jaeger binary runs it as "the collector"; its ${env:…} variables
// point it at free loopback ports: the agent sends to it, its otlp/jaeger exporter forwards to
// the first Jaeger (otel-config/jaeger.yaml), its otlp/tempo exporter to a test OTLP receiver
// standing in for Tempo. Fails (never skips) without root or without the Jaeger binary.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeCert, requireRoot, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';
import { getFreePort, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver';
import { jaegerBinary, OTEL_CONFIG, startJaeger, startJaegerBinary, type Jaeger } from './jaeger-process';
import { assertExchangeSpans, assertUiTrace, curlOnce, waitForExchange, type Exchange } from './exchange-in-jaeger';
import type { StoredSpan } from './jaeger-query';

let jaeger: Jaeger;
let tempo: OtlpReceiver;
let collector: Proc;
let agent: Proc;
let nginx: Nginx;
const tag = `c${process.pid}`;

before(async () => {
  requireRoot();
  jaegerBinary();
  nginx = await startNginx(makeCert());
  jaeger = await startJaeger();
  tempo = await startOtlpReceiver();
  const grpc = await getFreePort();
  const http = await getFreePort();
  collector = await startJaegerBinary(path.join(OTEL_CONFIG, 'collector.yaml'), {
    COLLECTOR_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
    COLLECTOR_OTLP_HTTP_ENDPOINT: `127.0.0.1:${http}`,
    JAEGER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
    TEMPO_OTLP_ENDPOINT: `127.0.0.1:${tempo.port}`,
    COLLECTOR_METRICS_LEVEL: 'none',
  });
  // Its own metrics every second (not 10 s), for the metrics pipeline's test.
  agent = await startAgent(['--otlp-endpoint', `http://127.0.0.1:${grpc}`], { OTEL_METRIC_EXPORT_INTERVAL: '1000' });
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await collector?.stop('SIGTERM');
  await jaeger?.stop('SIGTERM');
  await tempo?.stop();
});

/** The pipeline's other exporter got the same two spans, ids and parentage unchanged. */
async function assertAtTempo(client: StoredSpan, server: StoredSpan): Promise<void> {
  await tempo.waitFor((spans) => spans.filter((s) => s.spanId === client.spanId || s.spanId === server.spanId).length >= 2, 15_000);
  const c = tempo.spans.find((s) => s.spanId === client.spanId)!;
  const s = tempo.spans.find((s) => s.spanId === server.spanId)!;
  assert.equal(c.traceId, client.traceId);
  assert.equal(s.traceId, client.traceId);
  assert.equal(s.parentSpanId, client.spanId);
  assert.equal(c.kind, 'CLIENT');
  assert.equal(s.kind, 'SERVER');
}

async function check(ex: Exchange): Promise<void> {
  const { client, server, trace } = await waitForExchange(jaeger.queryUrl, ex);
  assertExchangeSpans(ex, client, server, trace);
  await assertUiTrace(jaeger.queryUrl, ex, client, server);
  await assertAtTempo(client, server);
}

test('through the shipped collector config, curl → nginx, 200: one trace in Jaeger (and at "Tempo")', async () => {
  await check(await curlOnce(nginx, `/collector/${tag}/ok`, 200));
});

test('through the shipped collector config, curl → nginx, 404: an error on the CLIENT span only', async () => {
  await check(await curlOnce(nginx, `/status/404?t=${tag}`, 404));
});

test("the agent's own metrics are taken by the shipped config's metrics pipeline, not refused", async () => {
  // The debug exporter logs each batch it got; the agent would warn if the export failed.
  await collector.waitFor(/"otelcol.signal": "metrics"[^\n]*"data points"|"data points"[^\n]*"otelcol.signal": "metrics"/, 'stderr', 20_000);
  assert.doesNotMatch(agent.stderr(), /cannot export/);
});
