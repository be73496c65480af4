// SPDX-License-Identifier: GPL-2.0
/* tlsotel.bpf.c: copy the plaintext of TLS libraries' read and write calls into a ring buffer
 * (OpenSSL's SSL_read/SSL_write and their _ex variants or the internal functions they call,
 * GnuTLS's gnutls_record_recv/send, which have the same shape, and Go's crypto/tls
 * (*Conn).Read/Write, probed on their RET instructions), and tell user space when a connection
 * object is freed. Which functions of which file get which program is user space's business
 * (src/tls/).
 *
 * Data exists for reads only when the call returns, and node's SSL_write returns -1 during
 * the handshake and is retried with the same buffer, so both directions are captured at
 * return, and only for calls that transferred bytes. The entry probe stashes the arguments.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tlsotel.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct tls_config cfg = {
	.agent_tgid = 0,
	.filter_tgid = 0,
	.capture_bytes = 16384,
	.max_segments = 4,
	.skip_min = 0,
	.pidns_dev = 0,
	.pidns_ino = 0,
};

/* The current thread's tgid << 32 | pid as the agent sees them: the host's, or, inside a PID
 * namespace (cfg.pidns_ino), that namespace's; 0 for a thread the namespace does not contain. */
static __always_inline __u64 current_pid_tgid(void)
{
	if (!cfg.pidns_ino)
		return bpf_get_current_pid_tgid();
	struct bpf_pidns_info ns = {};
	if (bpf_get_ns_current_pid_tgid(cfg.pidns_dev, cfg.pidns_ino, &ns, sizeof(ns)) != 0)
		return 0;
	return ((__u64)ns.tgid << 32) | ns.pid;
}

/* Plaintext records for user space. Size set by the loader (--ring-buffer-size). Records are
 * written with BPF_RB_NO_WAKEUP: user space polls the ring on a timer, because a wake-up per
 * record costs several times the copy itself. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

struct call_args {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr;   /* _ex variants: size_t *written / *readbytes */
	__u64 searching; /* this connection's socket is not known yet (see want_fd) */
	__u64 ts;        /* a write's entry time (entry_stamp), its records' ts_ns; 0: a read */
};

#define KNOWN_CACHE_SLOTS 16

/* Arguments of SSL calls in flight: the entry probe stashes them in the calling thread's own
 * storage, the return probe takes them back. Task storage, not a hash keyed by pid_tgid: its
 * lookup is a pointer chase from the task (no hashing, no LRU list lock), it needs no insert
 * and delete per call (a flag says whether a call is in flight), and it goes with the thread,
 * so a thread that dies inside SSL_read (no return) leaves nothing behind. Two slots: `call`
 * for every probed function, `ex2` for a direct call of the exported SSL_write_ex2 (see
 * tls_enter_ex2). */
struct task_calls {
	struct call_args call;
	struct call_args ex2;
	__u32 in_call; /* `call` holds a call in flight */
	__u32 in_ex2;  /* `ex2` holds a call in flight */
	/* SSL*s this thread found in `known` while known_gen was known_cache_gen, one per slot
	 * (slot: a hash of the pointer): a thread serving a few connections in turn (an nginx
	 * worker, a wrk thread) skips the hash lookup at most of its calls. */
	__u64 known_cache[KNOWN_CACHE_SLOTS];
	__u64 known_cache_gen;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_calls);
} active_calls SEC(".maps");

/* The current thread's slots: created on a call's entry, only looked up at its return. */
static __always_inline struct task_calls *task_calls(bool create)
{
	return bpf_task_storage_get(&active_calls, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Bytes of whole calls whose first record did not fit in the ring buffer, per connection.
 * Inserted when a reservation fails, deleted by the next record of the same connection in
 * either direction, which carries both counts (TLS_FLAG_LOSS_BEFORE): user space marks the gaps
 * where the bytes went missing, and learns of a lost request before the response to it. LRU: a
 * connection that never sends again must not pin an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lost_key);
	__type(value, struct lost_val);
} lost SEC(".maps");

/* Non-zero while `lost` may hold entries: spares the lookup on every record otherwise. */
__u32 lost_pending = 0;

/* Close records owed (struct owed_close). Without them, user space would take the next
 * connection at a freed address for the rest of the old one, and pair its responses with the
 * old one's requests. Apart from `lost`: a flood of connections freed while the ring is full
 * (handshakes only, health checks) evicts only other owed closes, not live connections' losses.
 * LRU: an address never used again must not pin an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lost_key);
	__type(value, struct owed_close);
} owed_closes SEC(".maps");

/* Non-zero while `owed_closes` may hold entries. */
__u32 owed_pending = 0;

/* Who is sending an owed close now (see send_owed_close): an insert is the one atomic claim the
 * BPF side has without BPF_CMPXCHG (the object is built for the v1 instruction set). Entries
 * live for one ring output; not LRU, so a claim is never evicted while held. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct lost_key);
	__type(value, __u8);
} owed_claims SEC(".maps");

/* ---- Connection identity: which TCP socket an SSL* reads and writes. ----
 *
 * Without kprobes and without OpenSSL's private struct layouts: while an SSL* is not yet known,
 * the entry probe leaves a marker for the thread (want_fd), and the sys_enter raw tracepoint
 * takes the fd of the thread's next socket read/write:
 *   - inside the SSL call (in_call): libraries that do their own socket I/O (curl, python,
 *     nginx): any read/write/send/recv made inside SSL_read/SSL_write is on that SSL's socket;
 *   - just after it returns, writes only (node, asyncio: memory BIOs; the ciphertext is written
 *     by the caller right after SSL_write returns), within AFTER_RETURN_NS.
 * The fd is then resolved to addresses by walking task → files → fdtable → file → socket → sock
 * with CO-RE reads, one record is emitted, and the SSL* is remembered in `known`.
 * Once known, a call costs one lookup in `known` at entry and nothing else: no marker, and the
 * syscall hook returns at its first check (identity_pending == 0) or at the marker lookup. */
#define AFTER_RETURN_NS (5 * 1000 * 1000ULL)

struct want {
	__u64 ssl;
	__u64 ts;
	__u32 in_call;
	__u32 close_lib; /* the library's id when its connections end at their socket's close, else 0 */
};

/* Threads looking for their SSL*'s socket, keyed by pid_tgid. Inserted by the entry probe of an
 * unknown SSL*, deleted when found (or when the after-return window passed). LRU: a thread that
 * exits with a marker must not pin an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct want);
} want_fd SEC(".maps");

struct conn_key {
	__u64 ssl;
	__u32 pid;
	__u32 _pad;
};

struct fd_key {
	__u32 pid;
	__s32 fd;
};

/* SSL*s whose socket is known (value: the fd). Inserted by the syscall hook, deleted by
 * SSL_free. LRU: a process that never frees its SSL objects must not fill it (an evicted one is
 * simply looked up again). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, __s32);
} known SEC(".maps");

/* The reverse: which SSL* owns a socket fd, so that a socket already attributed is never
 * attributed to another SSL*. Same lifetime as `known`. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fd_key);
	__type(value, __u64);
} known_fd SEC(".maps");

/* Connections that end when their socket is closed, by that socket: SSL*s of libraries whose
 * free function is not probed (attach cookie bit TLSOTEL_COOKIE_ENDS_AT_CLOSE: BoringSSL built
 * in without symbols, see src/tls/boringssl). Inserted when the socket is found, taken by the
 * close() that ends it. LRU: a socket closed otherwise (exit, close_range) must not pin one. */
struct fd_close {
	__u64 ssl;
	__u64 started; /* the process's start time: an entry left by an exited process (exit closes
	                * its fds without close()) is not taken for its pid's next owner's */
	__u32 lib_id;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fd_key);
	__type(value, struct fd_close);
} fd_closes SEC(".maps");

/* Entries of fd_closes (approximately: LRU evictions and processes that exit with such sockets
 * open are not subtracted, so once such a socket was seen, every close() costs one lookup). Zero
 * lets close() return before any map lookup. */
__u32 fd_close_pending = 0;

/* Markers in want_fd (approximately: LRU evictions are not subtracted). Zero lets the syscall
 * hook return before any map lookup. */
__u32 identity_pending = 0;

/* Changed whenever an SSL* leaves `known` (conn_closed): every thread's known_cache
 * is stale then (the address may come back as another connection). */
__u64 known_gen = 0;

/* The state of a search for the end of an HTTP/1 head (see head_byte). */
struct head_scan {
	__u64 cl;       /* the Content-Length value */
	__u32 line;     /* lines ended so far */
	__u32 pos;      /* bytes of the current line so far */
	__u32 flags;    /* enum head_scan_flags */
	__u32 n_cl;     /* Content-Length fields seen */
	__u32 n_digits;
	__u32 head_len; /* set at the empty line: bytes of the head, its CRLFs included */
	__u32 base;     /* the first byte of the word head_byte_cb is at */
	__u32 stop;     /* head_byte_cb stopped the search */
};

/* A record a call's HTTP/2 walk planned: bytes [off, off + n) copied, the next `skip` counted. */
struct h2_rec {
	__u32 off;
	__u32 n;
	__u32 skip;
};

/* Calls of at most this many bytes are read once for their walk, not a frame header at a time
 * (a write of several streams' small frames: one read instead of one per frame). A power of
 * two. */
#define H2_PREFETCH 512

/* Most settings in a SETTINGS frame taken for the start of an HTTP/2 direction (h2_begins). */
#define H2_MAX_START_SETTINGS 16

/* The walk of one call's HTTP/2 frames (see h2_step). */
struct h2_walk {
	__u64 buf;        /* the call's bytes (user memory) */
	__u32 len;        /* the call's length */
	__u32 pos;        /* walked so far */
	__u32 copy_start; /* the first byte not planned yet */
	__u32 cap;        /* cfg.capture_bytes, checked */
	__u32 n;          /* records planned */
	__u32 to_next;    /* as struct dir_state */
	__u32 skipping;
	__u32 hdr_have;
	__u32 plan;       /* plan records (0: only follow the frames: the call went out whole) */
	__u32 lost;       /* the walk met something that is not a frame header: stop following */
	__u32 off;        /* after the planned records: where the copy of the rest begins */
	__u32 used;       /* and how many records went (in map memory, so that the verifier walks
	                   * the copy once, not once per number of planned records) */
	__u32 start;      /* where the call's first frame begins when it begins an HTTP/2 direction
	                   * (h2_begins), else H2_NO_START: in map memory too, or each of its values
	                   * would be a path of its own through the copy for the verifier */
	__u8 hdr[24];     /* the frame header being read (hdr_have bytes carried + the rest) */
	__u32 look;       /* the call may begin an HTTP/2 direction: h2_begins looks at its first
	                   * bytes (map memory: see start) */
	__u32 pre_n;      /* bytes of the call in pre (0: none) */
	__u8 pre[H2_PREFETCH]; /* a small call, read once: its frame headers are taken from here */
	__u8 settings[9 + H2_MAX_START_SETTINGS * 6]; /* a SETTINGS frame that may begin a direction */
	struct h2_rec rec[TLSOTEL_MAX_SEGMENTS];
};

/* ---- An environment larger than a proc record holds (proc_identity): the entries read. ---- */
/* Bytes of the environment read at a time, most scanned, and the longest entry kept. */
#define ENV_CHUNK 256
#define ENV_SCAN_MAX (1U << 20)
#define ENV_ENTRY_MAX 4096
/* env_scan.match past the bytes matched: the entry is not kept, or its name matched whole. */
#define ENV_NO_MATCH 0x100
#define ENV_NAME_MATCHED 0x200

struct env_scan {
	__u64 base;  /* mm->env_start */
	__u32 total; /* bytes to scan */
	__u32 pos;   /* offset of the chunk in the environment */
	__u32 n;     /* bytes in the chunk */
	__u32 k;     /* the chunk's word env_byte_cb is at */
	__u32 entry; /* offset of the current entry's first byte */
	__u32 match; /* bytes of a kept name matched at its start, ENV_NO_MATCH or ENV_NAME_MATCHED */
	__u32 name;  /* which kept name still matches: 0 both, 1 env_service, 2 env_resource */
	__u32 dst;   /* where the next kept entry goes in pr.rest */
	__u32 end;   /* the end of the room in pr.rest */
	__u8 chunk[ENV_CHUNK];
};

