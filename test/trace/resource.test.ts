import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ProcessInfoReader, ResourceFactory, parseCgroup, parseResourceAttributes, readProcessInfo, readStartTime, resourceFor,
} from '../../src/trace/resource';
import { VERSION } from '../../src/trace/version';

const CID = 'a'.repeat(60) + '1234';

function fakeProc(): { root: string; add(pid: number, opts: { start: number; exe?: string; environ?: string[]; cgroup?: string; comm?: string }): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-proc-'));
  return {
    root,
    add(pid, opts) {
      const dir = path.join(root, String(pid));
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      // comm with spaces and parentheses, as the kernel allows.
      const fields = ['S', '1', '1', '1', '0', '-1', '4194304', '0', '0', '0', '0', '0', '0', '0', '0', '20', '0', '1', '0', String(opts.start), '0'];
      fs.writeFileSync(path.join(dir, 'stat'), `${pid} (${opts.comm ?? 'we (ird) name'}) ${fields.join(' ')}\n`);
      if (opts.exe) fs.symlinkSync(opts.exe, path.join(dir, 'exe'));
      if (opts.environ) fs.writeFileSync(path.join(dir, 'environ'), opts.environ.join('\0') + '\0');
      if (opts.cgroup !== undefined) fs.writeFileSync(path.join(dir, 'cgroup'), opts.cgroup);
    },
  };
}

test('readStartTime parses field 22 after a tricky comm', () => {
  const p = fakeProc();
  p.add(10, { start: 98765 });
  assert.equal(readStartTime(10, p.root), 98765);
  assert.equal(readStartTime(11, p.root), undefined);
  assert.ok(typeof readStartTime(process.pid) === 'number');
});

test('readProcessInfo: exe, OTEL_SERVICE_NAME, container id', () => {
  const p = fakeProc();
  p.add(20, {
    start: 5, exe: '/usr/bin/python3.11 (deleted)',
    environ: ['PATH=/bin', 'OTEL_SERVICE_NAME=checkout', 'OTEL_RESOURCE_ATTRIBUTES=service.name=ignored,deployment.environment.name=prod%20eu'],
    cgroup: `0::/system.slice/docker-${CID}.scope\n`,
  });
  const info = readProcessInfo(20, 'python3', p.root);
  assert.equal(info.pid, 20);
  assert.equal(info.exePath, '/usr/bin/python3.11');
  assert.equal(info.exeName, 'python3.11');
  assert.equal(info.serviceName, 'checkout');
  assert.equal(info.containerId, CID);
  assert.equal(info.startTime, 5);
  assert.deepEqual(info.resourceAttributes, { 'service.name': 'ignored', 'deployment.environment.name': 'prod eu' });
});

test('OTEL_RESOURCE_ATTRIBUTES service.name is used when OTEL_SERVICE_NAME is absent or blank', () => {
  const p = fakeProc();
  p.add(21, { start: 5, exe: '/usr/bin/node', environ: ['OTEL_SERVICE_NAME=  ', 'OTEL_RESOURCE_ATTRIBUTES=service.name=cart'] });
  assert.equal(readProcessInfo(21, 'node', p.root).serviceName, 'cart');
  p.add(22, { start: 5, exe: '/usr/bin/node', environ: ['HOME=/root'] });
  assert.equal(readProcessInfo(22, 'node', p.root).serviceName, 'node');
});

test('a process that is gone falls back to comm, never throws', () => {
  const p = fakeProc();
  const info = readProcessInfo(999999, 'wget', p.root);
  assert.deepEqual(info, { pid: 999999, comm: 'wget', exeName: 'wget', serviceName: 'wget' });
  const real = readProcessInfo(process.pid, 'node');
  assert.equal(real.exePath, process.execPath);
});

