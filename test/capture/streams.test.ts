// StreamTable: records → ordered byte streams with explicit gaps, per connection and direction.
// Records are built as the BPF side (bpf/tlsotel.bpf.c, emit()) would emit them; no BPF here.
import test from 'node:test';
import assert from 'node:assert/strict';
import { generateCorpus, recordView } from '../../bench/record-gen';
import { decodeRecord, encodeRecord, type DataRecord, type Direction, type TlsRecord } from '../../src/capture/record';
import { StreamTable, type CloseReason, type Connection, type GapReason, type PendingLoss, type StreamOptions } from '../../src/capture/streams';
import { ExchangeTracker } from '../../src/exchange/tracker';
import type { Exchange } from '../../src/exchange/types';
import { ErrorKind } from '../../src/exchange/error-kind';
import { prng } from '../helpers/prng';

type Ev =
  | { k: 'data'; id: string; dir: Direction; data: string; ts: bigint }
  | { k: 'gap'; id: string; dir: Direction; bytes: number; reason: GapReason; ts: bigint }
  | { k: 'close'; id: string; reason: CloseReason; ts: bigint; bytes: Connection['bytes']; missing: Connection['missing'] };

function recorder(opts?: StreamOptions) {
  const events: Ev[] = [];
  const table = new StreamTable(
    {
      onData: (c, dir, data, ts) => {
        assert.ok(data.length > 0, 'onData is never called with an empty buffer');
        events.push({ k: 'data', id: c.id, dir, data: data.toString('latin1'), ts });
      },
      onGap: (c, dir, bytes, ts, reason) => {
        assert.ok(bytes > 0, 'a gap has a size');
        events.push({ k: 'gap', id: c.id, dir, bytes, reason, ts });
      },
      onClose: (c, reason, ts) => events.push({ k: 'close', id: c.id, reason, ts, bytes: { ...c.bytes }, missing: { ...c.missing } }),
    },
    opts,
  );
  /** Events without timestamps, for compact comparisons. */
  const plain = () =>
    events.map((e) => {
      const { ts: _ts, ...rest } = e;
      if (rest.k === 'close') {
        const { bytes: _b, missing: _m, ...r } = rest;
        return r;
      }
      return rest;
    });
  return { table, events, plain };
}

const PID = 100;
const SSL = 0x55aa00n;
const ID = `${PID}:${SSL.toString(16)}`;

function rec(p: Partial<Omit<DataRecord, 'data' | 'type'>> & { data?: string | Buffer }): DataRecord {
  const data = typeof p.data === 'string' ? Buffer.from(p.data, 'latin1') : (p.data ?? Buffer.alloc(0));
  return {
    type: 'data',
    tsNs: p.tsNs ?? 1n,
    conn: p.conn ?? SSL,
    pid: p.pid ?? PID,
    tid: p.tid ?? PID,
    comm: p.comm ?? 'curl',
    libId: p.libId ?? 1,
    dir: p.dir ?? 'write',
    callLen: p.callLen ?? data.length,
    offset: p.offset ?? 0,
    last: p.last ?? true,
    lostBefore: p.lostBefore ?? 0,
    lostOther: p.lostOther ?? 0,
    skipped: p.skipped ?? 0,
    data,
  };
}

function closeRec(tsNs: bigint, pid = PID, conn = SSL): TlsRecord {
  return { type: 'close', tsNs, conn, pid, tid: pid, comm: 'curl', libId: 1 };
}

/** Records of one whole call as emit() splits it: `cap` bytes per record, at most `segs` records. */
function call(text: string, tsNs: bigint, cap: number, segs = 16, extra: Partial<DataRecord> = {}): DataRecord[] {
  const out: DataRecord[] = [];
  for (let i = 0; i < segs && i * cap < text.length; i++) {
    const off = i * cap;
    const n = Math.min(cap, text.length - off);
    out.push(rec({ ...extra, tsNs, callLen: text.length, offset: off, last: off + n >= text.length || i + 1 >= segs, lostBefore: i === 0 ? (extra.lostBefore ?? 0) : 0, data: text.slice(off, off + n) }));
  }
  return out;
}

test('data passes through in order, one record per call', () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 1n, data: 'GET / ' }));
  table.push(rec({ tsNs: 2n, data: 'HTTP/1.1\r\n' }));
  table.push(rec({ tsNs: 3n, data: '\r\n' }));
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'GET / ' },
    { k: 'data', id: ID, dir: 'write', data: 'HTTP/1.1\r\n' },
    { k: 'data', id: ID, dir: 'write', data: '\r\n' },
  ]);
  const c = table.get(ID);
  assert.ok(c);
  assert.deepEqual(c.bytes, { write: 18, read: 0 });
  assert.deepEqual(c.missing, { write: 0, read: 0 });
});

test('connection identity: pid + SSL*, comm follows the latest record', () => {
  const { table } = recorder();
  table.push(rec({ tsNs: 5n, pid: 7, conn: 0xdeadbeefn, comm: 'a', libId: 4, data: 'x' }));
  table.push(rec({ tsNs: 9n, pid: 7, conn: 0xdeadbeefn, comm: 'b', data: 'y' }));
  table.push(rec({ tsNs: 9n, pid: 8, conn: 0xdeadbeefn, data: 'z' })); // same SSL*, other process
  const c = table.get('7:deadbeef');
  assert.ok(c);
  assert.equal(c.pid, 7);
  assert.equal(c.conn, 0xdeadbeefn);
  assert.equal(c.comm, 'b');
  assert.equal(c.libId, 4);
  assert.equal(c.firstNs, 5n);
  assert.equal(c.lastNs, 9n);
  assert.ok(table.get('8:deadbeef'));
  assert.equal(table.stats().connections, 2);
});

