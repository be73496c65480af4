// Child processes for tests: spawn with captured output, wait for a line, stop cleanly.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

export const ROOT = path.resolve(__dirname, '../../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');
export const EXAMPLES = path.join(ROOT, 'examples');

export interface Proc {
  child: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  waitFor(re: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function start(cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (d) => { out += d; wake(); });
  child.stderr!.on('data', (d) => { err += d; wake(); });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // done before the wake-up: a waiter woken by the exit must see it, or it waits forever.
    child.on('exit', (code, signal) => { done = true; wake(); resolve({ code, signal }); });
  });
  const proc: Proc = {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, stream = 'stdout', timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in ${cmd}'s ${stream}:\n--- stdout\n${out.slice(-2000)}\n--- stderr\n${err.slice(-2000)}`)), timeoutMs);
        const check = () => {
          const m = re.exec(stream === 'stdout' ? out : err);
          if (m) { clearTimeout(timer); resolve(m); return; }
          if (done) { clearTimeout(timer); reject(new Error(`${cmd} exited before ${re} appeared:\n--- stdout\n${out.slice(-2000)}\n--- stderr\n${err.slice(-2000)}`)); return; }
          waiters.push(check);
        };
        check();
      });
    },
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (!done) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
  return proc;
}

/** Runs a command to completion. */
export function run(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = start(cmd, args, opts);
  const t = setTimeout(() => p.child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  return p.exited.then(({ code }) => { clearTimeout(t); return { code, stdout: p.stdout(), stderr: p.stderr() }; });
}

/** A throwaway self-signed certificate for localhost, 127.0.0.1 and ::1. */
export function makeCert(): { dir: string; cert: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-test-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { dir, cert, key };
}

/** Starts examples/https-server.js on a free port with the given certificate. */
export async function startHttpsServer(cert: { cert: string; key: string }, host = '127.0.0.1', env: NodeJS.ProcessEnv = process.env): Promise<Proc & { port: number }> {
  const p = start(process.execPath, [path.join(EXAMPLES, 'https-server.js'), '--port', '0', '--host', host, '--cert', cert.cert, '--key', cert.key], { env });
  const m = await p.waitFor(/listening (\d+)/);
  return Object.assign(p, { port: Number(m[1]) });
}

/** Tests that need BPF must not skip silently: they fail with the reason when it is missing. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this test needs root (BPF and uprobes): run the tests as root, as CI does');
  }
}

/** A python3 that uses the system libssl (any will do: pyenv builds link it too). */
export function python(): string {
  return '/usr/bin/python3';
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
