// container.id and k8s.pod.uid come from a process's cgroup path when it has the shape container
// runtimes give it, and are absent otherwise (never a wrong value). The cgroups are made by the
// test, in the shapes containerd's CRI plugin uses (cgroupfs driver) and in a shape no runtime
// uses; spans checked at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';

/** A cgroup hierarchy we may make directories in (cgroup v2, else v1's pids controller). */
function hierarchy(): string {
  for (const dir of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/pids', '/sys/fs/cgroup']) {
    if (fs.existsSync(path.join(dir, 'cgroup.procs'))) return dir;
  }
  throw new Error('no writable cgroup hierarchy found under /sys/fs/cgroup');
}

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
const made: string[] = [];
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
  // A cgroup is removed with rmdir once empty (its processes were killed above).
  for (const dir of made.reverse()) {
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
});

/** Makes the cgroup `rel` (each level), moves `pid` into it. */
function enter(rel: string, pid: number): void {
  let dir = hierarchy();
  for (const part of rel.split('/')) {
    dir = path.join(dir, part);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir);
      made.push(dir);
    }
  }
  fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
}

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
