// Fault: a connection's close record does not fit in the ring buffer, and the allocator gives
// the freed SSL's memory to the next connection. Without the close, the agent would take the new
// connection's traffic for the rest of the old one: a request of the old connection left waiting
// (its answer lost to the same full ring) would be paired with the new connection's response.
// The BPF side owes the close instead and sends it before the next record of that address; when
// no record comes there (the address taken by an object that sends nothing), the agent finds the
// owed close itself within seconds. The ring is filled on purpose: the agent is stopped
// (SIGSTOP) with a 4 KiB ring while the client works (test/faults/close-lost-client.py).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { latestTotal, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { startAgent } from '../helpers/agent';
import { makeCert, python, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { assertNoCrashOutput, commEnv, commFor, latestLosses, script } from './fault-helpers';

const ROUNDS = 4;
const tag = `cl${process.pid}`;
const COMM = commFor(tag);

let receiver: OtlpReceiver;
let agent: Proc;
let server: Proc & { port: number };
let client: Proc | undefined;

before(async () => {
  requireRoot();
  receiver = await startOtlpReceiver();
  server = await startHttpsServer(makeCert());
  agent = await startAgent(['--otlp-endpoint', receiver.url, '--comm', COMM, '--ring-buffer-size', '4k', '--stats-interval', '1s'],
    { OTEL_METRIC_EXPORT_INTERVAL: '500' });
});

after(async () => {
  if (agent !== undefined) process.kill(agent.pid, 'SIGCONT'); // never leave it stopped
  await agent?.stop('SIGKILL');
  await client?.stop('SIGKILL');
  await server?.stop('SIGKILL');
  await receiver?.stop();
});

test('a close record lost to a full ring: the next connection at the freed SSL\'s address is a new connection', async () => {
  client = start(python(), [script('close-lost-client.py'), String(agent.pid), String(server.port), tag, String(ROUNDS), 'HOLD'], { env: commEnv(COMM) });
  const printed = await client.waitFor(/^\[.*\]$/m, 'stdout', 60_000).catch(() => assert.fail(`client: ${client!.stderr()}`));
  const rounds = JSON.parse(printed[0]) as Array<{ round: number; reused: boolean }>;
  // Both cases happened: the allocator gave B the address A had (even rounds), and, with A's
  // address held by another SSL object, another one (odd rounds: the owed close has no next
  // record to go with, and the agent must find it by itself).
  assert.ok(rounds.some((r) => r.reused), `no round reused the SSL address: ${printed[0]}`);
  assert.ok(rounds.some((r) => !r.reused), `every round reused the SSL address: ${printed[0]}`);

  const ours = (s: ReceivedSpan) => s.kind === 'CLIENT' && String(s.attributes['url.query']).startsWith(`${tag}-`);
  const of = (round: number, r: string) => receiver.spans.filter(ours).filter((s) => s.attributes['url.query'] === `${tag}-${round}-${r}`);
  await receiver.waitFor(() => rounds.every((r) => of(r.round, 'r3').length === 1), 20_000)
    .catch(() => assert.fail(`R3 spans: ${rounds.map((r) => of(r.round, 'r3').length)}`));
  // The R2 spans: reported when A's close arrives, with B's first record or found by the agent
  // in the BPF map (within seconds, while the client still runs: not at its exit).
  await receiver.waitFor(() => rounds.every((r) => of(r.round, 'r2').length === 1), 8_000).catch(() => {});
  assert.equal(client.child.exitCode, null, 'the client still runs');

  const losses = latestLosses(agent.stderr());
  assert.ok((losses['ring buffer full (records)'] ?? 0) > 0, `the ring was full: ${JSON.stringify(losses)}`);
  assertNoCrashOutput(agent.stderr());
  const error = (s: ReceivedSpan) => s.attributes['error.type'] ?? s.attributes['tlsotel.exchange.error'];
  const show = (s: ReceivedSpan) => `${String(s.attributes['url.query'])} -> ${String(s.attributes['http.response.status_code'])} ${String(error(s) ?? '')}`;
  const wrong: string[] = [];
  for (const r of rounds) {
    const r1 = of(r.round, 'r1');
    const r2 = of(r.round, 'r2');
    const r3 = of(r.round, 'r3');
    // R1 was seen whole; R3, on the new connection, too: its own response, no error.
    if (r1.length !== 1 || r1[0].attributes['http.response.status_code'] !== 201) wrong.push(`R1 of round ${r.round}: ${r1.map(show).join(', ') || 'none'}`);
    if (r3.length !== 1 || r3[0].attributes['http.response.status_code'] !== 203 || error(r3[0]) !== undefined) {
      wrong.push(`R3 of round ${r.round}: ${r3.map(show).join(', ')}`);
    }
    // R2's answer was lost: its span (reported when A's owed close arrives) says so (a capture
    // gap: the close carried A's loss), and never carries R3's answer.
    if (r2.length !== 1 || r2[0].attributes['http.response.status_code'] !== undefined || r2[0].attributes['error.type'] !== 'capture_gap') {
      wrong.push(`R2 of round ${r.round} (reused ${r.reused}): ${r2.map(show).join(', ') || 'none'}`);
    }
  }
  assert.deepEqual(wrong, []);
  // Each close owed was delivered late, and counted so: sent before B's first record, or taken
  // by the agent's sweep of quiet connections (more than ours: the filler's may be too).
  const reused = rounds.filter((r) => r.reused).length;
  await receiver.waitForMetrics(() => latestTotal(receiver.metrics, 'tlsotel.bpf.late_close_records') >= reused, 10_000)
    .catch(() => assert.fail(`late close records ${latestTotal(receiver.metrics, 'tlsotel.bpf.late_close_records')}, want >= ${reused}`));
});
