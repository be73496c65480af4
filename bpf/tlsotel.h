/* tlsotel.h: the one definition of what the BPF side and user space share.
 *
 * Read by bpf/tlsotel.bpf.c (C) and by scripts/gen-layout.mjs, which takes struct offsets
 * from the compiled object's BTF and constants from this file, and writes
 * src/bpf/layout.generated.ts for TypeScript. Change a field here, run `npm run build:bpf`,
 * and both sides follow (CI fails if the generated file is stale).
 *
 * Rules: fixed-width fields, explicit padding, the event type first and the payload last,
 * no `packed`. Every record in the ring buffer starts with struct tls_event.
 */
#ifndef __TLSOTEL_H
#define __TLSOTEL_H

/* Largest payload one record can carry (a TLS record's plaintext is at most 16 KiB, and the
 * per-CPU scratch value that builds a record is limited to 32 KiB); the per-record cap
 * (tls_config.capture_bytes) may be set lower at load time. */
#define TLSOTEL_MAX_PAYLOAD 16384
/* Most bytes at the start of a call searched for the end of an HTTP/1 head (body skipping). */
#define TLSOTEL_HEAD_SCAN 2048
/* Most records one SSL call is split into before the rest is reported as truncated. */
#define TLSOTEL_MAX_SEGMENTS 16
#define TLSOTEL_COMM_LEN 16
/* Most process names --comm may give (struct tls_config.comms). */
#define TLSOTEL_MAX_COMMS 8
/* Attach cookie bit of probes whose library's connections end at their socket's close (no free
 * function probed: src/tls/library.ts Claim.endsAtSocketClose). The cookie's low 32 bits are the
 * library id records carry. */
#define TLSOTEL_COOKIE_ENDS_AT_CLOSE (1ULL << 32)
/* Attach cookie bit of the entry probe of a function that writes (SSL_write…): its records are
 * stamped at the call's entry, not at its return (struct tls_event.ts_ns). */
#define TLSOTEL_COOKIE_WRITE_ENTRY (1ULL << 33)

enum tls_event_type {
	TLS_EVENT_DATA = 1,  /* plaintext of one SSL_read/SSL_write call (or one segment of it) */
	TLS_EVENT_CLOSE = 2, /* SSL_free (or the socket's close): the connection's state can go */
	TLS_EVENT_CONN = 3,  /* the TCP socket under an SSL*: payload is struct tls_conn */
	TLS_EVENT_PROC = 4,  /* who a process is, before the records of its first connection:
	                      * payload is struct tls_proc, then its environment */
};

enum tls_event_flags {
	TLS_FLAG_READ = 1 << 0,        /* set: the process read these bytes; clear: it wrote them */
	TLS_FLAG_LAST = 1 << 1,        /* last record emitted for this call: bytes after it were not captured */
	TLS_FLAG_LOSS_BEFORE = 1 << 2, /* whole calls of this connection were lost just before (lost_bytes, lost_other);
	                                * on a TLS_EVENT_CLOSE: lost_bytes written, lost_other read */
};

struct tls_event {
	__u32 type;        /* enum tls_event_type */
	__u32 flags;       /* enum tls_event_flags */
	__u64 ts_ns;       /* bpf_ktime_get_ns(), CLOCK_MONOTONIC: at a write's entry (bytes leave the
	                    * program then: a peer on this host may read them before the write
	                    * returns, and its span must not begin before this one), at a read's
	                    * return (the bytes exist then) */
	__u64 conn;        /* the SSL* pointer; with pid it names one connection */
	__u32 pid;         /* tgid */
	__u32 tid;
	__u32 call_len;    /* bytes the call really transferred (return value / *written / *readbytes) */
	__u32 offset;      /* offset of this record's payload within the call */
	__u32 cap_len;     /* payload bytes following this header */
	__u32 lib_id;      /* attach cookie: which probed file (user space's numbering) */
	__u64 lost_bytes;  /* with TLS_FLAG_LOSS_BEFORE: bytes of calls in this direction lost just before */
	__u64 lost_other;  /* with TLS_FLAG_LOSS_BEFORE: bytes of calls in the other direction lost since
	                    * its last record (reported here so a lost request is known before its response) */
	__u32 skipped;     /* bytes of the call right after this record's payload (at offset + cap_len)
	                    * that the BPF side took for body bytes (an HTTP/1 body of known length, an
	                    * HTTP/2 DATA payload) and counted instead of copying (see
	                    * tls_config.skip_min); user space checks that its parser expects body
	                    * bytes there, else they are a gap */
	__u32 _pad;
	__u8 comm[TLSOTEL_COMM_LEN];
	__u8 data[];       /* cap_len bytes */
};

