// Runs `tlsotel run` as a user would, and waits for its readiness line.
import { CLI, start, type Proc } from './procs';

/** This process's environment without OTEL_* variables (the test runner's own must not reach
 *  the agent or a traced program), with `env` added. */
export function cleanEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('OTEL_')) delete clean[k];
  return { ...clean, ...env };
}

export async function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const p = start(process.execPath, [CLI, 'run', ...args], { env: cleanEnv(env) });
  await p.waitFor(/ready/, 'stderr', 30_000);
  return p;
}
