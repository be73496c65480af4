// gRPC over Go crypto/tls traced end to end: grpc-go (its own HTTP/2 on a *tls.Conn, test/fixtures/go/grpc-pair,
// built by the test with the machine's Go 1.26: grpc-go 1.85 needs Go ≥ 1.26, so Debian's 1.19 cannot build it)
// Go client → Go server (the server as a normal, a PIE and a stripped build), and across
// implementations: @grpc/grpc-js client → Go server, Go client → grpc-js server (test/run/h2-peers.ts).
// The Greeter of test/helpers/greeter.ts on both sides: unary OK, unary NOT_FOUND with its message,
// server streaming. Spans checked at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../helpers/otlp-receiver';
import { makeCert, requireRoot, start, type Proc } from '../../helpers/procs';
import { startAgent } from '../../helpers/agent';
import { BUILD_DIR, TOOLCHAINS, buildFixture, type LinkMode, type Toolchain } from './go-toolchains';

const H2_PEERS = path.join(__dirname, '../../run/h2-peers.js');
/** Both servers' gap between LotsOfReplies' 3 messages (grpc-pair's streamGap, h2-peers.ts's STREAM_GAP_MS). */
const STREAM_GAP_MS = 100;
const FAIL_MESSAGE = 'no such greeting';
const GO126 = TOOLCHAINS.find((t) => t.release === 'go1.26') as Toolchain;
const SERVER_MODES: LinkMode[] = ['normal', 'pie', 'stripped'];
const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
const procs: Proc[] = [];
const bins = new Map<LinkMode, string>();

before(async () => {
  requireRoot();
  // Built before the agent starts: it attaches to each binary file on sight.
  for (const mode of SERVER_MODES) bins.set(mode, buildFixture(GO126, 'grpc-pair', mode));
  cert = makeCert();
  receiver = await startOtlpReceiver();
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  for (const p of procs) await p.stop('SIGKILL');
  await receiver?.stop();
  rmSync(BUILD_DIR, { recursive: true, force: true });
});

function track(p: Proc): Proc {
  procs.push(p);
  return p;
}

async function listening(p: Proc): Promise<Proc & { port: number }> {
  const m = await p.waitFor(/listening (\d+)/);
  return Object.assign(p, { port: Number(m[1]) });
}

const goServer = (mode: LinkMode) => listening(track(start(bins.get(mode)!, ['server', cert.cert, cert.key])));
const jsServer = () => listening(track(start(process.execPath, [H2_PEERS, 'grpc-server', cert.cert, cert.key])));
// -wait: the rescan that finds a new Go binary's process runs once a second; the first call must find it attached.
const goClient = (mode: LinkMode, port: number) => track(start(bins.get(mode)!, ['client', '-wait', '1.5', String(port), cert.cert]));
const jsClient = (port: number) => track(start(process.execPath, [H2_PEERS, 'grpc-client', String(port), cert.cert]));

/** The three calls of one side: names, RPC attributes, statuses, the streaming call's length, addresses of one connection. */
function checkSide(spans: ReceivedSpan[], kind: 'CLIENT' | 'SERVER', serverPort: number): void {
  assert.equal(spans.length, 3, `${kind}: ${spans.map((s) => s.name).join()}`);
  const by = (name: string) => {
    const s = spans.find((x) => x.name === name);
    assert.ok(s, `${kind} span ${name} among ${spans.map((x) => x.name).join()}`);
    return s;
  };
  const hello = by('helloworld.Greeter/SayHello');
  assert.equal(hello.attributes['rpc.system.name'], 'grpc');
  assert.equal(hello.attributes['rpc.method'], 'helloworld.Greeter/SayHello');
  assert.equal(hello.attributes['rpc.status_code'], 'OK');
  assert.equal(hello.status.code, 'UNSET');
  const fail = by('helloworld.Greeter/Fail');
  assert.equal(fail.attributes['rpc.method'], 'helloworld.Greeter/Fail');
  assert.equal(fail.attributes['rpc.status_code'], 'NOT_FOUND');
  // NOT_FOUND is the caller's problem: an error on the client side only.
  assert.equal(fail.status.code, kind === 'CLIENT' ? 'ERROR' : 'UNSET');
  if (kind === 'CLIENT') assert.equal(fail.status.message, FAIL_MESSAGE);
  const stream = by('helloworld.Greeter/LotsOfReplies');
  assert.equal(stream.attributes['rpc.status_code'], 'OK');
  const ms = Number(stream.endTimeUnixNano - stream.startTimeUnixNano) / 1e6;
  assert.ok(ms >= 2 * STREAM_GAP_MS * 0.9, `${kind}: the streaming call's span lasted ${ms} ms`);
  for (const s of spans) {
    assert.equal(s.kind, kind, s.name);
    assert.equal(s.attributes['rpc.system.name'], 'grpc', s.name);
    const port = kind === 'CLIENT' ? s.attributes['network.peer.port'] : s.attributes['network.local.port'];
    assert.equal(port, serverPort, `${kind} addresses: ${JSON.stringify(s.attributes)}`);
    assert.equal(s.attributes['network.peer.address'], '127.0.0.1');
  }
  // One channel, one connection: one client port for the three calls.
  const clientPorts = new Set(spans.map((s) => (kind === 'CLIENT' ? s.attributes['network.local.port'] : s.attributes['network.peer.port'])));
  assert.equal(clientPorts.size, 1, `${kind}: client ports ${[...clientPorts].join()}`);
}

function checkStitched(clients: ReceivedSpan[], servers: ReceivedSpan[]): void {
  for (const s of servers) {
    const c = clients.find((x) => x.name === s.name);
    assert.ok(c, `a CLIENT span for ${s.name}`);
    assert.equal(s.traceId, c.traceId, s.name);
    assert.equal(s.parentSpanId, c.spanId, s.name);
  }
}

async function pair(client: Proc, server: Proc & { port: number }): Promise<void> {
  assert.equal((await client.exited).code, 0, client.stderr());
  assert.equal(client.stdout(), 'hello tlsotel|5|3\n');
  await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 3 && spans.filter(ofPid(server.pid)).length >= 3, 15_000);
  const clients = receiver.spans.filter(ofPid(client.pid));
  const servers = receiver.spans.filter(ofPid(server.pid));
  checkSide(clients, 'CLIENT', server.port);
  checkSide(servers, 'SERVER', server.port);
  checkStitched(clients, servers);
  await server.stop('SIGKILL');
}

for (const mode of SERVER_MODES) {
  test(`Go gRPC client → Go gRPC server (${mode} build): CLIENT and SERVER spans of the three calls, stitched`, async () => {
    const srv = await goServer(mode);
    await pair(goClient('normal', srv.port), srv);
  });
}

test('@grpc/grpc-js client → Go gRPC server: both sides, stitched', async () => {
  const srv = await goServer('normal');
  await new Promise((r) => setTimeout(r, 1500)); // the Go server found by the rescan before the first call
  await pair(jsClient(srv.port), srv);
});

test('Go gRPC client (stripped build) → @grpc/grpc-js server: both sides, stitched', async () => {
  const srv = await jsServer();
  await pair(goClient('stripped', srv.port), srv);
});
