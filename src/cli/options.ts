// Command-line parsing shared by the commands: one table of flags, values validated with an
// error that names the flag and what was expected. Unknown flags are rejected.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export const CAPTURE_FLAGS: FlagSpec = {
  pid: { type: 'string' },
  comm: { type: 'string' },
  'capture-bytes': { type: 'string' },
  'capture-segments': { type: 'string' },
  'ring-buffer-size': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
};

export function parse(args: string[], options: FlagSpec): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

export function intFlag(values: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} expects an integer from ${min} to ${max}, got '${String(raw)}'`);
  }
  return n;
}

/** "8M", "64k", "1048576" → bytes. */
export function sizeFlag(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const m = /^(\d+)([kKmMgG]i?[bB]?)?$/.exec(String(raw));
  if (!m) throw new UsageError(`--${name} expects a size like 8M or 65536, got '${String(raw)}'`);
  const unit = (m[2] ?? '').toLowerCase()[0];
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
}

export function captureOptions(values: Record<string, unknown>) {
  return {
    pid: intFlag(values, 'pid', 1, 2 ** 22),
    comm: values.comm === undefined ? undefined : String(values.comm),
    captureBytes: intFlag(values, 'capture-bytes', 1, 16384),
    maxSegments: intFlag(values, 'capture-segments', 1, 16),
    ringBufferBytes: sizeFlag(values, 'ring-buffer-size'),
  };
}

/** "30" or "30s" or "500ms" → milliseconds. */
export function secondsFlag(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(String(raw));
  if (!m || Number(m[1]) <= 0) throw new UsageError(`--${name} expects a duration like 30s or 500ms, got '${String(raw)}'`);
  return m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000;
}
