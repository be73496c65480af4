// When the drain waits for the exporter: only while the export queue is 3/4 full and the ring
// has room (less than half full): a record lost at a full ring costs more than a span dropped
// at the queue.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EXPORT_PAUSE_AT, RING_OVERRIDE_AT, mayDrain } from '../../src/agent/export-backpressure';

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
