// BoringSSL built into Python packages, traced with real programs, spans checked at a real
// OTLP/gRPC receiver: grpcio (BoringSSL in its cygrpc module, no symbols: src/tls/boringssl),
// client → server over several connections one after another (the connections end at their
// sockets' close: SSL_free is not probed), each side against grpc-js (OpenSSL in node), four
// clients at once; curl_cffi (curl-impersonate: BoringSSL with its symbols, the OpenSSL
// library's claim) over HTTP/1.1 and HTTP/2 to nginx; and grpc-java (Netty's netty-tcnative,
// BoringSSL in a library Netty extracts, loads and deletes: reached through
// /proc/PID/map_files, detached when its process exits).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { ROOT, makeCert, requireRoot, start, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

const PEER = path.join(ROOT, 'test/tls/grpcio-peer.py');
const H2_PEERS = path.join(ROOT, 'dist/test/run/h2-peers.js');
const FAIL_MESSAGE = 'no such greeting';

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
/** Bytes of each SayHello request in the concurrent-clients test. */
const MESSAGE = 100_000;
let agent: Proc;
let py: string;
let nginx: Nginx;
const procs: Proc[] = [];
const ofPid = (pid: number, kind: 'CLIENT' | 'SERVER') => (s: ReceivedSpan) => s.resource['process.pid'] === pid && s.kind === kind;

before(async () => {
  requireRoot();
  py = execFileSync('bash', [path.join(ROOT, 'scripts/build-python-venv.sh'), '--path'], { encoding: 'utf8' }).trim();
  if (!existsSync(py)) throw new Error(`no Python environment with grpcio at ${py}: run scripts/install-test-deps.sh`);
  cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert, { http2: true });
  agent = await startAgent(['--otlp-endpoint', receiver.url], { OTEL_METRIC_EXPORT_INTERVAL: '500' });
});

after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await receiver?.stop();
});

function track(p: Proc): Proc {
  procs.push(p);
  return p;
}

let cygrpcAttached: Promise<unknown> | undefined;

/** A grpcio server, once the agent has attached to grpcio's module (a file new to the agent:
 *  found when the server maps it, a few ms later). */
async function grpcioServer(): Promise<Proc & { port: number }> {
  cygrpcAttached ??= agent.waitFor(/attached to \S*cygrpc\S*\.so \(boringssl\): SSL_write@0x[0-9a-f]+, SSL_read@0x[0-9a-f]+/, 'stderr', 30_000);
  const p = track(start(py, [PEER, 'server', cert.cert, cert.key]));
  const m = await p.waitFor(/listening (\d+)/, 'stdout', 30_000);
  await cygrpcAttached;
  return Object.assign(p, { port: Number(m[1]) });
}

async function grpcioClient(port: number, spec: string): Promise<Proc> {
  const c = track(start(py, [PEER, 'client', cert.cert, String(port), spec]));
  await c.waitFor(/done/, 'stdout', 30_000);
  return c;
}

/** The spans of one side of Greeter calls: names, RPC attributes, statuses, the library, and the
 *  server's port. */
function checkGreeterSide(spans: ReceivedSpan[], kind: 'CLIENT' | 'SERVER', serverPort: number, library: string): void {
  for (const s of spans) {
    const what = `${kind} ${s.name}: ${JSON.stringify(s.attributes)}`;
    assert.equal(s.attributes['rpc.system.name'], 'grpc', what);
    assert.equal(s.attributes['rpc.method'], s.name, what);
    assert.equal(s.attributes['tlsotel.tls.library'], library, what);
    assert.equal(s.attributes['network.peer.address'], '127.0.0.1', what);
    assert.equal(kind === 'CLIENT' ? s.attributes['network.peer.port'] : s.attributes['network.local.port'], serverPort, what);
    if (s.name === 'helloworld.Greeter/Fail') {
      assert.equal(s.attributes['rpc.status_code'], 'NOT_FOUND', what);
      assert.equal(s.status.code, kind === 'CLIENT' ? 'ERROR' : 'UNSET', what);
      if (kind === 'CLIENT') assert.equal(s.status.message, FAIL_MESSAGE, what);
    } else {
      assert.equal(s.attributes['rpc.status_code'], 'OK', what);
      assert.equal(s.status.code, 'UNSET', what);
    }
  }
}

/** Every SERVER span is the child of a CLIENT span of the same call (same name, same client port). */
function checkStitched(clients: ReceivedSpan[], servers: ReceivedSpan[]): void {
  for (const s of servers) {
    const parent = clients.find((c) => c.spanId === s.parentSpanId);
    assert.ok(parent, `the SERVER span ${s.name} has its CLIENT span as parent`);
    assert.equal(parent.traceId, s.traceId);
    assert.equal(parent.name, s.name);
    assert.equal(parent.attributes['network.local.port'], s.attributes['network.peer.port']);
  }
}

