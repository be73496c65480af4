// container.id and k8s.pod.uid come from a process's cgroup path when it has the shape container
// runtimes give it, and are absent otherwise (never a wrong value). The cgroups are made by the
// test, in the shapes containerd's CRI plugin uses (cgroupfs driver) and in a shape no runtime
// uses; spans checked at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { TestCgroups } from '../helpers/cgroups';

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
const cgroups = new TestCgroups();
const tag = `cg${process.pid}`;

before(async () => {
  requireRoot();
  cert = makeCert();
  receiver = await startOtlpReceiver();
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await receiver?.stop();
  await cgroups.remove();
});

const enter = (rel: string, pid: number) => cgroups.enter(rel, pid);

async function serverSpan(server: Proc & { port: number }, p: string) {
  const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${server.port}${p}`]);
  assert.equal((await curl.exited).code, 0);
  await receiver.waitFor((spans) => spans.some((s) => s.kind === 'SERVER' && s.attributes['url.path'] === p), 15_000);
  return receiver.spans.find((s) => s.kind === 'SERVER' && s.attributes['url.path'] === p)!;
}

test('a process in a Kubernetes pod\'s container cgroup: container.id and k8s.pod.uid from it', async () => {
  const uid = randomUUID();
  const cid = randomBytes(32).toString('hex');
  const server = await startHttpsServer(cert);
  try {
    enter(`kubepods-${tag}/besteffort/pod${uid}/${cid}`, server.pid);
    const s = await serverSpan(server, `/pod/${tag}`);
    assert.equal(s.resource['container.id'], cid);
    assert.equal(s.resource['k8s.pod.uid'], uid);
  } finally {
    await server.stop('SIGKILL');
  }
});

test('a 64-hex cgroup name that no runtime makes is not taken for a container id', async () => {
  const cid = randomBytes(32).toString('hex');
  const server = await startHttpsServer(cert);
  try {
    enter(`tlsotel-jobs-${tag}/${cid}`, server.pid);
    const s = await serverSpan(server, `/nopod/${tag}`);
    assert.equal(s.resource['container.id'], undefined);
    assert.equal(s.resource['k8s.pod.uid'], undefined);
  } finally {
    await server.stop('SIGKILL');
  }
});
