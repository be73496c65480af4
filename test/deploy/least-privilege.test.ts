// Least privilege: the agent runs as nobody with exactly the capabilities src/util/caps.ts (and
// the README) list, and traces programs of another user (root) from end to end; without any one
// of them it refuses to start with the one sentence for it; and the kernel itself refuses, without
// each one, the operation it is listed for (so the list is a minimum, not a guess).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { CLI, makeCert, python, requireRoot, run, start, type Proc } from '../helpers/procs';
import { startNginx, type Nginx } from '../helpers/nginx';
import { REQUIRED_CAPS, CAP_BPF, CAP_PERFMON } from '../../src/util/caps';
import { agentEnv, setprivArgs, startWithCaps } from './unprivileged';

const ALL = REQUIRED_CAPS.map((c) => c.name);
const tag = `lp${process.pid}`;
let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let nginx: Nginx;
let hidden: string;
let agent: Proc | undefined;

before(async () => {
  requireRoot();
  cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  // A private copy of OpenSSL in a directory only root may enter: reaching it takes the maps of a
  // root process (CAP_SYS_PTRACE) and a path the agent's user may not walk (CAP_DAC_READ_SEARCH).
  hidden = mkdtempSync(path.join(tmpdir(), 'tlsotel-lp-')); // mode 0700, owner root
  mkdirSync(path.join(hidden, 'lib'));
  for (const f of ['libssl.so.3', 'libcrypto.so.3']) copyFileSync(`/usr/lib/x86_64-linux-gnu/${f}`, path.join(hidden, 'lib', f));
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await receiver?.stop();
  if (hidden) rmSync(hidden, { recursive: true, force: true });
});

