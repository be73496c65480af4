// Everything the Go crypto/tls probes need from one file, without touching BPF: is it a Go
// binary, which Go, is crypto/tls linked in, and where (*Conn).Write and (*Conn).Read begin and
// return. The TLS-library seam turns this into probes.
import { ElfImage } from '../../discovery/elf';
import { GoBuildInfo, goMinorVersion, readGoBuildInfo } from './build-info';
import { GoFunction, findGoFunctions } from './functions';
import { GoAnalysisError, GoAnalysisErrorKind } from './go-analysis-error';
import { ReturnSites, findReturnSites } from './return-sites';

export const GO_TLS_WRITE = 'crypto/tls.(*Conn).Write';
export const GO_TLS_READ = 'crypto/tls.(*Conn).Read';
export const GO_TLS_CLOSE = 'crypto/tls.(*Conn).Close';

export interface GoProbeSites extends ReturnSites {
  function: GoFunction;
}

export interface GoBinaryAnalysis {
  buildInfo: GoBuildInfo;
  /**
   * Whether arguments and results are in registers (amd64, Go ≥ 1.17) — what probes reading RAX,
   * RBX, RCX assume. false for older Go (arguments on the stack); null when the version names no
   * release (then the probes must not guess).
   */
  registerAbi: boolean | null;
  /** null when the binary does not contain crypto/tls's Conn methods (not linked in). */
  cryptoTls: { write: GoProbeSites; read: GoProbeSites; close: GoFunction | undefined } | null;
}

/** The build info when `path` is a Go executable, else null. Throws only if the file can't be opened. */
export function goBuildInfo(path: string): GoBuildInfo | null {
  const elf = ElfImage.open(path);
  if (!elf) return null;
  try {
    return readGoBuildInfo(elf);
  } finally {
    elf.close();
  }
}

export function isGoBinary(path: string): boolean {
  return goBuildInfo(path) !== null;
}

/**
 * The analysis of a Go executable; null when `path` is not one. Throws GoAnalysisError when it is
 * one but its functions can't be located exactly (never a guessed offset), and the fs error when
 * it can't be opened.
 */
export function analyzeGoBinary(path: string): GoBinaryAnalysis | null {
  const elf = ElfImage.open(path);
  if (!elf) return null;
  try {
    const buildInfo = readGoBuildInfo(elf);
    if (!buildInfo) return null;
    const found = findGoFunctions(elf, [GO_TLS_WRITE, GO_TLS_READ, GO_TLS_CLOSE]);
    const write = found.get(GO_TLS_WRITE);
    const read = found.get(GO_TLS_READ);
    const minor = goMinorVersion(buildInfo.goVersion);
    const registerAbi = minor === null ? null : minor >= 17;
    if (!write && !read) return { buildInfo, registerAbi, cryptoTls: null };
    if (!write || !read) {
      throw new GoAnalysisError(GoAnalysisErrorKind.PartialTls, `${path} has ${write ? GO_TLS_WRITE : GO_TLS_READ} but not ${write ? GO_TLS_READ : GO_TLS_WRITE}`);
    }
    return { buildInfo, registerAbi, cryptoTls: { write: probeSites(elf, write), read: probeSites(elf, read), close: found.get(GO_TLS_CLOSE) } };
  } finally {
    elf.close();
  }
}

/** Entry and return offsets of one located function. */
export function probeSites(elf: ElfImage, fn: GoFunction): GoProbeSites {
  const code = elf.read(fn.offset, fn.size);
  if (!code) throw new GoAnalysisError(GoAnalysisErrorKind.BadFunction, `${fn.name}: code past the end of the file`);
  const sites = findReturnSites(code, fn.offset, fn.name);
  if (sites.returnOffsets.length === 0) throw new GoAnalysisError(GoAnalysisErrorKind.Undecodable, `${fn.name}: no RET instruction`);
  return { function: fn, ...sites };
}
