// One resolved configuration per command: flags > environment > defaults, every flag checked at
// start with an error naming it, the environment read in one place.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveDoctorConfig, resolveRunConfig, resolveSniffConfig, type HostView } from '../../src/config/commands';
import { readEnvironment, ENV_VARS } from '../../src/config/environment';
import { UsageError } from '../../src/config/errors';
import { duration, fromEnv, fromFlag, integer, size } from '../../src/config/values';
import { PROBE_DEFAULTS } from '../../src/bpf/probes';
import { DEFAULT_LIBRARY_ROOTS } from '../../src/discovery/library-roots';
import { AGENT_METRICS_DEFAULTS } from '../../src/telemetry/agent-metrics';
import { DEFAULT_NICE } from '../../src/util/process-priority';

const host: HostView = { processExists: (pid) => pid === 4242, threadNames: () => new Set(['curl', 'nginx']) };
const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);

test('the one validation helper: a bad flag throws naming the flag, a bad variable warns and falls back', () => {
  assert.equal(fromFlag(integer(1, 16), 'capture-segments', '16'), 16);
  assert.equal(fromFlag(integer(1, 16), 'capture-segments', undefined), undefined);
  for (const bad of ['17', '0', '1.5', '1e1', '0x10', '', ' ', '8abc']) {
    assert.throws(() => fromFlag(integer(1, 16), 'capture-segments', bad), usage(/^--capture-segments expects an integer from 1 to 16, got '/), bad);
  }
  const warnings: string[] = [];
  assert.equal(fromEnv(integer(1, 10), 'X', ' 7 ', warnings), 7);
  assert.equal(fromEnv(integer(1, 10), 'X', '   ', warnings), undefined, 'blank is unset, no warning');
  assert.equal(fromEnv(integer(1, 10), 'X', 'eleven', warnings, 5), undefined);
  assert.deepEqual(warnings, ['X="eleven" is not an integer from 1 to 10; using the default (5)']);
  assert.equal(duration.parse('1.5s'), 1500);
  assert.equal(duration.parse('250ms'), 250);
  assert.equal(duration.parse('0s'), undefined);
  const ring = size({ min: 4096, max: 1024 ** 3, powerOfTwo: true });
  assert.equal(ring.parse('8M'), 8 * 1024 * 1024);
  assert.equal(ring.parse('64KiB'), 65536);
  assert.equal(ring.parse('3M'), undefined, 'not a power of two');
  assert.equal(ring.parse('2048'), undefined, 'below a page');
  assert.equal(ring.parse('2G'), undefined, 'above 1 GiB');
});

test('readEnvironment is the one reader: known variables only, blank is unset, values trimmed', () => {
  const e = readEnvironment({ OTEL_BSP_MAX_QUEUE_SIZE: ' 10 ', OTEL_TRACES_EXPORTER: '', UNRELATED: 'x', TLSOTEL_DEBUG: '1' });
  assert.deepEqual({ ...e }, { OTEL_BSP_MAX_QUEUE_SIZE: '10', TLSOTEL_DEBUG: '1' });
  assert.ok(Object.isFrozen(e));
  assert.ok(ENV_VARS.includes('TLSOTEL_CPU_PROFILE'));
});

test('only src/config reads process.env', () => {
  const src = path.resolve(__dirname, '../../../src');
  const hits = execFileSync('grep', ['-rln', '--include=*.ts', 'process\\.env', src], { encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.deepEqual(hits.map((h) => path.relative(src, h)), ['config/environment.ts']);
  assert.ok(fs.existsSync(path.join(src, 'config/environment.ts')));
});

test('run: defaults, fully resolved', () => {
  const { config, warnings, notes } = resolveRunConfig({}, readEnvironment({ PATH: '/opt/bin:relative:/usr/bin' }), host);
  assert.deepEqual(warnings, []);
  assert.deepEqual(notes, []);
  assert.equal(config.export.mode, 'console');
  assert.equal(config.metrics, undefined, 'no collector: no metrics');
  assert.equal(config.captureBytes, PROBE_DEFAULTS.captureBytes);
  assert.equal(config.maxSegments, PROBE_DEFAULTS.maxSegments);
  assert.equal(config.ringBufferBytes, PROBE_DEFAULTS.ringBufferBytes);
  assert.equal(config.responseTimeoutMs, 60_000);
  assert.equal(config.statsIntervalMs, 10_000);
  assert.equal(config.stitch, true);
  assert.deepEqual(config.redaction, { allowSensitive: false, redactUrls: true });
  assert.deepEqual(config.binDirs, ['/opt/bin', '/usr/bin', '/usr/local/bin']);
  assert.equal(config.verbose, false);
  assert.equal(config.debug, false);
  assert.equal(config.cpuProfile, undefined);
  assert.equal(config.nice, DEFAULT_NICE);
  assert.equal(DEFAULT_NICE, 0, 'the priority is left as it is unless asked (bench/README.md: what was tried)');
});

test('run --nice: 0 (unchanged) to 19, anything else is a usage error naming the flag', () => {
  const env = readEnvironment({});
  assert.equal(resolveRunConfig({ nice: '0' }, env, host).config.nice, 0);
  assert.equal(resolveRunConfig({ nice: '19' }, env, host).config.nice, 19);
  for (const bad of ['20', '-1', '5.5', 'low', '']) {
    assert.throws(() => resolveRunConfig({ nice: bad }, env, host), usage(/^--nice expects an integer from 0 to 19, got '/), bad);
  }
});

test('run --cpu-yield: 200us by default, "off" (0) or 50us..10ms, anything else is a usage error naming the flag', () => {
  const env = readEnvironment({});
  assert.equal(resolveRunConfig({}, env, host).config.cpuYieldUs, 200);
  assert.equal(resolveRunConfig({ 'cpu-yield': 'off' }, env, host).config.cpuYieldUs, 0);
  assert.equal(resolveRunConfig({ 'cpu-yield': '50us' }, env, host).config.cpuYieldUs, 50);
  assert.equal(resolveRunConfig({ 'cpu-yield': '1ms' }, env, host).config.cpuYieldUs, 1000);
  for (const bad of ['49us', '11ms', '0', 'never', '']) {
    assert.throws(() => resolveRunConfig({ 'cpu-yield': bad }, env, host), usage(/^--cpu-yield expects "off" or a duration from 50us to 10ms, like 200us, got '/), bad);
  }
});

test('run: flags and variables of every stage', () => {
  const env = readEnvironment({
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4317', OTEL_METRIC_EXPORT_INTERVAL: '500', OTEL_EXPORTER_OTLP_TIMEOUT: '700',
    TLSOTEL_CPU_PROFILE: '/tmp/p.cpuprofile', TLSOTEL_DEBUG: '1',
  });
  const { config } = resolveRunConfig({
    pid: '4242', comm: 'curl', 'capture-bytes': '4096', 'capture-segments': '2', 'ring-buffer-size': '1M', 'max-queue-size': '64',
    'response-timeout': '5s', 'stats-interval': '250ms', 'no-stitch': true, 'no-redaction': true,
    'capture-request-headers': 'X-A, x-b,', verbose: true, 'keep-bodies': true, 'hold-new-programs': true,
  }, env, host);
  assert.equal(config.pid, 4242);
  assert.deepEqual(config.comms, ['curl']);
  assert.equal(config.captureBytes, 4096);
  assert.equal(config.maxSegments, 2);
  assert.equal(config.ringBufferBytes, 1024 * 1024);
  assert.equal(config.skipBodiesFrom, 0, '--keep-bodies: nothing skipped');
  assert.equal(resolveRunConfig({}, env, host).config.skipBodiesFrom, PROBE_DEFAULTS.skipBodiesFrom);
  assert.equal(config.holdNewFiles, true, '--hold-new-programs');
  assert.equal(resolveRunConfig({}, env, host).config.holdNewFiles, false, 'no program held by default');
  assert.equal(resolveSniffConfig({ 'hold-new-programs': true }, env, host).config.holdNewFiles, true, 'sniff too');
  assert.equal(config.export.maxQueueSize, 64);
  assert.equal(config.export.endpoint, 'http://traces:4317');
  assert.deepEqual(config.metrics, { endpoint: 'http://traces:4317', endpointUrl: 'http://traces:4317', intervalMs: 500, exportTimeoutMs: AGENT_METRICS_DEFAULTS.exportTimeoutMs, callTimeoutMs: 700 });
  assert.equal(config.responseTimeoutMs, 5000);
  assert.equal(config.statsIntervalMs, 250);
  assert.equal(config.stitch, false);
  assert.deepEqual(config.redaction, { allowSensitive: true, redactUrls: false, captureRequestHeaders: ['X-A', 'x-b'] });
  assert.equal(config.verbose, true);
  assert.equal(config.debug, true);
  assert.equal(config.cpuProfile, '/tmp/p.cpuprofile');
  const off = resolveRunConfig({ 'otlp-endpoint': 'http://c:4317' }, readEnvironment({ OTEL_METRICS_EXPORTER: 'none' }), host).config;
  assert.equal(off.export.mode, 'otlp');
  assert.equal(off.metrics, undefined);
});

test('bad flag values stop at start, naming the flag', () => {
  const env = readEnvironment({});
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'ring-buffer-size': '3M' }, /^--ring-buffer-size expects a power of two from 4k to 1G, like 8M or 65536, got '3M'$/],
    [{ 'capture-bytes': '99999' }, /^--capture-bytes expects an integer from 1 to 16384, got '99999'$/],
    [{ 'max-queue-size': '0' }, /^--max-queue-size expects an integer from 1 to 10000000/],
    [{ 'response-timeout': 'soon' }, /^--response-timeout expects a duration like 30s or 500ms, got 'soon'$/],
    [{ pid: '12x' }, /^--pid expects an integer from 1 to 4194304/],
    [{ pid: '4243' }, /^--pid 4243: no process 4243/],
    [{ comm: 'a-very-long-process-name' }, /^--comm expects 1 to 8 process names separated by commas, each of 1 to 15 bytes \(the kernel keeps a process name's first 15 bytes\), got 'a-very-long-process-name'$/],
    [{ comm: 'a,b,c,d,e,f,g,h,i' }, /^--comm expects 1 to 8 process names/],
    [{ comm: 'curl,,nginx' }, /^--comm expects 1 to 8 process names/],
  ];
  for (const [flags, re] of cases) {
    assert.throws(() => resolveRunConfig(flags, env, host), usage(re), JSON.stringify(flags));
    if (!('max-queue-size' in flags) && !('response-timeout' in flags)) assert.throws(() => resolveSniffConfig(flags, env, host), usage(re));
  }
  assert.deepEqual(resolveRunConfig({ comm: 'exactly15chars_' }, env, host).config.comms, ['exactly15chars_']);
  // Several names; one not running now is said (not an error: it may start later).
  const several = resolveRunConfig({ comm: 'curl, nginx,curl,myapp' }, env, host);
  assert.deepEqual(several.config.comms, ['curl', 'nginx', 'myapp']);
  assert.ok(several.warnings.some((w) => /^--comm: no thread is named 'myapp' now/.test(w)), several.warnings.join('\n'));
  assert.ok(!resolveRunConfig({ comm: 'curl,nginx' }, env, host).warnings.some((w) => w.startsWith('--comm')));
  assert.throws(() => resolveRunConfig({ comm: 'éééééééé' }, env, host), usage(/^--comm expects/), '8 characters, 16 bytes');
});

test('sniff and doctor', () => {
  const s = resolveSniffConfig({ 'preview-bytes': '10' }, readEnvironment({ PATH: '/x' }), host).config;
  assert.equal(s.previewBytes, 10);
  assert.deepEqual(s.binDirs, ['/x', '/usr/bin', '/usr/local/bin']);
  assert.equal(resolveSniffConfig({}, readEnvironment({}), host).config.previewBytes, 96);
  const d = resolveDoctorConfig({ verbose: true }, readEnvironment({ PATH: '/y' })).config;
  assert.deepEqual(d, { verbose: true, debug: false, binDirs: ['/y', '/usr/bin', '/usr/local/bin'], libraryRoots: DEFAULT_LIBRARY_ROOTS });
});

test('--library-roots and TLSOTEL_LIBRARY_ROOTS: flag over variable over the container runtimes\' layer directories; none for no search', () => {
  const run = (flags: Record<string, string>, env: Record<string, string>) => resolveRunConfig(flags, readEnvironment(env), host);
  assert.deepEqual(run({}, {}).config.libraryRoots, DEFAULT_LIBRARY_ROOTS);
  assert.deepEqual(run({}, { TLSOTEL_LIBRARY_ROOTS: '/a, /b/*/c' }).config.libraryRoots, ['/a', '/b/*/c']);
  assert.deepEqual(run({ 'library-roots': '/f' }, { TLSOTEL_LIBRARY_ROOTS: '/a' }).config.libraryRoots, ['/f']);
  assert.deepEqual(run({ 'library-roots': 'none' }, {}).config.libraryRoots, []);
  assert.deepEqual(resolveSniffConfig({ 'library-roots': '/s' }, readEnvironment({}), host).config.libraryRoots, ['/s']);
  assert.deepEqual(resolveDoctorConfig({}, readEnvironment({ TLSOTEL_LIBRARY_ROOTS: 'none' })).config.libraryRoots, []);
  assert.throws(() => run({ 'library-roots': 'relative/dir' }, {}), (e: Error) => e instanceof UsageError && /--library-roots expects absolute directories/.test(e.message));
  const bad = run({}, { TLSOTEL_LIBRARY_ROOTS: 'x' });
  assert.deepEqual(bad.config.libraryRoots, DEFAULT_LIBRARY_ROOTS);
  assert.ok(bad.warnings.some((w) => /TLSOTEL_LIBRARY_ROOTS="x"/.test(w)), bad.warnings.join());
});
