// Silences one process warning by its code, and only that one: every other warning (and every
// other deprecation) still reaches stderr.
//
// Node prints a warning from `process.emitWarning` on the 'warning' event's default handler,
// which cannot be told to skip one code (only the --disable-warning flag can, and a running
// program cannot set its own flags). So the one entry point is wrapped.

const suppressed = new Set<string>();
let wrapped = false;

function codeOf(args: unknown[]): string | undefined {
  // emitWarning(warning, type, code, ctor) or emitWarning(warning, { type, code, detail })
  const [warning, second, third] = args;
  const codeField = (o: unknown): string | undefined => {
    const c = typeof o === 'object' && o !== null ? (o as { code?: unknown }).code : undefined;
    return typeof c === 'string' ? c : undefined;
  };
  if (warning instanceof Error && codeField(warning) !== undefined) return codeField(warning);
  if (codeField(second) !== undefined) return codeField(second);
  return typeof third === 'string' ? third : undefined;
}

/** From now on, warnings with this code (e.g. 'DEP0123') are not emitted. */
export function suppressWarning(code: string): void {
  suppressed.add(code);
  if (wrapped) return;
  wrapped = true;
  const original = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  (process as { emitWarning: (...args: unknown[]) => void }).emitWarning = (...args: unknown[]): void => {
    const code = codeOf(args);
    if (code !== undefined && suppressed.has(code)) return;
    original(...args);
  };
}
