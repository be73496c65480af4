// Defects found when the agent was tried as a demanding user would, each with real programs:
// raw TLS peers (test/run/raw-tls.py: exactly the bytes the test says), curl and nginx; spans
// checked at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, python, requireRoot, sleep, start, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

const RAW = path.join(__dirname, '../../../test/run/raw-tls.py');
let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
const servers: Array<Proc & { port: number }> = [];
const tag = `d${process.pid}`;
let requests = 0;

async function rawServer(mode: 'ok' | 'http10' | 'bigheader' | 'silent'): Promise<Proc & { port: number }> {
  const p = start(python(), [RAW, 'server', cert.cert, cert.key, mode]);
  const m = await p.waitFor(/listening (\d+)/);
  const s = Object.assign(p, { port: Number(m[1]) });
  servers.push(s);
  return s;
}

/** A raw TLS client that sends `bytes` and reads the answer (until EOF, or `read` bytes). */
async function rawClient(port: number, bytes: string | Buffer, read?: number): Promise<{ pid: number; firstLine: string }> {
  const file = path.join(cert.dir, `request-${++requests}`);
  fs.writeFileSync(file, typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  const p = start(python(), [RAW, 'client', String(port), file, ...(read === undefined ? [] : [String(read)])]);
  const r = await p.exited;
  assert.equal(r.code, 0, p.stderr());
  return { pid: p.pid, firstLine: p.stdout().trim() };
}

const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;

before(async () => {
  requireRoot();
  cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  for (const s of servers) await s.stop('SIGKILL');
  await receiver?.stop();
});

test('a JWT as a path segment never leaves the agent: url.path and url.full say REDACTED, the name is templated', async () => {
  const jwt = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIke3RhZ30ifQ.${Buffer.from(tag).toString('base64url')}SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
  const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/users/${jwt}/profile?${tag}=1`]);
  assert.equal((await curl.exited).code, 0);
  const mine = (s: ReceivedSpan) => String(s.attributes['url.query']) === `${tag}=1`;
  await receiver.waitFor((spans) => spans.filter(mine).length >= 2, 15_000);
  for (const s of receiver.spans.filter(mine)) {
    assert.equal(s.attributes['url.path'], '/users/REDACTED/profile', s.kind);
    assert.equal(s.name, 'GET /users/{id}/profile');
  }
  const client = receiver.spans.find((s) => mine(s) && s.kind === 'CLIENT')!;
  assert.equal(client.attributes['url.full'], `https://127.0.0.1:${nginx.port}/users/REDACTED/profile?${tag}=1`);
  assert.ok(!receiver.rawBytes().toString('latin1').includes(jwt.slice(0, 40)), 'the JWT appears nowhere in the exported data');
});

test('a request line over 64 KiB answered 200: both spans, with the method, the status and what was cut', async () => {
  const server = await rawServer('ok');
  const client = await rawClient(server.port, `GET /long/${tag}?q=${'x'.repeat(70_000)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, 40);
  assert.equal(client.firstLine, 'HTTP/1.1 200 OK');
  await receiver.waitFor((spans) => spans.some(ofPid(client.pid)) && spans.some(ofPid(server.pid)), 15_000);
  for (const s of [receiver.spans.find(ofPid(client.pid))!, receiver.spans.find(ofPid(server.pid))!]) {
    assert.equal(s.attributes['http.request.method'], 'GET', s.kind);
    assert.equal(s.attributes['http.response.status_code'], 200, s.kind);
    assert.equal(s.attributes['tlsotel.exchange.error'], 'message_too_large', s.kind);
    assert.equal(s.attributes['url.path'], undefined, 'the path was cut: unknown, not guessed');
    assert.equal(s.status.code, 'UNSET', 'the agent cut it, the exchange was fine');
  }
});

test('a response header block over 64 KiB: the client span keeps the real status', async () => {
  const server = await rawServer('bigheader');
  const client = await rawClient(server.port, `GET /bighead/${tag} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  assert.equal(client.firstLine, 'HTTP/1.1 200 OK');
  await receiver.waitFor((spans) => spans.some(ofPid(client.pid)), 15_000);
  const s = receiver.spans.find(ofPid(client.pid))!;
  assert.equal(s.attributes['url.path'], `/bighead/${tag}`);
  assert.equal(s.attributes['http.response.status_code'], 200);
  assert.equal(s.attributes['tlsotel.exchange.error'], 'message_too_large');
  assert.equal(s.status.code, 'UNSET');
});

test('a request the server rejects (Content-Length and Transfer-Encoding) gets the 400, not the bytes read as a next request', async () => {
  const body = `0\r\n\r\nGET /smuggled/${tag} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
  const req = `POST /rejected/${tag} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
  const client = await rawClient(nginx.port, req);
  assert.equal(client.firstLine, 'HTTP/1.1 400 Bad Request');
  const mine = (s: ReceivedSpan) => String(s.attributes['url.path']).endsWith(`/${tag}`);
  await receiver.waitFor((spans) => spans.filter((s) => mine(s) && s.attributes['url.path'] === `/rejected/${tag}`).length >= 2, 15_000);
  await sleep(500);
  for (const s of receiver.spans.filter((x) => mine(x) && x.attributes['url.path'] === `/rejected/${tag}`)) {
    assert.equal(s.attributes['http.request.method'], 'POST', s.kind);
    assert.equal(s.attributes['http.response.status_code'], 400, s.kind);
  }
  for (const s of receiver.spans.filter((x) => mine(x) && x.attributes['url.path'] === `/smuggled/${tag}`)) {
    assert.equal(s.attributes['http.response.status_code'], undefined, `the server never answered /smuggled (${s.kind})`);
  }
});

test('a text protocol ("GET foo", no version, no answer) over TLS is not taken for HTTP', async () => {
  const server = await rawServer('silent');
  const text = await rawClient(server.port, 'GET foo\r\nset k 0 0 3\r\nbar\r\nGET /also-not-http\r\n', 0);
  // Control: the same kind of client to an HTTP server right after, so the agent has seen it.
  const ok = await rawServer('ok');
  const control = await rawClient(ok.port, `GET /control/${tag} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, 40);
  await receiver.waitFor((spans) => spans.some(ofPid(control.pid)), 15_000);
  await sleep(1500); // the silent server's connection closed by now: anything it made is out
  assert.deepEqual(receiver.spans.filter((s) => ofPid(text.pid)(s) || ofPid(server.pid)(s)).map((s) => s.name), []);
});

test('network.protocol.version is the response\'s: an HTTP/1.0 reply is 1.0', async () => {
  const server = await rawServer('http10');
  const client = await rawClient(server.port, `GET /v10/${tag} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  assert.equal(client.firstLine, 'HTTP/1.0 200 OK');
  await receiver.waitFor((spans) => spans.some(ofPid(client.pid)) && spans.some(ofPid(server.pid)), 15_000);
  assert.equal(receiver.spans.find(ofPid(client.pid))!.attributes['network.protocol.version'], '1.0');
  assert.equal(receiver.spans.find(ofPid(server.pid))!.attributes['network.protocol.version'], '1.0');
});

test('a CLIENT span without a Host header gets url.full from the socket address', async () => {
  const server = await rawServer('ok');
  const client = await rawClient(server.port, `GET /nohost/${tag}?a=1 HTTP/1.0\r\n\r\n`, 40);
  assert.equal(client.firstLine, 'HTTP/1.1 200 OK');
  await receiver.waitFor((spans) => spans.some(ofPid(client.pid)), 15_000);
  const s = receiver.spans.find(ofPid(client.pid))!;
  assert.equal(s.attributes['url.full'], `https://127.0.0.1:${server.port}/nohost/${tag}?a=1`);
  assert.equal(s.attributes['server.address'], '127.0.0.1');
  assert.equal(s.attributes['server.port'], server.port);
});

test('attribute values are cut to OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (default 4096): a 20 KiB query is not exported in full', async () => {
  const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/long-query/${tag}?q=${'y'.repeat(20_000)}`]);
  assert.equal((await curl.exited).code, 0);
  await receiver.waitFor((spans) => spans.some(ofPid(curl.pid)), 15_000);
  const s = receiver.spans.find(ofPid(curl.pid))!;
  assert.equal(String(s.attributes['url.query']).length, 4096);
  assert.equal(String(s.attributes['url.full']).length, 4096);

  // With the variable set: a second agent, tracing only a client that waits for it.
  const own = await startOtlpReceiver();
  const waiting = start(python(), ['-c', `
import ssl, time, http.client
time.sleep(3)
c = http.client.HTTPSConnection('127.0.0.1', ${nginx.port}, context=ssl._create_unverified_context())
c.request('GET', '/limit/${tag}?q=' + 'z' * 20000); r = c.getresponse(); r.read(); print(r.status)
`]);
  const second = await startAgent(['--otlp-endpoint', own.url, '--pid', String(waiting.pid)], { OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100' });
  try {
    assert.equal((await waiting.exited).code, 0, waiting.stderr());
    await own.waitFor((spans) => spans.some(ofPid(waiting.pid)), 15_000);
    const limited = own.spans.find(ofPid(waiting.pid))!;
    assert.equal(String(limited.attributes['url.query']).length, 100);
    assert.equal(String(limited.attributes['url.path']), `/limit/${tag}`);
  } finally {
    await second.stop('SIGKILL');
    await own.stop();
  }
});
