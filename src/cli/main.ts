#!/usr/bin/env node
// tlsotel command line: dispatches to the commands; turns expected failures (missing
// permission, kernel feature, library; bad flags) into one sentence and a non-zero exit.
import { bpfPermissionProblem } from '../util/caps';
import { createLogger } from '../util/log';
import { captureOptions, CAPTURE_FLAGS, intFlag, parse, secondsFlag, UsageError } from './options';
import { sniff } from './sniff';
import { doctor } from './doctor';
import { run } from './run';
import { HELP } from './help';

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
      const v = parse(rest, { ...CAPTURE_FLAGS, 'preview-bytes': { type: 'string' } });
      if (v.help) return help();
      const log = createLogger(v.verbose ? 'debug' : 'info');
      const opts = { ...captureOptions(v), previewBytes: intFlag(v, 'preview-bytes', 0, 16384) ?? 96, log };
      requirePermission();
      return sniff(opts);
    }
    case 'run': {
      const v = parse(rest, {
        ...CAPTURE_FLAGS,
        'otlp-endpoint': { type: 'string' },
        print: { type: 'boolean' },
        'max-queue-size': { type: 'string' },
        'capture-request-headers': { type: 'string' },
        'capture-response-headers': { type: 'string' },
        'no-redaction': { type: 'boolean' },
        'no-stitch': { type: 'boolean' },
        'response-timeout': { type: 'string' },
        'stats-interval': { type: 'string' },
      });
      if (v.help) return help();
      const log = createLogger(v.verbose ? 'debug' : 'info');
      const list = (name: string) => (v[name] === undefined ? undefined : String(v[name]).split(',').map((h) => h.trim()).filter(Boolean));
      const opts = {
        ...captureOptions(v),
        export: {
          otlpEndpoint: v['otlp-endpoint'] === undefined ? undefined : String(v['otlp-endpoint']),
          print: v.print === true,
          maxQueueSize: intFlag(v, 'max-queue-size', 1, 10_000_000),
        },
        redaction: {
          captureRequestHeaders: list('capture-request-headers'),
          captureResponseHeaders: list('capture-response-headers'),
          allowSensitive: v['no-redaction'] === true,
          redactUrls: v['no-redaction'] !== true,
        },
        responseTimeoutMs: secondsFlag(v, 'response-timeout'),
        stitch: v['no-stitch'] !== true,
        statsIntervalMs: secondsFlag(v, 'stats-interval') ?? 10_000,
        verbose: v.verbose === true,
        log,
      };
      requirePermission();
      return run(opts);
    }
    case 'doctor': {
      const v = parse(rest, { verbose: { type: 'boolean', short: 'v' }, help: { type: 'boolean', short: 'h' } });
      if (v.help) return help();
      return doctor(createLogger(v.verbose ? 'debug' : 'warn'));
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
  const problem = bpfPermissionProblem();
  if (problem) throw new FatalError(problem);
}

/** An expected failure: printed as one line, no stack trace. */
class FatalError extends Error {}

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
      if (process.env.TLSOTEL_DEBUG) process.stderr.write(`${e.stack}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`tlsotel: ${String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
