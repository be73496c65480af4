// Where to put the read/write probes of a libssl so that they are cheap and see everything.
//
// In OpenSSL 3.x, SSL_write and SSL_write_ex are thin wrappers around one internal function,
// ssl_write_internal(SSL *s, const void *buf, size_t num, size_t *written) (SSL_read/_ex around
// ssl_read_internal, same shape), which BIO_f_ssl also calls directly. Probing that function
// instead of the four exported ones:
//   - costs less per call: Debian's SSL_write/SSL_read begin with `sub $0x18,%rsp`, which the
//     kernel must single-step out of line (~4.7 µs a hit here), the internal functions with
//     `push`, which it emulates (~0.7–1 µs);
//   - needs one entry/return pair per direction instead of two;
//   - also sees programs that use SSL BIOs (openssl s_server -www, BIO_new_ssl_connect).
// The internal functions are not exported, so they are found from the wrappers' code: the
// first instruction of SSL_write_ex after a plain prologue must be `call rel32`, and SSL_write
// must call the same target, which must itself begin with a push (or a `sub` from %rsp: see
// probeEntry). Anything else — another
// build, another compiler, LTO inlining — falls back to the exported functions. No struct
// layout is involved, only where a call goes.
//
// OpenSSL 3.3 added SSL_write_ex2(SSL *s, const void *buf, size_t num, uint64_t flags,
// size_t *written) and gave ssl_write_internal its arguments (the count pointer is the fifth,
// r8); SSL_write_ex became SSL_write_ex2 with flags 0 (in Debian 13's 3.5: `mov %rcx,%r8;
// xor %ecx,%ecx; jmp SSL_write_ex2@plt`, which no longer matches). Where SSL_write_ex2 is
// exported it is the write side's wrapper instead: the same test (a plain prologue, then a call
// that SSL_write makes too) proves its callee takes its arguments, so the count pointer is the
// fifth. Every write reaches that callee: SSL_write and SSL_write_ex2 call it, SSL_write_ex goes
// through SSL_write_ex2. Where SSL_write_ex2 is exported but does not match, SSL_write_ex is not
// tried: a callee found from it could be bypassed by direct SSL_write_ex2 calls.
import { functionCode, readCode } from '../../discovery/elf';

export interface InternalProbe {
  /** File offset to place the entry probe and the return probe. */
  offset: number;
  /** The function's name in OpenSSL's source (it has no symbol): "ssl_write_internal". */
  name: string;
  /** The exported functions found to call it. */
  calledBy: string[];
  /** Which argument (1-based) points to the byte count: 4 as in SSL_write_ex/SSL_read_ex, 5 as
   *  in SSL_write_ex2. */
  countArg: 4 | 5;
}

export interface OpensslInternals {
  write?: InternalProbe;
  read?: InternalProbe;
}

/** Per direction, the wrappers tried in order: the first one the file exports is the one. */
const PAIRS = [
  { dir: 'write', ex: 'SSL_write_ex2', countArg: 5, plain: 'SSL_write', name: 'ssl_write_internal' },
  { dir: 'write', ex: 'SSL_write_ex', countArg: 4, plain: 'SSL_write', name: 'ssl_write_internal' },
  { dir: 'read', ex: 'SSL_read_ex', countArg: 4, plain: 'SSL_read', name: 'ssl_read_internal' },
] as const;

export function findInternals(path: string): OpensslInternals {
  const out: OpensslInternals = {};
  let code: Map<string, { offset: number; code: Buffer }>;
  try {
    code = functionCode(path, [...new Set(PAIRS.flatMap((p) => [p.ex, p.plain]))]);
  } catch {
    return out; // unreadable: the exported functions will do
  }
  const decided = new Set<string>();
  for (const p of PAIRS) {
    const ex = code.get(p.ex);
    if (decided.has(p.dir) || !ex) continue;
    decided.add(p.dir);
    const plain = code.get(p.plain);
    if (!plain) continue;
    const target = firstCallTarget(ex.offset, ex.code);
    if (target === undefined || !calls(plain.offset, plain.code, target)) continue;
    const entry = probeEntry(path, target);
    if (entry === undefined) continue;
    out[p.dir] = { offset: entry, name: p.name, calledBy: [p.plain, p.ex], countArg: p.countArg };
  }
  return out;
}

/** Length of a prologue instruction that leaves the argument registers alone, else 0. */
function prologueLength(c: Buffer, i: number): number {
  if (c[i] === 0xf3 && c[i + 1] === 0x0f && c[i + 2] === 0x1e && c[i + 3] === 0xfa) return 4; // endbr64
  if (c[i] >= 0x50 && c[i] <= 0x57) return 1; // push %rax..%rdi
  if (c[i] === 0x41 && c[i + 1] >= 0x50 && c[i + 1] <= 0x57) return 2; // push %r8..%r15
  if (c[i] === 0x48 && c[i + 1] === 0x83 && c[i + 2] === 0xec) return 4; // sub $imm8,%rsp
  if (c[i] === 0x48 && c[i + 1] === 0x89 && c[i + 2] === 0xe5) return 3; // mov %rsp,%rbp
  return 0;
}

/** The file offset a function calls first, when only a plain prologue comes before the call. */
function firstCallTarget(fnOffset: number, c: Buffer): number | undefined {
  let i = 0;
  for (let n = 0; n < 8 && i < c.length; n++) {
    const len = prologueLength(c, i);
    if (len === 0) break;
    i += len;
  }
  if (i + 5 > c.length || c[i] !== 0xe8) return undefined;
  return fnOffset + i + 5 + c.readInt32LE(i + 1);
}

/** Whether the code has a `call rel32` to `target` (a byte-wise search: a false match would
 *  need the same 32-bit displacement to the same function, so it is not a concern). */
function calls(fnOffset: number, c: Buffer, target: number): boolean {
  for (let i = 0; i + 5 <= c.length; i++) {
    if (c[i] === 0xe8 && fnOffset + i + 5 + c.readInt32LE(i + 1) === target) return true;
  }
  return false;
}

/** Where to probe a function: its first instruction after an endbr64, with the return address
 *  still on top of the stack for the return probe. Preferably a push (emulated by the kernel,
 *  cheap); a `sub $imm,%rsp` (OpenSSL 3.6 as Debian builds it) is single-stepped, as the
 *  exported functions' first instructions are, but one probe then sees every call where the
 *  exported ones need up to two (SSL_write_ex tail-calls SSL_write_ex2). Anything else: none. */
function probeEntry(path: string, offset: number): number | undefined {
  const c = readCode(path, offset, 12);
  if (!c || c.length < 8) return undefined;
  const at = c[0] === 0xf3 && c[1] === 0x0f && c[2] === 0x1e && c[3] === 0xfa ? 4 : 0; // endbr64
  const isPush = (i: number) => (c[i] >= 0x50 && c[i] <= 0x57) || (c[i] === 0x41 && c[i + 1] >= 0x50 && c[i + 1] <= 0x57);
  const isSubRsp = (i: number) => c[i] === 0x48 && (c[i + 1] === 0x83 || c[i + 1] === 0x81) && c[i + 2] === 0xec;
  return isPush(at) || isSubRsp(at) ? offset + at : undefined;
}
