// BoringSSL built into a file without symbols (Python's grpcio, Envoy, other stripped static
// builds): SSL_read and SSL_write found from the code (find.ts), probed with the OpenSSL
// programs (same arguments: SSL *, buffer, int; the byte count returned). A BoringSSL that
// exports its symbols is claimed by the OpenSSL library already (same function names).
//
// SSL_free has no error site to be found by, so these connections end at their socket's close
// instead (Claim.endsAtSocketClose; bpf/tlsotel.bpf.c: fd_closes): the SSL* of a closed
// connection may be the next connection's, and nothing else would tell the two apart.
import type { CandidateFile, Claim, TlsLibrary } from '../library';
import { BoringsslPlacementError, findBoringssl } from './find';

export const boringssl: TlsLibrary = {
  name: 'boringssl',
  symbols: ['SSL_read', 'SSL_write'],
  claimsWithoutSymbols: true,
  claim(file: CandidateFile): Claim | undefined {
    if (file.defined.has('SSL_read') || file.defined.has('SSL_write')) return undefined; // OpenSSL's claim
    let found;
    try {
      found = findBoringssl(file.path);
    } catch (e) {
      if (e instanceof BoringsslPlacementError) throw new Error(`BoringSSL built in without symbols: ${e.message}; not traced`);
      throw e;
    }
    if (found === null) return undefined;
    const { read, write } = found;
    const at = (name: string, o: number) => `${name}@0x${o.toString(16)}`;
    return {
      library: 'boringssl',
      probes: [
        { program: 'tls_enter', retprobe: false, offset: write.offset, label: at('SSL_write', write.offset), writes: true },
        { program: 'tls_write_ret', retprobe: true, offset: write.offset, label: at('SSL_write', write.offset) },
        { program: 'tls_enter', retprobe: false, offset: read.offset, label: at('SSL_read', read.offset) },
        { program: 'tls_read_ret', retprobe: true, offset: read.offset, label: at('SSL_read', read.offset) },
      ],
      endsAtSocketClose: true,
      notes: [
        `no symbols: SSL_write and SSL_read found by ${found.sites} error sites of ssl_lib.cc (${found.readHow})`,
        "connections end when their socket is closed (SSL_free cannot be found)",
      ],
    };
  },
};
