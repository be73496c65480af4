// The sidecar case: the agent runs inside a PID namespace that is not the host's (a pod with
// shareProcessNamespace), with the application. Its pids, service names, /proc reads and --pid
// filter are that namespace's; an agent in the host namespace sees the same processes with the
// host's pids. Made here with `unshare --pid --fork --mount-proc`.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { CLI, EXAMPLES, makeCert, requireRoot, start, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';

let cert: ReturnType<typeof makeCert>;
let inner: OtlpReceiver;
let outer: OtlpReceiver;
let hostAgent: Proc;
const tag = `ns${process.pid}`;

before(async () => {
  requireRoot();
  cert = makeCert();
  inner = await startOtlpReceiver();
  outer = await startOtlpReceiver();
  hostAgent = await startAgent(['--otlp-endpoint', outer.url]);
});

after(async () => {
  await hostAgent?.stop('SIGKILL');
  await inner?.stop();
  await outer?.stop();
});

/** Runs, inside a new PID namespace: an HTTPS server, the agent (to `inner`), then curl; prints
 *  "pids SERVER CURL AGENT" (the namespace's) and waits for a line on stdin before ending. */
function namespace(extraAgentArgs: string, name: string): Proc {
  const script = `
set -e
OTEL_SERVICE_NAME=pod-app-${tag} node ${path.join(EXAMPLES, 'https-server.js')} --port 0 --cert ${cert.cert} --key ${cert.key} > ${cert.dir}/ns-srv.out 2>&1 &
SRV=$!
for i in $(seq 1 100); do grep -q listening ${cert.dir}/ns-srv.out && break; sleep 0.1; done
PORT=$(grep -o 'listening [0-9]*' ${cert.dir}/ns-srv.out | cut -d' ' -f2)
node ${CLI} run --otlp-endpoint ${inner.url} ${extraAgentArgs.replace('SRV', '$SRV')} 2> ${cert.dir}/ns-agent.err &
AG=$!
for i in $(seq 1 300); do grep -q ready ${cert.dir}/ns-agent.err && break; sleep 0.1; done
curl -sk --http1.1 -o /dev/null https://127.0.0.1:$PORT/pod/${tag}/${name} &
CURL=$!
wait $CURL
echo "pids $SRV $CURL $AG"
read line
kill -INT $AG; wait $AG || true
kill $SRV
`;
  return start('unshare', ['--pid', '--fork', '--mount-proc', 'bash', '-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
}

const at = (name: string) => (s: ReceivedSpan) => s.attributes['url.path'] === `/pod/${tag}/${name}`;

test('an agent inside a PID namespace reports the namespace\'s pids and service names; a host agent sees the same processes with host pids', async () => {
  const ns = namespace('', 'a');
  const mine = at('a');
  try {
    const m = await ns.waitFor(/pids (\d+) (\d+) (\d+)/, 'stdout', 40_000);
    const [srvPid, curlPid] = [Number(m[1]), Number(m[2])];
    await inner.waitFor((spans) => spans.filter(mine).length >= 2, 15_000);
    const server = inner.spans.find((s) => mine(s) && s.kind === 'SERVER')!;
    const client = inner.spans.find((s) => mine(s) && s.kind === 'CLIENT')!;
    assert.equal(server.resource['process.pid'], srvPid, 'the namespace\'s pid');
    assert.equal(server.resource['service.name'], `pod-app-${tag}`, 'read from the namespace\'s /proc');
    assert.equal(client.resource['process.pid'], curlPid);
    assert.equal(client.resource['service.name'], 'curl');
    assert.equal(server.parentSpanId, client.spanId, 'stitched inside the namespace too');
    // The host's agent: the same exchange, host pids.
    await outer.waitFor((spans) => spans.filter(mine).length >= 2, 15_000);
    const hostServer = outer.spans.find((s) => mine(s) && s.kind === 'SERVER')!;
    const hostPid = Number(hostServer.resource['process.pid']);
    assert.notEqual(hostPid, srvPid);
    const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'latin1'))![1].trim().split(/\s+/).map(Number);
    assert.deepEqual(nspid, [hostPid, srvPid], 'host pid and namespace pid of the same process');
    assert.equal(hostServer.resource['service.name'], `pod-app-${tag}`);
  } finally {
    ns.child.stdin!.write('done\n');
    await ns.exited;
  }
});

test('inside a PID namespace, --pid takes the namespace\'s pid', async () => {
  const ns = namespace('--pid SRV', 'b');
  const mine = at('b');
  try {
    const m = await ns.waitFor(/pids (\d+) (\d+) (\d+)/, 'stdout', 40_000);
    const srvPid = Number(m[1]);
    await inner.waitFor((spans) => spans.filter((s) => mine(s) && s.resource['process.pid'] === srvPid && s.kind === 'SERVER').length >= 1, 15_000);
    await new Promise((r) => setTimeout(r, 1000));
    const curlSpans = inner.spans.filter((s) => mine(s) && s.kind === 'CLIENT' && s.resource['process.pid'] === Number(m[2]));
    assert.deepEqual(curlSpans, [], 'only the --pid process is traced');
  } finally {
    ns.child.stdin!.write('done\n');
    await ns.exited;
  }
});
