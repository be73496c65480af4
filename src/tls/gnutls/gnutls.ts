// GnuTLS (libgnutls.so.30 and any file exporting its record functions): wget, gnutls-cli, git
// through libcurl-gnutls, many daemons. Its record calls have OpenSSL's read/write shape
// (session, buffer, length) → byte count (ssize_t, < 0 on error), so they run OpenSSL's BPF
// programs unchanged: data taken at return, only from calls that moved bytes; the session
// pointer names the connection, and gnutls_deinit frees it as SSL_free does. The socket is
// found the same offset-free way (GnuTLS does its own socket I/O inside the call).
import type { CandidateFile, Claim, ProbeSpec, TlsLibrary } from '../library';
import { gnutlsVersion } from './version';

/** gnutls_record_send is a tail call into gnutls_record_send2 (GnuTLS ≥ 3.6.3): probing the
 *  latter sees both, once; older builds have only the former. */
const WRITES = ['gnutls_record_send2', 'gnutls_record_send'];
const READ = 'gnutls_record_recv';
const FREE = 'gnutls_deinit';

export const gnutls: TlsLibrary = {
  name: 'gnutls',
  symbols: [...WRITES, READ, FREE],
  libraryFileNames: /^libgnutls\.so(\.|$)/,
  claim(file: CandidateFile): Claim | undefined {
    const write = WRITES.find((s) => file.defined.has(s));
    if (write === undefined || !file.defined.has(READ)) return undefined;
    const probes: ProbeSpec[] = [
      { program: 'tls_enter', retprobe: false, symbol: write, label: write, writes: true },
      { program: 'tls_write_ret', retprobe: true, symbol: write, label: write },
      { program: 'tls_enter', retprobe: false, symbol: READ, label: READ },
      { program: 'tls_read_ret', retprobe: true, symbol: READ, label: READ },
    ];
    if (file.defined.has(FREE)) probes.push({ program: 'tls_free', retprobe: false, symbol: FREE, label: FREE });
    const notes = [write === 'gnutls_record_send2' ? 'writes on gnutls_record_send2 (gnutls_record_send calls it)' : 'writes on gnutls_record_send', 'reads on gnutls_record_recv'];
    return { library: 'gnutls', version: gnutlsVersion(file.path), probes, notes };
  },
};
