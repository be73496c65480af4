// setProcessNice: every thread of the process, not only the calling one (Linux keeps a nice
// value per thread). Run in a child process: a nice value cannot be lowered back without
// privileges, and this test process must stay as it is.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { NICE_RANGE, setProcessNice } from '../../src/util/process-priority';

const MODULE = path.resolve(__dirname, '../../src/util/process-priority.js');

function inChild(code: string): unknown {
  const out = execFileSync(process.execPath, ['-e', `const p = require(${JSON.stringify(MODULE)}); ${code}`], { encoding: 'utf8' });
  return JSON.parse(out);
}

test('setProcessNice sets every thread of the process, V8 and libuv threads started before it included', () => {
  const r = inChild(`
    const before = p.threadNiceValues();
    const set = p.setProcessNice(7);
    // A thread started after the call inherits the value of the thread that starts it.
    const { Worker } = require('node:worker_threads');
    const w = new Worker('setTimeout(() => {}, 200)', { eval: true });
    w.on('online', () => {
      console.log(JSON.stringify({ before, set, after: p.threadNiceValues(), main: require('node:os').getPriority() }));
      void w.terminate();
    });
  `) as { before: number[]; set: number; after: number[]; main: number };
  assert.ok(r.before.length >= 5, `node starts several threads: ${r.before.length}`);
  assert.notEqual(r.before[0], 7, 'the test starts from another value');
  assert.equal(r.set, r.before.length);
  assert.equal(r.main, 7);
  assert.ok(r.after.length > r.before.length, 'the worker added threads');
  assert.deepEqual(r.after, r.after.map(() => 7));
});

test('setProcessNice(0) after 12 gives every thread normal priority back (root: CAP_SYS_NICE); values outside 0..19 are refused', () => {
  const r = inChild(`p.setProcessNice(12); const low = p.threadNiceValues(); p.setProcessNice(0); console.log(JSON.stringify({ low, after: p.threadNiceValues() }))`) as { low: number[]; after: number[] };
  assert.deepEqual(r.low, r.low.map(() => 12));
  assert.deepEqual(r.after, r.after.map(() => 0));
  assert.deepEqual(NICE_RANGE, [0, 19]);
  for (const bad of [-1, 20, 1.5, NaN]) assert.throws(() => setProcessNice(bad), RangeError, String(bad));
});