test('cache: per (pid, start time), keeps last identity after exit, bounded', () => {
  let now = 0;
  const p = fakeProc();
  const reader = new ProcessInfoReader({ procRoot: p.root, revalidateMs: 1000, maxEntries: 2, now: () => now });
  p.add(30, { start: 1, exe: '/usr/bin/curl' });
  const a = reader.read(30, 'curl');
  assert.equal(reader.read(30, 'curl'), a, 'cached object');
  // PID reused by another program: noticed at revalidation.
  p.add(30, { start: 2, exe: '/usr/bin/wget' });
  assert.equal(reader.read(30, 'curl'), a, 'still trusted before revalidateMs');
  now = 1500;
  const b = reader.read(30, 'wget');
  assert.equal(b.exeName, 'wget');
  // Exit: the last known identity stays.
  fs.rmSync(path.join(p.root, '30'), { recursive: true });
  now = 3000;
  assert.equal(reader.read(30, 'wget'), b);
  // Bounded.
  p.add(31, { start: 1, exe: '/bin/a' });
  p.add(32, { start: 1, exe: '/bin/b' });
  reader.read(31, 'a');
  reader.read(32, 'b');
  assert.equal(reader.size, 2);
});

test('cache: a thread with another comm is the same process; an exec is noticed', () => {
  const p = fakeProc();
  const reader = new ProcessInfoReader({ procRoot: p.root });
  p.add(40, { start: 1, exe: '/usr/bin/node' });
  const a = reader.read(40, 'node');
  assert.equal(reader.read(40, 'libuv-worker'), a);
  p.add(40, { start: 1, exe: '/usr/bin/curl' });
  assert.equal(reader.read(40, 'curl').exeName, 'curl');
});

test('learn: a process gone before its records are handled is known by what the probes took', () => {
  const p = fakeProc();
  const reader = new ProcessInfoReader({ procRoot: p.root });
  const captured = {
    startBoottimeNs: 12_345_678_901n, // 1234 ticks
    environ: 'PATH=/bin\0OTEL_SERVICE_NAME=checkout\0OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=prod%20eu\0',
    exeName: 'checkout-client-long-name',
    cgroupPath: `/system.slice/docker-${CID}.scope`,
  };
  // Gone: the capture alone.
  reader.learn(50, 'checkout-client', captured);
  const gone = reader.read(50, 'checkout-client');
  assert.deepEqual(gone, {
    pid: 50, comm: 'checkout-client', exeName: 'checkout-client-long-name', serviceName: 'checkout', containerId: CID,
    startTime: 1234, resourceAttributes: { 'deployment.environment.name': 'prod eu' },
  });
  // The pid already another process's (another start time): the capture, not that process.
  p.add(51, { start: 99, exe: '/usr/bin/wget', environ: ['OTEL_SERVICE_NAME=other'] });
  reader.learn(51, 'checkout-client', captured);
  assert.equal(reader.read(51, 'checkout-client').serviceName, 'checkout');
  // Alive: /proc, which knows the executable's path too.
  p.add(52, { start: 1234, exe: '/opt/bin/checkout-client-long-name', environ: ['OTEL_SERVICE_NAME=checkout'], cgroup: `0::/system.slice/docker-${CID}.scope\n` });
  reader.learn(52, 'checkout-client', captured);
  const alive = reader.read(52, 'checkout-client');
  assert.equal(alive.exePath, '/opt/bin/checkout-client-long-name');
  assert.equal(alive.serviceName, 'checkout');
  assert.equal(alive.containerId, CID);
  // Exiting (a zombie: its stat, no environment, no executable): the capture fills those in.
  p.add(53, { start: 1234, environ: [] });
  fs.writeFileSync(path.join(p.root, '53', 'environ'), '');
  reader.learn(53, 'checkout-client', captured);
  const zombie = reader.read(53, 'checkout-client');
  assert.equal(zombie.serviceName, 'checkout');
  assert.equal(zombie.exeName, 'checkout-client-long-name');
  assert.equal(zombie.containerId, CID);
  // Nothing captured either: the comm, as before.
  reader.learn(54, 'curl', { startBoottimeNs: 0n, environ: '', exeName: '', cgroupPath: undefined });
  assert.deepEqual(reader.read(54, 'curl'), { pid: 54, comm: 'curl', exeName: 'curl', serviceName: 'curl', startTime: 0 });
});

