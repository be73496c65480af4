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
/** The agent running now, and which: see useAgent. */
let agent: Proc | undefined;
let agentKind: 'go-only' | 'host-wide' | undefined;
const procs: Proc[] = [];
const bins = new Map<LinkMode, string>();
/** The process name (comm: 15 characters at most) every build of grpc-pair runs as. */
let goComm = '';

before(async () => {
  requireRoot();
  for (const mode of SERVER_MODES) bins.set(mode, buildFixture(GO126, 'grpc-pair', mode));
  const comms = new Set([...bins.values()].map((b) => path.basename(b).slice(0, 15)));
  assert.equal(comms.size, 1, `one process name for every build: ${[...comms].join()}`);
  goComm = [...comms][0];
  cert = makeCert();
  receiver = await startOtlpReceiver();
});

/**
 * Go → Go runs under an agent tracing only the Go binaries' processes (--comm): on a shared host
 * a host-wide agent also exports every other program's HTTPS traffic and may drop ours with its
 * export queue full. The cross tests need node traced as well: a host-wide agent. Never both at
 * once (each would export the Go side's spans).
 */
async function useAgent(kind: 'go-only' | 'host-wide'): Promise<Proc> {
  if (agent && agentKind === kind) return agent;
  await agent?.stop('SIGINT');
  agent = await startAgent(['--otlp-endpoint', receiver.url, ...(kind === 'go-only' ? ['--comm', goComm] : [])], { OTEL_METRIC_EXPORT_INTERVAL: '500' });
  agentKind = kind;
  return agent;
}

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

/** Resolves once the agent says it attached to the Go binary `bin` (a new Go binary is found by
 *  the agent's /proc rescan, about once a second, later on a busy host): the first call must
 *  find it attached, or the HTTP/2 session would be joined mid-connection. */
function attached(bin: string): Promise<unknown> {
  return agent!.waitFor(new RegExp(`attached to ${bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(go\\)`), 'stderr', 30_000);
}

async function goServer(mode: LinkMode): Promise<Proc & { port: number }> {
  const srv = await listening(track(start(bins.get(mode)!, ['server', cert.cert, cert.key])));
  await attached(bins.get(mode)!);
  return srv;
}

const jsServer = () => listening(track(start(process.execPath, [H2_PEERS, 'grpc-server', cert.cert, cert.key])));

/** A Go client that makes its calls once the agent has attached to its binary (-wait-stdin). */
async function goClient(mode: LinkMode, port: number, flags: string[] = []): Promise<Proc> {
  const client = track(start(bins.get(mode)!, ['client', '-wait-stdin', ...flags, String(port), cert.cert], { stdio: ['pipe', 'pipe', 'pipe'] }));
  await attached(bins.get(mode)!);
  client.child.stdin!.write('go\n');
  return client;
}

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
  try {
    await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 3 && spans.filter(ofPid(server.pid)).length >= 3, 30_000);
  } catch (e) {
    // Say which spans did come, and what the agent says it lost (on a busy host it traces everyone's traffic).
    const names = (pid: number) => receiver.spans.filter(ofPid(pid)).map((s) => `${s.kind} ${s.name}`).join(', ') || 'none';
    const losses = [...agent!.stderr().matchAll(/losses so far: (.*)/g)].pop()?.[1] ?? 'none reported';
    throw new Error(`${(e as Error).message}; client spans: ${names(client.pid)}; server spans: ${names(server.pid)}; agent losses: ${losses}`);
  }
  const clients = receiver.spans.filter(ofPid(client.pid));
  const servers = receiver.spans.filter(ofPid(server.pid));
  checkSide(clients, 'CLIENT', server.port);
  checkSide(servers, 'SERVER', server.port);
  checkStitched(clients, servers);
  await server.stop('SIGKILL');
}

for (const mode of SERVER_MODES) {
  test(`Go gRPC client → Go gRPC server (${mode} build): CLIENT and SERVER spans of the three calls, stitched`, async () => {
    await useAgent('go-only');
    const srv = await goServer(mode);
    await pair(await goClient('normal', srv.port), srv);
  });
}

test('Go gRPC client → Go gRPC server, 100 kB requests three times on one connection: exact sizes, DATA skipped in BPF, nothing dropped', async () => {
  await useAgent('go-only');
  const before = { skipped: receiver.total('tlsotel.bpf.skipped_bytes'), drops: receiver.total('tlsotel.bpf.ring_buffer.dropped_records') };
  const size = 100_000;
  const srv = await goServer('normal');
  const client = await goClient('normal', srv.port, ['-n', '3', '-size', String(size)]);
  assert.equal((await client.exited).code, 0, client.stderr());
  assert.equal(client.stdout(), `${size + 6} bytes|5|3\n`);
  const hello = (pid: number) => receiver.spans.filter((s) => ofPid(pid)(s) && s.name === 'helloworld.Greeter/SayHello');
  await receiver.waitFor(() => hello(client.pid).length >= 3 && hello(srv.pid).length >= 3, 30_000);
  // grpc-go's DATA frames are 16 KiB: each request and answer is seven frames, cut by Go's
  // writes and reads anywhere.
  for (const s of [...hello(client.pid), ...hello(srv.pid)]) {
    assert.equal(s.attributes['http.request.body.size'], size + 5, `${s.kind} ${JSON.stringify(s.attributes)}`);
    assert.equal(s.attributes['http.response.body.size'], size + 11, `${s.kind} ${JSON.stringify(s.attributes)}`);
    assert.equal(s.attributes['rpc.status_code'], 'OK');
  }
  // Requests and answers, at both ends: nearly all their bytes counted, not copied.
  const want = before.skipped + 0.9 * 4 * 3 * size;
  await receiver.waitForTotal('tlsotel.bpf.skipped_bytes', before.skipped, want);
  assert.equal(receiver.total('tlsotel.bpf.ring_buffer.dropped_records'), before.drops, 'no record lost to a full ring');
  await srv.stop('SIGKILL');
});

test('@grpc/grpc-js client → Go gRPC server: both sides, stitched', async () => {
  await useAgent('host-wide');
  const srv = await goServer('normal');
  await pair(jsClient(srv.port), srv);
});

test('Go gRPC client (stripped build) → @grpc/grpc-js server: both sides, stitched', async () => {
  await useAgent('host-wide');
  const srv = await jsServer();
  await pair(await goClient('stripped', srv.port), srv);
});
