// Go's own function table (pclntab): what finds functions in binaries linked with `-s -w`, which
// have no .symtab. The Go runtime needs it for stack traces and GC, so no Go binary lacks it.
//
// Layout for Go 1.18–1.26 (runtime/symtab.go pcHeader, 64-bit):
//   0 magic u32 (0xfffffff0: 1.18–1.19, 0xfffffff1: 1.20+)  4 pad 0,0  6 minLC  7 ptrSize
//   8 nfunc   16 nfiles   24 textStart (until 1.25; since 1.26 written as 0)
//   32 funcnameOffset   40 cuOffset   48 filetabOffset   56 pctabOffset   64 pclnOffset
// At pclnOffset: ftab, nfunc+1 pairs {entryOff u32, funcOff u32}, entryOff relative to the text
// start; funcOff (relative to pclnOffset) locates a _func {entryOff u32, nameOff i32, args i32,
// deferreturn u32, pcsp u32, …}. nameOff indexes the NUL-terminated names at funcnameOffset.
//
// Where it is: section .gopclntab (non-PIE, and PIE since Go 1.26), .data.rel.ro.gopclntab
// (PIE before 1.26); else searched for by magic in the allocated data, accepted only if the
// module data points at it.
//
// The text start: entry offsets are relative to runtime.text, which is NOT always the start of
// .text (external linking puts C start-up code first). pcHeader.textStart held it until Go 1.25;
// Go 1.26 no longer stores it (in PIE it needed a relocation). Neither is used: the runtime's
// moduledata (runtime.firstmoduledata) starts with a pointer to the pclntab and holds `text`, so
// it is found by that pointer and checked against the header's other offsets.
import { ElfImage, ElfSection, PF_W, PF_X, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_PROGBITS } from '../../discovery/elf';
import { GoAnalysisError, GoAnalysisErrorKind } from './go-analysis-error';

/** A function found in the pclntab: its virtual address and code size in bytes. */
export interface PclntabFunction {
  vaddr: number;
  size: number;
}

const MAGIC_GO118 = 0xfffffff0;
const MAGIC_GO120 = 0xfffffff1;
const OLD_MAGICS = new Set([0xfffffffb, 0xfffffffa]);
const HEADER_SIZE = 72;
const MAX_FUNCS = 1 << 24;

interface Header {
  minLC: number;
  nfunc: number;
  funcnameOffset: number;
  cuOffset: number;
  filetabOffset: number;
  pctabOffset: number;
  pclnOffset: number;
}

/** What moduledata says about the text, as the runtime sees it. */
interface ModuleText {
  text: number;
  etext: number;
}

export class Pclntab {
  private constructor(
    /** Virtual address of the pcHeader. */
    readonly vaddr: number,
    private readonly data: Buffer,
    private readonly header: Header,
    /** runtime.text: the address entry offsets are relative to. */
    readonly textStart: number,
    readonly textEnd: number,
  ) {}

  /** Finds and checks the pclntab of a Go ELF file; throws GoAnalysisError when it can't. */
  static load(elf: ElfImage): Pclntab {
    let oldFormat = false;
    for (const candidate of candidates(elf)) {
      const magic = candidate.data.length >= 4 ? candidate.data.readUInt32LE(0) : 0;
      if (OLD_MAGICS.has(magic)) oldFormat = true;
      const header = parseHeader(candidate.data);
      if (!header) continue;
      const module = findModuleText(elf, candidate.vaddr, header);
      if (!module) {
        if (candidate.named) throw new GoAnalysisError(GoAnalysisErrorKind.NoModuleData, 'no runtime module data points at the pclntab');
        continue;
      }
      return new Pclntab(candidate.vaddr, candidate.data, header, module.text, module.etext);
    }
    if (oldFormat) throw new GoAnalysisError(GoAnalysisErrorKind.OldPclntab, 'the pclntab is of a Go release older than 1.18');
    throw new GoAnalysisError(GoAnalysisErrorKind.NoPclntab, 'no Go pclntab found');
  }

  get functionCount(): number {
    return this.header.nfunc;
  }

