// An agent in a PID namespace of its own (what a sidecar with shareProcessNamespace gets) still
// sees, through its probes, every process on the host that maps the same library files, and names
// them by host PIDs its /proc does not know: it must say so, at start and in doctor.
import test from 'node:test';
import assert from 'node:assert/strict';
import { CLI, requireRoot, run, start } from '../helpers/procs';
import { pidNamespace } from '../../src/util/pid-namespace';

const own = (args: string[]) => ['--pid', '--fork', '--kill-child', '--mount-proc', process.execPath, CLI, ...args];

test('in the host PID namespace, doctor says so and run does not warn', async () => {
  requireRoot();
  assert.equal(pidNamespace(), 'host', 'the tests run in the host PID namespace');
  const d = await run(process.execPath, [CLI, 'doctor']);
  assert.match(d.stdout, /^\[ ok \] PID namespace: the host's/m, d.stdout);
});

test('in a PID namespace of its own (a sidecar), run warns at start and doctor warns', async () => {
  requireRoot();
  const agent = start('unshare', own(['run', '--print']));
  try {
    await agent.waitFor(/ready/, 'stderr', 30_000);
    assert.match(agent.stderr(), /warn: tlsotel runs in a PID namespace of its own .*exchanges of processes outside its namespace are exported too.*hostPID: true/);
  } finally {
    await agent.stop('SIGKILL');
  }
  const d = await run('unshare', own(['doctor']));
  assert.match(d.stdout, /^\[warn\] PID namespace: tlsotel runs in a PID namespace of its own/m, d.stdout);
});
