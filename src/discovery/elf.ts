// Which of a set of function symbols an ELF file defines (in .dynsym, else .symtab).
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
    for (const [name, vaddr] of scan(fd, new Set(wanted))) {
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

/** The file offset of a virtual address, through the PT_LOAD program headers. */
export function fileOffsetOf(path: string, vaddr: number): number | undefined {
  const fd = openSync(path, 'r');
  try {
    return fileOffset(fd, vaddr, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

const PT_LOAD = 1;

function fileOffset(fd: number, vaddr: number, size: number): number | undefined {
  const eh = read(fd, 0, 64, size);
  if (!eh || eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return undefined;
  const phoff = Number(eh.readBigUInt64LE(0x20));
  const phentsize = eh.readUInt16LE(0x36);
  const phnum = eh.readUInt16LE(0x38);
  if (phentsize < 56) return undefined;
  const ph = read(fd, phoff, phentsize * phnum, size);
  if (!ph) return undefined;
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (ph.readUInt32LE(o) !== PT_LOAD) continue;
    const off = Number(ph.readBigUInt64LE(o + 8));
    const va = Number(ph.readBigUInt64LE(o + 16));
    const filesz = Number(ph.readBigUInt64LE(o + 32));
    if (vaddr >= va && vaddr < va + filesz) return vaddr - va + off;
  }
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

/** Defined function symbols of `wanted` → their virtual address (st_value). */
function scan(fd: number, wanted: Set<string>): Map<string, number> {
  const found = new Map<string, number>();
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
        if (wanted.has(name)) found.set(name, Number(syms.readBigUInt64LE(off + 8)));
      }
    }
    if (found.size) return found;
  }
  return found;
}
