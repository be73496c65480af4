// Who talks to whom: socket addresses on every span, traceparent, and same-host stitching of a
// CLIENT span (process A) with the SERVER span (process B) of the same exchange. Checked at a
// real OTLP/gRPC receiver against the ports the test itself opened.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, python, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
let node6: Proc & { port: number };
const tag = `l${process.pid}`;

before(async () => {
  requireRoot();
  const cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  node6 = await startHttpsServer(cert, '::1');
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await node6?.stop('SIGKILL');
  await receiver?.stop();
});

const path = (s: ReceivedSpan) => String(s.attributes['url.path']);

function pair(spans: ReceivedSpan[], p: string): { client: ReceivedSpan; server: ReceivedSpan } {
  const client = spans.find((s) => path(s) === p && s.kind === 'CLIENT');
  const server = spans.find((s) => path(s) === p && s.kind === 'SERVER');
  assert.ok(client && server, `client and server span for ${p}`);
  return { client, server };
}

function assertLinked(client: ReceivedSpan, server: ReceivedSpan): void {
  assert.equal(server.traceId, client.traceId, 'one trace');
  assert.equal(server.parentSpanId, client.spanId, 'the CLIENT span is the parent of the SERVER span');
}

test('curl → nginx over IPv4: addresses and ports on both spans; the CLIENT span is the parent', async () => {
  const p = `/v4/${tag}`;
  const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{local_port}', `https://127.0.0.1:${nginx.port}${p}`]);
  assert.equal((await curl.exited).code, 0);
  const clientPort = Number(curl.stdout());
  assert.ok(clientPort > 0);
  await receiver.waitFor((spans) => spans.filter((s) => path(s) === p).length >= 2, 15_000);
  const { client, server } = pair(receiver.spans, p);
  for (const s of [client, server]) {
    assert.equal(s.attributes['network.type'], 'ipv4');
    assert.equal(s.attributes['server.address'], '127.0.0.1');
    assert.equal(s.attributes['server.port'], nginx.port);
    assert.equal(s.attributes['client.address'], '127.0.0.1');
    assert.equal(s.attributes['client.port'], clientPort);
  }
  assert.equal(client.attributes['network.peer.address'], '127.0.0.1');
  assert.equal(client.attributes['network.peer.port'], nginx.port);
  assert.equal(server.attributes['network.peer.address'], '127.0.0.1');
  assert.equal(server.attributes['network.peer.port'], clientPort);
  assertLinked(client, server);
  assert.equal(client.parentSpanId, undefined, 'no parent: the CLIENT span is the root');
});

test('python → node https server over IPv6 ::1: addresses and ports; stitched on a keep-alive connection', async () => {
  const script = `
import http.client, ssl
c = http.client.HTTPSConnection('::1', ${node6.port}, context=ssl._create_unverified_context())
c.connect(); print(c.sock.getsockname()[1], flush=True)
for i in range(3):
    c.request('GET', '/v6/${tag}/%d' % i); r = c.getresponse(); r.read()
`;
  const py = start(python(), ['-c', script]);
  assert.equal((await py.exited).code, 0, py.stderr());
  const clientPort = Number(py.stdout().trim());
  await receiver.waitFor((spans) => spans.filter((s) => path(s).startsWith(`/v6/${tag}/`)).length >= 6, 15_000);
  for (let i = 0; i < 3; i++) {
    const { client, server } = pair(receiver.spans, `/v6/${tag}/${i}`);
    assert.equal(client.resource['process.pid'], py.pid);
    assert.equal(server.resource['process.pid'], node6.pid);
    for (const s of [client, server]) {
      assert.equal(s.attributes['network.type'], 'ipv6');
      assert.equal(s.attributes['server.port'], node6.port);
      assert.equal(s.attributes['client.address'], '::1');
      assert.equal(s.attributes['client.port'], clientPort);
    }
    assert.equal(client.attributes['network.peer.address'], '::1');
    assert.equal(client.attributes['network.peer.port'], node6.port);
    assert.equal(server.attributes['network.peer.port'], clientPort);
    assertLinked(client, server);
  }
});

test('an incoming traceparent: the SERVER span has its trace id and parent span id', async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';
  const p = `/tp/${tag}`;
  const curl = start('curl', ['-sk', '--http1.1', '-H', `traceparent: 00-${traceId}-${spanId}-01`, `https://127.0.0.1:${nginx.port}${p}`]);
  assert.equal((await curl.exited).code, 0);
  await receiver.waitFor((spans) => spans.filter((s) => path(s) === p).length >= 2, 15_000);
  const { client, server } = pair(receiver.spans, p);
  assert.equal(server.traceId, traceId);
  assert.equal(server.parentSpanId, spanId);
  // The outgoing request carried it too: the CLIENT span is in that trace.
  assert.equal(client.traceId, traceId);
  assert.equal(client.parentSpanId, spanId);
});