  /** The functions of `names` that the table lists (exact full names, e.g. "crypto/tls.(*Conn).Write"). */
  lookup(names: readonly string[]): Map<string, PclntabFunction> {
    const { data, header } = this;
    const wanted = names.map((n) => Buffer.from(n, 'utf8'));
    const out = new Map<string, PclntabFunction>();
    for (let i = 0; i < header.nfunc && out.size < wanted.length; i++) {
      const ft = header.pclnOffset + i * 8;
      const funcOff = header.pclnOffset + data.readUInt32LE(ft + 4);
      if (funcOff + 20 > data.length) continue;
      const nameAt = header.funcnameOffset + data.readInt32LE(funcOff + 4);
      for (let w = 0; w < wanted.length; w++) {
        const name = wanted[w];
        if (nameAt < 0 || nameAt + name.length >= data.length || data[nameAt + name.length] !== 0) continue;
        if (data.compare(name, 0, name.length, nameAt, nameAt + name.length) !== 0) continue;
        out.set(names[w], this.functionAt(i, funcOff, names[w]));
      }
    }
    return out;
  }

  private functionAt(i: number, funcOff: number, name: string): PclntabFunction {
    const { data, header } = this;
    const entryOff = data.readUInt32LE(header.pclnOffset + i * 8);
    const nextOff = data.readUInt32LE(header.pclnOffset + (i + 1) * 8);
    if (data.readUInt32LE(funcOff) !== entryOff || nextOff <= entryOff) {
      throw new GoAnalysisError(GoAnalysisErrorKind.BadFunction, `the pclntab entry of ${name} is inconsistent`);
    }
    // The code ends where the function's pc-value tables end; the next function's entry would
    // include the INT3 padding between functions.
    const pcsp = data.readUInt32LE(funcOff + 16);
    const end = pcsp === 0 ? undefined : tableEnd(data, header.pctabOffset + pcsp, header.minLC);
    const size = end !== undefined && end > 0 && end <= nextOff - entryOff ? end : nextOff - entryOff;
    const vaddr = this.textStart + entryOff;
    if (vaddr + size > this.textEnd) throw new GoAnalysisError(GoAnalysisErrorKind.BadFunction, `${name} lies past the end of the text`);
    return { vaddr, size };
  }
}

interface Candidate {
  vaddr: number;
  data: Buffer;
  /** Found by section name (so a failure is final) rather than by a magic search. */
  named: boolean;
}

function* candidates(elf: ElfImage): Generator<Candidate> {
  for (const name of ['.gopclntab', '.data.rel.ro.gopclntab']) {
    const s = elf.section(name);
    const data = s && elf.sectionData(s);
    if (s && data) yield { vaddr: s.addr, data, named: true };
  }
  // No section of its own: search allocated data for the magic, 8-byte aligned.
  for (const region of dataRegions(elf, false)) {
    for (const magic of [MAGIC_GO120, MAGIC_GO118]) {
      const pattern = Buffer.alloc(4);
      pattern.writeUInt32LE(magic);
      for (let i = region.data.indexOf(pattern); i >= 0; i = region.data.indexOf(pattern, i + 1)) {
        if ((region.vaddr + i) % 8 === 0) yield { vaddr: region.vaddr + i, data: region.data.subarray(i), named: false };
      }
    }
  }
}

/**
 * Loaded, non-executable data to search (only writable data if `writable`): the sections, or the
 * segments of a file whose section headers were removed (sstrip and the like). Read one at a
 * time, as searched.
 */
function* dataRegions(elf: ElfImage, writable: boolean): Generator<{ vaddr: number; data: Buffer }> {
  if (elf.sections.length === 0) {
    for (const g of elf.segments) {
      if (g.flags & PF_X || (writable && !(g.flags & PF_W))) continue;
      const data = elf.read(g.offset, g.filesz);
      if (data) yield { vaddr: g.vaddr, data };
    }
    return;
  }
  // Go 1.26 gives the module data a section of its own (.go.module): look there first.
  const sections = [...elf.sections].sort((a, b) => Number(b.name === '.go.module') - Number(a.name === '.go.module'));
  for (const s of sections) {
    if (!isData(s) || (writable && !(s.flags & SHF_WRITE)) || s.name.endsWith('gopclntab')) continue;
    const data = elf.sectionData(s);
    if (data) yield { vaddr: s.addr, data };
  }
}

function isData(s: ElfSection): boolean {
  return s.type === SHT_PROGBITS && (s.flags & SHF_ALLOC) !== 0 && (s.flags & SHF_EXECINSTR) === 0;
}

