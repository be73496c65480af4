import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { MonotonicWallClock } from '../../src/trace/clock';
import { ResourceFactory } from '../../src/trace/resource';
import {
  INSTRUMENTATION_SCOPE, SpanBuilder, normalizeMethod, parseHostHeader,
} from '../../src/trace/span-builder';
import { CLIENT_ATTRIBUTES, CURL, NGINX, exchange, request, response } from './fixtures';
import { ALL_ERROR_KINDS, ERROR_KINDS, ErrorKind } from '../../src/exchange/error-kind';

const OFFSET = 1_764_079_200_000_000_000n; // 2025-11-25T14:00:00Z minus monotonic 0
const resources = new ResourceFactory({ hostName: 'host-1' });
const builder = new SpanBuilder({ clock: new MonotonicWallClock(OFFSET), resourceFor: (info) => resources.resourceFor(info) });

test('client span: name, kind, attributes, timing, ids, scope', () => {
  const span = builder.build(exchange());
  assert.equal(span.name, 'GET /users/{id}');
  assert.equal(span.kind, SpanKind.CLIENT);
  assert.deepEqual(span.attributes, CLIENT_ATTRIBUTES);
  assert.deepEqual(span.status, { code: SpanStatusCode.UNSET });
  assert.deepEqual(span.startTime, [1_764_079_200, 1_000_000]);
  assert.deepEqual(span.endTime, [1_764_079_200, 13_300_000]);
  assert.deepEqual(span.duration, [0, 12_300_000]);
  const ctx = span.spanContext();
  assert.match(ctx.traceId, /^[0-9a-f]{32}$/);
  assert.match(ctx.spanId, /^[0-9a-f]{16}$/);
  assert.equal(ctx.traceFlags, TraceFlags.SAMPLED);
  assert.equal(span.parentSpanContext, undefined);
  assert.equal(span.instrumentationScope, INSTRUMENTATION_SCOPE);
  assert.equal(span.instrumentationScope.name, 'tlsotel');
  assert.equal(span.ended, true);
  assert.equal(span.droppedAttributesCount, 0);
  assert.deepEqual(span.links, []);
  assert.deepEqual(span.events, []);
  assert.equal(span.resource.attributes['service.name'], 'curl');
  assert.equal(span.resource.attributes['host.name'], 'host-1');
  assert.notEqual(builder.build(exchange()).spanContext().traceId, ctx.traceId);
});

test('server span: client.* from the peer, server.* from Host, no url.full', () => {
  const span = builder.build(exchange({
    side: 'server',
    process: NGINX,
    request: request('POST', '/api/orders', [['Host', 'shop.example.com:8443'], ['Content-Length', '17']], 17),
    response: response(201),
    addresses: { localAddress: '10.0.0.1', localPort: 8443, remoteAddress: '10.0.0.9', remotePort: 40000, family: 'ipv4' },
  }));
  assert.equal(span.kind, SpanKind.SERVER);
  assert.equal(span.name, 'POST /api/orders');
  const a = span.attributes;
  assert.equal(a['server.address'], 'shop.example.com');
  assert.equal(a['server.port'], 8443);
  assert.equal(a['client.address'], '10.0.0.9');
  assert.equal(a['client.port'], 40000);
  assert.equal(a['network.peer.address'], '10.0.0.9');
  assert.equal(a['url.full'], undefined);
  assert.equal(a['url.query'], undefined);
  assert.equal(a['http.request.body.size'], 17);
  assert.equal(span.status.code, SpanStatusCode.UNSET);
});

test('5xx on a server span is ERROR with error.type = status code', () => {
  const span = builder.build(exchange({ side: 'server', response: response(503) }));
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.status.message, undefined);
  assert.equal(span.attributes['error.type'], '503');
});

test('4xx: ERROR on a client span, UNSET on a server span', () => {
  const client = builder.build(exchange({ response: response(404) }));
  assert.equal(client.status.code, SpanStatusCode.ERROR);
  assert.equal(client.attributes['error.type'], '404');
  const server = builder.build(exchange({ side: 'server', response: response(404) }));
  assert.equal(server.status.code, SpanStatusCode.UNSET);
  assert.equal(server.attributes['error.type'], undefined);
});

