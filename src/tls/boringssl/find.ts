// Where SSL_read and SSL_write are in a BoringSSL built into a file without symbols (Python's
// grpcio module `cygrpc`, Envoy, other static builds that hide and strip it).
//
// No byte signature of the functions' code (it changes with every compiler and version); what
// BoringSSL's source fixes instead:
//   - every error is raised by OPENSSL_PUT_ERROR(SSL, reason), which compiles to
//     ERR_put_error(ERR_LIB_SSL, 0, reason, __FILE__, __LINE__): in x86-64 code, a
//     `lea __FILE__(%rip),%rcx` (the fourth argument) beside a `mov $reason,%edx`. __FILE__ is
//     the path of ssl/ssl_lib.cc, a string of the file, so each of its error sites is found by
//     the lea that points at it;
//   - the reason codes are BoringSSL's public, fixed numbers (include/openssl/ssl.h, err.h);
//   - the shape of the functions, unchanged since 2018: SSL_write raises "uninitialized",
//     "handshake failure" and "bad length" itself; SSL_peek raises "should not have been
//     called" (QUIC) and calls ssl_read_impl, which raises "uninitialized" and "handshake
//     failure"; SSL_read is SSL_peek (called or inlined) plus consuming what it returned.
// Functions are delimited by the unwind table (.eh_frame_hdr), which stripping keeps. Anything
// that does not fit exactly one way (no unwind table, two candidates for a role, none) is a
// clear "cannot place" rather than a guess.
import { ElfImage, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_PROGBITS, type ElfSection } from '../../discovery/elf';

/** BoringSSL's reason codes (include/openssl/err.h, ssl.h): stable numbers of its API. */
export const REASON = {
  SHOULD_NOT_HAVE_BEEN_CALLED: 66, // ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED (2 | ERR_R_FATAL)
  BAD_LENGTH: 111, // SSL_R_BAD_LENGTH
  SSL_HANDSHAKE_FAILURE: 215, // SSL_R_SSL_HANDSHAKE_FAILURE
  UNINITIALIZED: 226, // SSL_R_UNINITIALIZED
} as const;

const SOURCE_FILE = 'ssl_lib.cc';
/** Below this a file cannot hold BoringSSL's libssl and libcrypto: not looked into. */
export const MIN_FILE_BYTES = 1024 * 1024;
/** How far from the lea a `mov $reason,%edx` may be (the compiler schedules the argument moves
 *  around it). */
const WINDOW = 32;

export interface BoringsslFunction {
  /** File offset of the function's first instruction (where the probes go). */
  offset: number;
  /** Its length in bytes (from the unwind table). */
  size: number;
}

export interface BoringsslFunctions {
  read: BoringsslFunction;
  write: BoringsslFunction;
  /** How SSL_read was told from SSL_peek, for `doctor`. */
  readHow: string;
  /** Error sites of ssl_lib.cc found, for `doctor`. */
  sites: number;
}

/** Thrown when the file carries BoringSSL's ssl_lib.cc but its functions cannot be placed. */
export class BoringsslPlacementError extends Error {}

interface Fn {
  start: number; // vaddr
  size: number;
  reasons: Set<number>;
  calls?: Set<number>; // vaddrs called (call rel32), filled for the functions looked at
}

/** Every function of the unwind table, sorted by start (typed arrays: a large program has
 *  hundreds of thousands; Fn objects are made only for the few looked at). */
export interface Unwind {
  starts: Float64Array;
  sizes: Uint32Array;
  /** Offset of each function's FDE in `frames`. */
  fdes: Uint32Array;
  frames: Buffer;
}

/**
 * SSL_read and SSL_write of the BoringSSL in `path`, or null when the file does not carry
 * BoringSSL's ssl_lib.cc (the common case: most files). Throws BoringsslPlacementError when it
 * does but the functions cannot be told for sure; other errors only for unreadable files.
 */
