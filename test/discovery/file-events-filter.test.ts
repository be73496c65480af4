// The BPF side's new-file events are filtered by file identity: a process that exec's or maps
// only files the agent has examined already (an attached libssl, a program examined before)
// causes no event and no re-examination; a file never examined causes one, once.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../../src/agent/agent';
import { recordingLogger } from '../helpers/logger';
import { makeCert, requireRoot, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';

const SYSTEM_LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
let server: Proc & { port: number };
let agent: Agent;
let dir: string;
const log = recordingLogger();

before(async () => {
  requireRoot();
  server = await startHttpsServer(makeCert());
  dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-filter-'));
  agent = Agent.start({ capture: { libraryRoots: [] }, observe: { onData() {}, onGap() {}, onClose() {} }, log });
});

after(async () => {
  await agent?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The agent's notice lines (debug) about one process. */
const noticesOf = (pid: number) => log.lines.filter((l) => l.includes(`new file: pid ${pid} `));

async function curl(bin: string, tag: string): Promise<number> {
  const c = start(bin, ['-sk', '-o', '/dev/null', `https://127.0.0.1:${server.port}/${tag}`]);
  assert.equal((await c.exited).code, 0, c.stderr());
  return c.pid;
}

/** Waits until the agent has handled what the BPF side announced (the notices are handled on
 *  the event loop as soon as a pool thread hears of them). */
async function settle(): Promise<void> {
  await sleep(300);
}

test('a program never examined is announced once; the same program again, mapping an attached libssl, causes no event', async () => {
  assert.ok(agent.files.some((f) => f.displayPath === SYSTEM_LIBSSL), 'the system libssl is attached at start');
  // A private copy of curl: a file no process has mapped, so not examined at start.
  const bin = path.join(dir, 'curl-copy');
  copyFileSync('/usr/bin/curl', bin);
  const ino = statSync(bin).ino;
  const first = await curl(bin, `filter-first-${process.pid}`);
  await settle();
  const firstLines = noticesOf(first);
  assert.ok(firstLines.some((l) => l.includes(`exec'd inode ${ino}: not-tls`)), `the first run's exec is examined:\n${log.lines.slice(-20).join('\n')}`);
  // A file the agent could not examine because the curl had exited first ("missing") is
  // announced again by design: run the copy until every file it maps has been examined.
  for (let i = 0, pid = first; noticesOf(pid).some((l) => l.endsWith(': missing')); i++) {
    assert.ok(i < 10, `files of the copy still not examined after ${i} runs:\n${noticesOf(pid).join('\n')}`);
    pid = await curl(bin, `filter-first-${process.pid}-${i}`);
    await settle();
  }

  const before = agent.captureStats().discovery!;
  const pids: number[] = [];
  for (let i = 0; i < 5; i++) pids.push(await curl(bin, `filter-again-${process.pid}-${i}`));
  await settle();
  const afterStats = agent.captureStats().discovery!;
  for (const pid of pids) assert.deepEqual(noticesOf(pid), [], `pid ${pid} exec'd and mapped only examined files: no re-examination`);
  // Each run exec'd the copy and mapped libssl and libc at least: seen and filtered in BPF.
  const filtered = Number(afterStats.bpf.TLS_FCNT_KNOWN - before.bpf.TLS_FCNT_KNOWN);
  assert.ok(filtered >= 5 * 3, `exec and mappings filtered by the BPF side: ${filtered}`);
  assert.ok(afterStats.bpf.TLS_FCNT_SEEN > before.bpf.TLS_FCNT_SEEN);
});
