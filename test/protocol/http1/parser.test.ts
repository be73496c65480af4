// Unit tests for the HTTP/1.x parser. Every stream here is also fed cut at every offset and
// byte by byte (runEveryCut / runStepsEveryCut), which must not change what is reported.

import assert from 'node:assert/strict';
import test from 'node:test';

import { Http1Parser } from '../../../src/protocol/http1/index';
import { keptForShape } from '../../../src/protocol/http1/parser';
import type { HttpMessage, ParseError } from '../../../src/protocol/http1/index';
import { crlf, errorsOf, messagesOf, run, runEveryCut, runStepsEveryCut } from './harness';
import type { RunResult } from './harness';
import { prng } from '../../helpers/prng';
import { fieldPairs } from '../../helpers/fields';

function only<T>(items: T[]): T {
  assert.equal(items.length, 1, `expected exactly one item, got ${items.length}`);
  return items[0];
}

function noErrors(r: RunResult): void {
  assert.deepStrictEqual(errorsOf([...r.events, ...r.atFinish]), []);
}

test('a GET request: start line, headers with OWS trimmed, no body', () => {
  const r = runEveryCut(crlf('GET /users/42?token=abc HTTP/1.1', 'Host: example.com', 'Accept:  \t*/*\t ', 'X-Empty:', '', ''));
  noErrors(r);
  const m = only(messagesOf(r.events));
  assert.equal(m.kind, 'request');
  assert.equal(m.method, 'GET');
  assert.equal(m.url, '/users/42?token=abc');
  assert.equal(m.statusCode, undefined);
  assert.equal(m.versionMajor, 1);
  assert.equal(m.versionMinor, 1);
  assert.deepStrictEqual(fieldPairs(m.headers), [['Host', 'example.com'], ['Accept', '*/*'], ['X-Empty', '']]);
  assert.deepStrictEqual(fieldPairs(m.trailers), []);
  assert.equal(m.bodySize, 0);
  assert.equal(m.incomplete, false);
  assert.equal(m.shouldClose, false);
  assert.equal(m.upgrade, false);
});

test('header names keep their case; values keep inner spaces and obs-text', () => {
  const r = runEveryCut(Buffer.concat([crlf('GET / HTTP/1.1', 'x-MiXeD: a  b', 'Test: '), Buffer.from([0xc3, 0xbc]), crlf('', '', '')]));
  const m = only(messagesOf(r.events));
  assert.deepStrictEqual(fieldPairs(m.headers), [['x-MiXeD', 'a  b'], ['Test', '\u00c3\u00bc']]);
});

test('pipelining: three requests with bodies in one chunk', () => {
  const input = crlf(
    'POST /a HTTP/1.1', 'Content-Length: 3', '', 'AAA' +
    'PUT /b HTTP/1.1', 'Content-Length: 4', '', 'BBBB' +
    'GET /c HTTP/1.1', 'Host: x', '', '',
  );
  const r = runEveryCut(input);
  noErrors(r);
  const ms = messagesOf(r.events);
  assert.deepStrictEqual(ms.map((m) => [m.method, m.url, m.bodySize]), [['POST', '/a', 3], ['PUT', '/b', 4], ['GET', '/c', 0]]);
});

test('CRLFs between messages are skipped', () => {
  const r = runEveryCut(crlf('', '', 'GET /a HTTP/1.1', '', '', '', 'GET /b HTTP/1.1', '', ''));
  noErrors(r);
  assert.deepStrictEqual(messagesOf(r.events).map((m) => m.url), ['/a', '/b']);
});

test('chunked body with extensions and trailers', () => {
  const input = crlf(
    'HTTP/1.1 200 OK', 'Transfer-Encoding: gzip, chunked', '',
    '5;name=value;flag', 'hello',
    'A;q="a \\"quoted\\" ;value"', '0123456789',
    '000', 'Expires: never', 'X-Checksum:  abc ', '', '',
  );
  const r = runEveryCut(input);
  noErrors(r);
  const m = only(messagesOf(r.events));
  assert.equal(m.statusCode, 200);
  assert.equal(m.reason, 'OK');
  assert.equal(m.bodySize, 15);
  assert.deepStrictEqual(fieldPairs(m.trailers), [['Expires', 'never'], ['X-Checksum', 'abc']]);
});

