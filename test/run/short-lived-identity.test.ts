// Who a short-lived client is: a curl lives a few ms, and is gone before the agent handles its
// records and could read /proc/PID. The probes take its environment, executable name and cgroup
// path at its first connection (a proc record, bpf/tlsotel.bpf.c proc_identity), so its spans
// still carry its own OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and container.id. Checked at a
// real OTLP/gRPC receiver; before proc records, most of these spans carried "curl" and nothing
// else.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, start } from '../helpers/procs';
import { cleanEnv, startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';
import { TestCgroups, hierarchy } from '../helpers/cgroups';
import type { Proc } from '../helpers/procs';

let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
const cgroups = new TestCgroups();
const tag = `sl${process.pid}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-short-'));

before(async () => {
  requireRoot();
  const cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await receiver?.stop();
  await cgroups.remove();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const clientSpan = (p: string) => (spans: ReceivedSpan[]) => spans.find((s) => s.kind === 'CLIENT' && s.attributes['url.path'] === p);

/** Runs `argv` (a curl) with `env` added, and returns its CLIENT span for path `p`. */
async function run(argv: string[], env: NodeJS.ProcessEnv, p: string): Promise<ReceivedSpan> {
  const proc = start(argv[0], argv.slice(1), { env: cleanEnv(env) });
  assert.equal((await proc.exited).code, 0, proc.stderr());
  await receiver.waitFor((spans) => clientSpan(p)(spans) !== undefined, 15_000);
  return clientSpan(p)(receiver.spans)!;
}

const url = (p: string) => `https://127.0.0.1:${nginx.port}${p}`;

test('twelve curls, one request each: every span carries its own OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES', async () => {
  for (let i = 0; i < 12; i++) {
    const p = `/${tag}/env/${i}`;
    const span = await run(['curl', '-sk', '--http1.1', '-o', '/dev/null', url(p)], {
      OTEL_SERVICE_NAME: `short-${tag}-${i}`,
      OTEL_RESOURCE_ATTRIBUTES: `deployment.environment.name=env-${i},service.namespace=ns%20${i}`,
    }, p);
    assert.equal(span.resource['service.name'], `short-${tag}-${i}`, `curl ${i}: its OTEL_SERVICE_NAME`);
    assert.equal(span.resource['deployment.environment.name'], `env-${i}`, `curl ${i}: its OTEL_RESOURCE_ATTRIBUTES`);
    assert.equal(span.resource['service.namespace'], `ns ${i}`, `curl ${i}: values percent-decoded`);
    assert.equal(span.resource['process.executable.name'], 'curl');
  }
});

test('curls whose environment is larger than a proc record holds: their OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are found wherever they are', async () => {
  // A Kubernetes namespace with many services gives each container seven link variables a
  // service: here 48 KB of them, OTEL_SERVICE_NAME after the first 30 KB and
  // OTEL_RESOURCE_ATTRIBUTES last. The probes send only those two entries of such an environment.
  const links = (from: number, to: number) => {
    const env: NodeJS.ProcessEnv = {};
    for (let i = from; i < to; i++) {
      env[`SERVICE_${i}_PORT_8443_TCP_ADDR`] = `10.96.${i >> 8}.${i & 255}`.padEnd(500, '.');
    }
    return env;
  };
  for (let i = 0; i < 4; i++) {
    const p = `/${tag}/large-env/${i}`;
    const span = await run(['curl', '-sk', '--http1.1', '-o', '/dev/null', url(p)], {
      ...links(0, 40),
      // Longer than the probes keep of one entry (4 KB): left out, and the scan goes on.
      OTEL_EXPORTER_OTLP_HEADERS: `x-large=${'h'.repeat(6000)}`,
      ...links(40, 48),
      OTEL_SERVICE_NAME: `large-env-${tag}-${i}`,
      ...links(48, 96),
      OTEL_RESOURCE_ATTRIBUTES: `deployment.environment.name=large-${i}`,
    }, p);
    assert.equal(span.resource['service.name'], `large-env-${tag}-${i}`, `curl ${i}: its OTEL_SERVICE_NAME, 30 KB into its environment`);
    assert.equal(span.resource['deployment.environment.name'], `large-${i}`, `curl ${i}: its OTEL_RESOURCE_ATTRIBUTES, at the end`);
  }
});

test('a program whose file name is longer than the kernel\'s 15-byte comm: service.name is the whole name', async () => {
  const name = `tlsotel-client-with-a-long-name-${process.pid}`;
  const exe = path.join(tmp, name);
  fs.copyFileSync(execFileSync('sh', ['-c', 'command -v curl']).toString().trim(), exe);
  fs.chmodSync(exe, 0o755);
  const p = `/${tag}/long-name`;
  const span = await run([exe, '-sk', '--http1.1', '-o', '/dev/null', url(p)], {}, p);
  assert.equal(span.resource['service.name'], name, 'not the comm, cut at 15 bytes');
  assert.equal(span.resource['process.executable.name'], name);
});

test('a curl in a container\'s cgroup (cgroup v2), gone before its records are handled: container.id from the path the probes read', async () => {
  // The probes read the cgroup v2 (unified) path: the test's cgroup must be made there.
  const h = hierarchy();
  const CGROUP2_SUPER_MAGIC = 0x63677270;
  assert.equal(fs.statfsSync(h).type, CGROUP2_SUPER_MAGIC, `a cgroup v2 hierarchy to make the container's cgroup in (found ${h})`);
  const id = randomBytes(32).toString('hex');
  const procs = cgroups.make(`tlsotel-${tag}.slice/docker-${id}.scope`);
  const p = `/${tag}/container`;
  const span = await run(['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', procs, 'curl', '-sk', '--http1.1', '-o', '/dev/null', url(p)],
    { OTEL_SERVICE_NAME: `contained-${tag}` }, p);
  assert.equal(span.resource['container.id'], id);
  assert.equal(span.resource['service.name'], `contained-${tag}`);
});
