// Holding new programs (README, Discovery; --hold-new-programs): a process that execs or maps a file the agent has not
// examined, of TLS-library size, is stopped by the BPF side before its next instruction and
// resumed once the file is examined and attached. So a program started at any time, from a file
// in no library root (a Go program built or copied now, a private libssl), is traced from its
// first request: here every one of several, where without holding most are missed (the race in
// first-request.test.ts). And never where a stop could be seen: a process under a tracer, a
// terminal's foreground job, a threaded process loading a library, a small file; nor once the
// agent stops answering (its heartbeat); and a process held when the agent stops is resumed.
// Spans checked at a real OTLP/gRPC receiver; the agent runs as `tlsotel run`, with no library
// root, so that only the new-file events can find these files.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { latestTotal, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { ROOT, makeCert, python, requireRoot, run, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { BUILD_DIR, TOOLCHAINS, buildFixture } from '../tls/go/go-toolchains';

const SYSTEM_LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const N = 5;
let receiver: OtlpReceiver;
let agent: Proc;
let server: Proc & { port: number };
let dir: string;
let goBin: string;
let copies = 0;
const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;

before(async () => {
  requireRoot();
  goBin = buildFixture(TOOLCHAINS[1]!, 'tls-peer', 'normal');
  dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-hold-'));
  receiver = await startOtlpReceiver();
  server = await startHttpsServer(makeCert());
  agent = await startAgent(['--otlp-endpoint', receiver.url, '--library-roots', 'none', '--hold-new-programs', '--max-queue-size', '1000000', '-v'],
    { OTEL_METRIC_EXPORT_INTERVAL: '500' });
});

after(async () => {
  if (agent !== undefined && agent.child.exitCode === null) process.kill(agent.pid, 'SIGCONT'); // never leave it stopped
  await agent?.stop('SIGKILL');
  await server?.stop('SIGKILL');
  await receiver?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(BUILD_DIR, { recursive: true, force: true });
});

/** A fresh copy of `file` (a new inode: a file the agent has never seen), and its inode. */
function freshCopy(file: string, name: string): { file: string; ino: number } {
  const d = path.join(dir, `${copies++}`);
  mkdirSync(d);
  const to = path.join(d, name);
  copyFileSync(file, to);
  return { file: to, ino: statSync(to).ino };
}

/** The agent's verdict on one new file (its debug line), once it has one. */
async function verdict(a: Proc, ino: number): Promise<{ held: boolean; result: string; pid: number }> {
  const re = new RegExp(`new file: pid (\\d+) \\(.*?\\) (?:exec'd|mapped) inode ${ino}( \\(held\\))?: ([\\w-]+)`);
  await a.waitFor(re, 'stderr', 15_000);
  const m = re.exec(a.stderr())!;
  return { pid: Number(m[1]), held: m[2] !== undefined, result: m[3]! };
}

test(`${N} Go clients from files in no library root, started after ready with no wait: each traced from its first request`, async () => {
  for (let i = 0; i < N; i++) {
    const bin = freshCopy(goBin, 'go-client');
    const url = `https://127.0.0.1:${server.port}/hold/go/${i}`;
    const c = start(bin.file, ['client', url]);
    assert.equal((await c.exited).code, 0, c.stderr());
    await receiver.waitFor((spans) => spans.some(ofPid(c.pid)), 15_000);
    const spans = receiver.spans.filter(ofPid(c.pid));
    assert.equal(spans.length, 1, 'its only request');
    assert.equal(spans[0]!.kind, 'CLIENT');
    assert.equal(spans[0]!.attributes['url.path'], `/hold/go/${i}`);
    assert.equal(spans[0]!.attributes['http.response.status_code'], 200);
    assert.deepEqual(await verdict(agent, bin.ino), { pid: c.pid, held: true, result: 'attached' });
    await agent.waitFor(new RegExp(`resumed pid ${c.pid} \\(`), 'stderr', 5000);
  }
  // Three processes of one new file at once: those that exec it while the first one's event is
  // being handled are held too (the file is announced once), the later ones find it attached.
  const bin = freshCopy(goBin, 'go-client');
  const all = [0, 1, 2].map((i) => start(bin.file, ['client', `https://127.0.0.1:${server.port}/hold/together/${i}`]));
  for (const c of all) assert.equal((await c.exited).code, 0, c.stderr());
  await receiver.waitFor((spans) => all.every((c) => spans.some(ofPid(c.pid))), 15_000);
  all.forEach((c, i) => assert.equal(receiver.spans.find(ofPid(c.pid))!.attributes['url.path'], `/hold/together/${i}`));
});

