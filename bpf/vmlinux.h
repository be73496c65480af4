/* Minimal stand-in for a bpftool-generated vmlinux.h: only what tlsotel.bpf.c uses.
 * Kept by hand (not generated from the running kernel) so that the compiled object is
 * byte-for-byte reproducible on any build machine. pt_regs carries preserve_access_index,
 * so field offsets are relocated against the target kernel's BTF at load time (CO-RE). */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};

enum {
	BPF_F_NO_PREALLOC = 1,
};

enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

enum {
	BPF_RB_AVAIL_DATA = 0,
	BPF_RB_RING_SIZE = 1,
	BPF_RB_CONS_POS = 2,
	BPF_RB_PROD_POS = 3,
};

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	long unsigned int r15;
	long unsigned int r14;
	long unsigned int r13;
	long unsigned int r12;
	long unsigned int bp;
	long unsigned int bx;
	long unsigned int r11;
	long unsigned int r10;
	long unsigned int r9;
	long unsigned int r8;
	long unsigned int ax;
	long unsigned int cx;
	long unsigned int dx;
	long unsigned int si;
	long unsigned int di;
	long unsigned int orig_ax;
	long unsigned int ip;
	long unsigned int cs;
	long unsigned int flags;
	long unsigned int sp;
	long unsigned int ss;
} __attribute__((preserve_access_index));
#else
#error "tlsotel's minimal vmlinux.h only describes x86_64 pt_regs"
#endif

/* bpf_get_ns_current_pid_tgid()'s result. */
struct bpf_pidns_info {
	__u32 pid;
	__u32 tgid;
};

/* Raw tracepoint context: sys_enter's args are (struct pt_regs *regs, long id). */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

/* The path from the current task to a socket's addresses (task → files → fdtable → file →
 * socket → sock_common). Only the fields read, by name: CO-RE relocates each access against the
 * running kernel's BTF, including fields that sit in anonymous unions there. */
struct in6_addr {
	__u8 s6_addr[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct super_block {
	__u32 s_dev; /* dev_t: the kernel's encoding, major << 20 | minor */
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	long long i_size; /* loff_t */
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct qstr d_name;
} __attribute__((preserve_access_index));

struct path {
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct mm_struct {
	unsigned long env_start;
	unsigned long env_end;
	struct file *exe_file;
} __attribute__((preserve_access_index));

/* A cgroup's directory: its name, and its parent (__parent since Linux 6.15, parent before). */
struct kernfs_node {
	struct kernfs_node *__parent;
	const char *name;
} __attribute__((preserve_access_index));

struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp; /* the process's cgroup in the v2 (unified) hierarchy */
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct pid;
struct tty_struct;

/* enum pid_type: the index of a process group in signal_struct.pids. */
#define PIDTYPE_PGID 2

struct signal_struct {
	int nr_threads;
	struct pid *pids[4];      /* [PIDTYPE_MAX]: by enum pid_type */
	int leader;               /* the process leads its session */
	struct tty_struct *tty;   /* controlling terminal, NULL when none */
} __attribute__((preserve_access_index));

typedef struct {
	unsigned int val;
} kuid_t;

struct cred {
	kuid_t uid;
	kuid_t suid;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int ptrace;      /* non-zero: traced (a debugger, strace) */
	const struct cred *real_cred; /* what kill(2) checks a sender's ids against */
	struct task_struct *real_parent;
	struct signal_struct *signal;
	struct files_struct *files;
	char comm[16];
	struct task_struct *group_leader;
	unsigned long long start_time; /* CLOCK_MONOTONIC ns: with the pid, names one process */
	unsigned long long start_boottime; /* CLOCK_BOOTTIME ns: /proc/PID/stat's start time */
	struct mm_struct *mm;
	struct css_set *cgroups;
} __attribute__((preserve_access_index));

/* sched_process_exec's third argument: the program just loaded (its file). */
struct linux_binprm {
	struct file *file;
} __attribute__((preserve_access_index));

#endif /* __VMLINUX_H__ */