test('connection identity: one SSL* in several processes, closed in any order, interleaved records', () => {
  // Forked servers (nginx workers) can have the same SSL* address: each process's records must
  // keep going to its own connection whichever of them closes first.
  const rand = prng(5);
  for (let round = 0; round < 50; round++) {
    const { table, events } = recorder();
    const pids = [11, 12, 13, 14];
    const open = new Set<number>();
    let ts = 1n;
    for (let step = 0; step < 40; step++) {
      const pid = pids[Math.floor(rand() * pids.length)];
      if (open.has(pid) && rand() < 0.3) {
        table.push(closeRec(ts++, pid, 0xabcn));
        open.delete(pid);
      } else {
        table.push(rec({ tsNs: ts++, pid, conn: 0xabcn, data: `${pid}` }));
        open.add(pid);
      }
      assert.equal(table.stats().connections, open.size);
      for (const p of pids) assert.equal(table.get(`${p}:abc`) !== undefined, open.has(p));
    }
    for (const e of events) if (e.k === 'data') assert.equal(e.id, `${e.data}:abc`);
  }
});

test('a call split in segments (offsets 0, N, 2N, LAST) is one contiguous stream, no gap', () => {
  const { table, plain } = recorder();
  const text = 'abcdefghij0123456789ABCDEFGHIJxyz'; // 33 bytes, cap 10 → 4 records
  const recs = call(text, 10n, 10);
  assert.deepEqual(recs.map((r) => [r.offset, r.last]), [[0, false], [10, false], [20, false], [30, true]]);
  for (const r of recs) table.push(r);
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'abcdefghij' },
    { k: 'data', id: ID, dir: 'write', data: '0123456789' },
    { k: 'data', id: ID, dir: 'write', data: 'ABCDEFGHIJ' },
    { k: 'data', id: ID, dir: 'write', data: 'xyz' },
  ]);
  // the next call starts cleanly too
  for (const r of call('next', 11n, 10)) table.push(r);
  assert.equal(table.stats().gaps.truncated + table.stats().gaps['not-captured'] + table.stats().gaps['ring-full'], 0);
  assert.deepEqual(table.get(ID)!.missing, { write: 0, read: 0 });
});

test("a LAST record ending before call_len → 'truncated' gap of exactly the remainder, after the data", () => {
  const { table, plain } = recorder();
  const text = 'x'.repeat(1000);
  const recs = call(text, 10n, 100, 2); // max_segments 2: 200 bytes captured, 800 not
  assert.equal(recs.length, 2);
  assert.equal(recs[1].last, true);
  for (const r of recs) table.push(r);
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'x'.repeat(100) },
    { k: 'data', id: ID, dir: 'write', data: 'x'.repeat(100) },
    { k: 'gap', id: ID, dir: 'write', bytes: 800, reason: 'truncated' },
  ]);
  // the call is finished: the next one at offset 0 adds no further gap
  table.push(rec({ tsNs: 11n, data: 'ok' }));
  assert.equal(table.stats().gapBytes.truncated, 800);
  assert.equal(table.stats().gapBytes['not-captured'], 0);
  assert.deepEqual(table.get(ID)!.missing, { write: 800, read: 0 });
});

test("a lost last segment: the next call starting at offset 0 → 'not-captured' gap of the missing size", () => {
  const { table, plain } = recorder();
  const recs = call('AAAAABBBBBCCC', 10n, 5); // offsets 0, 5, 10
  table.push(recs[0]);
  table.push(recs[1]); // recs[2] (the LAST one, 3 bytes) lost
  table.push(rec({ tsNs: 11n, data: 'next' }));
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'AAAAA' },
    { k: 'data', id: ID, dir: 'write', data: 'BBBBB' },
    { k: 'gap', id: ID, dir: 'write', bytes: 3, reason: 'not-captured' },
    { k: 'data', id: ID, dir: 'write', data: 'next' },
  ]);
});

test("a lost middle segment → 'not-captured' gap of its size, where it was", () => {
  const { table, plain } = recorder();
  const recs = call('AAAAABBBBBCCC', 10n, 5);
  table.push(recs[0]);
  table.push(recs[2]); // offset 10, LAST
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'AAAAA' },
    { k: 'gap', id: ID, dir: 'write', bytes: 5, reason: 'not-captured' },
    { k: 'data', id: ID, dir: 'write', data: 'CCC' },
  ]);
});

test("a call whose first records are missing (first seen at offset > 0) → gap from its start", () => {
  const { table, plain } = recorder();
  const recs = call('AAAAABBBBBCCC', 10n, 5);
  table.push(recs[2]);
  assert.deepEqual(plain(), [
    { k: 'gap', id: ID, dir: 'write', bytes: 10, reason: 'not-captured' },
    { k: 'data', id: ID, dir: 'write', data: 'CCC' },
  ]);
});