/* A record is built here: too large for the 512-byte BPF stack. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
struct scratch {
	struct tls_event ev; /* ev.data[] is data[] below */
	union {
		__u8 data[TLSOTEL_MAX_PAYLOAD];
		/* Unused here (conn records are built on the stack): it puts struct tls_conn in the
		 * object's BTF, where scripts/gen-layout.mjs reads its layout. */
		struct tls_conn conn;
		/* A TLS_EVENT_PROC record's payload (proc_identity). */
		struct {
			struct tls_proc proc;
			__u8 rest[TLSOTEL_MAX_PAYLOAD - sizeof(struct tls_proc)]; /* names, environment */
		} pr;
	};
	/* In map memory, not on the stack: the verifier tracks stack values exactly, and a
	 * bpf_loop callback whose state changes at every byte would never converge. */
	struct head_scan hs;
	struct h2_walk h2;
	struct env_scan es;
};
#pragma clang diagnostic pop

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Drop and event counters (enum tls_counter), per CPU: summed by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TLS_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
}

/* Written by user space only, by enum tls_control. TLS_CONTROL_STOPPING (TlsProbes.stopEmitting):
 * non-zero once the agent is stopping. The probes then emit nothing more, so that the agent can
 * drain the ring for the last time while the probes are still being detached (each uprobe's
 * unregistration waits for a grace period). TLS_CONTROL_HOLD (TlsProbes.setHolding): see
 * may_hold. An array, not a global, so that user space can write it alone. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TLS_CONTROL__MAX);
	__type(key, __u32);
	__type(value, __u32);
} control SEC(".maps");

static __always_inline __u32 control_value(__u32 slot)
{
	__u32 *v = bpf_map_lookup_elem(&control, &slot);
	return v ? *v : 0;
}

static __always_inline bool stopping(void)
{
	return control_value(TLS_CONTROL_STOPPING) != 0;
}

/* The current thread's name is one of cfg.comms. */
static __always_inline bool comm_wanted(void)
{
	__u64 c[2] = {};
	bpf_get_current_comm(c, sizeof(c));
	for (__u32 i = 0; i < TLSOTEL_MAX_COMMS; i++) {
		if (i >= cfg.n_comms)
			break;
		/* volatile kept: the loader writes the names after compilation (a plain cast lets the
		 * compiler fold the loads to the initializer's zeros) */
		const volatile __u64 *w = (const volatile __u64 *)cfg.comms[i];
		if (w[0] == c[0] && w[1] == c[1])
			return true;
	}
	return false;
}

/* Process tgid (the current one) may be traced: new files it maps are looked at. */
static __always_inline bool traced_process(__u32 tgid)
{
	if (tgid == 0) /* outside the agent's PID namespace */
		return false;
	if (tgid == cfg.agent_tgid)
		return false;
	if (cfg.filter_tgid && tgid != cfg.filter_tgid)
		return false;
	return true;
}

/* The current thread, of process tgid, is traced: its TLS calls are captured. The name is
 * judged per call, not per process (a program may rename itself after loading its libraries). */
static __always_inline bool traced(__u32 tgid)
{
	return traced_process(tgid) && (!cfg.n_comms || comm_wanted());
}

/* Processes whose identity (struct tls_proc) went to user space: the process incarnation and
 * the program (its mm: an exec makes a new one, and tls_file_exec deletes the entry) the record
 * described. LRU: an entry only spares a record; one evicted is sent again. */
struct proc_sent {
	__u64 start; /* group leader's start_time */
	__u64 mm;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct proc_sent);
} procs_sent SEC(".maps");

#define PROC_NAMES_MAX (TLSOTEL_PROC_CGROUP_DEPTH * TLSOTEL_PROC_NAME_LEN)
#define PROC_ENV_MAX (TLSOTEL_MAX_PAYLOAD - sizeof(struct tls_proc) - PROC_NAMES_MAX)

/* The parent of a cgroup directory (kernfs_node.__parent since Linux 6.15, .parent before). */
static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* The entries user space reads (src/trace/resource.ts); no other is taken (another OTEL_ entry,
 * OTEL_EXPORTER_OTLP_HEADERS say, may hold credentials). They differ from their sixth byte on. */
#define ENV_SERVICE_LEN 18  /* "OTEL_SERVICE_NAME=" */
#define ENV_RESOURCE_LEN 25 /* "OTEL_RESOURCE_ATTRIBUTES=" */

/* Byte m of "OTEL_SERVICE_NAME=", m < ENV_SERVICE_LEN: from constants (the little-endian words of
 * the name), not from a static array, whose .rodata placement the BTF of older libbpf gets wrong. */
static __always_inline __u8 env_service(__u32 m)
{
	__u64 w = m < 8 ? 0x5245535f4c45544fULL : m < 16 ? 0x4d414e5f45434956ULL : 0x3d45ULL;
	return (w >> (8 * (m & 7))) & 0xff;
}

/* Byte m of "OTEL_RESOURCE_ATTRIBUTES=", m < ENV_RESOURCE_LEN. */
static __always_inline __u8 env_resource(__u32 m)
{
	__u64 w = m < 8 ? 0x5345525f4c45544fULL : m < 16 ? 0x54415f454352554fULL : m < 24 ? 0x5345545542495254ULL : 0x3dULL;
	return (w >> (8 * (m & 7))) & 0xff;
}

/* One more byte c of the current entry's name, m bytes of it matched so far. */
static __always_inline void env_name_byte(struct env_scan *e, __u32 m, __u8 c)
{
	__u32 name = e->name;
	bool service = name != 2 && m < ENV_SERVICE_LEN && c == env_service(m);
	bool resource = name != 1 && m < ENV_RESOURCE_LEN && c == env_resource(m);
	if (service && resource) {
		e->match = m + 1;
	} else if (service) {
		e->name = 1;
		e->match = m + 1 == ENV_SERVICE_LEN ? ENV_NAME_MATCHED : m + 1;
	} else if (resource) {
		e->name = 2;
		e->match = m + 1 == ENV_RESOURCE_LEN ? ENV_NAME_MATCHED : m + 1;
	} else {
		e->match = ENV_NO_MATCH;
	}
}

/* The entry that ends here (len bytes, its NUL included) is one user space reads: copied after
 * the ones kept before it, when it fits; one that does not fit is left out, never cut. For the
 * verifier an entry may begin at most ENV_ENTRY_MAX before the end of pr.rest: past about 12 KB
 * of kept entries, the rest of the room is not used (two entries seldom take a tenth of it). */
static __always_inline void env_keep(struct scratch *s, __u32 len)
{
	struct env_scan *e = &s->es;
	__u32 dst = e->dst;
	if (len > ENV_ENTRY_MAX || dst > sizeof(s->pr.rest) - ENV_ENTRY_MAX || dst + len > e->end)
		return;
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(dst) : [max] "i"(sizeof(s->pr.rest) - ENV_ENTRY_MAX));
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(len) : [max] "i"(ENV_ENTRY_MAX));
	if (bpf_probe_read_user(s->pr.rest + dst, len, (void *)(e->base + e->entry)) == 0)
		e->dst = dst + len;
}

/* The bpf_loop context (it must be on the stack): the scratch value, whose `es` holds the scan. */
struct env_ctx {
	struct scratch *s;
};

/* bpf_loop callback: byte b of the chunk's word at es.k. */
static long env_byte_cb(__u32 b, struct env_ctx *ctx)
{
	struct scratch *s = ctx->s;
	struct env_scan *e = &s->es;
	__u32 i = e->k + b;
	if (i >= e->n)
		return 1;
	__u8 c = e->chunk[i & (ENV_CHUNK - 1)];
	__u32 m = e->match;
	if (c) {
		if (m < ENV_NO_MATCH)
			env_name_byte(e, m, c);
		return 0;
	}
	__u32 at = e->pos + i; /* the entry's NUL */
	if (m == ENV_NAME_MATCHED && at >= e->entry)
		env_keep(s, at + 1 - e->entry);
	e->entry = at + 1;
	e->match = 0;
	e->name = 0;
	return 0;
}

/* Any zero byte in w ("haszero", Bit Twiddling Hacks). */
#define HAS_ZERO_BYTE(w) ((((w) - 0x0101010101010101ULL) & ~(w) & 0x8080808080808080ULL) != 0)

/* bpf_loop callback: the chunk's word j. Inside an entry already known not to be kept, or whose
 * name matched whole, only its NUL counts: eight bytes with none are passed over at once. */
static long env_word_cb(__u32 j, struct env_ctx *ctx)
{
	struct env_scan *e = &ctx->s->es;
	__u32 i = j * 8;
	if (i >= e->n)
		return 1;
	if (i + 8 <= e->n && e->match >= ENV_NO_MATCH) {
		__u64 w = *(__u64 *)&e->chunk[i & (ENV_CHUNK - 8)];
		if (!HAS_ZERO_BYTE(w))
			return 0;
	}
	e->k = i;
	bpf_loop(8, env_byte_cb, ctx, 0);
	return 0;
}

/* bpf_loop callback: the environment's chunk j. Stops at one that cannot be read (a page not in
 * memory): the entries kept so far stay. */
static long env_chunk_cb(__u32 j, struct env_ctx *ctx)
{
	struct env_scan *e = &ctx->s->es;
	__u32 pos = j * ENV_CHUNK;
	if (pos >= e->total)
		return 1;
	__u32 n = e->total - pos;
	if (n > ENV_CHUNK)
		n = ENV_CHUNK;
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(ENV_CHUNK));
	if (bpf_probe_read_user(e->chunk, n, (void *)(e->base + pos)) != 0)
		return 1;
	e->pos = pos;
	e->n = n;
	bpf_loop(ENV_CHUNK / 8, env_word_cb, ctx, 0);
	return 0;
}

/* An environment of `total` bytes at env_start that does not fit in the record: the entries user
 * space reads (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), whole, wherever they are, packed
 * from pr.rest[off], at most `room` bytes. Returns the bytes kept. A global function (verified
 * once). */
__attribute__((noinline)) __u32 env_otel_entries(struct scratch *s, __u64 env_start, __u64 total, __u32 off, __u32 room)
{
	if (!s || room < ENV_SERVICE_LEN + 2)
		return 0; /* not even a one-byte name would fit: no scan */
	struct env_scan *e = &s->es;
	e->base = env_start;
	e->total = total < ENV_SCAN_MAX ? (__u32)total : ENV_SCAN_MAX;
	e->entry = 0;
	e->match = 0;
	e->name = 0;
	e->dst = off;
	e->end = off + room;
	struct env_ctx ctx = { .s = s };
	bpf_loop((e->total + ENV_CHUNK - 1) / ENV_CHUNK, env_chunk_cb, &ctx, 0);
	return e->dst > off ? e->dst - off : 0;
}

/* Sends who the current process is (struct tls_proc: its executable's name, cgroup path and
 * environment) unless it was sent for this process and program already: called at each new
 * connection's first call, so that the record precedes the connection's. User space reads
 * /proc/PID while it can and falls back to this when the process is gone: a short-lived client
 * (curl, a script) keeps its OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and container id. A
 * global function (verified once, not at each caller). */
