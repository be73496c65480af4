// The HTTP/2 session on synthesized conversations: every frame type, padding, priority,
// CONTINUATION, interleaved streams, resets, GOAWAY, close, timeouts, push, gRPC status rules;
// input split at every offset and byte by byte; a capture gap at every position never yields
// a wrong value.

import assert from 'node:assert/strict';
import test from 'node:test';

import { ErrorKind } from '../../src/exchange/error-kind';
import { ProtocolCounter } from '../../src/protocol/session';
import type { ProtocolExchange } from '../../src/protocol/session';
import { Conversation, collector, facts, feed, flip } from './http2-harness';
import type { Step } from './http2-harness';

const req = (method: string, path: string, extra: string[] = []): string[] =>
  [':method', method, ':scheme', 'https', ':path', path, ':authority', 'example.com', ...extra];
const resp = (status: number, extra: string[] = []): string[] => [':status', String(status), ...extra];

/** Two streams interleaved with every frame type between them. */
function mixed(): Conversation {
  const c = new Conversation();
  c.headers('write', 1, req('GET', '/one', ['user-agent', 'ua', 'accept', '*/*']), { endStream: true, priority: true })
    .headers('write', 3, req('POST', '/two', ['content-type', 'text/plain', 'x-long', 'v'.repeat(300)]), { pad: 7, fragment: 20 })
    .settings('read', [], true)
    .ping('write')
    .ping('read', true)
    .data('write', 3, 100, { pad: 3 })
    .windowUpdate('read', 0)
    .windowUpdate('read', 3)
    .priority('write', 3)
    .headers('read', 1, resp(200, ['content-type', 'text/html']))
    .data('write', 3, 50, { endStream: true })
    .data('read', 1, 1000)
    .headers('read', 3, resp(201), { pad: 2 })
    .data('read', 3, 10, { endStream: true })
    .data('read', 1, 24, { pad: 0 })
    .headers('read', 1, ['x-trailer', 't'], { endStream: true });
  return c;
}

const MIXED_FACTS = [
  { side: 'client', stream: 3, method: 'POST', url: '/two', status: 201, reqBody: 150, respBody: 10, error: undefined },
  { side: 'client', stream: 1, method: 'GET', url: '/one', status: 200, reqBody: 0, respBody: 1024, error: undefined },
];

function checkMixed(exchanges: ProtocolExchange[], side: 'client' | 'server', label: string): void {
  assert.deepStrictEqual(exchanges.map(facts), MIXED_FACTS.map((f) => ({ ...f, side })), label);
  const [two, one] = exchanges;
  assert.deepStrictEqual(one.request.headers, ['user-agent', 'ua', 'accept', '*/*'], label);
  assert.deepStrictEqual(two.request.headers, ['content-type', 'text/plain', 'x-long', 'v'.repeat(300)], label);
  assert.deepStrictEqual(one.response!.headers, ['content-type', 'text/html'], label);
  assert.deepStrictEqual(one.response!.trailers, ['x-trailer', 't'], label);
  assert.deepStrictEqual([one.scheme, one.authority, one.rpc], ['https', 'example.com', undefined], label);
}

test('every frame type, padding, priority, CONTINUATION, two streams interleaved', () => {
  const steps = mixed().steps;
  const c = feed(steps);
  checkMixed(c.exchanges, 'client', 'whole');
  assert.deepStrictEqual([...c.counters], []);
  checkMixed(feed(flip(steps)).exchanges, 'server', 'flipped');
  const [two, one] = c.exchanges;
  // Timestamps: one per step (1, 2, …); the preface and settings are steps 1 and 2.
  assert.deepStrictEqual([one.request.startNs, one.request.endNs, one.response!.startNs, one.response!.endNs, one.endNs], [3n, 3n, 12n, 18n, 18n]);
  assert.deepStrictEqual([two.request.startNs, two.request.endNs, two.response!.startNs, two.endNs], [4n, 13n, 15n, 16n]);
});

test('split at every offset, and byte by byte', () => {
  const steps = mixed().steps;
  // One stream of steps per direction order; each step split at every offset in turn.
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    if (!('bytes' in s)) continue;
    for (let at = 1; at < s.bytes.length; at++) {
      const split: Step[] = [...steps.slice(0, i), { dir: s.dir, bytes: s.bytes.subarray(0, at) }, { dir: s.dir, bytes: s.bytes.subarray(at) }, ...steps.slice(i + 1)];
      const c = feed(split);
      assert.deepStrictEqual(c.exchanges.map(facts), MIXED_FACTS, `step ${i} split at ${at}`);
    }
  }
  checkMixed(feed(steps, 1).exchanges, 'client', 'byte by byte');
});

