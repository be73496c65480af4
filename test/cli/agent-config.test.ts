// The agent as a user runs it (real CLI, real BPF, real programs, real gRPC collectors) in the
// configurations that used to fail silently or noisily: spans discarded on purpose reported as
// losses, a second agent exporting everything twice, a self-signed collector certificate, a
// collector without the metrics service. Needs root.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makeCert, requireRoot, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';

let cert: ReturnType<typeof makeCert>;
let server: Proc & { port: number };
const tag = `cfg${process.pid}`;

before(async () => {
  requireRoot();
  cert = makeCert();
  server = await startHttpsServer(cert);
});

after(async () => {
  await server?.stop('SIGKILL');
});

/** One HTTPS request to our server (its SERVER span is the one the agents filter on). */
async function request(path: string): Promise<void> {
  const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${server.port}${path}`]);
  assert.equal((await curl.exited).code, 0);
}

const ours = (path: string) => (s: ReceivedSpan) => s.attributes['url.path'] === path;

test('OTEL_TRACES_EXPORTER=none: spans are discarded and said so, never reported as dropped', async () => {
  const agent = await startAgent(['--pid', String(server.pid), '--stats-interval', '200ms'], { OTEL_TRACES_EXPORTER: 'none' });
  try {
    assert.match(agent.stderr(), /spans discarded \(OTEL_TRACES_EXPORTER=none\)/);
    await request(`/discarded-${tag}`);
    await request(`/discarded-${tag}`);
    await sleep(1500); // the exchanges complete, a few stats intervals pass
    const { code } = await agent.stop('SIGTERM');
    assert.equal(code, 0, agent.stderr());
    const stopped = /stopped: .* (\d+) exchanges, 0 spans exported, 0 not exported, (\d+) discarded \(OTEL_TRACES_EXPORTER=none\)/.exec(agent.stderr());
    assert.ok(stopped, agent.stderr());
    assert.ok(Number(stopped[2]) >= 2 && stopped[2] === stopped[1], agent.stderr());
    assert.doesNotMatch(agent.stderr(), /dropped/);
  } finally {
    await agent.stop('SIGKILL');
  }
});

test('a second agent on the host warns, in one sentence, that everything would be exported twice', async () => {
  const first = await startAgent(['--pid', String(server.pid)], { OTEL_TRACES_EXPORTER: 'none' });
  let second: Proc | undefined;
  try {
    second = await startAgent(['--pid', String(server.pid)], { OTEL_TRACES_EXPORTER: 'none' });
    const warning = second.stderr().split('\n').filter((l) => l.includes('another tlsotel agent'));
    assert.equal(warning.length, 1, second.stderr());
    assert.match(warning[0], /^tlsotel warn: another tlsotel agent \(or sniff\) is running on this host \(BPF program id \d+(, \d+)*\): every exchange it sees will be exported twice unless one of them stops$/);
    // Before `ready`: the warning comes at start.
    assert.ok(second.stderr().indexOf('another tlsotel agent') < second.stderr().indexOf('ready'));
  } finally {
    await second?.stop('SIGKILL');
    await first.stop('SIGKILL');
  }
});

test('a collector with a self-signed certificate: the error says to set OTEL_EXPORTER_OTLP_CERTIFICATE, without noise; setting it works', async () => {
  const receiver = await startOtlpReceiver({ tls: cert });
  const agent = await startAgent(['--pid', String(server.pid), '--otlp-endpoint', receiver.url], { OTEL_METRICS_EXPORTER: 'none' });
  try {
    await request(`/untrusted-${tag}`);
    const line = await agent.waitFor(/^tlsotel warn: OTLP export to .* failed.*$/m, 'stderr', 20_000);
    assert.match(line[0], /self-signed certificate/);
    assert.match(line[0], /set OTEL_EXPORTER_OTLP_CERTIFICATE to the PEM file of the CA \(or the self-signed certificate\) that signed it/);
    assert.doesNotMatch(agent.stderr(), /Resolution note/);
    assert.doesNotMatch(agent.stderr(), /DEP0123|DeprecationWarning/);
  } finally {
    await agent.stop('SIGKILL');
  }
  // The hint is the fix.
  const trusting = await startAgent(['--pid', String(server.pid), '--otlp-endpoint', receiver.url], { OTEL_EXPORTER_OTLP_CERTIFICATE: cert.cert });
  try {
    await request(`/trusted-${tag}`);
    await receiver.waitFor((spans) => spans.some(ours(`/trusted-${tag}`)), 20_000);
    assert.doesNotMatch(trusting.stderr(), /failed|DEP0123|DeprecationWarning/);
  } finally {
    await trusting.stop('SIGKILL');
    await receiver.stop();
  }
});

test('a collector that takes traces but has no metrics service: spans arrive, one line says the agent metrics are off there', async () => {
  const receiver = await startOtlpReceiver({ services: ['traces'] });
  const agent = await startAgent(['--pid', String(server.pid), '--otlp-endpoint', receiver.url], { OTEL_METRIC_EXPORT_INTERVAL: '200' });
  try {
    await request(`/traces-only-${tag}`);
    await receiver.waitFor((spans) => spans.some(ours(`/traces-only-${tag}`)), 20_000);
    await agent.waitFor(/agent metrics off/, 'stderr', 10_000);
    await sleep(1500); // several metric intervals
    const { code } = await agent.stop('SIGTERM');
    assert.equal(code, 0, agent.stderr());
    // One line for the agent's own metrics, one for the RED metrics of the exchanges (src/metrics).
    const lines = agent.stderr().split('\n').filter((l) => l.includes('metrics')).sort();
    assert.deepEqual(lines, [
      `tlsotel warn: RED metrics off: ${receiver.url} does not accept OTLP metrics (UNIMPLEMENTED); spans still go there`,
      `tlsotel warn: agent metrics off: ${receiver.url} does not accept OTLP metrics (UNIMPLEMENTED); spans still go there, the agent's own counters stay in this log`,
    ]);
  } finally {
    await agent.stop('SIGKILL');
    await receiver.stop();
  }
});