test('malformed chunk framing is invalid', () => {
  for (const sizeLine of ['5 ', 'x', '5;', '5; a', '5;a="open', '', 'fffffffffffffffff']) {
    const r = runEveryCut(crlf('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', '', sizeLine, 'hello', '0', '', ''));
    assert.equal(errorsOf(r.events)[0]?.reason, 'invalid', `chunk-size line ${JSON.stringify(sizeLine)}`);
    assert.equal(errorsOf(r.events)[0].partial?.statusCode, 200);
  }
  const noCrlf = runEveryCut(crlf('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', '', '5', 'helloX', '0', '', ''));
  assert.equal(errorsOf(noCrlf.events)[0]?.reason, 'invalid');
});

test('HEAD: the response has no body whatever its Content-Length', () => {
  const input = crlf('HTTP/1.1 200 OK', 'Content-Length: 100', '', 'HTTP/1.1 200 OK', 'Content-Length: 2', '', '');
  const r = runEveryCut(input, { requestMethod: 'HEAD' });
  noErrors(r);
  assert.deepStrictEqual(messagesOf(r.events).map((m) => m.bodySize), [0, 0]);
  // Without the HEAD hint the first response's 100 bytes swallow the second.
  const plain = runEveryCut(input);
  assert.equal(messagesOf(plain.events).length, 0);
  assert.equal(errorsOf(plain.atFinish)[0].reason, 'truncated');
});

test('204 and 304 responses have no body', () => {
  const input = crlf(
    'HTTP/1.1 204 No Content', 'Content-Length: 10', '',
    'HTTP/1.1 304 Not Modified', 'Transfer-Encoding: chunked', '',
    'HTTP/1.1 200 OK', 'Content-Length: 2', '', 'ok',
  );
  const r = runEveryCut(input);
  noErrors(r);
  assert.deepStrictEqual(messagesOf(r.events).map((m) => [m.statusCode, m.bodySize]), [[204, 0], [304, 0], [200, 2]]);
});

test('100 Continue is emitted as an interim message, then the final response', () => {
  let asked = 0;
  const events: HttpMessage[] = [];
  const parser = new Http1Parser({
    onMessage: (m) => events.push(m),
    onError: (e) => assert.fail(`unexpected error ${e.reason}`),
    methodForResponse: () => {
      asked++;
      return 'POST';
    },
  });
  parser.execute(crlf('HTTP/1.1 100 Continue', '', 'HTTP/1.1 103 Early Hints', 'Link: </a.css>', '', 'HTTP/1.1 201 Created', 'Content-Length: 0', '', ''), 5n);
  assert.deepStrictEqual(events.map((m) => m.statusCode), [100, 103, 201]);
  assert.equal(asked, 1, 'methodForResponse is asked for final responses only');
  const r = runEveryCut(crlf('HTTP/1.1 100 Continue', '', 'HTTP/1.1 200 OK', 'Content-Length: 1', '', 'x'));
  assert.deepStrictEqual(messagesOf(r.events).map((m) => m.statusCode), [100, 200]);
});

test('close-delimited response body ends with finish()', () => {
  const r = runEveryCut(crlf('HTTP/1.1 200 OK', 'Content-Type: text/plain', '', 'hello world, this is the body'));
  assert.deepStrictEqual(r.events, []);
  const m = only(messagesOf(r.atFinish));
  assert.equal(m.bodySize, 'hello world, this is the body'.length);
  assert.equal(m.incomplete, false);
  assert.equal(m.shouldClose, true);
  // A response Transfer-Encoding that does not end in chunked is also read until the close.
  const gzip = runEveryCut(crlf('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip', '', 'xyz'));
  assert.equal(only(messagesOf(gzip.atFinish)).bodySize, 3);
});

test('truncated stream: finish() inside a message reports it with what was seen', () => {
  const inBody = runEveryCut(crlf('POST /upload HTTP/1.1', 'Content-Length: 100', '', 'partial'));
  const e = only(errorsOf(inBody.atFinish));
  assert.equal(e.reason, 'truncated');
  assert.equal(e.partial?.method, 'POST');
  assert.equal(e.partial?.bodySize, 7);
  assert.equal(e.partial?.incomplete, true);
  const inHeaders = runEveryCut(Buffer.from('GET / HTTP/1.1\r\nHost: exa'));
  assert.deepStrictEqual(only(errorsOf(inHeaders.atFinish)).partial?.headers, []);
  const inStartLine = runEveryCut(Buffer.from('GET /some/pa'));
  const e2 = only(errorsOf(inStartLine.atFinish));
  assert.equal(e2.reason, 'truncated');
  assert.equal(e2.partial, undefined);
  const between = runEveryCut(crlf('GET / HTTP/1.1', '', ''));
  assert.deepStrictEqual(between.atFinish, []);
});