test('50 concurrent keep-alive connections from 5 processes: every span has its own connection\'s addresses', async () => {
  const script = (proc: number) => `
import http.client, ssl, threading, sys
ctx = ssl._create_unverified_context()
out = []
def worker(k):
    c = http.client.HTTPSConnection('::1', ${node6.port}, context=ctx)
    c.connect()
    out.append('%d %d' % (k, c.sock.getsockname()[1]))
    for i in range(3):
        c.request('GET', '/many/${tag}/${proc}/%d/%d' % (k, i)); r = c.getresponse(); r.read()
    c.close()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(10)]
[t.start() for t in ts]; [t.join() for t in ts]
print('\\n'.join(out))
`;
  const procs = [0, 1, 2, 3, 4].map((n) => ({ n, p: start(python(), ['-c', script(n)]) }));
  const ports = new Map<string, number>(); // "proc/conn" → client port
  for (const { n, p } of procs) {
    assert.equal((await p.exited).code, 0, p.stderr());
    for (const line of p.stdout().trim().split('\n')) {
      const [k, port] = line.split(' ').map(Number);
      ports.set(`${n}/${k}`, port);
    }
  }
  assert.equal(ports.size, 50);
  assert.equal(new Set(ports.values()).size, 50, '50 distinct connections');
  const mine = (s: ReceivedSpan) => path(s).startsWith(`/many/${tag}/`);
  await receiver.waitFor((spans) => spans.filter(mine).length >= 300, 30_000);
  const spans = receiver.spans.filter(mine);
  assert.equal(spans.length, 300);
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (const s of spans) {
    const [, , , proc, conn] = path(s).split('/');
    const port = ports.get(`${proc}/${conn}`);
    assert.equal(s.attributes['client.port'], port, `${s.kind} ${path(s)}: client port of its own connection`);
    assert.equal(s.attributes[s.kind === 'CLIENT' ? 'network.local.port' : 'network.peer.port'], port);
    assert.equal(s.attributes['server.port'], node6.port);
    if (s.kind === 'CLIENT') assert.equal(s.resource['process.pid'], procs[Number(proc)].p.pid);
    if (s.kind === 'SERVER') {
      const parent = byId.get(s.parentSpanId ?? '');
      assert.ok(parent, `${path(s)}: stitched to a CLIENT span`);
      assert.equal(path(parent), path(s), 'to the CLIENT span of the same exchange');
      assert.equal(parent.kind, 'CLIENT');
    }
  }
});

// One thread, one connection after another, each freed before the next is made: the allocator
// hands the next SSL object the address of the last (the connection's identity in BPF), so a
// connection's socket must be looked up anew each time — never the freed one's remembered.
test('30 connections one after another on one thread (SSL objects reused at one address): each span has its own connection\'s client port', async () => {
  const p = `/seq/${tag}`;
  const script = `
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for i in range(30):
    with socket.create_connection(('127.0.0.1', ${nginx.port})) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
            port = s.getsockname()[1]
            s.sendall(f'GET ${p}/{i} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n'.encode())
            while s.recv(65536): pass
            print(i, port, flush=True)
`;
  const py = start(python(), ['-c', script]);
  assert.equal((await py.exited).code, 0, py.stderr());
  const ports = new Map(py.stdout().trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]));
  assert.equal(ports.size, 30);
  await receiver.waitFor((spans) => spans.filter((s) => path(s).startsWith(`${p}/`)).length >= 60, 15_000).catch((e) => {
    throw new Error(`${(e as Error).message}: ${receiver.spans.filter((s) => path(s).startsWith(`${p}/`)).map((s) => `${s.kind} ${path(s)}`).join(', ')}`);
  });
  for (const [i, port] of ports) {
    const { client, server } = pair(receiver.spans, `${p}/${i}`);
    assert.equal(client.attributes['client.port'], port, `request ${i}: the CLIENT span's own connection`);
    assert.equal(server.attributes['client.port'], port, `request ${i}: the SERVER span's own connection`);
    assertLinked(client, server);
  }
});

test('under CPU contention, every SERVER span lies within its CLIENT parent (writes stamped at entry, reads at return)', async () => {
  // Busy loops on every core make the scheduler preempt threads between a syscall and the
  // probe's stamp: with writes stamped at their return, a server could finish writing after its
  // client had read the whole response, or read a request before the client's write returned.
  const hogs = Array.from({ length: 4 }, () => start('sh', ['-c', 'while :; do :; done']));
  try {
    const n = 150;
    const script = `
import http.client, ssl
c = http.client.HTTPSConnection('127.0.0.1', ${nginx.port}, context=ssl._create_unverified_context())
for i in range(${n}):
    c.request('GET', '/contended/${tag}/%d' % i); r = c.getresponse(); r.read()
`;
    const py = start(python(), ['-c', script]);
    assert.equal((await py.exited).code, 0, py.stderr());
    const prefix = `/contended/${tag}/`;
    await receiver.waitFor((spans) => spans.filter((s) => path(s).startsWith(prefix)).length >= 2 * n, 30_000);
    const outside: string[] = [];
    for (let i = 0; i < n; i++) {
      const { client, server } = pair(receiver.spans, `${prefix}${i}`);
      assertLinked(client, server);
      // Strictly before: a CLIENT span whose start was stamped after its child's is moved to the
      // child's start by the linker (a guard), which would show here as the same time.
      if (server.startTimeUnixNano <= client.startTimeUnixNano) outside.push(`${i}: server starts ${client.startTimeUnixNano - server.startTimeUnixNano} ns before its client, or with it`);
      if (server.endTimeUnixNano > client.endTimeUnixNano) outside.push(`${i}: server ends ${server.endTimeUnixNano - client.endTimeUnixNano} ns after its client`);
    }
    assert.deepEqual(outside, []);
  } finally {
    for (const h of hogs) await h.stop('SIGKILL');
  }
});
