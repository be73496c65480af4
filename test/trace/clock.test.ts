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
