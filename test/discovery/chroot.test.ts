// A program that chroot()ed into a directory of the host's tree (no mount namespace of its own)
// maps its own copy of libssl, and its /proc/PID/maps shows that file by its host path
// (/proc/PID/root + that path does not exist). Discovery picks the path whose device and inode
// are the ones the maps line names, attaches, and the program's requests are spans.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';

let receiver: OtlpReceiver;
let agent: Proc;
let server: Proc & { port: number };
let root: string;

/** Copies `bin` and every library ldd names into `root`, at the same paths. */
function install(bin: string): void {
  const files = new Set([bin]);
  for (const line of execFileSync('ldd', [bin], { encoding: 'utf8' }).split('\n')) {
    const m = /(\/\S+)/.exec(line.includes('=>') ? line.split('=>')[1] : line);
    if (m) files.add(m[1]);
  }
  for (const f of files) {
    const to = path.join(root, f);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(fs.realpathSync(f), to);
    fs.chmodSync(to, 0o755);
  }
}

before(async () => {
  requireRoot();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-chroot-'));
  for (const bin of ['/usr/bin/curl', '/bin/bash', '/bin/sleep']) install(bin);
  fs.mkdirSync(path.join(root, 'tmp'));
  const cert = makeCert();
  receiver = await startOtlpReceiver();
  server = await startHttpsServer(cert);
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await server?.stop('SIGKILL');
  await receiver?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test('curl chroot()ed into a copy of its files: its own libssl is attached by its host path and its requests are spans', async () => {
  const p = `/chroot/${process.pid}`;
  // A new libssl is found by the once-a-second /proc rescan while a process maps it: curl
  // lives for 3 s (one request a second), and its last request comes after the attach.
  const url = (i: number) => `https://127.0.0.1:${server.port}${p}/${i}`;
  const curl = start('chroot', [root, '/usr/bin/curl', '-sk', '--http1.1', '--rate', '1/s', '-o', '/tmp/1', url(1), '-o', '/tmp/2', url(2), '-o', '/tmp/3', url(3), '-o', '/tmp/4', url(4)]);
  assert.equal((await curl.exited).code, 0, curl.stderr());
  await receiver.waitFor((spans) => spans.some((s) => s.kind === 'CLIENT' && s.attributes['url.path'] === `${p}/4`), 15_000);
  const span = receiver.spans.find((s) => s.kind === 'CLIENT' && s.attributes['url.path'] === `${p}/4`)!;
  assert.equal(span.attributes['http.response.status_code'], 200);
  assert.equal(span.attributes['network.peer.port'], server.port);
  assert.match(agent.stderr(), new RegExp(`attached to ${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(?:usr/)?lib/x86_64-linux-gnu/libssl\\.so\\.3 \\(openssl\\)`));
});
