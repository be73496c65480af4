// OpenSSL (libssl.so.* and programs that carry it, such as node): which files are OpenSSL's and
// where their probes go. See internals.ts for why libssl 3.x is probed on its internal
// functions, and bpf/tlsotel.bpf.c for the programs.
import type { CandidateFile, Claim, ProbeSpec, TlsLibrary } from '../library';
import { findInternals } from './internals';
import { opensslVersion } from './version';

/** Entry/return programs per exported function. SSL_read/SSL_write return the byte count;
 *  the _ex variants return 1 and write the count through their fourth argument. */
const EXPORTED: Array<{ fn: string; dir: 'write' | 'read'; enter: string; ret: string }> = [
  { fn: 'SSL_write', dir: 'write', enter: 'tls_enter', ret: 'tls_write_ret' },
  { fn: 'SSL_read', dir: 'read', enter: 'tls_enter', ret: 'tls_read_ret' },
  { fn: 'SSL_write_ex', dir: 'write', enter: 'tls_enter', ret: 'tls_write_ex_ret' },
  { fn: 'SSL_read_ex', dir: 'read', enter: 'tls_enter', ret: 'tls_read_ex_ret' },
  // OpenSSL >= 3.3: the count pointer is the fifth argument. SSL_write_ex may tail-call it; the
  // BPF programs leave such a nested call to SSL_write_ex's probes (see tls_enter_ex2).
  { fn: 'SSL_write_ex2', dir: 'write', enter: 'tls_enter_ex2', ret: 'tls_write_ex2_ret' },
];

/** The internal functions have the _ex variants' arguments (SSL_write_ex2's from 3.3 on). */
const INTERNAL_RET: Record<'write' | 'read', string> = { write: 'tls_write_ex_ret', read: 'tls_read_ex_ret' };
const INTERNAL_ENTER: Record<4 | 5, string> = { 4: 'tls_enter', 5: 'tls_enter_arg5' };

const REQUIRED = ['SSL_write', 'SSL_read'];

/** OpenSSL's API in its forks, told apart by a function only the fork has (in .dynsym or
 *  .symtab): BoringSSL (curl-impersonate in curl_cffi, Chromium-derived builds) and AWS-LC, a
 *  fork of BoringSSL. Same probes; spans and doctor name the fork. */
const BORINGSSL_ONLY = 'SSL_CTX_set_grease_enabled';
const AWSLC_ONLY = 'awslc_api_version_num';

function fork(defined: ReadonlySet<string>): 'boringssl' | 'aws-lc' | undefined {
  if (defined.has(AWSLC_ONLY)) return 'aws-lc';
  return defined.has(BORINGSSL_ONLY) ? 'boringssl' : undefined;
}

/** The probes on the exported functions of one direction that the file defines: where the
 *  internal function is not found (and for tests of that placement). */
export function exportedProbes(dir: 'write' | 'read', defined: ReadonlySet<string>): ProbeSpec[] {
  return EXPORTED.filter((e) => e.dir === dir && defined.has(e.fn)).flatMap((e) => [
    { program: e.enter, retprobe: false, symbol: e.fn, label: e.fn, writes: dir === 'write' },
    { program: e.ret, retprobe: true, symbol: e.fn, label: e.fn },
  ]);
}

export const openssl: TlsLibrary = {
  name: 'openssl',
  symbols: [...EXPORTED.map((e) => e.fn), 'SSL_free', BORINGSSL_ONLY, AWSLC_ONLY],
  libraryFileNames: /^libssl\.so(\.|$)/,
  executableNames: ['node', 'nodejs'],
  claim(file: CandidateFile): Claim | undefined {
    if (!REQUIRED.every((s) => file.defined.has(s))) return undefined;
    const internals = findInternals(file.path);
    const probes: ProbeSpec[] = [];
    const notes: string[] = [];
    for (const dir of ['write', 'read'] as const) {
      const internal = internals[dir];
      if (internal !== undefined) {
        const label = `${internal.name}@0x${internal.offset.toString(16)}`;
        probes.push({ program: INTERNAL_ENTER[internal.countArg], retprobe: false, offset: internal.offset, label, writes: dir === 'write' });
        probes.push({ program: INTERNAL_RET[dir], retprobe: true, offset: internal.offset, label });
        notes.push(`${dir}s on ${internal.name} (called by ${internal.calledBy.join(', ')}${internal.countArg === 5 ? '; SSL_write_ex through SSL_write_ex2' : ''})`);
        continue;
      }
      probes.push(...exportedProbes(dir, file.defined));
      notes.push(`${dir}s on the exported functions`);
    }
    if (file.defined.has('SSL_free')) probes.push({ program: 'tls_free', retprobe: false, symbol: 'SSL_free', label: 'SSL_free' });
    const forked = fork(file.defined);
    if (forked !== undefined) {
      // No "OpenSSL x.y.z" text of its own to read (BoringSSL has no version numbers).
      notes.push(`${forked === 'aws-lc' ? 'AWS-LC' : 'BoringSSL'} (OpenSSL's API)`);
      return { library: forked, probes, notes };
    }
    const { version, note } = opensslVersion(file.path);
    if (note !== undefined) notes.push(note);
    return { library: 'openssl', version, probes, notes };
  },
};