__attribute__((noinline)) int proc_identity(__u64 pid_tgid)
{
	__u32 max = cfg.proc_max;
	if (max < sizeof(struct tls_proc) || stopping())
		return 0;
	__u32 tgid = pid_tgid >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct proc_sent now = { .start = BPF_CORE_READ(task, group_leader, start_time), .mm = (__u64)mm };
	struct proc_sent *sent = bpf_map_lookup_elem(&procs_sent, &tgid);
	if (sent && sent->start == now.start && sent->mm == now.mm)
		return 0;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s || !mm)
		return 0;
	struct tls_event *ev = &s->ev;
	ev->type = TLS_EVENT_PROC;
	ev->flags = 0;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->conn = 0;
	ev->pid = tgid;
	ev->tid = (__u32)pid_tgid;
	ev->call_len = 0;
	ev->offset = 0;
	ev->lib_id = 0;
	ev->lost_bytes = 0;
	ev->lost_other = 0;
	ev->skipped = 0;
	ev->_pad = 0;
	bpf_get_current_comm(&ev->comm, sizeof(ev->comm));

	struct tls_proc *p = &s->pr.proc;
	p->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	__builtin_memset(p->exe, 0, sizeof(p->exe)); /* no bytes of an earlier record after the name */
	const unsigned char *exe = BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.name);
	if (exe)
		bpf_probe_read_kernel_str(p->exe, sizeof(p->exe), exe);

	/* The cgroup path's names, leaf first, packed. */
	__u32 off = 0;
	p->cgroup_whole = 0;
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	for (__u32 i = 0; i < TLSOTEL_PROC_CGROUP_DEPTH + 1; i++) {
		if (!kn)
			break;
		struct kernfs_node *parent = kn_parent(kn);
		if (!parent) {
			p->cgroup_whole = 1; /* kn is the root: not a name of the path */
			break;
		}
		if (i == TLSOTEL_PROC_CGROUP_DEPTH)
			break; /* deeper than kept: the path is cut at the top */
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(off) : [max] "i"(PROC_NAMES_MAX - TLSOTEL_PROC_NAME_LEN));
		long got = bpf_probe_read_kernel_str(s->pr.rest + off, TLSOTEL_PROC_NAME_LEN, BPF_CORE_READ(kn, name));
		if (got <= 1)
			break; /* unreadable, or empty: the path is not whole */
		off += got;
		kn = parent;
	}
	p->cgroup_len = off;

	__u64 env_start = BPF_CORE_READ(mm, env_start);
	__u64 env_end = BPF_CORE_READ(mm, env_end);
	__u64 total = env_end > env_start ? env_end - env_start : 0;
	__u32 room = max - sizeof(struct tls_proc) > off ? max - sizeof(struct tls_proc) - off : 0;
	if (room > PROC_ENV_MAX)
		room = PROC_ENV_MAX;
	__u32 n = total < room ? (__u32)total : room;
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(PROC_ENV_MAX));
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(off) : [max] "i"(PROC_NAMES_MAX));
	if (total > room) {
		/* Too large to send whole (a Kubernetes namespace's service link variables): only the
		 * two entries user space reads, wherever they are. */
		n = env_otel_entries(s, env_start, total, off, room);
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(PROC_ENV_MAX));
	} else if (n && bpf_probe_read_user(s->pr.rest + off, n, (void *)env_start) != 0) {
		/* A page of it not in memory: what its first page holds (user space leaves out the
		 * entry cut, and reads /proc while the process lives). Not a payload: not counted. */
		__u32 first = 4096 - (env_start & 4095);
		n = first < n ? first : n;
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(4096));
		if (bpf_probe_read_user(s->pr.rest + off, n, (void *)env_start) != 0)
			n = 0;
	}
	p->env_len = n;
	p->env_total = total > 0xffffffff ? 0xffffffff : (__u32)total;
	__u32 size = sizeof(struct tls_proc) + off + n;
	ev->cap_len = size;
	size += sizeof(struct tls_event);
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(size) : [max] "i"(sizeof(struct tls_event) + TLSOTEL_MAX_PAYLOAD));
	if (bpf_ringbuf_output(&events, s, size, BPF_RB_NO_WAKEUP) != 0) {
		count(TLS_CNT_PROC_DROPS, 1);
		return 0;
	}
	count(TLS_CNT_EVENTS, 1);
	bpf_map_update_elem(&procs_sent, &tgid, &now, BPF_ANY);
	return 1;
}

/* At the entry of a call on a connection whose socket is not known yet: the thread looks for it
 * (see want_fd). `tc`, the thread's storage (may be null), remembers a connection found known. */
static __always_inline void find_socket(struct pt_regs *ctx, __u64 pid_tgid, struct call_args *a, struct task_calls *tc)
{
	__u64 gen = known_gen;
	__u32 slot = ((a->ssl * 0x9E3779B97F4A7C15ULL) >> 60) & (KNOWN_CACHE_SLOTS - 1);
	if (tc) {
		if (tc->known_cache_gen != gen) {
			for (__u32 i = 0; i < KNOWN_CACHE_SLOTS; i++)
				tc->known_cache[i] = 0;
			tc->known_cache_gen = gen;
		} else if (tc->known_cache[slot] == a->ssl) {
			return;
		}
	}
	struct conn_key ck = { .ssl = a->ssl, .pid = pid_tgid >> 32 };
	if (bpf_map_lookup_elem(&known, &ck)) {
		if (tc)
			tc->known_cache[slot] = a->ssl;
		return;
	}
	/* A connection new to the BPF side: its process may be new too. */
	proc_identity(pid_tgid);
	struct want w = { .ssl = a->ssl, .ts = bpf_ktime_get_ns(), .in_call = 1 };
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (cookie & TLSOTEL_COOKIE_ENDS_AT_CLOSE)
		w.close_lib = (__u32)cookie;
	if (bpf_map_update_elem(&want_fd, &pid_tgid, &w, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&identity_pending, 1);
	else
		bpf_map_update_elem(&want_fd, &pid_tgid, &w, BPF_EXIST);
	a->searching = 1;
}

/* The entry time of a write (its entry probe's cookie says so), 0 for a read: a write's
 * records are stamped when its bytes start to leave (see tls_event.ts_ns). */
static __always_inline __u64 entry_stamp(struct pt_regs *ctx)
{
	return (bpf_get_attach_cookie(ctx) & TLSOTEL_COOKIE_WRITE_ENTRY) ? bpf_ktime_get_ns() : 0;
}

static __always_inline void stash(struct pt_regs *ctx)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!traced(pid_tgid >> 32))
		return;
	struct call_args a = {
		.ssl = (__u64)PT_REGS_PARM1(ctx),
		.buf = (__u64)PT_REGS_PARM2(ctx),
		.len_ptr = (__u64)PT_REGS_PARM4(ctx),
		.ts = entry_stamp(ctx),
	};
	struct task_calls *tc = task_calls(true);
	if (!tc)
		return;
	find_socket(ctx, pid_tgid, &a, tc);
	tc->call = a;
	tc->in_call = 1;
}

/* At return of a call whose socket is still unknown: from now on only a write right after it
 * can be this SSL*'s (memory-BIO callers write the ciphertext themselves). */
static __always_inline void left_call(__u64 pid_tgid, struct call_args *a)
{
	if (!a->searching)
		return;
	struct want *w = bpf_map_lookup_elem(&want_fd, &pid_tgid);
	if (w && w->ssl == a->ssl) {
		w->in_call = 0;
		w->ts = bpf_ktime_get_ns();
	}
}

/* ---- Body skipping (cfg.skip_min): a span needs a body's length, not its bytes. ----
 *
 * User space cannot tell the BPF side in time which bytes are a body: nginx writes a head and
 * the first 16 KiB of its body in one SSL_write, and a client reads them microseconds later,
 * while user space drains the ring every few milliseconds. So the BPF side finds bodies itself,
 * without following a connection's messages: a call of at least cfg.skip_min bytes that begins
 * with an HTTP/1 head is searched (its first TLSOTEL_HEAD_SCAN bytes) for the end of the head
 * and a Content-Length; the head is copied, the body bytes after it are counted
 * (tls_event.skipped), and the rest of the body, when the call ends inside it, is counted in
 * the next calls of that direction (dir_states). Small calls cost one comparison more.
 * Anything unsure copies everything: no Transfer-Encoding, one Content-Length, a final status
 * that has a body (not 1xx/204/304), a request that is not CONNECT, a head whose lines end in
 * CRLF, and (a HEAD response, which has a Content-Length but no body) never when the bytes
 * after the head begin another response. This is a guess about framing that only user space
 * knows for sure: it accepts skipped bytes only where its own parser expects body bytes
 * (src/capture/streams.ts, the parsers' skip()), and takes them for a gap otherwise. */
enum h2_mode {
	H2_NONE = 0,   /* not HTTP/2 (an HTTP/1 body being skipped: dir_state.left) */
	H2_FRAMES = 1, /* frames followed: the next call begins as to_next and hdr say */
};

/* What the BPF side follows of one direction of one connection:
 *   - HTTP/1: the body bytes still to count (left), while a body is being skipped;
 *   - HTTP/2: where the next frame begins, from a call that began the direction (see
 *     h2_begins) through every later call, however calls cut frames: the payload of each DATA
 *     frame of at least cfg.skip_min bytes is counted, not copied. */
struct dir_state {
	__u64 left;      /* HTTP/1: body bytes still to count */
	__u32 h2;        /* enum h2_mode */
	__u32 to_next;   /* HTTP/2: bytes of the current frame's payload still to come */
	__u32 skipping;  /* HTTP/2: that payload is counted, not copied */
	__u32 hdr_have;  /* HTTP/2: bytes of a frame header the previous call ended inside */
	__u8 hdr[16];    /* those bytes */
};

/* Per connection and direction, while there is something to follow (see struct dir_state):
 * HTTP/1 entries are deleted when the body is done, HTTP/2 ones when the connection ends (or
 * by user space, when it ends with no record: its process exited). As many as `known`, since
 * every HTTP/2 connection keeps two. LRU: an evicted entry only means the rest is copied. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dir_key);
	__type(value, struct dir_state);
} dir_states SEC(".maps");

/* Non-zero while `dir_states` may hold entries: spares the lookup on every call otherwise
 * (approximately: LRU evictions are not subtracted). */
__u32 dir_pending = 0;

/* The field names searched for, lower case, 8 bytes a word (little-endian): immediates, so that
 * .rodata keeps holding struct tls_config alone. */
#define W8(a, b, c, d, e, f, g, h)                                                              \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 |   \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)
#define CL_NAME_LEN 15 /* "content-length:" */
#define TE_NAME_LEN 18 /* "transfer-encoding:" */

static __always_inline __u8 cl_char(__u32 pos)
{
	__u64 w = pos < 8 ? W8('c', 'o', 'n', 't', 'e', 'n', 't', '-') : W8('l', 'e', 'n', 'g', 't', 'h', ':', 0);
	return (w >> ((pos & 7) * 8)) & 0xff;
}

static __always_inline __u8 te_char(__u32 pos)
{
	__u64 w = pos < 8 ? W8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r') :
		  pos < 16 ? W8('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n') : W8('g', ':', 0, 0, 0, 0, 0, 0);
	return (w >> ((pos & 7) * 8)) & 0xff;
}

enum head_scan_flags {
	HS_CL = 1 << 0,      /* the line so far matches "content-length:" */
	HS_TE = 1 << 1,      /* the line so far matches "transfer-encoding:" */
	HS_IN_CL = 1 << 2,   /* in a Content-Length value */
	HS_CL_WS = 1 << 3,   /* white space after its digits */
	HS_BAD = 1 << 4,     /* give up: not a head we are sure of */
	HS_CR = 1 << 5,      /* the previous byte was CR */
};

/* The bpf_loop context: the scratch value, whose `hs` holds the search's state, and the bytes
 * to search. */
struct head_ctx {
	struct scratch *s;
	__u32 n;
};

