// A target in a container-like sandbox of its own: its own mount and PID namespaces and its own
// root (the Debian root scripts/build-debian-root.sh makes with debootstrap, with its own copy
// of node, which carries OpenSSL). The host's agent attaches to the node inside that root
// (reached through /proc/PID/root, or its host path, whichever has the inode the mapping names),
// reads the process's own OTEL_SERVICE_NAME, and its requests to a server on the host are spans.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver';
import { ROOT, makeCert, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';

let receiver: OtlpReceiver;
let agent: Proc;
let server: Proc & { port: number };
let rootfs: string;
const tag = `ct${process.pid}`;

before(async () => {
  requireRoot();
  // Built by scripts/install-test-deps.sh; prints the path (builds it when missing).
  rootfs = execFileSync('bash', [path.join(ROOT, 'scripts/build-debian-root.sh')], { encoding: 'utf8' }).trim();
  const cert = makeCert();
  receiver = await startOtlpReceiver();
  server = await startHttpsServer(cert);
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await server?.stop('SIGKILL');
  await receiver?.stop();
});

test('node inside its own root, mount and PID namespaces: a CLIENT span with its own OTEL_SERVICE_NAME', async () => {
  const p = `/from-container/${tag}`;
  // The wait lets the once-a-second /proc rescan find the root's node (a file the host does
  // not run) before the request.
  const script = `setTimeout(() => require('https').get({ host: '127.0.0.1', port: ${server.port}, path: '${p}', rejectUnauthorized: false }, (r) => { r.resume(); r.on('end', () => process.exit(r.statusCode === 200 ? 0 : 1)); }), 2500)`;
  const client = start('unshare', ['--mount', '--pid', '--fork', `--root=${rootfs}`, '/usr/local/bin/node', '-e', script], {
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', OTEL_SERVICE_NAME: `in-container-${tag}` },
  });
  assert.equal((await client.exited).code, 0, client.stderr());
  await receiver.waitFor((spans) => spans.some((s) => s.kind === 'CLIENT' && s.attributes['url.path'] === p), 15_000);
  const span = receiver.spans.find((s) => s.kind === 'CLIENT' && s.attributes['url.path'] === p)!;
  assert.equal(span.resource['service.name'], `in-container-${tag}`);
  assert.equal(span.attributes['http.response.status_code'], 200);
  assert.equal(span.attributes['network.peer.port'], server.port);
  assert.match(agent.stderr(), /attached to \S*\/usr\/local\/bin\/node \(openssl\)/);
});
