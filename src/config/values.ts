// The one validation helper for every value the agent takes from a flag or the environment.
// A kind parses the raw text and says what it expected; the source decides what a bad value
// does: a flag is the user's explicit request, so a bad one stops the command (UsageError,
// exit 2) naming the flag; a variable may be set for other programs too, so a bad one warns and
// falls back to the default. A blank variable counts as unset (Environment already drops it).
import { UsageError } from './errors';

export interface ValueKind<T> {
  /** What a valid value looks like, for messages ("an integer from 1 to 16384"). */
  readonly expected: string;
  /** The value, or undefined when `raw` is not one. */
  parse(raw: string): T | undefined;
}

/** An integer from min to max (decimal digits only: "1e3", "0x10", "12abc" are refused). */
export function integer(min: number, max: number): ValueKind<number> {
  const expected = max === Number.MAX_SAFE_INTEGER
    ? (min === 1 ? 'a positive integer' : `an integer of at least ${min}`)
    : `an integer from ${min} to ${max}`;
  return {
    expected,
    parse(raw) {
      if (!/^[+]?\d+$/.test(raw.trim())) return undefined;
      const n = Number(raw.trim());
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
    },
  };
}

/** A positive number of milliseconds, as the OTEL_* variables take them ("30000"). */
export const milliseconds: ValueKind<number> = { ...integer(1, Number.MAX_SAFE_INTEGER), expected: 'a positive integer (milliseconds)' };

/** "30", "30s", "1.5s" or "500ms" → milliseconds (more than 0). */
export const duration: ValueKind<number> = {
  expected: 'a duration like 30s or 500ms',
  parse(raw) {
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(raw.trim());
    if (!m) return undefined;
    const ms = m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000;
    return ms > 0 && Number.isFinite(ms) ? ms : undefined;
  },
};

/** "100us", "250µs", "1.5ms" → nanoseconds (more than 0): the scale of a scheduler slice. */
export const shortDuration: ValueKind<number> = {
  expected: 'a duration like 100us or 1ms',
  parse(raw) {
    const m = /^(\d+(?:\.\d+)?)(us|µs|ms)$/.exec(raw.trim());
    if (!m) return undefined;
    const ns = Math.round(Number(m[1]) * (m[2] === 'ms' ? 1e6 : 1e3));
    return ns > 0 && Number.isSafeInteger(ns) ? ns : undefined;
  },
};

/** "8M", "64k", "1MiB", "65536" → bytes; a power of two from min to max when asked. */
export function size(opts: { min: number; max: number; powerOfTwo?: boolean }): ValueKind<number> {
  const range = `${formatSize(opts.min)} to ${formatSize(opts.max)}`;
  return {
    expected: opts.powerOfTwo ? `a power of two from ${range}, like 8M or 65536` : `a size from ${range}, like 8M or 65536`,
    parse(raw) {
      const m = /^(\d+)([kKmMgG](?:i?[bB])?)?$/.exec(raw.trim());
      if (!m) return undefined;
      const unit = (m[2] ?? '').toLowerCase()[0];
      const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
      if (!Number.isSafeInteger(n) || n < opts.min || n > opts.max) return undefined;
      if (opts.powerOfTwo && (n & (n - 1)) !== 0) return undefined;
      return n;
    },
  };
}

/** Text of 1..maxBytes bytes in UTF-8 (characters, for ASCII); `why` says where the limit
 *  comes from. */
export function text(maxBytes: number, why?: string): ValueKind<string> {
  return {
    expected: `a name of 1 to ${maxBytes} characters${why ? ` (${why})` : ''}`,
    parse: (raw) => (raw.length >= 1 && Buffer.byteLength(raw, 'utf8') <= maxBytes ? raw : undefined),
  };
}

export function formatSize(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3}G`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}k`;
  return String(n);
}

/** A flag's value: undefined when not given; UsageError naming the flag when invalid. */
export function fromFlag<T>(kind: ValueKind<T>, flag: string, raw: string | boolean | undefined): T | undefined {
  if (raw === undefined || typeof raw === 'boolean') return undefined;
  const v = kind.parse(raw);
  if (v === undefined) throw new UsageError(`--${flag} expects ${kind.expected}, got '${raw}'`);
  return v;
}

/** A variable's value: undefined when unset or blank; when invalid, a warning in `warnings`
 *  (saying which default is used instead) and undefined. */
export function fromEnv<T>(kind: ValueKind<T>, name: string, raw: string | undefined, warnings: string[], fallback?: string | number): T | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = kind.parse(raw);
  if (v === undefined) {
    warnings.push(`${name}="${raw}" is not ${kind.expected}; using the default${fallback !== undefined ? ` (${fallback})` : ''}`);
  }
  return v;
}
