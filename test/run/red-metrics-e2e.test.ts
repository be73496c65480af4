// RED metrics of real traffic: nginx and the node example server under a known load of curl and
// python requests (mixed routes, statuses 200/404/500/503). The OTLP histograms' counts, checked
// at a real OTLP/gRPC receiver, equal the exchanges made, per route and status, for servers and
// clients; the Prometheus endpoint serves the same numbers. Then the route bound, live: 200
// distinct routes against a bound of 30 fold into the overflow series, counted.
//
// Other programs on this host use TLS too: every number is taken from series whose server.port
// is a port this test opened, and the test's own clients carry a service name of their own
// (the agent reads OTEL_SERVICE_NAME from each process's environment).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { getFreePort, startOtlpReceiver, type OtlpReceiver, type ReceivedMetricPoint } from '../helpers/otlp-receiver';
import { makeCert, python, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
let node: Proc & { port: number };
let wide: Proc & { port: number };
let promPort: number;
const tag = `red${process.pid}`;
const MAX_ROUTES = 30;

before(async () => {
  requireRoot();
  const cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  node = await startHttpsServer(cert, '127.0.0.1', { ...process.env, OTEL_SERVICE_NAME: `${tag}-node` });
  wide = await startHttpsServer(cert, '127.0.0.1', { ...process.env, OTEL_SERVICE_NAME: `${tag}-wide` });
  promPort = await getFreePort();
  agent = await startAgent(
    ['--otlp-endpoint', receiver.url, '--prometheus-port', String(promPort), '--metrics-max-routes', String(MAX_ROUTES)],
    { OTEL_METRIC_EXPORT_INTERVAL: '1000' },
  );
  await agent.waitFor(/Prometheus scrape endpoint/, 'stderr', 10_000);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await node?.stop('SIGKILL');
  await wide?.stop('SIGKILL');
  await receiver?.stop();
});

/** The load: [path, times] per client and server. */
const LOAD = {
  curlNode: [['/status/200', 6], ['/status/404', 3], ['/status/503', 2], ['/items/123', 4]],
  pyNode: [['/status/200', 5], ['/status/404', 2], ['/status/503', 4], ['/items/9', 3]],
  curlNginx: [['/status/404', 3], ['/status/500', 2], ['/ok', 5]],
  pyNginx: [['/status/404', 2], ['/ok', 4], ['/status/500', 1]],
} as const;

/** "port route status" → exchanges, as the test made them. */
function expected(): Map<string, number> {
  const m = new Map<string, number>();
  const add = (port: number, load: ReadonlyArray<readonly [string, number]>): void => {
    for (const [p, n] of load) {
      const status = p.startsWith('/status/') ? p.slice(8) : '200';
      const route = p.startsWith('/status/') ? '/status/{id}' : p.startsWith('/items/') ? '/items/{id}' : p;
      const key = `${port} ${route} ${status}`;
      m.set(key, (m.get(key) ?? 0) + n);
    }
  };
  add(node.port, LOAD.curlNode);
  add(node.port, LOAD.pyNode);
  add(nginx.port, LOAD.curlNginx);
  add(nginx.port, LOAD.pyNginx);
  return m;
}

function expand(load: ReadonlyArray<readonly [string, number]>): string[] {
  return load.flatMap(([p, n]) => Array.from({ length: n }, () => p));
}

async function curl(port: number, load: ReadonlyArray<readonly [string, number]>): Promise<void> {
  const urls = expand(load).map((p) => `https://127.0.0.1:${port}${p}`);
  const c = start('curl', ['-sk', '--http1.1', ...urls.flatMap((u) => ['-o', '/dev/null', u])], { env: { ...process.env, OTEL_SERVICE_NAME: `${tag}-curl` } });
  assert.equal((await c.exited).code, 0, c.stderr());
}

async function py(port: number, paths: string[]): Promise<void> {
  const script = `
import http.client, ssl, sys
c = http.client.HTTPSConnection('127.0.0.1', ${port}, context=ssl._create_unverified_context())
for p in sys.argv[1:]:
    c.request('GET', p); r = c.getresponse(); r.read()
`;
  const p = start(python(), ['-c', script, ...paths], { env: { ...process.env, OTEL_SERVICE_NAME: `${tag}-py` } });
  assert.equal((await p.exited).code, 0, p.stderr());
}

/** The latest cumulative point of each series (metric, process, attributes). */
function latest(points: ReceivedMetricPoint[]): ReceivedMetricPoint[] {
  const last = new Map<string, ReceivedMetricPoint>();
  for (const p of points) {
    const key = `${p.name} ${String(p.resource['process.pid'])} ${JSON.stringify(p.attributes)}`;
    const before = last.get(key);
    if (before === undefined || before.timeUnixNano <= p.timeUnixNano) last.set(key, p);
  }
  return [...last.values()];
}

/** Counts of `metric` by "port route status", for the ports of this test. */
function countsOf(points: ReceivedMetricPoint[], metric: string, ports: number[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of latest(points)) {
    if (p.name !== metric || !ports.includes(Number(p.attributes['server.port']))) continue;
    const key = `${String(p.attributes['server.port'])} ${String(p.attributes['http.route'])} ${String(p.attributes['http.response.status_code'])}`;
    m.set(key, (m.get(key) ?? 0) + Number(p.count));
  }
  return m;
}

const sorted = (m: Map<string, number>) => [...m].sort();

test('OTLP: http.server/client.request.duration counts equal the exchanges made, per route and status; Prometheus serves the same', async () => {
  await Promise.all([
    curl(node.port, LOAD.curlNode),
    py(node.port, expand(LOAD.pyNode)),
    curl(nginx.port, LOAD.curlNginx),
    py(nginx.port, expand(LOAD.pyNginx)),
  ]);
  const want = expected();
  const ports = [node.port, nginx.port];
  const matches = (metric: string) => (points: ReceivedMetricPoint[]) => JSON.stringify(sorted(countsOf(points, metric, ports))) === JSON.stringify(sorted(want));
  try {
    await receiver.waitForMetrics((pts) => matches('http.server.request.duration')(pts) && matches('http.client.request.duration')(pts), 30_000);
  } catch {
    // Say what differs.
  }
  assert.deepEqual(sorted(countsOf(receiver.metrics, 'http.server.request.duration', ports)), sorted(want), 'server side');
  assert.deepEqual(sorted(countsOf(receiver.metrics, 'http.client.request.duration', ports)), sorted(want), 'client side');

  // The attribute set and the resource of one series, end to end.
  const p503 = latest(receiver.metrics).find((p) => p.name === 'http.server.request.duration' && p.attributes['server.port'] === node.port && p.attributes['http.response.status_code'] === 503);
  assert.ok(p503);
  assert.equal(p503.unit, 's');
  assert.equal(p503.type, 'histogram');
  assert.equal(p503.temporality, 'CUMULATIVE');
  assert.deepEqual(Object.keys(p503.attributes).sort(), [
    'error.type', 'http.request.method', 'http.response.status_code', 'http.route', 'network.protocol.version', 'server.address', 'server.port', 'url.scheme',
  ]);
  assert.equal(p503.attributes['error.type'], '503');
  assert.equal(p503.resource['service.name'], `${tag}-node`);
  assert.equal(p503.resource['process.pid'], node.pid);
  for (const p of receiver.metrics) {
    for (const k of Object.keys(p.attributes)) assert.ok(!['url.path', 'url.query', 'url.full', 'network.peer.port', 'client.port'].includes(k), `${p.name} has ${k}`);
  }
  const bodies = countsOf(receiver.metrics, 'http.server.response.body.size', ports);
  assert.deepEqual(sorted(bodies), sorted(want), 'response body sizes: one per exchange');

  // Prometheus: the same numbers in the text format.
  const text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
  for (const [metric, name] of [['http.server.request.duration', 'http_server_request_duration'], ['http.client.request.duration', 'http_client_request_duration']] as const) {
    const scraped = new Map<string, number>();
    for (const s of parsePrometheus(text)) {
      if (s.name !== `${name}_count` || !ports.includes(Number(s.labels.server_port))) continue;
      const key = `${s.labels.server_port} ${s.labels.http_route} ${s.labels.http_response_status_code}`;
      scraped.set(key, (scraped.get(key) ?? 0) + s.value);
    }
    assert.deepEqual(sorted(scraped), sorted(want), `${metric} scraped as ${name}_count`);
  }
  assert.match(text, /# TYPE http_server_request_duration histogram/);
  const buckets = parsePrometheus(text).filter((s) => s.name === 'http_server_request_duration_bucket' && s.labels.service_name === `${tag}-node`);
  assert.deepEqual([...new Set(buckets.map((s) => s.labels.le))], ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5', '0.75', '1', '2.5', '5', '7.5', '10', '+Inf']);
});

test('the route bound, live: 200 distinct routes against a bound of 30 fold into otel.metric.overflow, counted', async () => {
  const paths = Array.from({ length: 200 }, (_, i) => `/w/u${i}`);
  await py(wide.port, paths);
  const server = (pts: ReceivedMetricPoint[]) => latest(pts).filter((p) => p.name === 'http.server.request.duration' && p.resource['service.name'] === `${tag}-wide`);
  await receiver.waitForMetrics((pts) => server(pts).reduce((n, p) => n + Number(p.count), 0) === 200, 30_000).catch(() => undefined);
  const points = server(receiver.metrics);
  assert.equal(points.reduce((n, p) => n + Number(p.count), 0), 200, 'every exchange counted, folded or not');
  const routes = points.filter((p) => p.attributes['otel.metric.overflow'] !== true);
  assert.equal(routes.length, MAX_ROUTES, 'at most --metrics-max-routes routes for the service');
  const overflow = points.filter((p) => p.attributes['otel.metric.overflow'] === true);
  assert.equal(overflow.length, 1);
  assert.equal(Number(overflow[0].count), 200 - MAX_ROUTES);
  // The agent's own metrics count the folds (server and client sides: 2 · 170 at least).
  const folded = (pts: ReceivedMetricPoint[]) => {
    const f = latest(pts).filter((p) => p.name === 'tlsotel.metrics.folded' && p.attributes.reason === 'route');
    return f.length > 0 ? Math.max(...f.map((p) => Number(p.value))) : 0;
  };
  await receiver.waitForMetrics((pts) => folded(pts) >= 2 * (200 - MAX_ROUTES), 30_000).catch(() => undefined);
  assert.ok(folded(receiver.metrics) >= 2 * (200 - MAX_ROUTES), `tlsotel.metrics.folded{reason=route} = ${folded(receiver.metrics)}`);
  // And the loss log says so at stop.
  const { code } = await agent.stop('SIGTERM');
  assert.equal(code, 0, agent.stderr());
  assert.match(agent.stderr(), /sampling and metrics so far: metric series \d+, exchanges folded into overflow series \(route limit\) \d+/);
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition format: `name{l="v",…} value [timestamp]`. */
function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(m[2] ?? ''); l !== null; l = re.exec(m[2] ?? '')) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
