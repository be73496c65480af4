// Body skipping from the record to the exchange: records whose `skipped` bytes the BPF side
// counted instead of copying (bpf/tlsotel.bpf.c) go through the stream table to the protocol
// session, which accepts them only where its framing expects body bytes. Exact body sizes when
// the skip is right, a counted gap (never a wrong size) when it is not.
import assert from 'node:assert/strict';
import test from 'node:test';

import { decodeRecord, encodeRecord, type DataRecord, type Direction } from '../../src/capture/record';
import { StreamTable, type GapReason } from '../../src/capture/streams';
import { ExchangeTracker } from '../../src/exchange/tracker';
import type { Exchange } from '../../src/exchange/types';
import { FrameReader, type FrameHead } from '../../src/protocol/http2/frame-reader';

const PID = 77;
const SSL = 0xabc000n;
const lat = (s: string) => Buffer.from(s, 'latin1');

let clock = 1000n;
/** One record as the BPF side writes it, through encode and decode (the wire format included). */
function rec(dir: Direction, p: { data?: string; skipped?: number; callLen?: number; offset?: number; last?: boolean; tsNs?: bigint }): DataRecord {
  const data = lat(p.data ?? '');
  const skipped = p.skipped ?? 0;
  const r = decodeRecord(encodeRecord({
    type: 'data', tsNs: p.tsNs ?? (clock += 10n), conn: SSL, pid: PID, tid: PID, comm: 'wrk', libId: 1, dir,
    callLen: p.callLen ?? (p.offset ?? 0) + data.length + skipped, offset: p.offset ?? 0, last: p.last ?? true,
    lostBefore: 0, lostOther: 0, skipped, data,
  }));
  assert.ok(r && r.type === 'data');
  return r;
}

function tracked() {
  const out: Exchange[] = [];
  const tracker = new ExchangeTracker((ex) => out.push(ex), {
    processInfo: (pid, comm) => ({ pid, comm, exeName: comm, exePath: `/usr/bin/${comm}`, serviceName: comm }),
    addressWaitMs: 0,
  });
  const table = new StreamTable(tracker);
  return { out, tracker, table };
}

const HEAD_16K = 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 16384\r\n\r\n';

test('encode/decode: `skipped` round-trips; absent means 0', () => {
  assert.equal(rec('read', { data: 'x', skipped: 123_456 }).skipped, 123_456);
  assert.equal(rec('read', { data: 'x' }).skipped, 0);
});

test('a 16 KiB response as nginx writes it and wrk reads it: exact body size, no gap, bytes counted as skipped', () => {
  const { out, tracker, table } = tracked();
  const headLen = HEAD_16K.length;
  table.push(rec('write', { data: 'GET /16k HTTP/1.1\r\nHost: x\r\n\r\n' }));
  // wrk's SSL_read(8192) ×3: the head and the body's start; body; the body's end.
  table.push(rec('read', { data: HEAD_16K, skipped: 8192 - headLen, callLen: 8192 }));
  table.push(rec('read', { skipped: 8192, callLen: 8192 }));
  table.push(rec('read', { skipped: headLen, callLen: headLen }));
  table.push(rec('write', { data: 'GET /16k HTTP/1.1\r\nHost: x\r\n\r\n' }));
  // One call holding the head, the whole body, and the next head's start is not what the BPF
  // side emits (one search per call), but a skip that ends inside a call is: the rest is data.
  table.push(rec('read', { data: HEAD_16K, skipped: 16384, callLen: headLen + 16384 + 5, last: false, tsNs: 5000n }));
  table.push(rec('read', { data: 'HTTP/', offset: headLen + 16384, callLen: headLen + 16384 + 5, tsNs: 5000n }));
  assert.equal(out.length, 2);
  for (const e of out) {
    assert.equal(e.response?.bodySize, 16384);
    assert.equal(e.error, undefined);
  }
  const s = table.stats();
  assert.equal(s.skippedBytes, 8192 - headLen + 8192 + headLen + 16384);
  assert.equal(s.skips, 4);
  assert.deepEqual(s.gaps, { 'ring-full': 0, truncated: 0, 'not-captured': 0, skipped: 0 });
  const c = table.get(`${PID}:${SSL.toString(16)}`);
  assert.deepEqual(c?.missing, { write: 0, read: 0 });
  assert.equal(tracker.stats().skipMismatches, 0);
});

