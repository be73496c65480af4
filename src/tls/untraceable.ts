// TLS stacks tlsotel cannot trace (README, Limitations), recognised by a file a process maps
// executable and no library claims (a BoringSSL without symbols is claimed when
// src/tls/boringssl finds its functions; these names are for the builds where it does not): so that a program that makes no span says why. Discovery
// notes each such file once (a log line, and `doctor` lists them). Only by file name: what is
// recognised is a hint for the user, never a verdict on traffic.
export interface UntraceableFile {
  /** The file as the process that mapped it sees it. */
  path: string;
  /** Which stack, and why it is not traced. */
  what: string;
}

const STACKS: ReadonlyArray<{ name: RegExp; what: string }> = [
  { name: /^cygrpc\.cpython-.*\.so$/, what: "Python's grpcio: the BoringSSL built into its module (no symbols) was not found, or not probed, in this build (see the log); gRPC over TLS from this process is not traced (a traced peer's spans still are)" },
  { name: /^libjvm\.so$/, what: "Java: TLS in Java code (JSSE) is not traced; Netty's netty-tcnative (grpc-java, when in use) is, as BoringSSL or OpenSSL" },
  { name: /^libssl3\.so$/, what: 'NSS (Firefox, Thunderbird, some curl builds); not traced' },
  { name: /^libwolfssl\.so(\.|$)/, what: 'wolfSSL; not traced' },
  { name: /^libmbedtls\.so(\.|$)/, what: 'Mbed TLS; not traced' },
  { name: /^envoy$/, what: 'Envoy: the BoringSSL built in (no symbols) was not found, or not probed, in this build (see the log); not traced' },
];

/** The stack a file named so carries, when it is one tlsotel cannot trace. */
export function untraceableStack(filePath: string): string | undefined {
  const base = filePath.slice(filePath.lastIndexOf('/') + 1);
  return STACKS.find((s) => s.name.test(base))?.what;
}
