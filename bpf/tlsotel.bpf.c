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
};

/* Arguments of SSL calls in flight, keyed by pid_tgid | TLS_MASK. Inserted by the entry probe,
 * deleted by the return probe. LRU so that a thread that dies inside SSL_read (no return)
 * cannot fill the map: its entry is evicted eventually. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct call_args);
} active_calls SEC(".maps");

struct lost_key {
	__u64 conn;
	__u32 pid;
	__u32 _pad;
};

struct lost_val {
	__u64 written; /* bytes of whole write calls lost */
	__u64 read;    /* bytes of whole read calls lost */
};

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
	__u32 _pad;
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

/* Markers in want_fd (approximately: LRU evictions are not subtracted). Zero lets the syscall
 * hook return before any map lookup. */
__u32 identity_pending = 0;

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
	};
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

/* Written by user space only (TlsProbes.stopEmitting): non-zero once the agent is stopping. The
 * probes then emit nothing more, so that the agent can drain the ring for the last time while
 * the probes are still being detached (each uprobe's unregistration waits for a grace period).
 * An array, not a global, so that user space can write it alone. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} control SEC(".maps");

static __always_inline bool stopping(void)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&control, &zero);
	return v && *v;
}

static __always_inline bool traced(__u32 tgid)
{
	if (tgid == 0) /* outside the agent's PID namespace */
		return false;
	if (tgid == cfg.agent_tgid)
		return false;
	if (cfg.filter_tgid && tgid != cfg.filter_tgid)
		return false;
	return true;
}

/* At the entry of a call on a connection whose socket is not known yet: the thread looks for it
 * (see want_fd). */
static __always_inline void find_socket(__u64 pid_tgid, struct call_args *a)
{
	struct conn_key ck = { .ssl = a->ssl, .pid = pid_tgid >> 32 };
	if (bpf_map_lookup_elem(&known, &ck))
		return;
	struct want w = { .ssl = a->ssl, .ts = bpf_ktime_get_ns(), .in_call = 1 };
	if (bpf_map_update_elem(&want_fd, &pid_tgid, &w, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&identity_pending, 1);
	else
		bpf_map_update_elem(&want_fd, &pid_tgid, &w, BPF_EXIST);
	a->searching = 1;
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
	};
	find_socket(pid_tgid, &a);
	__u64 key = pid_tgid | TLS_MASK;
	bpf_map_update_elem(&active_calls, &key, &a, BPF_ANY);
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

/* Emit one call's plaintext as up to cfg.max_segments records of up to cfg.capture_bytes. */
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
	ev->type = TLS_EVENT_DATA;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->conn = a->ssl;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->call_len = len;
	ev->lib_id = (__u32)bpf_get_attach_cookie(ctx);
	ev->lost_bytes = 0;
	ev->lost_other = 0;
	bpf_get_current_comm(&ev->comm, sizeof(ev->comm));

	__u32 loss_flag = 0;
	struct lost_key lk = { .conn = a->ssl, .pid = ev->pid };
	struct lost_val carried = {};
	if (lost_pending) {
		struct lost_val *lv = bpf_map_lookup_elem(&lost, &lk);
		if (lv) {
			carried = *lv;
			ev->lost_bytes = read ? carried.read : carried.written;
			ev->lost_other = read ? carried.written : carried.read;
			loss_flag = TLS_FLAG_LOSS_BEFORE;
			if (bpf_map_delete_elem(&lost, &lk) == 0)
				__sync_fetch_and_add(&lost_pending, -1);
		}
	}

	for (__u32 i = 0; i < TLSOTEL_MAX_SEGMENTS; i++) {
		if (i >= segs)
			break;
		__u32 off = i * cap;
		if (off >= len)
			break;
		__u32 n = len - off;
		if (n > cap)
			n = cap;
		bool last = off + n >= len || i + 1 >= segs;

		ev->offset = off;
		ev->flags = (read ? TLS_FLAG_READ : 0) | (last ? TLS_FLAG_LAST : 0) | (i == 0 ? loss_flag : 0);
		/* Already true (cap <= TLSOTEL_MAX_PAYLOAD), but the verifier must see it here. */
		asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(n) : [max] "i"(TLSOTEL_MAX_PAYLOAD));
		if (bpf_probe_read_user(s->data, n, (void *)(a->buf + off)) != 0) {
			/* Unreadable user memory (e.g. paged out): send the header alone; user space
			 * sees cap_len 0 and marks the bytes as a gap. */
			count(TLS_CNT_READ_ERRORS, 1);
			n = 0;
		}
		ev->cap_len = n;
		if (bpf_ringbuf_output(&events, s, sizeof(struct tls_event) + n, BPF_RB_NO_WAKEUP) != 0) {
			count(TLS_CNT_RB_DROPS, 1);
			count(TLS_CNT_RB_DROP_BYTES, len - off);
			if (i == 0) {
				/* The whole call is lost, with what this record was to carry: the next
				 * record of this connection says so. A later segment lost is visible to
				 * user space as a call cut short. */
				if (read)
					carried.read += len;
				else
					carried.written += len;
				if (bpf_map_update_elem(&lost, &lk, &carried, BPF_NOEXIST) == 0) {
					__sync_fetch_and_add(&lost_pending, 1);
				} else {
					struct lost_val *old = bpf_map_lookup_elem(&lost, &lk);
					if (old) {
						__sync_fetch_and_add(&old->read, carried.read);
						__sync_fetch_and_add(&old->written, carried.written);
					}
				}
			}
			return;
		}
		count(TLS_CNT_EVENTS, 1);
		if (last) {
			if (off + n < len)
				count(TLS_CNT_TRUNC_BYTES, len - off - n);
			return;
		}
	}
}