function parseHeader(data: Buffer): Header | null {
  if (data.length < HEADER_SIZE) return null;
  const magic = data.readUInt32LE(0);
  if (magic !== MAGIC_GO118 && magic !== MAGIC_GO120) return null;
  const minLC = data[6];
  if (data[4] !== 0 || data[5] !== 0 || (minLC !== 1 && minLC !== 2 && minLC !== 4) || data[7] !== 8) return null;
  const word = (at: number) => Number(data.readBigUInt64LE(at));
  const h: Header = {
    minLC,
    nfunc: word(8),
    funcnameOffset: word(32),
    cuOffset: word(40),
    filetabOffset: word(48),
    pctabOffset: word(56),
    pclnOffset: word(64),
  };
  if (h.nfunc === 0 || h.nfunc > MAX_FUNCS) return null;
  for (const off of [h.funcnameOffset, h.cuOffset, h.filetabOffset, h.pctabOffset]) if (off < HEADER_SIZE || off >= data.length) return null;
  if (h.pclnOffset < HEADER_SIZE || h.pclnOffset + (h.nfunc + 1) * 8 > data.length) return null;
  return h;
}

// moduledata's first words (runtime/symtab.go; the same since Go 1.16, checked on 1.19 and 1.26): pcHeader, then
// the slices funcnametab, cutab, filetab, pctab, pclntable, ftab ({ptr, len, cap} each), then
// findfunctab, minpc, maxpc, text, etext.
const MD_WORDS = 24;
const MD_FUNCNAMETAB = 1;
const MD_CUTAB = 4;
const MD_FILETAB = 7;
const MD_PCTAB = 10;
const MD_PCLNTABLE = 13;
const MD_FTAB = 16;
const MD_FTAB_LEN = 17;
const MD_TEXT = 22;
const MD_ETEXT = 23;

/**
 * The text bounds from the moduledata that points at the pclntab at `pclntab`. Go's linker
 * writes the link-time addresses into the file also for PIE (where relocations add the load
 * base), so the pointers are comparable with section addresses.
 */
function findModuleText(elf: ElfImage, pclntab: number, h: Header): ModuleText | undefined {
  const pattern = Buffer.alloc(8);
  pattern.writeBigUInt64LE(BigInt(pclntab));
  for (const { vaddr, data } of dataRegions(elf, true)) {
    for (let i = data.indexOf(pattern); i >= 0; i = data.indexOf(pattern, i + 1)) {
      if ((vaddr + i) % 8 !== 0 || i + MD_WORDS * 8 > data.length) continue;
      const w = (k: number) => Number(data.readBigUInt64LE(i + k * 8));
      const matches =
        w(MD_FUNCNAMETAB) === pclntab + h.funcnameOffset &&
        w(MD_CUTAB) === pclntab + h.cuOffset &&
        w(MD_FILETAB) === pclntab + h.filetabOffset &&
        w(MD_PCTAB) === pclntab + h.pctabOffset &&
        w(MD_PCLNTABLE) === pclntab + h.pclnOffset &&
        w(MD_FTAB) === pclntab + h.pclnOffset &&
        w(MD_FTAB_LEN) === h.nfunc + 1;
      const text = w(MD_TEXT);
      const etext = w(MD_ETEXT);
      if (matches && text < etext && isExecutable(elf, text, etext)) return { text, etext };
    }
  }
  return undefined;
}

function isExecutable(elf: ElfImage, start: number, end: number): boolean {
  return elf.segments.some((g) => g.flags & PF_X && start >= g.vaddr && end <= g.vaddr + g.filesz);
}

/**
 * The pc just past the end of a pc-value table: pairs of (zig-zag value delta, pc delta ×
 * minLC) uvarints, ended by a zero value delta after the first pair (runtime.step). The linker
 * writes one for the function's whole code, so its end is the function's size.
 */
function tableEnd(data: Buffer, at: number, minLC: number): number | undefined {
  let p = at;
  let pc = 0;
  const uvarint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift <= 28; shift += 7) {
      if (p >= data.length) return undefined;
      const b = data[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
    return undefined;
  };
  for (let first = true; ; first = false) {
    if (p >= data.length) return undefined;
    if (data[p] === 0 && !first) return pc;
    if (uvarint() === undefined) return undefined;
    const pcDelta = uvarint();
    if (pcDelta === undefined) return undefined;
    pc += pcDelta * minLC;
  }
}
