// Body skipping (bpf/tlsotel.bpf.c): the capture may replace body bytes by a count. The parser
// must accept such a skip exactly where its own framing expects that many body bytes, and
// refuse it anywhere else (the bytes then become a gap): body sizes stay exact, and a wrong skip
// is never a wrong value.
import assert from 'node:assert/strict';
import test from 'node:test';

import type { HttpMessage } from '../../../src/protocol/http1/index';
import { run, type ParserEvent, type Step } from './harness';

const lat = (s: string) => Buffer.from(s, 'latin1');

/** Responses with every kind of body, and where their body-data bytes are ([from, to) ranges). */
function responses(): { input: Buffer; bodies: Array<[number, number]> } {
  const parts: Array<{ text: string; body?: [number, number] }> = [];
  const fixed = 'x'.repeat(40);
  parts.push({ text: 'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n' }, { text: fixed, body: [0, 40] });
  parts.push({ text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n' });
  parts.push({ text: 'c'.repeat(20), body: [0, 20] }, { text: '\r\n5\r\n' }, { text: 'ddddd', body: [0, 5] }, { text: '\r\n0\r\n\r\n' });
  parts.push({ text: 'HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n' });
  parts.push({ text: 'HTTP/1.1 404 Not Found\r\ncontent-length:  12 \r\n\r\n' }, { text: 'not found!!!', body: [0, 12] });
  let at = 0;
  const bodies: Array<[number, number]> = [];
  for (const p of parts) {
    if (p.body !== undefined) bodies.push([at, at + p.text.length]);
    at += p.text.length;
  }
  return { input: lat(parts.map((p) => p.text).join('')), bodies };
}

const messages = (events: ParserEvent[]): HttpMessage[] =>
  events.flatMap((e) => ('message' in e ? [e.message] : []));

/** The stream with bytes [a, b) replaced by a skip of b - a (and cut around it). */
function withSkip(input: Buffer, a: number, b: number): Step[] {
  const steps: Step[] = [];
  if (a > 0) steps.push(input.subarray(0, a));
  steps.push({ skip: b - a });
  if (b < input.length) steps.push(input.subarray(b));
  return steps;
}

test('a skip of any part of a body, at every offset, gives the same messages as the bytes', () => {
  const { input, bodies } = responses();
  const expected = run([input]);
  assert.equal(messages(expected.events).length, 4);
  assert.deepEqual(messages(expected.events).map((m) => m.bodySize), [40, 25, 0, 12]);
  let tried = 0;
  for (const [from, to] of bodies) {
    for (let a = from; a < to; a++) {
      for (let b = a + 1; b <= to; b++) {
        const got = run(withSkip(input, a, b));
        assert.equal(got.refusedSkips, 0, `skip [${a}, ${b}) accepted`);
        assert.deepStrictEqual(got.events, expected.events, `skip [${a}, ${b})`);
        assert.deepStrictEqual(got.atFinish, expected.atFinish);
        tried++;
      }
    }
  }
  assert.ok(tried > 1000);
});

test('a skip anywhere else is refused and becomes a gap: no message carries a wrong body size', () => {
  const { input, bodies } = responses();
  const expected = messages(run([input]).events);
  const inBody = (a: number, b: number) => bodies.some(([from, to]) => a >= from && b <= to);
  let refused = 0;
  for (let a = 0; a < input.length; a++) {
    for (let b = a + 1; b <= input.length; b++) {
      if (inBody(a, b)) continue;
      const got = run(withSkip(input, a, b));
      assert.equal(got.refusedSkips, 1, `skip [${a}, ${b}) refused`);
      refused++;
      for (const m of messages([...got.events, ...got.atFinish])) {
        if (m.bodyBytesMissing > 0 || m.incomplete) continue; // marked as not all seen
        const same = expected.find((e) => e.statusCode === m.statusCode && JSON.stringify(e.headers) === JSON.stringify(m.headers));
        assert.ok(same, `skip [${a}, ${b}): a message that exists (${m.statusCode})`);
        assert.equal(m.bodySize, same.bodySize, `skip [${a}, ${b}): body size of ${m.statusCode}`);
      }
    }
  }
  assert.ok(refused > 10_000);
});

test('a skip after the head of a HEAD response is refused: it has no body whatever its Content-Length', () => {
  const head = lat('HTTP/1.1 200 OK\r\nContent-Length: 16384\r\n\r\n');
  const next = lat('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const got = run([head, { skip: 16384 }, next], { requestMethod: 'HEAD' });
  assert.equal(got.refusedSkips, 1);
  const ms = messages(got.events);
  assert.equal(ms[0].bodySize, 0);
  assert.ok(got.events.some((e) => 'error' in e && e.error.reason === 'gap'), 'the skip is a gap');
});

test('a skip past the end of a Content-Length body is refused (a lying length is not believed)', () => {
  const got = run([lat('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), { skip: 11 }, lat('HTTP/1.1 204 No Content\r\n\r\n')]);
  assert.equal(got.refusedSkips, 1);
  const ms = messages(got.events);
  // The body's 10 bytes are counted as missing, not as seen; the excess is a gap.
  assert.equal(ms[0].bodySize, 10);
  assert.equal(ms[0].bodyBytesMissing, 10);
});

test('a close-delimited body accepts any skip; a skip into an ignored stream is harmless', () => {
  const r = run([lat('HTTP/1.0 200 OK\r\n\r\nab'), { skip: 100_000 }, lat('cd')]);
  assert.equal(r.refusedSkips, 0);
  assert.equal(messages(r.atFinish)[0].bodySize, 100_004);
  assert.equal(messages(r.atFinish)[0].bodyBytesMissing, 0);
  const ignored = run([lat('\x16\x03\x01binary'), { skip: 5 }]);
  assert.equal(ignored.refusedSkips, 0);
});

test('a request body may be skipped too; chunk data in pieces with skips between', () => {
  const req = lat('POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n');
  const r = run([req, lat('abc'), { skip: 50_000 }, { skip: 49_990 }, lat('1234567'), lat('GET / HTTP/1.1\r\n\r\n')]);
  assert.equal(r.refusedSkips, 0);
  const ms = messages(r.events);
  assert.equal(ms.length, 2);
  assert.equal(ms[0].bodySize, 100_000);
  assert.equal(ms[0].bodyBytesMissing, 0);
  const chunked = run([lat('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000\r\nab'), { skip: 16382 }, lat('\r\n0\r\n\r\n')]);
  assert.equal(chunked.refusedSkips, 0);
  assert.equal(messages(chunked.events)[0].bodySize, 16384);
});
