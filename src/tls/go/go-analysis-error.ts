// Why a Go binary could not be analysed: a kind that callers act on (count, report), with the
// sentence derived from it. Never a guessed offset instead: a probe at a wrong address corrupts
// the traced program.
export const enum GoAnalysisErrorKind {
  /** No pclntab found, or its header is damaged. */
  NoPclntab = 'no-pclntab',
  /** A pclntab of a Go release older than 1.18 (magic 0xfffffffb / 0xfffffffa): not supported. */
  OldPclntab = 'old-pclntab',
  /** The runtime's module data (which holds the text start since Go 1.26) was not found. */
  NoModuleData = 'no-module-data',
  /** A function's table entry points outside the file or its code could not be read. */
  BadFunction = 'bad-function',
  /** The function's machine code did not decode into whole instructions. */
  Undecodable = 'undecodable',
  /** crypto/tls is linked in only partly: one of the probed methods is missing. */
  PartialTls = 'partial-tls',
}

export class GoAnalysisError extends Error {
  constructor(
    readonly kind: GoAnalysisErrorKind,
    detail: string,
  ) {
    super(`${detail} (${kind})`);
    this.name = 'GoAnalysisError';
  }
}
