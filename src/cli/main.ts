#!/usr/bin/env node
// tlsotel command line: reads the configuration once (src/config), then dispatches to the
// commands; turns expected failures (missing permission, kernel feature, library; bad flags)
// into one sentence and a non-zero exit.
import { readEnvironment, resolveDoctorConfig, resolveRunConfig, resolveSniffConfig, UsageError, type Environment } from '../config';
import { otherAgentPrograms } from '../bpf/other-agents';
import { bpfPermissionProblem } from '../util/caps';
import { createLogger, type Logger } from '../util/log';
import { suppressWarning } from '../util/warnings';
import { restartWithV8Flags, RUN_V8_FLAGS } from '../util/v8-flags';
import { parseFlags } from './options';
import { sniff } from './sniff';
import { doctor } from './doctor';
import { run } from './run';
import { HELP } from './help';

// grpc-js sets the TLS server name to the endpoint's host, an IP address for https://127.0.0.1:
// Node then warns (DEP0123) on stderr, about a choice that is not the user's to fix.
suppressWarning('DEP0123');

const env: Environment = readEnvironment();

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command ? 0 : 2;
  }
  if (command === '--version') {
    process.stdout.write(`${require('../../../package.json').version}\n`);
    return 0;
  }
  switch (command) {
    case 'sniff': {
      const flags = parseFlags('sniff', rest);
      if (flags.help) return help();
      const { config, warnings } = resolveSniffConfig(flags, env);
      const log = createLogger(config.verbose ? 'debug' : 'info');
      for (const w of warnings) log.warn(w);
      requirePermission();
      return sniff({ ...config, log });
    }
    case 'run': {
      const flags = parseFlags('run', rest);
      if (flags.help) return help();
      const { config, warnings, notes } = resolveRunConfig(flags, env);
      // Before anything is opened or said: the process may be replaced by one with V8's flags.
      const notRestarted = config.v8Flags ? restartWithV8Flags(RUN_V8_FLAGS) : undefined;
      const log = createLogger(config.verbose ? 'debug' : 'info');
      if (notRestarted !== undefined) log.warn(`running without ${RUN_V8_FLAGS.join(' ')} (${notRestarted}): garbage collection uses helper threads`);
      for (const w of warnings) log.warn(w);
      for (const n of notes) log.info(n);
      requirePermission();
      warnAboutOtherAgents(log);
      return run({ ...config, log });
    }
    case 'doctor': {
      const flags = parseFlags('doctor', rest);
      if (flags.help) return help();
      const { config } = resolveDoctorConfig(flags, env);
      return doctor(createLogger(config.verbose ? 'debug' : 'warn'), undefined, config.binDirs, config.libraryRoots);
    }
    default:
      throw new UsageError(`unknown command '${command}'; commands: run, sniff, doctor (see tlsotel --help)`);
  }
}

function help(): number {
  process.stdout.write(HELP);
  return 0;
}

function requirePermission(): void {
  // One sentence per missing capability, each on its own line with the usual prefix.
  const problem = bpfPermissionProblem();
  if (problem) throw new FatalError(problem.split('\n').join('\ntlsotel: '));
}

/** Two agents on one host export every exchange twice: say so at start (it may be intended). */
function warnAboutOtherAgents(log: Logger): void {
  const found = otherAgentPrograms();
  if (found instanceof Error) {
    log.debug(`cannot tell whether another tlsotel agent runs on this host: ${found.message}`);
  } else if (found.length > 0) {
    log.warn(
      `another tlsotel agent (or sniff) is running on this host (BPF program id ${found.join(', ')}): ` +
        'every exchange it sees will be exported twice unless one of them stops',
    );
  }
}

/** An expected failure: printed as one line, no stack trace. */
class FatalError extends Error {}

// Output piped into a reader that stops early (`tlsotel doctor | head`, `tlsotel sniff | grep -m1`):
// nothing more to say, not a crash.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    // The commands end with a bounded shutdown; what may still hold the event loop (a gRPC call
    // to a collector that never answers, kept until its deadline) must not delay the exit.
    process.exitCode = code;
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`tlsotel: ${e.message}\n`);
      process.exitCode = 2;
    } else if (e instanceof Error) {
      // Errors from libbpf/syscalls already name the operation and the errno text.
      process.stderr.write(`tlsotel: ${e.message}\n`);
      if (env.TLSOTEL_DEBUG !== undefined) process.stderr.write(`${e.stack}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`tlsotel: ${String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
