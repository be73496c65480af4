import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MonotonicWallClock, durationHrTime, epochNsToHrTime, monoToEpochNs, monoToHrTime } from '../../src/trace/clock';

test('monotonic now maps to wall-clock now (within a few ms)', () => {
  const epochMs = Number(monoToEpochNs(process.hrtime.bigint()) / 1_000_000n);
  assert.ok(Math.abs(epochMs - Date.now()) <= 10, `${epochMs} vs ${Date.now()}`);
  const [s] = monoToHrTime(process.hrtime.bigint());
  assert.ok(Math.abs(s - Date.now() / 1000) < 2);
});

test('fixed offset clock and HrTime splitting', () => {
  const c = new MonotonicWallClock(1_700_000_000_000_000_000n);
  assert.equal(c.monoToEpochNs(5n), 1_700_000_000_000_000_005n);
  assert.deepEqual(c.monoToHrTime(1_500_000_001n), [1_700_000_001, 500_000_001]);
  assert.deepEqual(epochNsToHrTime(-1n), [0, 0]);
  assert.deepEqual(durationHrTime(10n, 2_000_000_020n), [2, 10]);
  assert.deepEqual(durationHrTime(10n, 5n), [0, 0]);
});

test('resync re-measures the offset (small move)', () => {
  const c = new MonotonicWallClock();
  const moved = c.resync();
  assert.ok(moved < 5_000_000n && moved > -5_000_000n, `moved ${moved}`);
});

test('Number fast paths give exactly what BigInt arithmetic gives', () => {
  const ref = (epochNs: bigint): [number, number] => (epochNs < 0n ? [0, 0] : [Number(epochNs / 1_000_000_000n), Number(epochNs % 1_000_000_000n)]);
  const offsets = [0n, 1_700_000_000_123_456_789n, 999_999_999n, -5n, -1_000_000_001n];
  // Values just around whole seconds, near 2^53 and beyond, and random ones.
  const monos: bigint[] = [0n, 1n, 999_999_999n, 1_000_000_000n, 9_007_199_254_740_991n, 9_007_199_254_740_992n, 2n ** 60n];
  for (let k = 1n; k < 10n ** 16n; k *= 7n) monos.push(k * 1_000_000_000n - 1n, k * 1_000_000_000n, k * 1_000_000_000n + 1n);
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 5000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & (2n ** 64n - 1n);
    monos.push(x >> BigInt(8 + (i % 16)));
  }
  for (const off of offsets) {
    const c = new MonotonicWallClock(off);
    for (const m of monos) assert.deepEqual(c.monoToHrTime(m), ref(m + off), `mono ${m} offset ${off}`);
  }
  for (const m of monos) {
    assert.deepEqual(durationHrTime(0n, m), ref(m));
    assert.deepEqual(durationHrTime(m, 0n), m > 0n ? [0, 0] : ref(0n));
  }
});
