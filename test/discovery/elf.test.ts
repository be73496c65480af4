// definedFunctions: real files of this host, hand-built ELF files, and damaged files (which
// must give an empty set, never an exception).
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { definedFunctions } from '../../src/discovery/elf';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const SSL_FUNCS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'SSL_free'];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tlsotel-elf-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function tmpFile(content: Buffer | string): string {
  const p = path.join(tmp, `f${n++}`);
  writeFileSync(p, content);
  return p;
}

const sorted = (s: Set<string>) => [...s].sort();

test('libssl.so.3 defines the SSL functions that are probed', { skip: !existsSync(LIBSSL) && `${LIBSSL} absent` }, () => {
  const got = definedFunctions(LIBSSL, [...SSL_FUNCS, 'SSL_no_such_function', 'malloc']);
  assert.deepEqual(sorted(got), [...SSL_FUNCS].sort());
});

test('the node binary (OpenSSL linked in) exports SSL_write and SSL_read', () => {
  const got = definedFunctions(process.execPath, SSL_FUNCS);
  assert.ok(got.has('SSL_write'), `found: ${sorted(got)}`);
  assert.ok(got.has('SSL_read'), `found: ${sorted(got)}`);
});

test('/bin/ls defines none of them', () => {
  assert.deepEqual(sorted(definedFunctions('/bin/ls', SSL_FUNCS)), []);
});

test('a name the linker stored as the tail of a longer string is still found (libc: free in cfree)', { skip: !existsSync(LIBC) && `${LIBC} absent` }, () => {
  // ld merges string-table suffixes: libc's .dynstr holds "cfree\0" and no "\0free\0"
  const got = definedFunctions(LIBC, ['free', 'malloc', 'read', 'write', 'no_such_symbol_here']);
  assert.deepEqual(sorted(got), ['free', 'malloc', 'read', 'write']);
});

test('an empty wanted list finds nothing', () => {
  assert.deepEqual(sorted(definedFunctions(process.execPath, [])), []);
});

test('non-ELF, empty and truncated files → empty set, no exception', { skip: !existsSync(LIBSSL) && `${LIBSSL} absent` }, () => {
  const lib = readFileSync(LIBSSL);
  const cases: Record<string, Buffer | string> = {
    text: '#!/bin/sh\necho SSL_write SSL_read\n\0SSL_write\0SSL_read\0'.repeat(10),
    empty: Buffer.alloc(0),
    'first 4 KiB of libssl': lib.subarray(0, 4096),
    'first 64 bytes of libssl': lib.subarray(0, 64),
    'first 63 bytes of libssl': lib.subarray(0, 63),
    'libssl without its last byte': lib.subarray(0, lib.length - 1),
    'ELF magic only': Buffer.from([0x7f, 0x45, 0x4c, 0x46]),
  };
  for (const [name, content] of Object.entries(cases)) {
    let got: Set<string> | undefined;
    assert.doesNotThrow(() => (got = definedFunctions(tmpFile(content), SSL_FUNCS)), name);
    assert.deepEqual(sorted(got!), [], name);
  }
  // and the intact copy still works (so the cases above fail for the right reason)
  assert.deepEqual(sorted(definedFunctions(tmpFile(lib), SSL_FUNCS)), [...SSL_FUNCS].sort());
});

test('a missing file throws', () => {
  assert.throws(() => definedFunctions(path.join(tmp, 'does-not-exist'), SSL_FUNCS), /ENOENT/);
});

test('a directory throws or yields nothing, never hangs', () => {
  let got: Set<string> | undefined;
  try {
    got = definedFunctions(tmp, SSL_FUNCS);
  } catch (e) {
    assert.match((e as Error).message, /EISDIR/);
    return;
  }
  assert.deepEqual(sorted(got), []);
});

// ---------------------------------------------------------------------------------------------
// Hand-built ELF64 little-endian files: header, string and symbol tables, section headers.

const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_DYNSYM = 11;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

interface Sym {
  /** Offset of the name in the table's strings. */
  name: number;
  type: number;
  /** Section index; 0 means undefined (an import). */
  shndx?: number;
}
interface Table {
  kind: 'dynsym' | 'symtab';
  strings: string; // must start with "\0"
  syms: Sym[];
}