/* Payload of a TLS_EVENT_CONN record: the socket's addresses, found once per connection. */
struct tls_conn {
	__u16 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u16 local_port;     /* host byte order */
	__u16 remote_port;    /* host byte order */
	__u16 _pad;
	__s32 fd;
	__u32 _pad2;
	__u8 local_addr[16];  /* IPv4: first 4 bytes, network order */
	__u8 remote_addr[16];
};

/* Bytes of a cgroup name kept in a TLS_EVENT_PROC record (a container runtime's leaf is at most
 * 86: "cri-containerd-" + 64 hex + ".scope"), how many of a path's names, and of the
 * executable's name. */
#define TLSOTEL_PROC_NAME_LEN 96
#define TLSOTEL_PROC_CGROUP_DEPTH 12
#define TLSOTEL_PROC_EXE_LEN 64

/* Payload of a TLS_EVENT_PROC record: what user space would read from /proc/PID, taken by the
 * probes while the process runs (a curl lives a few ms; by the time its records are handled,
 * /proc/PID is gone, and with it its OTEL_SERVICE_NAME). Sent once per process and program
 * (an exec sends a new one), before its first connection's records, when it fits in
 * tls_config.proc_max. Followed by cgroup_len bytes of cgroup path names, then env_len bytes
 * of environment. */
struct tls_proc {
	__u64 start_boottime; /* ns after boot the process started: /proc/PID/stat field 22 in ns */
	__u32 env_len;        /* bytes of the environment (NUL-separated, as /proc/PID/environ); when
	                       * the whole does not fit, only its OTEL_SERVICE_NAME and
	                       * OTEL_RESOURCE_ATTRIBUTES entries, each whole */
	__u32 env_total;      /* the environment's full size: more than env_len when entries are left out */
	__u32 cgroup_len;     /* bytes of the cgroup v2 path's names, leaf first, each NUL-terminated
	                       * (cut at TLSOTEL_PROC_NAME_LEN - 1 bytes), at most
	                       * TLSOTEL_PROC_CGROUP_DEPTH of them */
	__u32 cgroup_whole;   /* 1: the names go up to the root (the path is whole) */
	__u8 exe[TLSOTEL_PROC_EXE_LEN]; /* the executable's file name, NUL-terminated (cut when longer) */
};

/* The `lost` and `owed_closes` maps (bpf/tlsotel.bpf.c): what a connection lost and has not
 * reported yet. User space reads them when a connection ends without a record to say so (its
 * process exited, it went idle). */
struct lost_key {
	__u64 conn;
	__u32 pid;
	__u32 _pad;
};

/* The key of the `dir_states` map (bpf/tlsotel.bpf.c): one direction of one connection. User
 * space deletes a connection's two entries when it ends with no record to say so. */
struct dir_key {
	__u64 conn;
	__u32 pid;
	__u32 read; /* 1: what the process reads; 0: what it writes */
};

struct lost_val {
	__u64 written; /* bytes of whole write calls lost */
	__u64 read;    /* bytes of whole read calls lost */
};

/* The `owed_closes` map: a connection freed when its close record did not fit in the ring. The
 * record is owed: sent before any other record at that address (then a new connection's), with
 * what the connection had lost and not reported. */
