// Shared by the fault tests: the agent's memory, its loss counters and stopped line as it logs
// them, the Python helper scripts next to this file, and a node HTTPS server with a raised
// descriptor limit.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, EXAMPLES, ROOT, start, type Proc } from '../helpers/procs';

/** The Python scripts live in the source tree (tsc does not copy them to dist/). */
export const FAULTS_SRC = path.join(ROOT, 'test', 'faults');
export const script = (name: string) => path.join(FAULTS_SRC, name);

/**
 * A process name (comm, at most 15 bytes) for our own processes, so that an agent run with
 * `--comm NAME` sees only them: other engineers' TLS traffic on this host (benchmarks, other
 * tests) would otherwise fill the queues and heap we measure. A process can only rename itself:
 * node through NODE_OPTIONS=--title=NAME (libuv sets the main thread's name at start-up), our
 * Python scripts through TLSF_COMM (they write /proc/self/comm before any thread or connection).
 * In both the main thread, which is the thread doing TLS, carries the name.
 */
export const commFor = (tag: string) => `tlsf${tag}`.slice(0, 15);
export const commEnv = (comm: string): NodeJS.ProcessEnv => ({ ...process.env, NODE_OPTIONS: `--title=${comm}`, TLSF_COMM: comm });

/** VmRSS of a live process, in MiB. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Samples a process's RSS every `everyMs` until stopped; keeps the maximum. */
export function rssSampler(pid: number, everyMs = 100): { max: () => number; stop: () => number } {
  let max = 0;
  const take = () => {
    try {
      max = Math.max(max, rssMiB(pid));
    } catch {
      // exited: keep what we have
    }
  };
  take();
  const t = setInterval(take, everyMs);
  return { max: () => max, stop: () => { clearInterval(t); take(); return max; } };
}

/**
 * `tlsotel run` started like startAgent() does (no OTEL_* from our environment), but with
 * test/faults/heap-probe.js preloaded: on SIGUSR2 the agent process collects garbage and writes
 * its heap use on stderr (see heapUsedMiB()). Nothing else of the agent changes.
 */
export async function startProbedAgent(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('OTEL_')) delete env[k];
  const p = start(process.execPath, ['--expose-gc', '-r', path.join(__dirname, 'heap-probe.js'), CLI, 'run', ...args], { env: { ...env, ...extraEnv } });
  await p.waitFor(/ready/, 'stderr', 30_000);
  return p;
}

/** Live JS heap of a startProbedAgent() agent after a full GC, in MiB. */
export async function heapUsedMiB(agent: Proc): Promise<number> {
  // The probe numbers its lines from 1: wait for the next number.
  const next = (agent.stderr().match(/heap-probe \d+ used=/g) ?? []).length + 1;
  agent.child.kill('SIGUSR2');
  const m = await agent.waitFor(new RegExp(`heap-probe ${next} used=(\\d+)`), 'stderr', 10_000);
  return Number(m[1]) / 1024 / 1024;
}

/** Every `losses so far:` line of an agent's stderr, parsed: counter name → value. */
export function lossLines(stderr: string): Array<Record<string, number>> {
  const out: Array<Record<string, number>> = [];
  for (const m of stderr.matchAll(/losses so far: (.*)$/gm)) {
    const rec: Record<string, number> = {};
    for (const part of m[1].split(', ')) {
      const mm = /^(.*) (\d+)$/.exec(part);
      if (mm) rec[mm[1]] = Number(mm[2]);
    }
    out.push(rec);
  }
  return out;
}

/** The latest value of each loss counter the agent logged (0 when never logged). */
export function latestLosses(stderr: string): Record<string, number> {
  return Object.assign({}, ...lossLines(stderr));
}

/** The numbers of the agent's final `stopped:` line. */
export function stoppedLine(stderr: string): { probes: number; exchanges: number; exported: number; notExported: number } | undefined {
  const m = /stopped: detached (\d+) probes; (\d+) exchanges, (\d+) spans exported, (\d+) not exported/.exec(stderr);
  return m ? { probes: Number(m[1]), exchanges: Number(m[2]), exported: Number(m[3]), notExported: Number(m[4]) } : undefined;
}

/** No stack trace, no uncaught error, no per-record failure in the agent's output. */
export function assertNoCrashOutput(stderr: string): void {
  const bad = [
    /^\s+at .+[:(].*\d+:\d+\)?$/m, // a stack frame
    /Uncaught|UnhandledPromiseRejection|unhandled/i,
    /\b(TypeError|RangeError|ReferenceError|SyntaxError)\b/,
    /error while handling a record|cannot build a span|cannot read loss counters/,
    /FATAL ERROR|heap out of memory/,
  ];
  for (const re of bad) assert.doesNotMatch(stderr, re, `agent stderr:\n${stderr.slice(-3000)}`);
  const l = latestLosses(stderr);
  for (const k of ['malformed records', 'record handling errors', 'span build errors']) {
    assert.equal(l[k] ?? 0, 0, `${k} must stay 0:\n${stderr.slice(-3000)}`);
  }
}

/**
 * examples/https-server.js with RLIMIT_NOFILE raised first (bash `ulimit -n`, then exec: the
 * pid is node's). Many thousands of connections need more than the default 1024 descriptors.
 */
export async function startBigServer(cert: { cert: string; key: string }, env: NodeJS.ProcessEnv = process.env): Promise<Proc & { port: number }> {
  // (bash ignores NODE_OPTIONS; node, exec'd, reads it.)
  const server = path.join(EXAMPLES, 'https-server.js');
  const cmd = `ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`;
  const p = start('bash', ['-c', cmd, process.execPath, server, '--port', '0', '--host', '127.0.0.1', '--cert', cert.cert, '--key', cert.key], { env });
  const m = await p.waitFor(/listening (\d+)/);
  return Object.assign(p, { port: Number(m[1]) });
}
