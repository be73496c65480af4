// SPDX-License-Identifier: GPL-2.0
/* tlsotel.bpf.c: copy the plaintext of OpenSSL's SSL_read/SSL_write (and the _ex variants)
 * into a ring buffer, and tell user space when an SSL object is freed.
 *
 * Data exists for reads only when the call returns, and node's SSL_write returns -1 during
 * the handshake and is retried with the same buffer, so both directions are captured at
 * return, and only for calls that transferred bytes. The entry probe stashes the arguments.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tlsotel.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct tls_config cfg = {
	.agent_tgid = 0,
	.filter_tgid = 0,
	.capture_bytes = 16384,
	.max_segments = 4,
};

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
	__u64 len_ptr; /* _ex variants: size_t *written / *readbytes */
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
	__u32 read;
};

/* Bytes of whole calls whose first record did not fit in the ring buffer, per connection and
 * direction. Inserted when a reservation fails, deleted by the next record of the same
 * connection and direction, which carries the count (TLS_FLAG_LOSS_BEFORE) so that user space
 * marks a gap exactly where the bytes went missing. LRU: a connection that never sends again
 * must not pin an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lost_key);
	__type(value, __u64);
} lost SEC(".maps");

/* Non-zero while `lost` may hold entries: spares the lookup on every record otherwise. */
__u32 lost_pending = 0;

/* A record is built here: too large for the 512-byte BPF stack. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
struct scratch {
	struct tls_event ev; /* ev.data[] is data[] below */
	__u8 data[TLSOTEL_MAX_PAYLOAD];
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

static __always_inline bool traced(__u32 tgid)
{
	if (tgid == cfg.agent_tgid)
		return false;
	if (cfg.filter_tgid && tgid != cfg.filter_tgid)
		return false;
	return true;
}

static __always_inline void stash(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!traced(pid_tgid >> 32))
		return;
	struct call_args a = {
		.ssl = (__u64)PT_REGS_PARM1(ctx),
		.buf = (__u64)PT_REGS_PARM2(ctx),
		.len_ptr = (__u64)PT_REGS_PARM4(ctx),
	};
	__u64 key = pid_tgid | TLS_MASK;
	bpf_map_update_elem(&active_calls, &key, &a, BPF_ANY);
}

/* Emit one call's plaintext as up to cfg.max_segments records of up to cfg.capture_bytes. */
static __always_inline void emit(struct pt_regs *ctx, __u64 pid_tgid, struct call_args *a,
				 __u32 len, __u32 read)
{
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
	bpf_get_current_comm(&ev->comm, sizeof(ev->comm));

	__u32 loss_flag = 0;
	struct lost_key lk = { .conn = a->ssl, .pid = ev->pid, .read = read };
	if (lost_pending) {
		__u64 *lb = bpf_map_lookup_elem(&lost, &lk);
		if (lb) {
			ev->lost_bytes = *lb;
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
				/* The whole call is lost: the next record of this connection says so. A
				 * later segment lost is visible to user space as a call cut short. */
				__u64 lb = len + ev->lost_bytes;
				if (bpf_map_update_elem(&lost, &lk, &lb, BPF_NOEXIST) == 0) {
					__sync_fetch_and_add(&lost_pending, 1);
				} else {
					__u64 *old = bpf_map_lookup_elem(&lost, &lk);
					if (old)
						__sync_fetch_and_add(old, len);
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
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct call_args *a = take_args(pid_tgid);
	if (!a)
		return 0;
	int ret = (int)PT_REGS_RC(ctx);
	if (ret > 0) {
		struct call_args copy = *a;
		emit(ctx, pid_tgid, &copy, (__u32)ret, read);
	}
	done_args(pid_tgid);
	return 0;
}

/* int SSL_write_ex / SSL_read_ex: 1 on success with the byte count in *done. */
static __always_inline int ret_ex(struct pt_regs *ctx, __u32 read)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct call_args *a = take_args(pid_tgid);
	if (!a)
		return 0;
	int ret = (int)PT_REGS_RC(ctx);
	__u64 done = 0;
	if (ret == 1 && a->len_ptr &&
	    bpf_probe_read_user(&done, sizeof(done), (void *)a->len_ptr) == 0 && done > 0) {
		struct call_args copy = *a;
		emit(ctx, pid_tgid, &copy, done > 0x7fffffff ? 0x7fffffff : (__u32)done, read);
	}
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

/* SSL_free(SSL *s): the connection is gone; user space flushes and frees its state. */
SEC("uprobe")
int BPF_KPROBE(tls_free, void *ssl)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!traced(pid_tgid >> 32))
		return 0;
	struct tls_event ev = {};
	ev.type = TLS_EVENT_CLOSE;
	ev.ts_ns = bpf_ktime_get_ns();
	ev.conn = (__u64)ssl;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.lib_id = (__u32)bpf_get_attach_cookie(ctx);
	bpf_get_current_comm(&ev.comm, sizeof(ev.comm));
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_NO_WAKEUP) != 0)
		count(TLS_CNT_CLOSE_DROPS, 1);
	return 0;
}
