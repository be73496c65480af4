// Which of a set of function symbols an ELF file defines (in .dynsym, else .symtab), and ElfImage
// for analyses that need sections and segments too (Go binaries: src/tls/go/).
// Reads only the section headers and the symbol/string tables, not the whole file: `node` is
// ~100 MB. Bounds-checked: a truncated or non-ELF file yields an empty set, never an exception.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const MAX_TABLE = 256 * 1024 * 1024;

/** Returns the subset of `wanted` that `path` defines as functions. Throws only if the file can't be opened. */
export function definedFunctions(path: string, wanted: readonly string[]): Set<string> {
  const fd = openSync(path, 'r');
  try {
    return new Set(scan(fd, new Set(wanted)).keys());
  } finally {
    closeSync(fd);
  }
}

/**
 * File offsets of the functions of `wanted` that `path` defines (what a uprobe is placed by),
 * and `code`: up to `codeBytes` bytes of each function's first instructions. Throws only if the
 * file can't be opened.
 */
export function functionCode(path: string, wanted: readonly string[], codeBytes = 64): Map<string, { offset: number; code: Buffer }> {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const out = new Map<string, { offset: number; code: Buffer }>();
    for (const [name, { vaddr }] of scan(fd, new Set(wanted))) {
      const offset = fileOffset(fd, vaddr, size);
      const code = offset === undefined ? null : read(fd, offset, Math.min(codeBytes, size - offset), size);
      if (offset !== undefined && code) out.set(name, { offset, code });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Bytes of `path` at a file offset (null past the end). */
export function readCode(path: string, offset: number, length: number): Buffer | null {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    return read(fd, offset, Math.min(length, size - offset), size);
  } finally {
    closeSync(fd);
  }
}

const PT_LOAD = 1;

function fileOffset(fd: number, vaddr: number, size: number): number | undefined {
  const eh = read(fd, 0, 64, size);
  if (!eh || eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return undefined;
  for (const s of readSegments(fd, eh, size)) if (vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return vaddr - s.vaddr + s.offset;
  return undefined;
}

function read(fd: number, offset: number, length: number, fileSize: number): Buffer | null {
  if (offset < 0 || length < 0 || length > MAX_TABLE || offset + length > fileSize) return null;
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n <= 0) return null;
    got += n;
  }
  return buf;
}

/** A defined function symbol: its virtual address (st_value) and size in bytes (st_size). */
export interface FunctionSymbol {
  vaddr: number;
  size: number;
}

/** Defined function symbols of `wanted` → their address and size. */
function scan(fd: number, wanted: Set<string>): Map<string, FunctionSymbol> {
  const found = new Map<string, FunctionSymbol>();
  const size = fstatSync(fd).size;
  const eh = read(fd, 0, 64, size);
  // ELF64, little-endian only: the machines we run on (x86_64).
  if (!eh || eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return found;
  const shoff = Number(eh.readBigUInt64LE(0x28));
  const shentsize = eh.readUInt16LE(0x3a);
  const shnum = eh.readUInt16LE(0x3c);
  if (shentsize < 64 || shnum === 0) return found;
  const sh = read(fd, shoff, shentsize * shnum, size);
  if (!sh) return found;
  const section = (i: number) => ({
    type: sh.readUInt32LE(i * shentsize + 4),
    offset: Number(sh.readBigUInt64LE(i * shentsize + 0x18)),
    size: Number(sh.readBigUInt64LE(i * shentsize + 0x20)),
    link: sh.readUInt32LE(i * shentsize + 0x28),
    entsize: Number(sh.readBigUInt64LE(i * shentsize + 0x38)),
  });
  // Search string tables for the wanted names first: a symbol table is only walked when its
  // string table contains one of them, which keeps this cheap for the many files that don't.
  // Only "name\0" is looked for: linkers merge suffixes, so "SSL_read" may exist only as the
  // tail of "x_SSL_read" (libc's "free" is the tail of "cfree"), with no NUL before it.
  for (const type of [SHT_DYNSYM, SHT_SYMTAB]) {
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      if (s.type !== type || s.entsize < 24 || s.link >= shnum) continue;
      const strSec = section(s.link);
      const strtab = read(fd, strSec.offset, strSec.size, size);
      if (!strtab || ![...wanted].some((w) => strtab.includes(`${w}\0`))) continue;
      const syms = read(fd, s.offset, s.size, size);
      if (!syms) continue;
      for (let off = 0; off + 24 <= syms.length; off += s.entsize) {
        const info = syms[off + 4];
        const symType = info & 0xf;
        const shndx = syms.readUInt16LE(off + 6);
        if ((symType !== STT_FUNC && symType !== STT_GNU_IFUNC) || shndx === 0) continue;
        const nameOff = syms.readUInt32LE(off);
        if (nameOff >= strtab.length) continue;
        const end = strtab.indexOf(0, nameOff);
        const name = strtab.toString('latin1', nameOff, end < 0 ? strtab.length : end);
        if (wanted.has(name)) found.set(name, { vaddr: Number(syms.readBigUInt64LE(off + 8)), size: Number(syms.readBigUInt64LE(off + 16)) });
      }
    }
    if (found.size) return found;
  }
  return found;
}

/** A section header, with its name from the section-name string table. */
export interface ElfSection {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
}

/** A PT_LOAD program header: what the loader maps, and so what uprobe offsets refer to. */
export interface ElfLoadSegment {
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

export const SHT_PROGBITS = 1;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const PF_X = 0x1;
export const PF_W = 0x2;

/**
 * An open ELF64 little-endian file for analyses that need more than symbols (Go's build info and
 * pclntab): its sections, its loadable segments, and bounds-checked reads by file offset or by
 * virtual address. Owns the file descriptor: call close().
 */
export class ElfImage {
  private constructor(
    private fd: number,
    readonly fileSize: number,
    readonly sections: readonly ElfSection[],
    readonly segments: readonly ElfLoadSegment[],
  ) {}

  /** null when `path` is not an ELF64 little-endian file (or is truncated). Throws only if it can't be opened. */
  static open(path: string): ElfImage | null {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const eh = read(fd, 0, 64, size);
      if (!eh || eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) {
        closeSync(fd);
        return null;
      }
      return new ElfImage(fd, size, readSections(fd, eh, size), readSegments(fd, eh, size));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** `length` bytes at a file offset; null if any of them lies past the end of the file. */
  read(offset: number, length: number): Buffer | null {
    return read(this.fd, offset, length, this.fileSize);
  }

  /** The file offset of a virtual address, through the PT_LOAD program headers. */
  offsetOf(vaddr: number): number | undefined {
    for (const s of this.segments) if (vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return vaddr - s.vaddr + s.offset;
    return undefined;
  }

  /** `length` bytes at a virtual address, when all of them are in one segment's file image. */
  readVaddr(vaddr: number, length: number): Buffer | null {
    const s = this.segments.find((g) => vaddr >= g.vaddr && vaddr + length <= g.vaddr + g.filesz);
    return s ? this.read(vaddr - s.vaddr + s.offset, length) : null;
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The section's bytes (null for NOBITS or a section that lies past the end of the file). */
  sectionData(s: ElfSection): Buffer | null {
    return s.type === SHT_NOBITS ? null : this.read(s.offset, s.size);
  }

  /** Defined function symbols of `wanted` (in .dynsym, else .symtab) with their address and size. */
  functionSymbols(wanted: readonly string[]): Map<string, FunctionSymbol> {
    return scan(this.fd, new Set(wanted));
  }
}

const SHT_NOBITS = 8;

function readSections(fd: number, eh: Buffer, size: number): ElfSection[] {
  const shoff = Number(eh.readBigUInt64LE(0x28));
  const shentsize = eh.readUInt16LE(0x3a);
  const shnum = eh.readUInt16LE(0x3c);
  const shstrndx = eh.readUInt16LE(0x3e);
  if (shentsize < 64 || shnum === 0) return [];
  const sh = read(fd, shoff, shentsize * shnum, size);
  if (!sh) return [];
  const raw = Array.from({ length: shnum }, (_, i) => {
    const o = i * shentsize;
    return {
      nameOff: sh.readUInt32LE(o),
      type: sh.readUInt32LE(o + 4),
      flags: Number(sh.readBigUInt64LE(o + 8)),
      addr: Number(sh.readBigUInt64LE(o + 0x10)),
      offset: Number(sh.readBigUInt64LE(o + 0x18)),
      size: Number(sh.readBigUInt64LE(o + 0x20)),
    };
  });
  const names = shstrndx < shnum ? read(fd, raw[shstrndx].offset, raw[shstrndx].size, size) : null;
  return raw.map(({ nameOff, ...s }) => {
    let name = '';
    if (names && nameOff < names.length) {
      const end = names.indexOf(0, nameOff);
      name = names.toString('latin1', nameOff, end < 0 ? names.length : end);
    }
    return { name, ...s };
  });
}

function readSegments(fd: number, eh: Buffer, size: number): ElfLoadSegment[] {
  const phoff = Number(eh.readBigUInt64LE(0x20));
  const phentsize = eh.readUInt16LE(0x36);
  const phnum = eh.readUInt16LE(0x38);
  if (phentsize < 56) return [];
  const ph = read(fd, phoff, phentsize * phnum, size);
  if (!ph) return [];
  const out: ElfLoadSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (ph.readUInt32LE(o) !== PT_LOAD) continue;
    out.push({
      flags: ph.readUInt32LE(o + 4),
      offset: Number(ph.readBigUInt64LE(o + 8)),
      vaddr: Number(ph.readBigUInt64LE(o + 16)),
      filesz: Number(ph.readBigUInt64LE(o + 32)),
    });
  }
  return out;
}