const names = (spans: ReceivedSpan[]) => spans.map((s) => s.name).sort();

test('grpcio client → grpcio server, three connections one after another: every call a CLIENT and a SERVER span', async () => {
  const server = await grpcioServer();
  const client = await grpcioClient(server.port, '3x2');
  const want = [...Array(6).fill('helloworld.Greeter/SayHello'), ...Array(3).fill('helloworld.Greeter/Fail')].sort();
  const sides = () => ({ clients: receiver.spans.filter(ofPid(client.pid, 'CLIENT')), servers: receiver.spans.filter(ofPid(server.pid, 'SERVER')) });
  await receiver.waitFor(() => sides().clients.length >= 9 && sides().servers.length >= 9, 20_000).catch(() => {});
  const { clients, servers } = sides();
  assert.deepEqual(names(clients), want, 'CLIENT spans');
  assert.deepEqual(names(servers), want, 'SERVER spans');
  checkGreeterSide(clients, 'CLIENT', server.port, 'boringssl');
  checkGreeterSide(servers, 'SERVER', server.port, 'boringssl');
  // Three channels, three connections: three client ports, three calls on each. Had a connection
  // not ended at its socket's close, a later one at the same SSL* address would have been taken
  // for its continuation (a client preface in the middle of an HTTP/2 connection: no spans).
  const ports = new Map<unknown, number>();
  for (const s of clients) ports.set(s.attributes['network.local.port'], (ports.get(s.attributes['network.local.port']) ?? 0) + 1);
  assert.deepEqual([...ports.values()], [3, 3, 3], `calls per client port: ${JSON.stringify([...ports])}`);
  checkStitched(clients, servers);
  // The request's path is whole on every span (HPACK followed from each connection's start).
  for (const s of [...clients, ...servers]) assert.equal(s.attributes['url.path'] ?? `/${s.name}`, `/${s.name}`);
});

test('grpcio client → grpc-js server (node, OpenSSL), and grpc-js client → grpcio server', async () => {
  // grpcio calls grpc-js's Greeter (SayHello twice and Fail).
  const js = track(start(process.execPath, [H2_PEERS, 'grpc-server', cert.cert, cert.key]));
  const jsPort = Number((await js.waitFor(/listening (\d+)/, 'stdout', 30_000))[1]);
  const pyClient = await grpcioClient(jsPort, '1x2');
  await receiver.waitFor((all) => all.filter(ofPid(pyClient.pid, 'CLIENT')).length >= 3 && all.filter(ofPid(js.pid, 'SERVER')).length >= 3, 20_000).catch(() => {});
  const pyClients = receiver.spans.filter(ofPid(pyClient.pid, 'CLIENT'));
  const jsServers = receiver.spans.filter(ofPid(js.pid, 'SERVER'));
  const three = ['helloworld.Greeter/Fail', 'helloworld.Greeter/SayHello', 'helloworld.Greeter/SayHello'];
  assert.deepEqual(names(pyClients), three);
  assert.deepEqual(names(jsServers), three);
  checkGreeterSide(pyClients, 'CLIENT', jsPort, 'boringssl');
  checkGreeterSide(jsServers, 'SERVER', jsPort, 'openssl');
  checkStitched(pyClients, jsServers);

  // grpc-js calls grpcio's Greeter: SayHello, Fail, LotsOfReplies (three replies 100 ms apart).
  const server = await grpcioServer();
  const jsClient = track(start(process.execPath, [H2_PEERS, 'grpc-client', String(server.port), cert.cert]));
  assert.match((await jsClient.waitFor(/\|/, 'stdout', 30_000))[0], /\|/);
  await receiver.waitFor((all) => all.filter(ofPid(server.pid, 'SERVER')).length >= 3 && all.filter(ofPid(jsClient.pid, 'CLIENT')).length >= 3, 20_000).catch(() => {});
  const pyServers = receiver.spans.filter(ofPid(server.pid, 'SERVER'));
  const jsClients = receiver.spans.filter(ofPid(jsClient.pid, 'CLIENT'));
  const calls = ['helloworld.Greeter/Fail', 'helloworld.Greeter/LotsOfReplies', 'helloworld.Greeter/SayHello'];
  assert.deepEqual(names(pyServers), calls);
  assert.deepEqual(names(jsClients), calls);
  checkGreeterSide(pyServers, 'SERVER', server.port, 'boringssl');
  checkGreeterSide(jsClients, 'CLIENT', server.port, 'openssl');
  checkStitched(jsClients, pyServers);
  const stream = pyServers.find((s) => s.name === 'helloworld.Greeter/LotsOfReplies')!;
  const ms = Number(stream.endTimeUnixNano - stream.startTimeUnixNano) / 1e6;
  assert.ok(ms >= 180, `the streaming call's SERVER span lasted ${ms} ms (two 100 ms gaps)`);
});

