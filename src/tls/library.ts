// The TLS-library seam: what one TLS library (OpenSSL, GnuTLS, Go crypto/tls…) tells the rest of
// the agent. Discovery finds files and asks every library whether it claims them; the loader
// attaches what the claim lists. Neither knows any library by name.

/** One probe to place in a file. */
export interface ProbeSpec {
  /** The BPF program to run (a name in the BPF object). */
  program: string;
  /** A return probe (uretprobe) rather than an entry probe. */
  retprobe: boolean;
  /** Where: an exported symbol (resolved by libbpf), or a file offset. */
  symbol?: string;
  offset?: number;
  /** What this probes, for `doctor` and logs (e.g. "SSL_read", "ssl_read_internal@0x3a0f0"). */
  label: string;
  /** An entry probe of a function that writes: its records are stamped at the call's entry
   *  (bpf/tlsotel.h, TLSOTEL_COOKIE_WRITE_ENTRY), when the bytes start to leave, so that a
   *  peer's span on this host never begins before this one. */
  writes?: boolean;
}

/** A library's plan for one file it claims. */
export interface Claim {
  /** The library's name ("openssl"): records and spans carry it. */
  library: string;
  /** Version, when the file says it (e.g. "3.0.15"). */
  version?: string;
  probes: ProbeSpec[];
  /** How the probes were placed, one phrase each, for `doctor` (e.g. "read and write on the
   *  internal functions both wrappers call"). */
  notes: string[];
  /** The file's SSL_free (or equivalent) is not probed: a connection ends when the socket found
   *  for it is closed (bpf/tlsotel.bpf.c, fd_closes), so that a freed connection's address
   *  taken by the next one does not continue the old one. */
  endsAtSocketClose?: boolean;
}

/** A file offered to the libraries: its path (readable from this process) and the subset of
 *  every library's `symbols` it defines. */
export interface CandidateFile {
  path: string;
  defined: ReadonlySet<string>;
}

export interface TlsLibrary {
  /** Short name, the one records, spans and `doctor` show ("openssl"). */
  readonly name: string;
  /** The function symbols claim() looks at (read once per file for all libraries). */
  readonly symbols: readonly string[];
  /** Offer this library every executable file, also those defining none of `symbols` (a
   *  library found by other means than exported symbols, e.g. Go's build info). */
  readonly claimsWithoutSymbols?: boolean;
  /** Library file names worth attaching before any process maps them (searched in the
   *  library directories at start). */
  readonly libraryFileNames?: RegExp;
  /** Executables worth attaching before they run (searched on PATH at start). */
  readonly executableNames?: readonly string[];
  /** This library's probes for the file, or undefined when the file is not this library's. */
  claim(file: CandidateFile): Claim | undefined;
}
