// HTTP/2 and gRPC end to end with real programs: curl (h2) → nginx with http2, node http2
// client → server with 100 concurrent streams, @grpc/grpc-js over TLS, and a node http2
// connection opened before the agent started. Spans checked at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, start, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

const PEERS = path.join(__dirname, 'h2-peers.js');
const STREAM_GAP_MS = 100; // h2-peers.ts: between the server-streaming call's messages
let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
const procs: Proc[] = [];
const tag = `h${process.pid}`;
const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;

function peer(...args: string[]): Proc {
  const p = start(process.execPath, [PEERS, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  procs.push(p);
  return p;
}

async function server(mode: 'h2-server' | 'grpc-server'): Promise<Proc & { port: number }> {
  const p = peer(mode, cert.cert, cert.key);
  const m = await p.waitFor(/listening (\d+)/);
  return Object.assign(p, { port: Number(m[1]) });
}

before(async () => {
  requireRoot();
  cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert, { http2: true });
  agent = await startAgent(['--otlp-endpoint', receiver.url], { OTEL_METRIC_EXPORT_INTERVAL: '500' });
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  for (const p of procs) await p.stop('SIGKILL');
  await receiver?.stop();
});

test('curl (h2) → nginx http2: 3 requests on one connection (a 404, a POST with a body): both sides, stitched', async () => {
  const body = path.join(cert.dir, 'body.bin');
  fs.writeFileSync(body, Buffer.alloc(1234, 0x61));
  const base = `https://127.0.0.1:${nginx.port}`;
  const curl = start('curl', [
    '-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}\\n', `${base}/h2/${tag}/a`,
    '--next', '-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}\\n', `${base}/status/404?${tag}`,
    '--next', '-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}\\n', '--data-binary', `@${body}`, `${base}/h2/${tag}/post`,
  ]);
  assert.equal((await curl.exited).code, 0, curl.stderr());
  assert.equal(curl.stdout(), '2 200\n2 404\n2 200\n');
  const mine = (s: ReceivedSpan) => String(s.attributes['url.path']).startsWith(`/h2/${tag}/`) || s.attributes['url.query'] === tag;
  await receiver.waitFor((spans) => spans.filter(mine).length >= 6, 15_000);
  const spans = receiver.spans.filter(mine);
  const clients = spans.filter((s) => s.kind === 'CLIENT');
  const servers = spans.filter((s) => s.kind === 'SERVER');
  assert.equal(clients.length, 3);
  assert.equal(servers.length, 3);
  assert.ok(clients.every(ofPid(curl.pid)));
  assert.ok(servers.every((s) => s.resource['service.name'] === 'nginx'));
  for (const group of [clients, servers]) {
    const by = (p: string) => group.find((s) => s.attributes['url.path'] === p)!;
    assert.equal(by(`/h2/${tag}/a`).attributes['http.request.method'], 'GET');
    assert.equal(by(`/h2/${tag}/a`).attributes['http.response.status_code'], 200);
    assert.equal(by(`/h2/${tag}/a`).attributes['http.response.body.size'], 3);
    assert.equal(by('/status/404').attributes['http.response.status_code'], 404);
    assert.equal(by(`/h2/${tag}/post`).attributes['http.request.method'], 'POST');
    assert.equal(by(`/h2/${tag}/post`).attributes['http.request.body.size'], 1234);
    for (const s of group) {
      assert.equal(s.attributes['network.protocol.version'], '2');
      assert.equal(s.attributes['url.scheme'], 'https');
      assert.equal(s.attributes['server.address'], '127.0.0.1');
      assert.equal(s.attributes['server.port'], nginx.port);
    }
  }
  assert.equal(clients.find((s) => s.attributes['url.path'] === '/status/404')!.status.code, 'ERROR');
  assert.equal(servers.find((s) => s.attributes['url.path'] === '/status/404')!.status.code, 'UNSET');
  // Stitched: each SERVER span is the child of the CLIENT span of the same stream.
  for (const s of servers) {
    const c = clients.find((x) => x.attributes['url.path'] === s.attributes['url.path'])!;
    assert.equal(s.traceId, c.traceId, String(s.attributes['url.path']));
    assert.equal(s.parentSpanId, c.spanId);
  }
});

test('node http2 client → node http2 server: 100 concurrent streams on one connection, each a correct span on both sides', async () => {
  const srv = await server('h2-server');
  const client = peer('h2-client', String(srv.port), '100', `/many/${tag}`);
  assert.equal((await client.exited).code, 0, client.stderr());
  assert.equal(client.stdout(), '100 ok\n');
  await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 100 && spans.filter(ofPid(srv.pid)).length >= 100, 20_000);
  for (const [pid, kind] of [[client.pid, 'CLIENT'], [srv.pid, 'SERVER']] as const) {
    const spans = receiver.spans.filter(ofPid(pid));
    assert.equal(spans.length, 100, kind);
    const paths = new Set(spans.map((s) => s.attributes['url.path']));
    assert.equal(paths.size, 100);
    for (const s of spans) {
      const i = Number(String(s.attributes['url.path']).split('/').pop());
      assert.equal(s.kind, kind);
      assert.equal(s.attributes['url.query'], `n=${i}`);
      assert.equal(s.attributes['http.response.status_code'], 200);
      // The body says which path it answered: a mispaired stream would have another length.
      assert.equal(s.attributes['http.response.body.size'], Buffer.byteLength(`/many/${tag}/${i}?n=${i} 0\n`));
      assert.equal(s.attributes['network.protocol.version'], '2');
    }
  }
});