test('finish() is final: later bytes are ignored', () => {
  const seen: Array<HttpMessage | ParseError> = [];
  const parser = new Http1Parser({ onMessage: (m) => seen.push(m), onError: (e) => seen.push(e) });
  parser.finish(1n);
  parser.execute(crlf('GET / HTTP/1.1', '', ''), 2n);
  parser.gap(10, 3n);
  parser.finish(4n);
  assert.deepStrictEqual(seen, []);
});

test('gap inside a Content-Length body is counted; the next message parses', () => {
  const r = runStepsEveryCut([
    crlf('HTTP/1.1 200 OK', 'Content-Length: 1048576', '', 'first bytes'),
    { gap: 1048576 - 11 - 5 },
    Buffer.from('last!'),
    crlf('HTTP/1.1 404 Not Found', 'Content-Length: 3', '', 'bye'),
  ]);
  noErrors(r);
  const [big, next] = messagesOf(r.events);
  assert.equal(big.bodySize, 1048576);
  assert.equal(big.bodyBytesMissing, 1048576 - 16);
  assert.equal(big.incomplete, false);
  assert.equal(next.statusCode, 404);
  assert.equal(next.bodySize, 3);
});

test('gap that exactly covers the rest of a body completes the message at the gap', () => {
  const steps = [crlf('POST /a HTTP/1.1', 'Content-Length: 10', '', 'abc'), { gap: 7 }, crlf('GET /b HTTP/1.1', '', '')];
  noErrors(runStepsEveryCut(steps));
  const r = run(steps, { tsOf: (i) => BigInt(100 + i) });
  noErrors(r);
  const [a, b] = messagesOf(r.events);
  assert.equal(a.bodySize, 10);
  assert.equal(a.bodyBytesMissing, 7);
  assert.equal(a.startNs, 100n);
  assert.equal(a.endNs, 101n, 'endNs is the gap record');
  assert.equal(b.url, '/b');
});

test('gap past the end of a body: message completes, the rest is a gap, parser resyncs', () => {
  const r = runStepsEveryCut([
    crlf('POST /a HTTP/1.1', 'Content-Length: 10', '', 'abc'),
    { gap: 50 },
    Buffer.from('tail of something lost\r\nmore: junk\r\n\r\n'),
    crlf('GET /next HTTP/1.1', 'Host: x', '', ''),
  ]);
  const [a, next] = messagesOf(r.events);
  assert.equal(a.bodySize, 10);
  assert.equal(a.incomplete, false);
  const e = only(errorsOf(r.events));
  assert.equal(e.reason, 'gap');
  assert.equal(e.partial, undefined);
  assert.equal(next.url, '/next');
  assert.deepStrictEqual(r.events.map((ev) => ('message' in ev ? 'message' : ev.error.reason)), ['message', 'gap', 'message']);
});

test('gap inside chunk data is counted and chunked parsing continues', () => {
  const r = runStepsEveryCut([
    crlf('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', '', '10', 'abcd'),
    { gap: 8 },
    crlf('wxyz', '3', 'end', '0', '', 'HTTP/1.1 204 No Content', '', ''),
  ]);
  noErrors(r);
  const [m, next] = messagesOf(r.events);
  assert.equal(m.bodySize, 19);
  assert.equal(m.bodyBytesMissing, 8);
  assert.equal(next.statusCode, 204);
});

test('gap reaching past a chunk loses the framing: gap error with the partial, then resync', () => {
  const r = runStepsEveryCut([
    crlf('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', '', '10', 'abcd'),
    { gap: 100 },
    crlf('ef', '0', '', 'HTTP/1.1 201 Created', 'Content-Length: 0', '', ''),
  ]);
  const e = only(errorsOf(r.events));
  assert.equal(e.reason, 'gap');
  assert.equal(e.partial?.statusCode, 200);
  assert.equal(e.partial?.bodySize, 16);
  assert.equal(e.partial?.incomplete, true);
  assert.equal(only(messagesOf(r.events)).statusCode, 201);
});

test('gap inside headers: gap error with the partial, then resync to the next message', () => {
  const r = runStepsEveryCut([
    crlf('GET /first HTTP/1.1', 'Host: a.example', 'User-Ag'),
    { gap: 500 },
    Buffer.from('ent: curl\r\nAccept: */*\r\n\r\nPOST /second HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi'),
  ]);
  const e = only(errorsOf(r.events));
  assert.equal(e.reason, 'gap');
  assert.equal(e.partial?.url, '/first');
  assert.deepStrictEqual(fieldPairs(e.partial?.headers ?? []), [['Host', 'a.example']]);
  const m = only(messagesOf(r.events));
  assert.equal(m.url, '/second');
  assert.equal(m.bodySize, 2);
});

