export const HELP = `tlsotel: see the plaintext of TLS traffic on this host with eBPF, as OpenTelemetry spans.

Usage:
  tlsotel sniff [options]     print every captured chunk of TLS plaintext, live
  tlsotel doctor              check kernel, BTF, permissions, uprobes, libbpf, mounts, and
                              list the TLS libraries found on this host
  tlsotel --help | --version

Capture options (sniff):
  --pid N                     trace only process N
  --comm NAME                 trace only processes whose name (comm, 15 chars) is NAME
  --capture-bytes N           plaintext bytes copied per record, 1..16384 (default 16384)
  --capture-segments N        records per SSL call, 1..16 (default 4); the rest of a larger
                              call is reported as a gap of known size, never silently cut
  --ring-buffer-size SIZE     BPF ring buffer size, a power of two (default 8M)
  -v, --verbose               debug log, including libbpf's own
  -h, --help                  this text

sniff options:
  --preview-bytes N           bytes shown per chunk (default 96); text is escaped, binary is hex

Output of sniff, one line per chunk:
  TIME COMM[PID] LIBRARY write|read LENGTH B [OFFSET+CAPTURED of LENGTH] PREVIEW
  and lines for gaps (bytes lost or not captured, with the reason) and closed connections.

Needs root (or CAP_BPF and CAP_PERFMON), Linux >= 5.15 with BTF, and libbpf.so.1.
Exit status: 0 success, 1 runtime failure (one line says what is missing), 2 usage error.
`;