/** Builds an ELF64 LE file with the given symbol tables. `patch` edits the result. */
function elf(tables: Table[], opts: { elfClass?: number; data?: number; entsize?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  let off = 64;
  const shdrs: Array<{ type: number; offset: number; size: number; link: number; entsize: number }> = [
    { type: 0, offset: 0, size: 0, link: 0, entsize: 0 },
  ];
  const add = (b: Buffer) => {
    const pad = (8 - (off % 8)) % 8;
    if (pad) parts.push(Buffer.alloc(pad));
    off += pad;
    const at = off;
    parts.push(b);
    off += b.length;
    return at;
  };
  for (const t of tables) {
    const str = Buffer.from(t.strings, 'latin1');
    const strIdx = shdrs.length;
    shdrs.push({ type: SHT_STRTAB, offset: add(str), size: str.length, link: 0, entsize: 0 });
    const syms = Buffer.alloc(24 * (t.syms.length + 1)); // entry 0 is the null symbol
    t.syms.forEach((s, i) => {
      const o = 24 * (i + 1);
      syms.writeUInt32LE(s.name, o);
      syms[o + 4] = (1 << 4) | s.type; // STB_GLOBAL
      syms.writeUInt16LE(s.shndx ?? 1, o + 6);
      syms.writeBigUInt64LE(0x1000n + BigInt(i * 16), o + 8);
    });
    shdrs.push({ type: t.kind === 'dynsym' ? SHT_DYNSYM : SHT_SYMTAB, offset: add(syms), size: syms.length, link: strIdx, entsize: opts.entsize ?? 24 });
  }
  const sh = Buffer.alloc(64 * shdrs.length);
  shdrs.forEach((s, i) => {
    sh.writeUInt32LE(s.type, i * 64 + 4);
    sh.writeBigUInt64LE(BigInt(s.offset), i * 64 + 0x18);
    sh.writeBigUInt64LE(BigInt(s.size), i * 64 + 0x20);
    sh.writeUInt32LE(s.link, i * 64 + 0x28);
    sh.writeBigUInt64LE(BigInt(s.entsize), i * 64 + 0x38);
  });
  const shoff = add(sh);
  const eh = Buffer.alloc(64);
  eh.writeUInt32BE(0x7f454c46, 0);
  eh[4] = opts.elfClass ?? 2;
  eh[5] = opts.data ?? 1;
  eh[6] = 1;
  eh.writeUInt16LE(3, 0x10); // ET_DYN
  eh.writeUInt16LE(0x3e, 0x12); // x86-64
  eh.writeUInt32LE(1, 0x14);
  eh.writeBigUInt64LE(BigInt(shoff), 0x28);
  eh.writeUInt16LE(64, 0x34);
  eh.writeUInt16LE(64, 0x3a);
  eh.writeUInt16LE(shdrs.length, 0x3c);
  return Buffer.concat([eh, ...parts]);
}

/** "\0a\0b\0..." and the offset of each name. */
function strings(...names: string[]): { strings: string; at: Record<string, number> } {
  let s = '\0';
  const at: Record<string, number> = {};
  for (const n of names) {
    at[n] = s.length;
    s += `${n}\0`;
  }
  return { strings: s, at };
}

test('synthetic ELF: defined FUNC and IFUNC count; imports, objects and unwanted names do not', () => {
  const { strings: s, at } = strings('SSL_write', 'SSL_read', 'SSL_free', 'SSL_read_ex', 'SSL_write_ex', 'other');
  const file = tmpFile(
    elf([
      {
        kind: 'dynsym',
        strings: s,
        syms: [
          { name: at.SSL_write, type: STT_FUNC },
          { name: at.SSL_read, type: STT_GNU_IFUNC },
          { name: at.SSL_free, type: STT_FUNC, shndx: 0 }, // undefined: imported from elsewhere
          { name: at.SSL_read_ex, type: STT_OBJECT },
          { name: at.other, type: STT_FUNC },
          { name: at.SSL_write_ex, type: STT_FUNC, shndx: 0xfff1 }, // SHN_ABS: defined
        ],
      },
    ]),
  );
  assert.deepEqual(sorted(definedFunctions(file, SSL_FUNCS)), ['SSL_read', 'SSL_write', 'SSL_write_ex']);
});

test('synthetic ELF: an importer only (like libcurl) defines nothing', () => {
  const { strings: s, at } = strings('SSL_write', 'SSL_read');
  const file = tmpFile(elf([{ kind: 'dynsym', strings: s, syms: [{ name: at.SSL_write, type: STT_FUNC, shndx: 0 }, { name: at.SSL_read, type: STT_FUNC, shndx: 0 }] }]));
  assert.deepEqual(sorted(definedFunctions(file, SSL_FUNCS)), []);
});

test('synthetic ELF: names stored as string-table suffixes (tail merging) are found', () => {
  // "my_SSL_write\0" also serves as "SSL_write" (offset + 3), "x_SSL_read" as "SSL_read"
  const s = '\0my_SSL_write\0x_SSL_read\0';
  const file = tmpFile(
    elf([
      {
        kind: 'dynsym',
        strings: s,
        syms: [
          { name: 1, type: STT_FUNC }, // my_SSL_write
          { name: 4, type: STT_FUNC }, // SSL_write
          { name: s.indexOf('SSL_read'), type: STT_FUNC },
        ],
      },
    ]),
  );
  assert.deepEqual(sorted(definedFunctions(file, SSL_FUNCS)), ['SSL_read', 'SSL_write']);
  assert.deepEqual(sorted(definedFunctions(file, ['my_SSL_write', 'x_SSL_read'])), ['my_SSL_write']);
});

test('synthetic ELF: .dynsym first; .symtab only when .dynsym has none of the names', () => {
  const dyn = strings('SSL_write', 'unrelated');
  const sym = strings('SSL_read', 'SSL_free');
  const both = tmpFile(
    elf([
      { kind: 'dynsym', strings: dyn.strings, syms: [{ name: dyn.at.SSL_write, type: STT_FUNC }] },
      { kind: 'symtab', strings: sym.strings, syms: [{ name: sym.at.SSL_read, type: STT_FUNC }, { name: sym.at.SSL_free, type: STT_FUNC }] },
    ]),
  );
  assert.deepEqual(sorted(definedFunctions(both, SSL_FUNCS)), ['SSL_write']);
  const staticOnly = tmpFile(
    elf([
      { kind: 'dynsym', strings: dyn.strings, syms: [{ name: dyn.at.unrelated, type: STT_FUNC }] },
      { kind: 'symtab', strings: sym.strings, syms: [{ name: sym.at.SSL_read, type: STT_FUNC }, { name: sym.at.SSL_free, type: STT_FUNC }] },
    ]),
  );
  assert.deepEqual(sorted(definedFunctions(staticOnly, SSL_FUNCS)), ['SSL_free', 'SSL_read']);
});

test('synthetic ELF: 32-bit, big-endian, bad entsize, bad links and offsets → empty set', () => {
  const { strings: s, at } = strings('SSL_write');
  const table: Table[] = [{ kind: 'dynsym', strings: s, syms: [{ name: at.SSL_write, type: STT_FUNC }] }];
  const good = elf(table);
  assert.deepEqual(sorted(definedFunctions(tmpFile(good), SSL_FUNCS)), ['SSL_write'], 'the unmodified file');

  const variants: Record<string, Buffer> = {
    'ELFCLASS32': elf(table, { elfClass: 1 }),
    'big-endian': elf(table, { data: 2 }),
    'entsize 0': elf(table, { entsize: 0 }),
    'entsize 8': elf(table, { entsize: 8 }),
  };
  const patched = (name: string, f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    variants[name] = b;
  };
  const shoff = Number(good.readBigUInt64LE(0x28));
  patched('shoff past EOF', (b) => b.writeBigUInt64LE(BigInt(b.length), 0x28));
  patched('shoff 2^64-1', (b) => b.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 0x28));
  patched('shnum 0', (b) => b.writeUInt16LE(0, 0x3c));
  patched('shnum too large', (b) => b.writeUInt16LE(0xffff, 0x3c));
  patched('shentsize 0', (b) => b.writeUInt16LE(0, 0x3a));
  patched('symtab link out of range', (b) => b.writeUInt32LE(99, shoff + 2 * 64 + 0x28));
  patched('strtab size 2^63', (b) => b.writeBigUInt64LE(1n << 63n, shoff + 1 * 64 + 0x20));
  patched('strtab offset past EOF', (b) => b.writeBigUInt64LE(BigInt(b.length + 1), shoff + 1 * 64 + 0x18));
  patched('symtab size past EOF', (b) => b.writeBigUInt64LE(BigInt(b.length), shoff + 2 * 64 + 0x20));
  patched('symbol name offset past strtab', (b) => b.writeUInt32LE(0xffff_fff0, Number(b.readBigUInt64LE(shoff + 2 * 64 + 0x18)) + 24));
  for (const [name, content] of Object.entries(variants)) {
    let got: Set<string> | undefined;
    assert.doesNotThrow(() => (got = definedFunctions(tmpFile(content), SSL_FUNCS)), name);
    assert.deepEqual(sorted(got!), [], name);
  }
});

