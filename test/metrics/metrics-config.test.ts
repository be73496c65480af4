// The RED metrics' and the sampler's configuration as `run` resolves it: flags, OTEL_* variables
// (OTEL_METRICS_EXPORTER, OTEL_TRACES_SAMPLER[_ARG]), defaults, and what a bad value does.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { resolveRunConfig, type HostView } from '../../src/config/commands';
import { UsageError } from '../../src/config/errors';
import { RED_METRICS_DEFAULTS } from '../../src/metrics/red-metrics';

const host: HostView = { processExists: () => true, threadNames: () => new Set() };
const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);

test('no collector: the per-route table on stdout; with one: OTLP with the agent metrics settings; none: off', () => {
  const table = resolveRunConfig({}, {}, host).config.red;
  assert.deepEqual(table, { limits: { ...RED_METRICS_DEFAULTS }, table: { intervalMs: 10_000 } });
  const otlp = resolveRunConfig({ 'otlp-endpoint': 'http://127.0.0.1:4317' }, { OTEL_METRIC_EXPORT_INTERVAL: '2000' }, host).config;
  assert.equal(otlp.red?.table, undefined);
  assert.deepEqual(otlp.red?.otlp, otlp.metrics, 'same collector and period as the agent metrics');
  assert.equal(otlp.red?.otlp?.intervalMs, 2000);
  assert.equal(resolveRunConfig({ 'otlp-endpoint': 'http://127.0.0.1:4317' }, { OTEL_METRICS_EXPORTER: 'none' }, host).config.red, undefined);
  assert.equal(resolveRunConfig({}, { OTEL_METRICS_EXPORTER: 'none' }, host).config.red, undefined);
  const both = resolveRunConfig({ 'otlp-endpoint': 'http://127.0.0.1:4317' }, { OTEL_METRICS_EXPORTER: 'otlp,console' }, host).config.red;
  assert.ok(both?.otlp !== undefined && both.table !== undefined, 'console asked for beside otlp');
});

test('Prometheus: --prometheus-port, or OTEL_METRICS_EXPORTER=prometheus on 9464; limits from flags', () => {
  const r = resolveRunConfig({ 'prometheus-port': '9999', 'metrics-max-routes': '7', 'metrics-max-series': '70', 'metrics-process-ttl': '30s' }, { OTEL_METRICS_EXPORTER: 'none' }, host).config.red;
  assert.deepEqual(r, { limits: { maxRoutesPerService: 7, maxSeriesPerMetric: 70, processTtlMs: 30_000 }, prometheus: { port: 9999 } });
  const env = resolveRunConfig({ 'otlp-endpoint': 'http://127.0.0.1:4317' }, { OTEL_METRICS_EXPORTER: 'prometheus' }, host).config.red;
  assert.deepEqual(env?.prometheus, { port: 9464 });
  assert.equal(env?.otlp, undefined, 'prometheus alone: no OTLP');
  assert.throws(() => resolveRunConfig({ 'prometheus-port': '70000' }, {}, host), usage(/^--prometheus-port expects an integer from 1 to 65535/));
  assert.throws(() => resolveRunConfig({ 'metrics-max-series': '0' }, {}, host), usage(/^--metrics-max-series/));
  const w = resolveRunConfig({}, { OTEL_METRICS_EXPORTER: 'statsd' }, host).warnings;
  assert.ok(w.some((m) => /unknown exporter "statsd"/.test(m)), w.join('\n'));
});

test('sampling: OTEL_TRACES_SAMPLER and _ARG, --keep-errors, --keep-slower-than; unset keeps every span', () => {
  assert.equal(resolveRunConfig({}, {}, host).config.sampling, undefined);
  assert.deepEqual(resolveRunConfig({ 'keep-errors': true, 'keep-slower-than': '250ms' }, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }, host).config.sampling, {
    sampler: 'traceidratio', ratio: 0.1, keepErrors: true, keepSlowerThanMs: 250,
  });
  assert.deepEqual(resolveRunConfig({}, { OTEL_TRACES_SAMPLER: 'ParentBased_Always_Off' }, host).config.sampling, { sampler: 'parentbased_always_off', ratio: 1, keepErrors: false });
  const bad = resolveRunConfig({}, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, host);
  assert.equal(bad.config.sampling?.ratio, 1);
  assert.ok(bad.warnings.some((m) => /OTEL_TRACES_SAMPLER_ARG="1.5" is not a ratio from 0 to 1/.test(m)));
  const unknown = resolveRunConfig({}, { OTEL_TRACES_SAMPLER: 'jaeger_remote' }, host);
  assert.equal(unknown.config.sampling, undefined);
  assert.ok(unknown.warnings.some((m) => /OTEL_TRACES_SAMPLER="jaeger_remote" is not one of/.test(m)));
  const alone = resolveRunConfig({ 'keep-errors': true }, {}, host);
  assert.equal(alone.config.sampling, undefined);
  assert.ok(alone.warnings.some((m) => /act only with a sampler/.test(m)));
  assert.throws(() => resolveRunConfig({ 'keep-slower-than': 'fast' }, { OTEL_TRACES_SAMPLER: 'always_off' }, host), usage(/^--keep-slower-than expects a duration/));
});