test('a record of another call (other ts_ns) at offset > 0 is not glued onto the incomplete call before it', () => {
  const { table, plain } = recorder();
  table.push(call('AAAAABBBBBCCC', 10n, 5)[0]); // call 1: 5 of 13 bytes arrive
  table.push(call('xxxxxyyyyyzz', 11n, 5)[1]); // call 2: only its second record (offset 5)
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'AAAAA' },
    { k: 'gap', id: ID, dir: 'write', bytes: 8, reason: 'not-captured' },
    { k: 'gap', id: ID, dir: 'write', bytes: 5, reason: 'not-captured' },
    { k: 'data', id: ID, dir: 'write', data: 'yyyyy' },
  ]);
  table.push(closeRec(12n)); // call 2 still lacks its last 2 bytes
  assert.deepEqual(table.stats().gapBytes['not-captured'], 15);
});

test("LOSS_BEFORE: 'ring-full' gap of lostBefore bytes, before the record's data", () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 1n, data: 'first' }));
  for (const r of call('0123456789', 5n, 4, 16, { lostBefore: 4096 })) table.push(r);
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'first' },
    { k: 'gap', id: ID, dir: 'write', bytes: 4096, reason: 'ring-full' },
    { k: 'data', id: ID, dir: 'write', data: '0123' },
    { k: 'data', id: ID, dir: 'write', data: '4567' },
    { k: 'data', id: ID, dir: 'write', data: '89' },
  ]);
  const s = table.stats();
  assert.equal(s.gaps['ring-full'], 1);
  assert.equal(s.gapBytes['ring-full'], 4096);
});

test('LOSS_BEFORE after an incomplete call: the call tail comes first, then the lost calls', () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 1n, callLen: 10, offset: 0, last: false, data: 'abcd' })); // 6 bytes never arrive
  table.push(rec({ tsNs: 2n, lostBefore: 300, data: 'z' }));
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'abcd' },
    { k: 'gap', id: ID, dir: 'write', bytes: 6, reason: 'not-captured' },
    { k: 'gap', id: ID, dir: 'write', bytes: 300, reason: 'ring-full' },
    { k: 'data', id: ID, dir: 'write', data: 'z' },
  ]);
});

test('LOSS_BEFORE on the very first record of a connection', () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 2n, dir: 'read', lostBefore: 77, data: 'HTTP/1.1 200 OK' }));
  assert.deepEqual(plain(), [
    { k: 'gap', id: ID, dir: 'read', bytes: 77, reason: 'ring-full' },
    { k: 'data', id: ID, dir: 'read', data: 'HTTP/1.1 200 OK' },
  ]);
});

test("cap_len 0 (unreadable memory): middle segment → 'not-captured' gap of the segment", () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 3n, callLen: 12, offset: 0, last: false, data: 'aaaa' }));
  table.push(rec({ tsNs: 3n, callLen: 12, offset: 4, last: false })); // unreadable
  table.push(rec({ tsNs: 3n, callLen: 12, offset: 8, last: true, data: 'cccc' }));
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'aaaa' },
    { k: 'gap', id: ID, dir: 'write', bytes: 4, reason: 'not-captured' },
    { k: 'data', id: ID, dir: 'write', data: 'cccc' },
  ]);
});

test("cap_len 0 (unreadable memory): last or only segment → 'not-captured', not 'truncated'", () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 3n, callLen: 12, offset: 0, last: false, data: 'aaaa' }));
  table.push(rec({ tsNs: 3n, callLen: 12, offset: 4, last: true })); // unreadable, last: 8 bytes missing
  table.push(rec({ tsNs: 4n, callLen: 500, offset: 0, last: true })); // whole call unreadable
  table.push(rec({ tsNs: 5n, data: 'ok' }));
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'aaaa' },
    { k: 'gap', id: ID, dir: 'write', bytes: 8, reason: 'not-captured' },
    { k: 'gap', id: ID, dir: 'write', bytes: 500, reason: 'not-captured' },
    { k: 'data', id: ID, dir: 'write', data: 'ok' },
  ]);
  assert.equal(table.stats().gaps.truncated, 0);
});

test("close record → onClose('closed') once, state removed, a later record opens a new connection", () => {
  const { table, events } = recorder();
  table.push(rec({ tsNs: 1n, data: 'req' }));
  table.push(rec({ tsNs: 2n, dir: 'read', data: 'resp!' }));
  table.push(closeRec(3n));
  table.push(closeRec(4n)); // double free / replay: nothing more
  assert.equal(table.get(ID), undefined);
  const closes = events.filter((e) => e.k === 'close');
  assert.equal(closes.length, 1);
  assert.deepEqual(closes[0], { k: 'close', id: ID, reason: 'closed', ts: 3n, bytes: { write: 3, read: 5 }, missing: { write: 0, read: 0 } });
  // the allocator hands out the same SSL* again: a new connection with fresh counters
  table.push(rec({ tsNs: 10n, data: 'again' }));
  const c = table.get(ID);
  assert.ok(c);
  assert.equal(c.firstNs, 10n);
  assert.deepEqual(c.bytes, { write: 5, read: 0 });
  const s = table.stats();
  assert.equal(s.opened, 2);
  assert.equal(s.closed.closed, 1);
  assert.equal(s.connections, 1);
});

test('close record of another pid, or of an unknown connection, closes nothing', () => {
  const { table, events } = recorder();
  table.push(rec({ tsNs: 1n, data: 'x' }));
  table.push(closeRec(2n, PID + 1, SSL));
  table.push(closeRec(2n, PID, SSL + 8n));
  assert.ok(table.get(ID));
  assert.equal(events.filter((e) => e.k === 'close').length, 0);
  assert.equal(table.stats().closed.closed, 0);
});