test('curl (h2) → node http2 server (an empty SETTINGS as its preface), 100 kB each way: exact sizes, DATA skipped in BPF at both ends', async () => {
  const before = { skipped: receiver.total('tlsotel.bpf.skipped_bytes'), mismatches: receiver.total('tlsotel.http.skip_mismatches') };
  const size = 100_000;
  const srv = await server('h2-server');
  const body = path.join(cert.dir, 'big.bin');
  fs.writeFileSync(body, Buffer.alloc(size, 0x62));
  const curl = start('curl', ['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code} %{size_download}\\n',
    '--data-binary', `@${body}`, `https://127.0.0.1:${srv.port}/bytes/${size}?${tag}-big`]);
  assert.equal((await curl.exited).code, 0, curl.stderr());
  assert.equal(curl.stdout(), `2 200 ${size}\n`);
  const mine = (s: ReceivedSpan) => s.attributes['url.query'] === `${tag}-big`;
  await receiver.waitFor((spans) => spans.filter(mine).length >= 2, 15_000);
  const spans = receiver.spans.filter(mine);
  assert.deepEqual(spans.map((s) => s.kind).sort(), ['CLIENT', 'SERVER']);
  for (const s of spans) {
    assert.equal(s.attributes['http.request.body.size'], size, s.kind);
    assert.equal(s.attributes['http.response.body.size'], size, s.kind);
    assert.equal(s.attributes['tlsotel.exchange.error'], undefined, s.kind);
  }
  // Both bodies at both ends (curl's writes and reads, node's reads and writes).
  const want = before.skipped + 0.9 * 4 * size;
  await receiver.waitForTotal('tlsotel.bpf.skipped_bytes', before.skipped, want);
  assert.equal(receiver.total('tlsotel.http.skip_mismatches'), before.mismatches);
  await srv.stop('SIGKILL');
});

test('@grpc/grpc-js over TLS: unary OK, unary NOT_FOUND with its message, server-streaming lasting until its last message', async () => {
  const srv = await server('grpc-server');
  const client = peer('grpc-client', String(srv.port), cert.cert);
  assert.equal((await client.exited).code, 0, client.stderr());
  assert.equal(client.stdout(), 'hello tlsotel|5|3\n');
  await receiver.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 3 && spans.filter(ofPid(srv.pid)).length >= 3, 15_000);
  for (const [pid, kind] of [[client.pid, 'CLIENT'], [srv.pid, 'SERVER']] as const) {
    const spans = receiver.spans.filter(ofPid(pid));
    const by = (name: string) => spans.find((s) => s.name === name)!;
    const hello = by('helloworld.Greeter/SayHello');
    assert.equal(hello.kind, kind);
    assert.equal(hello.attributes['rpc.system.name'], 'grpc');
    assert.equal(hello.attributes['rpc.method'], 'helloworld.Greeter/SayHello');
    assert.equal(hello.attributes['rpc.status_code'], 'OK');
    assert.equal(hello.status.code, 'UNSET');
    const fail = by('helloworld.Greeter/Fail');
    assert.equal(fail.attributes['rpc.status_code'], 'NOT_FOUND');
    // NOT_FOUND is the caller's problem: an error on the client only.
    assert.equal(fail.status.code, kind === 'CLIENT' ? 'ERROR' : 'UNSET');
    if (kind === 'CLIENT') assert.equal(fail.status.message, 'no such greeting');
    const stream = by('helloworld.Greeter/LotsOfReplies');
    const ms = Number(stream.endTimeUnixNano - stream.startTimeUnixNano) / 1e6;
    assert.ok(ms >= 2 * STREAM_GAP_MS * 0.9, `the streaming call's span lasted ${ms} ms`);
    assert.equal(stream.attributes['rpc.status_code'], 'OK');
  }
});

test('an HTTP/2 connection opened before the agent started: later requests are spans with their real paths, never a wrong value', async () => {
  const srv = await server('h2-server');
  const client = peer('h2-joined', String(srv.port), `/joined/${tag}`);
  await client.waitFor(/connected/);
  const own = await startOtlpReceiver();
  const late = await startAgent(['--otlp-endpoint', own.url, '--pid', String(client.pid)]);
  try {
    client.child.stdin!.write('go\n');
    assert.equal((await client.exited).code, 0, client.stderr());
    assert.equal(client.stdout(), 'connected\n200 200 200 200 200\n');
    await own.waitFor((spans) => spans.filter(ofPid(client.pid)).length >= 5, 15_000);
    const spans = own.spans.filter(ofPid(client.pid));
    assert.equal(spans.length, 5);
    for (const s of spans) {
      const p = String(s.attributes['url.path']);
      const m = /^\/joined\/[^/]+\/after\/(\d)$/.exec(p);
      assert.ok(m, `a real path: ${p}`);
      assert.equal(s.attributes['url.query'], `k=${m![1]}`);
      assert.equal(s.attributes['http.request.method'], 'GET');
      assert.equal(s.attributes['http.response.status_code'], 200);
      assert.equal(s.attributes['http.response.body.size'], Buffer.byteLength(`${p}?k=${m![1]} 0\n`));
      // Entries inserted before the agent joined (:authority, user-agent) are unknown, not guessed.
      const ua = s.attributes['user_agent.original'];
      assert.ok(ua === undefined || ua === 'h2-peers', String(ua));
    }
  } finally {
    await late.stop('SIGKILL');
    await own.stop();
  }
});