static __always_inline struct call_args *take_args(__u64 pid_tgid)
{
	__u64 key = pid_tgid | TLS_MASK;
	struct call_args *a = bpf_map_lookup_elem(&active_calls, &key);
	if (!a && traced(pid_tgid >> 32))
		count(TLS_CNT_NO_ENTRY, 1);
	return a;
}

static __always_inline void done_args(__u64 pid_tgid)
{
	__u64 key = pid_tgid | TLS_MASK;
	bpf_map_delete_elem(&active_calls, &key);
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
	struct call_args *a = take_args(pid_tgid);
	if (!a)
		return 0;
	int ret = (int)PT_REGS_RC(ctx);
	struct call_args copy = *a;
	if (ret > 0)
		emit(ctx, pid_tgid, &copy, (__u32)ret, read);
	left_call(pid_tgid, &copy);
	done_args(pid_tgid);
	return 0;
}

/* int SSL_write_ex / SSL_read_ex, and the internal ssl_write_internal / ssl_read_internal they
 * wrap (same arguments; see src/discovery/openssl-internals.ts): > 0 (1) on success with the
 * byte count in *done. */
static __always_inline int ret_ex(struct pt_regs *ctx, __u32 read)
{
	__u64 pid_tgid = current_pid_tgid();
	struct call_args *a = take_args(pid_tgid);
	if (!a)
		return 0;
	int ret = (int)PT_REGS_RC(ctx);
	__u64 done = 0;
	struct call_args copy = *a;
	if (ret > 0 && copy.len_ptr &&
	    bpf_probe_read_user(&done, sizeof(done), (void *)copy.len_ptr) == 0 && done > 0)
		emit(ctx, pid_tgid, &copy, done > 0x7fffffff ? 0x7fffffff : (__u32)done, read);
	left_call(pid_tgid, &copy);
	done_args(pid_tgid);
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
static __always_inline void stash_at(struct call_args *a, __u64 pid_tgid, __u64 key)
{
	find_socket(pid_tgid, a);
	bpf_map_update_elem(&active_calls, &key, a, BPF_ANY);
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
	stash_at(&a, pid_tgid, pid_tgid | TLS_MASK);
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
	__u64 outer_key = pid_tgid | TLS_MASK;
	struct call_args *outer = bpf_map_lookup_elem(&active_calls, &outer_key);
	if (outer && outer->ssl == a.ssl)
		return 0;
	stash_at(&a, pid_tgid, pid_tgid | TLS_MASK | TLS_EX2_MASK);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_write_ex2_ret)
{
	__u64 pid_tgid = current_pid_tgid();
	__u64 key = pid_tgid | TLS_MASK | TLS_EX2_MASK;
	struct call_args *a = bpf_map_lookup_elem(&active_calls, &key);
	if (!a) {
		/* Nested (the outer probe, still in flight, reports the call), or the entry is gone. */
		__u64 outer_key = pid_tgid | TLS_MASK;
		if (traced(pid_tgid >> 32) && !bpf_map_lookup_elem(&active_calls, &outer_key))
			count(TLS_CNT_NO_ENTRY, 1);
		return 0;
	}
	int ret = (int)PT_REGS_RC(ctx);
	__u64 done = 0;
	struct call_args copy = *a;
	if (ret > 0 && copy.len_ptr &&
	    bpf_probe_read_user(&done, sizeof(done), (void *)copy.len_ptr) == 0 && done > 0)
		emit(ctx, pid_tgid, &copy, done > 0x7fffffff ? 0x7fffffff : (__u32)done, 0);
	left_call(pid_tgid, &copy);
	bpf_map_delete_elem(&active_calls, &key);
	return 0;
}

/* A connection is gone (SSL_free, gnutls_deinit, Go's (*Conn).Close): user space flushes and
 * frees its state, and its socket is forgotten. */
static __always_inline int conn_closed(struct pt_regs *ctx, __u64 pid_tgid, __u64 conn)
{
	if (stopping())
		return 0;
	struct tls_event ev = {};
	ev.type = TLS_EVENT_CLOSE;
	ev.ts_ns = bpf_ktime_get_ns();
	ev.conn = conn;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.lib_id = (__u32)bpf_get_attach_cookie(ctx);
	bpf_get_current_comm(&ev.comm, sizeof(ev.comm));
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_NO_WAKEUP) != 0)
		count(TLS_CNT_CLOSE_DROPS, 1);

	struct conn_key ck = { .ssl = conn, .pid = ev.pid };
	__s32 *fd = bpf_map_lookup_elem(&known, &ck);
	if (fd) {
		struct fd_key fk = { .pid = ev.pid, .fd = *fd };
		bpf_map_delete_elem(&known_fd, &fk);
		bpf_map_delete_elem(&known, &ck);
	}
	return 0;
}

/* SSL_free(SSL *s), gnutls_deinit(session). */
SEC("uprobe")
int BPF_KPROBE(tls_free, void *ssl)
{
	__u64 pid_tgid = current_pid_tgid();
	if (!traced(pid_tgid >> 32))
		return 0;
	return conn_closed(ctx, pid_tgid, (__u64)ssl);
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

/* Every syscall entry on the host: returns at once unless a thread is looking for its socket
 * (identity_pending), and then only for read/write-family syscalls of such a thread. */
SEC("raw_tracepoint/sys_enter")
int tls_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (!identity_pending)
		return 0;
	long id = (long)ctx->args[1];
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
	find_socket(pid_tgid, &c.args);
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
	if (!traced(pid_tgid >> 32))
		return 0;
	struct go_key k = { .tgid = pid_tgid >> 32, .g = ctx->r14 };
	struct go_call *c = bpf_map_lookup_elem(&go_calls, &k);
	if (!c) {
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
	if (!traced(pid_tgid >> 32))
		return 0;
	return conn_closed(ctx, pid_tgid, ctx->ax);
}