static __always_inline __u8 lower(__u8 c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* One byte of the head. Returns 1 to stop (end of head, or unsure). */
static __always_inline long head_byte(__u32 i, struct head_ctx *ctx)
{
	struct scratch *s = ctx->s;
	struct head_scan *h = &s->hs;
	__u8 c = s->data[i & (TLSOTEL_MAX_PAYLOAD - 1)];
	__u32 f = h->flags;
	/* Most bytes: in a line already known not to matter (the start line, a value, another
	 * field). Only CR and LF count there; the line's first byte always takes the long way. */
	if (c > '\r' && !(f & (HS_CL | HS_TE | HS_IN_CL | HS_CR)))
		return 0;
	if (c == '\n') {
		if (!(f & HS_CR)) {
			h->flags = f | HS_BAD; /* the user-space parser wants CRLF (llhttp strict) */
			return 1;
		}
		if (h->pos == 1) { /* "\r\n": the empty line ends the head */
			h->head_len = i + 1;
			return 1;
		}
		if ((f & HS_IN_CL) && h->n_digits == 0) {
			h->flags = f | HS_BAD;
			return 1;
		}
		h->line++;
		h->pos = 0;
		h->flags = HS_CL | HS_TE;
		return 0;
	}
	__u32 pos = h->pos;
	h->pos = pos + 1;
	f &= ~HS_CR;
	if (c == '\r') {
		h->flags = f | HS_CR;
		return 0;
	}
	if (h->line == 0) { /* the start line, judged before the scan */
		h->flags = f & ~(HS_CL | HS_TE);
		return 0;
	}
	if (f & HS_IN_CL) {
		if (c >= '0' && c <= '9') {
			if ((f & HS_CL_WS) || h->cl > (1ULL << 40)) {
				h->flags = f | HS_BAD;
				return 1;
			}
			h->cl = h->cl * 10 + (c - '0');
			h->n_digits++;
		} else if (c == ' ' || c == '\t') {
			if (h->n_digits)
				f |= HS_CL_WS;
		} else {
			h->flags = f | HS_BAD; /* a list, a sign, anything else */
			return 1;
		}
		h->flags = f;
		return 0;
	}
	c = lower(c);
	if ((f & HS_CL) && (pos >= CL_NAME_LEN || c != cl_char(pos)))
		f &= ~HS_CL;
	if ((f & HS_TE) && (pos >= TE_NAME_LEN || c != te_char(pos)))
		f &= ~HS_TE;
	if ((f & HS_TE) && pos == TE_NAME_LEN - 1) {
		h->flags = f | HS_BAD; /* the body is chunked or ends with the connection */
		return 1;
	}
	if ((f & HS_CL) && pos == CL_NAME_LEN - 1) {
		if (++h->n_cl > 1) {
			h->flags = f | HS_BAD;
			return 1;
		}
		f = HS_IN_CL;
	}
	h->flags = f;
	return 0;
}

/* Any byte of w below 14 (CR, LF and the other control bytes up to CR): "hasless" of Bit
 * Twiddling Hacks. A byte >= 0x80 may make it true where no byte is below 14: that only takes
 * the byte-by-byte way. */
#define HAS_BYTE_BELOW_14(w) ((((w) - 0x0e0e0e0e0e0e0e0eULL) & ~(w) & 0x8080808080808080ULL) != 0)

/* bpf_loop callback: byte k of the word at hs.base. */
static long head_byte_cb(__u32 k, struct head_ctx *ctx)
{
	struct head_scan *h = &ctx->s->hs;
	__u32 i = h->base + k;
	if (i >= ctx->n || head_byte(i, ctx)) {
		h->stop = 1;
		return 1;
	}
	return 0;
}

/* bpf_loop callback: the 8 bytes of the head at 8 * j. A callback per byte cost ≈ 4 ns a byte
 * (the indirect call); most bytes of a head are in lines that do not matter (the start line,
 * values, other fields), where only CR and LF count: eight of them are passed over at once when
 * none is below 14, exactly as head_byte would pass each (it keeps no state there). The other
 * words go byte by byte, in a loop of their own (head_byte inlined here eight times made the
 * verifier take seconds). */
static long head_word(__u32 j, struct head_ctx *ctx)
{
	struct scratch *s = ctx->s;
	__u32 i = j * 8;
	if (i >= ctx->n)
		return 1;
	if (i + 8 <= ctx->n && !(s->hs.flags & (HS_CL | HS_TE | HS_IN_CL | HS_CR))) {
		__u64 w = *(__u64 *)&s->data[i & (TLSOTEL_MAX_PAYLOAD - 8)];
		if (!HAS_BYTE_BELOW_14(w))
			return 0;
	}
	s->hs.base = i;
	bpf_loop(8, head_byte_cb, ctx, 0);
	return s->hs.stop ? 1 : 0;
}

/* Whether data[0..n) begins an HTTP/1 message whose body may be skipped, judged from its start
 * line: a response with a final status that has a body, or a request other than CONNECT (and
 * not the HTTP/2 preface). */
static __always_inline bool skippable_start(const __u8 *d, __u32 n)
{
	if (n < 16)
		return false;
	if (d[0] == 'H' && d[1] == 'T' && d[2] == 'T' && d[3] == 'P' && d[4] == '/' && d[5] == '1' &&
	    d[6] == '.' && d[8] == ' ') {
		if (d[9] < '2' || d[9] > '5' || d[10] < '0' || d[10] > '9' || d[11] < '0' || d[11] > '9' || d[12] != ' ')
			return false;
		__u32 status = (d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0');
		return status != 204 && status != 304;
	}
	/* A request: an upper-case method and a space. */
	if (d[0] == 'C' && d[1] == 'O' && d[2] == 'N' && d[3] == 'N')
		return false;
	if (d[0] == 'P' && d[1] == 'R' && d[2] == 'I' && d[3] == ' ')
		return false;
	for (int i = 0; i < 8; i++) {
		if (d[i] == ' ')
			return i > 0;
		if (d[i] < 'A' || d[i] > 'Z')
			return false;
	}
	return false;
}

/* The head at the start of s->data (n bytes read): its length, and in *cl the body's length;
 * 0 when its body must not be skipped. */
static __always_inline __u32 skippable_head(struct scratch *s, __u32 n, __u64 *cl)
{
	if (!skippable_start(s->data, n))
		return 0;
	struct head_scan *h = &s->hs;
	__builtin_memset(h, 0, sizeof(*h));
	h->flags = HS_CL | HS_TE;
	__u32 scan = n < TLSOTEL_HEAD_SCAN ? n : TLSOTEL_HEAD_SCAN;
	struct head_ctx ctx = { .s = s, .n = scan };
	bpf_loop((scan + 7) / 8, head_word, &ctx, 0);
	if (!h->head_len || (h->flags & HS_BAD) || h->n_cl != 1)
		return 0;
	*cl = h->cl;
	return h->head_len;
}

/* "HTTP/1." at data[at]: another response right after a head (a HEAD response has no body). */
static __always_inline bool response_at(struct scratch *s, __u32 at, __u32 n)
{
	if (at + 7 > n || at > TLSOTEL_MAX_PAYLOAD - 8)
		return false;
	const __u8 *d = &s->data[at & (TLSOTEL_MAX_PAYLOAD - 1)];
	if ((at & (TLSOTEL_MAX_PAYLOAD - 1)) > TLSOTEL_MAX_PAYLOAD - 8)
		return false;
	return d[0] == 'H' && d[1] == 'T' && d[2] == 'T' && d[3] == 'P' && d[4] == '/' && d[5] == '1' && d[6] == '.';
}

/* ---- HTTP/2 DATA payloads (cfg.skip_min): frames followed from a direction's start. ----
 *
 * Unlike an HTTP/1 head, a DATA frame cannot be recognised from the bytes alone where a call
 * begins (a read may begin anywhere in a frame), so the frames of a direction are followed from
 * a call that surely begins at a frame: one that begins with the client preface, or with a
 * SETTINGS frame whose settings all check out (the server's preface; also a later SETTINGS a
 * peer writes, which begins its call too). That call is copied whole as any other, and walked;
 * from the next call on, every frame header is read (9 bytes) and checked: one that fails stops
 * the following of that direction, whose bytes are then all copied as before. User space checks
 * every skipped part against its own frame reader (FrameReader.skip) and takes one it does not
 * expect for a gap. */

#define H2_FLAG_PADDED 0x8
#define H2_FLAG_PRIORITY 0x20

/* Whether a frame header passes the checks RFC 9113 makes of its length and stream for its
 * type (the user-space frame reader's, src/protocol/http2/frame.ts checkFrameHeader, but for
 * the peer's SETTINGS_MAX_FRAME_SIZE, which is not followed here); an unknown type (an
 * extension, GREASE) only a small length. */
static __always_inline bool h2_header_valid(__u32 len, __u8 type, __u8 flags, __u32 sid)
{
	switch (type) {
	case 0: /* DATA */
		return sid != 0 && (!(flags & H2_FLAG_PADDED) || len >= 1);
	case 1: /* HEADERS: a pad length byte when padded, 5 bytes of priority with PRIORITY */
		return sid != 0 && len >= ((flags & H2_FLAG_PADDED) ? 1 : 0) + ((flags & H2_FLAG_PRIORITY) ? 5 : 0);
	case 9: /* CONTINUATION */
		return sid != 0;
	case 2: /* PRIORITY */
		return sid != 0 && len == 5;
	case 3: /* RST_STREAM */
		return sid != 0 && len == 4;
	case 4: /* SETTINGS */
		return sid == 0 && len % 6 == 0 && (!(flags & 1) || len == 0);
	case 5: /* PUSH_PROMISE */
		return sid != 0 && len >= 4 + ((flags & H2_FLAG_PADDED) ? 1 : 0);
	case 6: /* PING */
		return sid == 0 && len == 8;
	case 7: /* GOAWAY */
		return sid == 0 && len >= 8;
	case 8: /* WINDOW_UPDATE */
		return len == 4;
	default:
		return len <= 16384;
	}
}

#define H2_NO_START 0xffffffff
/* bpf_loop turns for one call's walk: a turn per frame header and one per payload part, so a
 * call of more than about 4000 frames stops being followed (its bytes are copied). */
#define H2_MAX_STEPS 8192

/* bpf_loop callback: one step of a call's walk (struct h2_walk in the scratch value): the rest
 * of the current frame's payload, or the next frame header. A DATA payload of at least
 * cfg.skip_min bytes is planned as skipped when the bytes before it fit in one record and a
 * record is left for it (else it is copied). Planned records (TLSOTEL_MAX_SEGMENTS at most)
 * do not count against cfg.max_segments, which bounds the records that copy the rest: a call of
 * many mid-sized DATA frames must not leave its rest without records. Returns 1 to stop (the call's end, a header cut by
 * it, or something that is not a frame header). */
static long h2_step(__u32 i, struct head_ctx *ctx)
{
	struct h2_walk *w = &ctx->s->h2;
	__u32 pos = w->pos;
	__u32 len = w->len;
	if (pos >= len)
		return 1;
	__u32 avail = len - pos;
	__u32 to_next = w->to_next;
	if (to_next > 0) {
		__u32 take = to_next < avail ? to_next : avail;
		__u32 n = w->n;
		__u32 copy = pos - w->copy_start;
		if (w->plan && w->skipping && copy <= w->cap && (n + 1 < TLSOTEL_MAX_SEGMENTS || (n < TLSOTEL_MAX_SEGMENTS && take == avail))) {
			struct h2_rec *r = &w->rec[n & (TLSOTEL_MAX_SEGMENTS - 1)];
			r->off = w->copy_start;
			r->n = copy;
			r->skip = take;
			w->n = n + 1;
			w->copy_start = pos + take;
		}
		w->pos = pos + take;
		w->to_next = to_next - take;
		return 0;
	}
	/* A frame header begins here, or began in the previous call (hdr_have bytes of it). */
	__u32 have = w->hdr_have;
	if (have > 8) {
		w->lost = 1;
		return 1;
	}
	__u32 need = 9 - have;
	__u32 got = need < avail ? need : avail;
	asm volatile("if %[n] <= 9 goto +1; %[n] = 9" : [n] "+r"(got));
	if (pos + got <= w->pre_n) {
		for (__u32 j = 0; j < 9; j++) {
			if (j >= got)
				break;
			w->hdr[(have + j) & 15] = w->pre[(pos + j) & (H2_PREFETCH - 1)];
		}
	} else if (bpf_probe_read_user(&w->hdr[have], got, (void *)(w->buf + pos)) != 0) {
		w->lost = 1;
		return 1;
	}
	w->pos = pos + got;
	if (got < need) {
		w->hdr_have = have + got;
		return 1;
	}
	w->hdr_have = 0;
	const __u8 *h = w->hdr;
	__u32 flen = (__u32)h[0] << 16 | (__u32)h[1] << 8 | h[2];
	__u8 type = h[3];
	__u8 flags = h[4];
	__u32 sid = (__u32)(h[5] & 0x7f) << 24 | (__u32)h[6] << 16 | (__u32)h[7] << 8 | h[8];
	if (!h2_header_valid(flen, type, flags, sid)) {
		w->lost = 1;
		return 1;
	}
	w->to_next = flen;
	/* Padded: the pad length byte must reach user space (FrameReader.skip); such frames are
	 * copied. */
	w->skipping = type == 0 && !(flags & H2_FLAG_PADDED) && flen >= cfg.skip_min;
	return 0;
}

#define W8S(str, i) W8(str[i], str[i + 1], str[i + 2], str[i + 3], str[i + 4], str[i + 5], str[i + 6], str[i + 7])

/* Whether the bytes at s->data (n of them, the start of a call) may begin at an HTTP/2 frame:
 * with the client preface (then s->h2.start is 24, where its first frame begins: sure), or with
 * a whole SETTINGS frame, not an ACK, of at most 16 settings (s->h2.start is 0), which
 * h2_settings_valid checks once the call is out. */
static __always_inline void h2_begins(struct scratch *s, __u32 n)
{
	__u32 *start = &s->h2.start;
	const __u8 *d = s->data;
	if (n >= 24) {
		const __u64 *q = (const __u64 *)d;
		if (q[0] == W8S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0) &&
		    q[1] == W8S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 8) &&
		    q[2] == W8S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 16)) {
			*start = 24;
			return;
		}
	}
	if (n < 9)
		return;
	__u32 flen = (__u32)d[0] << 16 | (__u32)d[1] << 8 | d[2];
	if (d[3] != 4 || d[4] != 0 || d[5] != 0 || d[6] != 0 || d[7] != 0 || d[8] != 0 ||
	    flen % 6 != 0 || flen > H2_MAX_START_SETTINGS * 6 || flen + 9 > n)
		return;
	*start = 0;
}

/* bpf_loop callback: setting k of the SETTINGS frame in s->h2.settings. RFC 9113 §6.5.2: a
 * known setting's value in its range; identifier 0 is none. Returns 1 (and sets bad) at one
 * that fails. */