test('gap between messages and at the start of a stream: resync finds the next start line', () => {
  const r = runStepsEveryCut([{ gap: 1000 }, Buffer.from('dy of an earlier message\r\nGET /a HTTP/1.1\r\n\r\n')]);
  const e = only(errorsOf(r.events));
  assert.equal(e.reason, 'gap');
  assert.equal(e.partial, undefined);
  assert.equal(only(messagesOf(r.events)).url, '/a');
  // The gap may end exactly at a message start.
  const exact = runStepsEveryCut([crlf('GET /a HTTP/1.1', '', ''), { gap: 40 }, crlf('GET /c HTTP/1.1', '', '')]);
  assert.deepStrictEqual(messagesOf(exact.events).map((m) => m.url), ['/a', '/c']);
});

test('gap in a close-delimited body is counted', () => {
  const r = runStepsEveryCut([crlf('HTTP/1.0 200 OK', '', 'abc'), { gap: 1000 }, Buffer.from('xyz')]);
  const m = only(messagesOf(r.atFinish));
  assert.equal(m.bodySize, 1006);
  assert.equal(m.bodyBytesMissing, 1000);
  noErrors(r);
});

test('not HTTP: one not-http error, then everything is ignored cheaply', () => {
  const tlsRecord = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const binary = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x0d, 0x0a, 0x41]);
  const text = Buffer.from('hello there, this is not http at all\r\n');
  const smtp = Buffer.from('220 mail.example.com ESMTP\r\n');
  for (const start of [tlsRecord, h2Preface, binary, text, smtp]) {
    const r = runEveryCut(Buffer.concat([start, crlf('GET / HTTP/1.1', '', ''), start]));
    assert.deepStrictEqual(r.events.map((e) => ('error' in e ? e.error.reason : 'message')), ['not-http'], start.toString('latin1'));
    assert.deepStrictEqual(r.atFinish, []);
    assert.equal(r.maxBuffered <= 32, true, 'binary is refused within a few bytes, not buffered');
  }
});

test('garbage after HTTP: one invalid error, then resync', () => {
  const r = runEveryCut(Buffer.concat([
    crlf('GET /a HTTP/1.1', '', ''),
    Buffer.from('\u0000\u0001 garbage line\r\nmore garbage\r\n'),
    crlf('GET /b HTTP/1.1', '', ''),
  ]));
  assert.deepStrictEqual(r.events.map((e) => ('error' in e ? e.error.reason : e.message.url)), ['/a', 'invalid', '/b']);
});

test('consecutive failed resyncs give up with one not-http error', () => {
  const bad = crlf('GET /x HTTP/1.1', 'Bad Header', '', '');
  const r = runEveryCut(Buffer.concat([crlf('GET /ok HTTP/1.1', '', ''), bad, bad, bad, bad, bad, bad, crlf('GET /late HTTP/1.1', '', '')]));
  const reasons = r.events.map((e) => ('error' in e ? e.error.reason : 'message'));
  assert.deepStrictEqual(reasons, ['message', 'invalid', 'invalid', 'invalid', 'invalid', 'not-http']);
  // A good message in between resets the count.
  const good = crlf('GET /good HTTP/1.1', '', '');
  const mixed = runEveryCut(Buffer.concat([good, bad, bad, bad, good, bad, bad, bad, good]));
  assert.equal(messagesOf(mixed.events).length, 3);
  assert.equal(errorsOf(mixed.events).length, 6);
});

