// Where spans go: flags > OTEL_* variables > defaults, as src/config/export.ts resolves them.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EXPORT_DEFAULTS } from '../../src/export/config';
import { resolveExportConfig } from '../../src/config/export';
import { readEnvironment } from '../../src/config/environment';
import { UsageError } from '../../src/config/errors';
import { createSpanSink } from '../../src/export/create-sink';
import { ConsoleSpanSink } from '../../src/export/console-sink';
import { OtlpSpanSink } from '../../src/export/otlp-sink';
import { silentLogger } from '../../src/export/types';

const env = (vars: Record<string, string>) => readEnvironment(vars);

test('env: blank means unset; invalid numbers warn and fall back to the default', () => {
  const { config, warnings } = resolveExportConfig({}, env({
    OTEL_EXPORTER_OTLP_ENDPOINT: '   ', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', OTEL_BSP_MAX_QUEUE_SIZE: 'lots', OTEL_BSP_SCHEDULE_DELAY: '250',
    OTEL_BSP_EXPORT_TIMEOUT: '1e3', OTEL_TRACES_EXPORTER: ' OTLP , console',
  }));
  assert.equal(config.mode, 'otlp', 'OTEL_TRACES_EXPORTER=otlp (first supported value), blank endpoints ignored');
  assert.equal(config.endpoint, EXPORT_DEFAULTS.endpoint);
  assert.equal(config.maxQueueSize, EXPORT_DEFAULTS.maxQueueSize);
  assert.equal(config.scheduledDelayMillis, 250);
  assert.equal(config.exportTimeoutMillis, EXPORT_DEFAULTS.exportTimeoutMillis);
  assert.deepEqual(warnings, [
    'OTEL_BSP_MAX_QUEUE_SIZE="lots" is not a positive integer; using the default (8192)',
    'OTEL_BSP_EXPORT_TIMEOUT="1e3" is not a positive integer (milliseconds); using the default (30000)',
  ]);
});

test('no endpoint anywhere → console printing with defaults', () => {
  const { config, warnings } = resolveExportConfig({}, env({}));
  assert.deepEqual(config, {
    mode: 'console', maxQueueSize: 8192, maxExportBatchSize: 512, scheduledDelayMillis: 1000,
    exportTimeoutMillis: EXPORT_DEFAULTS.exportTimeoutMillis, flushTimeoutMillis: EXPORT_DEFAULTS.flushTimeoutMillis,
  });
  assert.deepEqual(warnings, []);
});

test('endpoint precedence: CLI > TRACES_ENDPOINT > ENDPOINT; URL handed to the exporter only from the CLI', () => {
  const e = env({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4317', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://all:4317' });
  const cli = resolveExportConfig({ otlpEndpoint: 'http://cli:4317' }, e).config;
  assert.equal(cli.mode, 'otlp');
  assert.equal(cli.endpoint, 'http://cli:4317');
  assert.equal(cli.endpointSource, '--otlp-endpoint');
  assert.equal(cli.exporterUrl, 'http://cli:4317');
  const traces = resolveExportConfig({}, e).config;
  assert.equal(traces.endpoint, 'http://traces:4317');
  assert.equal(traces.endpointSource, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  assert.equal(traces.exporterUrl, undefined);
  const all = resolveExportConfig({}, env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' })).config;
  assert.equal(all.endpoint, 'http://collector:4317');
  assert.equal(all.endpointSource, 'OTEL_EXPORTER_OTLP_ENDPOINT');
});

test('--print forces console even with an endpoint; OTEL_TRACES_EXPORTER console/none/otlp', () => {
  const e = env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://all:4317' });
  assert.equal(resolveExportConfig({ print: true, otlpEndpoint: 'http://x:4317' }, e).config.mode, 'console');
  assert.equal(resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:1' })).config.mode, 'console');
  assert.equal(resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'none' })).config.mode, 'none');
  const otlp = resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'otlp' })).config;
  assert.equal(otlp.mode, 'otlp');
  assert.equal(otlp.endpoint, 'http://localhost:4317');
  const cliWins = resolveExportConfig({ otlpEndpoint: 'http://c:4317' }, env({ OTEL_TRACES_EXPORTER: 'console' })).config;
  assert.equal(cliWins.mode, 'otlp');
  const { warnings } = resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'zipkin,console' }));
  assert.match(warnings[0], /"zipkin" is not supported/);
});

test('queue options: flag > env > default; batch clamped to queue; http/protobuf warns', () => {
  const e = env({ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' });
  const { config, warnings } = resolveExportConfig({}, e);
  assert.equal(config.maxQueueSize, 100);
  assert.equal(config.maxExportBatchSize, 100);
  assert.equal(warnings.length, 2);
  assert.match(warnings[1], /gRPC only/);
  assert.equal(resolveExportConfig({ maxQueueSize: 50 }, e).config.maxQueueSize, 50);
});

test('invalid endpoints are one usage error naming their source', () => {
  assert.throws(() => resolveExportConfig({ otlpEndpoint: 'ftp://x:21' }, {}), (e: Error) => e instanceof UsageError && /--otlp-endpoint 'ftp:\/\/x:21' uses ftp:/.test(e.message));
  assert.throws(() => resolveExportConfig({ otlpEndpoint: 'http://' }, {}), /--otlp-endpoint 'http:\/\/' is not a valid endpoint/);
  assert.throws(() => resolveExportConfig({}, env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://exa mple:1' })), /OTEL_EXPORTER_OTLP_ENDPOINT/);
  assert.doesNotThrow(() => resolveExportConfig({ otlpEndpoint: 'unix:///run/otel.sock' }, {}));
});

test('an endpoint without a scheme: an error from the flag, a logged interpretation from the environment', () => {
  assert.throws(
    () => resolveExportConfig({ otlpEndpoint: 'localhost:4317' }, {}),
    (e: Error) => e instanceof UsageError &&
      e.message === "--otlp-endpoint 'localhost:4317' has no scheme; write http://localhost:4317 (plaintext) or https://localhost:4317 (TLS)",
  );
  const tls = resolveExportConfig({}, env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }));
  assert.equal(tls.config.endpoint, 'collector:4317');
  assert.deepEqual(tls.notes, [
    "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317 has no scheme: connecting with TLS, as https://collector:4317 (OpenTelemetry's rule); for a plaintext collector write http://collector:4317 or set OTEL_EXPORTER_OTLP_INSECURE=true",
  ]);
  const plain = resolveExportConfig({}, env({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_INSECURE: 'true' }));
  assert.match(plain.notes[0], /without TLS \(OTEL_EXPORTER_OTLP_INSECURE=true\), as http:\/\/collector:4317/);
  assert.deepEqual(resolveExportConfig({}, env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' })).notes, []);
});

test('createSpanSink builds the sink for the mode', async () => {
  const c = createSpanSink(resolveExportConfig({}, {}).config, { logger: silentLogger });
  assert.ok(c instanceof ConsoleSpanSink);
  const o = createSpanSink(resolveExportConfig({ otlpEndpoint: 'http://127.0.0.1:1' }, {}).config, { logger: silentLogger });
  assert.ok(o instanceof OtlpSpanSink);
  await o.shutdown();
  await c.shutdown();
});