static long h2_setting(__u32 k, struct head_ctx *ctx)
{
	struct h2_walk *w = &ctx->s->h2;
	if (k >= H2_MAX_START_SETTINGS)
		return 1;
	asm volatile("%[k] &= 15" : [k] "+r"(k)); /* H2_MAX_START_SETTINGS - 1, for the verifier */
	const __u8 *e = &w->settings[9 + k * 6];
	__u32 id = (__u32)e[0] << 8 | e[1];
	__u32 v = (__u32)e[2] << 24 | (__u32)e[3] << 16 | (__u32)e[4] << 8 | e[5];
	if (id == 0 ||
	    ((id == 2 || id == 8 || id == 9) && v > 1) || /* ENABLE_PUSH, ENABLE_CONNECT_PROTOCOL, NO_RFC7540_PRIORITIES */
	    (id == 4 && v > 0x7fffffff) ||                 /* INITIAL_WINDOW_SIZE */
	    (id == 5 && (v < 16384 || v > 0xffffff))) {  /* MAX_FRAME_SIZE */
		w->lost = 1;
		return 1;
	}
	return 0;
}

/* Whether the SETTINGS frame a call begins with (h2_begins) has settings that all check out;
 * an empty one (node's server preface) is taken when it is the whole call or the next frame
 * header, in the call, checks out too: nine bytes of zeros but one are not enough. Bytes inside
 * a payload that pass all of this are very unlikely (should some, user space still checks every
 * skipped part). */
static __always_inline bool h2_settings_valid(struct scratch *s, __u64 buf, __u32 len)
{
	struct h2_walk *w = &s->h2;
	__u32 n = len < sizeof(w->settings) ? len : sizeof(w->settings);
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(sizeof(w->settings)));
	if (bpf_probe_read_user(w->settings, n, (void *)buf) != 0)
		return false;
	__u32 flen = (__u32)w->settings[2];
	if (w->settings[0] || w->settings[1] || w->settings[3] != 4 || flen % 6 || flen > H2_MAX_START_SETTINGS * 6 || flen + 9 > n)
		return false;
	if (flen == 0) {
		if (n == 9)
			return true;
		if (n < 18)
			return false;
		const __u8 *h = &w->settings[9];
		return h2_header_valid((__u32)h[0] << 16 | (__u32)h[1] << 8 | h[2], h[3], h[4],
				       (__u32)(h[5] & 0x7f) << 24 | (__u32)h[6] << 16 | (__u32)h[7] << 8 | h[8]);
	}
	w->lost = 0;
	struct head_ctx ctx = { .s = s };
	bpf_loop(flen / 6, h2_setting, &ctx, 0);
	return !w->lost;
}

/* The close record of the connection that had this address before, if it is owed (see
 * owed_closes), built in *ev and sent now, before any record of the new connection. True when
 * none was owed or it is sent; false when the ring is still full: the caller's record must not
 * go out either, or user space would take it for the old connection's. */
static __always_inline bool send_owed_close(struct tls_event *ev, struct lost_key *lk, __u64 pid_tgid, __u32 lib_id)
{
	if (!owed_pending || !bpf_map_lookup_elem(&owed_closes, lk))
		return true;
	/* One thread sends it, and the others' records wait for it (they are lost, counted): two
	 * threads may begin a new connection at once (Go's reader and writer goroutines), and
	 * neither the close twice nor a record before it would be right. */
	__u8 one = 1;
	if (bpf_map_update_elem(&owed_claims, lk, &one, BPF_NOEXIST) != 0)
		return false;
	bool sent = true;
	/* Looked up again under the claim: another thread may have sent it meanwhile. */
	struct owed_close *o = bpf_map_lookup_elem(&owed_closes, lk);
	if (o) {
		__builtin_memset(ev, 0, sizeof(*ev));
		ev->type = TLS_EVENT_CLOSE;
		ev->ts_ns = o->closed_ns;
		ev->conn = lk->conn;
		ev->pid = pid_tgid >> 32;
		ev->tid = (__u32)pid_tgid;
		ev->lib_id = lib_id;
		bpf_get_current_comm(&ev->comm, sizeof(ev->comm));
		if (o->written || o->read) {
			ev->flags = TLS_FLAG_LOSS_BEFORE;
			ev->lost_bytes = o->written;
			ev->lost_other = o->read;
		}
		sent = bpf_ringbuf_output(&events, ev, sizeof(*ev), BPF_RB_NO_WAKEUP) == 0;
		if (sent) {
			count(TLS_CNT_LATE_CLOSES, 1);
			if (bpf_map_delete_elem(&owed_closes, lk) == 0)
				__sync_fetch_and_add(&owed_pending, -1);
		}
	}
	bpf_map_delete_elem(&owed_claims, lk);
	return sent;
}

/* A whole call of the connection lost: the next record of the connection says so (`lost`). */
static __always_inline void lost_call(struct lost_key *lk, struct lost_val *carried, __u32 len, __u32 read)
{
	if (read)
		carried->read += len;
	else
		carried->written += len;
	if (bpf_map_update_elem(&lost, lk, carried, BPF_NOEXIST) == 0) {
		__sync_fetch_and_add(&lost_pending, 1);
	} else {
		struct lost_val *old = bpf_map_lookup_elem(&lost, lk);
		if (old) {
			__sync_fetch_and_add(&old->read, carried->read);
			__sync_fetch_and_add(&old->written, carried->written);
		}
	}
}

/* Writes the record built in s (payload n bytes, then `skip` counted bytes) to the ring. On
 * failure, counts the loss; when it was the call's first record, the whole call is lost, and
 * the next record of the connection says so (see `lost`). */
static __always_inline bool send(struct scratch *s, struct lost_key *lk, struct lost_val *carried,
				 __u32 len, __u32 off, __u32 n, __u32 skip, __u32 flags, bool first)
{
	struct tls_event *ev = &s->ev;
	ev->offset = off;
	ev->flags = flags;
	ev->cap_len = n;
	ev->skipped = skip;
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(TLSOTEL_MAX_PAYLOAD));
	if (bpf_ringbuf_output(&events, s, sizeof(struct tls_event) + n, BPF_RB_NO_WAKEUP) == 0) {
		count(TLS_CNT_EVENTS, 1);
		if (skip)
			count(TLS_CNT_SKIP_BYTES, skip);
		return true;
	}
	count(TLS_CNT_RB_DROPS, 1);
	count(TLS_CNT_RB_DROP_BYTES, len - off);
	if (first) {
		/* The whole call is lost, with what this record was to carry: the next record of this
		 * connection says so. A later record lost is visible to user space as a call cut
		 * short (and skipped bytes after it as a gap). */
		lost_call(lk, carried, len, flags & TLS_FLAG_READ);
	}
	return false;
}

/* Walks a call's frames from byte `start`, as the previous call left them (st; none: from a
 * frame's start), planning records when `plan`. */
static __always_inline struct h2_walk *h2_walk(struct scratch *s, __u64 buf, __u32 len, __u32 start,
					       __u32 cap, __u32 plan, struct dir_state *st)
{
	struct h2_walk *w = &s->h2;
	w->buf = buf;
	w->len = len;
	w->pos = start;
	w->copy_start = 0;
	w->cap = cap;
	w->n = 0;
	w->plan = plan;
	w->to_next = st ? st->to_next : 0;
	w->skipping = st ? st->skipping : 0;
	w->hdr_have = st ? st->hdr_have : 0;
	w->lost = 0;
	w->off = 0;
	w->used = 0;
	if (st)
		__builtin_memcpy(w->hdr, st->hdr, 8);
	w->pre_n = 0;
	if (len <= H2_PREFETCH) {
		__u32 n = len;
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(H2_PREFETCH));
		if (bpf_probe_read_user(w->pre, n, (void *)buf) == 0)
			w->pre_n = n;
	}
	struct head_ctx ctx = { .s = s };
	bpf_loop(H2_MAX_STEPS, h2_step, &ctx, 0);
	if (w->lost)
		w->n = 0; /* planned from a framing that has just failed: copy the call instead */
	return w;
}

/* A call that began an HTTP/2 direction (h2_begins; the call went out whole): its frames are
 * walked from byte `start`, so that the next call of the direction (conn, pid_read >> 1,
 * read: pid_read & 1) is followed from where this one ends. A global function, verified once
 * (not at each of emit's many paths to it): it takes scalars only, and finds the scratch value
 * again. */
__attribute__((noinline)) int h2_follow_from(__u64 buf, __u32 len, __u32 start, __u64 conn, __u64 pid_read)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	if (start == 0 && !h2_settings_valid(s, buf, len))
		return 0;
	struct h2_walk *w = h2_walk(s, buf, len, start, 0, 0, 0);
	if (w->lost || w->pos < len)
		return 0;
	struct dir_state fresh = {
		.h2 = H2_FRAMES,
		.to_next = w->to_next,
		.skipping = w->skipping,
		.hdr_have = w->hdr_have,
	};
	__builtin_memcpy(fresh.hdr, w->hdr, 8);
	struct dir_key sk = { .conn = conn, .pid = pid_read >> 1, .read = pid_read & 1 };
	if (bpf_map_update_elem(&dir_states, &sk, &fresh, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&dir_pending, 1);
	return 1;
}

/* The walk of a call of a followed direction (conn, pid_read >> 1, read: pid_read & 1), planning
 * its records into the scratch value (s->h2.rec, s->h2.n); the direction's state kept for the
 * next call, or dropped when the walk lost the frames. A global function, verified once (see
 * h2_follow_from). Returns 0 when the direction is not followed (no state). */
__attribute__((noinline)) int h2_plan(__u64 buf, __u32 len, __u32 cap, __u64 conn, __u64 pid_read)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	s->h2.n = 0;
	s->h2.off = 0;
	s->h2.used = 0;
	struct dir_key sk = { .conn = conn, .pid = pid_read >> 1, .read = pid_read & 1 };
	struct dir_state *st = bpf_map_lookup_elem(&dir_states, &sk);
	if (!st || st->h2 != H2_FRAMES)
		return 0;
	struct h2_walk *w = h2_walk(s, buf, len, 0, cap, 1, st);
	if (w->lost || w->pos < len) {
		count(TLS_CNT_H2_LOST, 1);
		if (bpf_map_delete_elem(&dir_states, &sk) == 0)
			__sync_fetch_and_add(&dir_pending, -1);
		/* A header that fails the checks: this call may begin the direction again (a state
		 * left by a connection whose end was not seen, at an address a new one took: its
		 * first call begins with the preface or SETTINGS), as any call without a state. */
		w->look = w->lost;
	} else {
		st->to_next = w->to_next;
		st->skipping = w->skipping;
		st->hdr_have = w->hdr_have;
		__builtin_memcpy(st->hdr, w->hdr, 8);
	}
	return 1;
}

/* One call of a direction whose HTTP/2 frames are followed: its frames walked from where
 * the previous call left them, and the records the walk planned sent (the bytes before each
 * skipped DATA part copied, the part counted). The state is kept for the next call, or dropped
 * when the walk lost the frames (the call is then copied, and may begin the direction again:
 * s->h2.look). Returns true when the call is done; else s->h2.off and s->h2.used say where the
 * copy of the rest begins and how many records went. */
static __always_inline bool emit_h2(struct scratch *s, struct call_args *a, struct lost_key *lk,
				    struct lost_val *carried, __u32 len, __u32 cap, __u32 flags0,
				    __u32 loss_flag, __u32 read)
{
	struct h2_walk *w = &s->h2;
	h2_plan(a->buf, len, cap, a->ssl, (__u64)lk->pid << 1 | read);
	__u32 n = w->n;
	for (__u32 i = 0; i < TLSOTEL_MAX_SEGMENTS; i++) {
		if (i >= n)
			break;
		struct h2_rec *r = &w->rec[i];
		__u32 o = r->off;
		__u32 c = r->n;
		__u32 k = r->skip;
		bool last = o + c + k >= len;
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(c) : [max] "i"(TLSOTEL_MAX_PAYLOAD));
		__u32 sent = c;
		__u32 skip = k;
		if (c && bpf_probe_read_user(s->data, c, (void *)(a->buf + o)) != 0) {
			/* The record goes out empty, and the skipped part with it: user space would place
			 * skipped bytes right after the (missing) payload; the next record, or LAST, makes
			 * all of it one gap, in order. */
			count(TLS_CNT_READ_ERRORS, 1);
			sent = 0;
			skip = 0;
		}
		if (!send(s, lk, carried, len, o, sent, skip, flags0 | (last ? TLS_FLAG_LAST : 0) | (i == 0 ? loss_flag : 0), i == 0))
			return true;
		count(TLS_CNT_SKIP_FRAMES, 1);
		w->off = o + c + k;
		w->used = i + 1;
		if (last)
			return true;
	}
	return false;
}

/* Emit one call's plaintext as up to cfg.max_segments records of up to cfg.capture_bytes, the
 * bytes of a body being skipped counted instead (see dir_states). In three straight steps, not
 * one loop that may do any of them at every turn (the verifier would walk every mix): the rest
 * of a body skipped since an earlier call, or the call's HTTP/2 frames walked; a head at that
 * point, searched once; the rest copied as before. */