test('cut-short exchange: ERROR with the reason, low-cardinality error.type', () => {
  const span = builder.build(exchange({ response: undefined, error: ErrorKind.ClosedBeforeResponse }));
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.status.message, 'connection closed before response');
  assert.equal(span.attributes['error.type'], 'connection_closed');
  assert.equal(span.attributes['http.response.status_code'], undefined);
  assert.equal(span.attributes['http.response.body.size'], undefined);
  // Every kind's error.type and message come from the one table.
  for (const kind of ALL_ERROR_KINDS) {
    const cut = builder.build(exchange({ response: undefined, error: kind, errorDetail: kind === ErrorKind.InvalidMessage ? 'bad chunk size' : undefined }));
    assert.equal(cut.attributes['error.type'], ERROR_KINDS[kind].errorType);
    assert.equal(cut.status.message, kind === ErrorKind.InvalidMessage ? 'invalid HTTP (bad chunk size)' : ERROR_KINDS[kind].message);
    assert.match(String(cut.attributes['error.type']), /^[a-z][a-z0-9_]*$/);
  }
});

test('response with an exchange error keeps the HTTP status and notes the reason', () => {
  const span = builder.build(exchange({ error: ErrorKind.CaptureGap }));
  assert.equal(span.status.code, SpanStatusCode.UNSET);
  assert.equal(span.attributes['tlsotel.exchange.error'], 'capture_gap');
});

test('methods: unknown → _OTHER + method_original, span name uses HTTP', () => {
  assert.deepEqual(normalizeMethod('GET'), { method: 'GET' });
  assert.deepEqual(normalizeMethod('get'), { method: '_OTHER', original: 'get' });
  const span = builder.build(exchange({ request: request('PROPFIND', '/dav/1', [['Host', 'h']]) }));
  assert.equal(span.name, 'HTTP /dav/{id}');
  assert.equal(span.attributes['http.request.method'], '_OTHER');
  assert.equal(span.attributes['http.request.method_original'], 'PROPFIND');
});

test('nothing known about the target: name is just the method', () => {
  const span = builder.build(exchange({ request: { ...request('GET', '/'), url: undefined } }));
  assert.equal(span.name, 'GET');
  const connect = builder.build(exchange({ request: request('CONNECT', 'proxy.example.com:443') }));
  assert.equal(connect.name, 'CONNECT');
  assert.equal(connect.attributes['server.address'], 'proxy.example.com');
  assert.equal(connect.attributes['url.path'], undefined);
});

test('no Host header: server.* from the connection; default port; IPv6 Host', () => {
  const noHost = builder.build(exchange({ request: request('GET', '/x') }));
  assert.equal(noHost.attributes['server.address'], '93.184.216.34');
  assert.equal(noHost.attributes['server.port'], 443);
  assert.equal(noHost.attributes['url.full'], 'https://93.184.216.34/x', 'from the socket it was sent on');
  const noAddr = builder.build(exchange({ request: request('GET', '/x'), addresses: undefined }));
  assert.equal(noAddr.attributes['server.address'], undefined);
  assert.equal(noAddr.attributes['url.full'], undefined, 'no Host and no socket: unknown');
  assert.equal(noAddr.attributes['network.peer.address'], undefined);
  const v6 = builder.build(exchange({ request: request('GET', '/x', [['Host', '[2001:DB8::1]:8443']]) }));
  assert.equal(v6.attributes['server.address'], '2001:db8::1');
  assert.equal(v6.attributes['server.port'], 8443);
  assert.equal(v6.attributes['url.full'], 'https://[2001:db8::1]:8443/x');
  assert.deepEqual(parseHostHeader('Example.com'), { address: 'example.com' });
  assert.deepEqual(parseHostHeader('example.com:abc'), { address: 'example.com' });
  assert.equal(parseHostHeader(''), undefined);
});

test('absolute-form target: authority from the target, userinfo and query redacted', () => {
  const span = builder.build(exchange({ request: request('GET', 'https://user:pw@api.example.com:444/p/9?api_key=zz', [['Host', 'other']]) }));
  assert.equal(span.attributes['server.address'], 'api.example.com');
  assert.equal(span.attributes['server.port'], 444);
  assert.equal(span.attributes['url.path'], '/p/9');
  assert.equal(span.attributes['url.full'], 'https://api.example.com:444/p/9?api_key=REDACTED');
  assert.equal(span.name, 'GET /p/{id}');
  assert.ok(!JSON.stringify(span.attributes).includes('pw'));
});

test('server span: client.address from X-Forwarded-For / Forwarded', () => {
  const xff = builder.build(exchange({ side: 'server', request: request('GET', '/', [['X-Forwarded-For', '203.0.113.7, 10.0.0.2']]) }));
  assert.equal(xff.attributes['client.address'], '203.0.113.7');
  assert.equal(xff.attributes['client.port'], undefined);
  const fwd = builder.build(exchange({ side: 'server', request: request('GET', '/', [['Forwarded', 'for="198.51.100.17:4711";proto=https']]) }));
  assert.equal(fwd.attributes['client.address'], '198.51.100.17');
});

