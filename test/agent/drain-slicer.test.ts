// The drain slicer: each slice keeps to its budget (records and time), the rest follows on later
// turns of the event loop, and every record is read exactly once, in order.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { DrainSlicer } from '../../src/agent/drain-slicer';

/** A ring of numbered records; reading one advances a fake clock by its cost. */
function fakeRing(costMs: (rec: number) => number) {
  const ring: number[] = [];
  const read: number[] = [];
  let clock = 0;
  let next = 0;
  return {
    ring, read,
    now: () => clock,
    push(n: number) { for (let i = 0; i < n; i++) ring.push(next++); },
    drain(limit: number): number {
      let n = 0;
      while (n < limit && ring.length > 0) {
        const r = ring.shift()!;
        clock += costMs(r);
        read.push(r);
        n++;
      }
      return n;
    },
  };
}

test('a slice stops at its time budget (checked every checkEvery records), the rest follows on later turns, nothing lost', () => {
  const f = fakeRing(() => 0.01); // 10 µs a record: 1 ms is 100 records
  const turns: Array<() => void> = [];
  const s = new DrainSlicer((l) => f.drain(l), { maxRecords: 2048, budgetMs: 1, checkEvery: 16, now: f.now, defer: (fn) => turns.push(fn) });
  f.push(1000);
  const first = s.run();
  assert.ok(first >= 100 && first <= 100 + 16, `first slice: ${first} records (budget 1 ms = 100 records, checked every 16)`);
  assert.equal(s.continuing, true);
  assert.equal(s.lastSliceFull, false, 'cut by time, not by count');
  assert.equal(turns.length, 1, 'one continuation scheduled');
  const sizes = [first];
  while (turns.length > 0) {
    const t0 = f.now();
    const before = f.read.length;
    turns.shift()!();
    sizes.push(f.read.length - before);
    assert.ok(f.now() - t0 <= 1 + 16 * 0.01 + 1e-9, `slice of ${f.now() - t0} ms`);
    assert.ok(turns.length <= 1, 'never more than one continuation');
  }
  assert.equal(s.continuing, false);
  assert.deepEqual(f.read, Array.from({ length: 1000 }, (_, i) => i), 'every record once, in order');
  assert.equal(sizes.reduce((a, b) => a + b, 0), 1000);
  assert.ok(sizes.length >= 9, `${sizes.length} slices`);
  assert.equal(s.records, 1000);
});

test('a slice stops at maxRecords when records are cheap; an emptied ring schedules nothing', () => {
  const f = fakeRing(() => 0);
  const turns: Array<() => void> = [];
  const s = new DrainSlicer((l) => f.drain(l), { maxRecords: 100, budgetMs: 5, checkEvery: 64, now: f.now, defer: (fn) => turns.push(fn) });
  f.push(250);
  assert.equal(s.run(), 100);
  assert.equal(s.lastSliceFull, true);
  assert.equal(turns.length, 1);
  // Records that arrive while a continuation waits are read too.
  f.push(30);
  turns.shift()!();
  assert.equal(turns.length, 1, '80 left after the second slice of 100');
  turns.shift()!();
  assert.equal(turns.length, 0, 'the third slice emptied the ring');
  assert.equal(f.read.length, 280);
  assert.deepEqual(f.read, Array.from({ length: 280 }, (_, i) => i));
  // Exactly maxRecords left: the slice cannot tell the ring is empty, the next one finds it so.
  f.push(100);
  assert.equal(s.run(), 100);
  assert.equal(turns.length, 1);
  turns.shift()!();
  assert.equal(turns.length, 0, 'nothing more');
  assert.equal(s.run(), 0, 'an empty ring: a slice of nothing');
  assert.equal(turns.length, 0);
});

test('an expensive record ends the slice at the next check; a poll during a continuation reads now and keeps one continuation', () => {
  const f = fakeRing((r) => (r === 3 ? 50 : 0.001)); // one 50 ms record (a huge exchange completing)
  const turns: Array<() => void> = [];
  const s = new DrainSlicer((l) => f.drain(l), { maxRecords: 2048, budgetMs: 2, checkEvery: 4, now: f.now, defer: (fn) => turns.push(fn) });
  f.push(40);
  assert.equal(s.run(), 4, 'the slice ends after the chunk holding the expensive record');
  assert.equal(turns.length, 1);
  assert.equal(s.run(), 36, 'a timer poll while a continuation waits: read now');
  assert.equal(turns.length, 1, 'no second continuation');
  turns.shift()!();
  assert.equal(turns.length, 0);
  assert.equal(f.read.length, 40);
});

