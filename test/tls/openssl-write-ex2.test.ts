// SSL_write_ex2 (OpenSSL >= 3.3; the count pointer is its fifth argument) with Debian 13's real
// libssl 3.5, in both placements the agent chooses between (src/tls/openssl/internals.ts):
//   - internal: the function SSL_write and SSL_write_ex2 call, count from r8 (tls_enter_arg5);
//   - exported, as when that function is not found: SSL_write, SSL_write_ex and SSL_write_ex2
//     each probed. SSL_write_ex reaches SSL_write_ex2 by a tail call, so both return probes fire
//     on one return: each write must still be captured once, and no return counted as lost.
// Writers: a small C client calling SSL_write_ex2 or SSL_write_ex itself
// (test/fixtures/openssl/write-ex2-client.c, built here) and curl, run chroot()ed in the Debian
// 13 root.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Agent } from '../../src/agent/agent';
import type { Direction } from '../../src/capture/record';
import { definedFunctions } from '../../src/discovery/elf';
import type { Claim, TlsLibrary } from '../../src/tls/library';
import { exportedProbes, openssl } from '../../src/tls/openssl/openssl';
import { silentLogger } from '../../src/util/log';
import { makeCert, requireRoot, ROOT, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';
import { trixieRoot } from '../helpers/debian-root';

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
let root: string;
let workDir: string;
let server: Proc & { port: number };

before(async () => {
  requireRoot();
  root = trixieRoot();
  // Inside the root's /tmp, so that the chroot()ed client finds it.
  workDir = path.join(root, 'tmp', `tlsotel-ex2-${process.pid}`);
  mkdirSync(workDir, { recursive: true });
  execFileSync('clang-14', ['-O2', '-Wall', '-Werror', '-o', path.join(workDir, 'write-ex2-client'), path.join(ROOT, 'test/fixtures/openssl/write-ex2-client.c'), '-ldl']);
  server = await startHttpsServer(makeCert());
});

after(async () => {
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

type Placement = 'internal' | 'exported';

/** OpenSSL, claiming only the root's libssl, with its probes placed as `placement` says. */
function trixieOpenssl(placement: Placement): TlsLibrary {
  const target = statSync(path.join(root, LIBDIR, 'libssl.so.3'));
  return {
    ...openssl,
    claim(file) {
      const st = statSync(file.path);
      if (st.dev !== target.dev || st.ino !== target.ino) return undefined;
      const claim = openssl.claim(file)!;
      if (placement === 'internal') return claim;
      const defined = definedFunctions(file.path, openssl.symbols);
      const exported: Claim = { ...claim, probes: [...exportedProbes('write', defined), ...exportedProbes('read', defined), ...claim.probes.filter((p) => p.symbol === 'SSL_free')] };
      return exported;
    },
  };
}

async function withAgent(placement: Placement, body: (agent: Agent, stream: (pid: number, dir: Direction) => string) => Promise<void>): Promise<void> {
  const data: Array<{ pid: number; dir: Direction; data: Buffer }> = [];
  const agent = Agent.start({
    // The root's library directory searched at start: its libssl is attached before any client runs.
    capture: { libraries: [trixieOpenssl(placement)], libDirs: [path.join(root, LIBDIR)], binDirs: [] },
    observe: { onData: (c, dir, d) => data.push({ pid: c.pid, dir, data: d }), onGap: () => undefined, onClose: () => undefined },
    log: silentLogger,
  });
  try {
    const probes = agent.files.flatMap((f) => f.functions);
    if (placement === 'internal') assert.deepEqual(probes.filter((p) => p.startsWith('ssl_write')).length, 1, probes.join(', '));
    else assert.deepEqual(probes, ['SSL_write', 'SSL_write_ex', 'SSL_write_ex2', 'SSL_read', 'SSL_read_ex', 'SSL_free']);
    await body(agent, (pid, dir) => Buffer.concat(data.filter((d) => d.pid === pid && d.dir === dir).map((d) => d.data)).toString('latin1'));
  } finally {
    await agent.stop();
  }
}

async function until(agent: Agent, pred: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > 10_000) throw new Error(`timed out waiting for ${what}`);
    agent.poll();
    await sleep(20);
  }
}

for (const placement of ['internal', 'exported'] as const) {
  test(`libssl 3.5, probes on the ${placement} functions: writes by SSL_write_ex2, SSL_write_ex (a tail call into it) and curl's each captured once`, async () => {
    await withAgent(placement, async (agent, stream) => {
      const noEntry = () => agent.captureStats().bpf.TLS_CNT_NO_ENTRY;
      const before = noEntry();
      for (const call of ['ex2', 'ex']) {
        const p = `/${call}-${placement}-${process.pid}`;
        const client = start('chroot', [root, `/tmp/${path.basename(workDir)}/write-ex2-client`, String(server.port), p, call]);
        assert.equal((await client.exited).code, 0, client.stderr());
        assert.equal(client.stdout(), 'HTTP/1.1 200 OK\n');
        await until(agent, () => stream(client.pid, 'read').includes(p), `the response to the SSL_write_${call} client`);
        assert.equal(stream(client.pid, 'write'), `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`, `SSL_write_${call}: the request, once`);
      }

      const c = `/curl-${placement}-${process.pid}`;
      const curl = start('chroot', [root, 'curl', '-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${server.port}${c}`]);
      assert.equal((await curl.exited).code, 0, curl.stderr());
      await until(agent, () => stream(curl.pid, 'read').includes(c), "curl's response");
      const w = stream(curl.pid, 'write');
      assert.match(w, new RegExp(`^GET ${c} HTTP/1\\.1\\r\\n`));
      assert.equal(w.split(`GET ${c} `).length, 2, 'the request captured once');
      assert.equal(noEntry(), before, 'no return probe without its entry');
    });
  });
}
