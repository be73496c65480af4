// A process with a new file in another mount namespace (as a container's first program): the
// library directories of its root are searched at once, through /proc/PID/root, so that a
// libssl there is attached before any program maps it, and the first request of the program
// that then loads it is traced.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../../src/agent/agent';
import { recordingLogger } from '../helpers/logger';
import { makeCert, python, requireRoot, run, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';

const SYSTEM_LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
let server: Proc & { port: number };
let agent: Agent;
let dir: string;
let holder: Proc | undefined;
const writes: Array<{ pid: number; libId: number; text: string }> = [];

before(async () => {
  requireRoot();
  server = await startHttpsServer(makeCert());
  dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-mntns-'));
  agent = Agent.start({
    capture: { libraryRoots: [] },
    observe: {
      onData: (c, d, data) => { if (d === 'write') writes.push({ pid: c.pid, libId: c.libId, text: data.toString('latin1') }); },
      onGap() {},
      onClose() {},
    },
    log: recordingLogger(),
  });
});

after(async () => {
  await holder?.stop('SIGKILL');
  await agent?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a new mount namespace's libssl is attached before any program maps it; the first request of the one that loads it is traced", async () => {
  // The container's files, complete before its root is set up: its library directory and a
  // program never run before (a new file, so the BPF side announces its exec).
  mkdirSync(path.join(dir, 'lib'));
  copyFileSync(SYSTEM_LIBSSL, path.join(dir, 'lib', 'libssl.so.3'));
  const ino = statSync(path.join(dir, 'lib', 'libssl.so.3')).ino;
  copyFileSync('/bin/sleep', path.join(dir, 'first-program'));
  holder = start('unshare', ['-m', '--propagation', 'private', 'bash', '-c',
    `mount --bind ${dir}/lib /usr/local/lib && exec ${dir}/first-program 30`]);
  const t0 = Date.now();
  let file;
  while (!(file = agent.files.find((f) => f.displayPath === '/usr/local/lib/libssl.so.3'))) {
    if (Date.now() - t0 > 5000) throw new Error(`not attached; files: ${agent.files.map((f) => f.displayPath).join(', ')}`);
    await sleep(20);
  }
  assert.match(file.path, new RegExp(`^/proc/${holder.pid}/root/usr/local/lib/libssl\\.so\\.3$`), 'reached through /proc/PID/root');
  assert.equal(file.key.split(':')[1], String(ino), 'the namespace\'s own copy, not the host\'s file');
  assert.ok(!readFileSync(`/proc/${holder.pid}/maps`, 'latin1').includes('libssl'), 'no program mapped it yet');

  // A program in that namespace loads it now: traced from its first request.
  const tag = `mntns-${process.pid}`;
  const script = `import ssl, http.client
c = http.client.HTTPSConnection('127.0.0.1', ${server.port}, context=ssl._create_unverified_context())
c.request('GET', '/${tag}'); r = c.getresponse(); r.read(); print(r.status)`;
  const r = await run('nsenter', ['-t', String(holder.pid), '-m', 'env', 'LD_LIBRARY_PATH=/usr/local/lib', python(), '-c', script]);
  assert.equal(r.code, 0, r.stderr);
  const t1 = Date.now();
  while (!writes.some((w) => w.text.includes(`GET /${tag} `))) {
    if (Date.now() - t1 > 5000) throw new Error('the first request was not captured');
    agent.poll();
    await sleep(20);
  }
  assert.equal(writes.find((w) => w.text.includes(`GET /${tag} `))!.libId, file.libId, 'captured through the namespace\'s libssl');
});