static __always_inline void emit(struct pt_regs *ctx, __u64 pid_tgid, struct call_args *a,
				 __u32 len, __u32 read)
{
	if (stopping())
		return;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return;

	__u32 cap = cfg.capture_bytes;
	if (cap == 0 || cap > TLSOTEL_MAX_PAYLOAD)
		cap = TLSOTEL_MAX_PAYLOAD;
	__u32 segs = cfg.max_segments;

	struct tls_event *ev = &s->ev;
	__u32 lib_id = (__u32)bpf_get_attach_cookie(ctx);
	__u32 loss_flag = 0;
	struct lost_key lk = { .conn = a->ssl, .pid = pid_tgid >> 32 };
	struct lost_val carried = {};
	if (!send_owed_close(ev, &lk, pid_tgid, lib_id)) {
		/* This call is lost with it: a loss of the new connection. */
		count(TLS_CNT_RB_DROPS, 1);
		count(TLS_CNT_RB_DROP_BYTES, len);
		lost_call(&lk, &carried, len, read);
		return;
	}
	if (lost_pending) {
		struct lost_val *lv = bpf_map_lookup_elem(&lost, &lk);
		if (lv) {
			carried = *lv;
			loss_flag = TLS_FLAG_LOSS_BEFORE;
			if (bpf_map_delete_elem(&lost, &lk) == 0)
				__sync_fetch_and_add(&lost_pending, -1);
		}
	}
	ev->type = TLS_EVENT_DATA;
	/* A write: its entry (a->ts; Go's writes are emitted at entry); a read: now, its return. */
	ev->ts_ns = a->ts ? a->ts : bpf_ktime_get_ns();
	ev->conn = a->ssl;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->call_len = len;
	ev->lib_id = lib_id;
	ev->lost_bytes = read ? carried.read : carried.written;
	ev->lost_other = read ? carried.written : carried.read;
	ev->_pad = 0;
	bpf_get_current_comm(&ev->comm, sizeof(ev->comm));
	__u32 dir = read ? TLS_FLAG_READ : 0;

	struct dir_key sk = { .conn = a->ssl, .pid = ev->pid, .read = read };
	struct dir_state *st = 0;
	__u64 left = 0;
	if (dir_pending) {
		st = bpf_map_lookup_elem(&dir_states, &sk);
		if (st)
			left = st->left;
	}
	__u64 left_before = left;
	__u32 off = 0;
	__u32 used = 0; /* records written (or lost) so far */
	__u32 seg_limit = segs; /* records the call may have (more after an HTTP/2 walk's planned ones) */

	/* Whether the call may begin an HTTP/2 direction (h2_begins, when its first bytes are read
	 * below: s->h2.start). */
	s->h2.look = cfg.skip_min && !st;
	s->h2.start = H2_NO_START;

	/* 1a. HTTP/2: a direction whose frames are followed. */
	if (st && st->h2 == H2_FRAMES) {
		if (emit_h2(s, a, &lk, &carried, len, cap, dir, loss_flag, read))
			return;
		off = s->h2.off;
		used = s->h2.used;
		seg_limit = used + segs;
		goto copy;
	}
	/* 1b. The call begins inside an HTTP/1 body skipped since an earlier call: count what is
	 * in it. */
	if (left > 0) {
		__u32 skip = left < len ? (__u32)left : len;
		left -= skip;
		bool last = skip >= len || segs <= 1;
		if (!send(s, &lk, &carried, len, 0, 0, skip, dir | (last ? TLS_FLAG_LAST : 0) | loss_flag, true))
			goto save;
		off = skip;
		used = 1;
		if (last) {
			if (off < len)
				count(TLS_CNT_TRUNC_BYTES, len - off);
			goto save;
		}
	}

	/* 2. A message may begin here: search a large enough rest of the call for a head whose body
	 * can be counted. Only the bytes searched are read first: a skipped body is never read;
	 * otherwise the rest of the record is read, and it is sent as any other. */
	if (cfg.skip_min && len - off >= cfg.skip_min) {
		__u32 n = len - off;
		if (n > cap)
			n = cap;
		__u32 first = n < TLSOTEL_HEAD_SCAN ? n : TLSOTEL_HEAD_SCAN;
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(first) : [max] "i"(TLSOTEL_HEAD_SCAN));
		__u32 skip = 0;
		if (bpf_probe_read_user(s->data, first, (void *)(a->buf + off)) != 0) {
			count(TLS_CNT_READ_ERRORS, 1);
			n = 0;
		} else {
			__u64 cl = 0;
			__u32 head = skippable_head(s, first, &cl);
			__u32 after = len - off - head;
			if (head && cl > 0 && after > 0 && !response_at(s, head, first)) {
				skip = cl < after ? (__u32)cl : after;
				left = cl - skip;
				n = head;
				count(TLS_CNT_SKIP_HEADS, 1);
			} else if (n > first) {
				/* first == TLSOTEL_HEAD_SCAN here */
				__u32 rest = n - first;
				asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(rest) : [max] "i"(TLSOTEL_MAX_PAYLOAD - TLSOTEL_HEAD_SCAN));
				if (bpf_probe_read_user(s->data + TLSOTEL_HEAD_SCAN, rest, (void *)(a->buf + off + TLSOTEL_HEAD_SCAN)) != 0) {
					count(TLS_CNT_READ_ERRORS, 1);
					n = 0;
				}
			}
			if (!skip && off == 0 && s->h2.look)
				h2_begins(s, first);
		}
		bool last = off + n + skip >= len || used + 1 >= segs;
		if (!send(s, &lk, &carried, len, off, n, skip, dir | (last ? TLS_FLAG_LAST : 0) | (used == 0 ? loss_flag : 0), used == 0))
			goto save;
		off += n + skip;
		used++;
		if (last) {
			if (off < len)
				count(TLS_CNT_TRUNC_BYTES, len - off);
			goto save;
		}
	}

copy:
	/* 3. The rest, copied. */
	for (__u32 i = 0; i < TLSOTEL_MAX_SEGMENTS; i++) {
		if (used + i >= seg_limit || off >= len)
			break;
		__u32 n = len - off;
		if (n > cap)
			n = cap;
		bool last = off + n >= len || used + i + 1 >= seg_limit;
		/* Already true (cap <= TLSOTEL_MAX_PAYLOAD), but the verifier must see it here. */
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(TLSOTEL_MAX_PAYLOAD));
		if (bpf_probe_read_user(s->data, n, (void *)(a->buf + off)) != 0) {
			/* Unreadable user memory (e.g. paged out): send the header alone; user space
			 * sees cap_len 0 and marks the bytes as a gap. */
			count(TLS_CNT_READ_ERRORS, 1);
			n = 0;
		}
		if (off == 0 && s->h2.look)
			h2_begins(s, n);
		bool first = used + i == 0;
		if (!send(s, &lk, &carried, len, off, n, 0, dir | (last ? TLS_FLAG_LAST : 0) | (first ? loss_flag : 0), first))
			break;
		if (last) {
			/* off + cap, not off + n: a short (unreadable) record covers its whole segment. */
			__u32 end = off + (len - off < cap ? len - off : cap);
			if (end < len)
				count(TLS_CNT_TRUNC_BYTES, len - end);
			break;
		}
		off += cap;
	}

save:
	if (s->h2.start != H2_NO_START) {
		h2_follow_from(a->buf, len, s->h2.start, a->ssl, (__u64)ev->pid << 1 | read);
		return;
	}
	if (left == left_before)
		return;
	if (st) {
		if (left > 0) {
			st->left = left;
		} else if (bpf_map_delete_elem(&dir_states, &sk) == 0) {
			__sync_fetch_and_add(&dir_pending, -1);
		}
	} else if (left > 0) {
		struct dir_state fresh = { .left = left };
		if (bpf_map_update_elem(&dir_states, &sk, &fresh, BPF_ANY) == 0)
			__sync_fetch_and_add(&dir_pending, 1);
	}
}

/* The arguments the entry probe stashed for the call returning now (taken: the slot is free
 * again), into *out; false when there are none. */
static __always_inline bool take_args(__u64 pid_tgid, struct call_args *out)
{
	struct task_calls *tc = task_calls(false);
	if (!tc || !tc->in_call) {
		if (traced(pid_tgid >> 32))
			count(TLS_CNT_NO_ENTRY, 1);
		return false;
	}
	*out = tc->call;
	tc->in_call = 0;
	return true;
}

/* Entry of SSL_read, SSL_write, SSL_read_ex and SSL_write_ex: (SSL *s, void *buf, int/size_t
 * num[, size_t *done]). The fourth argument is garbage for the non-_ex calls and unused then. */
SEC("uprobe")
int BPF_KPROBE(tls_enter)
{
	stash(ctx);
	return 0;
}

/* int SSL_write / SSL_read: the return value is the byte count, <= 0 on failure. */
static __always_inline int ret_int(struct pt_regs *ctx, __u32 read)
{
	__u64 pid_tgid = current_pid_tgid();
	struct call_args a;
	if (!take_args(pid_tgid, &a))
		return 0;
	int ret = (int)PT_REGS_RC(ctx);
	if (ret > 0)
		emit(ctx, pid_tgid, &a, (__u32)ret, read);
	left_call(pid_tgid, &a);
	return 0;
}

/* int SSL_write_ex / SSL_read_ex, and the internal ssl_write_internal / ssl_read_internal they
 * wrap (same arguments; see src/discovery/openssl-internals.ts): > 0 (1) on success with the
 * byte count in *done. */
static __always_inline int ret_ex(struct pt_regs *ctx, __u32 read)
{
	__u64 pid_tgid = current_pid_tgid();
	struct call_args a;
	if (!take_args(pid_tgid, &a))
		return 0;
	int ret = (int)PT_REGS_RC(ctx);
	__u64 done = 0;
	if (ret > 0 && a.len_ptr &&
	    bpf_probe_read_user(&done, sizeof(done), (void *)a.len_ptr) == 0 && done > 0)
		emit(ctx, pid_tgid, &a, done > 0x7fffffff ? 0x7fffffff : (__u32)done, read);
	left_call(pid_tgid, &a);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_write_ret)
{
	return ret_int(ctx, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_read_ret)
{
	return ret_int(ctx, 1);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_write_ex_ret)
{
	return ret_ex(ctx, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_read_ex_ret)
{
	return ret_ex(ctx, 1);
}

/* OpenSSL >= 3.3's SSL_write_ex2(SSL *s, const void *buf, size_t num, uint64_t flags,
 * size_t *written), and the internal ssl_write_internal with the same arguments that SSL_write,
 * SSL_write_ex2 and (through SSL_write_ex2) SSL_write_ex call in those releases: the byte count
 * goes through the fifth argument (r8), not the fourth. Return value and count as SSL_write_ex
 * (ret_ex). See src/tls/openssl/internals.ts. */
static __always_inline void stash_at(struct pt_regs *ctx, struct call_args *a, __u64 pid_tgid, bool ex2)
{
	struct task_calls *tc = task_calls(true);
	if (!tc)
		return;
	a->ts = entry_stamp(ctx);
	find_socket(ctx, pid_tgid, a, tc);
	if (ex2) {
		tc->ex2 = *a;
		tc->in_ex2 = 1;
	} else {
		tc->call = *a;
		tc->in_call = 1;
	}
}

/* The arguments of a call whose count pointer is the fifth, read up front: the verifier refuses
 * a context read at an offset the compiler computes on two paths. */
static __always_inline struct call_args args5(struct pt_regs *ctx)
{
	struct call_args a = {
		.ssl = (__u64)PT_REGS_PARM1(ctx),
		.buf = (__u64)PT_REGS_PARM2(ctx),
		.len_ptr = (__u64)PT_REGS_PARM5(ctx),
	};
	return a;
}

/* The internal write function of OpenSSL >= 3.3 (nothing else probed around it): as tls_enter,
 * with the count pointer from the fifth argument. */
SEC("uprobe")
int BPF_KPROBE(tls_enter_arg5)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!traced(pid_tgid >> 32))
		return 0;
	struct call_args a = args5(ctx);
	stash_at(ctx, &a, pid_tgid, false);
	return 0;
}

/* The exported SSL_write_ex2, probed beside SSL_write_ex when the internal function is not
 * found. SSL_write_ex may reach it by a tail call (3.5 does: `jmp SSL_write_ex2@plt`), and then
 * both return probes fire on the one return, SSL_write_ex2's first. Such a nested call (an
 * SSL_write_ex of the same SSL* in flight on this thread) is left to the outer probe; a direct
 * call is kept under its own key, so the two cannot take each other's arguments. */
#define TLS_EX2_MASK (1ULL << 62)

