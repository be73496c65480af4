// SeriesSlab: slots in chunks, reused after release and cleared first; the histograms of one
// store (HistogramCell views) do not touch each other's numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeriesSlab } from '../../src/metrics/series-slab';
import { cellSize, clearCell, HistogramCell, SIZE_BOUNDARIES, DURATION_BOUNDARIES } from '../../src/metrics/histogram';

test('slots are distinct slices, reused after release and cleared first; memory follows the peak', () => {
  const size = 7;
  const slab = new SeriesSlab(size, (store, base) => store.fill(-1, base, base + size));
  const slots = Array.from({ length: 200 }, () => slab.allocate());
  assert.equal(new Set(slots).size, 200);
  // Each slot is its own slice: write a slot's number everywhere in it, then read them all back.
  for (const s of slots) slab.chunkOf(s).fill(s, slab.baseOf(s), slab.baseOf(s) + size);
  for (const s of slots) assert.deepEqual([...slab.chunkOf(s).subarray(slab.baseOf(s), slab.baseOf(s) + size)], new Array(size).fill(s));
  const chunks = slab.chunks.length;
  for (const s of slots.slice(0, 150)) slab.release(s);
  assert.equal(slab.live, 50);
  for (let i = 0; i < 150; i++) {
    const s = slab.allocate();
    assert.ok(s < 200, 'a released slot is reused before a new one');
    assert.deepEqual([...slab.chunkOf(s).subarray(slab.baseOf(s), slab.baseOf(s) + size)], new Array(size).fill(-1), 'cleared');
  }
  assert.equal(slab.allocated, 200);
  assert.equal(slab.chunks.length, chunks, 'no chunk added while slots were free');
});

test('histograms sharing a store: each records into its own slice only; add and value as before', () => {
  const at = 3;
  const store = new Float64Array(at + cellSize(DURATION_BOUNDARIES) + cellSize(SIZE_BOUNDARIES) + 2).fill(7);
  clearCell(store, at, DURATION_BOUNDARIES);
  clearCell(store, at + cellSize(DURATION_BOUNDARIES), SIZE_BOUNDARIES);
  const d = new HistogramCell(DURATION_BOUNDARIES, store, at);
  const b = new HistogramCell(SIZE_BOUNDARIES, store, at + cellSize(DURATION_BOUNDARIES));
  for (const v of [0.003, 0.2, 20]) d.record(v);
  b.record(100);
  assert.deepEqual([store[0], store[1], store[2], store[store.length - 2], store[store.length - 1]], [7, 7, 7, 7, 7], 'nothing written outside the slices');
  assert.equal(d.count, 3);
  assert.ok(Math.abs(d.sum - 20.203) < 1e-12);
  assert.equal(d.min, 0.003);
  assert.equal(d.max, 20);
  assert.deepEqual(Array.from(d.counts), [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(b.count, 1);
  assert.deepEqual(b.value(), { buckets: { boundaries: SIZE_BOUNDARIES.slice(), counts: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }, count: 1, sum: 100, min: 100, max: 100 });
  const own = new HistogramCell(DURATION_BOUNDARIES);
  assert.deepEqual(own.value(), { buckets: { boundaries: DURATION_BOUNDARIES.slice(), counts: new Array(15).fill(0) }, count: 0, sum: 0 }, 'empty: no min or max');
  own.record(0.01);
  own.add(d);
  assert.equal(own.count, 4);
  assert.equal(own.min, 0.003);
  assert.equal(own.max, 20);
  assert.equal(d.count, 3, 'add leaves its argument alone');
  assert.throws(() => new HistogramCell(SIZE_BOUNDARIES, store, store.length - 3), RangeError);
});