test('close with a call in flight reports its missing tail before onClose', () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 1n, callLen: 100, offset: 0, last: false, data: 'x'.repeat(40) }));
  table.push(rec({ tsNs: 1n, dir: 'read', callLen: 30, offset: 0, last: false, data: 'y'.repeat(10) }));
  table.push(closeRec(5n));
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'x'.repeat(40) },
    { k: 'data', id: ID, dir: 'read', data: 'y'.repeat(10) },
    { k: 'gap', id: ID, dir: 'write', bytes: 60, reason: 'not-captured' },
    { k: 'gap', id: ID, dir: 'read', bytes: 20, reason: 'not-captured' },
    { k: 'close', id: ID, reason: 'closed' },
  ]);
});

test("processesExited closes the connections of those pids only ('process-exited')", () => {
  const { table, events } = recorder();
  for (const pid of [1, 2, 3]) {
    table.push(rec({ tsNs: 1n, pid, conn: 0x10n, data: 'a' }));
    table.push(rec({ tsNs: 1n, pid, conn: 0x20n, data: 'b' }));
  }
  table.processesExited([1, 3, 99], 50n);
  const closes = events.filter((e) => e.k === 'close');
  assert.deepEqual(closes.map((e) => [e.id, e.reason, e.ts]).sort(), [
    ['1:10', 'process-exited', 50n],
    ['1:20', 'process-exited', 50n],
    ['3:10', 'process-exited', 50n],
    ['3:20', 'process-exited', 50n],
  ]);
  assert.ok(table.get('2:10'));
  assert.ok(table.get('2:20'));
  assert.equal(table.get('1:10'), undefined);
  const s = table.stats();
  assert.equal(s.closed['process-exited'], 4);
  assert.equal(s.connections, 2);
  table.processesExited([], 60n);
  assert.equal(table.stats().connections, 2);
});

test("evictIdle closes only connections idle for longer than the timeout ('idle')", () => {
  const { table, events } = recorder({ idleTimeoutMs: 1000 });
  const S = 1_000_000_000n;
  table.push(rec({ tsNs: 10n * S, conn: 0xa0n, data: 'a' }));
  table.push(rec({ tsNs: 10n * S + S / 2n, conn: 0xb0n, data: 'b' }));
  table.push(rec({ tsNs: 5n * S, conn: 0xc0n, data: 'c' }));
  table.push(rec({ tsNs: 11n * S, conn: 0xc0n, data: 'c' })); // active again: its last record counts
  table.evictIdle(11n * S + S / 5n); // a idle 1.2 s, b 0.7 s, c 0.2 s
  assert.deepEqual(events.filter((e) => e.k === 'close').map((e) => [e.id, e.reason]), [[`${PID}:a0`, 'idle']]);
  table.evictIdle(11n * S + S / 2n); // b idle exactly 1 s: not longer than the timeout
  assert.ok(table.get(`${PID}:b0`));
  table.evictIdle(11n * S + S / 2n + 1n);
  assert.equal(table.get(`${PID}:b0`), undefined);
  assert.ok(table.get(`${PID}:c0`));
  assert.equal(table.stats().closed.idle, 2);
});

test("maxConnections: opening one more evicts the oldest ('evicted')", () => {
  const { table, events } = recorder({ maxConnections: 2 });
  table.push(rec({ tsNs: 1n, conn: 0x1n, data: 'a' }));
  table.push(rec({ tsNs: 2n, conn: 0x2n, data: 'b' }));
  table.push(rec({ tsNs: 3n, conn: 0x1n, data: 'a' })); // existing connection: no eviction
  assert.equal(events.filter((e) => e.k === 'close').length, 0);
  table.push(rec({ tsNs: 4n, conn: 0x3n, data: 'c' }));
  assert.deepEqual(events.filter((e) => e.k === 'close').map((e) => [e.id, e.reason, e.ts]), [[`${PID}:1`, 'evicted', 4n]]);
  assert.equal(table.get(`${PID}:1`), undefined);
  assert.ok(table.get(`${PID}:2`));
  assert.ok(table.get(`${PID}:3`));
  assert.equal(events.at(-1)!.k, 'data', 'the new record is still delivered');
  const s = table.stats();
  assert.equal(s.connections, 2);
  assert.equal(s.closed.evicted, 1);
  assert.equal(s.opened, 3);
});

test('closeAll closes every connection with the given reason, finishing calls in flight', () => {
  const { table, events } = recorder();
  table.push(rec({ tsNs: 1n, conn: 0x1n, data: 'a' }));
  table.push(rec({ tsNs: 1n, conn: 0x2n, callLen: 9, last: false, data: 'b' }));
  table.push(rec({ tsNs: 1n, pid: 5, conn: 0x3n, data: 'c' }));
  table.closeAll('agent-stopped', 99n);
  const closes = events.filter((e) => e.k === 'close');
  assert.deepEqual(closes.map((e) => [e.id, e.reason, e.ts]).sort(), [
    [`${PID}:1`, 'agent-stopped', 99n],
    [`${PID}:2`, 'agent-stopped', 99n],
    ['5:3', 'agent-stopped', 99n],
  ]);
  assert.deepEqual(events.filter((e) => e.k === 'gap').map((e) => [e.id, e.bytes]), [[`${PID}:2`, 8]]);
  const s = table.stats();
  assert.equal(s.connections, 0);
  assert.equal(s.closed['agent-stopped'], 3);
});

