// Go crypto/tls traced end to end: a Go net/http server and client (test/fixtures/go/tls-peer),
// built by the test with Debian's Go 1.19 and the machine's Go 1.26, as normal, PIE and stripped
// builds: curl → Go server, Go client → nginx, Go client → Go server, each 3 requests on one
// keep-alive connection with a 404. Spans checked at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../helpers/otlp-receiver';
import { makeCert, requireRoot, start, type Proc } from '../../helpers/procs';
import { startAgent } from '../../helpers/agent';
import { startNginx, type Nginx } from '../../helpers/nginx';
import { BUILD_DIR, TOOLCHAINS, buildFixture, type LinkMode, type Toolchain } from './go-toolchains';

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
let nginxH2: Nginx;
const procs: Proc[] = [];
const tag = `go${process.pid}`;
const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;
const [GO119, GO126] = TOOLCHAINS as [Toolchain, Toolchain];
/** Binaries by "release-mode", built before the agent starts into BUILD_DIR, which the agent
 *  searches as a library root: each is attached before it first runs, so that a program
 *  started at any time is traced from its first request, with no wait. */
const bins = new Map<string, string>();
const BUILDS: Array<[Toolchain, LinkMode]> = [[GO126, 'normal'], [GO126, 'pie'], [GO126, 'stripped'], [GO126, 'stripped-pie'], [GO119, 'normal'], [GO119, 'stripped']];

before(async () => {
  requireRoot();
  for (const [tc, mode] of BUILDS) bins.set(`${tc.release}-${mode}`, buildFixture(tc, 'tls-peer', mode));
  cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  nginxH2 = await startNginx(cert, { http2: true });
  // A deep export queue: the agent traces every program on the host, and other programs'
  // load (a benchmark beside this test) must not push these spans out of it.
  agent = await startAgent(['--otlp-endpoint', receiver.url, '--library-roots', BUILD_DIR, '--max-queue-size', '1000000']);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await nginxH2?.stop('SIGTERM');
  for (const p of procs) await p.stop('SIGKILL');
  await receiver?.stop();
  rmSync(BUILD_DIR, { recursive: true, force: true });
});

function peer(bin: string, ...args: string[]): Proc {
  const p = start(bins.get(bin)!, args);
  procs.push(p);
  return p;
}

async function goServer(bin: string): Promise<Proc & { port: number }> {
  const p = peer(bin, 'server', cert.cert, cert.key);
  const m = await p.waitFor(/listening (\d+)/);
  return Object.assign(p, { port: Number(m[1]) });
}

/** The three URLs of one keep-alive conversation: two paths of ours and a 404. */
const urls = (port: number, who: string) => [`https://127.0.0.1:${port}/${who}/${tag}/a`, `https://127.0.0.1:${port}/status/404`, `https://127.0.0.1:${port}/${who}/${tag}/b`];

function checkSide(spans: ReceivedSpan[], kind: 'CLIENT' | 'SERVER', who: string, serverPort: number): void {
  assert.equal(spans.length, 3, `${kind}: ${spans.map((s) => s.attributes['url.path']).join()}`);
  const by = (p: string) => spans.find((s) => s.attributes['url.path'] === p)!;
  for (const p of [`/${who}/${tag}/a`, `/${who}/${tag}/b`]) {
    assert.equal(by(p).kind, kind);
    assert.equal(by(p).attributes['http.request.method'], 'GET');
    assert.equal(by(p).attributes['http.response.status_code'], 200, `${kind} ${p}`);
  }
  assert.equal(by('/status/404').attributes['http.response.status_code'], 404);
  for (const s of spans) {
    const port = kind === 'CLIENT' ? s.attributes['network.peer.port'] : s.attributes['network.local.port'];
    assert.equal(port, serverPort, `${kind} addresses: ${JSON.stringify(s.attributes)}`);
    assert.equal(s.attributes['network.peer.address'], '127.0.0.1');
  }
  // One keep-alive connection: one client port for the three.
  const clientPorts = new Set(spans.map((s) => (kind === 'CLIENT' ? s.attributes['network.local.port'] : s.attributes['network.peer.port'])));
  assert.equal(clientPorts.size, 1);
}

function checkStitched(clients: ReceivedSpan[], servers: ReceivedSpan[]): void {
  for (const s of servers) {
    const c = clients.find((x) => x.attributes['url.path'] === s.attributes['url.path'])!;
    assert.equal(s.traceId, c.traceId, String(s.attributes['url.path']));
    assert.equal(s.parentSpanId, c.spanId);
  }
}