test('parseCgroup: docker, containerd (systemd and cgroupfs), cri-o, pod uid', () => {
  assert.deepEqual(parseCgroup(`12:memory:/docker/${CID}\n0::/\n`), { containerId: CID, podUid: undefined });
  assert.deepEqual(
    parseCgroup(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_0000_1111_2222_333344445555.slice/cri-containerd-${CID}.scope\n`),
    { containerId: CID, podUid: '1a2b3c4d-0000-1111-2222-333344445555' },
  );
  assert.deepEqual(parseCgroup(`0::/kubepods/besteffort/pod1a2b3c4d-0000-1111-2222-333344445555/${CID}\n`).containerId, CID);
  assert.equal(parseCgroup(`0::/machine.slice/crio-${CID}.scope`).containerId, CID);
  assert.deepEqual(parseCgroup('0::/user.slice/user-1000.slice/session-2.scope\n'), { containerId: undefined, podUid: undefined });
  assert.equal(parseCgroup(`0::/system.slice/docker-${CID}.scope`).containerId, CID);
  assert.equal(parseCgroup(`0::/machine.slice/libpod-${CID}.scope/container`).containerId, CID);
  // Not the shape a runtime makes: a 64-hex name anywhere else, a pod-like name outside kubepods.
  assert.deepEqual(parseCgroup(`0::/user.slice/build-cache/${CID}\n4:memory:/jobs/${CID}.scope\n`), { containerId: undefined, podUid: undefined });
  assert.deepEqual(parseCgroup('0::/podcasts/pod1a2b3c4d-0000-1111-2222-333344445555\n'), { containerId: undefined, podUid: undefined });
});

test('parseResourceAttributes skips bad pairs', () => {
  assert.deepEqual(parseResourceAttributes('a=1, b = x%2Cy ,bad,=v,c=%zz'), { a: '1', b: 'x,y' });
});

test('resourceFor: attributes, cached per process', () => {
  const info = { pid: 7, comm: 'curl', exeName: 'curl', exePath: '/usr/bin/curl', serviceName: 'curl', containerId: CID, podUid: 'u-1', resourceAttributes: { 'deployment.environment.name': 'prod', 'process.pid': 'nope' } };
  const f = new ResourceFactory({ hostName: 'node-1' });
  const r = f.resourceFor(info);
  assert.deepEqual(r.attributes, {
    'deployment.environment.name': 'prod',
    'service.name': 'curl',
    'process.pid': 7,
    'process.executable.name': 'curl',
    'process.executable.path': '/usr/bin/curl',
    'host.name': 'node-1',
    'container.id': CID,
    'k8s.pod.uid': 'u-1',
    'telemetry.distro.name': 'tlsotel',
    'telemetry.distro.version': VERSION,
  });
  assert.equal(f.resourceFor(info), r);
  assert.equal(f.resourceFor({ ...info }), r, 'same identity, new object');
  assert.notEqual(f.resourceFor({ ...info, pid: 8 }), r);
  assert.equal(resourceFor(info).attributes['host.name'], os.hostname());
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
});

test("the agent's own attributes (OTEL_RESOURCE_ATTRIBUTES, e.g. the DaemonSet's node name) sit under the process's and /proc's", () => {
  const info = { pid: 9, comm: 'nginx', exeName: 'nginx', serviceName: 'web', resourceAttributes: { 'k8s.cluster.name': 'from-app' } };
  const f = new ResourceFactory({ hostName: 'pod-x', agentAttributes: { 'k8s.node.name': 'node-7', 'k8s.cluster.name': 'from-agent', 'process.pid': '1', 'service.name': 'agent' } });
  const a = f.resourceFor(info).attributes;
  assert.equal(a['k8s.node.name'], 'node-7');
  assert.equal(a['k8s.cluster.name'], 'from-app', "the process's own OTEL_RESOURCE_ATTRIBUTES win");
  assert.equal(a['process.pid'], 9, 'what /proc says wins');
  assert.equal(a['service.name'], 'web');
});