test('the two directions are independent', () => {
  const { table, plain } = recorder();
  const w = call('WWWWWwwwww', 7n, 5);
  table.push(w[0]);
  // a read call (with lost bytes before it) between the two segments of the write call
  for (const r of call('RRRrrr', 8n, 3, 16, { dir: 'read', lostBefore: 10 })) table.push(r);
  table.push(w[1]);
  // an incomplete read call, then a write call: the read call stays open
  table.push(rec({ tsNs: 9n, dir: 'read', callLen: 6, offset: 0, last: false, data: 'abc' }));
  table.push(rec({ tsNs: 10n, dir: 'write', data: 'W2' }));
  table.push(rec({ tsNs: 9n, dir: 'read', callLen: 6, offset: 3, last: true, data: 'def' }));
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'WWWWW' },
    { k: 'gap', id: ID, dir: 'read', bytes: 10, reason: 'ring-full' },
    { k: 'data', id: ID, dir: 'read', data: 'RRR' },
    { k: 'data', id: ID, dir: 'read', data: 'rrr' },
    { k: 'data', id: ID, dir: 'write', data: 'wwwww' },
    { k: 'data', id: ID, dir: 'read', data: 'abc' },
    { k: 'data', id: ID, dir: 'write', data: 'W2' },
    { k: 'data', id: ID, dir: 'read', data: 'def' },
  ]);
  const c = table.get(ID)!;
  assert.deepEqual(c.bytes, { write: 12, read: 12 });
  assert.deepEqual(c.missing, { write: 0, read: 10 });
});

test('stats() counts records, bytes, gaps and gap bytes by reason, closes by reason', () => {
  const { table } = recorder({ maxConnections: 2 });
  table.push(rec({ tsNs: 1n, conn: 0x1n, data: 'abcd' })); // 4 bytes
  table.push(rec({ tsNs: 2n, conn: 0x1n, callLen: 10, last: true, data: 'ab' })); // 2 bytes, truncated 8
  table.push(rec({ tsNs: 3n, conn: 0x1n, dir: 'read', lostBefore: 100, data: 'xyz' })); // ring-full 100, 3 bytes
  table.push(rec({ tsNs: 4n, conn: 0x1n, dir: 'read', callLen: 7, last: true })); // not-captured 7
  table.push(rec({ tsNs: 5n, conn: 0x2n, data: 'q' })); // 1 byte
  table.push(rec({ tsNs: 6n, conn: 0x3n, data: 'r' })); // 1 byte, evicts 0x1
  table.push(closeRec(7n, PID, 0x2n));
  table.push(closeRec(8n, PID, 0x99n)); // unknown: still a record
  table.processesExited([PID], 9n);
  const s = table.stats();
  assert.deepEqual(s, {
    connections: 0,
    opened: 3,
    closed: { closed: 1, 'process-exited': 1, idle: 0, evicted: 1, 'agent-stopped': 0 },
    gaps: { 'ring-full': 1, truncated: 1, 'not-captured': 1, skipped: 0 },
    gapBytes: { 'ring-full': 100, truncated: 8, 'not-captured': 7, skipped: 0 },
    records: 8,
    bytes: 11,
    skippedBytes: 0,
    skips: 0,
    owedClosesTaken: 0,
  });
});

test('stats() is a snapshot: later activity does not change a copy already taken', () => {
  const { table } = recorder();
  const before = table.stats();
  table.push(rec({ tsNs: 1n, callLen: 10, data: 'abc' }));
  table.closeAll('agent-stopped', 2n);
  assert.equal(before.records, 0);
  assert.equal(before.closed['agent-stopped'], 0);
  assert.equal(before.gaps.truncated, 0);
  assert.equal(before.gapBytes.truncated, 0);
  const after = table.stats();
  assert.equal(after.closed['agent-stopped'], 1);
  assert.equal(after.gapBytes.truncated, 7);
});

// ---------------------------------------------------------------------------------------------
// Invariant over random record sequences, produced by a model of emit() in bpf/tlsotel.bpf.c:
// per call up to `segs` records of up to `cap` bytes; a record may be unreadable (cap_len 0);
// a failed reservation ends the call (the first one loses the whole call, which the next record
// of the same connection+direction reports as LOSS_BEFORE lost_bytes).

interface Expect {
  /** The stream as it should come out: captured bytes as-is, missing bytes as '?'. */
  masked: string;
  /** Sum of call_len of calls with at least one record delivered, plus delivered lostBefore. */
  accounted: number;
}

