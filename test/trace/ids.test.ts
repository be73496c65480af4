// Random trace and span ids: valid W3C ids, fresh across pool refills.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidSpanId, isValidTraceId, newSpanId, newTraceId } from '../../src/trace/ids';

test('ids are lower-case hex of the right length, never all zero, and do not repeat across refills', () => {
  const seen = new Set<string>();
  // Far more bytes than one 8 KiB pool: every refill boundary is crossed several times.
  for (let i = 0; i < 5000; i++) {
    const t = newTraceId();
    const s = newSpanId();
    assert.ok(isValidTraceId(t), t);
    assert.ok(isValidSpanId(s), s);
    assert.equal(seen.has(t) || seen.has(s), false);
    seen.add(t);
    seen.add(s);
  }
  assert.equal(isValidTraceId('0'.repeat(32)), false);
  assert.equal(isValidSpanId('00000000000000g0'), false);
});
