export const HELP = `tlsotel: see the plaintext of TLS traffic on this host with eBPF, as OpenTelemetry spans.

Usage:
  tlsotel run [options]       the agent: every HTTPS exchange on this host becomes a span,
                              exported over OTLP/gRPC, or printed to stdout
  tlsotel sniff [options]     print every captured chunk of TLS plaintext, live
  tlsotel doctor              check kernel, BTF, permissions, uprobes, libbpf, mounts, and
                              list the TLS libraries found on this host
  tlsotel --help | --version

Where spans go (run):
  --otlp-endpoint URL         OTLP/gRPC endpoint: http://HOST:4317 (plaintext) or https://HOST:4317
                              (TLS); else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
                              OTEL_EXPORTER_OTLP_ENDPOINT (with OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
                              _COMPRESSION, _CERTIFICATE for a collector with a self-signed
                              certificate, ...); with none of them, spans print to stdout;
                              OTEL_TRACES_EXPORTER=none discards them (counted, not a loss)
  --print                     print spans to stdout even when an endpoint is configured
  --max-queue-size N          spans buffered for export (default 8192, or OTEL_BSP_MAX_QUEUE_SIZE);
                              beyond it new spans are dropped and counted
  The agent's own metrics go to the same collector (OTEL_METRICS_EXPORTER=none: off;
  OTEL_METRIC_EXPORT_INTERVAL in ms, default 10000).

What spans contain (run):
  --capture-request-headers A,B    export these request headers as http.request.header.*
  --capture-response-headers A,B   export these response headers as http.response.header.*
  --no-redaction              export Authorization, Cookie, Set-Cookie and credential-like
                              query parameters as they are (default: their values are
                              replaced by REDACTED and never leave the agent)
  --response-timeout DUR      a request unanswered this long becomes an error span (default 60s)
  --no-stitch                 do not link the CLIENT and SERVER spans of one exchange when both
                              ends are on this host (default: the client span is the parent)
  --stats-interval DUR        how often losses are logged when they change (default 10s)
  --nice N                    the agent's scheduling priority, 0..19 (default 0: unchanged):
                              the traced programs win a contended CPU and the agent catches up
                              in their gaps; it takes back normal priority while its ring or
                              export queue is a quarter full (overflow is counted)
  --cpu-yield DUR             while draining, offer the core to other threads (sched_yield)
                              every DUR of work, 50us..10ms, or "off" (default 200us): a traced
                              program waking on a busy host gets the core at once instead of
                              at the kernel's next tick; only while the agent keeps up (its
                              ring under a quarter full, its export queue under half)

Which spans are kept (run): OTEL_TRACES_SAMPLER = always_on, always_off, traceidratio,
  parentbased_always_on, parentbased_always_off, parentbased_traceidratio, with
  OTEL_TRACES_SAMPLER_ARG the ratio (0..1); unset: every span. One decision per trace: the
  CLIENT and SERVER spans of a stitched exchange are kept or dropped together.
  --keep-errors               with a sampler, keep every exchange that failed (5xx, a gRPC
                              server fault, no response) whatever the ratio
  --keep-slower-than DUR      with a sampler, keep every exchange that took at least DUR

RED metrics (run): duration and body size histograms of every exchange, before sampling, to
  the spans' collector (OTLP), or, with no collector, as a per-route table on stdout every
  OTEL_METRIC_EXPORT_INTERVAL ms; OTEL_METRICS_EXPORTER=none: off.
  --prometheus-port N         serve them on http://0.0.0.0:N/metrics (Prometheus text format)
  --metrics-max-routes N      distinct routes per service (default 100); beyond: overflow series
  --metrics-max-series N      series per metric (default 2000); beyond: overflow series
  --metrics-process-ttl DUR   how long the series of an exited process stay (default 300s)

Capture options (run, sniff):
  --pid N                     trace only process N (it must exist at start)
  --comm NAME[,NAME...]       trace only processes (threads) named so, up to 8 names of at most
                              15 bytes each (the kernel keeps no more of a name); filtered in
                              BPF: other programs' traffic never takes room in the ring buffer
  --capture-bytes N           plaintext bytes copied per record, 1..16384 (default 16384)
  --capture-segments N        records per SSL call, 1..16 (default 4); the rest of a larger
                              call is reported as a gap of known size, never silently cut
  --ring-buffer-size SIZE     BPF ring buffer size, a power of two from 4k to 1G (default 32M)
  --library-roots DIR,...     (run, sniff, doctor) directories searched for TLS library files
                              and Go binaries before any program maps them ('*' matches one
                              path component; 'none': no search); default: container
                              runtimes' image layers (containerd, Docker, CRI-O/Podman).
                              Environment: TLSOTEL_LIBRARY_ROOTS
  --keep-bodies               copy bodies too (default: an HTTP/1 body of known length in a call
                              of 1 KiB or more, and an HTTP/2 DATA payload of 1 KiB or more,
                              are counted in BPF, not copied: spans need their size only)
  --hold-new-programs         stop a process that runs or loads a file of 256 KiB or more not
                              yet examined (a Go program, a private libssl) until the file is
                              examined and its probes attached (a few ms), then resume it, so
                              that its first request is traced. Off by default: a parent that
                              watches its children for stops sees one (README: Discovery)
  -v, --verbose               debug log, including libbpf's and the OpenTelemetry SDK's
  -h, --help                  this text

sniff options:
  --preview-bytes N           bytes shown per chunk (default 96); text is escaped, binary is hex

Output of sniff, one line per chunk:
  TIME COMM[PID] LIBRARY write|read LENGTH B [OFFSET+CAPTURED of LENGTH] PREVIEW
  TIME COMM[PID] conn fd N LOCAL -> REMOTE        (a connection's TCP socket, found once)
  and lines for gaps (bytes lost or not captured, with the reason) and closed connections.

run writes one line containing "ready" to stderr once the probes are attached: anything that
starts using TLS after it is traced from its first byte. SIGINT/SIGTERM flush buffered spans,
detach every probe and exit 0. run warns at start when another tlsotel agent runs on the host
(both would export every exchange).

Flags win over environment variables, variables over defaults. A blank variable counts as unset;
an invalid number in a variable warns and falls back to the default.
TLSOTEL_SINGLE_THREADED_GC=0: run keeps V8's garbage-collection helper threads (default: it
restarts itself, same pid, with node --single-threaded-gc).
Development: TLSOTEL_DEBUG=1 adds a stack trace to a fatal error; TLSOTEL_CPU_PROFILE=FILE writes
a V8 CPU profile of run from ready to stop.

Needs root (or CAP_BPF and CAP_PERFMON), Linux >= 5.17 with BTF, and libbpf.so.1.
Exit status: 0 success, 1 runtime failure (one line says what is missing), 2 usage or
configuration error (one line names the flag or variable).
`;