SEC("uprobe")
int BPF_KPROBE(tls_enter_ex2)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!traced(pid_tgid >> 32))
		return 0;
	struct call_args a = args5(ctx);
	struct task_calls *tc = task_calls(false);
	if (tc && tc->in_call && tc->call.ssl == a.ssl)
		return 0;
	stash_at(ctx, &a, pid_tgid, true);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_write_ex2_ret)
{
	__u64 pid_tgid = current_pid_tgid();
	struct task_calls *tc = task_calls(false);
	if (!tc || !tc->in_ex2) {
		/* Nested (the outer probe, still in flight, reports the call), or the entry is gone. */
		if (traced(pid_tgid >> 32) && !(tc && tc->in_call))
			count(TLS_CNT_NO_ENTRY, 1);
		return 0;
	}
	struct call_args a = tc->ex2;
	tc->in_ex2 = 0;
	int ret = (int)PT_REGS_RC(ctx);
	__u64 done = 0;
	if (ret > 0 && a.len_ptr &&
	    bpf_probe_read_user(&done, sizeof(done), (void *)a.len_ptr) == 0 && done > 0)
		emit(ctx, pid_tgid, &a, done > 0x7fffffff ? 0x7fffffff : (__u32)done, 0);
	left_call(pid_tgid, &a);
	return 0;
}

/* A connection is gone (SSL_free, gnutls_deinit, Go's (*Conn).Close, the close() of its socket
 * for libraries without a free probe): user space flushes and frees its state, and its socket
 * is forgotten. */
static __always_inline int conn_closed(__u64 pid_tgid, __u64 conn, __u32 lib_id)
{
	if (stopping())
		return 0;
	struct tls_event ev = {};
	ev.type = TLS_EVENT_CLOSE;
	ev.ts_ns = bpf_ktime_get_ns();
	ev.conn = conn;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.lib_id = lib_id;
	bpf_get_current_comm(&ev.comm, sizeof(ev.comm));

	/* What the connection left unfinished must not pass to the next connection at this address
	 * (an allocator gives a freed SSL's memory to the next one): lost calls not reported yet go
	 * with the close record (user space marks them as gaps before closing), a close record the
	 * ring has no room for is owed (sent before the next record of this address), and a body
	 * being skipped is forgotten (a client that gave up on a download: the server's next
	 * response would be counted as that body's rest). */
	struct lost_key lk = { .conn = conn, .pid = ev.pid };
	struct lost_val *lv = lost_pending ? bpf_map_lookup_elem(&lost, &lk) : 0;
	struct owed_close *o = owed_pending ? bpf_map_lookup_elem(&owed_closes, &lk) : 0;
	if (o) {
		/* A connection before this one closed with its record owed, and nothing of this one
		 * went out (its first record would have sent that one first): user space knows the old
		 * one only, and the owed record closes it; this one's own losses mean nothing to it. */
		send_owed_close(&ev, &lk, pid_tgid, ev.lib_id);
	} else {
		if (lv) {
			ev.flags = TLS_FLAG_LOSS_BEFORE;
			ev.lost_bytes = lv->written;
			ev.lost_other = lv->read;
		}
		if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_NO_WAKEUP) != 0) {
			count(TLS_CNT_CLOSE_DROPS, 1);
			struct owed_close owed = { .closed_ns = ev.ts_ns };
			if (lv) {
				owed.written = lv->written;
				owed.read = lv->read;
			}
			if (bpf_map_update_elem(&owed_closes, &lk, &owed, BPF_NOEXIST) == 0)
				__sync_fetch_and_add(&owed_pending, 1);
		}
	}
	if (lv && bpf_map_delete_elem(&lost, &lk) == 0)
		__sync_fetch_and_add(&lost_pending, -1);
	if (dir_pending) {
		struct dir_key sk = { .conn = conn, .pid = ev.pid, .read = 0 };
		if (bpf_map_delete_elem(&dir_states, &sk) == 0)
			__sync_fetch_and_add(&dir_pending, -1);
		sk.read = 1;
		if (bpf_map_delete_elem(&dir_states, &sk) == 0)
			__sync_fetch_and_add(&dir_pending, -1);
	}

	struct conn_key ck = { .ssl = conn, .pid = ev.pid };
	__s32 *fd = bpf_map_lookup_elem(&known, &ck);
	if (fd) {
		struct fd_key fk = { .pid = ev.pid, .fd = *fd };
		bpf_map_delete_elem(&known_fd, &fk);
		bpf_map_delete_elem(&known, &ck);
		__sync_fetch_and_add(&known_gen, 1);
	}
	return 0;
}

/* Whether a connection's end, seen on the current thread, is to be reported: its process is
 * traced, and with --comm, the thread has one of the names, or the connection is one whose
 * socket was found (a close on a thread named otherwise, a pool's, must still end it). */
static __always_inline bool close_traced(__u64 pid_tgid, __u64 conn)
{
	if (!traced_process(pid_tgid >> 32))
		return false;
	if (!cfg.n_comms || comm_wanted())
		return true;
	struct conn_key ck = { .ssl = conn, .pid = pid_tgid >> 32 };
	return bpf_map_lookup_elem(&known, &ck) != 0;
}

/* SSL_free(SSL *s), gnutls_deinit(session). */
SEC("uprobe")
int BPF_KPROBE(tls_free, void *ssl)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!close_traced(pid_tgid, (__u64)ssl))
		return 0;
	return conn_closed(pid_tgid, (__u64)ssl, (__u32)bpf_get_attach_cookie(ctx));
}

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10

/* The addresses of the socket behind `fd` of the current process; 0 on success. */
static __always_inline int socket_of(int fd, struct tls_conn *out)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f)
		return -1;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return -1;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return -1;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(out->local_addr, &l, 4);
		__builtin_memcpy(out->remote_addr, &r, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&out->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&out->remote_addr, sk, __sk_common.skc_v6_daddr);
	} else {
		return -1;
	}
	out->family = family;
	out->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	out->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	out->fd = fd;
	return 0;
}

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
struct conn_record {
	struct tls_event ev;
	struct tls_conn conn;
};
#pragma clang diagnostic pop

/* ---- New executable files: exec and mmap(PROT_EXEC) of files user space has not examined. ----
 *
 * A uprobe sits on a file, so a process that maps a TLS library file never attached (a Go
 * binary started now, a program's private libssl, a container's own) is traced only once user
 * space has found and attached that file. Instead of waiting for its /proc rescan, user space
 * is told at once, for each file once: every exec (sched_process_exec) and every executable
 * mmap of a file (sys_enter, below) looks the file's device and inode up in examined_files,
 * which user space fills with every file it has looked at, and emits an event only for a file
 * not in it. The file is put in the map by the event itself, so that many processes mapping a
 * new file at once cost one event. */

/* Events for user space: few (one per new file), so written with a wake-up, which its waiting
 * thread needs (it blocks in epoll_wait instead of polling). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} file_events SEC(".maps");

/* Files examined (value unused). Inserted by user space for every file it examined (attached or
 * not a TLS library) and here when an event is emitted; deleted by user space when it could not
 * examine the file (the process exited first), so that the next mapping tells it again. LRU: the
 * files of a long-running host are unbounded; one evicted costs one more event. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_file_key);
	__type(value, __u8);
} examined_files SEC(".maps");

/* enum tls_file_counter, per CPU: summed by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TLS_FCNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} file_counters SEC(".maps");

/* Unused: events are built on the stack, whose types the object's BTF does not keep; this puts
 * struct tls_file_event there, where scripts/gen-layout.mjs reads its layout. */
struct tls_file_event file_event_layout = {};

static __always_inline void count_file(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&file_counters, &idx);
	if (v)
		*v += 1;
}

/* examined_files values: announced by an event, user space examining it; examined. */
#define FILE_ANNOUNCED 1
#define FILE_EXAMINED 2

#define SIGSTOP 19

/* Programs that watch their child for stops and stop themselves in turn, so that the user's
 * shell sees a job stopped (sudo, su and their kind run a command that way when there is no
 * terminal): the agent resumes the child only, and the wrapper would stay stopped. Their
 * children are never held. NUL-padded to 16 bytes, compared as two words. */
static const char stop_mirroring_parents[][16] = {
	"sudo", "su", "runuser", "doas", "pkexec", "login", "newgrp", "sg",
};

static __always_inline bool parent_mirrors_stops(struct task_struct *task)
{
	__u64 c[2] = {};
	BPF_CORE_READ_INTO(&c, task, real_parent, comm);
	for (__u32 i = 0; i < sizeof(stop_mirroring_parents) / sizeof(stop_mirroring_parents[0]); i++) {
		const __u64 *w = (const __u64 *)stop_mirroring_parents[i];
		if (w[0] == c[0] && w[1] == c[1])
			return true;
	}
	return false;
}

/*
 * Whether the current process may be stopped until user space has examined the new file `f`
 * (attached it if a TLS library claims it): so that a program's first TLS call, a few ms after
 * its exec or its libssl's mmap, is traced however fast it comes (a Go client's first request
 * comes before user space could otherwise attach). The process stops before its next user
 * instruction (the signal is acted on at the return from exec or mmap) and user space resumes it
 * (SIGCONT) right after the examination, a few ms; nothing of it runs meanwhile.
 *
 * Only while user space answers, and where a stop is unlikely to be acted on by anyone (the
 * parent is told, SIGCHLD with CLD_STOPPED then CLD_CONTINUED, but most parents wait for exits
 * only; README, Discovery):
 * - user space's heartbeat (TLS_CONTROL_HOLD) is recent: it is written while the agent reads
 *   these events and resumes processes, cleared before it stops; an agent that is stopped or
 *   hung holds no process more than TLSOTEL_HOLD_HEARTBEAT_MS after its last beat;
 * - the agent may signal the process (TLS_CONTROL_HOLD_UID): without CAP_KILL, only processes
 *   of its own uid (a stop needs no permission here, the SIGCONT does);
 * - with --comm, the process has one of the names (exec has renamed it already);
 * - the file is large enough to be a TLS library or a Go program (TLSOTEL_HOLD_MIN_BYTES);
 * - the process is not traced by a debugger or strace (the tracer would see the SIGSTOP), nor
 *   the child of a program that mirrors its child's stops (stop_mirroring_parents), nor init;
 * - an mmap in a process of one thread only (a dlopen in a running, threaded program: its other
 *   threads' waits could end early with EINTR, see signal(7)); exec leaves one thread anyway;
 * - with a controlling terminal, only a process in its parent's process group, and the parent not
 *   a session leader: a job-control shell puts each job in a group of its own and waits for its
 *   stops (a stopped foreground job would give the terminal back to the shell), and an
 *   interactive shell leads its session. Processes with no terminal (services, containers,
 *   test runners, cron) are never waited for that way.
 */
static __always_inline bool may_hold(struct file *f, bool mmap)
{
	__u32 beat = control_value(TLS_CONTROL_HOLD);
	if (!beat || (__u32)(bpf_ktime_get_ns() / 1000000) - beat > TLSOTEL_HOLD_HEARTBEAT_MS)
		return false;
	if (cfg.n_comms && !comm_wanted()) /* --comm: a program not traced need not wait */
		return false;
	if (BPF_CORE_READ(f, f_inode, i_size) < TLSOTEL_HOLD_MIN_BYTES)
		return false;
	if ((bpf_get_current_pid_tgid() >> 32) == 1) /* the host's init */
		return false;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, ptrace) || parent_mirrors_stops(task))
		return false;
	__u32 uid1 = control_value(TLS_CONTROL_HOLD_UID);
	if (uid1 && BPF_CORE_READ(task, real_cred, uid.val) != uid1 - 1 && BPF_CORE_READ(task, real_cred, suid.val) != uid1 - 1)
		return false;
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	if (mmap && BPF_CORE_READ(sig, nr_threads) != 1)
		return false;
	if (BPF_CORE_READ(sig, tty)) {
		struct signal_struct *psig = BPF_CORE_READ(task, real_parent, signal);
		if (BPF_CORE_READ(psig, leader))
			return false;
		if (BPF_CORE_READ(psig, pids[PIDTYPE_PGID]) != BPF_CORE_READ(sig, pids[PIDTYPE_PGID]))
			return false;
	}
	return true;
}

/* An event for `f` unless it was examined (or announced) already. A file announced and still
 * being examined gives an event too when the process can be held (another process that exec'd
 * the same new program at the same time), so that user space resumes it. */
