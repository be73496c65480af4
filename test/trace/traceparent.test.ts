// W3C traceparent / tracestate parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTraceparent, traceContextOf } from '../../src/trace/traceparent';
import { flatFields } from '../helpers/fields';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

test('valid, invalid and future-version traceparents', () => {
  assert.deepEqual(parseTraceparent(TP, 'a=1'), { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true, traceState: 'a=1' });
  assert.equal(parseTraceparent(TP.toUpperCase())?.spanId, 'b7ad6b7169203331');
  assert.equal(parseTraceparent(`  ${TP} `)?.traceFlags, 1);
  assert.equal(parseTraceparent(TP.replace('-01', '-00'))?.traceFlags, 0);
  assert.equal(parseTraceparent(`${TP}-extra`), undefined, 'version 00 allows nothing after the flags');
  assert.equal(parseTraceparent(`cc${TP.slice(2)}-extra`)?.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(parseTraceparent(`ff${TP.slice(2)}`), undefined);
  assert.equal(parseTraceparent(`00-${'0'.repeat(32)}-b7ad6b7169203331-01`), undefined);
  assert.equal(parseTraceparent(`00-0af7651916cd43dd8448eb211c80319c-${'0'.repeat(16)}-01`), undefined);
  assert.equal(parseTraceparent(TP.replace('b7ad', 'b7ag')), undefined);
  assert.equal(parseTraceparent(''), undefined);
  assert.equal(parseTraceparent(TP, 'x'.repeat(513))?.traceState, undefined, 'an oversized tracestate is dropped');
});

test('header lookup: any case, first traceparent, tracestates joined', () => {
  const ctx = traceContextOf(flatFields([['Host', 'x'], ['TraceParent', TP], ['traceparent', `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`], ['tracestate', 'a=1'], ['TRACESTATE', 'b=2']]));
  assert.equal(ctx?.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(ctx?.traceState, 'a=1,b=2');
  assert.equal(traceContextOf(['x-traceparent', TP]), undefined);
});

// The rules as written by the W3C grammar (one regular expression): the fast path must agree.
function reference(value: string): ReturnType<typeof parseTraceparent> {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(value.trim().toLowerCase());
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined;
  if (/^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return { traceId: m[2], spanId: m[3], traceFlags: parseInt(m[4], 16), isRemote: true };
}

test('fast path agrees with the grammar on mutated traceparents', () => {
  const chars = '0123456789abcdefABCDEF-xg 0';
  const mutated = fc
    .tuple(fc.array(fc.tuple(fc.nat(56), fc.constantFrom(...chars.split(''))), { maxLength: 3 }), fc.constantFrom('', '-', '-x', ' '), fc.constantFrom('00', '01', 'ff', 'cc'))
    .map(([edits, tail, version]) => {
      const c = (version + TP.slice(2)).split('');
      for (const [i, ch] of edits) if (i < c.length) c[i] = ch;
      return c.join('') + tail;
    });
  fc.assert(fc.property(mutated, (v) => assert.deepEqual(parseTraceparent(v), reference(v), v)), { numRuns: 20000 });
});
