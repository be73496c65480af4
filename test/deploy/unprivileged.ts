// Runs a command as an unprivileged user (nobody) holding exactly the given capabilities, the way
// a container or a systemd unit with AmbientCapabilities would: setpriv (util-linux) sets the
// bounding, inheritable and ambient sets, so the capabilities survive the exec of node and
// nothing else can be gained.
import { start, type Proc } from '../helpers/procs';
import type { SpawnOptions } from 'node:child_process';

/** 'CAP_SYS_ADMIN' → 'sys_admin', setpriv's spelling. */
const capArg = (names: readonly string[]) => ['-all', ...names.map((n) => `+${n.replace(/^CAP_/, '').toLowerCase()}`)].join(',');

export function setprivArgs(caps: readonly string[], user = 'nobody', group = 'nogroup'): string[] {
  const set = capArg(caps);
  return [`--reuid=${user}`, `--regid=${group}`, '--init-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, '--'];
}

/** `cmd args` as nobody with exactly caps (names like CAP_SYS_PTRACE). */
export function startWithCaps(caps: readonly string[], cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
  return start('setpriv', [...setprivArgs(caps), cmd, ...args], { cwd: '/', ...opts });
}

/** The environment a test agent gets: the caller's, less every OTEL_ variable, plus env. */
export function agentEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('OTEL_')) delete clean[k];
  return { ...clean, ...env };
}