test('a skip at every offset of the body, in every call split, gives the same exchange as the bytes', () => {
  const body = 'b'.repeat(300);
  const head = `HTTP/1.1 201 Created\r\nContent-Length: ${body.length}\r\n\r\n`;
  const whole = head + body;
  const reference = (() => {
    const { out, table } = tracked();
    table.push(rec('write', { data: 'POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n', tsNs: 1n }));
    table.push(rec('read', { data: whole, tsNs: 2n }));
    return out;
  })();
  assert.equal(reference[0].response?.bodySize, 300);
  for (let a = head.length; a < whole.length; a += 7) {
    for (let b = a + 1; b <= whole.length; b += 13) {
      const { out, tracker, table } = tracked();
      table.push(rec('write', { data: 'POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n', tsNs: 1n }));
      // One call: bytes [0, a), skipped [a, b), bytes [b, end) in a second record of the call.
      const callLen = whole.length;
      table.push(rec('read', { data: whole.slice(0, a), skipped: b - a, callLen, last: b === whole.length, tsNs: 2n }));
      if (b < whole.length) table.push(rec('read', { data: whole.slice(b), offset: b, callLen, tsNs: 2n }));
      assert.deepEqual(out.map((e) => [e.response?.bodySize, e.error, e.startNs, e.endNs]), reference.map((e) => [e.response?.bodySize, e.error, e.startNs, e.endNs]), `skip [${a}, ${b})`);
      assert.equal(tracker.stats().skipMismatches, 0);
    }
  }
});

