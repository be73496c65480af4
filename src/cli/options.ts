// The flags of each command, and argv → flag values (text, not yet checked: src/config checks
// them, with the environment and the defaults). Unknown flags and stray words are usage errors
// that point at --help.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../config/errors';
import type { Flags } from '../config/commands';

export { UsageError };

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

const COMMON_FLAGS: FlagSpec = {
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
};

export const CAPTURE_FLAGS: FlagSpec = {
  ...COMMON_FLAGS,
  pid: { type: 'string' },
  comm: { type: 'string' },
  'capture-bytes': { type: 'string' },
  'capture-segments': { type: 'string' },
  'ring-buffer-size': { type: 'string' },
  'library-roots': { type: 'string' },
  'keep-bodies': { type: 'boolean' },
  'hold-new-programs': { type: 'boolean' },
};

export const COMMAND_FLAGS: Record<'run' | 'sniff' | 'doctor', FlagSpec> = {
  sniff: { ...CAPTURE_FLAGS, 'preview-bytes': { type: 'string' } },
  run: {
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
    nice: { type: 'string' },
    'cpu-yield': { type: 'string' },
    'prometheus-port': { type: 'string' },
    'metrics-max-routes': { type: 'string' },
    'metrics-max-series': { type: 'string' },
    'metrics-process-ttl': { type: 'string' },
    'keep-errors': { type: 'boolean' },
    'keep-slower-than': { type: 'string' },
  },
  doctor: { ...COMMON_FLAGS, 'library-roots': { type: 'string' } },
};

/** argv of `tlsotel <command>` → flag values. */
export function parseFlags(command: keyof typeof COMMAND_FLAGS, args: string[]): Flags {
  try {
    return parseArgs({ args, options: COMMAND_FLAGS[command], strict: true, allowPositionals: false }).values as Flags;
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new UsageError(`unknown option '${unknown[1]}' for '${command}'; see tlsotel --help`);
    const stray = /^Unexpected argument '([^']+)'/.exec(message);
    if (stray) throw new UsageError(`unexpected argument '${stray[1]}' for '${command}'; see tlsotel --help`);
    // e.g. "Option '--pid <value>' argument missing"
    throw new UsageError(`${message.replace(/\. To specify a positional.*$/s, '')}; see tlsotel --help`);
  }
}
