// Unit tests for ExchangeTracker with the HTTP/1 session: captured byte streams (as a StreamSink)
// → paired HTTP exchanges.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Direction } from '../../src/capture/record';
import type { Connection } from '../../src/capture/streams';
import { ExchangeTracker, type ExchangeOptions } from '../../src/exchange/tracker';
import type { Exchange, ProcessInfo } from '../../src/exchange/types';
import type { HttpMessage } from '../../src/protocol/http1/types';
import { ERROR_KINDS, errorMessage } from '../../src/exchange/error-kind';
import { fieldPairs } from '../helpers/fields';

const INFO: ProcessInfo = { pid: 4242, comm: 'curl', exeName: 'curl', exePath: '/usr/bin/curl', serviceName: 'curl-svc' };

function conn(id = '4242:55aa', pid = 4242, comm = 'curl'): Connection {
  return {
    id, pid, conn: 0x55aan, comm, libId: 1, firstNs: 0n, lastNs: 0n,
    bytes: { write: 0, read: 0 }, missing: { write: 0, read: 0 },
  };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function setup(opts: Partial<ExchangeOptions> = {}) {
  const out: Exchange[] = [];
  const infoCalls: Array<[number, string]> = [];
  const t = new ExchangeTracker((ex) => out.push(ex), {
    processInfo: (pid, comm) => { infoCalls.push([pid, comm]); return INFO; },
    addressWaitMs: 0, // pairing tests: connections here never learn addresses
    ...opts,
  });
  const c = conn();
  let ts = 1000n;
  /** Feeds data with the next timestamp (strictly increasing); returns that timestamp. */
  const send = (dir: Direction, s: string | Buffer): bigint => {
    ts += 10n;
    t.onData(c, dir, typeof s === 'string' ? b(s) : s, ts);
    return ts;
  };
  const gap = (dir: Direction, bytes: number): bigint => {
    ts += 10n;
    t.onGap(c, dir, bytes, ts, 'ring-full');
    return ts;
  };
  const next = (): bigint => (ts += 10n);
  return { t, out, c, infoCalls, send, gap, next };
}

/** [method, url, status, error] of each exchange, for compact pairing checks. */
/** The message of an exchange's error kind (with its detail), as the span status shows it. */
const why = (e: Exchange): string | undefined => (e.error === undefined ? undefined : errorMessage(e.error, e.errorDetail));
const pairs = (out: Exchange[]) => out.map((e) => [e.request.method, e.request.url, e.response?.statusCode, why(e)]);
/** cutShort keyed by message, as the tests were written. */
const cutShortByMessage = (c: Record<string, number>) => Object.fromEntries(Object.entries(c).map(([reason, n]) => [Object.values(ERROR_KINDS).find((k) => k.reason === reason)?.message ?? reason, n]));

const GET = (url: string, extra = '') => `GET ${url} HTTP/1.1\r\nHost: api.example.com\r\n${extra}\r\n`;
const OK = (status: number, body = '', reason = 'OK') => `HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

test('client side: request written, response read → one client exchange', () => {
  const { t, out, c, infoCalls, send } = setup();
  const t0 = send('write', 'GET /users/42?x=1 HTTP/1.1\r\nHost: api.example.com\r\n');
  const t1 = send('write', 'Accept: */*\r\n\r\n');
  assert.equal(out.length, 0);
  const t2 = send('read', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhe');
  const t3 = send('read', 'llo');
  assert.equal(out.length, 1);
  const ex = out[0];
  assert.equal(ex.side, 'client');
  assert.deepEqual(ex.process, INFO);
  assert.deepEqual(infoCalls, [[4242, 'curl']]);
  assert.equal(ex.connectionId, c.id);
  assert.equal(ex.scheme, undefined); // HTTP/1 carries no scheme: TLS means https (span builder)
  assert.equal(ex.startNs, t0);
  assert.equal(ex.endNs, t3);
  assert.equal(ex.error, undefined);
  assert.equal(ex.protocol, 'http/1');
  assert.equal(ex.version, '1.1');
  assert.equal(ex.request.method, 'GET');
  assert.equal(ex.request.url, '/users/42?x=1');
  assert.deepEqual(fieldPairs(ex.request.headers), [['Host', 'api.example.com'], ['Accept', '*/*']]);
  assert.equal(ex.request.startNs, t0);
  assert.equal(ex.request.endNs, t1);
  assert.equal(ex.response?.statusCode, 200);
  assert.equal((ex.response as HttpMessage | undefined)?.reason, 'OK');
  assert.deepEqual(fieldPairs(ex.response?.headers ?? []), [['Content-Type', 'text/plain'], ['Content-Length', '5']]);
  assert.equal(ex.response?.bodySize, 5);
  assert.equal(ex.response?.startNs, t2);
  assert.equal(t.stats().exchanges, 1);
  assert.deepEqual(cutShortByMessage(t.stats().cutShort), {});
});

test('server side: request read, response written → one server exchange', () => {
  const { out, send } = setup();
  const t0 = send('read', GET('/srv'));
  const t1 = send('write', OK(404, 'nope', 'Not Found'));
  assert.equal(out.length, 1);
  assert.equal(out[0].side, 'server');
  assert.equal(out[0].startNs, t0);
  assert.equal(out[0].endNs, t1);
  assert.deepEqual(pairs(out), [['GET', '/srv', 404, undefined]]);
  assert.equal((out[0].response as HttpMessage | undefined)?.reason, 'Not Found');
});

test('keep-alive: three exchanges in order, POST body, chunked response', () => {
  const { out, send } = setup();
  send('write', GET('/a'));
  send('read', OK(200, 'aa'));
  const tPost = send('write', 'POST /b HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello');
  send('write', ' world');
  send('read', OK(201, '', 'Created'));
  send('write', GET('/c'));
  send('read', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  const tEnd = send('read', '6\r\n world\r\n0\r\n\r\n');
  assert.deepEqual(pairs(out), [['GET', '/a', 200, undefined], ['POST', '/b', 201, undefined], ['GET', '/c', 200, undefined]]);
  assert.equal(out[1].request.bodySize, 11);
  assert.equal(out[1].startNs, tPost);
  assert.equal(out[0].response?.bodySize, 2);
  assert.equal(out[2].response?.bodySize, 11);
  assert.equal(out[2].endNs, tEnd);
  assert.ok(out.every((e) => e.side === 'client'));
});

const PIPE_REQS = GET('/1') + 'POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc' + GET('/3');
const PIPE_RESPS = OK(200, 'one') + OK(404, 'missing', 'Not Found') + 'HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n';
const PIPE_EXPECT = [['GET', '/1', 200, undefined], ['POST', '/2', 404, undefined], ['GET', '/3', 500, undefined]];

test('pipelining: three requests in one chunk, three responses in one chunk', () => {
  const { out, send } = setup();
  send('write', PIPE_REQS);
  assert.equal(out.length, 0);
  send('read', PIPE_RESPS);
  assert.deepEqual(pairs(out), PIPE_EXPECT);
  assert.deepEqual(out.map((e) => e.response?.bodySize), [3, 7, 2]);
});

test('pipelining: responses split at every byte offset pair the same way', () => {
  const resps = b(PIPE_RESPS);
  for (let i = 1; i < resps.length; i++) {
    const { out, send } = setup();
    send('write', PIPE_REQS);
    send('read', resps.subarray(0, i));
    const tLast = send('read', resps.subarray(i));
    assert.deepEqual(pairs(out), PIPE_EXPECT, `split at ${i}`);
    assert.equal(out[2].endNs, tLast, `split at ${i}`);
  }
});

test('HEAD: response with Content-Length but no body, then the next exchange', () => {
  // One after the other…
  const a = setup();
  a.send('write', 'HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n');
  a.send('read', 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n');
  assert.deepEqual(pairs(a.out), [['HEAD', '/file', 200, undefined]]);
  assert.equal(a.out[0].response?.bodySize, 0);
  a.send('write', GET('/next'));
  a.send('read', OK(201, 'ok'));
  assert.deepEqual(pairs(a.out), [['HEAD', '/file', 200, undefined], ['GET', '/next', 201, undefined]]);
  assert.equal(a.out[1].response?.bodySize, 2);
  // …and pipelined: both responses in one chunk, framed by the method of the right request.
  const p = setup();
  p.send('write', 'HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n' + GET('/next'));
  p.send('read', 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n' + OK(202, 'body!', 'Accepted'));
  assert.deepEqual(pairs(p.out), [['HEAD', '/file', 200, undefined], ['GET', '/next', 202, undefined]]);
  assert.deepEqual(p.out.map((e) => e.response?.bodySize), [0, 5]);
});

test('100 Continue: the interim response is skipped, the final one is paired', () => {
  const { t, out, send } = setup();
  const t0 = send('write', 'POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
  send('read', 'HTTP/1.1 100 Continue\r\n\r\n');
  assert.equal(out.length, 0);
  send('write', 'data');
  const tFinal = send('read', OK(200, 'done'));
  assert.deepEqual(pairs(out), [['POST', '/upload', 200, undefined]]);
  assert.equal(out[0].request.bodySize, 4);
  assert.equal(out[0].response?.startNs, tFinal);
  assert.equal(out[0].startNs, t0);
  assert.equal(out[0].endNs, tFinal);
  assert.equal(t.stats().unpairedResponses, 0);
});

test('cut short: connection closed / process exited with a request pending', () => {
  for (const [reason, error] of [['closed', 'connection closed before response'], ['process-exited', 'process exited']] as const) {
    const { t, out, c, send, next } = setup();
    const t0 = send('write', GET('/slow'));
    const tClose = next();
    t.onClose(c, reason, tClose);
    assert.equal(out.length, 1, reason);
    assert.equal(why(out[0]), error);
    assert.equal(out[0].response, undefined);
    assert.equal(out[0].request.url, '/slow');
    assert.equal(out[0].startNs, t0);
    assert.equal(out[0].endNs, tClose);
    assert.deepEqual(cutShortByMessage(t.stats().cutShort), { [error]: 1 });
    assert.equal(c.state, undefined);
  }
});

test('cut short: response timeout; the late response does not pair with the next request', () => {
  const { t, out, send } = setup({ responseTimeoutMs: 1 });
  const tReq = send('write', GET('/a'));
  t.expire(tReq + 1_000_000n); // exactly the timeout: not yet
  assert.equal(out.length, 0);
  const now = tReq + 1_000_001n;
  t.expire(now);
  assert.deepEqual(pairs(out), [['GET', '/a', undefined, 'response timeout']]);
  assert.equal(out[0].endNs, now);
  send('read', OK(200, 'late'));
  assert.equal(out.length, 1);
  send('write', GET('/b'));
  send('read', OK(202, 'b'));
  assert.deepEqual(pairs(out), [['GET', '/a', undefined, 'response timeout'], ['GET', '/b', 202, undefined]]);
  assert.equal(t.stats().unpairedResponses, 0);
  assert.deepEqual(cutShortByMessage(t.stats().cutShort), { 'response timeout': 1 });
});

test('timed-out HEAD: its late bodiless response is framed as HEAD, the next exchange is right', () => {
  const { t, out, send } = setup({ responseTimeoutMs: 1 });
  const tReq = send('write', 'HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n');
  t.expire(tReq + 2_000_000n);
  send('write', GET('/b'));
  send('read', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + OK(202, 'ok', 'Accepted'));
  assert.deepEqual(pairs(out), [['HEAD', '/h', undefined, 'response timeout'], ['GET', '/b', 202, undefined]]);
  assert.equal(out[1].response?.bodySize, 2);
});

test('timed-out request: a late response cut by a gap is skipped too', () => {
  const { t, out, send, gap } = setup({ responseTimeoutMs: 1 });
  const tReq = send('write', GET('/a'));
  t.expire(tReq + 2_000_000n);
  send('write', GET('/b'));
  send('read', 'HTTP/1.1 200 OK\r\nConte');
  gap('read', 30);
  send('read', OK(202, '', 'Accepted'));
  assert.deepEqual(pairs(out), [['GET', '/a', undefined, 'response timeout'], ['GET', '/b', 202, undefined]]);
  assert.equal(t.stats().unpairedResponses, 0);
});

test('a request unanswered after a loss in the answering direction is a capture gap at its timeout, not a slow server', () => {
  const { t, out, send, gap } = setup({ responseTimeoutMs: 1 });
  send('write', GET('/a'));
  send('read', OK(201, '', 'Created'));
  const tReq = send('write', GET('/b'));
  gap('read', 300); // its answer, lost (ring buffer full)
  const tSlow = send('write', GET('/c')); // no loss after this one: a slow answer
  t.expire(tSlow + 2_000_000n);
  assert.deepEqual(pairs(out), [['GET', '/a', 201, undefined], ['GET', '/b', undefined, 'capture gap'], ['GET', '/c', undefined, 'response timeout']]);
  assert.ok(tReq < tSlow);
});

test('an interim response cut by a gap does not take the request', () => {
  const { t, out, send, gap } = setup();
  send('write', 'POST /u HTTP/1.1\r\nContent-Length: 1\r\n\r\nz'); // complete: pending when the 100 comes
  send('read', 'HTTP/1.1 100 Continue\r\nX-A');
  gap('read', 5);
  send('read', OK(200, 'k'));
  assert.deepEqual(pairs(out), [['POST', '/u', 200, undefined]]);
  assert.equal(t.stats().unpairedResponses, 0);
});

test('agent stopped: pending requests are dropped, not reported', () => {
  const { t, out, c, send, next } = setup();
  send('write', GET('/1') + GET('/2'));
  t.onClose(c, 'agent-stopped', next());
  assert.equal(out.length, 0);
  assert.equal(t.stats().droppedAtStop, 2);
  assert.equal(t.stats().exchanges, 0);
  t.expire(1n << 62n); // the connection is gone: nothing left to expire
  assert.equal(out.length, 0);
});

test('gap inside a Content-Length body: exchange complete, next exchange right', () => {
  const { out, send, gap } = setup();
  send('write', GET('/big'));
  send('read', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  gap('read', 4);
  const tEnd = send('read', 'def');
  assert.deepEqual(pairs(out), [['GET', '/big', 200, undefined]]);
  assert.equal(out[0].response?.bodySize, 10);
  assert.equal((out[0].response as HttpMessage | undefined)?.bodyBytesMissing, 4);
  assert.equal(out[0].endNs, tEnd);
  send('write', GET('/after'));
  send('read', OK(404, 'x', 'Not Found'));
  assert.deepEqual(pairs(out), [['GET', '/big', 200, undefined], ['GET', '/after', 404, undefined]]);
  assert.equal(out[1].response?.bodySize, 1);
});

test('gap inside response headers: exchange with a capture-gap error, later pairing right', () => {
  const { t, out, send, gap } = setup();
  send('write', GET('/1') + GET('/2'));
  const tPart = send('read', 'HTTP/1.1 503 Service Unavailable\r\nContent-Ty');
  gap('read', 40);
  assert.equal(out.length, 1);
  assert.equal(out[0].endNs, tPart); // last byte seen of the partial response, not the gap
  assert.equal(out[0].request.url, '/1');
  assert.equal(out[0].response?.statusCode, 503);
  assert.equal((out[0].response as HttpMessage | undefined)?.incomplete, true);
  assert.match(why(out[0]) ?? '', /capture gap/);
  send('read', OK(200, 'two'));
  send('write', GET('/3'));
  send('read', OK(201, 'three', 'Created'));
  assert.deepEqual(pairs(out).slice(1), [['GET', '/2', 200, undefined], ['GET', '/3', 201, undefined]]);
  assert.equal(t.stats().parseErrors.gap, 1);
  assert.equal(t.stats().unpairedResponses, 0);
});

test('no protocol of ours: binary bytes give no exchanges and count one connection; the HTTP/2 preface picks the HTTP/2 session', () => {
  let seed = 7;
  const random = Buffer.from(Array.from({ length: 300 }, () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16 & 0xff));
  const h2 = Buffer.concat([b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100])]);
  for (const [first, second, protocol] of [[random, random, undefined], [h2, Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]), 'http/2']] as const) {
    const { t, out, c, send, next } = setup();
    assert.doesNotThrow(() => {
      send('write', first);
      send('read', second);
      send('write', GET('/ignored'));
      send('read', OK(200));
      t.expire(next() + 10n ** 12n);
      t.onClose(c, 'closed', next());
    });
    assert.equal(out.length, 0, 'HTTP/1 text inside an HTTP/2 connection is no exchange');
    assert.equal(t.stats().exchanges, 0);
    if (protocol === undefined) assert.equal(t.stats().otherProtocolConnections, 1);
    else assert.deepEqual(t.stats().connections, { 'http/1': 0, 'http/2': 1 });
  }
});

test('close-delimited response (HTTP/1.0, no Content-Length) completed by the close', () => {
  const { t, out, c, send, next } = setup();
  send('write', 'GET /old HTTP/1.0\r\n\r\n');
  send('read', 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ');
  const tLast = send('read', 'world');
  assert.equal(out.length, 0);
  t.onClose(c, 'closed', next());
  assert.deepEqual(pairs(out), [['GET', '/old', 200, undefined]]);
  assert.equal(out[0].response?.bodySize, 11);
  assert.equal((out[0].response as HttpMessage | undefined)?.incomplete, false);
  assert.equal(out[0].endNs, tLast);
  assert.deepEqual(cutShortByMessage(t.stats().cutShort), {});
});

test('a response with no request (joined mid-connection) is counted, not emitted', () => {
  const { t, out, send } = setup();
  send('read', OK(200, 'orphan'));
  assert.equal(out.length, 0);
  assert.equal(t.stats().unpairedResponses, 1);
  assert.equal(t.stats().exchanges, 0);
});

test('maxPendingPerConnection: the oldest request is given up; later pairing stays right', () => {
  const { t, out, send } = setup({ maxPendingPerConnection: 2 });
  send('write', GET('/1') + GET('/2'));
  assert.equal(out.length, 0);
  const t3 = send('write', GET('/3'));
  assert.deepEqual(pairs(out), [['GET', '/1', undefined, 'too many requests without response']]);
  assert.equal(out[0].response, undefined);
  assert.equal(out[0].endNs, t3);
  // The answer to /1 still comes first (HTTP/1.x answers in order): it must not pair with /2.
  send('read', OK(201, '', 'Created') + OK(202, '', 'Accepted') + OK(203));
  assert.deepEqual(pairs(out).slice(1), [['GET', '/2', 202, undefined], ['GET', '/3', 203, undefined]]);
  assert.equal(t.stats().unpairedResponses, 0);
  assert.deepEqual(cutShortByMessage(t.stats().cutShort), { 'too many requests without response': 1 });
});

test('connections are independent: interleaved client and server connections', () => {
  const { t, out } = setup();
  const cli = conn('1:a', 1, 'curl');
  const srv = conn('2:b', 2, 'nginx');
  t.onData(cli, 'write', b(GET('/c')), 10n);
  t.onData(srv, 'read', b(GET('/s')), 11n);
  t.onData(srv, 'write', b(OK(204, '', 'No Content')), 12n);
  t.onData(cli, 'read', b(OK(200, 'c')), 13n);
  assert.deepEqual(out.map((e) => [e.connectionId, e.side, e.request.url, e.response?.statusCode, e.startNs, e.endNs]),
    [['2:b', 'server', '/s', 204, 11n, 12n], ['1:a', 'client', '/c', 200, 10n, 13n]]);
});

test('addresses: exchanges wait for them (in order), carry them, and count their ordinal', () => {
  const announced: Array<[string, string, number]> = [];
  const { t, out, c, send } = setup({
    addressWaitMs: 250,
    onConnection: (id, a) => announced.push([id, a.localAddress, a.remotePort]),
  });
  send('read', 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
  send('write', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  send('read', 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  send('write', 'HTTP/1.1 204 No Content\r\n\r\n');
  assert.equal(out.length, 0, 'held until the addresses come');
  assert.deepEqual(announced, []);
  c.addresses = { localAddress: '::1', localPort: 443, remoteAddress: '::1', remotePort: 50000, family: 'ipv6' };
  t.onAddresses(c);
  assert.deepEqual(out.map((e) => [e.request.url, e.ordinal, e.addresses?.remotePort, e.side]), [['/a', 1, 50000, 'server'], ['/b', 2, 50000, 'server']]);
  assert.deepEqual(announced, [[c.id, '::1', 50000]]);
  send('read', 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n');
  send('write', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  assert.equal(out.length, 3, 'known addresses: delivered at once');
  assert.equal(out[2].ordinal, 3);
  assert.equal(announced.length, 1, 'announced once');
});

test('addresses that never come: exchanges are released after the wait, without them', () => {
  const { t, out, send } = setup({ addressWaitMs: 250 });
  send('write', 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
  const end = send('read', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  t.expire(end + 100_000_000n);
  assert.equal(out.length, 0);
  t.expire(end + 251_000_000n);
  assert.equal(out.length, 1);
  assert.equal(out[0].addresses, undefined);
});

test('whole responses lost to a gap: later responses pair by time, the unanswered request is a capture gap', () => {
  const { out, send, gap } = setup();
  send('write', GET('/1'));
  gap('read', 40); // the response to /1, lost whole (ring buffer full)
  send('write', GET('/2'));
  send('read', OK(202, '', 'Accepted'));
  send('write', GET('/3'));
  send('read', OK(203, '', 'Non-Authoritative'));
  assert.deepEqual(pairs(out), [['GET', '/1', undefined, 'capture gap'], ['GET', '/2', 202, undefined], ['GET', '/3', 203, undefined]]);
});

test('whole requests lost to a gap: their responses are not paired with later requests', () => {
  const { t, out, send, gap } = setup();
  send('write', GET('/1'));
  send('read', OK(201, '', 'Created'));
  gap('write', 40); // a request lost whole
  send('read', OK(500, '', 'Oops')); // ... and its response
  send('write', GET('/2'));
  send('read', OK(202, '', 'Accepted'));
  assert.deepEqual(pairs(out), [['GET', '/1', 201, undefined], ['GET', '/2', 202, undefined]]);
  assert.equal(t.stats().unpairedResponses, 1);
});

test('a response and the next request both lost: the following response is not given to the earlier request', () => {
  const { t, out, send, gap } = setup();
  send('write', GET('/big'));
  gap('read', 400); // /big's response, lost whole
  gap('write', 40); // the next request, lost whole
  send('read', OK(404, '', 'Not Found')); // ... answered
  send('write', GET('/3'));
  send('read', OK(203, '', 'Non-Authoritative'));
  assert.deepEqual(pairs(out), [['GET', '/big', undefined, 'capture gap'], ['GET', '/3', 203, undefined]]);
  assert.equal(t.stats().unpairedResponses, 1);
});

test('a loss reported after a response began does not hide the request loss before it', () => {
  // As in a ring-buffer-full run (test/faults/ring-buffer-full.test.ts): /2's response and the
  // next request (/3) are lost whole, and the next record, the start of /3's response, reports
  // both losses. /3's response completes with a loss that the same record as /4's loss
  // reports: that later request loss must not hide the one before /3's response began.
  const { t, c, out, send, next } = setup();
  send('write', GET('/1'));
  send('read', OK(201, '', 'Created'));
  send('write', GET('/2'));
  let ts = next();
  t.onGap(c, 'write', 40, ts, 'ring-full'); // /3, lost whole
  t.onGap(c, 'read', 60, ts, 'ring-full'); // /2's response, lost whole
  t.onData(c, 'read', b(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${'x'.repeat(20)}`), ts); // /3's, begun
  ts = next();
  t.onGap(c, 'write', 40, ts, 'ring-full'); // /4, lost whole
  t.onGap(c, 'read', 80, ts, 'ring-full'); // the rest of /3's response
  t.onData(c, 'read', b(OK(404, '', 'Not Found')), ts); // /4's response
  send('write', GET('/5'));
  send('read', OK(203, '', 'Non-Authoritative'));
  assert.deepEqual(pairs(out), [['GET', '/1', 201, undefined], ['GET', '/2', undefined, 'capture gap'], ['GET', '/5', 203, undefined]]);
  assert.equal(t.stats().unpairedResponses, 2);
});

