// Fault: a traced process is killed with SIGKILL in the middle of a response. The server
// (test/faults/stall-server.py, Python's ssl over the system libssl) answers with its status line,
// its headers (Content-Length: 100000) and 30,000 bytes of body, then stalls.
//   1. The server is killed while curl waits for the rest: curl's CLIENT span arrives with ERROR
//      status (connection closed mid-response); the server's span is absent or ERROR.
//   2. curl is killed while the server stalls: curl's span is absent or ERROR (process exited);
//      the server's arrives with ERROR status (response timeout: --response-timeout 3s).
//      In 1 and 2 each killed process has lived longer than one /proc rescan (1 s), so the
//      agent knows it and notices its exit.
//   3. curl is killed a moment after it started (before any /proc rescan saw it), while the
//      server has not answered: its exchange is cut short by the exit (ERROR, "process exited")
//      at the next rescan, not left to the response timeout.
// In all, the agent keeps running and prints no stack trace, and a normal exchange made
// afterwards is exported as usual.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { startAgent } from '../helpers/agent';
import { makeCert, python, requireRoot, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';
import { assertNoCrashOutput, script } from './fault-helpers';

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
const procs: Proc[] = [];
const tag = `k${process.pid}`;

before(async () => {
  requireRoot();
  cert = makeCert();
  receiver = await startOtlpReceiver();
  agent = await startAgent(['--otlp-endpoint', receiver.url, '--response-timeout', '3s', '--stats-interval', '1s']);
});

after(async () => {
  await agent?.stop('SIGKILL');
  for (const p of procs) await p.stop('SIGKILL');
  await receiver?.stop();
});

/** A stalling server and a curl waiting on it, once the server has sent part of the body. */
async function stalled(urlPath: string): Promise<{ server: Proc; curl: Proc }> {
  const server = start(python(), [script('stall-server.py'), cert.cert, cert.key, '100000', '30000']);
  procs.push(server);
  const port = Number((await server.waitFor(/listening (\d+)/))[1]);
  const curl = start('curl', ['-sk', '--http1.1', '--max-time', '30', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `https://127.0.0.1:${port}${urlPath}`]);
  procs.push(curl);
  await server.waitFor(/stalled GET/);
  // curl has read the headers and the 30,000 bytes; both processes have been seen by a rescan.
  await sleep(1500);
  assert.equal(curl.child.exitCode, null, 'curl is still waiting for the rest of the body');
  return { server, curl };
}

const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;

function assertErrorSpan(s: ReceivedSpan, path: string, reason: RegExp): void {
  assert.equal(s.attributes['url.path'], path);
  assert.equal(s.attributes['http.request.method'], 'GET');
  assert.equal(s.status.code, 'ERROR', `${s.kind} span: ${JSON.stringify({ status: s.status, attributes: s.attributes })}`);
  assert.match(String(s.status.message ?? s.attributes['tlsotel.exchange.error'] ?? ''), reason, JSON.stringify(s.status));
  // A partial 200 response is not a 200: if the status code is there, it is the one sent.
  if (s.attributes['http.response.status_code'] !== undefined) assert.equal(s.attributes['http.response.status_code'], 200);
}

test('server killed (SIGKILL) mid-response: the client span is an ERROR, the server span absent or ERROR, the agent lives on', async () => {
  const path = `/stall/${tag}/server-killed`;
  const { server, curl } = await stalled(path);
  server.child.kill('SIGKILL');
  const { code } = await curl.exited;
  assert.notEqual(code, 0, `curl saw the response cut short: ${curl.stdout()}`);
  // The client's exchange ends with its connection (closed by the kernel, then curl exits).
  await receiver.waitFor((spans) => spans.some(ofPid(curl.pid)), 10_000);
  await sleep(1500); // the server's exit is noticed by the next /proc rescan (1 s)
  assert.equal(agent.child.exitCode, null, 'the agent is still running');
  assertNoCrashOutput(agent.stderr());
  const client = receiver.spans.filter(ofPid(curl.pid));
  assert.equal(client.length, 1, JSON.stringify(client.map((s) => s.name)));
  assert.equal(client[0].kind, 'CLIENT');
  assertErrorSpan(client[0], path, /closed|exited|mid-message|truncat/i);
  for (const s of receiver.spans.filter(ofPid(server.pid))) {
    assert.equal(s.kind, 'SERVER');
    assertErrorSpan(s, path, /closed|exited|mid-message|truncat|timeout/i);
  }
});

test('client killed (SIGKILL) mid-response: its span absent or ERROR, the server span an ERROR, the agent lives on', async () => {
  const path = `/stall/${tag}/client-killed`;
  const { server, curl } = await stalled(path);
  curl.child.kill('SIGKILL');
  await curl.exited;
  // The server never finishes its response: its exchange is given up after --response-timeout.
  await receiver.waitFor((spans) => spans.some(ofPid(server.pid)), 10_000);
  await sleep(500);
  assert.equal(agent.child.exitCode, null, 'the agent is still running');
  assertNoCrashOutput(agent.stderr());
  const srv = receiver.spans.filter(ofPid(server.pid));
  assert.equal(srv.length, 1, JSON.stringify(srv.map((s) => s.name)));
  assert.equal(srv[0].kind, 'SERVER');
  assertErrorSpan(srv[0], path, /timeout|closed|exited|mid-message|truncat/i);
  for (const s of receiver.spans.filter(ofPid(curl.pid))) {
    assert.equal(s.kind, 'CLIENT');
    assertErrorSpan(s, path, /exited|closed|mid-message|truncat|timeout/i);
  }
  await server.stop('SIGKILL');
});

test('client killed (SIGKILL) right after it started: its exchange ends as "process exited" at the next rescan, not at the response timeout', async () => {
  const server = start(python(), [script('stall-server.py'), cert.cert, cert.key, '0', '0']); // reads, never answers
  procs.push(server);
  const port = Number((await server.waitFor(/listening (\d+)/))[1]);
  const path = `/stall/${tag}/short-lived`;
  const curl = start('curl', ['-sk', '--http1.1', '--max-time', '30', '-o', '/dev/null', `https://127.0.0.1:${port}${path}`]);
  procs.push(curl);
  await server.waitFor(/stalled GET/); // the request was written (and read)
  const t0 = Date.now();
  curl.child.kill('SIGKILL'); // about 0.1 s after it started: maybe between two rescans
  await curl.exited;
  // Exits are noticed by the /proc rescan (every 1 s): within ~2 s, well before the response
  // timeout (3 s after the request).
  await receiver.waitFor((spans) => spans.some(ofPid(curl.pid)), 10_000);
  const ms = Date.now() - t0;
  const s = receiver.spans.find(ofPid(curl.pid))!;
  console.log(`short-lived client: its span came ${ms} ms after the kill: ${s.status.code} ${s.status.message}`);
  assert.equal(agent.child.exitCode, null, 'the agent is still running');
  assert.equal(s.kind, 'CLIENT');
  assert.equal(s.status.code, 'ERROR');
  assert.equal(s.attributes['http.response.status_code'], undefined);
  assert.match(String(s.status.message), /exited|closed/, `ended by the exit, after ${ms} ms: ${JSON.stringify(s.status)}`);
  assert.ok(ms < 2500, `span after ${ms} ms`);
  await server.stop('SIGKILL');
});

test('after the kills, a normal exchange is traced as usual', async () => {
  const node = await startHttpsServer(cert);
  procs.push(node);
  const path = `/after/${tag}`;
  const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${node.port}${path}`]);
  assert.equal((await curl.exited).code, 0);
  await receiver.waitFor((spans) => spans.some((s) => ofPid(curl.pid)(s)) && spans.some((s) => ofPid(node.pid)(s) && s.attributes['url.path'] === path), 10_000);
  const client = receiver.spans.find(ofPid(curl.pid))!;
  assert.equal(client.status.code, 'UNSET');
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.attributes['url.path'], path);
  await node.stop('SIGKILL');
  const { code } = await agent.stop('SIGTERM');
  assert.equal(code, 0, agent.stderr().slice(-2000));
  assertNoCrashOutput(agent.stderr());
});
