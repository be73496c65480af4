// The priority governor: nice N while the ring's backlog is small, normal priority from a
// quarter full until it is nearly empty again; without CAP_SYS_NICE it says so once and stays.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PriorityGovernor } from '../../src/agent/priority-governor';
import type { Logger } from '../../src/util/log';

function recorder(fail?: (nice: number) => boolean) {
  const calls: number[] = [];
  const warnings: string[] = [];
  const log: Logger = { error() {}, warn: (m: string) => warnings.push(m), info() {}, debug() {} } as unknown as Logger;
  const setNice = (n: number): number => {
    if (fail?.(n)) throw new Error('uv_os_setpriority returned EACCES (permission denied)');
    calls.push(n);
    return 8;
  };
  return { calls, warnings, log, setNice };
}

test('nice 10 at start; normal priority from a quarter full; nice 10 again below a sixteenth (hysteresis)', () => {
  const r = recorder();
  const g = new PriorityGovernor({ nice: 10, log: r.log, setNice: r.setNice });
  g.apply();
  assert.deepEqual(r.calls, [10]);
  for (const b of [0, 0.1, 0.24]) g.update(b);
  assert.deepEqual(r.calls, [10], 'below a quarter: unchanged');
  g.update(0.25);
  assert.deepEqual(r.calls, [10, 0]);
  assert.equal(g.current, 0);
  for (const b of [0.9, 0.5, 0.2, 0.07]) g.update(b);
  assert.deepEqual(r.calls, [10, 0], 'boosted until nearly empty, however the backlog moves in between');
  g.update(1 / 16);
  assert.deepEqual(r.calls, [10, 0, 10]);
  assert.equal(g.current, 10);
  g.update(0.3);
  g.update(0);
  assert.deepEqual(r.calls, [10, 0, 10, 0, 10]);
  assert.equal(g.boosts, 2);
  g.apply();
  assert.deepEqual(r.calls.at(-1), 10);
});

test('--nice 0: the governor never touches the priority', () => {
  const r = recorder();
  const g = new PriorityGovernor({ nice: 0, log: r.log, setNice: r.setNice });
  g.apply();
  for (const b of [0, 0.5, 1, 0]) g.update(b);
  assert.deepEqual(r.calls, []);
});

test('without CAP_SYS_NICE: one warning naming the way out, then the agent stays at its nice value', () => {
  const r = recorder((n) => n === 0);
  const g = new PriorityGovernor({ nice: 15, log: r.log, setNice: r.setNice });
  g.apply();
  g.update(0.5);
  g.update(0.9);
  g.update(0);
  g.update(0.6);
  assert.deepEqual(r.calls, [15]);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /50% full.*CAP_SYS_NICE.*nice 15.*--nice 0/);
  assert.equal(g.current, 15);
  assert.throws(() => new PriorityGovernor({ nice: 5, log: r.log, boostAt: 0.1, relaxAt: 0.2 }), RangeError);
});
