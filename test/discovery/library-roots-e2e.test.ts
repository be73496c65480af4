// Library roots end to end: files in a directory given with --library-roots are attached before
// any program maps them, so a Go client started after `ready` with no wait, and a curl that
// lives a few tens of ms with its own private libssl, are traced from their first request.
// Spans checked at a real OTLP/gRPC receiver. `doctor` lists the roots and what it found there.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { CLI, makeCert, requireRoot, run, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { BUILD_DIR, TOOLCHAINS, buildFixture } from '../tls/go/go-toolchains';

let receiver: OtlpReceiver;
let agent: Proc;
let server: Proc & { port: number };
let root: string;
let goClient: string;
let libDir: string;
const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

before(async () => {
  requireRoot();
  root = mkdtempSync(path.join(tmpdir(), 'tlsotel-root-'));
  // As an image layer holds them: a program and a library, at paths no process maps yet.
  mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
  goClient = path.join(root, 'usr/local/bin/go-client');
  copyFileSync(buildFixture(TOOLCHAINS[1]!, 'tls-peer', 'normal'), goClient);
  libDir = path.join(root, 'opt/app/lib');
  mkdirSync(libDir, { recursive: true });
  copyFileSync('/usr/lib/x86_64-linux-gnu/libssl.so.3', path.join(libDir, 'libssl.so.3'));
  receiver = await startOtlpReceiver();
  server = await startHttpsServer(makeCert());
  // A deep export queue: the agent traces every program on the host, and other programs'
  // load (a benchmark beside this test) must not push our few spans out of it.
  agent = await startAgent(['--otlp-endpoint', receiver.url, '--library-roots', root, '--max-queue-size', '1000000']);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await server?.stop('SIGKILL');
  await receiver?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(BUILD_DIR, { recursive: true, force: true });
});

test('the files in a library root are attached before ready', async () => {
  const ready = agent.stderr().indexOf('ready');
  const attached = (p: string, lib: string) => new RegExp(`attached to ${escape(p)} \\(${lib}\\)`).exec(agent.stderr());
  const lib = attached(path.join(libDir, 'libssl.so.3'), 'openssl');
  const go = attached(goClient, 'go');
  assert.ok(lib && lib.index < ready, agent.stderr());
  assert.ok(go && go.index < ready, agent.stderr());
  // Logged just after the ready line.
  await agent.waitFor(new RegExp(`library root ${escape(root)}: 1 directory, \\d+ file\\(s\\), 2 traced`), 'stderr', 5000);
});

test('a Go client started after ready, with no wait, is traced from its first request', async () => {
  const url = `https://127.0.0.1:${server.port}/roots/go/${process.pid}`;
  const c = start(goClient, ['client', url]);
  assert.equal((await c.exited).code, 0, c.stderr());
  await receiver.waitFor((spans) => spans.some(ofPid(c.pid)), 15_000);
  const spans = receiver.spans.filter(ofPid(c.pid));
  assert.equal(spans.length, 1);
  assert.equal(spans[0]!.kind, 'CLIENT');
  assert.equal(spans[0]!.attributes['url.path'], `/roots/go/${process.pid}`);
  assert.equal(spans[0]!.attributes['http.response.status_code'], 200);
  assert.equal(spans[0]!.attributes['network.peer.port'], server.port);
});

test('a curl that lives tens of ms, with a private libssl in a library root: its only request is a span', async (t) => {
  const p = `/roots/curl/${process.pid}`;
  const t0 = performance.now();
  const c = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${server.port}${p}`], { env: { ...process.env, LD_LIBRARY_PATH: libDir } });
  assert.equal((await c.exited).code, 0, c.stderr());
  const lived = performance.now() - t0;
  t.diagnostic(`curl lived ${lived.toFixed(0)} ms`);
  // Tens of ms here when the machine is quiet; the bound is loose because the CPU is shared.
  assert.ok(lived < 1000, `curl lived ${lived} ms`);
  await receiver.waitFor((spans) => spans.some(ofPid(c.pid)), 15_000);
  const span = receiver.spans.find(ofPid(c.pid))!;
  assert.equal(span.kind, 'CLIENT');
  assert.equal(span.attributes['url.path'], p);
  assert.equal(span.attributes['http.response.status_code'], 200);
  assert.match(String(span.resource['process.executable.name']), /curl/);
});

test('doctor lists the library roots searched and the files found there', async () => {
  const r = await run(process.execPath, [CLI, 'doctor', '--library-roots', `${root},/nonexistent/*/fs`], { timeoutMs: 120_000 });
  assert.match(r.stdout, /\[ ok \] library roots: 2 searched before programs map their files/);
  assert.match(r.stdout, new RegExp(`${escape(root)}: 1 directory, \\d+ file\\(s\\) looked at, 2 claimed`));
  assert.match(r.stdout, new RegExp(`^ +${escape(goClient)}$`, 'm'));
  assert.match(r.stdout, new RegExp(`^ +${escape(path.join(libDir, 'libssl.so.3'))}$`, 'm'));
  assert.match(r.stdout, /\/nonexistent\/\*\/fs: no such directory/);
  // And in the list of claimed files, with what is probed.
  assert.match(r.stdout, new RegExp(`${escape(goClient)} \\([\\d.]+ MiB\\): go `));
});