test('a Go binary (stripped, no symbol table) in a library root is attached before it runs: Write, Read and Close of crypto/tls.(*Conn)', async () => {
  const srv = await goServer('go1.26-stripped');
  assert.match(agent.stderr(), new RegExp(`attached to ${bins.get('go1.26-stripped')!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(go\\): crypto/tls\\.\\(\\*Conn\\)\\.Write, crypto/tls\\.\\(\\*Conn\\)\\.Read`));
  await srv.stop('SIGKILL');
});

for (const mode of ['normal', 'pie', 'stripped'] as const) {
  test(`curl → Go 1.26 server (${mode} build): SERVER spans with addresses, stitched to curl`, async () => {
    const srv = await goServer(`go1.26-${mode}`);
    const who = `curl-${mode}`;
    const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', ...urls(srv.port, who)]);
    assert.equal((await curl.exited).code, 0);
    await receiver.waitFor((spans) => spans.filter(ofPid(srv.pid)).length >= 3 && spans.filter(ofPid(curl.pid)).length >= 3, 15_000);
    const servers = receiver.spans.filter(ofPid(srv.pid));
    checkSide(servers, 'SERVER', who, srv.port);
    checkStitched(receiver.spans.filter(ofPid(curl.pid)), servers);
    await srv.stop('SIGKILL');
  });
}

for (const bin of ['go1.26-stripped-pie', 'go1.19-normal'] as const) {
  test(`Go client (${bin}) → nginx: CLIENT spans with addresses, stitched to nginx`, async () => {
    const who = `to-nginx-${bin}`;
    const client = peer(bin, 'client', ...urls(nginx.port, who));
    assert.equal((await client.exited).code, 0, client.stderr());
    assert.equal(client.stdout(), '200 HTTP/1.1\n404 HTTP/1.1\n200 HTTP/1.1\n');
    const mine = (s: ReceivedSpan) => String(s.attributes['url.path']).startsWith(`/${who}/`) || (s.attributes['url.path'] === '/status/404' && ofPid(client.pid)(s));
    await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 3 && spans.filter((s) => s.kind === 'SERVER' && String(s.attributes['url.path']).startsWith(`/${who}/`)).length >= 2, 15_000);
    const clients = receiver.spans.filter(ofPid(client.pid));
    checkSide(clients, 'CLIENT', who, nginx.port);
    assert.ok(clients.every((s) => s.attributes['tlsotel.tls.library'] === 'go'), 'the spans name the TLS library');
    checkStitched(clients, receiver.spans.filter((s) => s.kind === 'SERVER' && mine(s)));
  });
}

test('Go client over HTTP/2 (golang.org\'s h2 in net/http) → nginx http2: CLIENT spans of version 2, stitched', async () => {
  const who = 'go-h2';
  const client = peer('go1.26-normal', 'client', '-h2', ...urls(nginxH2.port, who));
  assert.equal((await client.exited).code, 0, client.stderr());
  assert.equal(client.stdout(), '200 HTTP/2.0\n404 HTTP/2.0\n200 HTTP/2.0\n');
  await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 3 && spans.filter((s) => s.kind === 'SERVER' && String(s.attributes['url.path']).startsWith(`/${who}/`)).length >= 2, 15_000);
  const clients = receiver.spans.filter(ofPid(client.pid));
  checkSide(clients, 'CLIENT', who, nginxH2.port);
  for (const s of clients) assert.equal(s.attributes['network.protocol.version'], '2');
  checkStitched(clients, receiver.spans.filter((s) => s.kind === 'SERVER' && String(s.attributes['url.path']).startsWith(`/${who}/`)));
});

test('Go 1.19 client → Go 1.19 server (stripped): both sides, stitched', async () => {
  const srv = await goServer('go1.19-stripped');
  const who = 'go-go';
  const client = peer('go1.19-normal', 'client', ...urls(srv.port, who));
  assert.equal((await client.exited).code, 0, client.stderr());
  await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 3 && spans.filter(ofPid(srv.pid)).length >= 3, 15_000);
  const clients = receiver.spans.filter(ofPid(client.pid));
  const servers = receiver.spans.filter(ofPid(srv.pid));
  checkSide(clients, 'CLIENT', who, srv.port);
  checkSide(servers, 'SERVER', who, srv.port);
  checkStitched(clients, servers);
  await srv.stop('SIGKILL');
});

test('a Go client making 20,000 requests under the agent: every one succeeds, every one is a span', async () => {
  const srv = await goServer('go1.26-normal');
  const client = peer('go1.26-pie', 'client', '-n', '10000', `https://127.0.0.1:${srv.port}/many/${tag}`, `https://127.0.0.1:${srv.port}/status/404`);
  const r = await client.exited;
  assert.equal(r.code, 0, client.stderr());
  assert.equal(client.stdout(), 'map[200:10000 404:10000]\n');
  await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 20_000, 60_000);
  assert.equal(agent.child.exitCode, null, 'the agent is still running');
  await srv.stop('SIGKILL');
});