test('request losses remembered for pairing stay bounded by the waiting requests', () => {
  // Many losses while one request waits: one per stretch between request heads is kept.
  const { t, c, out, send, next } = setup({ maxPendingPerConnection: 4 });
  send('write', GET('/1'));
  for (let i = 0; i < 1000; i++) t.onGap(c, 'write', 40, next(), 'ring-full');
  const ts = next();
  t.onData(c, 'read', b(OK(500, '', 'Oops')), ts); // the answer to a lost request
  send('write', GET('/2'));
  send('read', OK(202, '', 'Accepted'));
  assert.deepEqual(pairs(out), [['GET', '/1', undefined, 'capture gap'], ['GET', '/2', 202, undefined]]);
  const session = (c.state as { session: { gapsNs: Record<Direction, bigint[]> } }).session;
  assert.ok(session.gapsNs.write.length <= 5, `${session.gapsNs.write.length} gaps kept`);
});

test('bytes that do not parse make pairing go by time: the response after the skipped one is not given to its request', () => {
  const { out, send } = setup();
  send('write', GET('/1'));
  send('read', OK(201, '', 'Created'));
  send('write', GET('/2'));
  // The response to /2 arrives mangled (no start line the parser believes): it resyncs at the
  // next start line, skipping the whole response.
  send('read', 'XTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n');
  send('write', GET('/3'));
  send('read', OK(203, '', 'Non-Authoritative'));
  send('write', GET('/4'));
  send('read', OK(204, '', 'No Content'));
  assert.deepEqual(pairs(out), [
    ['GET', '/1', 201, undefined],
    ['GET', '/2', undefined, 'messages skipped after invalid HTTP'],
    ['GET', '/3', 203, undefined],
    ['GET', '/4', 204, undefined],
  ]);
});

