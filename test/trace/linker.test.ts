// TraceLinker: traceparent, same-host stitching by mirrored tuple + ordinal, its bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TraceLinker } from '../../src/trace/linker';
import type { ConnectionAddresses, Exchange } from '../../src/exchange/types';
import { CURL, NGINX, exchange, request } from './fixtures';
import type { Field } from '../helpers/fields';

const CLIENT_ADDR: ConnectionAddresses = { localAddress: '127.0.0.1', localPort: 40000, remoteAddress: '127.0.0.1', remotePort: 8443, family: 'ipv4' };
const SERVER_ADDR: ConnectionAddresses = { localAddress: '127.0.0.1', localPort: 8443, remoteAddress: '127.0.0.1', remotePort: 40000, family: 'ipv4' };

function client(ordinal: number, over: Partial<Exchange> = {}): Exchange {
  return exchange({ side: 'client', process: CURL, connectionId: 'c1', addresses: CLIENT_ADDR, ordinal, request: request('GET', `/r/${ordinal}`), ...over });
}

function server(ordinal: number, over: Partial<Exchange> = {}): Exchange {
  return exchange({ side: 'server', process: NGINX, connectionId: 's1', addresses: SERVER_ADDR, ordinal, request: request('GET', `/r/${ordinal}`), ...over });
}

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

test('server built first: its parent is the span the client builds later', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  const s = l.optionsFor(server(1));
  const c = l.optionsFor(client(1));
  assert.ok(s.parent && c.spanId && c.traceId);
  assert.equal(s.parent.spanId, c.spanId);
  assert.equal(s.parent.traceId, c.traceId);
  assert.equal(s.parent.isRemote, false);
  assert.equal(c.parent, undefined);
  assert.equal(l.stats().stitched, 1);
});

test('client built first: the server finds the ids the client drew', () => {
  const l = new TraceLinker();
  l.connectionKnown('s1', SERVER_ADDR);
  l.connectionKnown('c1', CLIENT_ADDR);
  const c = l.optionsFor(client(1));
  const s = l.optionsFor(server(1));
  assert.equal(s.parent?.spanId, c.spanId);
  assert.equal(s.parent?.traceId, c.traceId);
});

test('each request on the connection is paired by its position', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  const c1 = l.optionsFor(client(1));
  const s2 = l.optionsFor(server(2));
  const s1 = l.optionsFor(server(1));
  const c2 = l.optionsFor(client(2));
  assert.equal(s1.parent?.spanId, c1.spanId);
  assert.equal(s2.parent?.spanId, c2.spanId);
  assert.notEqual(c1.spanId, c2.spanId);
});

test('a different request line at the same position is not stitched', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  l.optionsFor(client(1));
  const s = l.optionsFor(server(1, { request: request('GET', '/other') }));
  assert.equal(s.parent, undefined);
  assert.equal(l.stats().stitched, 0);
});

test('a server whose client is not on this host gets no parent; nor does an unrelated tuple', () => {
  const l = new TraceLinker();
  l.connectionKnown('s1', SERVER_ADDR);
  assert.deepEqual(l.optionsFor(server(1)), {});
  l.connectionKnown('c9', { ...CLIENT_ADDR, localPort: 40001 });
  assert.deepEqual(l.optionsFor(server(2)), {});
});

test('a client whose server is elsewhere gets fresh ids from the span builder', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', { ...CLIENT_ADDR, remoteAddress: '93.184.216.34', remotePort: 443 });
  assert.deepEqual(l.optionsFor(client(1)), {});
});

test('traceparent: the server joins the caller; the client span is the child of the caller', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  const headers: Field[] = [['Host', 'x'], ['TraceParent', TP], ['tracestate', 'a=1']];
  const c = l.optionsFor(client(1, { request: request('GET', '/r/1', headers) }));
  const s = l.optionsFor(server(1, { request: request('GET', '/r/1', headers) }));
  assert.equal(c.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(c.parent?.spanId, 'b7ad6b7169203331');
  assert.equal(c.parent?.traceState, 'a=1');
  assert.equal(s.parent?.spanId, 'b7ad6b7169203331');
  assert.equal(s.parent?.isRemote, true);
  assert.equal(l.stats().fromTraceparent, 2);
  // Without ordinal or peer: the header still gives the parent.
  const lone = new TraceLinker().optionsFor(client(1, { ordinal: undefined, request: request('GET', '/', [['traceparent', TP]]) }));
  assert.equal(lone.parent?.traceId, '0af7651916cd43dd8448eb211c80319c');
});