static __always_inline void file_seen(__u32 kind, __u64 pid_tgid, struct file *f, int fd)
{
	count_file(TLS_FCNT_SEEN);
	struct tls_file_key k = {};
	k.ino = BPF_CORE_READ(f, f_inode, i_ino);
	k.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	bool mmap = kind == TLS_FILE_MMAP;
	bool announce = true;
	__u8 *state = bpf_map_lookup_elem(&examined_files, &k);
	if (state) {
		if (*state != FILE_ANNOUNCED || !may_hold(f, mmap)) {
			count_file(TLS_FCNT_KNOWN);
			return;
		}
		announce = false;
	} else {
		__u8 announced = FILE_ANNOUNCED;
		if (bpf_map_update_elem(&examined_files, &k, &announced, BPF_NOEXIST) != 0) {
			count_file(TLS_FCNT_KNOWN); /* another CPU announced it just now */
			return;
		}
	}
	struct tls_file_event *ev = bpf_ringbuf_reserve(&file_events, sizeof(*ev), 0);
	if (!ev) {
		count_file(TLS_FCNT_DROPS);
		if (announce)
			bpf_map_delete_elem(&examined_files, &k); /* the next mapping tries again */
		return;
	}
	ev->kind = kind;
	ev->pid = pid_tgid >> 32;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->file = k;
	ev->fd = fd;
	ev->flags = 0;
	bpf_get_current_comm(&ev->comm, sizeof(ev->comm));
	/* Held only with its event surely written (a reserved record is always submitted): user
	 * space resumes exactly the processes whose events say so. */
	if ((announce ? may_hold(f, mmap) : true) && bpf_send_signal(SIGSTOP) == 0) {
		ev->flags = TLS_FILE_HELD;
		count_file(TLS_FCNT_HELD);
	}
	bpf_ringbuf_submit(ev, 0);
	count_file(TLS_FCNT_EVENTS);
}

#define PROT_EXEC 4
#define MAP_ANONYMOUS 0x20
#define SYS_MMAP 9
#define SYS_CLOSE 3

/* At sys_enter of mmap (x86_64: addr di, len si, prot dx, flags r10, fd r8): an executable
 * mapping of a file. The fd is open here; the mapping exists once the call returns, long before
 * user space reads the process's maps. */
static __always_inline void watch_mmap(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	if (!(BPF_CORE_READ(regs, dx) & PROT_EXEC) || (BPF_CORE_READ(regs, r10) & MAP_ANONYMOUS))
		return;
	int fd = (int)BPF_CORE_READ(regs, r8);
	if (fd < 0)
		return;
	__u64 pid_tgid = current_pid_tgid();
	if (!traced_process(pid_tgid >> 32))
		return;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f)
		return;
	file_seen(TLS_FILE_MMAP, pid_tgid, f, fd);
}

/* A process exec'd a program: its file (mapped by the kernel, not by an mmap call). */
SEC("raw_tracepoint/sched_process_exec")
int tls_file_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!traced_process(pid_tgid >> 32))
		return 0;
	/* A new program: who it is goes out again at its first connection (its mm may be at the
	 * address an earlier program's had, so procs_sent could not tell). */
	__u32 tgid = pid_tgid >> 32;
	bpf_map_delete_elem(&procs_sent, &tgid);
	/* (struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	struct file *f = BPF_CORE_READ(bprm, file);
	if (f)
		file_seen(TLS_FILE_EXEC, pid_tgid, f, -1);
	return 0;
}

/* close(fd) of a socket whose connection ends with it (fd_closes). */
static __always_inline void socket_closed(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__u64 pid_tgid = current_pid_tgid();
	struct fd_key fk = { .pid = pid_tgid >> 32, .fd = (int)BPF_CORE_READ(regs, di) };
	struct fd_close *found = bpf_map_lookup_elem(&fd_closes, &fk);
	if (!found)
		return;
	struct fd_close fc = *found;
	if (bpf_map_delete_elem(&fd_closes, &fk) == 0)
		__sync_fetch_and_add(&fd_close_pending, -1);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (fc.started != BPF_CORE_READ(task, group_leader, start_time))
		return; /* left by an exited process whose pid this one has now */
	/* The socket is gone whatever conn_closed finds in `known`. */
	bpf_map_delete_elem(&known_fd, &fk);
	/* Not close_traced(): the connection's socket was found, so it was traced. */
	if (traced_process(fk.pid))
		conn_closed(pid_tgid, fc.ssl, fc.lib_id);
}

/* Every syscall entry on the host: mmap goes to watch_mmap; any other returns at once unless a
 * thread is looking for its socket (identity_pending), and then only for read/write-family
 * syscalls of such a thread. */
SEC("raw_tracepoint/sys_enter")
int tls_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long id = (long)ctx->args[1];
	if (id == SYS_MMAP) {
		watch_mmap(ctx);
		return 0;
	}
	if (id == SYS_CLOSE) {
		if (fd_close_pending)
			socket_closed(ctx);
		return 0;
	}
	if (!identity_pending)
		return 0;
	/* x86_64: read 0, write 1, readv 19, writev 20, sendto 44, recvfrom 45, sendmsg 46, recvmsg 47 */
	bool is_write = id == 1 || id == 20 || id == 44 || id == 46;
	bool is_read = id == 0 || id == 19 || id == 45 || id == 47;
	if (!is_write && !is_read)
		return 0;
	__u64 pid_tgid = current_pid_tgid();
	struct want *w = bpf_map_lookup_elem(&want_fd, &pid_tgid);
	if (!w)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (!w->in_call) {
		if (now - w->ts > AFTER_RETURN_NS) {
			if (bpf_map_delete_elem(&want_fd, &pid_tgid) == 0)
				__sync_fetch_and_add(&identity_pending, -1);
			return 0;
		}
		if (!is_write)
			return 0;
	}
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	int fd = (int)BPF_CORE_READ(regs, di);
	__u32 pid = pid_tgid >> 32;
	struct fd_key fk = { .pid = pid, .fd = fd };
	__u64 *owner = bpf_map_lookup_elem(&known_fd, &fk);
	if (owner && *owner != w->ssl)
		return 0; /* another SSL*'s socket */

	if (stopping())
		return 0;
	struct conn_record rec = {};
	if (socket_of(fd, &rec.conn) != 0)
		return 0; /* not a TCP/IP socket (a pipe, stdout, a unix socket): keep looking */
	__u64 ssl = w->ssl;
	if (owed_pending) {
		/* A close owed to the connection this address had before goes first. */
		struct lost_key lk = { .conn = ssl, .pid = pid };
		if (!send_owed_close(&rec.ev, &lk, pid_tgid, 0)) {
			count(TLS_CNT_CONN_DROPS, 1);
			return 0; /* not remembered: the thread's next socket call tries again */
		}
		__builtin_memset(&rec.ev, 0, sizeof(rec.ev));
	}
	rec.ev.type = TLS_EVENT_CONN;
	rec.ev.ts_ns = now;
	rec.ev.conn = ssl;
	rec.ev.pid = pid;
	rec.ev.tid = (__u32)pid_tgid;
	rec.ev.cap_len = sizeof(struct tls_conn);
	bpf_get_current_comm(&rec.ev.comm, sizeof(rec.ev.comm));
	if (bpf_ringbuf_output(&events, &rec, sizeof(rec), BPF_RB_NO_WAKEUP) != 0) {
		count(TLS_CNT_CONN_DROPS, 1);
		return 0; /* not remembered: the thread's next socket call tries again */
	}
	count(TLS_CNT_CONNS, 1);
	struct conn_key ck = { .ssl = ssl, .pid = pid };
	bpf_map_update_elem(&known, &ck, &fd, BPF_ANY);
	bpf_map_update_elem(&known_fd, &fk, &ssl, BPF_ANY);
	if (w->close_lib) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct fd_close fc = { .ssl = ssl, .lib_id = w->close_lib, .started = BPF_CORE_READ(task, group_leader, start_time) };
		if (bpf_map_update_elem(&fd_closes, &fk, &fc, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(&fd_close_pending, 1);
		else
			bpf_map_update_elem(&fd_closes, &fk, &fc, BPF_EXIST);
	}
	if (bpf_map_delete_elem(&want_fd, &pid_tgid) == 0)
		__sync_fetch_and_add(&identity_pending, -1);
	return 0;
}

/* ---- Go crypto/tls: (*Conn).Write and (*Conn).Read (register ABI, Go >= 1.17, amd64). ----
 *
 * No uretprobes on Go: a goroutine's stack is copied when it grows, and a return address
 * rewritten by a uretprobe then sends the program somewhere else. So an entry probe stashes the
 * arguments (receiver RAX, buffer RBX, length RCX) and a probe on every RET instruction of the
 * function (found by user space, src/tls/go) takes the result (n in RAX; a Write's data is
 * taken at its entry, see go_tls_write_enter). A goroutine may
 * resume on another thread between the two: they are paired by process and goroutine (R14
 * holds the current g), not by thread. The *tls.Conn names the connection. Its socket is found
 * as OpenSSL's is: Go's netFD reads and writes on the calling thread inside the call. */
struct go_key {
	__u32 tgid;
	__u32 _pad;
	__u64 g;
};

struct go_call {
	struct call_args args;
	__u64 pid_tgid; /* the thread of the entry, whose socket marker the return clears */
};

/* Go TLS calls in flight, keyed by process and goroutine. Inserted at entry, deleted at a RET.
 * LRU: a goroutine that never returns (its program exited) must not pin an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

static __always_inline struct go_call go_enter(struct pt_regs *ctx, __u64 pid_tgid)
{
	struct go_call c = {
		.args = { .ssl = ctx->ax, .buf = ctx->bx },
		.pid_tgid = pid_tgid,
	};
	find_socket(ctx, pid_tgid, &c.args, task_calls(true));
	struct go_key k = { .tgid = pid_tgid >> 32, .g = ctx->r14 };
	bpf_map_update_elem(&go_calls, &k, &c, BPF_ANY);
	return c;
}

/* Entry of (*Conn).Read: the data exists only at its return. */
SEC("uprobe")
int BPF_KPROBE(go_tls_read_enter)
{
	__u64 pid_tgid = current_pid_tgid();
	if (traced(pid_tgid >> 32))
		go_enter(ctx, pid_tgid);
	return 0;
}

/* Entry of (*Conn).Write: its plaintext is emitted here, not at return. A Go program reads and
 * writes one connection from different goroutines (net/http: a read loop and a write loop), on
 * different threads: a response read may return before the request's Write does, and records
 * taken at return would reach user space answer first. Taken at entry, a request is always
 * before its answer. (*Conn).Write sends all of b or fails with the connection. */
SEC("uprobe")
int BPF_KPROBE(go_tls_write_enter)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!traced(pid_tgid >> 32))
		return 0;
	struct go_call c = go_enter(ctx, pid_tgid);
	long len = (long)ctx->cx;
	if (len > 0)
		emit(ctx, pid_tgid, &c.args, len > 0x7fffffff ? 0x7fffffff : (__u32)len, 0);
	return 0;
}

static __always_inline int go_ret(struct pt_regs *ctx, __u32 read)
{
	__u64 pid_tgid = current_pid_tgid();
	/* Not traced(): the goroutine may return on another thread than it entered on, whose name
	 * need not be the one the entry was judged by (a thread renamed with prctl). */
	if (!traced_process(pid_tgid >> 32))
		return 0;
	struct go_key k = { .tgid = pid_tgid >> 32, .g = ctx->r14 };
	struct go_call *c = bpf_map_lookup_elem(&go_calls, &k);
	if (!c) {
		if (!cfg.n_comms || comm_wanted())
			count(TLS_CNT_NO_ENTRY, 1);
		return 0;
	}
	struct go_call copy = *c;
	bpf_map_delete_elem(&go_calls, &k);
	long n = (long)ctx->ax;
	if (read && n > 0)
		emit(ctx, pid_tgid, &copy.args, n > 0x7fffffff ? 0x7fffffff : (__u32)n, read);
	if (copy.args.searching) {
		/* The call did no socket I/O (a read served from buffered records): its thread must not
		 * take another connection's socket for this one later. */
		struct want *w = bpf_map_lookup_elem(&want_fd, &copy.pid_tgid);
		if (w && w->ssl == copy.args.ssl && bpf_map_delete_elem(&want_fd, &copy.pid_tgid) == 0)
			__sync_fetch_and_add(&identity_pending, -1);
	}
	return 0;
}

/* At a RET of (*Conn).Write: its data went at entry; the call's socket marker is cleared. */
SEC("uprobe")
int BPF_KPROBE(go_tls_write_ret)
{
	return go_ret(ctx, 0);
}

/* At a RET of (*Conn).Read. */
SEC("uprobe")
int BPF_KPROBE(go_tls_read_ret)
{
	return go_ret(ctx, 1);
}

/* Entry of (*Conn).Close: the connection's state can go (as SSL_free). */
SEC("uprobe")
int BPF_KPROBE(go_tls_close)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!close_traced(pid_tgid, ctx->ax))
		return 0;
	return conn_closed(pid_tgid, ctx->ax, (__u32)bpf_get_attach_cookie(ctx));
}
