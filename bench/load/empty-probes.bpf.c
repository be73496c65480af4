// SPDX-License-Identifier: GPL-2.0
// The floor of the load bench: BPF programs that do nothing, attached by empty-probes.c where
// tlsotel attaches its own (uprobe + uretprobe on libssl's read/write functions, uprobe on
// SSL_free, raw tracepoint sys_enter). What remains is the price of the hooks alone: the uprobe
// trap (emulated or single-stepped), the uretprobe trampoline, the tracepoint dispatch.
// Built at bench time: clang -O2 -target bpf -c empty-probes.bpf.c (no headers needed).
#define SEC(name) __attribute__((section(name), used))

SEC("uprobe") int empty_enter(void *ctx) { return 0; }
SEC("uretprobe") int empty_ret(void *ctx) { return 0; }
SEC("raw_tracepoint/sys_enter") int empty_sys_enter(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