test('a capture gap at every position: never a wrong value, body sizes kept across DATA gaps', () => {
  const conv = mixed();
  const truth = new Map(feed(conv.steps).exchanges.map((e) => [e.ordinal!, e]));
  let reportedWithUrl = 0;
  let runs = 0;
  for (const dir of ['write', 'read'] as const) {
    for (const lost of [1, 4, 9, 30, 400]) {
      // Cut every step of `dir` at every offset, replacing `lost` bytes there with a gap.
      conv.steps.forEach((s, i) => {
        if (!('bytes' in s) || s.dir !== dir) return;
        for (let at = 0; at < s.bytes.length; at++) {
          const n = Math.min(lost, s.bytes.length - at);
          const steps: Step[] = [...conv.steps.slice(0, i), { dir, bytes: s.bytes.subarray(0, at) }, { dir, gap: n }, { dir, bytes: s.bytes.subarray(at + n) }, ...conv.steps.slice(i + 1)];
          const c = feed(steps, Infinity, ErrorKind.ClosedBeforeResponse);
          runs++;
          const tag = `${dir} step ${i} gap of ${n} at ${at}`;
          assert.equal(c.notMine, 0, tag);
          for (const ex of c.exchanges) {
            const t = truth.get(ex.ordinal!);
            assert.ok(t !== undefined, `${tag}: stream ${ex.ordinal} never existed`);
            assert.equal(ex.side, t.side, tag);
            if (ex.request.method !== undefined) assert.equal(ex.request.method, t.request.method, tag);
            if (ex.request.url !== undefined) {
              assert.equal(ex.request.url, t.request.url, tag);
              reportedWithUrl++;
            }
            if (ex.response?.statusCode !== undefined) assert.equal(ex.response.statusCode, t.response!.statusCode, tag);
            for (let h = 0; h < ex.request.headers.length; h += 2) {
              const k = t.request.headers.indexOf(ex.request.headers[h]);
              assert.ok(k >= 0 && t.request.headers[k + 1] === ex.request.headers[h + 1], `${tag}: request header`);
            }
            for (const [got, want] of [[ex.response?.headers, t.response!.headers], [ex.response?.trailers, t.response!.trailers]]) {
              for (let h = 0; got !== undefined && h < got.length; h += 2) {
                const k = want!.indexOf(got[h]);
                assert.ok(k >= 0 && want![k + 1] === got[h + 1], `${tag}: response field ${got[h]}`);
              }
            }
            if (ex.error === undefined) assert.deepStrictEqual(facts(ex), facts(t), `${tag}: no error, so all of it`);
            else assert.ok(ex.error === ErrorKind.CaptureGap || ex.error === ErrorKind.ClosedMidMessage || ex.error === ErrorKind.ClosedBeforeResponse, `${tag}: error ${ex.error}`);
          }
        }
      });
    }
  }
  assert.ok(runs > 1000 && reportedWithUrl > runs, `${runs} runs, ${reportedWithUrl} urls`);
});

test('a gap inside a DATA payload: the body keeps its size, the exchange says what was lost', () => {
  const c = new Conversation();
  c.headers('write', 1, req('GET', '/big'), { endStream: true })
    .headers('read', 1, resp(200));
  const data = new Conversation({ preface: false }).data('read', 1, 5000, { endStream: true }).steps[0] as { dir: 'read'; bytes: Buffer };
  c.raw('read', data.bytes.subarray(0, 100)).gap('read', 4000).raw('read', data.bytes.subarray(4100));
  const out = feed(c.steps);
  assert.equal(out.exchanges.length, 1);
  const ex = out.exchanges[0];
  assert.deepStrictEqual(facts(ex), { side: 'client', stream: 1, method: 'GET', url: '/big', status: 200, reqBody: 0, respBody: 5000, error: ErrorKind.CaptureGap });
  assert.match(ex.errorDetail ?? '', /4000 bytes/);
});