test('CONNECT and Upgrade: message flagged upgrade, rest of the stream ignored', () => {
  const connect = runEveryCut(Buffer.concat([crlf('CONNECT db.example:5432 HTTP/1.1', 'Host: db.example:5432', 'Content-Length: 5', '', ''), Buffer.from([0x16, 0x03, 0x01, 0, 5])]));
  const c = only(messagesOf(connect.events));
  assert.equal(c.upgrade, true);
  assert.equal(c.url, 'db.example:5432');
  assert.equal(c.bodySize, 0);
  assert.deepStrictEqual(connect.atFinish, []);

  const ws = runEveryCut(crlf('GET /chat HTTP/1.1', 'Connection: keep-alive, Upgrade', 'Upgrade: websocket', '', '\u0081\u0085garbage'));
  assert.equal(only(messagesOf(ws.events)).upgrade, true);
  assert.equal(ws.events.length, 1);

  const h2c = runEveryCut(crlf('POST /up HTTP/1.1', 'Connection: Upgrade', 'Upgrade: h2c', 'Content-Length: 4', '', 'bodyPRI * HTTP/2.0'));
  const up = only(messagesOf(h2c.events));
  assert.equal(up.bodySize, 4, 'an upgrade request body is read before the switch');
  assert.equal(up.upgrade, true);

  const switching = runEveryCut(crlf('HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', '', '\u0082\u0001x'));
  assert.equal(only(messagesOf(switching.events)).upgrade, true);
  assert.equal(switching.events.length, 1);

  // Upgrade headers on a 200 only announce support.
  const announce = runEveryCut(crlf('HTTP/1.1 200 OK', 'Upgrade: h2c', 'Connection: upgrade', 'Content-Length: 0', '', ''));
  assert.equal(only(messagesOf(announce.events)).upgrade, false);
});

test('2xx response to CONNECT opens a tunnel', () => {
  const r = runEveryCut(crlf('HTTP/1.1 200 Connection established', '', '\u0016\u0003\u0001tunnel bytes'), { requestMethod: 'CONNECT' });
  const m = only(messagesOf(r.events));
  assert.equal(m.upgrade, true);
  assert.equal(m.bodySize, 0);
  assert.equal(r.events.length, 1);
  assert.deepStrictEqual(r.atFinish, []);
  const refused = runEveryCut(crlf('HTTP/1.1 407 Proxy Auth', 'Content-Length: 2', '', 'no'), { requestMethod: 'CONNECT' });
  assert.equal(only(messagesOf(refused.events)).upgrade, false);
});

test('timestamps: startNs at the first byte, endNs at the last byte', () => {
  const chunks = [Buffer.from('\r\nGET /a HT'), Buffer.from('TP/1.1\r\nContent-Length: 4\r\n\r\nab'), Buffer.from('cdGET /b HTTP/1.1\r\n'), Buffer.from('\r\n')];
  const r = run(chunks, { tsOf: (i) => BigInt((i + 1) * 1000) });
  const [a, b] = messagesOf(r.events);
  assert.equal(a.startNs, 1000n);
  assert.equal(a.endNs, 3000n);
  assert.equal(b.startNs, 3000n);
  assert.equal(b.endNs, 4000n);
  // A close-delimited body ends at its last byte, not at finish().
  const eof = run([crlf('HTTP/1.1 200 OK', '', 'ab'), Buffer.from('cd')], { tsOf: (i) => BigInt(10 + i) });
  const m = only(messagesOf(eof.atFinish));
  assert.equal(m.startNs, 10n);
  assert.equal(m.endNs, 11n);
  const err = only(errorsOf(run([crlf('GET / HTTP/1.1', 'Bad Line', '', '')], { tsOf: () => 77n }).events));
  assert.equal(err.atNs, 77n);
});

test('Content-Length and Transfer-Encoding errors follow llhttp strict', () => {
  const cases: Array<[string, string[]]> = [
    ['duplicate Content-Length', ['Content-Length: 1', 'Content-Length: 1']],
    ['Content-Length then Transfer-Encoding', ['Content-Length: 3', 'Transfer-Encoding: chunked']],
    ['Transfer-Encoding then Content-Length', ['Transfer-Encoding: chunked', 'Content-Length: 3']],
    ['non-digit Content-Length', ['Content-Length: 4 2']],
    ['negative Content-Length', ['Content-Length: -1']],
    ['empty Content-Length', ['Content-Length:']],
    ['overflowing Content-Length', ['Content-Length: 100000000000000000000']],
    ['empty Transfer-Encoding', ['Transfer-Encoding:']],
    ['request coding after chunked', ['Transfer-Encoding: chunked, gzip']],
    ['request not ending in chunked', ['Transfer-Encoding: gzip']],
  ];
  for (const [name, headers] of cases) {
    const r = runEveryCut(crlf('POST / HTTP/1.1', ...headers, '', 'abc'));
    const e = only(errorsOf(r.events));
    assert.equal(e.reason, 'invalid', name);
    assert.equal(e.partial?.method, 'POST', name);
    assert.equal(messagesOf([...r.events, ...r.atFinish]).length, 0, name);
  }
  // Leading zeros and OWS are fine.
  const ok = runEveryCut(crlf('POST / HTTP/1.1', 'content-length: \t003 ', '', 'abc'));
  assert.equal(only(messagesOf(ok.events)).bodySize, 3);
});