test('stitch off: no ids shared', () => {
  const l = new TraceLinker({ stitch: false });
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  l.optionsFor(client(1));
  assert.deepEqual(l.optionsFor(server(1)), {});
});

test('bounded: the oldest connections and exchanges are forgotten first', () => {
  const l = new TraceLinker({ maxConnections: 4, maxExchanges: 3 });
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  const cs = [1, 2, 3, 4].map((n) => l.optionsFor(client(n)));
  // Exchange 1's ids were evicted: the server draws new ones and finds no client span.
  const s1 = l.optionsFor(server(1));
  assert.notEqual(s1.parent?.spanId, cs[0].spanId);
  assert.equal(l.optionsFor(server(4)).parent?.spanId, cs[3].spanId);
  // Five more connections push c1's tuple out: its server finds no client any more.
  for (let i = 0; i < 5; i++) l.connectionKnown(`x${i}`, { ...CLIENT_ADDR, localPort: 50000 + i });
  assert.deepEqual(l.optionsFor(server(5)), {});
});

test('a connection told again is a new connection (SSL* and port reused): fresh ids, the old peer forgotten', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  const old = l.optionsFor(client(1));
  assert.equal(l.optionsFor(server(1)).parent?.spanId, old.spanId);
  // Both ends reconnect with the same ids and tuple.
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  const c = l.optionsFor(client(1));
  assert.notEqual(c.spanId, old.spanId);
  assert.equal(l.optionsFor(server(1)).parent?.spanId, c.spanId);
  // Only the client reconnects from another port: the old server no longer counts as its peer.
  const moved = { ...CLIENT_ADDR, localPort: 40002 };
  l.connectionKnown('c1', moved);
  assert.deepEqual(l.optionsFor(client(2, { addresses: moved })), {});
});

test('a client span built before its server was known is never claimed as a parent', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', CLIENT_ADDR);
  // The server's connection record came late (ring buffer full, retried on its next call).
  const c = l.optionsFor(client(1));
  assert.deepEqual(c, {}, 'ids drawn by the span builder, shared with nobody');
  l.connectionKnown('s1', SERVER_ADDR);
  assert.deepEqual(l.optionsFor(server(1)), {}, 'no parent the client does not have');
  // Later requests on the connection are stitched again.
  const c2 = l.optionsFor(client(2));
  assert.equal(l.optionsFor(server(2)).parent?.spanId, c2.spanId);
});

test('a long keep-alive connection stays stitched under a small bound', () => {
  const l = new TraceLinker({ maxExchanges: 2 });
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  // Ten exchanges with a bound of two: each pair is consumed, so none is evicted early.
  for (let n = 1; n <= 10; n++) {
    const c = l.optionsFor(client(n));
    assert.equal(l.optionsFor(server(n)).parent?.spanId, c.spanId, `exchange ${n}`);
  }
});

test('a client span never starts after its same-host server span: the server built first gives its start', () => {
  const l = new TraceLinker();
  l.connectionKnown('c1', CLIENT_ADDR);
  l.connectionKnown('s1', SERVER_ADDR);
  // The client's write returned (its stamp) after the server's read of those bytes returned.
  l.optionsFor(server(1, { startNs: 1_000_000n }));
  assert.equal(l.optionsFor(client(1, { startNs: 1_000_400n })).startNotAfterNs, 1_000_000n);
  // Not for another request at that position (the server does not stitch it either).
  l.optionsFor(server(2, { startNs: 2_000_000n, request: request('GET', '/other') }));
  assert.equal(l.optionsFor(client(2, { startNs: 2_000_400n })).startNotAfterNs, undefined);
  // Built first, the client knows nothing of its server yet: its own stamp stands.
  assert.equal(l.optionsFor(client(3, { startNs: 3_000_400n })).startNotAfterNs, undefined);
  l.optionsFor(server(3, { startNs: 3_000_000n }));
});