test('a gap in a header block: that stream\'s headers are unknown, the connection goes on', () => {
  const c = new Conversation({ huffman: false });
  c.headers('write', 1, req('GET', '/first', ['x-a', 'aaa']), { endStream: true });
  const lostBlock = new Conversation({ preface: false });
  // Written with the same encoder state would need the conversation's encoder: build it there.
  c.headers('write', 3, req('GET', '/second', ['x-b', 'bbb']), { endStream: true });
  const frame = (c.steps.pop() as { dir: 'write'; bytes: Buffer }).bytes;
  c.raw('write', frame.subarray(0, 12)).gap('write', 10).raw('write', frame.subarray(22));
  c.headers('write', 5, req('GET', '/third', ['x-b', 'bbb', 'x-c', 'ccc']), { endStream: true });
  for (const id of [1, 3, 5]) c.headers('read', id, resp(200), { endStream: true });
  const out = feed(c.steps);
  void lostBlock;
  const byId = new Map(out.exchanges.map((e) => [e.ordinal, e]));
  assert.equal(byId.get(1)!.request.url, '/first');
  const second = byId.get(3)!;
  assert.deepStrictEqual([second.request.method, second.request.url, second.error, second.response?.statusCode], [undefined, undefined, ErrorKind.CaptureGap, 200]);
  // The third block refers to x-b (inserted by the lost block: unknown) and inserts x-c anew.
  const third = byId.get(5)!;
  assert.deepStrictEqual([third.request.method, third.request.url, third.request.headers, third.error], ['GET', '/third', ['x-c', 'ccc'], undefined]);
  assert.ok((out.counters.get(ProtocolCounter.UndecodableHeaders) ?? 0) >= 1);
});

test('RST_STREAM, GOAWAY, close, expire and the stream limit end exchanges with their kind', () => {
  const c = new Conversation();
  c.headers('write', 1, req('GET', '/reset'), { endStream: true })
    .headers('write', 3, req('GET', '/kept'), { endStream: true })
    .headers('write', 5, req('GET', '/refused'), { endStream: true })
    .headers('write', 7, req('GET', '/mid'), { endStream: true })
    .headers('write', 9, req('GET', '/waiting'), { endStream: true })
    .rst('write', 1, 8)
    .headers('read', 7, resp(200))
    .goAway('read', 7, 0)
    .headers('read', 3, resp(204), { endStream: true });
  const out = collector();
  let ts = 0n;
  for (const s of c.steps) if ('bytes' in s) out.session.data(s.dir, s.bytes, ++ts);
  const kinds = (): Array<[string | undefined, ErrorKind | undefined, string | undefined]> => out.exchanges.map((e) => [e.request.url, e.error, e.errorDetail]);
  assert.deepStrictEqual(kinds(), [['/reset', ErrorKind.StreamReset, 'CANCEL'], ['/waiting', ErrorKind.GoAway, 'NO_ERROR'], ['/kept', undefined, undefined]]);
  // /refused (5) is under the GOAWAY's last stream: it may still be answered.
  assert.equal(out.session.inFlight, 2);
  out.session.expire(6n, 100n); // /refused waits since ts 5
  assert.deepStrictEqual(kinds()[3], ['/refused', ErrorKind.ResponseTimeout, undefined]);
  assert.equal(out.exchanges[3].endNs, 100n);
  assert.equal(out.session.close(ErrorKind.ClosedBeforeResponse, 200n), 0);
  assert.deepStrictEqual(kinds()[4], ['/mid', ErrorKind.ClosedMidMessage, undefined]);
  assert.equal(out.session.inFlight, 0);

  // The agent stopping drops in-flight streams and says how many.
  const stopped = collector();
  for (const s of c.steps.slice(0, 6)) if ('bytes' in s) stopped.session.data(s.dir, s.bytes, 1n);
  assert.equal(stopped.session.close(ErrorKind.AgentStopped, 2n), 4);
  assert.equal(stopped.exchanges.length, 0);
  const exited = collector();
  for (const s of c.steps.slice(0, 3)) if ('bytes' in s) exited.session.data(s.dir, s.bytes, 1n);
  exited.session.close(ErrorKind.ProcessExited, 2n);
  assert.deepStrictEqual(exited.exchanges.map((e) => e.error), [ErrorKind.ProcessExited]);

  // More streams in flight than the limit (256 here): the oldest is given up.
  const many = new Conversation();
  for (let i = 0; i < 300; i++) many.headers('write', 2 * i + 1, req('GET', `/s/${i}`), { endStream: true });
  const m = feed(many.steps);
  assert.equal(m.session.inFlight, 256);
  assert.deepStrictEqual(m.exchanges.map((e) => [e.request.url, e.error]), Array.from({ length: 44 }, (_, i) => [`/s/${i}`, ErrorKind.TooManyPending]));
});