test('grpcio: four clients at once against one server, 100 kB messages in DATA frames over 16 KiB: every call once, with its sizes; DATA skipped in BPF, nothing dropped', async () => {
  const before = { skipped: receiver.total('tlsotel.bpf.skipped_bytes'), drops: receiver.total('tlsotel.bpf.ring_buffer.dropped_records') };
  const server = await grpcioServer();
  const clients = await Promise.all([0, 1, 2, 3].map(() => grpcioClient(server.port, `2x3x${MESSAGE}`)));
  const n = clients.length * 2 * 4; // per client: 2 channels × (3 SayHello + 1 Fail)
  const of = (kind: 'CLIENT' | 'SERVER') => receiver.spans.filter((s) => s.kind === kind && (kind === 'SERVER' ? s.resource['process.pid'] === server.pid : clients.some((c) => c.pid === s.resource['process.pid'])));
  await receiver.waitFor(() => of('CLIENT').length >= n && of('SERVER').length >= n, 30_000).catch(() => {});
  const [cs, ss] = [of('CLIENT'), of('SERVER')];
  const why = () => `CLIENT spans per client: ${clients.map((c) => cs.filter((s) => s.resource['process.pid'] === c.pid).length)}, SERVER spans: ${ss.length}; agent: ${agent.stderr().split('\n').filter((l) => !/attached to/.test(l)).slice(-8).join(' | ')}`;
  assert.equal(cs.length, n, why());
  assert.equal(ss.length, n, why());
  checkGreeterSide(cs, 'CLIENT', server.port, 'boringssl');
  checkGreeterSide(ss, 'SERVER', server.port, 'boringssl');
  checkStitched(cs, ss);
  // A SayHello request is one gRPC message of MESSAGE bytes (5 bytes of framing; one frame:
  // grpc's C core allows 4 MiB frames in SETTINGS it sends before reading the client's
  // preface), its response "hello " + the request.
  for (const s of [...cs, ...ss].filter((x) => x.name === 'helloworld.Greeter/SayHello')) {
    assert.equal(s.attributes['http.request.body.size'], MESSAGE + 5, JSON.stringify(s.attributes));
    assert.equal(s.attributes['http.response.body.size'], MESSAGE + 11, JSON.stringify(s.attributes));
  }
  // Those DATA payloads are counted in BPF, not copied (README "Body skipping"), at both ends
  // and in both directions: before that, 4 clients' 100 kB messages at once overflowed the ring.
  const calls = clients.length * 2 * 3;
  const want = before.skipped + 0.9 * 4 * calls * MESSAGE;
  await receiver.waitForTotal('tlsotel.bpf.skipped_bytes', before.skipped, want);
  assert.equal(receiver.total('tlsotel.bpf.ring_buffer.dropped_records'), before.drops, 'no record lost to a full ring');
});

test('curl_cffi (BoringSSL with symbols) → nginx over HTTP/2 and HTTP/1.1: CLIENT spans named for BoringSSL, stitched to nginx', async () => {
  const tag = `cc${process.pid}`;
  const script = [
    'import sys',
    'from curl_cffi import requests, CurlHttpVersion',
    'print("imported", flush=True)',
    'sys.stdin.readline()',
    'for v, name in ((CurlHttpVersion.V2TLS, "h2"), (CurlHttpVersion.V1_1, "h1")):',
    '    s = requests.Session(verify=False)',
    '    for i in range(2):',
    '        r = s.get(f"https://127.0.0.1:{sys.argv[1]}/{sys.argv[2]}/{name}/{i}", http_version=v)',
    '        assert r.status_code == 200, r.status_code',
    '    s.close()',
    'print("done", flush=True)',
  ].join('\n');
  // Its module is a file new to the agent, attached a few ms after Python maps it: the requests
  // wait for that (the first requests of new programs are README's Discovery matter, not this).
  const attached = agent.waitFor(/attached to \S*curl_cffi\S*\.so \(boringssl\)/, 'stderr', 30_000);
  const c = track(start(py, ['-c', script, String(nginx.port), tag], { stdio: ['pipe', 'pipe', 'pipe'] }));
  await c.waitFor(/imported/, 'stdout', 30_000);
  await attached;
  c.child.stdin!.write('go\n');
  await c.waitFor(/done/, 'stdout', 30_000);
  const mine = () => receiver.spans.filter((s) => String(s.attributes['url.path'] ?? '').startsWith(`/${tag}/`));
  await receiver.waitFor(() => mine().filter((s) => s.kind === 'CLIENT').length >= 4 && mine().filter((s) => s.kind === 'SERVER').length >= 4, 20_000).catch(() => {});
  const clients = mine().filter((s) => s.kind === 'CLIENT' && s.resource['process.pid'] === c.pid);
  const servers = mine().filter((s) => s.kind === 'SERVER');
  assert.deepEqual(clients.map((s) => s.attributes['url.path']).sort(), [`/${tag}/h1/0`, `/${tag}/h1/1`, `/${tag}/h2/0`, `/${tag}/h2/1`]);
  for (const s of clients) {
    const what = JSON.stringify(s.attributes);
    assert.equal(s.attributes['tlsotel.tls.library'], 'boringssl', what);
    assert.equal(s.attributes['http.response.status_code'], 200, what);
    assert.equal(s.attributes['network.protocol.version'], String(s.attributes['url.path']).includes('/h2/') ? '2' : '1.1', what);
    assert.equal(s.attributes['network.peer.port'], nginx.port, what);
  }
  assert.equal(servers.length, 4, `nginx's SERVER spans: ${servers.map((s) => s.attributes['url.path']).join()}`);
  for (const s of servers) {
    const parent = clients.find((x) => x.spanId === s.parentSpanId);
    assert.ok(parent, `nginx's span for ${s.attributes['url.path']} is the child of curl_cffi's`);
    assert.equal(parent.attributes['url.path'], s.attributes['url.path']);
  }
});