test('a wrong skip (a HEAD response taken for one with a body) is a counted gap, never a wrong size', () => {
  const { out, tracker, table } = tracked();
  table.push(rec('write', { data: 'HEAD /16k HTTP/1.1\r\nHost: x\r\n\r\n' }));
  // A server that (wrongly) sends a body after a HEAD response, in one write: the BPF side
  // cannot know the request was HEAD, and skips what it takes for the body.
  table.push(rec('read', { data: HEAD_16K, skipped: 16384 }));
  table.push(rec('write', { data: 'GET /small HTTP/1.1\r\nHost: x\r\n\r\n' }));
  table.push(rec('read', { data: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc' }));
  assert.equal(tracker.stats().skipMismatches, 1);
  assert.equal(tracker.stats().parseErrors.gap, 1, 'a gap where the next message was due');
  const head = out.find((e) => e.request.method === 'HEAD');
  assert.equal(head?.response?.bodySize, 0, 'the HEAD response has no body');
  const get = out.find((e) => e.request.method === 'GET');
  assert.equal(get?.response?.bodySize, 3);
  assert.equal(get?.response?.statusCode, 200);
  for (const e of out) assert.ok(e.response === undefined || e.response.bodySize <= 3);
});

test('a skip past the end of the body the parser knows (a lying Content-Length) is a gap: the size is marked as not all seen', () => {
  const { out, tracker, table } = tracked();
  table.push(rec('write', { data: 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n' }));
  table.push(rec('read', { data: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', skipped: 5000 }));
  table.push(rec('write', { data: 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n' }));
  table.push(rec('read', { data: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' }));
  assert.equal(tracker.stats().skipMismatches, 1);
  const a = out.find((e) => e.request.url === '/a');
  assert.ok(a?.response);
  assert.equal(a.response.bodySize, 100);
  const b = out.find((e) => e.request.url === '/b');
  assert.equal(b?.response?.statusCode, 404);
});

test('a sink without onSkip gets skipped bytes as a gap of their own reason', () => {
  const gaps: Array<[number, GapReason]> = [];
  const table = new StreamTable({ onData() {}, onGap: (_c, _d, n, _t, reason) => gaps.push([n, reason]), onClose() {} });
  table.push(rec('read', { data: 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n', skipped: 9 }));
  assert.deepEqual(gaps, [[9, 'skipped']]);
  assert.equal(table.stats().gaps.skipped, 1);
  assert.equal(table.stats().skippedBytes, 9);
});

test('a record claiming more skipped bytes than its call holds is cut to the call', () => {
  const skips: number[] = [];
  const table = new StreamTable({ onData() {}, onGap() {}, onSkip: (_c, _d, n) => skips.push(n), onClose() {} });
  const r = rec('read', { data: 'abc', skipped: 10 });
  r.callLen = 8;
  table.push(r);
  assert.deepEqual(skips, [5]);
});

test('skipped bytes before the protocol is known are replayed to the session in order', () => {
  const { out, table } = tracked();
  // 20 bytes: HTTP/1 detection wants more before it decides (Maybe).
  table.push(rec('write', { data: 'POST /up HTTP/1.1\r\nC' }));
  table.push(rec('write', { data: 'ontent-Length: 4000\r\n\r\n', skipped: 4000 }));
  table.push(rec('read', { data: 'HTTP/1.1 204 No Content\r\n\r\n' }));
  assert.equal(out.length, 1);
  assert.equal(out[0].request.bodySize, 4000);
  assert.equal(out[0].error, undefined);
});

// HTTP/2: a DATA frame's payload may be skipped (the BPF side does not do it yet; the session
// accepts it where it is right and refuses it elsewhere, like HTTP/1).
test('HTTP/2 frame reader: a skip inside a DATA payload at every offset counts as the bytes; anywhere else it is refused', () => {
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream, 5);
    return Buffer.concat([h, payload]);
  };
  const data = frame(0, 1, 1, Buffer.alloc(100, 0x61));
  const padded = frame(0, 0x8, 3, Buffer.concat([Buffer.from([10]), Buffer.alloc(50, 0x62), Buffer.alloc(10)]));
  const ping = frame(6, 0, 0, Buffer.alloc(8));
  const input = Buffer.concat([data, ping, padded]);
  const run = (steps: Array<Buffer | number>) => {
    const got: string[] = [];
    let refused = 0;
    const reader = new FrameReader({
      frame: (h: FrameHead) => got.push(`frame ${h.type} ${h.length}`),
      dataFrame: (h: FrameHead, body: number) => got.push(`data ${h.stream} ${body} missing ${h.missing}`),
      lostSync: () => got.push('lost'),
      resynced: () => got.push('resynced'),
    });
    for (const s of steps) {
      if (typeof s !== 'number') reader.execute(s, 1n);
      else if (!reader.skip(s, 1n)) {
        refused++;
        reader.gap(s, 1n);
      }
    }
    return { got, refused };
  };
  const expected = run([input]).got;
  assert.deepEqual(expected, ['data 1 100 missing 0', 'frame 6 8', 'data 3 50 missing 0']);
  // Payload ranges that may be skipped: DATA bytes after the pad length byte (padding included).
  const ranges: Array<[number, number]> = [[9, 109], [109 + 17 + 9 + 1, input.length]];
  const inRange = (a: number, b: number) => ranges.some(([f, t]) => a >= f && b <= t);
  for (let a = 0; a < input.length; a++) {
    for (let b = a + 1; b <= input.length; b++) {
      const { got, refused } = run([input.subarray(0, a), b - a, input.subarray(b)]);
      if (inRange(a, b)) {
        assert.equal(refused, 0, `skip [${a}, ${b})`);
        assert.deepEqual(got, expected, `skip [${a}, ${b})`);
      } else {
        assert.equal(refused, 1, `skip [${a}, ${b}) refused`);
        for (const g of got) {
          const m = /^data (\d+) (\d+) missing 0$/.exec(g);
          if (m) assert.ok(expected.includes(g), `skip [${a}, ${b}): ${g} is a frame that exists`);
        }
      }
    }
  }
});