struct owed_close {
	__u64 closed_ns; /* when it was freed */
	__u64 written;   /* bytes of whole calls it lost and had not reported, by direction */
	__u64 read;
};

/* Tunables, written into .rodata by the loader between open and load. */
struct tls_config {
	__u32 agent_tgid;     /* never trace this process (the agent's own TLS, e.g. OTLP) */
	__u32 filter_tgid;    /* when non-zero, trace only this process */
	__u32 capture_bytes;  /* payload cap per record, 1..TLSOTEL_MAX_PAYLOAD */
	__u32 max_segments;   /* records per call, 1..TLSOTEL_MAX_SEGMENTS */
	/* Body skipping: a call of at least this many bytes that begins with an HTTP/1 head giving
	 * a Content-Length has the body bytes that follow the head (in it and in the next calls of
	 * that direction) counted, not copied (struct tls_event.skipped); so has the payload of an
	 * HTTP/2 DATA frame of at least this many bytes, on connections whose frames the BPF side
	 * follows from their start. 0: every byte is copied. */
	__u32 skip_min;
	__u32 n_comms;        /* when non-zero, trace only threads named one of comms[0..n_comms) */
	/* Most payload bytes of a TLS_EVENT_PROC record (struct tls_proc, names, environment; an
	 * environment too large is sent as its OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	 * entries), set from the ring's size so that these records take little of it; below
	 * sizeof(struct tls_proc): none are sent. */
	__u32 proc_max;
	__u32 _pad_proc;
	/* The agent's PID namespace when it is not the host's (a sidecar with shareProcessNamespace,
	 * a container): device and inode of /proc/self/ns/pid. Every pid the BPF side reports or
	 * compares (agent_tgid, filter_tgid, records) is then as seen from that namespace, and
	 * processes outside it are not traced (the agent cannot see them in its /proc). 0: host. */
	__u64 pidns_dev;
	__u64 pidns_ino;
	/* Thread names (comm, NUL-padded to TLSOTEL_COMM_LEN), as bpf_get_current_comm gives them:
	 * filtered here, so that other processes' traffic never fills the ring. */
	__u8 comms[TLSOTEL_MAX_COMMS][TLSOTEL_COMM_LEN];
};

/* Indexes of the per-CPU counters map `counters`. */
enum tls_counter {
	TLS_CNT_EVENTS = 0,        /* records written to the ring buffer */
	TLS_CNT_RB_DROPS = 1,      /* data records lost: ring buffer full */
	TLS_CNT_RB_DROP_BYTES = 2, /* call bytes not delivered because of those losses */
	TLS_CNT_TRUNC_BYTES = 3,   /* call bytes beyond capture_bytes * max_segments, not captured */
	TLS_CNT_READ_ERRORS = 4,   /* bpf_probe_read_user failed: payload not readable */
	TLS_CNT_NO_ENTRY = 5,      /* a return probe without its entry (e.g. LRU eviction) */
	TLS_CNT_CLOSE_DROPS = 6,   /* close records lost: ring buffer full */
	TLS_CNT_CONNS = 7,         /* connection identities found (one socket walk each) */
	TLS_CNT_CONN_DROPS = 8,    /* connection records lost: ring buffer full */
	TLS_CNT_SKIP_BYTES = 9,    /* body bytes counted instead of copied (tls_event.skipped) */
	TLS_CNT_SKIP_HEADS = 10,   /* HTTP/1 heads whose body was skipped */
	TLS_CNT_LATE_CLOSES = 11,  /* close records sent late: with the next record of their address
	                            * (counted in TLS_CNT_CLOSE_DROPS when they did not fit) */
	TLS_CNT_SKIP_FRAMES = 12,  /* HTTP/2 DATA payloads (or their parts in one call) skipped */
	TLS_CNT_H2_LOST = 13,      /* HTTP/2 connection directions whose frames the BPF side stopped
	                            * following (an invalid frame header, too many frames in a call):
	                            * the rest of them is copied */
	TLS_CNT_PROC_DROPS = 14,   /* process records lost: ring buffer full (retried at the
	                            * process's next connection; /proc is read instead meanwhile) */
	TLS_CNT__MAX = 15,
};