test('line syntax follows llhttp strict: CRLF only, no folding, token names', () => {
  const bad = [
    'GET / HTTP/1.1\nHost: x\n\n',
    'GET / HTTP/1.1\r\nHost: x\n\r\n',
    'GET / HTTP/1.1\r\nFolded: a\r\n b\r\n\r\n',
    'GET / HTTP/1.1\r\n Leading: space\r\n\r\n',
    'GET / HTTP/1.1\r\nName : value\r\n\r\n',
    'GET / HTTP/1.1\r\nFo@: x\r\n\r\n',
    'GET / HTTP/1.1\r\n: empty\r\n\r\n',
    'GET / HTTP/1.1\r\nNoColon\r\n\r\n',
    'GET / HTTP/1.1\r\nA: 1\rB: 2\r\n\r\n',
    'GET / HTTP/1.1\r\nCtl: a\u0001b\r\n\r\n',
    'GET / HTTP/1.1\r\nDel: a\u007fb\r\n\r\n',
    'GET / HTTP/1.1\r\nA: 1\r\n\rX',
  ];
  for (const input of bad) {
    const r = runEveryCut(Buffer.concat([crlf('GET /first HTTP/1.1', '', ''), Buffer.from(input, 'latin1')]));
    assert.equal(messagesOf(r.events).length, 1, JSON.stringify(input));
    assert.ok(errorsOf([...r.events, ...r.atFinish]).length > 0, JSON.stringify(input));
  }
  const badStart = ['GET /a  b HTTP/1.1', 'GET / HTTP/1.2', 'GET / HTTP/1.1 ', 'HTTP/1.1  200 OK', 'HTTP/1.1 20 OK', 'HTTP/01.1 200 OK', 'HTTP/1.1\t200 OK', 'GET\t/ HTTP/1.1'];
  for (const line of badStart) {
    const r = runEveryCut(Buffer.concat([crlf('GET /first HTTP/1.1', '', ''), crlf(line, '', '')]));
    assert.deepStrictEqual(errorsOf(r.events).map((e) => e.reason), ['invalid'], line);
  }
});

test('field values: a CTL or DEL anywhere is invalid, HTAB anywhere is kept (trimmed at the ends)', () => {
  for (let len = 1; len <= 11; len++) {
    for (let at = 0; at < len; at++) {
      for (const byte of [0x00, 0x01, 0x0b, 0x1f, 0x7f, 0x0d, 0x0a, 0x09, 0x20, 0x80, 0xff]) {
        const value = Buffer.alloc(len, 0x61);
        value[at] = byte;
        const input = Buffer.concat([crlf('GET /a HTTP/1.1', 'X: '), value, crlf('', '', 'GET /b HTTP/1.1', '', '')]);
        const r = run([input]);
        const what = `byte ${byte} at ${at} of ${len}`;
        if (byte === 0x09 || byte === 0x20 || byte >= 0x80) {
          const expected = value.toString('latin1').replace(/^[\t ]+|[\t ]+$/g, '');
          assert.deepStrictEqual(messagesOf(r.events).map((m) => fieldPairs(m.headers)), [[['X', expected]], []], what);
        } else {
          assert.deepStrictEqual(errorsOf(r.events).map((e) => e.reason), ['invalid'], what);
          assert.deepStrictEqual(messagesOf(r.events).map((m) => m.url), ['/b'], what);
        }
      }
    }
  }
});

test('versions, HTTP/0.9 request lines, RTSP/ICE protocol names', () => {
  const r = runEveryCut(crlf('GET /old', '', 'OPTIONS * RTSP/1.0', 'CSeq: 1', '', 'GET  /spaces   HTTP/1.0', '', ''));
  noErrors(r);
  assert.deepStrictEqual(messagesOf(r.events).map((m) => [m.method, m.url, `${m.versionMajor}.${m.versionMinor}`]), [
    ['GET', '/old', '0.9'], ['OPTIONS', '*', '1.0'], ['GET', '/spaces', '1.0'],
  ]);
  const res = runEveryCut(crlf('HTTP/1.0 200', 'Content-Length: 0', '', 'HTTP/1.1 500 Ori\u00ebntatie probleem', 'Content-Length: 0', '', ''));
  assert.deepStrictEqual(messagesOf(res.events).map((m) => [m.statusCode, m.reason]), [[200, ''], [500, 'Ori\u00ebntatie probleem']]);
});