test('gRPC: route, status from trailers or a trailers-only response, message decoding, UNKNOWN', () => {
  const g = ['content-type', 'application/grpc+proto', 'te', 'trailers'];
  const c = new Conversation();
  c.headers('write', 1, req('POST', '/helloworld.Greeter/SayHello', g)).data('write', 1, 12, { endStream: true })
    .headers('write', 3, req('POST', '/helloworld.Greeter/Fail', g)).data('write', 3, 5, { endStream: true })
    .headers('write', 5, req('POST', '/helloworld.Greeter/NoStatus', g)).data('write', 5, 5, { endStream: true })
    .headers('write', 7, req('POST', '/notgrpc', ['content-type', 'application/json']), { endStream: true })
    .headers('read', 1, resp(200, ['content-type', 'application/grpc'])).data('read', 1, 20)
    .headers('read', 1, ['grpc-status', '0'], { endStream: true })
    .headers('read', 3, resp(200, ['content-type', 'application/grpc', 'grpc-status', '14', 'grpc-message', 'upstream%20down%3b%20%E2%9C%93%zz']), { endStream: true })
    .headers('read', 5, resp(200, ['content-type', 'application/grpc'])).headers('read', 5, ['grpc-message', 'lost'], { endStream: true })
    .headers('read', 7, resp(200, ['grpc-status', '3']), { endStream: true });
  const out = feed(c.steps);
  assert.deepStrictEqual(out.exchanges.map((e) => e.rpc), [
    { system: 'grpc', service: 'helloworld.Greeter', method: 'SayHello', statusCode: 0, statusMessage: undefined },
    { system: 'grpc', service: 'helloworld.Greeter', method: 'Fail', statusCode: 14, statusMessage: 'upstream down; ✓%zz' },
    { system: 'grpc', service: 'helloworld.Greeter', method: 'NoStatus', statusCode: 2, statusMessage: 'lost' },
    undefined,
  ]);
  assert.deepStrictEqual(out.exchanges.map((e) => e.response?.statusCode), [200, 200, 200, 200]);
});

test('interim 1xx responses, PUSH_PROMISE, and pseudo-headers that cannot be right', () => {
  const c = new Conversation();
  c.headers('write', 1, req('POST', '/continue', ['expect', '100-continue']))
    .headers('read', 1, resp(100))
    .data('write', 1, 10, { endStream: true })
    .headers('read', 1, resp(103, ['link', '</s.css>']))
    .headers('read', 1, resp(200), { endStream: true })
    .headers('write', 3, req('GET', '/page'), { endStream: true })
    .pushPromise('read', 3, 2, req('GET', '/pushed.css'))
    .headers('read', 3, resp(200), { endStream: true })
    .headers('read', 2, resp(200, ['content-type', 'text/css'])).data('read', 2, 33, { endStream: true })
    .headers('write', 5, [':method', 'G E T', ':scheme', 'https', ':path', 'no-slash', ':authority', 'a b'], { endStream: true })
    .headers('read', 5, [':status', '2000'], { endStream: true });
  const out = feed(c.steps);
  assert.deepStrictEqual(out.exchanges.map(facts), [
    { side: 'client', stream: 1, method: 'POST', url: '/continue', status: 200, reqBody: 10, respBody: 0, error: undefined },
    { side: 'client', stream: 3, method: 'GET', url: '/page', status: 200, reqBody: 0, respBody: 0, error: undefined },
    { side: 'client', stream: 2, method: 'GET', url: '/pushed.css', status: 200, reqBody: 0, respBody: 33, error: undefined },
    { side: 'client', stream: 5, method: undefined, url: undefined, status: undefined, reqBody: 0, respBody: 0, error: undefined },
  ]);
  assert.equal(out.exchanges[3].authority, undefined);
  assert.ok((out.counters.get(ProtocolCounter.InvalidMessages) ?? 0) >= 2);
});

