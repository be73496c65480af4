import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EXPORT_DEFAULTS, ExportConfigError, resolveExportConfig } from '../../src/export/config';
import { readExportEnv } from '../../src/export/env';
import { createSpanSink } from '../../src/export/create-sink';
import { ConsoleSpanSink } from '../../src/export/console-sink';
import { OtlpSpanSink } from '../../src/export/otlp-sink';
import { silentLogger } from '../../src/export/types';

const env = (vars: Record<string, string>) => readExportEnv(vars);

test('env: blank means unset; invalid numbers warn and fall back', () => {
  const { env: e, warnings } = readExportEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: '   ', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', OTEL_BSP_MAX_QUEUE_SIZE: 'lots', OTEL_BSP_SCHEDULE_DELAY: '250',
    OTEL_TRACES_EXPORTER: ' OTLP , console',
  });
  assert.equal(e.endpoint, undefined);
  assert.equal(e.tracesEndpoint, undefined);
  assert.equal(e.maxQueueSize, undefined);
  assert.equal(e.scheduledDelayMillis, 250);
  assert.deepEqual(e.tracesExporter, ['otlp', 'console']);
  assert.deepEqual(warnings, ['OTEL_BSP_MAX_QUEUE_SIZE="lots" is not a positive integer; using the default']);
});

test('no endpoint anywhere → console printing with defaults', () => {
  const { config, warnings } = resolveExportConfig({}, env({}).env);
  assert.deepEqual(config, {
    mode: 'console', maxQueueSize: 8192, maxExportBatchSize: 512, scheduledDelayMillis: 1000,
    exportTimeoutMillis: EXPORT_DEFAULTS.exportTimeoutMillis, flushTimeoutMillis: EXPORT_DEFAULTS.flushTimeoutMillis,
  });
  assert.deepEqual(warnings, []);
});

test('endpoint precedence: CLI > TRACES_ENDPOINT > ENDPOINT; URL handed to the exporter only from the CLI', () => {
  const e = env({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4317', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://all:4317' }).env;
  const cli = resolveExportConfig({ otlpEndpoint: 'http://cli:4317' }, e).config;
  assert.equal(cli.mode, 'otlp');
  assert.equal(cli.endpoint, 'http://cli:4317');
  assert.equal(cli.endpointSource, '--otlp-endpoint');
  assert.equal(cli.exporterUrl, 'http://cli:4317');
  const traces = resolveExportConfig({}, e).config;
  assert.equal(traces.endpoint, 'http://traces:4317');
  assert.equal(traces.endpointSource, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  assert.equal(traces.exporterUrl, undefined);
  const all = resolveExportConfig({}, env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }).env).config;
  assert.equal(all.endpoint, 'collector:4317');
  assert.equal(all.endpointSource, 'OTEL_EXPORTER_OTLP_ENDPOINT');
});

test('--print forces console even with an endpoint; OTEL_TRACES_EXPORTER console/none/otlp', () => {
  const e = env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://all:4317' }).env;
  assert.equal(resolveExportConfig({ print: true, otlpEndpoint: 'http://x:4317' }, e).config.mode, 'console');
  assert.equal(resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:1' }).env).config.mode, 'console');
  assert.equal(resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'none' }).env).config.mode, 'none');
  const otlp = resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'otlp' }).env).config;
  assert.equal(otlp.mode, 'otlp');
  assert.equal(otlp.endpoint, 'http://localhost:4317');
  const cliWins = resolveExportConfig({ otlpEndpoint: 'http://c:4317' }, env({ OTEL_TRACES_EXPORTER: 'console' }).env).config;
  assert.equal(cliWins.mode, 'otlp');
  const { warnings } = resolveExportConfig({}, env({ OTEL_TRACES_EXPORTER: 'zipkin,console' }).env);
  assert.match(warnings[0], /"zipkin" is not supported/);
});

test('queue options: CLI > env > default; batch clamped to queue; http/protobuf warns', () => {
  const e = env({ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).env;
  const { config, warnings } = resolveExportConfig({}, e);
  assert.equal(config.maxQueueSize, 100);
  assert.equal(config.maxExportBatchSize, 100);
  assert.equal(warnings.length, 2);
  assert.match(warnings[1], /gRPC only/);
  assert.equal(resolveExportConfig({ maxQueueSize: 50 }, e).config.maxQueueSize, 50);
  assert.throws(() => resolveExportConfig({ maxQueueSize: -1 }, e), ExportConfigError);
});

test('invalid endpoints are one clear error naming their source', () => {
  assert.throws(() => resolveExportConfig({ otlpEndpoint: 'ftp://x:21' }, {}), /--otlp-endpoint "ftp:\/\/x:21" uses ftp:/);
  assert.throws(() => resolveExportConfig({ otlpEndpoint: 'http://' }, {}), /--otlp-endpoint "http:\/\/" is not a valid endpoint/);
  assert.throws(() => resolveExportConfig({}, env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://exa mple:1' }).env), /OTEL_EXPORTER_OTLP_ENDPOINT/);
  assert.doesNotThrow(() => resolveExportConfig({ otlpEndpoint: 'unix:///run/otel.sock' }, {}));
});

test('createSpanSink builds the sink for the mode', async () => {
  const c = createSpanSink(resolveExportConfig({}, {}).config, { logger: silentLogger });
  assert.ok(c instanceof ConsoleSpanSink);
  const o = createSpanSink(resolveExportConfig({ otlpEndpoint: 'http://127.0.0.1:1' }, {}).config, { logger: silentLogger });
  assert.ok(o instanceof OtlpSpanSink);
  await o.shutdown();
  await c.shutdown();
});
