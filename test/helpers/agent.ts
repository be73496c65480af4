// Runs `tlsotel run` as a user would, and waits for its readiness line.
import { CLI, start, type Proc } from './procs';

export async function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('OTEL_')) delete clean[k];
  const p = start(process.execPath, [CLI, 'run', ...args], { env: { ...clean, ...env } });
  await p.waitFor(/ready/, 'stderr', 30_000);
  return p;
}