test('joined mid-way: responses to unseen requests are counted, new streams are whole', () => {
  const c = new Conversation({ huffman: false });
  c.headers('write', 1, req('GET', '/before', ['x-t', '1']), { endStream: true });
  c.headers('read', 1, resp(200, ['server', 'test']));
  const skip = c.steps.length;
  c.data('read', 1, 100, { endStream: true })
    .headers('write', 3, req('GET', '/after', ['x-t', '1']), { endStream: true })
    .headers('read', 3, resp(404, ['server', 'test']), { endStream: true });
  const out = feed(c.steps.slice(skip));
  assert.deepStrictEqual(out.exchanges.map(facts), [{ side: 'client', stream: 3, method: 'GET', url: '/after', status: 404, reqBody: 0, respBody: 0, error: undefined }]);
  // x-t and server were inserted before we joined: unknown, left out.
  assert.deepStrictEqual([out.exchanges[0].request.headers, out.exchanges[0].response!.headers, out.exchanges[0].authority], [[], [], undefined]);
  assert.equal(out.counters.get(ProtocolCounter.UnpairedResponses), undefined);
  const late = feed(c.steps.slice(skip - 1));
  assert.equal(late.counters.get(ProtocolCounter.UnpairedResponses), 1);
  assert.equal(late.exchanges.length, 1);
});

test('joined mid-way: a status or content-type from an unseen table entry is unknown, not an error', () => {
  const g = ['content-type', 'application/grpc'];
  const c = new Conversation({ huffman: false });
  c.headers('write', 1, req('POST', '/pkg.S/M', g)).data('write', 1, 5, { endStream: true })
    .headers('read', 1, resp(503, g)).rst('read', 1, 2);
  const skip = c.steps.length;
  c.headers('write', 3, req('POST', '/pkg.S/N', g)).data('write', 3, 5, { endStream: true })
    .headers('read', 3, resp(503, g)).headers('read', 3, ['grpc-status', '7'], { endStream: true });
  const out = feed(c.steps.slice(skip));
  assert.equal(out.exchanges.length, 1);
  const ex = out.exchanges[0];
  assert.deepStrictEqual(facts(ex), { side: 'client', stream: 3, method: 'POST', url: '/pkg.S/N', status: undefined, reqBody: 5, respBody: 0, error: undefined });
  // content-type was inserted before the join; grpc-status (a new value) was not.
  assert.deepStrictEqual(ex.rpc, { system: 'grpc', service: 'pkg.S', method: 'N', statusCode: 7, statusMessage: undefined });
  assert.ok((out.counters.get(ProtocolCounter.UndecodableHeaders) ?? 0) >= 3);
});

test('SETTINGS_MAX_FRAME_SIZE: larger frames pass once allowed; garbage after the preface is not ours', () => {
  const c = new Conversation();
  c.settings('read', [[5, 1 << 20]])
    .headers('write', 1, req('PUT', '/big'))
    .data('write', 1, 100000, { endStream: true })
    .headers('read', 1, resp(204), { endStream: true });
  assert.deepStrictEqual(feed(c.steps).exchanges.map((e) => e.request.bodySize), [100000]);

  const junkBytes = Buffer.from('\x00\xff\xff\xffjunk that is not a frame at all, long enough to check', 'latin1');
  // After the preface, the first frame must make sense.
  const junk = collector();
  junk.session.data('write', Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), junkBytes]), 1n);
  assert.equal(junk.notMine, 1);
  junk.session.data('write', Buffer.alloc(100, 1), 2n);
  assert.equal(junk.notMine, 1);
  // Joined mid-way, one direction may start inside a frame; both failing is not HTTP/2.
  const midway = collector();
  midway.session.data('read', junkBytes, 1n);
  assert.equal(midway.notMine, 0);
  midway.session.data('write', junkBytes, 2n);
  assert.equal(midway.notMine, 1);
  const oneSide = new Conversation({ preface: false }).headers('write', 1, req('GET', '/x'), { endStream: true }).headers('read', 1, resp(200), { endStream: true });
  const late = collector();
  late.session.data('read', junkBytes, 1n);
  for (const s of oneSide.steps) if ('bytes' in s) late.session.data(s.dir, s.bytes, 2n);
  assert.equal(late.notMine, 0);
  assert.equal(late.exchanges.length, 0); // the read side resyncs later: its response is lost
  assert.equal(late.counters.get(ProtocolCounter.InvalidMessages), 1);
});

