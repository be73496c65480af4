// GnuTLS traced as OpenSSL is: wget (GnuTLS) → nginx, and gnutls-cli → openssl s_server -www,
// with real programs; spans checked at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startOtlpReceiver, getFreePort, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, run, start, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
const tag = `g${process.pid}`;
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
  await receiver?.stop();
});

test('doctor lists libgnutls with its probes', async () => {
  const { CLI } = await import('../helpers/procs');
  const r = await run(process.execPath, [CLI, 'doctor']);
  assert.match(r.stdout, /libgnutls\.so\.30[.0-9]* .*: gnutls \d+\.\d+\.\d+; .*: gnutls_record_send2?, gnutls_record_recv, gnutls_deinit$/m);
});

test('wget (GnuTLS) → nginx: CLIENT spans with method, path, status and the socket\'s addresses, stitched to nginx', async () => {
  // Two requests on one connection (wget keeps it alive between URLs), one of them a 404.
  const urls = [`https://127.0.0.1:${nginx.port}/wget/${tag}/a?x=1`, `https://127.0.0.1:${nginx.port}/status/404?${tag}`];
  const wget = start('wget', ['-q', '--no-check-certificate', '-O', '/dev/null', ...urls]);
  await wget.exited; // exits 8 for the 404
  await receiver.waitFor((spans) => spans.filter(ofPid(wget.pid)).length >= 2, 15_000);
  const spans = receiver.spans.filter(ofPid(wget.pid));
  assert.ok(spans.every((s) => s.kind === 'CLIENT'));
  const a = spans.find((s) => s.attributes['url.path'] === `/wget/${tag}/a`)!;
  const nf = spans.find((s) => s.attributes['url.path'] === '/status/404')!;
  assert.equal(a.attributes['http.request.method'], 'GET');
  assert.equal(a.attributes['tlsotel.tls.library'], 'gnutls', JSON.stringify(a.attributes));
  assert.equal(a.attributes['http.response.status_code'], 200);
  assert.equal(a.attributes['network.peer.address'], '127.0.0.1');
  assert.equal(a.attributes['network.peer.port'], nginx.port);
  assert.equal(typeof a.attributes['network.local.port'], 'number');
  assert.equal(a.resource['service.name'], 'wget');
  assert.equal(nf.attributes['http.response.status_code'], 404);
  assert.equal(nf.status.code, 'ERROR');
  // nginx's SERVER span of the same exchange is the child of wget's.
  await receiver.waitFor((all) => all.some((s) => s.kind === 'SERVER' && s.attributes['url.path'] === `/wget/${tag}/a`), 10_000);
  const server = receiver.spans.find((s) => s.kind === 'SERVER' && s.attributes['url.path'] === `/wget/${tag}/a`)!;
  assert.equal(server.traceId, a.traceId);
  assert.equal(server.parentSpanId, a.spanId);
});

test('gnutls-cli → openssl s_server -www: a CLIENT span from the GnuTLS side, with addresses', async () => {
  const port = await getFreePort();
  const server = start('openssl', ['s_server', '-www', '-accept', String(port), '-cert', cert.cert, '-key', cert.key]);
  try {
    await server.waitFor(/ACCEPT/, 'stdout', 10_000);
    const cli = start('bash', ['-c', `printf 'GET /gnutls-cli/${tag} HTTP/1.0\\r\\n\\r\\n' | gnutls-cli --insecure --logfile=/dev/null -p ${port} 127.0.0.1`]);
    await cli.exited;
    await receiver.waitFor((spans) => spans.some((s) => s.kind === 'CLIENT' && s.attributes['url.path'] === `/gnutls-cli/${tag}`), 15_000);
    const s = receiver.spans.find((x) => x.kind === 'CLIENT' && x.attributes['url.path'] === `/gnutls-cli/${tag}`)!;
    assert.equal(s.resource['process.executable.name'], 'gnutls-cli');
    assert.equal(s.attributes['http.response.status_code'], 200);
    assert.equal(s.attributes['network.protocol.version'], '1.0');
    assert.equal(s.attributes['network.peer.port'], port);
  } finally {
    await server.stop('SIGKILL');
  }
});