function capsOf(pid: number): { uid: string; eff: bigint } {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return { uid: /^Uid:\s+(\d+)/m.exec(status)![1], eff: BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)![1]}`) };
}

const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;

test('as nobody with exactly the listed capabilities: spans of root programs, their service name, and a private libssl only root may read', async () => {
  agent = startWithCaps(ALL, process.execPath, [CLI, 'run', '--otlp-endpoint', receiver.url, '--hold-new-programs'], { env: agentEnv({ OTEL_METRICS_EXPORTER: 'none' }) });
  await agent.waitFor(/ready/, 'stderr', 30_000);
  const held = capsOf(agent.pid);
  assert.equal(held.uid, '65534', 'the agent runs as nobody');
  assert.equal(held.eff, REQUIRED_CAPS.reduce((m, c) => m | (1n << BigInt(c.cap)), 0n), 'and holds exactly the listed capabilities');

  // curl → nginx, both root.
  const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/${tag}/curl`]);
  assert.equal((await curl.exited).code, 0, curl.stderr());
  const curlPath = `/${tag}/curl`;
  await receiver.waitFor((spans) => spans.some(ofPid(curl.pid)) && spans.some((s) => s.kind === 'SERVER' && s.attributes['url.path'] === curlPath), 15_000);
  const client = receiver.spans.find(ofPid(curl.pid))!;
  assert.equal(client.kind, 'CLIENT');
  assert.equal(client.attributes['url.path'], curlPath);
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.resource['process.executable.name'], 'curl');
  const server = receiver.spans.find((s) => s.kind === 'SERVER' && s.attributes['url.path'] === curlPath)!;
  assert.equal(server.resource['process.executable.name'], 'nginx');

  // python3 with the private libssl: found in its maps after it starts, opened through a 0700
  // directory; its OTEL_SERVICE_NAME read from its /proc/PID/environ.
  const script = `
import ssl, http.client, time, sys
maps = open('/proc/self/maps').read()
assert '${hidden}/lib/libssl.so.3' in maps, 'the private libssl is the one loaded'
for i in range(60):
    time.sleep(0.5)
    c = http.client.HTTPSConnection('127.0.0.1', ${nginx.port}, context=ssl._create_unverified_context())
    c.request('GET', '/${tag}/hidden/%d' % i); r = c.getresponse(); r.read(); c.close()
    print(r.status, flush=True)
`;
  const py = start(python(), ['-c', script], { env: { ...process.env, LD_LIBRARY_PATH: path.join(hidden, 'lib'), OTEL_SERVICE_NAME: `hidden-${tag}` } });
  try {
    await receiver.waitFor((spans) => spans.some((s) => ofPid(py.pid)(s) && String(s.attributes['url.path']).startsWith(`/${tag}/hidden/`)), 20_000);
  } finally {
    await py.stop('SIGKILL');
  }
  const pySpan = receiver.spans.find(ofPid(py.pid))!;
  assert.equal(pySpan.kind, 'CLIENT');
  assert.equal(pySpan.resource['service.name'], `hidden-${tag}`, "read from a root process's /proc/PID/environ");
  assert.match(agent.stderr(), new RegExp(`attached to .*${path.basename(hidden)}/lib/libssl\\.so\\.3`), agent.stderr());
  // With --hold-new-programs but without CAP_KILL it holds new programs of its own uid only (it
  // could not resume the others').
  assert.match(agent.stderr(), /holding new programs until their files are attached: only uid 65534's \(the agent lacks CAP_KILL/);
  // A short-lived curl of nobody's with a private libssl never seen: held, so its only request
  // is traced (root's python above was not held: it is traced from the libssl's attach on).
  const own = mkdtempSync(path.join(tmpdir(), 'tlsotel-lp-own-'));
  try {
    for (const f of ['libssl.so.3', 'libcrypto.so.3']) copyFileSync(`/usr/lib/x86_64-linux-gnu/${f}`, path.join(own, f));
    chmodSync(own, 0o755);
    const ownCurl = start('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'curl', '-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${nginx.port}/${tag}/own`],
      { cwd: '/', env: { ...process.env, LD_LIBRARY_PATH: own } });
    assert.equal((await ownCurl.exited).code, 0, ownCurl.stderr());
    await receiver.waitFor((spans) => spans.some((s) => s.kind === 'CLIENT' && s.attributes['url.path'] === `/${tag}/own`), 15_000);
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
  assert.doesNotMatch(agent.stderr(), /EACCES|EPERM|Permission denied|cannot resume/, agent.stderr());
  assert.equal((await agent.stop('SIGTERM')).code, 0, agent.stderr());
  agent = undefined;
});

for (const cap of ALL) {
  test(`without ${cap}: run and doctor say the one sentence for it`, async () => {
    const rest = ALL.filter((c) => c !== cap);
    const r = await run('setpriv', [...setprivArgs(rest), process.execPath, CLI, 'run', '--print'], { cwd: '/', env: agentEnv({}) });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^tlsotel: tlsotel needs ${cap} to .+: run tlsotel as root, or grant it`));
    const d = await run('setpriv', [...setprivArgs(rest), process.execPath, CLI, 'doctor'], { cwd: '/', env: agentEnv({}) });
    assert.equal(d.code, 1, d.stdout + d.stderr);
    assert.match(d.stdout, new RegExp(`^\\[fail\\] permission ${cap}: tlsotel needs ${cap} to `, 'm'));
    for (const other of rest) assert.match(d.stdout, new RegExp(`^\\[ ok \\] permission ${other}: held`, 'm'));
    assert.match(d.stdout, /^\[ ok \] --hold-new-programs: would hold only uid 65534's processes \(no CAP_KILL/m);
  });
}

// Without the agent's own check in the way: the kernel refuses each operation without its capability.
const PERF_UPROBE = `
import ctypes, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
utype = int(open('/sys/bus/event_source/devices/uprobe/type').read())
lib = ctypes.create_string_buffer(b'/usr/lib/x86_64-linux-gnu/libssl.so.3')
attr = bytearray(128)
struct.pack_into('<IIQ', attr, 0, utype, 128, 0)
struct.pack_into('<QQ', attr, 56, ctypes.addressof(lib), int(sys.argv[1], 16))
buf = ctypes.create_string_buffer(bytes(attr), 128)
fd = libc.syscall(298, buf, -1, 0, -1, 8)  # perf_event_open(attr, pid -1, cpu 0, group -1, CLOEXEC)
print(fd if fd >= 0 else -ctypes.get_errno())
`;