test('network.protocol.version is the exchange\'s version', () => {
  const span = builder.build(exchange({ version: '1.0' }));
  assert.equal(span.attributes['network.protocol.version'], '1.0');
});

test('a credential-shaped path segment (a JWT) is redacted in url.path and url.full; the name is templated', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
  const span = builder.build(exchange({ request: request('GET', `/users/${jwt}/profile?page=2`, [['Host', 'api.example.com']]) }));
  assert.equal(span.attributes['url.path'], '/users/REDACTED/profile');
  assert.equal(span.attributes['url.full'], 'https://api.example.com/users/REDACTED/profile?page=2');
  assert.ok(!JSON.stringify(span.attributes).includes(jwt.slice(0, 20)));
  assert.equal(span.name, 'GET /users/{id}/profile');
  const open = new SpanBuilder({ redactUrls: false }).build(exchange({ request: request('GET', `/users/${jwt}`) }));
  assert.equal(open.attributes['url.path'], `/users/${jwt}`);
});

test('a secret in the path after a segment naming one, and a Telegram bot token: redacted in url.*, never in the name', () => {
  const cases: Array<[string, string, string]> = [
    ['/reset-password/Zx9aK2mQpL4w', '/reset-password/REDACTED', 'GET /reset-password/{id}'],
    ['/api/webhooks/112233445566778899/AbCdEfGhIjKlMnOpQrStUvWxYz012345', '/api/webhooks/112233445566778899/REDACTED', 'GET /api/webhooks/{id}/{id}'],
    ['/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage', '/REDACTED/sendMessage', 'GET /{id}/sendMessage'],
  ];
  for (const [target, path, name] of cases) {
    const span = builder.build(exchange({ request: request('GET', target, [['Host', 'api.example.com']]) }));
    assert.equal(span.attributes['url.path'], path, target);
    assert.equal(span.name, name, target);
    const secret = target.split('/').pop() === 'sendMessage' ? 'AAHdqTcvCH1vGWJx' : target.split('/').pop()!;
    assert.ok(!JSON.stringify(span.attributes).includes(secret), target);
  }
});

test('a CLIENT span without Host gets url.full from the socket it was sent on', () => {
  const span = builder.build(exchange({ request: request('GET', '/a?x=1'), addresses: { localAddress: '127.0.0.1', localPort: 50000, remoteAddress: '127.0.0.1', remotePort: 8443, family: 'ipv4' } }));
  assert.equal(span.attributes['url.full'], 'https://127.0.0.1:8443/a?x=1');
  const v6 = builder.build(exchange({ request: request('GET', '/'), addresses: { localAddress: '::1', localPort: 50000, remoteAddress: '::1', remotePort: 443, family: 'ipv6' } }));
  assert.equal(v6.attributes['url.full'], 'https://[::1]/');
});

test('string attribute values are cut to the length limit', () => {
  const long = 'q=' + 'x'.repeat(20_000);
  const span = new SpanBuilder({ attributeValueLengthLimit: 100 }).build(exchange({ request: request('GET', `/p?${long}`, [['Host', 'h'], ['User-Agent', 'u'.repeat(500)]]) }));
  assert.equal(String(span.attributes['url.query']).length, 100);
  assert.equal(String(span.attributes['url.full']).length, 100);
  assert.equal(String(span.attributes['user_agent.original']).length, 100);
  const dflt = builder.build(exchange({ request: request('GET', `/p?${long}`, [['Host', 'h']]) }));
  assert.equal(String(dflt.attributes['url.query']).length, 4096);
  assert.throws(() => new SpanBuilder({ attributeValueLengthLimit: 0 }), /positive integer/);
});

test('headers: exported only when named; credential headers REDACTED', () => {
  const b = new SpanBuilder({ captureRequestHeaders: ['authorization', 'accept'], captureResponseHeaders: ['content-type', 'set-cookie'] });
  const span = b.build(exchange());
  assert.deepEqual(span.attributes['http.request.header.authorization'], ['REDACTED']);
  assert.deepEqual(span.attributes['http.request.header.accept'], ['*/*']);
  assert.deepEqual(span.attributes['http.response.header.content-type'], ['application/json']);
  assert.deepEqual(span.attributes['http.response.header.set-cookie'], ['REDACTED']);
  const plain = builder.build(exchange());
  assert.ok(!Object.keys(plain.attributes).some((k) => k.startsWith('http.request.header.')));
  assert.ok(!JSON.stringify(plain.attributes).includes('s3cr3t'));
});