test('random damage to libssl headers never throws', { skip: !existsSync(LIBSSL) && `${LIBSSL} absent` }, () => {
  const lib = readFileSync(LIBSSL);
  const file = path.join(tmp, 'fuzzed-libssl');
  copyFileSync(LIBSSL, file);
  const shoff = Number(lib.readBigUInt64LE(0x28));
  const shSize = lib.readUInt16LE(0x3a) * lib.readUInt16LE(0x3c);
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const fd = openSync(file, 'r+');
  try {
    for (let i = 0; i < 300; i++) {
      // damage a few bytes of the ELF header or of the section header table, then restore them
      const spots = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => (rnd() < 0.3 ? Math.floor(rnd() * 64) : shoff + Math.floor(rnd() * shSize)));
      for (const at of spots) writeSync(fd, Buffer.from([Math.floor(rnd() * 256)]), 0, 1, at);
      try {
        const got = definedFunctions(file, SSL_FUNCS);
        for (const name of got) assert.ok(SSL_FUNCS.includes(name));
      } catch (e) {
        assert.fail(`iteration ${i}, damaged at ${spots}: ${(e as Error).stack}`);
      } finally {
        for (const at of spots) writeSync(fd, lib, at, 1, at);
      }
    }
  } finally {
    closeSync(fd);
  }
  assert.deepEqual(sorted(definedFunctions(file, SSL_FUNCS)), [...SSL_FUNCS].sort(), 'restored copy');
});