export function findBoringssl(path: string): BoringsslFunctions | null {
  const elf = ElfImage.open(path);
  if (elf === null) return null;
  try {
    if (elf.fileSize < MIN_FILE_BYTES) return null;
    const targets = sourceFileStrings(elf);
    if (targets.size === 0) return null;
    const texts = elf.sections.filter((s) => s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0 && s.size > 0);
    const unwind = unwindFunctions(elf);
    if (unwind === null) throw new BoringsslPlacementError('BoringSSL without symbols and without an unwind table (.eh_frame_hdr): its functions cannot be delimited');
    let sites = 0;
    const texted: Array<{ sec: ElfSection; code: Buffer }> = [];
    const withSites = new Map<number, Fn>();
    for (const sec of texts) {
      const code = elf.sectionData(sec);
      if (code === null) continue;
      texted.push({ sec, code });
      sites += errorSites(sec, code, targets, unwind, withSites);
    }
    if (sites === 0) return null; // the name only (a string in some other program)
    return classify(withSites, unwind, texted, elf, sites);
  } finally {
    elf.close();
  }
}

/** Virtual addresses an lea for ssl_lib.cc's __FILE__ may point at: the start of each string
 *  that ends in "/ssl_lib.cc" (or is "ssl_lib.cc"), and each suffix of it after a '/' (a linker
 *  may merge "ssl/ssl_lib.cc" into the tail of a longer path). */
function sourceFileStrings(elf: ElfImage): Set<number> {
  const out = new Set<number>();
  const needle = Buffer.from(`${SOURCE_FILE}\0`, 'latin1');
  for (const sec of elf.sections) {
    if (sec.type !== SHT_PROGBITS || (sec.flags & SHF_ALLOC) === 0 || (sec.flags & (SHF_EXECINSTR | SHF_WRITE)) !== 0) continue;
    const data = elf.sectionData(sec);
    if (data === null) continue;
    for (let at = data.indexOf(needle); at >= 0; at = data.indexOf(needle, at + 1)) {
      if (at > 0 && data[at - 1] !== 0x2f /* / */ && data[at - 1] !== 0) continue; // e.g. "xssl_lib.cc"
      let start = at;
      while (start > 0 && data[start - 1] !== 0 && at - start < 512) start--;
      for (let p = start; p <= at; p++) if (p === start || data[p - 1] === 0x2f) out.add(sec.addr + p);
    }
  }
  return out;
}

/** Functions from .eh_frame_hdr's binary-search table (start, and size from each FDE), sorted by
 *  start; null without a table this code reads (encoding other than datarel|sdata4). */
export function unwindFunctions(elf: ElfImage): Unwind | null {
  const hdr = elf.section('.eh_frame_hdr');
  const data = hdr && elf.sectionData(hdr);
  if (!hdr || !data || data.length < 12 || data[0] !== 1) return null;
  const [ptrEnc, countEnc, tableEnc] = [data[1], data[2], data[3]];
  if (tableEnc !== 0x3b || countEnc !== 0x03 || (ptrEnc & 0x0f) !== 0x0b) return null; // datarel sdata4, udata4, sdata4
  const count = data.readUInt32LE(8);
  if (12 + count * 8 > data.length) return null;
  // The FDEs, read once (one read per FDE would be hundreds of thousands in a large program).
  const eh = elf.section('.eh_frame');
  const frames = eh && elf.sectionData(eh);
  if (!eh || !frames) return null;
  const starts = new Float64Array(count);
  const sizes = new Uint32Array(count);
  const fdes = new Uint32Array(count);
  let n = 0;
  for (let k = 0; k < count; k++) {
    const start = hdr.addr + data.readInt32LE(12 + k * 8);
    const fde = hdr.addr + data.readInt32LE(16 + k * 8);
    // FDE: length, CIE pointer, pc_begin (pcrel sdata4, as the table's encoding implies for
    // every compiler that writes this table), pc_range. Checked against the table's start.
    const at = fde - eh.addr;
    if (at < 0 || at + 16 > frames.length || frames.readUInt32LE(at) === 0xffffffff) continue;
    if (fde + 8 + frames.readInt32LE(at + 8) !== start) continue;
    if (n > 0 && start < starts[n - 1]) return null; // the table is sorted by definition
    starts[n] = start;
    sizes[n] = frames.readUInt32LE(at + 12);
    fdes[n] = at;
    n++;
  }
  return n > 0 ? { starts: starts.subarray(0, n), sizes: sizes.subarray(0, n), fdes: fdes.subarray(0, n), frames } : null;
}