test('grpc-java client → grpc-java server (netty-tcnative, a deleted library): spans from both, stitched; the libraries detached at exit', async () => {
  const cpFile = execFileSync('bash', [path.join(ROOT, 'scripts/build-java-grpc.sh'), '--path'], { encoding: 'utf8' }).trim();
  if (!existsSync(cpFile)) throw new Error(`no Java gRPC peer at ${cpFile}: run scripts/install-test-deps.sh`);
  const cp = readFileSync(cpFile, 'utf8').trim();
  // Each JVM extracts its own copy of the library and deletes it once loaded: a new file each,
  // attached through /proc/PID/map_files, or by its path when the agent was quicker than the
  // unlink (then found deleted by a later scan).
  const lines = (re: RegExp) => agent.stderr().split('\n').filter((l) => re.test(l)).length;
  const ATTACHED = /attached to \/tmp\/\S*tcnative\S*\.so( \(deleted\))? \(boringssl\)/;
  const DETACHED = /detached from \/tmp\/\S*tcnative\S*\.so \(deleted\): no process maps it any more/;
  const waitLines = async (re: RegExp, n: number, ms: number) => {
    const until = Date.now() + ms;
    while (lines(re) < n) {
      if (Date.now() > until) throw new Error(`${n} lines ${re} expected in the agent's log:\n${agent.stderr().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const attached0 = lines(ATTACHED);
  const detached0 = lines(DETACHED);
  const server = track(start('java', ['-cp', cp, 'tlsotel.GrpcPeer', 'server', cert.cert, cert.key]));
  assert.match((await server.waitFor(/tls: \S+/, 'stdout', 60_000))[0], /OPENSSL/, 'netty-tcnative in use');
  const port = Number((await server.waitFor(/listening (\d+)/, 'stdout', 60_000))[1]);
  await waitLines(ATTACHED, attached0 + 1, 60_000);
  const client = track(start('java', ['-cp', cp, 'tlsotel.GrpcPeer', 'client', cert.cert, String(port), '3'], { stdio: ['pipe', 'pipe', 'pipe'] }));
  await client.waitFor(/ready/, 'stdout', 60_000);
  await waitLines(ATTACHED, attached0 + 2, 60_000);
  client.child.stdin!.write('go\n');
  await client.waitFor(/done/, 'stdout', 60_000);
  await receiver.waitFor((all) => all.filter(ofPid(client.pid, 'CLIENT')).length >= 4 && all.filter(ofPid(server.pid, 'SERVER')).length >= 4, 20_000).catch(() => {});
  const clients = receiver.spans.filter(ofPid(client.pid, 'CLIENT'));
  const servers = receiver.spans.filter(ofPid(server.pid, 'SERVER'));
  const want = ['helloworld.Greeter/Fail', 'helloworld.Greeter/SayHello', 'helloworld.Greeter/SayHello', 'helloworld.Greeter/SayHello'];
  assert.deepEqual(names(clients), want);
  assert.deepEqual(names(servers), want);
  checkGreeterSide(clients, 'CLIENT', port, 'boringssl');
  checkGreeterSide(servers, 'SERVER', port, 'boringssl');
  checkStitched(clients, servers);
  // Both JVMs gone: their deleted libraries are detached (their disk space is not kept).
  await client.exited;
  await server.stop('SIGKILL');
  await waitLines(DETACHED, detached0 + 2, 15_000);
});