test('the kernel needs each capability for what it is listed for', async () => {
  // An offset where a probe may sit: the first instruction of SSL_write.
  const nm = await run('sh', ['-c', "nm -D --defined-only /usr/lib/x86_64-linux-gnu/libssl.so.3 | awk '$3 ~ /^SSL_write(@|$)/ { print $1 }'"]);
  const offset = nm.stdout.trim();
  assert.match(offset, /^[0-9a-f]+$/, nm.stderr);
  const asNobody = (caps: string[], cmd: string, args: string[]) => run('setpriv', [...setprivArgs(caps), cmd, ...args], { cwd: '/' });

  // CAP_SYS_ADMIN: a uprobe perf event; CAP_BPF and CAP_PERFMON (with everything else) are refused.
  const bpfPerfmon = ['CAP_BPF', 'CAP_PERFMON', ...ALL.filter((c) => c !== 'CAP_SYS_ADMIN')];
  assert.ok(CAP_BPF === 39 && CAP_PERFMON === 38);
  const refused = await asNobody(bpfPerfmon, python(), ['-c', PERF_UPROBE, offset]);
  assert.equal(refused.stdout.trim(), '-13', `uprobe perf event without CAP_SYS_ADMIN: ${refused.stdout}${refused.stderr}`);
  const allowed = await asNobody(['CAP_SYS_ADMIN'], python(), ['-c', PERF_UPROBE, offset]);
  assert.ok(Number(allowed.stdout.trim()) >= 0, `uprobe perf event with CAP_SYS_ADMIN: ${allowed.stdout}${allowed.stderr}`);

  // CAP_SYS_PTRACE: the executable and the root directory of a root process.
  const exe = `/proc/${nginx.pid}/exe`;
  const root = `/proc/${nginx.pid}/root/etc/hostname`;
  const noPtrace = ALL.filter((c) => c !== 'CAP_SYS_PTRACE');
  assert.notEqual((await asNobody(noPtrace, 'readlink', [exe])).code, 0, `${exe} is refused without CAP_SYS_PTRACE`);
  assert.notEqual((await asNobody(noPtrace, 'cat', [root])).code, 0, `${root} is refused without CAP_SYS_PTRACE`);
  assert.equal((await asNobody(['CAP_SYS_PTRACE'], 'readlink', [exe])).stdout, '/usr/sbin/nginx\n');
  assert.equal((await asNobody(['CAP_SYS_PTRACE'], 'cat', [root])).code, 0);

  // CAP_DAC_READ_SEARCH: the environ of a root process (mode 0400)…
  const environ = `/proc/${nginx.pid}/environ`;
  const noDac = await asNobody(ALL.filter((c) => c !== 'CAP_DAC_READ_SEARCH'), 'cat', [environ]);
  assert.notEqual(noDac.code, 0, `${environ} is refused without CAP_DAC_READ_SEARCH`);
  assert.equal((await asNobody(ALL, 'cat', [environ])).code, 0);
  // …and a library file behind a directory only root may enter.
  const lib = path.join(hidden, 'lib', 'libssl.so.3');
  const no = await asNobody(ALL.filter((c) => c !== 'CAP_DAC_READ_SEARCH'), 'head', ['-c4', lib]);
  assert.notEqual(no.code, 0, `${lib} is refused without CAP_DAC_READ_SEARCH`);
  const yes = await asNobody(['CAP_DAC_READ_SEARCH'], 'head', ['-c4', lib]);
  assert.equal(yes.code, 0, yes.stderr);
  assert.equal(yes.stdout, '\x7fELF');
});
