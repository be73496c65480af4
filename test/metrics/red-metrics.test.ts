// RedMetrics fed exchanges directly: counts per route and status, the attribute set (and what
// must never be an attribute), the cardinality bounds with their overflow series, the forgetting
// of exited processes, and the MetricData handed to the SDK's exporters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Attributes } from '@opentelemetry/api';
import { DataPointType, type HistogramMetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { RedMetrics, OVERFLOW_ATTRIBUTE } from '../../src/metrics/red-metrics';
import { mergedByService } from '../../src/metrics/prometheus';
import { routeTable } from '../../src/metrics/route-table';
import { ErrorKind, type Exchange, type ProcessInfo } from '../../src/exchange/types';
import { NGINX, exchange, request, response } from '../trace/fixtures';
import { randomUUID } from 'node:crypto';

const resourceFor = (info: ProcessInfo) => resourceFromAttributes({ 'service.name': info.serviceName, 'process.pid': info.pid });

function serverEx(path: string, status: number | undefined, over: Partial<Exchange> = {}): Exchange {
  return exchange({
    side: 'server',
    process: NGINX,
    request: request('GET', path, [['Host', '127.0.0.1:8443']], 10),
    response: status === undefined ? undefined : response(status, [], 100),
    addresses: { localAddress: '127.0.0.1', localPort: 8443, remoteAddress: '127.0.0.1', remotePort: 40000 + Math.floor(Math.random() * 1000), family: 'ipv4' },
    ...over,
  });
}

function histograms(rm: ResourceMetrics[], name: string): Array<{ attributes: Attributes; count: number; resource: Attributes }> {
  const out = [];
  for (const r of rm) {
    for (const sm of r.scopeMetrics) {
      for (const m of sm.metrics) {
        if (m.descriptor.name !== name) continue;
        assert.equal(m.dataPointType, DataPointType.HISTOGRAM);
        for (const p of (m as HistogramMetricData).dataPoints) out.push({ attributes: p.attributes, count: p.value.count, resource: r.resource.attributes });
      }
    }
  }
  return out;
}

test('counts per route and status, with the semantic conventions attribute set and nothing id-like', () => {
  const red = new RedMetrics({ resourceFor });
  for (let i = 0; i < 30; i++) red.record(serverEx(`/status/${200}?token=${i}`, 200));
  for (let i = 0; i < 7; i++) red.record(serverEx(`/users/${1000 + i}/orders`, 404));
  for (let i = 0; i < 5; i++) red.record(serverEx('/status/503', 503));
  red.record(serverEx('/slow', undefined, { error: ErrorKind.ClosedBeforeResponse }));
  const points = histograms(red.collect(), 'http.server.request.duration');
  const byKey = new Map(points.map((p) => [`${p.attributes['http.route']} ${p.attributes['http.response.status_code'] ?? '-'}`, p]));
  assert.equal(byKey.get('/status/{id} 200')?.count, 30);
  assert.equal(byKey.get('/users/{id}/orders 404')?.count, 7);
  assert.equal(byKey.get('/status/{id} 503')?.count, 5);
  assert.equal(byKey.get('/slow -')?.count, 1);
  assert.deepEqual(byKey.get('/status/{id} 503')?.attributes, {
    'http.request.method': 'GET',
    'http.route': '/status/{id}',
    'http.response.status_code': 503,
    'url.scheme': 'https',
    'error.type': '503',
    'server.address': '127.0.0.1',
    'server.port': 8443,
    'network.protocol.version': '1.1',
  });
  assert.equal(byKey.get('/users/{id}/orders 404')?.attributes['error.type'], undefined, 'a 404 is no server error');
  assert.equal(byKey.get('/slow -')?.attributes['error.type'], 'connection_closed');
  for (const p of points) {
    for (const k of Object.keys(p.attributes)) assert.ok(!/^url\.(path|query|full)$|peer|^client\.|\.id$/.test(k), `no ${k}`);
    assert.equal(p.resource['service.name'], 'nginx');
  }
  // Body sizes: per series too; no response body without a response.
  const req = histograms(red.collect(), 'http.server.request.body.size');
  assert.equal(req.reduce((n, p) => n + p.count, 0), 43);
  const res = histograms(red.collect(), 'http.server.response.body.size');
  assert.equal(res.reduce((n, p) => n + p.count, 0), 42);
});

test('client and server sides go to their own metrics; a 4xx is an error for the client only', () => {
  const red = new RedMetrics({ resourceFor });
  red.record(exchange({ response: response(404) }));
  red.record(serverEx('/x', 404));
  const rm = red.collect();
  const client = histograms(rm, 'http.client.request.duration');
  assert.equal(client.length, 1);
  assert.equal(client[0].attributes['error.type'], '404');
  assert.equal(client[0].attributes['server.address'], 'api.example.com');
  assert.equal(client[0].attributes['server.port'], 443);
  assert.equal(client[0].resource['service.name'], 'curl');
  assert.equal(histograms(rm, 'http.server.request.duration')[0].attributes['error.type'], undefined);
});

test('durations land in the advised buckets, in seconds', () => {
  const red = new RedMetrics({ resourceFor });
  red.record(serverEx('/a', 200, { startNs: 0n, endNs: 3_000_000n })); // 3 ms
  red.record(serverEx('/a', 200, { startNs: 0n, endNs: 80_000_000n })); // 80 ms
  red.record(serverEx('/a', 200, { startNs: 0n, endNs: 20_000_000_000n })); // 20 s
  const m = red.collect()[0].scopeMetrics[0].metrics.find((x) => x.descriptor.name === 'http.server.request.duration') as HistogramMetricData;
  assert.equal(m.descriptor.unit, 's');
  const v = m.dataPoints[0].value;
  assert.deepEqual(v.buckets.boundaries, [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
  assert.equal(v.buckets.counts[0], 1);
  assert.equal(v.buckets.counts[5], 1);
  assert.equal(v.buckets.counts[14], 1);
  assert.equal(v.count, 3);
  assert.ok(Math.abs(v.sum! - 20.083) < 1e-9);
  assert.equal(v.min, 0.003);
  assert.equal(v.max, 20);
});

test('gRPC: rpc.server.call.duration with rpc.system.name, rpc.method, rpc.status_code', () => {
  const red = new RedMetrics({ resourceFor });
  const grpc = (code: number): Exchange => serverEx('/helloworld.Greeter/SayHello', 200, {
    protocol: 'http/2', version: '2', rpc: { system: 'grpc', service: 'helloworld.Greeter', method: 'SayHello', statusCode: code },
  });
  red.record(grpc(0));
  red.record(grpc(0));
  red.record(grpc(14));
  const rm = red.collect();
  assert.equal(histograms(rm, 'http.server.request.duration').length, 0, 'an RPC is counted once, by the RPC metric');
  const points = histograms(rm, 'rpc.server.call.duration');
  const ok = points.find((p) => p.attributes['rpc.status_code'] === 'OK');
  const unavailable = points.find((p) => p.attributes['rpc.status_code'] === 'UNAVAILABLE');
  assert.equal(ok?.count, 2);
  assert.equal(unavailable?.count, 1);
  assert.deepEqual(unavailable?.attributes, {
    'rpc.system.name': 'grpc', 'rpc.method': 'helloworld.Greeter/SayHello', 'rpc.status_code': 'UNAVAILABLE',
    'error.type': 'UNAVAILABLE', 'server.address': '127.0.0.1', 'server.port': 8443, 'network.protocol.version': '2',
  });
});

test('10,000 distinct paths with ids make one series; 10,000 distinct route words stop at the route bound and fold', () => {
  const red = new RedMetrics({ resourceFor, maxRoutesPerService: 50, maxSeriesPerMetric: 1000 });
  for (let i = 0; i < 10_000; i++) red.record(serverEx(`/orders/${100000 + i}/items/${randomUUID()}`, 200));
  assert.equal(histograms(red.collect(), 'http.server.request.duration').length, 1);
  for (let i = 0; i < 10_000; i++) red.record(serverEx(`/w/u${i}`, 200)); // "u123": a route word
  const points = histograms(red.collect(), 'http.server.request.duration');
  const routes = new Set(points.map((p) => p.attributes['http.route']).filter((r) => r !== undefined));
  assert.equal(routes.size, 50, 'at most maxRoutesPerService routes');
  const overflow = points.filter((p) => p.attributes[OVERFLOW_ATTRIBUTE] === true);
  assert.equal(overflow.length, 1);
  assert.deepEqual(overflow[0].attributes, { [OVERFLOW_ATTRIBUTE]: true });
  assert.equal(overflow[0].count, 10_000 - 49);
  assert.equal(points.reduce((n, p) => n + p.count, 0), 20_000, 'nothing lost: every exchange is counted somewhere');
  const s = red.stats();
  assert.equal(s.folded.route, 10_000 - 49);
  assert.equal(s.folded.series, 0);
  assert.equal(s.series, 51);
});

test('the series bound holds over every process, and folds are counted as such', () => {
  const red = new RedMetrics({ resourceFor, maxRoutesPerService: 1_000_000, maxSeriesPerMetric: 100 });
  const procs: ProcessInfo[] = [1, 2, 3].map((pid) => ({ pid, comm: `p${pid}`, exeName: `p${pid}`, serviceName: `svc${pid}` }));
  for (let i = 0; i < 3000; i++) red.record(serverEx(`/w/u${i}`, 200, { process: procs[i % 3] }));
  const points = histograms(red.collect(), 'http.server.request.duration');
  assert.equal(points.filter((p) => p.attributes[OVERFLOW_ATTRIBUTE] !== true).length, 100);
  assert.equal(points.filter((p) => p.attributes[OVERFLOW_ATTRIBUTE] === true).length, 3, 'one overflow series per process that overflowed');
  assert.equal(red.stats().folded.series, 2900);
  assert.equal(points.reduce((n, p) => n + p.count, 0), 3000);
});

test('the series of an exited process are exported until the TTL, then forgotten (and their budget freed)', () => {
  let now = 1_000_000;
  const red = new RedMetrics({ resourceFor, processTtlMs: 60_000, maxSeriesPerMetric: 1, now: () => now });
  red.record(serverEx('/a', 200));
  red.processesExited([NGINX.pid]);
  now += 59_000;
  assert.equal(histograms(red.collect(), 'http.server.request.duration').length, 1, 'still there before the TTL');
  now += 2_000;
  assert.equal(red.collect().length, 0);
  assert.equal(red.stats().series, 0);
  const other: ProcessInfo = { ...NGINX, pid: 78 };
  red.record(serverEx('/b', 200, { process: other }));
  assert.equal(histograms(red.collect(), 'http.server.request.duration')[0].attributes['http.route'], '/b', 'its series budget is free again');
});

test('Prometheus view: processes of one service are summed, told apart from others by service.name', () => {
  const red = new RedMetrics({ resourceFor });
  const a: ProcessInfo = { pid: 10, comm: 'node', exeName: 'node', serviceName: 'api' };
  const b: ProcessInfo = { pid: 11, comm: 'node', exeName: 'node', serviceName: 'api' };
  const c: ProcessInfo = { pid: 12, comm: 'node', exeName: 'node', serviceName: 'web' };
  for (const p of [a, a, b, c]) red.record(serverEx('/x', 200, { process: p }));
  const merged = mergedByService(red);
  const api = merged.find((s) => s.attributes['service.name'] === 'api');
  const web = merged.find((s) => s.attributes['service.name'] === 'web');
  assert.equal(api?.duration.count, 3);
  assert.equal(web?.duration.count, 1);
  assert.equal(red.collect().find((r) => r.resource.attributes['process.pid'] === 10)!.scopeMetrics[0].metrics.length, 3, 'merging does not touch the originals');
});

test('the per-route table shows what changed since the last one', () => {
  const red = new RedMetrics({ resourceFor });
  for (let i = 0; i < 4; i++) red.record(serverEx('/status/503', 503));
  red.record(serverEx('/ok', 200));
  const first = routeTable(red, 10_000);
  assert.match(first, /nginx\[77\]\s+server\s+GET \/status\/\{id\}\s+503\s+4\s+4\s+12\.30/);
  assert.match(first, /GET \/ok\s+200\s+1\s+0/);
  assert.equal(routeTable(red, 10_000), '', 'nothing new: no table');
  red.record(serverEx('/ok', 200));
  assert.doesNotMatch(routeTable(red, 10_000), /503/);
});

test('recording stays cheap: one Map lookup per exchange once the series exists', () => {
  const red = new RedMetrics({ resourceFor });
  const exchanges = Array.from({ length: 1000 }, (_, i) => serverEx(`/api/v1/users/${i}/orders`, i % 10 === 0 ? 503 : 200));
  for (const ex of exchanges) red.record(ex);
  const n = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) red.record(exchanges[i % 1000]);
  const perExchangeUs = Number(process.hrtime.bigint() - t0) / n / 1000;
  // The goal is ~1–2 µs; the bound leaves room for a shared, busy machine.
  assert.ok(perExchangeUs < 10, `record() took ${perExchangeUs.toFixed(2)} µs per exchange`);
  console.log(`# record(): ${perExchangeUs.toFixed(2)} µs per exchange`);
});

test('bad limits are refused', () => {
  assert.throws(() => new RedMetrics({ maxSeriesPerMetric: 0 }), RangeError);
  assert.throws(() => new RedMetrics({ maxRoutesPerService: 0 }), RangeError);
});

test('one route served by several servers: one series per server.address/port', () => {
  const red = new RedMetrics({ resourceFor });
  const to = (host: string): Exchange => exchange({ request: request('GET', '/v1/items', [['Host', host]]), response: response(200) });
  for (const host of ['a.example.com', 'b.example.com', 'a.example.com', 'c.example.com:8443', 'b.example.com']) red.record(to(host));
  const points = histograms(red.collect(), 'http.client.request.duration');
  const byServer = Object.fromEntries(points.map((p) => [`${String(p.attributes['server.address'])}:${String(p.attributes['server.port'])}`, p.count]));
  assert.deepEqual(byServer, { 'a.example.com:443': 2, 'b.example.com:443': 2, 'c.example.com:8443': 1 });
  assert.equal(red.stats().series, 3);
});

test('every exchange lands in the series of its own attributes (random mix against a count by attribute set)', () => {
  // Processes, sides, methods, routes, statuses, servers and versions drawn at random: each
  // exchange must count once, in the one point whose attributes are its own, with its sizes.
  let seed = 12345;
  const pick = <T>(xs: readonly T[]): T => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return xs[seed % xs.length];
  };
  const procs: ProcessInfo[] = [1, 2, 3].map((pid) => ({ pid, comm: 'p', exeName: 'p', serviceName: pid === 3 ? 'other' : 'svc' }));
  const want = new Map<string, { count: number; requestBytes: number; responseBytes: number }>();
  const red = new RedMetrics({ resourceFor });
  const n = 5000;
  for (let i = 0; i < n; i++) {
    const proc = pick(procs);
    const side = pick(['client', 'server'] as const);
    const method = pick(['GET', 'POST', 'DELETE']);
    const route = pick(['/a', '/b', '/orders/{id}', '/']);
    const status = pick([200, 201, 404, 503]);
    const host = pick(['a.example', 'b.example:8443', 'c.example']);
    const version = pick(['1.1', '2']);
    const path = route.replace('{id}', String(1000 + (i % 50)));
    const reqBytes = pick([0, 10, 5000]);
    const respBytes = pick([0, 100, 70000]);
    red.record(exchange({
      side, process: proc, version,
      request: request(method, `${path}?q=${i}`, [['Host', host]], reqBytes),
      response: response(status, [], respBytes),
    }));
    const [address, port] = host.includes(':') ? [host.split(':')[0], Number(host.split(':')[1])] : [host, 443];
    const attrs: Attributes = {
      'http.request.method': method, 'http.route': route, 'http.response.status_code': status, 'url.scheme': 'https',
      'server.address': address, 'server.port': port, 'network.protocol.version': version,
    };
    if (status >= 500 || (side === 'client' && status >= 400)) attrs['error.type'] = String(status);
    const key = `${proc.pid} ${side} ${JSON.stringify(Object.entries(attrs).sort())}`;
    const w = want.get(key) ?? { count: 0, requestBytes: 0, responseBytes: 0 };
    w.count++;
    w.requestBytes += reqBytes;
    w.responseBytes += respBytes;
    want.set(key, w);
  }
  const got = new Map<string, { count: number; requestBytes: number; responseBytes: number }>();
  for (const rm of red.collect()) {
    const pid = rm.resource.attributes['process.pid'];
    for (const m of rm.scopeMetrics[0].metrics) {
      const side = m.descriptor.name.startsWith('http.server.') ? 'server' : 'client';
      for (const p of (m as HistogramMetricData).dataPoints) {
        const key = `${String(pid)} ${side} ${JSON.stringify(Object.entries(p.attributes).sort())}`;
        const g = got.get(key) ?? { count: 0, requestBytes: 0, responseBytes: 0 };
        if (m.descriptor.name.endsWith('.duration')) g.count += p.value.count;
        else if (m.descriptor.name.endsWith('.request.body.size')) {
          assert.equal(p.value.count, g.count || p.value.count);
          g.requestBytes += p.value.sum ?? 0;
        } else g.responseBytes += p.value.sum ?? 0;
        got.set(key, g);
      }
    }
  }
  assert.deepEqual(got, want);
  assert.equal(red.stats().recorded, n);
  assert.equal(red.stats().folded.route + red.stats().folded.series, 0);
});

test('forgetting exited processes frees their series\' memory: index entries, slots and process ids stay bounded over churn', () => {
  let now = 0;
  const red = new RedMetrics({ resourceFor, processTtlMs: 1000, now: () => now });
  let peak = 0;
  for (let generation = 0; generation < 50; generation++) {
    const procs: ProcessInfo[] = [0, 1, 2].map((k) => ({ pid: 1000 + generation * 3 + k, comm: 'w', exeName: 'w', serviceName: 'worker', startTime: generation }));
    for (const p of procs) {
      for (let r = 0; r < 20; r++) red.record(serverEx(`/r${r}`, r % 2 === 0 ? 200 : 404, { process: p }));
    }
    const s = red.indexStats();
    peak = Math.max(peak, s.slots);
    assert.equal(s.entries, 60, `generation ${generation}: only the live processes' series are indexed`);
    // Every series starts from zero, even in a slot an earlier process used.
    for (const rm of red.collect()) {
      for (const m of rm.scopeMetrics[0].metrics) for (const p of (m as HistogramMetricData).dataPoints) assert.equal(p.value.count, 1);
    }
    red.processesExited(procs.map((p) => p.pid));
    now += 1001;
    red.sweep();
    assert.equal(red.indexStats().entries, 0);
    assert.equal(red.stats().series, 0);
  }
  const s = red.indexStats();
  assert.equal(s.slots, 0);
  assert.ok(s.slotsAllocated <= peak, `slots allocated ${s.slotsAllocated}, most alive at once ${peak}`);
  assert.ok(s.processIds === 0, 'process ids given back');
  assert.ok(s.buckets <= 1024, `index buckets ${s.buckets}`);
});

test('a process seen again after it was forgotten starts new series (no value carried over)', () => {
  let now = 0;
  const red = new RedMetrics({ resourceFor, processTtlMs: 10, now: () => now });
  for (let i = 0; i < 5; i++) red.record(serverEx('/a', 200));
  red.processesExited([NGINX.pid]);
  now += 11;
  red.sweep();
  red.record(serverEx('/a', 200));
  const points = histograms(red.collect(), 'http.server.request.duration');
  assert.equal(points.length, 1);
  assert.equal(points[0].count, 1);
});

test('gRPC calls of one method are one series whether or not the request carries its :path', () => {
  const red = new RedMetrics({ resourceFor });
  const rpc = { system: 'grpc' as const, service: 'helloworld.Greeter', method: 'SayHello', statusCode: 0 };
  const call = (url: string | undefined): Exchange => exchange({ side: 'server', process: NGINX, version: '2', rpc, request: { ...request('POST', '/x', [['Host', 'h:50051']]), url } });
  red.record(call('/helloworld.Greeter/SayHello'));
  red.record(call(undefined));
  red.record(call('/helloworld.Greeter/SayHelloAgain'));
  const points = histograms(red.collect(), 'rpc.server.call.duration');
  assert.equal(points.length, 1);
  assert.equal(points[0].count, 3);
  assert.equal(points[0].attributes['rpc.method'], 'helloworld.Greeter/SayHello');
});