test('cancel stops what is scheduled; what is left stays in the ring', () => {
  const f = fakeRing(() => 1);
  const turns: Array<() => void> = [];
  const s = new DrainSlicer((l) => f.drain(l), { maxRecords: 64, budgetMs: 1, checkEvery: 8, now: f.now, defer: (fn) => turns.push(fn) });
  f.push(100);
  s.run();
  assert.equal(turns.length, 1);
  s.cancel();
  turns.shift()!();
  assert.equal(turns.length, 0, 'a cancelled slicer runs no slice');
  assert.ok(f.read.length < 100 && f.ring.length === 100 - f.read.length, 'what is left stays in the ring');
  assert.throws(() => new DrainSlicer(() => 0, { maxRecords: 0, budgetMs: 1 }), RangeError);
  assert.throws(() => new DrainSlicer(() => 0, { maxRecords: 1, budgetMs: 0 }), RangeError);
});

test('with the real clock and setImmediate: every record read, across turns of the event loop', async () => {
  const f = fakeRing(() => 0);
  let busyUntil = 0;
  // Each record costs ~20 µs of real time.
  const s = new DrainSlicer((l) => {
    const n = f.drain(l);
    busyUntil = performance.now() + n * 0.02;
    while (performance.now() < busyUntil);
    return n;
  }, { maxRecords: 2048, budgetMs: 1 });
  f.push(500);
  s.run();
  while (s.continuing) await new Promise((r) => setImmediate(r));
  assert.equal(f.read.length, 500);
  assert.ok(s.slices >= 5, `${s.slices} slices of ≤ ~1 ms for ~10 ms of work`);
});

test('a drain that reads nothing (the agent pauses while the export queue is full) ends the slice and schedules nothing', () => {
  const f = fakeRing(() => 0.001);
  let paused = false;
  const turns: Array<() => void> = [];
  const s = new DrainSlicer((l) => (paused ? 0 : f.drain(l)), { maxRecords: 64, budgetMs: 5, checkEvery: 16, now: f.now, defer: (fn) => turns.push(fn) });
  f.push(200);
  assert.equal(s.run(), 64);
  paused = true;
  turns.shift()!();
  assert.equal(turns.length, 0, 'paused: the next timed poll tries again');
  assert.equal(f.ring.length, 136, 'the records wait in the ring');
  paused = false;
  s.run();
  while (turns.length) turns.shift()!();
  assert.deepEqual(f.read, Array.from({ length: 200 }, (_, i) => i));
});

test('yieldCpu: offered every yieldEveryMs within a slice (at a check), not at its end; never without the option; nothing lost', () => {
  const f = fakeRing(() => 0.01); // 10 µs a record
  const yieldsAt: number[] = [];
  const s = new DrainSlicer((l) => f.drain(l), {
    maxRecords: 4096, budgetMs: 2, checkEvery: 8, now: f.now, defer: () => {},
    yieldCpu: () => yieldsAt.push(f.read.length) > 0, yieldEveryMs: 0.25,
  });
  f.push(150); // 1.5 ms of work, in one slice
  assert.equal(s.run(), 150);
  // 25 records a quarter ms, checked every 8: a yield after 32, 64, 96, 128 records (the ring
  // runs empty after 150: no yield at the end).
  assert.deepEqual(yieldsAt, [32, 64, 96, 128]);
  assert.equal(s.yields, 4);
  assert.deepEqual(f.read, [...Array(150).keys()]);

  const g = fakeRing(() => 0.01);
  const plain = new DrainSlicer((l) => g.drain(l), { maxRecords: 4096, budgetMs: 2, checkEvery: 8, now: g.now, defer: () => {} });
  g.push(150);
  plain.run();
  assert.equal(plain.yields, 0);

  // A yield declined (the agent is behind: it catches up instead) is not counted, and is asked
  // again only after another yieldEveryMs.
  const h = fakeRing(() => 0.01);
  let asked = 0;
  const behind = new DrainSlicer((l) => h.drain(l), {
    maxRecords: 4096, budgetMs: 2, checkEvery: 8, now: h.now, defer: () => {},
    yieldCpu: () => { asked++; return false; }, yieldEveryMs: 0.25,
  });
  h.push(150);
  behind.run();
  assert.equal(asked, 4);
  assert.equal(behind.yields, 0);
});