test('parent context: same trace, parent span id, remote, tracestate kept', () => {
  const parent = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, traceState: 'congo=t61rcWkgMzE' };
  const span = builder.build(exchange({ side: 'server' }), { parent });
  assert.equal(span.spanContext().traceId, parent.traceId);
  assert.notEqual(span.spanContext().spanId, parent.spanId);
  assert.equal(span.parentSpanContext?.spanId, parent.spanId);
  assert.equal(span.parentSpanContext?.isRemote, true);
  assert.equal(span.spanContext().traceState?.serialize(), 'congo=t61rcWkgMzE');
  const fixed = builder.build(exchange(), { traceId: parent.traceId, spanId: '00f067aa0ba902b7' });
  assert.equal(fixed.spanContext().spanId, '00f067aa0ba902b7');
  assert.equal(fixed.spanContext().traceId, parent.traceId);
});

test('end before start is clamped; default builder works', () => {
  const span = new SpanBuilder().build(exchange({ startNs: 10_000n, endNs: 5_000n, process: CURL }));
  assert.deepEqual(span.duration, [0, 0]);
  assert.deepEqual(span.endTime, span.startTime);
});

test('building is cheap (rough guard, not a benchmark)', () => {
  const ex = exchange();
  const n = 20_000;
  for (let i = 0; i < 2000; i++) builder.build(ex);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) builder.build(ex);
  const perSpanUs = Number(process.hrtime.bigint() - t0) / n / 1000;
  assert.ok(perSpanUs < 20, `${perSpanUs.toFixed(2)} µs per span`);
});

test('gRPC: named package.Service/Method, rpc.* attributes, status per side', () => {
  const grpc = (side: 'client' | 'server', statusCode: number | undefined, statusMessage?: string) => builder.build(exchange({
    side, protocol: 'http/2', version: '2', scheme: 'https', authority: 'api.example.com:50051',
    request: request('POST', '/helloworld.Greeter/SayHello', [['content-type', 'application/grpc']], 12),
    response: response(200, [['content-type', 'application/grpc']], 20),
    rpc: { system: 'grpc', service: 'helloworld.Greeter', method: 'SayHello', statusCode, statusMessage },
  }));
  const ok = grpc('client', 0);
  assert.equal(ok.name, 'helloworld.Greeter/SayHello');
  assert.equal(ok.attributes['rpc.system.name'], 'grpc');
  assert.equal(ok.attributes['rpc.method'], 'helloworld.Greeter/SayHello');
  assert.equal(ok.attributes['rpc.status_code'], 'OK');
  assert.equal(ok.attributes['network.protocol.version'], '2');
  assert.equal(ok.attributes['server.address'], 'api.example.com');
  assert.equal(ok.attributes['server.port'], 50051);
  assert.equal(ok.status.code, SpanStatusCode.UNSET);
  const notFoundClient = grpc('client', 5, 'no such user');
  assert.equal(notFoundClient.status.code, SpanStatusCode.ERROR);
  assert.equal(notFoundClient.status.message, 'no such user');
  assert.equal(notFoundClient.attributes['error.type'], 'NOT_FOUND');
  const notFoundServer = grpc('server', 5, 'no such user');
  assert.equal(notFoundServer.status.code, SpanStatusCode.UNSET, 'NOT_FOUND is not the server\'s fault');
  assert.equal(notFoundServer.attributes['rpc.status_code'], 'NOT_FOUND');
  const unavailable = grpc('server', 14);
  assert.equal(unavailable.status.code, SpanStatusCode.ERROR);
  assert.equal(unavailable.attributes['error.type'], 'UNAVAILABLE');
  const unknown = grpc('client', undefined);
  assert.equal(unknown.attributes['rpc.status_code'], undefined, 'not seen: not guessed');
  assert.equal(unknown.status.code, SpanStatusCode.UNSET);
});

test('startNotAfterNs moves a span\'s start earlier, never later; the end stays', () => {
  const ex = exchange({ startNs: 1_000_000n, endNs: 13_300_000n });
  const earlier = builder.build(ex, { startNotAfterNs: 900_000n });
  assert.deepEqual(earlier.startTime, [1_764_079_200, 900_000]);
  assert.deepEqual(earlier.endTime, [1_764_079_200, 13_300_000]);
  assert.deepEqual(earlier.duration, [0, 12_400_000]);
  const later = builder.build(ex, { startNotAfterNs: 1_200_000n });
  assert.deepEqual(later.startTime, [1_764_079_200, 1_000_000]);
  assert.deepEqual(later.duration, [0, 12_300_000]);
});