function simulate(rnd: () => number) {
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const cap = int(1, 40);
  const segs = int(1, 6);
  const pReadErr = rnd() * 0.25;
  const pDrop = rnd() * 0.3;
  const nConns = int(1, 3);
  let ts = 1000n;
  const perKey: DataRecord[][] = [];
  const expect = new Map<string, Expect>();
  for (let ci = 0; ci < nConns; ci++) {
    const pid = 10 + (ci % 2);
    const conn = 0x1000n + BigInt(ci);
    for (const dir of ['write', 'read'] as const) {
      const recs: DataRecord[] = [];
      const exp: Expect = { masked: '', accounted: 0 };
      let lostPending = 0; // the BPF `lost` map entry of this connection+direction
      const nCalls = int(0, 12);
      for (let k = 0; k < nCalls; k++) {
        const len = int(1, 300);
        const text = Array.from({ length: len }, () => String.fromCharCode(97 + int(0, 25))).join('');
        const tsNs = ts++;
        const carried = lostPending; // emit(): taken from the map, deleted
        lostPending = 0;
        let masked = '';
        let delivered = 0;
        for (let i = 0; i < segs; i++) {
          const off = i * cap;
          if (off >= len) break;
          const n = Math.min(cap, len - off);
          const last = off + n >= len || i + 1 >= segs;
          const unreadable = rnd() < pReadErr;
          if (rnd() < pDrop) {
            if (i === 0) lostPending = len + carried; // the whole call is lost, reported later
            break;
          }
          recs.push({
            type: 'data', tsNs, conn, pid, tid: pid, comm: 'x', libId: 1, dir, callLen: len, offset: off, last,
            lostBefore: i === 0 ? carried : 0,
            lostOther: 0,
            skipped: 0,
            data: unreadable ? Buffer.alloc(0) : Buffer.from(text.slice(off, off + n), 'latin1'),
          });
          delivered++;
          masked += unreadable ? '?'.repeat(n) : text.slice(off, off + n);
          if (last) break;
        }
        if (delivered > 0) {
          exp.masked += '?'.repeat(carried) + masked + '?'.repeat(len - masked.length);
          exp.accounted += carried + len;
        }
      }
      perKey.push(recs);
      expect.set(`${pid}:${conn.toString(16)}/${dir}`, exp);
    }
  }
  // Interleave the keys' records at random, keeping each key's order.
  const order: DataRecord[] = [];
  const idx = perKey.map(() => 0);
  for (;;) {
    const live = perKey.map((_r, i) => i).filter((i) => idx[i] < perKey[i].length);
    if (!live.length) break;
    const i = live[int(0, live.length - 1)];
    order.push(perKey[i][idx[i]++]);
  }
  return { order, expect, nConns, closeBy: int(0, 2) };
}

test('invariant: captured + gap bytes == delivered calls + lost bytes, in place, for random sequences', () => {
  const rnd = prng(0x7150_7e1);
  let totalRecords = 0;
  const sawGaps = { 'ring-full': 0, truncated: 0, 'not-captured': 0 };
  for (let n = 0; n < 400; n++) {
    const { order, expect, nConns, closeBy } = simulate(rnd);
    const out = new Map<string, { masked: string; data: number; gaps: number }>();
    const closed: Array<{ id: string; bytes: Connection['bytes']; missing: Connection['missing'] }> = [];
    const slot = (c: Connection, dir: Direction) => {
      const key = `${c.id}/${dir}`;
      let s = out.get(key);
      if (!s) out.set(key, (s = { masked: '', data: 0, gaps: 0 }));
      return s;
    };
    const table = new StreamTable({
      onData: (c, dir, data) => {
        const s = slot(c, dir);
        s.masked += data.toString('latin1');
        s.data += data.length;
      },
      onGap: (c, dir, bytes) => {
        const s = slot(c, dir);
        s.masked += '?'.repeat(bytes);
        s.gaps += bytes;
      },
      onClose: (c) => closed.push({ id: c.id, bytes: { ...c.bytes }, missing: { ...c.missing } }),
    });
    for (const r of order) table.push(r);
    // end every connection, in one of the three ways a connection ends
    if (closeBy === 0) for (let ci = 0; ci < nConns; ci++) table.push(closeRec(1n << 40n, 10 + (ci % 2), 0x1000n + BigInt(ci)));
    else if (closeBy === 1) table.processesExited([10, 11], 1n << 40n);
    else table.closeAll('agent-stopped', 1n << 40n);
    assert.equal(table.stats().connections, 0, `case ${n}`);

    let dataSum = 0;
    let gapSum = 0;
    for (const [key, exp] of expect) {
      const got = out.get(key) ?? { masked: '', data: 0, gaps: 0 };
      assert.equal(got.data + got.gaps, exp.accounted, `case ${n} ${key}: captured ${got.data} + gaps ${got.gaps}`);
      assert.equal(got.masked, exp.masked, `case ${n} ${key}: stream content`);
      dataSum += got.data;
      gapSum += got.gaps;
    }
    for (const c of closed) {
      for (const dir of ['write', 'read'] as const) {
        const got = out.get(`${c.id}/${dir}`) ?? { data: 0, gaps: 0 };
        assert.equal(c.bytes[dir], got.data, `case ${n} ${c.id} ${dir} bytes`);
        assert.equal(c.missing[dir], got.gaps, `case ${n} ${c.id} ${dir} missing`);
      }
    }
    const s = table.stats();
    assert.equal(s.bytes, dataSum);
    assert.equal(s.gapBytes['ring-full'] + s.gapBytes.truncated + s.gapBytes['not-captured'], gapSum);
    totalRecords += order.length;
    for (const r of ['ring-full', 'truncated', 'not-captured'] as const) sawGaps[r] += s.gaps[r];
  }
  // the generator really exercised every path
  assert.ok(totalRecords > 5000, `records: ${totalRecords}`);
  for (const [r, k] of Object.entries(sawGaps)) assert.ok(k > 50, `${r} gaps: ${k}`);
});

test('calls lost in the other direction are a gap there, reported with this record', () => {
  const { table, plain } = recorder();
  table.push(rec({ dir: 'write', callLen: 4, data: 'GET ', last: true, tsNs: 1n }));
  table.push(rec({ dir: 'read', callLen: 3, data: 'abc', last: true, tsNs: 2n, lostOther: 500 }));
  assert.deepEqual(plain().filter((e: { k: string }) => e.k === 'gap'), [{ k: 'gap', id: ID, dir: 'write', bytes: 500, reason: 'ring-full' }]);
  assert.equal(table.stats().gapBytes['ring-full'], 500);
});

