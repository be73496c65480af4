// SeriesIndex against a Map of string keys: same answers over random keys (many colliding in
// the table), through growth, replacement and bulk removal; bad keys refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeriesIndex } from '../../src/metrics/series-index';

/** A small deterministic generator (tests must not depend on Math.random's luck). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

test('answers as a Map does, through growth and replacement', () => {
  const index = new SeriesIndex(16);
  const model = new Map<string, number>();
  const next = rng(1);
  for (let i = 0; i < 20_000; i++) {
    // Few distinct values per part, so that the same parts meet in other combinations.
    const a = next() % 50;
    const b = next() % 300;
    const c = (next() % 1000) * 4096 + (next() % 4096);
    const k = `${a}/${b}/${c}`;
    const want = model.get(k) ?? -1;
    assert.equal(index.get(a, b, c), want, `get ${k}`);
    if (want === -1 || i % 7 === 0) {
      index.set(a, b, c, i);
      model.set(k, i);
    }
  }
  assert.equal(index.size, model.size);
  assert.ok(index.capacity >= index.size * 2, 'at most half full');
  for (const [k, v] of model) {
    const [a, b, c] = k.split('/').map(Number);
    assert.equal(index.get(a, b, c), v);
  }
  assert.equal(index.get(50, 0, 0), -1);
  assert.equal(index.get(0x7fffffff, 0x7fffffff, 0x7fffffff), -1);
});

test('removeIf drops exactly the matching entries, keeps the others findable, and shrinks the table', () => {
  const index = new SeriesIndex();
  for (let p = 0; p < 40; p++) for (let r = 0; r < 100; r++) index.set(p, r, r * 3, p * 1000 + r);
  const grown = index.capacity;
  index.removeIf((p) => p !== 7);
  assert.equal(index.size, 100);
  for (let r = 0; r < 100; r++) {
    assert.equal(index.get(7, r, r * 3), 7000 + r);
    assert.equal(index.get(8, r, r * 3), -1);
  }
  assert.ok(index.capacity < grown, `shrunk from ${grown} to ${index.capacity}`);
  index.removeIf(() => true);
  assert.equal(index.size, 0);
  assert.equal(index.get(7, 0, 0), -1);
  index.set(7, 0, 0, 1);
  assert.equal(index.get(7, 0, 0), 1, 'usable again after removing everything');
});

test('keys and values outside [0, 2^31) are refused (they would alias others)', () => {
  const index = new SeriesIndex();
  assert.throws(() => index.set(-1, 0, 0, 0), RangeError);
  assert.throws(() => index.set(0, 2 ** 31, 0, 0), RangeError);
  assert.throws(() => index.set(0, 0, 1.5, 0), RangeError);
  assert.throws(() => index.set(0, 0, 0, -2), RangeError);
  assert.throws(() => index.set(0, 0, Number.NaN, 0), RangeError);
  assert.equal(index.size, 0);
});