test('shouldClose: HTTP/1.0 without keep-alive, Connection: close, close-delimited bodies', () => {
  const r = runEveryCut(crlf(
    'GET /a HTTP/1.0', '', '',
    'GET /b HTTP/1.0', 'Connection: keep-alive', '', '',
    'GET /c HTTP/1.1', 'Connection: Keep-Alive, close', '', '',
    'GET /d HTTP/1.1', 'Proxy-Connection: close', '', '',
    'GET /e HTTP/1.1', 'Connection: closed', '', '',
  ));
  assert.deepStrictEqual(messagesOf(r.events).map((m) => [m.url, m.shouldClose]), [
    ['/a', true], ['/b', false], ['/c', true], ['/d', true], ['/e', false],
  ]);
});

test('header block over maxHeaderBytes: too-large error, bounded buffer, then resync', () => {
  const big = 'X-Big: ' + 'v'.repeat(2000);
  const input = crlf('GET /huge HTTP/1.1', big, big, '', 'GET /small HTTP/1.1', 'Host: x', '', '');
  const r = runEveryCut(input, { maxHeaderBytes: 1024 });
  assert.ok(r.maxBuffered <= 1024, `buffered ${r.maxBuffered}`);
  const e = only(errorsOf(r.events));
  assert.equal(e.reason, 'too-large');
  assert.equal(e.partial?.url, '/huge');
  assert.equal(only(messagesOf(r.events)).url, '/small');
  // An endless start line is refused at the limit too.
  const endless = run([crlf('GET /' + 'a'.repeat(5000))], { maxHeaderBytes: 1024 });
  assert.equal(only(errorsOf(endless.events)).reason, 'too-large');
});

test('limits at the byte: a header block of exactly maxHeaderBytes parses, one byte more does not', () => {
  // 16 (start line) + 5 + n (field line) + 2 (empty line) = 256 when n = 233.
  for (const [n, ok] of [[233, true], [234, false], [232, true]] as const) {
    for (const ows of ['', ' ']) {
      const field = `X:${ows}${' '.repeat(1 - ows.length)}${'v'.repeat(n)}`;
      const r = runEveryCut(crlf('GET / HTTP/1.1', field, '', 'GET /next HTTP/1.1', '', ''), { maxHeaderBytes: 256 });
      const urls = messagesOf(r.events).map((m) => m.url);
      assert.deepStrictEqual(urls, ok ? ['/', '/next'] : ['/next'], `n=${n}`);
      assert.deepStrictEqual(errorsOf(r.events).map((e) => e.reason), ok ? [] : ['too-large'], `n=${n}`);
    }
  }
  // Only the empty line crosses the limit: 16 + 238 + 2 = 256 fits, 16 + 239 + 2 = 257 does not.
  for (const [n, ok] of [[233, true], [234, false]] as const) {
    const r = runEveryCut(crlf('GET / HTTP/1.1', `Y: ${'w'.repeat(n)}`, '', ''), { maxHeaderBytes: 256 });
    assert.deepStrictEqual(errorsOf(r.events).map((e) => e.reason), ok ? [] : ['too-large'], `empty line, n=${n}`);
  }
});

test('chunk sizes: up to 2^53-1 in any case of hex digits, larger is invalid', () => {
  const head = ['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', ''];
  const big = runEveryCut(crlf(...head, '1fFfFfFfFfFfFf', 'abc'));
  assert.deepStrictEqual(errorsOf(big.events), []);
  assert.equal(only(errorsOf(big.atFinish)).partial?.bodySize, 3); // 'abc' counted, then truncated
  for (const size of ['20000000000000', '0020000000000000', 'ffffffffffffffff0']) {
    const r = runEveryCut(crlf(...head, size, 'abc'));
    assert.equal(errorsOf(r.events)[0]?.reason, 'invalid', size);
  }
  const small = runEveryCut(crlf(...head, '0003', 'abc', '00', '', ''));
  assert.equal(only(messagesOf(small.events)).bodySize, 3);
});

test('many fields in one head: all kept, in order, however the head is cut', () => {
  const fields = Array.from({ length: 150 }, (_, i) => `X-F${i}: v${i}`);
  const r = runEveryCut(crlf('GET /many HTTP/1.1', ...fields, '', 'HTTP/1.1 200 OK', ...fields.slice(0, 3), 'Content-Length: 0', '', ''));
  noErrors(r);
  const [req, res] = messagesOf(r.events);
  assert.deepStrictEqual(fieldPairs(req.headers), fields.map((_, i) => [`X-F${i}`, `v${i}`]));
  assert.deepStrictEqual(fieldPairs(res.headers), [['X-F0', 'v0'], ['X-F1', 'v1'], ['X-F2', 'v2'], ['Content-Length', '0']]);
});