test('calls lost just before a close: gaps where they were, before onClose (the close record carries them)', () => {
  const { table, plain } = recorder();
  table.push(rec({ tsNs: 1n, callLen: 100, offset: 0, last: false, data: 'x'.repeat(40) }));
  table.push({ type: 'close', tsNs: 5n, conn: SSL, pid: PID, tid: PID, comm: 'curl', libId: 1, lostWritten: 300, lostRead: 20 });
  assert.deepEqual(plain(), [
    { k: 'data', id: ID, dir: 'write', data: 'x'.repeat(40) },
    { k: 'gap', id: ID, dir: 'write', bytes: 60, reason: 'not-captured' },
    { k: 'gap', id: ID, dir: 'write', bytes: 300, reason: 'ring-full' },
    { k: 'gap', id: ID, dir: 'read', bytes: 20, reason: 'ring-full' },
    { k: 'close', id: ID, reason: 'closed' },
  ]);
  // Through the ring's encoding too: the flag and both counts.
  const bytes = encodeRecord({ type: 'close', tsNs: 5n, conn: SSL, pid: PID, tid: PID, comm: 'curl', libId: 1, lostWritten: 300, lostRead: 0 });
  assert.deepEqual(decodeRecord(bytes), { type: 'close', tsNs: 5n, conn: SSL, pid: PID, tid: PID, comm: 'curl', libId: 1, lostWritten: 300, lostRead: 0 });
  assert.deepEqual(decodeRecord(encodeRecord(closeRec(6n))), closeRec(6n));
});

test('a request whose response was lost just before the close is a capture gap, not a connection closed early', () => {
  const out: Exchange[] = [];
  const tracker = new ExchangeTracker((ex) => out.push(ex), {
    processInfo: (pid, comm) => ({ pid, comm, exeName: comm, exePath: `/usr/bin/${comm}`, serviceName: comm }),
    addressWaitMs: 0,
  });
  const table = new StreamTable(tracker);
  const request = 'GET /lost HTTP/1.1\r\nHost: a\r\n\r\n';
  table.push(rec({ tsNs: 1n, callLen: request.length, data: request, last: true }));
  table.push({ type: 'close', tsNs: 5n, conn: SSL, pid: PID, tid: PID, comm: 'curl', libId: 1, lostWritten: 0, lostRead: 120 });
  assert.deepEqual(out.map((e) => [e.request.url, e.response, e.error]), [['/lost', undefined, ErrorKind.CaptureGap]]);
});

test('a connection ending with no record to say so takes what the BPF side still holds: its losses, and a close it owes', () => {
  const none = { written: 0, read: 0, closedNs: 0n, closedWritten: 0, closedRead: 0 };
  const held = new Map<bigint, PendingLoss>([
    [0x10n, { ...none, written: 300, read: 20 }], // lost calls not reported yet
    [0x20n, { ...none, closedNs: 7n, closedWritten: 40, closedRead: 500, written: 9 }], // freed at 7, close owed
  ]);
  const asked: string[] = [];
  const { table, plain, events } = recorder({
    idleTimeoutMs: 1,
    pendingLoss: (pid, conn) => {
      asked.push(`${pid}:${conn.toString(16)}`);
      return pid === PID ? held.get(conn) : undefined;
    },
  });
  for (const conn of [0x10n, 0x20n, 0x30n]) table.push(rec({ tsNs: 1n, conn, data: 'a' }));
  table.processesExited([PID], 50n);
  assert.deepEqual(plain().filter((e) => e.k !== 'data'), [
    { k: 'gap', id: `${PID}:10`, dir: 'write', bytes: 300, reason: 'ring-full' },
    { k: 'gap', id: `${PID}:10`, dir: 'read', bytes: 20, reason: 'ring-full' },
    { k: 'close', id: `${PID}:10`, reason: 'process-exited' },
    // It was closed before the process exited: at that time, with what it had lost (the 9
    // bytes are a later connection's at that address, which never reached us).
    { k: 'gap', id: `${PID}:20`, dir: 'write', bytes: 40, reason: 'ring-full' },
    { k: 'gap', id: `${PID}:20`, dir: 'read', bytes: 500, reason: 'ring-full' },
    { k: 'close', id: `${PID}:20`, reason: 'closed' },
    { k: 'close', id: `${PID}:30`, reason: 'process-exited' },
  ]);
  assert.deepEqual(events.filter((e) => e.k === 'close').map((e) => e.ts), [50n, 7n, 50n]);
  assert.deepEqual(asked, [`${PID}:10`, `${PID}:20`, `${PID}:30`]);
  // Idle: the same.
  table.push(rec({ tsNs: 100n, conn: 0x20n, data: 'b' }));
  table.evictIdle(10_000_000n);
  assert.deepEqual(plain().slice(-1), [{ k: 'close', id: `${PID}:20`, reason: 'closed' }]);
  // A record's own close asks nothing (it carries its losses).
  asked.length = 0;
  table.push(rec({ tsNs: 200n, conn: 0x10n, data: 'c' }));
  table.push(closeRec(201n, PID, 0x10n));
  assert.deepEqual(asked, []);
});

