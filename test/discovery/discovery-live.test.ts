// Discovery against the real host: a TLS library that appears after the agent is ready is
// attached within about a second, also when it is only visible inside another mount namespace
// (as a container's own libssl is), reached through /proc/PID/root.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, type CaptureOptions } from '../../src/agent/agent';
import type { Observer } from '../../src/agent/pipeline';
import type { Direction } from '../../src/capture/record';
import { silentLogger } from '../../src/util/log';
import { makeCert, python, requireRoot, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';

/** The agent observing (no tracing): every record and stream event goes to `observer`. */
function observe(opts: CaptureOptions & { log: typeof silentLogger }, observer: Observer): Agent {
  const { log, ...capture } = opts;
  return Agent.start({ capture, observe: observer, log });
}

const SYSTEM_LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const data: Array<{ pid: number; libId: number; dir: Direction; text: string }> = [];
let capture: Agent;
let server: Proc & { port: number };

before(async () => {
  requireRoot();
  server = await startHttpsServer(makeCert());
  capture = observe({ log: silentLogger, rescanIntervalMs: 500 }, {
    onData: (c, dir, d) => data.push({ pid: c.pid, libId: c.libId, dir, text: d.toString('latin1') }),
    onGap() {},
    onClose() {},
  });
});

after(async () => {
  await capture?.stop();
  await server?.stop();
});

/** python3 that waits (so discovery can find the library it mapped), then makes one request. */
function client(tag: string, wrap?: (argv: string[]) => string[], env?: NodeJS.ProcessEnv): Proc {
  const script = `
import ssl, time, http.client
time.sleep(2.5)
c = http.client.HTTPSConnection('127.0.0.1', ${server.port}, context=ssl._create_unverified_context())
c.request('GET', '/${tag}'); r = c.getresponse(); r.read(); print(r.status)
`;
  const argv = [python(), '-c', script];
  const full = wrap ? wrap(argv) : argv;
  return start(full[0], full.slice(1), { env: { ...process.env, ...env } });
}

async function captured(pid: number, tag: string): Promise<{ libId: number }> {
  const t0 = Date.now();
  for (;;) {
    capture.poll();
    const d = data.find((x) => x.pid === pid && x.dir === 'write' && x.text.includes(`/${tag}`));
    if (d) return d;
    if (Date.now() - t0 > 10_000) throw new Error(`request ${tag} of pid ${pid} not captured`);
    await sleep(20);
  }
}

test('a libssl copy mapped after ready (LD_LIBRARY_PATH) is attached and traced', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-lib-'));
  copyFileSync(SYSTEM_LIBSSL, path.join(dir, 'libssl.so.3'));
  const tag = `late-lib-${process.pid}`;
  const py = client(tag, undefined, { LD_LIBRARY_PATH: dir });
  assert.equal((await py.exited).code, 0, py.stderr());
  const rec = await captured(py.pid, tag);
  const file = capture.files.find((f) => f.libId === rec.libId)!;
  assert.equal(file.displayPath, path.join(dir, 'libssl.so.3'));
});

test("another mount namespace's libssl at the system path is reached through /proc/PID/root", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-ns-'));
  const copy = path.join(dir, 'libssl.so.3');
  copyFileSync(SYSTEM_LIBSSL, copy);
  const tag = `other-ns-${process.pid}`;
  // unshare execs bash, which execs python: the pid we spawn is python's.
  const py = client(tag, (argv) => [
    'unshare', '-m', '--propagation', 'private', 'bash', '-c',
    `mount --bind ${copy} ${SYSTEM_LIBSSL} && exec "$@"`, 'bash', ...argv,
  ]);
  assert.equal((await py.exited).code, 0, py.stderr());
  const rec = await captured(py.pid, tag);
  const file = capture.files.find((f) => f.libId === rec.libId)!;
  assert.equal(file.displayPath, SYSTEM_LIBSSL, 'named as the process sees it');
  assert.match(file.path, new RegExp(`^/proc/${py.pid}/root${SYSTEM_LIBSSL}$`), 'attached through /proc/PID/root');
});
