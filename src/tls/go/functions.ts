// Where Go functions are in a file: from .symtab when the binary has one, else from the
// pclntab (binaries linked with `-s -w`). Uprobes are placed by file offset, so each function's
// virtual address is turned into one through the program headers.
import { ElfImage } from '../../discovery/elf';
import { GoAnalysisError, GoAnalysisErrorKind } from './go-analysis-error';
import { Pclntab } from './pclntab';

export interface GoFunction {
  /** Full Go symbol name, e.g. "crypto/tls.(*Conn).Write". */
  name: string;
  vaddr: number;
  /** File offset of the first instruction (what a uprobe is attached at). */
  offset: number;
  /** Code size in bytes, without the padding after the function. */
  size: number;
  source: 'symtab' | 'pclntab';
}

/**
 * The functions of `names` that a Go binary contains (those it lacks are absent from the map).
 * Throws GoAnalysisError when the binary has no usable symbol table and no usable pclntab.
 */
export function findGoFunctions(elf: ElfImage, names: readonly string[]): Map<string, GoFunction> {
  const out = new Map<string, GoFunction>();
  for (const [name, sym] of elf.functionSymbols(names)) {
    if (sym.size > 0) out.set(name, located(elf, name, sym.vaddr, sym.size, 'symtab'));
  }
  const missing = names.filter((n) => !out.has(n));
  // A binary with a .symtab lists every function: what it lacks is not linked in.
  if (missing.length === 0 || elf.section('.symtab')) return out;
  for (const [name, fn] of Pclntab.load(elf).lookup(missing)) out.set(name, located(elf, name, fn.vaddr, fn.size, 'pclntab'));
  return out;
}

/** Like findGoFunctions but always through the pclntab (what a stripped binary gets). */
export function findGoFunctionsInPclntab(elf: ElfImage, names: readonly string[]): Map<string, GoFunction> {
  const out = new Map<string, GoFunction>();
  for (const [name, fn] of Pclntab.load(elf).lookup(names)) out.set(name, located(elf, name, fn.vaddr, fn.size, 'pclntab'));
  return out;
}

function located(elf: ElfImage, name: string, vaddr: number, size: number, source: GoFunction['source']): GoFunction {
  const offset = elf.offsetOf(vaddr);
  const last = elf.offsetOf(vaddr + size - 1);
  if (offset === undefined || last !== offset + size - 1) {
    throw new GoAnalysisError(GoAnalysisErrorKind.BadFunction, `${name} at 0x${vaddr.toString(16)} is not in the file's loaded segments`);
  }
  return { name, vaddr, offset, size, source };
}
