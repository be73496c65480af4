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
    return scan(fd, new Set(wanted));
  } finally {
    closeSync(fd);
  }
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

function scan(fd: number, wanted: Set<string>): Set<string> {
  const found = new Set<string>();
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
        if (wanted.has(name)) found.add(name);
      }
    }
    if (found.size) return found;
  }
  return found;
}
