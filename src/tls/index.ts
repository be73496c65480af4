// The TLS libraries tlsotel traces: adding one is a folder here (its claim and probes, plus its
// BPF programs) and one line in TLS_LIBRARIES.
import type { TlsLibrary } from './library';
import { boringssl } from './boringssl/boringssl';
import { gnutls } from './gnutls/gnutls';
import { goTls } from './go/go-library';
import { openssl } from './openssl/openssl';

export const TLS_LIBRARIES: readonly TlsLibrary[] = [openssl, gnutls, goTls, boringssl];

export type { Claim, CandidateFile, ProbeSpec, TlsLibrary } from './library';
export { untraceableStack, type UntraceableFile } from './untraceable';
