// The HTTP/2 session on real traffic: node's http2 client and server (nghttp2 inside, the
// HPACK encoder curl uses too) talk h2c over loopback through a relay that records the bytes.
// Every stream must come out right — 100 concurrent streams interleaved, trailers, a reset,
// gRPC-shaped calls — cut anywhere, seen from either end, and joined mid-way: nothing wrong.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import test from 'node:test';

import { ErrorKind } from '../../src/exchange/error-kind';
import type { ProtocolExchange } from '../../src/protocol/session';
import { concatDir, facts, feed, flip, frameStarts, recordHttp2, request, withGap } from './http2-harness';
import type { Step } from './http2-harness';

const CONCURRENT = 100;

function handler(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const path = String(headers[':path']);
  stream.on('error', () => undefined);
  let received = 0;
  stream.on('data', (d: Buffer) => {
    received += d.length;
  });
  const whenDone = (f: () => void): void => {
    if (stream.readableEnded) f();
    else stream.on('end', f);
    stream.resume();
  };
  if (path === '/a') {
    whenDone(() => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-answer': 'a' });
      stream.end('hello');
    });
  } else if (path === '/missing') {
    whenDone(() => {
      stream.respond({ ':status': 404 });
      stream.end('nope');
    });
  } else if (path === '/upload') {
    whenDone(() => {
      stream.respond({ ':status': 201 });
      stream.end(String(received));
    });
  } else if (path.startsWith('/n/')) {
    const i = Number(path.slice(3));
    whenDone(() => setTimeout(() => {
      stream.respond({ ':status': 200, 'x-index': String(i) });
      stream.end(Buffer.alloc(i * 7, 0x61));
    }, (i * 7) % 13));
  } else if (path === '/trailers') {
    whenDone(() => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      stream.end('xyz');
    });
  } else if (path === '/slow') {
    setTimeout(() => {
      if (!stream.destroyed) {
        stream.respond({ ':status': 200 });
        stream.end('late');
      }
    }, 400);
  } else if (path === '/pkg.Greeter/SayHello') {
    whenDone(() => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'no%20such%20greeting%3A%20%C3%A9' }));
      stream.end(Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
    });
  } else if (path === '/pkg.Greeter/Missing') {
    whenDone(() => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unknown method' }, { endStream: true }));
  } else if (path === '/pkg.Greeter/Stream') {
    whenDone(() => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      let n = 0;
      const tick = (): void => {
        stream.write(Buffer.from([0, 0, 0, 0, 1, n]));
        if (++n < 3) setTimeout(tick, 30);
        else stream.end();
      };
      tick();
    });
  } else {
    stream.respond({ ':status': 500 });
    stream.end();
  }
}

const grpcHeaders = (method: string): http2.OutgoingHttpHeaders => ({
  ':method': 'POST', ':path': `/pkg.Greeter/${method}`, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S',
});
const grpcBody = Buffer.from([0, 0, 0, 0, 2, 9, 9]);

interface Expected {
  method: string;
  url: string;
  status: number | undefined;
  reqBody: number;
  respBody: number | undefined;
  error?: ErrorKind;
  trailers?: string[];
  rpc?: { service: string; method: string; statusCode?: number; statusMessage?: string };
}

const expected = new Map<string, Expected>([
  ['/a', { method: 'GET', url: '/a', status: 200, reqBody: 0, respBody: 5 }],
  ['/missing', { method: 'GET', url: '/missing', status: 404, reqBody: 0, respBody: 4 }],
  ['/upload', { method: 'POST', url: '/upload', status: 201, reqBody: 3000, respBody: 4 }],
  ['/trailers', { method: 'GET', url: '/trailers', status: 200, reqBody: 0, respBody: 3, trailers: ['x-checksum', 'abc'] }],
  ['/slow', { method: 'GET', url: '/slow', status: undefined, reqBody: 0, respBody: undefined, error: ErrorKind.StreamReset }],
  ['/pkg.Greeter/SayHello', { method: 'POST', url: '/pkg.Greeter/SayHello', status: 200, reqBody: 7, respBody: 8, trailers: ['grpc-status', '5', 'grpc-message', 'no%20such%20greeting%3A%20%C3%A9'], rpc: { service: 'pkg.Greeter', method: 'SayHello', statusCode: 5, statusMessage: 'no such greeting: é' } }],
  ['/pkg.Greeter/Missing', { method: 'POST', url: '/pkg.Greeter/Missing', status: 200, reqBody: 7, respBody: 0, rpc: { service: 'pkg.Greeter', method: 'Missing', statusCode: 12, statusMessage: 'unknown method' } }],
  ['/pkg.Greeter/Stream', { method: 'POST', url: '/pkg.Greeter/Stream', status: 200, reqBody: 7, respBody: 18, trailers: ['grpc-status', '0'], rpc: { service: 'pkg.Greeter', method: 'Stream', statusCode: 0, statusMessage: undefined } }],
]);
for (let i = 0; i < CONCURRENT; i++) expected.set(`/n/${i}`, { method: 'GET', url: `/n/${i}`, status: 200, reqBody: 0, respBody: i * 7 });