test('field names: kept exactly as received (case, length), framing fields found in any case', () => {
  // Names repeat, collide and differ only in case, as a name cache sees them; each must come
  // back byte for byte, and Content-Length / Transfer-Encoding must frame whatever the case.
  const rand = prng(11);
  const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const pool: string[] = ['Host', 'host', 'HOST', 'X-A', 'X-B', 'x-a', 'a'.repeat(40), 'a'.repeat(41), 'B'.repeat(64)];
  for (let i = 0; i < 300; i++) {
    const len = 1 + Math.floor(rand() * 50);
    let n = '';
    for (let k = 0; k < len; k++) n += tchars[Math.floor(rand() * tchars.length)];
    pool.push(n);
  }
  const flip = (w: string) => [...w].map((ch) => (rand() < 0.5 ? ch.toUpperCase() : ch.toLowerCase())).join('');
  for (let round = 0; round < 400; round++) {
    const names = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pool[Math.floor(rand() * pool.length)])
      .filter((n) => !['content-length', 'transfer-encoding', 'connection', 'proxy-connection', 'upgrade'].includes(n.toLowerCase()));
    const chunked = rand() < 0.5;
    const framing = chunked ? `${flip('transfer-encoding')}: ${flip('chunked')}` : `${flip('content-length')}: 3`;
    const fields = names.map((n, i) => `${n}: v${i}`);
    const at = Math.floor(rand() * (fields.length + 1));
    fields.splice(at, 0, framing);
    const body = chunked ? ['3', 'abc', '0', '', ''] : ['abc'];
    const r = run([crlf('POST /x HTTP/1.1', ...fields, '', ...body), crlf('GET /next HTTP/1.1', '', '')]);
    noErrors(r);
    const [m, next] = messagesOf(r.events);
    assert.deepStrictEqual(fieldPairs(m.headers).map(([n]) => n), fields.map((f) => f.slice(0, f.indexOf(':'))));
    assert.equal(m.bodySize, 3);
    assert.equal(next.url, '/next');
  }
});

test('the parser kept alive for its hidden class is idle and holds nothing', () => {
  assert.equal(keptForShape.length, 1);
  const kept = keptForShape[0];
  assert.ok(kept instanceof Http1Parser);
  assert.equal(kept.bufferedBytes, 0);
});

test('a large body is counted, not buffered', () => {
  const parser = new Http1Parser({ onMessage: () => undefined, onError: (e) => assert.fail(e.detail) });
  parser.execute(crlf('HTTP/1.1 200 OK', 'Content-Length: 10000000', '', ''), 1n);
  const chunk = Buffer.alloc(65536, 0x61);
  for (let sent = 0; sent < 10000000; sent += chunk.length) {
    parser.execute(chunk.subarray(0, Math.min(chunk.length, 10000000 - sent)), 2n);
    assert.ok(parser.bufferedBytes <= 256, `${parser.bufferedBytes} bytes buffered`);
  }
});

test('constructor rejects a bad maxHeaderBytes', () => {
  const callbacks = { onMessage: () => undefined, onError: () => undefined };
  assert.throws(() => new Http1Parser(callbacks, { maxHeaderBytes: 10 }), /maxHeaderBytes/);
  assert.throws(() => new Http1Parser(callbacks, { maxHeaderBytes: 1.5e3 + 0.5 }), /maxHeaderBytes/);
});

test('a callback that throws leaves the parser consistent; a refilled buffer is read afresh', () => {
  const urls: string[] = [];
  let throwOnce = true;
  const parser = new Http1Parser({
    onMessage: (m) => {
      urls.push(m.url!);
      if (throwOnce) {
        throwOnce = false;
        throw new Error('callback failure');
      }
    },
    onError: (e) => assert.fail(e.detail),
  });
  const buf = Buffer.from('GET /aaaa HTTP/1.1\r\nX-One: 1\r\n\r\n');
  assert.throws(() => parser.execute(buf, 1n), /callback failure/);
  buf.write('GET /bbbb HTTP/1.1\r\nX-Two: 2\r\n\r\n');
  parser.execute(buf, 2n);
  assert.deepStrictEqual(urls, ['/aaaa', '/bbbb']);
});