test("SETTINGS_MAX_FRAME_SIZE sent by a server before it reads the client's preface still holds (grpc's C core)", () => {
  // The traced server ('write') sends its SETTINGS first, allowing 4 MiB frames, then reads the
  // preface and a request whose DATA frame is larger than 16 KiB.
  const c = new Conversation({ preface: false, clientDir: 'read' });
  c.settings('write', [[5, 4194304]])
    .raw('read', Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')]))
    .settings('read', [[5, 4194304]])
    .headers('read', 1, req('POST', '/pkg.S/M', ['content-type', 'application/grpc']))
    .data('read', 1, 20005, { endStream: true })
    .headers('write', 1, resp(200, ['content-type', 'application/grpc']))
    .data('write', 1, 20011)
    .headers('write', 1, ['grpc-status', '0'], { endStream: true })
    .headers('read', 3, req('POST', '/pkg.S/M', ['content-type', 'application/grpc']))
    .data('read', 3, 30000, { endStream: true })
    .headers('write', 3, resp(200, ['content-type', 'application/grpc']))
    .headers('write', 3, ['grpc-status', '0'], { endStream: true });
  const out = feed(c.steps);
  assert.deepStrictEqual(out.exchanges.map((e) => [e.side, e.request.bodySize]), [['server', 20005], ['server', 30000]]);
  assert.deepStrictEqual([...out.counters], []);
});

test('invalid framing after good frames: counted, resynced, later streams whole', () => {
  const c = new Conversation({ huffman: false });
  c.headers('write', 1, req('GET', '/ok'), { endStream: true })
    .raw('write', Buffer.from('\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x10\x00garbage-garbage-garbage\xff\xff\xff\xff\xff\xff\xff\xff\xff', 'latin1'))
    .ping('write')
    .ping('write')
    .ping('write')
    .headers('write', 3, req('GET', '/after'), { endStream: true })
    .headers('read', 1, resp(200), { endStream: true })
    .headers('read', 3, resp(200), { endStream: true });
  const out = feed(c.steps);
  assert.equal(out.counters.get(ProtocolCounter.InvalidMessages), 1);
  assert.deepStrictEqual(out.exchanges.map((e) => [e.request.url, e.response?.statusCode, e.error]), [
    ['/ok', 200, ErrorKind.SkippedAfterInvalid],
    ['/after', 200, undefined],
  ]);
});

test('a response that ends before the request (nginx answers a POST, resets the stream, then reads the body): the whole body is counted', () => {
  const c = new Conversation();
  // Written from the client's side, fed as the server (nginx) sees it.
  c.headers('write', 1, req('POST', '/upload', ['content-length', '1234']))
    .headers('read', 1, resp(200))
    .data('read', 1, 3, { endStream: true })
    .rst('read', 1, 0) // NO_ERROR: stop sending
    .data('write', 1, 1234, { endStream: true });
  const out = feed(flip(c.steps));
  assert.deepStrictEqual(out.exchanges.map(facts), [
    { side: 'server', stream: 1, method: 'POST', url: '/upload', status: 200, reqBody: 1234, respBody: 3, error: undefined },
  ]);
});

test('an answered stream whose request never ends is reported at close, or by expire() a second later, as it stands', () => {
  const c = new Conversation();
  c.headers('write', 1, req('POST', '/upload'))
    .data('write', 1, 100)
    .headers('read', 1, resp(413), { endStream: true });
  const steps = flip(c.steps);
  const closed = feed(steps, Infinity, ErrorKind.ClosedBeforeResponse);
  assert.deepStrictEqual(closed.exchanges.map(facts), [
    { side: 'server', stream: 1, method: 'POST', url: '/upload', status: 413, reqBody: 100, respBody: 0, error: undefined },
  ]);
  const open = feed(steps);
  assert.equal(open.exchanges.length, 0, 'waits for the request to end');
  open.session.expire(-1n, 100n + 500_000_000n);
  assert.equal(open.exchanges.length, 0, 'still within the wait');
  open.session.expire(-1n, 100n + 2_000_000_000n);
  assert.deepStrictEqual(open.exchanges.map((e) => [e.response?.statusCode, e.request.bodySize, e.error]), [[413, 100, undefined]]);
});
