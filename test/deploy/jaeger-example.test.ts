// examples/jaeger.sh as a user runs it: Jaeger, the agent and HTTPS traffic come up, Jaeger's
// API lists the traffic's services, and Ctrl-C (SIGINT) stops every process it started. On free
// ports (its variables), in its own process group so that "every process" can be checked.
// Fails (never skips) without root or without the Jaeger binary.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { getFreePort } from '../helpers/otlp-receiver';
import { EXAMPLES, requireRoot, sleep, start } from '../helpers/procs';
import { jaegerBinary } from './jaeger-process';

/** Whether any process of the group is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

test('examples/jaeger.sh: the services show up in Jaeger, and Ctrl-C stops everything it started', async () => {
  requireRoot();
  jaegerBinary();
  const [grpc, http, ui, queryGrpc, port] = [await getFreePort(), await getFreePort(), await getFreePort(), await getFreePort(), await getFreePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JAEGER_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
    JAEGER_OTLP_HTTP_ENDPOINT: `127.0.0.1:${http}`,
    JAEGER_UI_ENDPOINT: `127.0.0.1:${ui}`,
    JAEGER_QUERY_GRPC_ENDPOINT: `127.0.0.1:${queryGrpc}`,
    PORT: String(port),
  };
  const script = start('bash', [path.join(EXAMPLES, 'jaeger.sh')], { env, detached: true });
  try {
    await script.waitFor(new RegExp(`Jaeger UI: +http://127\\.0\\.0\\.1:${ui}/search\\?service=curl`), 'stdout', 60_000);
    // Its own summary, from Jaeger's API (three times, 2 s apart): the example's clients (curl,
    // node) and its server (shop-api) are there.
    await script.waitFor(/services in Jaeger: (?=.*\bcurl\b)(?=.*\bnode\b)(?=.*\bshop-api\b)/, 'stdout', 30_000);
    const res = await fetch(`http://127.0.0.1:${ui}/api/services`);
    assert.equal(res.status, 200);
  } finally {
    script.child.kill('SIGINT');
  }
  const { code } = await script.exited;
  assert.equal(code, 130, `exit status after Ctrl-C\n${script.stderr()}`);
  // stop() waits for each child, so nothing should be left; allow a moment for the kernel.
  for (let i = 0; i < 20 && groupAlive(script.pid); i++) await sleep(100);
  assert.equal(groupAlive(script.pid), false, 'every process the example started has exited');
});
