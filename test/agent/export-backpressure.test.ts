// When the drain waits for the exporter: only while the export queue is 3/4 full and the ring
// has room (less than half full): a record lost at a full ring costs more than a span dropped
// at the queue.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EXPORT_PAUSE_AT, EXPORT_STALL_MS, ExportProgress, RING_OVERRIDE_AT, mayDrain } from '../../src/agent/export-backpressure';

test('the drain waits only while the export queue is 3/4 full and the ring less than half', () => {
  assert.equal(EXPORT_PAUSE_AT, 0.75);
  assert.equal(RING_OVERRIDE_AT, 0.5);
  assert.equal(mayDrain(0, 0), true);
  assert.equal(mayDrain(0.74, 0.9), true);
  assert.equal(mayDrain(0.75, 0), false, 'queue 3/4 full: wait');
  assert.equal(mayDrain(1, 0.49), false);
  assert.equal(mayDrain(1, 0.5), true, 'ring half full: drain whatever the queue holds');
  assert.equal(mayDrain(0.9, 1), true);
});

test('a stalled exporter (a collector that hangs) is not waited for: the drain goes on', () => {
  assert.equal(mayDrain(1, 0, true), true);
  const p = new ExportProgress(EXPORT_STALL_MS);
  assert.equal(p.stalled(10, 0), false, 'first look');
  assert.equal(p.stalled(10, EXPORT_STALL_MS - 1), false, 'not yet');
  assert.equal(p.stalled(10, EXPORT_STALL_MS), true, 'nothing completed for EXPORT_STALL_MS');
  assert.equal(p.stalled(11, EXPORT_STALL_MS + 5), false, 'an export completed: slow, not stalled');
  assert.equal(p.stalled(11, 2 * EXPORT_STALL_MS + 4), false);
  assert.equal(p.stalled(11, 2 * EXPORT_STALL_MS + 5), true);
});