test('settleOwedCloses: quiet connections whose close the BPF side owes are closed at its time; others are left, the busiest last', () => {
  const owed = new Map<bigint, PendingLoss>([
    [0x10n, { written: 0, read: 0, closedNs: 30n, closedWritten: 0, closedRead: 700 }],
    [0x30n, { written: 0, read: 0, closedNs: 95n, closedWritten: 0, closedRead: 0 }],
    [0x40n, { written: 0, read: 0, closedNs: 20n, closedWritten: 0, closedRead: 0 }],
  ]);
  const asked: bigint[] = [];
  const { table, plain, events } = recorder({
    owedClose: (_pid, conn) => {
      asked.push(conn);
      const l = owed.get(conn);
      owed.delete(conn); // taken
      return l;
    },
  });
  table.push(rec({ tsNs: 10n, conn: 0x40n, data: 'd' })); // quietest
  table.push(rec({ tsNs: 20n, conn: 0x10n, data: 'a' }));
  table.push(rec({ tsNs: 25n, conn: 0x20n, data: 'b' })); // quiet, owes nothing
  table.push(rec({ tsNs: 90n, conn: 0x30n, data: 'c' })); // not quiet yet
  // At most 2 lookups: the two quietest.
  assert.equal(table.settleOwedCloses(100n, 50n, 2), 2);
  assert.deepEqual(asked, [0x40n, 0x10n]);
  assert.deepEqual(plain().filter((e) => e.k !== 'data'), [
    { k: 'close', id: `${PID}:40`, reason: 'closed' },
    { k: 'gap', id: `${PID}:10`, dir: 'read', bytes: 700, reason: 'ring-full' },
    { k: 'close', id: `${PID}:10`, reason: 'closed' },
  ]);
  assert.deepEqual(events.filter((e) => e.k === 'close').map((e) => e.ts), [20n, 30n]);
  asked.length = 0;
  assert.equal(table.settleOwedCloses(100n, 50n, 10), 0);
  assert.deepEqual(asked, [0x20n]);
  assert.ok(table.get(`${PID}:20`) && table.get(`${PID}:30`));
  assert.equal(table.stats().owedClosesTaken, 2);
  // Without the BPF side's answer (sniff's tests, a table alone): nothing asked, nothing closed.
  assert.equal(recorder().table.settleOwedCloses(100n, 0n, 10), 0);
});

// Payloads are views of what decodeRecord was given, and Capture gives the ring buffer itself to
// a sink that says it keeps no payload (ExchangeTracker): nothing from the stream table down may
// then keep one past the record, because the kernel reuses that space as soon as the consumer
// position moves on. Feeding every record through one slot that is scribbled over right
// after each record must give exactly what feeding private copies gives.
test('payload views: nothing keeps a record\'s bytes after the record (ring space reused at once)', () => {
  const corpus = generateCorpus({ spans: 400, seed: 7, concurrency: 12 });
  // Cut data records further (offsets within the call), so unfinished lines cross records often.
  const records: Buffer[] = [];
  const rng = prng(99);
  for (let i = 0; i < corpus.count; i++) {
    const r = recordView(corpus, i);
    const rec = decodeRecord(r);
    assert.ok(rec);
    if (rec.type !== 'data' || rec.data.length < 2) {
      records.push(r);
      continue;
    }
    const k = 1 + Math.floor(rng() * (rec.data.length - 1));
    records.push(
      encodeRecord({ ...rec, data: rec.data.subarray(0, k), last: false }),
      encodeRecord({ ...rec, data: rec.data.subarray(k), offset: rec.offset + k, lostBefore: 0, lostOther: 0 }),
    );
  }
  const feed = (reuseSlot: boolean) => {
    const out: Exchange[] = [];
    const tracker = new ExchangeTracker((ex) => out.push(ex), {
      processInfo: (pid, comm) => ({ pid, comm, exeName: comm, exePath: `/usr/bin/${comm}`, serviceName: comm }),
      addressWaitMs: 0,
    });
    const table = new StreamTable(tracker);
    const slot = Buffer.alloc(64 * 1024);
    const junk = Buffer.from('HTTP/1.1 500 JUNK\r\nContent-Length: 9\r\n\r\nGET /x HTTP/1.1\r\n', 'latin1');
    for (const r of records) {
      let view = Buffer.from(r);
      if (reuseSlot) {
        r.copy(slot);
        view = slot.subarray(0, r.length);
      }
      const rec = decodeRecord(view);
      assert.ok(rec);
      table.push(rec);
      if (reuseSlot) for (let o = 0; o < r.length; o += junk.length) junk.copy(slot, o, 0, Math.min(junk.length, r.length - o));
    }
    table.closeAll('agent-stopped', 1n << 62n);
    return { out, stats: tracker.stats() };
  };
  const copies = feed(false);
  const reused = feed(true);
  // What lets Capture hand this sink views of its ring buffer instead of copies:
  assert.equal(new ExchangeTracker(() => {}, { processInfo: () => ({ pid: 1, comm: 'x', exeName: 'x', exePath: '', serviceName: 'x' }) }).keepsPayloads, false);
  assert.equal(copies.out.length, corpus.stats.spans);
  assert.deepEqual(copies.stats.parseErrors, { invalid: 0, 'too-large': 0, gap: 0, truncated: 0 });
  assert.deepEqual(reused.stats, copies.stats);
  assert.deepEqual(reused.out, copies.out);
});