test('a response that comes before the request body was all read (nginx\'s return) answers that request', () => {
  const { out, send } = setup();
  send('read', 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345');
  send('write', OK(413, '', 'Payload Too Large')); // answered early
  assert.equal(out.length, 0, 'reported once the body is complete');
  send('read', '67890');
  send('read', GET('/next'));
  send('write', OK(200, 'ok'));
  assert.deepEqual(pairs(out), [['POST', '/upload', 413, undefined], ['GET', '/next', 200, undefined]]);
  assert.equal(out[0].request.bodySize, 10);
  assert.equal(out[0].side, 'server');
});

test('an early answer and a connection closed mid-body: the answer is the outcome', () => {
  const { t, out, c, send, next } = setup();
  send('read', 'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n12345');
  send('write', 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  t.onClose(c, 'closed', next());
  assert.deepEqual(pairs(out), [['POST', '/upload', 413, undefined]]);
});

test('a request the server rejects (Content-Length and Transfer-Encoding): the answer goes to it, not to what its body looks like', () => {
  const { t, out, c, send, next } = setup();
  const body = '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';
  send('write', `POST /rejected HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
  send('read', 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  t.onClose(c, 'closed', next());
  assert.deepEqual(pairs(out), [
    ['POST', '/rejected', 400, 'invalid HTTP (both Content-Length and Transfer-Encoding)'],
    ['GET', '/smuggled', undefined, 'connection closed before response'],
  ]);
});

test('a text protocol\'s "GET foo" is not HTTP; a versionless "GET /x" is HTTP/0.9 only when an HTTP response follows', () => {
  const a = setup();
  a.send('write', 'GET foo\r\n');
  a.send('read', 'VALUE foo 0 3\r\nbar\r\nEND\r\n');
  a.t.onClose(a.c, 'closed', a.next());
  assert.deepEqual(pairs(a.out), []);
  assert.equal(a.t.stats().otherProtocolConnections, 1);

  const b = setup();
  b.send('write', 'GET /x\r\n\r\n');
  b.send('read', 'VALUE x 0 3\r\nbar\r\nEND\r\n');
  b.t.onClose(b.c, 'closed', b.next());
  assert.deepEqual(pairs(b.out), [], 'no HTTP response: not HTTP/0.9 after all');
  assert.equal(b.t.stats().otherProtocolConnections, 1);

  const n = setup();
  n.send('write', 'GET /x\r\n\r\n');
  n.t.onClose(n.c, 'closed', n.next());
  assert.deepEqual(pairs(n.out), [], 'no answer at all: nothing reported');

  const h = setup();
  h.send('write', 'GET /x\r\n\r\n');
  h.send('read', 'HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  assert.deepEqual(pairs(h.out), [['GET', '/x', 400, undefined]]);
  assert.equal(h.out[0].version, '1.0', 'the answer\'s version');
});

test('a request line over the limit still makes an exchange, with its method and what was cut', () => {
  const { out, send } = setup();
  send('write', `GET /long?q=${'x'.repeat(70_000)} HTTP/1.1\r\nHost: h\r\n\r\n`);
  send('read', OK(200, 'ok'));
  send('write', GET('/next'));
  send('read', OK(204));
  assert.deepEqual(pairs(out), [['GET', undefined, 200, 'message head over the parser limit (start line over 65536 bytes)'], ['GET', '/next', 204, undefined]]);
  assert.equal(out[0].version, '1.1', 'the response says it');
});

test('a request line over the limit, split in chunks: the method from its first bytes', () => {
  const { out, send } = setup();
  send('write', 'PUT /long?q=');
  for (let i = 0; i < 10; i++) send('write', 'y'.repeat(10_000));
  send('write', ' HTTP/1.1\r\nHost: h\r\n\r\n');
  send('read', OK(201, '', 'Created'));
  assert.deepEqual(pairs(out).map((p) => p.slice(0, 3)), [['PUT', undefined, 201]]);
});

test('detection: a connection\'s first bytes in small pieces are kept until they decide; binary is no protocol of ours', () => {
  const { t, out, send } = setup();
  send('write', 'GE');
  send('write', 'T /a HTTP/1.1\r\nHost: h\r\n\r\n');
  send('read', OK(200));
  assert.deepEqual(pairs(out), [['GET', '/a', 200, undefined]]);
  assert.deepEqual(t.stats().connections, { 'http/1': 1, 'http/2': 0 });

  const bin = setup();
  bin.send('write', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]));
  bin.send('read', OK(200));
  assert.deepEqual(pairs(bin.out), []);
  assert.equal(bin.t.stats().otherProtocolConnections, 1);
});