/* ---- New executable files (file_events ring): a process exec'd a file, or mapped one
 * executable, that user space has not examined yet (see examined_files). ---- */
enum tls_file_event_kind {
	TLS_FILE_EXEC = 1, /* sched_process_exec: the program's own file */
	TLS_FILE_MMAP = 2, /* mmap(PROT_EXEC) of an open file (a shared library, dlopen) */
};

/* A file by identity: what user space fills examined_files with. */
struct tls_file_key {
	__u32 dev;  /* super_block s_dev: the kernel's encoding, major << 20 | minor */
	__u32 _pad;
	__u64 ino;
};

enum tls_file_event_flags {
	/* The process was stopped (SIGSTOP) before running another instruction, so that the file
	 * is attached before it can call into it: user space sends SIGCONT once it has examined the
	 * file. Set only while user space holds control[TLS_CONTROL_HOLD] (see may_hold). */
	TLS_FILE_HELD = 1 << 0,
};

/* Files smaller than this never hold their process: TLS libraries and Go programs are larger
 * (Debian's libssl.so.3 672 KiB, LibreSSL's libssl ≈ 350 KiB, a Go TLS client several MiB),
 * and the many small programs a build makes and runs once each (a configure test, ≈ 20 KiB) are
 * not held. */
#define TLSOTEL_HOLD_MIN_BYTES (256 * 1024)

/* No process is held once user space's heartbeat (control[TLS_CONTROL_HOLD]) is older than this:
 * an agent that is stopped, hung or starved stops holding new processes within this time, and
 * they run untraced until it comes back (those held just before wait for it). */
#define TLSOTEL_HOLD_HEARTBEAT_MS 1000

struct tls_file_event {
	__u32 kind;        /* enum tls_file_event_kind */
	__u32 pid;         /* tgid, as the agent sees it */
	__u64 ts_ns;       /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	struct tls_file_key file;
	__s32 fd;          /* TLS_FILE_MMAP: the mapped fd (still open at the event); -1 for exec */
	__u32 flags;       /* enum tls_file_event_flags */
	__u8 comm[TLSOTEL_COMM_LEN];
};

/* Indexes of the per-CPU counters map `file_counters`. */
enum tls_file_counter {
	TLS_FCNT_SEEN = 0,    /* execs and executable file mappings by traced processes */
	TLS_FCNT_KNOWN = 1,   /* of those, of a file already examined: no event */
	TLS_FCNT_EVENTS = 2,  /* events written */
	TLS_FCNT_DROPS = 3,   /* events lost: file_events full (the /proc rescan still finds the file) */
	TLS_FCNT_HELD = 4,    /* processes stopped until their new file was examined (TLS_FILE_HELD) */
	TLS_FCNT__MAX = 5,
};

/* Slots of the `control` array, written by user space only. */
enum tls_control {
	TLS_CONTROL_STOPPING = 0, /* non-zero: the agent is stopping, the probes emit nothing more */
	TLS_CONTROL_HOLD = 1,     /* processes may be held at a new file (TLS_FILE_HELD) while this,
	                           * user space's heartbeat (CLOCK_MONOTONIC ms, cut to 32 bits), is
	                           * less than TLSOTEL_HOLD_HEARTBEAT_MS old; 0: never */
	TLS_CONTROL_HOLD_UID = 2, /* 0: any process may be held (the agent can signal any: CAP_KILL);
	                           * else 1 + the agent's uid: only processes whose real or saved
	                           * uid it is, those kill(2) lets the agent resume */
	TLS_CONTROL__MAX = 3,
};

#endif /* __TLSOTEL_H */