test(`${N} curl with a private copy of libssl (a library mapped, not exec'd): each one's only request is a span`, async () => {
  for (let i = 0; i < N; i++) {
    const lib = freshCopy(SYSTEM_LIBSSL, 'libssl.so.3');
    const p = `/hold/curl/${i}`;
    const c = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${server.port}${p}`], { env: { ...process.env, LD_LIBRARY_PATH: path.dirname(lib.file) } });
    assert.equal((await c.exited).code, 0, c.stderr());
    await receiver.waitFor((spans) => spans.some(ofPid(c.pid)), 15_000);
    const span = receiver.spans.find(ofPid(c.pid))!;
    assert.equal(span.kind, 'CLIENT');
    assert.equal(span.attributes['url.path'], p);
    assert.deepEqual(await verdict(agent, lib.ino), { pid: c.pid, held: true, result: 'attached' });
  }
  // Counted: every held process resumed (none gone), as the agent's own metric.
  await receiver.waitForMetrics((m) => latestTotal(m.filter((p) => p.attributes.outcome === 'resumed'), 'tlsotel.discovery.held_processes') >= 2 * N, 15_000);
});

test('never held: a process under strace, a foreground job of a terminal (also of a nested shell), a threaded process loading a library, a small program', async () => {
  const url = `https://127.0.0.1:${server.port}/hold/not`;
  // Under a tracer: it would see the SIGSTOP.
  const traced = freshCopy(goBin, 'go-client');
  const s = await run('strace', ['-f', '-qq', '-o', '/dev/null', traced.file, 'client', url], { timeoutMs: 30_000 });
  assert.equal(s.code, 0, s.stderr);
  // A job of an interactive shell: the shell would take a stopped foreground job for one the
  // user stopped, and take the terminal back.
  const job = freshCopy(goBin, 'go-client');
  const j = await run(python(), [path.join(ROOT, 'test/discovery/pty-job.py'), `${job.file} client ${url} >/dev/null`], { timeoutMs: 40_000 });
  assert.equal(j.code, 0, j.stdout + j.stderr);
  assert.doesNotMatch(j.stdout, /Stopped/);
  // The same under a nested interactive shell, which does not lead the session: its job is told
  // apart by its own process group.
  const nestedJob = freshCopy(goBin, 'go-client');
  const nj = await run(python(), [path.join(ROOT, 'test/discovery/pty-job.py'), '--nested', `${nestedJob.file} client ${url} >/dev/null`], { timeoutMs: 40_000 });
  assert.equal(nj.code, 0, nj.stdout + nj.stderr);
  assert.doesNotMatch(nj.stdout, /Stopped/);
  // A library loaded by a process with two threads: a stop would cut the other thread's wait
  // short (EINTR).
  const lib = freshCopy(SYSTEM_LIBSSL, 'libssl.so.3');
  const threaded = await run(python(), ['-c', [
    'import ctypes, threading, time',
    't = threading.Thread(target=time.sleep, args=(1,)); t.start()',
    `ctypes.CDLL(${JSON.stringify(lib.file)})`,
    'time.sleep(0.3); t.join()',
  ].join('\n')], { timeoutMs: 30_000 });
  assert.equal(threaded.code, 0, threaded.stderr);
  // A program far smaller than any TLS library: a build's throwaway test programs.
  const small = freshCopy('/usr/bin/true', 'true');
  assert.ok(statSync(small.file).size < 256 * 1024);
  assert.equal((await run(small.file, [])).code, 0);
  for (const [what, f] of [['under strace', traced], ['foreground job', job], ['nested shell\'s job', nestedJob], ['threaded mmap', lib], ['small program', small]] as const) {
    const v = await verdict(agent, f.ino);
    assert.equal(v.held, false, `${what}: not held (${v.result})`);
  }
});

test('an agent that stops answering holds nothing after its heartbeat lapses; one held before is resumed when it stops', async (t) => {
  // Copied first: a copy of several MB may take a while on a busy machine.
  const early = freshCopy(goBin, 'go-client');
  const late = freshCopy(goBin, 'go-client');
  process.kill(agent.pid, 'SIGSTOP');
  let continued = false;
  try {
    // Within the heartbeat (beats at least every 250 ms, lapse after 1 s): held, and waits for
    // the agent.
    const e = start(early.file, ['client', `https://127.0.0.1:${server.port}/hold/early`]);
    await sleep(1800);
    assert.equal(e.child.exitCode, null, 'held while the agent is stopped');
    assert.match(statusOf(e.pid), /^T/, 'stopped');
    // After it: runs at once, the agent still stopped.
    const t0 = performance.now();
    const l = start(late.file, ['client', `https://127.0.0.1:${server.port}/hold/late`]);
    const code = await Promise.race([l.exited.then((x) => x.code), sleep(20_000).then(() => 'timeout')]);
    t.diagnostic(`the program started after the heartbeat lapsed ran in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(code, 0, `a program started more than 1 s after the agent stopped answering is not held: ${code}`);
    // Told to stop as soon as it runs again: the held one is resumed all the same.
    process.kill(agent.pid, 'SIGTERM');
    process.kill(agent.pid, 'SIGCONT');
    continued = true;
    const t1 = performance.now();
    assert.equal((await e.exited).code, 0, e.stderr());
    t.diagnostic(`the held program ended ${(performance.now() - t1).toFixed(0)} ms after the agent was continued`);
    assert.equal((await agent.exited).code, 0, agent.stderr());
    t.diagnostic(`the agent stopped ${(performance.now() - t1).toFixed(0)} ms after it was continued`);
    assert.match(agent.stderr(), new RegExp(`resumed pid ${e.pid} \\(`));
    assert.doesNotMatch(agent.stderr(), new RegExp(`pid ${l.pid} .*\\(held\\)`));
  } finally {
    if (!continued) process.kill(agent.pid, 'SIGCONT');
  }
});

test('without --hold-new-programs nothing is held', async () => {
  const a = await startAgent(['--otlp-endpoint', receiver.url, '--library-roots', 'none', '-v']);
  try {
    const bin = freshCopy(goBin, 'go-client');
    const c = start(bin.file, ['client', `https://127.0.0.1:${server.port}/hold/off`]);
    assert.equal((await c.exited).code, 0, c.stderr());
    const v = await verdict(a, bin.ino);
    assert.equal(v.held, false);
    assert.doesNotMatch(a.stderr(), /\(held\)|resumed pid/);
  } finally {
    await a.stop('SIGKILL');
  }
});

function statusOf(pid: number): string {
  // /proc/PID/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2);
}