/**
 * Whether the function's unwind rules at its first instruction are a function entry's: the
 * CIE's (CFA = %rsp + 8, the return address on top of the stack), unchanged before the first
 * advance. A fragment of a function (a compiler's ".cold" part, reached by a jump from inside
 * its parent's frame) sets its own CFA offset and saved registers at its first instruction; a
 * return probe there would take the stack's top for a return address, which it is not.
 */
export function startsAtEntry(u: Unwind, k: number): boolean {
  const f = u.frames;
  const at = u.fdes[k];
  const end = at + 4 + f.readUInt32LE(at);
  const cie = at + 4 - f.readUInt32LE(at + 4);
  if (cie < 0 || cie + 10 > f.length || end > f.length) return false;
  // FDE: length, CIE pointer, pc_begin, pc_range (sdata4 each, as the table's encoding), then
  // with a "z" augmentation its data's length (uleb128) and data, then the instructions.
  let i = at + 16;
  if (f[cie + 9] === 0x7a /* 'z' */) {
    let len = 0;
    let shift = 0;
    for (let b = 0x80; b & 0x80 && i < end; shift += 7) {
      b = f[i++];
      len |= (b & 0x7f) << shift;
    }
    i += len;
  }
  while (i < end) {
    const op = f[i];
    if (op === 0x00) { i++; continue; } // DW_CFA_nop
    // DW_CFA_advance_loc (0x40-0x7f), advance_loc1/2/4: the first instruction's rules are done.
    return (op & 0xc0) === 0x40 || op === 0x02 || op === 0x03 || op === 0x04;
  }
  return true; // no instruction: the CIE's rules throughout
}

/** Index of the function containing vaddr, or -1. */
export function fnIndexAt(u: Unwind, vaddr: number): number {
  let lo = 0;
  let hi = u.starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (u.starts[mid] <= vaddr) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi >= 0 && vaddr < u.starts[hi] + u.sizes[hi] ? hi : -1;
}

/** Finds every `lea target(%rip),%rcx` in one executable section and adds the reason codes
 *  moved into %edx around it to its function's. Returns how many such sites it found. */
function errorSites(sec: ElfSection, code: Buffer, targets: Set<number>, u: Unwind, withSites: Map<number, Fn>): number {
  const lea = Buffer.from([0x48, 0x8d, 0x0d]); // lea disp32(%rip),%rcx
  let n = 0;
  for (let i = code.indexOf(lea); i >= 0 && i + 7 <= code.length; i = code.indexOf(lea, i + 1)) {
    const at = sec.addr + i;
    if (!targets.has(at + 7 + code.readInt32LE(i + 3))) continue;
    const k = fnIndexAt(u, at);
    if (k < 0) continue;
    let fn = withSites.get(u.starts[k]);
    if (fn === undefined) withSites.set(u.starts[k], fn = { start: u.starts[k], size: u.sizes[k], reasons: new Set() });
    n++;
    const lo = Math.max(0, i - WINDOW, fn.start - sec.addr);
    const hi = Math.min(code.length - 5, i + 7 + WINDOW, fn.start + fn.size - sec.addr - 5);
    for (let j = lo; j <= hi; j++) {
      // mov $imm32,%edx (not part of a longer instruction: not after a REX prefix)
      if (code[j] === 0xba && !(j > 0 && (code[j - 1] & 0xf0) === 0x40)) {
        const imm = code.readUInt32LE(j + 1);
        if (imm > 0 && imm < 4096) fn.reasons.add(imm);
      }
    }
  }
  return n;
}

/** `call rel32` targets in a function (a byte-wise search: only compared with functions'
 *  starts, so a stray match would need a displacement to exactly such a start). */
function callsOf(fn: Fn, texted: Array<{ sec: ElfSection; code: Buffer }>): Set<number> {
  if (fn.calls !== undefined) return fn.calls;
  const calls = (fn.calls = new Set());
  const t = texted.find(({ sec }) => fn.start >= sec.addr && fn.start + fn.size <= sec.addr + sec.size);
  if (!t) return calls;
  const base = fn.start - t.sec.addr;
  for (let j = base; j + 5 <= base + fn.size; j++) {
    if (t.code[j] === 0xe8) calls.add(t.sec.addr + j + 5 + t.code.readInt32LE(j + 1));
  }
  return calls;
}

const hasAll = (s: Set<number>, ...r: number[]) => r.every((x) => s.has(x));

