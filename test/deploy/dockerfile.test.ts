// The agent image without a Docker engine: the Dockerfile's steps replayed in a Debian bookworm
// root made with debootstrap (cached outside the clone by scripts/build-debian-root.sh), and the
// agent run from that root as the image would run it (user nobody, the pod's three capabilities
// as the bounding set, node's file capabilities, read-only root, the host's /proc as with hostPID)
// against curl → nginx outside it. What the image would contain is what is tested.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, ROOT, start, type Proc } from '../helpers/procs';
import { startNginx, type Nginx } from '../helpers/nginx';
import { REQUIRED_CAPS } from '../../src/util/caps';
import { parseDockerfile, replayScript } from './dockerfile-replay';

const tag = `img${process.pid}`;
let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let nginx: Nginx;
let scratch: string;
let agent: Proc | undefined;

before(async () => {
  requireRoot();
  cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  scratch = mkdtempSync(path.join(tmpdir(), 'tlsotel-image-'));
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await receiver?.stop();
  // The mounts lived in the agent's mount namespace and went with it.
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the Dockerfile replayed in a Debian root: the agent runs from it as nobody with file capabilities and traces curl → nginx outside it', async () => {
  const image = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  assert.equal(image.from, 'node:20-bookworm-slim', 'the cached root stands in for this base image (scripts/build-debian-root.sh)');
  assert.equal(image.user, '65534:65534', 'the image runs as nobody');
  const baseRoot = execFileSync('bash', [path.join(ROOT, 'scripts/build-debian-root.sh')], { encoding: 'utf8', timeout: 20 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  // The build context must hold the compiled agent, as it must for docker build.
  assert.ok(readFileSync(path.join(ROOT, 'dist/src/cli/main.js')).length > 0, 'npm run build first');

  const podCapabilities = REQUIRED_CAPS.map((c) => c.name.replace(/^CAP_/, '').toLowerCase());
  const script = replayScript(image, {
    baseRoot,
    context: ROOT,
    scratch,
    podCapabilities,
    args: ['run', '--otlp-endpoint', receiver.url],
    env: { OTEL_METRICS_EXPORTER: 'none', OTEL_RESOURCE_ATTRIBUTES: `k8s.node.name=${tag}` },
  });
  writeFileSync(path.join(scratch, 'replay.sh'), script);
  const t0 = Date.now();
  // unshare, bash, chroot, setpriv, sh and node exec one another: the pid is the agent's.
  agent = start('unshare', ['--mount', '--propagation', 'private', 'bash', path.join(scratch, 'replay.sh')], { env: { PATH: process.env.PATH } });
  await agent.waitFor(/replay: image built in \d+ s/, 'stderr', 15 * 60_000);
  await agent.waitFor(/ready/, 'stderr', 60_000);
  await agent.waitFor(/attached to \S*libssl\.so\.3/, 'stderr', 15_000);
  const built = /replay: image built in (\d+) s/.exec(agent.stderr())![1];
  process.stderr.write(`dockerfile replay: image built in ${built} s, agent ready after ${Math.round((Date.now() - t0) / 1000)} s\n`);

  // It is the image's agent: its root, its node (the host's is /usr/bin/node), nobody, exactly
  // the pod's capabilities, which came from node's file capabilities (nothing is ambient).
  const status = readFileSync(`/proc/${agent.pid}/status`, 'latin1');
  assert.equal(readlinkSync(`/proc/${agent.pid}/root`), path.join(scratch, 'rootfs'));
  assert.equal(readlinkSync(`/proc/${agent.pid}/exe`), path.join(scratch, 'rootfs/usr/local/bin/node'));
  assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
  const eff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)![1]}`);
  assert.equal(eff, REQUIRED_CAPS.reduce((m, c) => m | (1n << BigInt(c.cap)), 0n), 'exactly the three capabilities');
  assert.match(status, /^CapAmb:\s+0+$/m);
  const maps = readFileSync(`/proc/${agent.pid}/maps`, 'latin1');
  assert.match(maps, /libbpf\.so\.1/, "Debian's libbpf1, installed by the Dockerfile");

  const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/${tag}/x`]);
  assert.equal((await curl.exited).code, 0, curl.stderr());
  const p = `/${tag}/x`;
  const ofCurl = (s: ReceivedSpan) => s.resource['process.pid'] === curl.pid;
  await receiver.waitFor((spans) => spans.some(ofCurl) && spans.some((s) => s.kind === 'SERVER' && s.attributes['url.path'] === p), 15_000);
  const client = receiver.spans.find(ofCurl)!;
  assert.equal(client.kind, 'CLIENT');
  assert.equal(client.attributes['url.path'], p);
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.resource['process.executable.name'], 'curl');
  assert.equal(client.resource['k8s.node.name'], tag, "the agent's OTEL_RESOURCE_ATTRIBUTES (the DaemonSet's node name) on every span");
  const server = receiver.spans.find((s) => s.kind === 'SERVER' && s.attributes['url.path'] === p)!;
  assert.equal(server.resource['process.executable.name'], 'nginx');
  assert.doesNotMatch(agent.stderr(), /EACCES|EPERM|Permission denied|EROFS/, agent.stderr());
  assert.equal((await agent.stop('SIGTERM')).code, 0, agent.stderr().slice(-2000));
  agent = undefined;
});
