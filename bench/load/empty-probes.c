// empty-probes: loads empty-probes.bpf.o and attaches its empty programs with libbpf, the way
// tlsotel attaches its own (bpf_program__attach_uprobe_opts for all processes, by function name
// or by file offset; bpf_program__attach_raw_tracepoint). Writes "ready" on stderr once
// attached, then waits for SIGINT/SIGTERM and detaches.
//   usage: empty-probes OBJECT SPEC...
//   SPEC:  KIND:FILE:WHERE   KIND: both (uprobe + uretprobe), entry (uprobe only), and the same
//          with "-opt" (skipped when the function is missing); WHERE: a symbol, or 0xOFFSET (a
//          file offset, as tlsotel passes for libssl's internal functions).
//   The raw tracepoint sys_enter is always attached.
// Built at bench time: cc -O2 -o empty-probes empty-probes.c -lbpf
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINKS 256

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS];
	int n = 0, rc = 1;
	if (argc < 2) {
		fprintf(stderr, "usage: %s OBJECT SPEC...\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "empty-probes: cannot open/load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct bpf_program *enter = bpf_object__find_program_by_name(obj, "empty_enter");
	struct bpf_program *ret = bpf_object__find_program_by_name(obj, "empty_ret");
	struct bpf_program *sys = bpf_object__find_program_by_name(obj, "empty_sys_enter");
	if (!enter || !ret || !sys) {
		fprintf(stderr, "empty-probes: programs missing in %s\n", argv[1]);
		goto out;
	}
	for (int a = 2; a < argc; a++) {
		char spec[4096];
		snprintf(spec, sizeof(spec), "%s", argv[a]);
		char *kind = spec, *file = strchr(spec, ':'), *where = NULL;
		if (file) {
			*file++ = 0;
			where = strrchr(file, ':');
		}
		if (!where) {
			fprintf(stderr, "empty-probes: bad spec %s\n", argv[a]);
			goto out;
		}
		*where++ = 0;
		int optional = strstr(kind, "-opt") != NULL;
		int both = strncmp(kind, "both", 4) == 0;
		size_t offset = 0;
		const char *fn = where;
		if (strncmp(where, "0x", 2) == 0) {
			offset = strtoull(where, NULL, 16);
			fn = NULL;
		}
		for (int r = 0; r < (both ? 2 : 1); r++) {
			LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = fn, .retprobe = r);
			struct bpf_link *l = bpf_program__attach_uprobe_opts(r ? ret : enter, -1, file, offset, &o);
			if (!l) {
				if (optional)
					break;
				fprintf(stderr, "empty-probes: attach %s %s:%s: %s\n", r ? "uretprobe" : "uprobe", file, where, strerror(errno));
				goto out;
			}
			if (n >= MAX_LINKS - 1) {
				fprintf(stderr, "empty-probes: too many probes\n");
				goto out;
			}
			links[n++] = l;
		}
	}
	struct bpf_link *l = bpf_program__attach_raw_tracepoint(sys, "sys_enter");
	if (!l) {
		fprintf(stderr, "empty-probes: attach raw tracepoint sys_enter: %s\n", strerror(errno));
		goto out;
	}
	links[n++] = l;
	fprintf(stderr, "empty-probes: ready: %d links\n", n);
	int sig;
	sigwait(&set, &sig);
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return rc;
}
