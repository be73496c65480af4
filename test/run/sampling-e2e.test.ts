// Sampling of real, stitched traffic: python → the node example server, both traced on this host,
// 2,000 exchanges on one keep-alive connection, every tenth a 503, with
// OTEL_TRACES_SAMPLER=traceidratio, OTEL_TRACES_SAMPLER_ARG=0.1 and --keep-errors. At the
// receiver: ~10% of the others kept (± sampling error), every 5xx kept, and never a CLIENT span
// without its SERVER span or the reverse. The RED metrics still count all 2,000 (before
// sampling), and the sampled-out spans are counted apart from losses.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedMetricPoint, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, python, requireRoot, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';

let receiver: OtlpReceiver;
let agent: Proc;
let node: Proc & { port: number };
const tag = `smp${process.pid}`;
const N = 2000;

before(async () => {
  requireRoot();
  const cert = makeCert();
  receiver = await startOtlpReceiver();
  node = await startHttpsServer(cert, '127.0.0.1', { ...process.env, OTEL_SERVICE_NAME: `${tag}-node` });
  agent = await startAgent(['--otlp-endpoint', receiver.url, '--keep-errors'], {
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.1',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  });
});

after(async () => {
  await agent?.stop('SIGKILL');
  await node?.stop('SIGKILL');
  await receiver?.stop();
});

const target = (s: ReceivedSpan) => `${String(s.attributes['url.path'])}?${String(s.attributes['url.query'])}`;

test('traceidratio 0.1 with --keep-errors over 2,000 stitched exchanges', async () => {
  const script = `
import http.client, ssl
c = http.client.HTTPSConnection('127.0.0.1', ${node.port}, context=ssl._create_unverified_context())
for i in range(${N}):
    c.request('GET', '/status/503?n=%d' % i if i % 10 == 3 else '/r/x?n=%d' % i); r = c.getresponse(); r.read()
`;
  const py = start(python(), ['-c', script], { env: { ...process.env, OTEL_SERVICE_NAME: `${tag}-py` } });
  assert.equal((await py.exited).code, 0, py.stderr());

  const mine = () => receiver.spans.filter((s) => s.attributes['server.port'] === node.port);
  // Every 5xx exchange is kept on both sides: wait for those, then until nothing more arrives.
  await receiver.waitFor(() => mine().filter((s) => s.attributes['http.response.status_code'] === 503).length >= 2 * (N / 10), 60_000).catch(() => undefined);
  for (let before = -1; before !== mine().length; ) {
    before = mine().length;
    await sleep(2000);
  }
  const spans = mine();
  const byTarget = new Map<string, { client?: ReceivedSpan; server?: ReceivedSpan }>();
  for (const s of spans) {
    const e = byTarget.get(target(s)) ?? {};
    if (s.kind === 'CLIENT') {
      assert.equal(e.client, undefined, `one CLIENT span for ${target(s)}`);
      e.client = s;
    } else {
      assert.equal(e.server, undefined, `one SERVER span for ${target(s)}`);
      e.server = s;
    }
    byTarget.set(target(s), e);
  }
  let errors = 0;
  let others = 0;
  for (const [t, { client, server }] of byTarget) {
    assert.ok(client && server, `${t}: ${client ? 'CLIENT' : 'SERVER'} span kept without its ${client ? 'SERVER' : 'CLIENT'} span`);
    assert.equal(server.traceId, client.traceId, `${t}: one trace`);
    assert.equal(server.parentSpanId, client.spanId, `${t}: stitched`);
    if (t.startsWith('/status/503')) errors++;
    else others++;
  }
  assert.equal(errors, N / 10, 'every 5xx exchange kept');
  const sigma = Math.sqrt(N * 0.9 * 0.1 * 0.9);
  assert.ok(Math.abs(others - N * 0.9 * 0.1) < 4 * sigma, `kept ${others} of ${N * 0.9} (expected ${N * 0.9 * 0.1} ± ${Math.round(4 * sigma)})`);

  // Metrics come before sampling: all 2,000 on each side.
  const count = (pts: ReceivedMetricPoint[], name: string) => {
    const last = new Map<string, ReceivedMetricPoint>();
    for (const p of pts) if (p.name === name && p.attributes['server.port'] === node.port) last.set(`${String(p.resource['process.pid'])} ${JSON.stringify(p.attributes)}`, p);
    return [...last.values()].reduce((n, p) => n + Number(p.count), 0);
  };
  await receiver.waitForMetrics((pts) => count(pts, 'http.server.request.duration') === N && count(pts, 'http.client.request.duration') === N, 30_000).catch(() => undefined);
  assert.equal(count(receiver.metrics, 'http.server.request.duration'), N);
  assert.equal(count(receiver.metrics, 'http.client.request.duration'), N);

  // Sampled-out spans: counted (the agent's metric, the log at stop), never as a loss.
  const { code } = await agent.stop('SIGTERM');
  assert.equal(code, 0, agent.stderr());
  const sampledOut = Math.max(0, ...receiver.metrics.filter((p) => p.name === 'tlsotel.spans.sampled_out').map((p) => Number(p.value)));
  assert.ok(sampledOut >= 2 * (N - N / 10 - others), `tlsotel.spans.sampled_out = ${sampledOut}`);
  assert.match(agent.stderr(), /sampling and metrics so far: spans sampled out \d+/);
  assert.doesNotMatch(agent.stderr(), /losses so far:.*sampled/);
});