let recorded: Step[] | undefined;
async function traffic(): Promise<Step[]> {
  if (recorded !== undefined) return recorded;
  recorded = await recordHttp2(handler, async (s) => {
    await request(s, { ':path': '/a', 'user-agent': 'tlsotel-test' });
    await request(s, { ':path': '/missing' });
    await request(s, { ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' }, Buffer.alloc(3000, 1));
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => request(s, { ':path': `/n/${i}`, 'x-request-id': `req-${i}` })));
    const t = await request(s, { ':path': '/trailers' });
    assert.equal(t.trailers['x-checksum'], 'abc');
    const slow = await request(s, { ':path': '/slow' }, undefined, { cancelAfterMs: 50 });
    assert.equal(slow.reset, http2.constants.NGHTTP2_CANCEL);
    await request(s, grpcHeaders('SayHello'), grpcBody);
    await request(s, grpcHeaders('Missing'), grpcBody);
    await request(s, grpcHeaders('Stream'), grpcBody);
  });
  return recorded;
}

function check(ex: ProtocolExchange, side: 'client' | 'server', label: string): void {
  const url = ex.request.url;
  assert.ok(url !== undefined, `${label}: stream ${ex.ordinal} without a url`);
  const e = expected.get(url);
  assert.ok(e !== undefined, `${label}: unexpected url ${url}`);
  assert.deepStrictEqual(facts(ex), {
    side, stream: ex.ordinal, method: e.method, url: e.url, status: e.status, reqBody: e.reqBody, respBody: e.respBody, error: e.error,
  }, `${label}: ${url}`);
  if (e.trailers !== undefined) assert.deepStrictEqual(ex.response?.trailers, e.trailers, `${label}: trailers of ${url}`);
  assert.deepStrictEqual(ex.rpc, e.rpc === undefined ? undefined : { system: 'grpc', ...e.rpc }, `${label}: rpc of ${url}`);
  assert.equal(ex.scheme, 'http');
  assert.match(ex.authority ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(ex.protocol, 'http/2');
  assert.equal(ex.version, '2');
  assert.ok(ex.startNs <= ex.endNs && ex.request.startNs <= ex.request.endNs, `${label}: times of ${url}`);
  if (ex.response !== undefined) assert.ok(ex.response.startNs <= ex.response.endNs && ex.response.endNs <= ex.endNs, `${label}: response times of ${url}`);
}

test('node http2 client and server: every stream of one connection, cut anywhere, from either end', async () => {
  const steps = await traffic();
  for (const [label, input, side] of [['client', steps, 'client'], ['server', flip(steps), 'server']] as const) {
    for (const piece of [Infinity, 1, 7, 100, 1000]) {
      const c = feed(input, piece, ErrorKind.ClosedBeforeResponse);
      const tag = `${label} piece ${piece}`;
      assert.equal(c.notMine, 0, tag);
      assert.equal(c.exchanges.length, expected.size, `${tag}: exchanges`);
      for (const ex of c.exchanges) check(ex, side, tag);
      assert.deepStrictEqual([...c.counters.entries()], [], `${tag}: counters`);
      assert.equal(c.session.inFlight, 0);
    }
  }
});

test('node http2: regular headers of requests and responses, lower-case, pseudo-headers apart', async () => {
  const c = feed(await traffic());
  const a = c.exchanges.find((e) => e.request.url === '/a')!;
  assert.deepStrictEqual(a.request.headers, ['user-agent', 'tlsotel-test']);
  assert.ok(a.response!.headers.includes('x-answer') && a.response!.headers.includes('text/plain'));
  assert.ok(!a.response!.headers.some((h) => h.startsWith(':')));
  const n7 = c.exchanges.find((e) => e.request.url === '/n/7')!;
  assert.deepStrictEqual(n7.request.headers, ['x-request-id', 'req-7']);
  assert.equal(n7.response!.headers[n7.response!.headers.indexOf('x-index') + 1], '7');
  // The streaming call lasts until its last message and trailers (three messages 30 ms apart).
  const streaming = c.exchanges.find((e) => e.request.url === '/pkg.Greeter/Stream')!;
  assert.ok(streaming.response!.endNs > streaming.response!.startNs);
});

test('node http2 joined mid-way (the first frames unseen): whatever is reported is right', async () => {
  const steps = await traffic();
  const truth = new Map<number, ProtocolExchange>(feed(steps).exchanges.map((e) => [e.ordinal!, e]));
  // Per direction, where each step starts in that direction's bytes.
  const offsets: number[] = [];
  const pos = { write: 0, read: 0 };
  for (const s of steps) {
    if (!('bytes' in s)) throw new Error('recorded traffic has no gaps');
    offsets.push(pos[s.dir]);
    pos[s.dir] += s.bytes.length;
  }
  const starts = { write: frameStarts(concatDir(steps, 'write')), read: frameStarts(concatDir(steps, 'read')) };
  let recovered = 0;
  let reported = 0;
  const stride = Math.max(1, Math.floor(steps.length / 150));
  for (let from = 1; from < steps.length; from += stride) {
    // Start at step `from`; the first chunk of each direction is trimmed to a frame start.
    const cut: Step[] = [];
    const started = { write: false, read: false };
    for (let i = from; i < steps.length; i++) {
      const s = steps[i] as { dir: 'write' | 'read'; bytes: Buffer };
      if (started[s.dir]) {
        cut.push(s);
        continue;
      }
      const next = starts[s.dir].find((o) => o >= offsets[i]);
      if (next === undefined || next >= offsets[i] + s.bytes.length) continue;
      started[s.dir] = true;
      cut.push({ dir: s.dir, bytes: s.bytes.subarray(next - offsets[i]) });
    }
    const c = feed(cut, Infinity, ErrorKind.ClosedBeforeResponse);
    assert.equal(c.notMine, 0, `from step ${from}`);
    for (const ex of c.exchanges) {
      reported++;
      if (nothingWrong(ex, truth, `from step ${from}`)) recovered++;
    }
  }
  console.log(`joined mid-way: ${reported} exchanges reported, ${recovered} with their url`);
  assert.ok(reported > 0 && recovered / reported > 0.5, `recovered ${recovered} of ${reported} urls`);
});

/** Asserts that whatever `ex` says agrees with the same stream seen whole; true when it has
 *  its url. */
function nothingWrong(ex: ProtocolExchange, truth: Map<number, ProtocolExchange>, label: string): boolean {
  const t = truth.get(ex.ordinal!);
  const tag = `${label}, stream ${ex.ordinal}`;
  assert.ok(t !== undefined, `${tag}: a stream that never was`);
  assert.equal(ex.side, t.side, tag);
  if (ex.request.method !== undefined) assert.equal(ex.request.method, t.request.method, tag);
  if (ex.request.url !== undefined) assert.equal(ex.request.url, t.request.url, tag);
  if (ex.response?.statusCode !== undefined) assert.equal(ex.response.statusCode, t.response?.statusCode, tag);
  for (const [got, want] of [[ex.request.headers, t.request.headers], [ex.response?.headers, t.response?.headers], [ex.response?.trailers, t.response?.trailers]]) {
    for (let i = 0; got !== undefined && i < got.length; i += 2) {
      const at = want?.indexOf(got[i]) ?? -1;
      assert.ok(at >= 0 && want![at + 1] === got[i + 1], `${tag}: field ${got[i]}`);
    }
  }
  if (ex.error === undefined) assert.deepStrictEqual({ ...facts(ex), method: t.request.method, url: t.request.url, status: t.response?.statusCode }, facts(t), tag);
  if (ex.rpc !== undefined) {
    assert.equal(ex.rpc.service + ex.rpc.method, t.rpc!.service + t.rpc!.method, tag);
    if (ex.rpc.statusCode !== undefined) assert.equal(ex.rpc.statusCode, t.rpc!.statusCode, tag);
  }
  return ex.request.url !== undefined;
}

test('node http2 with a capture gap anywhere: nothing wrong, the connection goes on', async () => {
  const steps = await traffic();
  const truth = new Map<number, ProtocolExchange>(feed(steps).exchanges.map((e) => [e.ordinal!, e]));
  let runs = 0;
  let reported = 0;
  let whole = 0;
  for (const dir of ['write', 'read'] as const) {
    const total = concatDir(steps, dir).length;
    for (let offset = 0; offset < total; offset += 211) {
      for (const n of [1, 40, 5000]) {
        const c = feed(withGap(steps, dir, offset, Math.min(n, total - offset)), Infinity, ErrorKind.ClosedBeforeResponse);
        runs++;
        assert.equal(c.notMine, 0);
        for (const ex of c.exchanges) {
          reported++;
          nothingWrong(ex, truth, `${dir} gap of ${n} at ${offset}`);
          if (ex.error === undefined) whole++;
        }
      }
    }
  }
  console.log(`gaps: ${runs} runs, ${reported} exchanges reported, ${whole} without error`);
  assert.ok(reported > runs * expected.size * 0.5, `${reported} exchanges in ${runs} runs`);
});