function classify(sited: Map<number, Fn>, u: Unwind, texted: Array<{ sec: ElfSection; code: Buffer }>, elf: ElfImage, sites: number): BoringsslFunctions {
  const { SHOULD_NOT_HAVE_BEEN_CALLED: QUIC, BAD_LENGTH, SSL_HANDSHAKE_FAILURE: HS, UNINITIALIZED: UNINIT } = REASON;
  const withSites = [...sited.values()].filter((f) => f.reasons.size > 0);
  const writes = withSites.filter((f) => hasAll(f.reasons, UNINIT, HS, BAD_LENGTH));
  if (writes.length !== 1) throw new BoringsslPlacementError(`BoringSSL's SSL_write not told apart: ${writes.length} functions raise its errors`);
  const write = writes[0];

  // What a function raises itself and through the functions it calls directly.
  const reach = (f: Fn): Set<number> => {
    const s = new Set(f.reasons);
    for (const c of callsOf(f, texted)) for (const r of sited.get(c)?.reasons ?? []) s.add(r);
    return s;
  };
  // SSL_peek, and SSL_read when SSL_peek is inlined into it.
  const peeks = withSites.filter((f) => f !== write && f.reasons.has(QUIC) && !f.reasons.has(BAD_LENGTH) && hasAll(reach(f), UNINIT, HS));
  let read: Fn;
  let readHow: string;
  if (peeks.length === 2) {
    const [a, b] = peeks;
    if (callsOf(a, texted).has(b.start)) read = a;
    else if (callsOf(b, texted).has(a.start)) read = b;
    else if (a.size !== b.size) read = a.size > b.size ? a : b;
    else throw new BoringsslPlacementError("BoringSSL's SSL_read not told from SSL_peek: same shape and size");
    readHow = callsOf(read, texted).has((read === a ? b : a).start)
      ? 'SSL_read: the one of SSL_peek and SSL_read that calls the other'
      : 'SSL_read: the larger of SSL_peek and SSL_read, which inlines it (SSL_read is SSL_peek and more)';
  } else if (peeks.length === 1) {
    // SSL_peek out of line (SSL_read calls it), or SSL_read with SSL_peek inlined and no copy
    // of SSL_peek left: SSL_read is then the one small function of ssl_lib.cc that calls it.
    const p = peeks[0];
    const lo = Math.min(...withSites.map((f) => f.start));
    const hi = Math.max(...withSites.map((f) => f.start + f.size));
    const callers: Fn[] = [];
    for (let k = Math.max(0, fnIndexAt(u, lo)); k < u.starts.length && u.starts[k] < hi; k++) {
      if (u.starts[k] < lo || u.starts[k] === p.start || u.sizes[k] > 256 || sited.has(u.starts[k])) continue;
      const f: Fn = { start: u.starts[k], size: u.sizes[k], reasons: new Set() };
      if (callsOf(f, texted).has(p.start)) callers.push(f);
    }
    if (callers.length === 1) {
      read = callers[0];
      readHow = 'SSL_read: the function of ssl_lib.cc that calls SSL_peek';
    } else if (callers.length === 0) {
      read = p;
      readHow = 'SSL_read: SSL_peek inlined, no other copy';
    } else {
      throw new BoringsslPlacementError(`BoringSSL's SSL_read not told apart: ${callers.length} functions call SSL_peek`);
    }
  } else {
    throw new BoringsslPlacementError(`BoringSSL's SSL_read not told apart: ${peeks.length} functions have SSL_peek's shape`);
  }
  // A function's start, not a fragment's (a compiler may split a function's unlikely paths, such
  // as its error sites, into a ".cold" part with an unwind entry of its own).
  for (const [f, name] of [[write, 'SSL_write'], [read, 'SSL_read']] as const) {
    if (!startsAtEntry(u, fnIndexAt(u, f.start))) throw new BoringsslPlacementError(`the code taken for ${name} (0x${f.start.toString(16)}) does not begin as a function does (its unwind rules say it is a fragment of another): not placed`);
  }
  const place = (f: Fn): BoringsslFunction => {
    const offset = elf.offsetOf(f.start);
    if (offset === undefined) throw new BoringsslPlacementError(`function at 0x${f.start.toString(16)} is not in a loaded segment`);
    return { offset, size: f.size };
  };
  return { read: place(read), write: place(write), readHow, sites };
}
