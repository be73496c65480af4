// Bindings to libbpf (libbpf.so.1) and the few libc calls the loader needs, through koffi.
// Only what tlsotel uses; every call that can fail is wrapped so that the failure becomes an
// Error naming the operation and the errno text (see errors.ts).
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { constants } from 'node:os';
import { libc as loadLibc } from '../util/libc';

export type Ptr = bigint; // koffi 3 returns pointers as BigInt, NULL as null

let lib: Libbpf | undefined;

export interface Libbpf {
  bpf_object__open_file(path: string, opts: null): Ptr | null;
  bpf_object__load(obj: Ptr): number;
  bpf_object__close(obj: Ptr): void;
  bpf_object__next_map(obj: Ptr, prev: Ptr | null): Ptr | null;
  bpf_object__find_map_by_name(obj: Ptr, name: string): Ptr | null;
  bpf_object__find_program_by_name(obj: Ptr, name: string): Ptr | null;
  bpf_map__name(map: Ptr): string;
  bpf_map__fd(map: Ptr): number;
  bpf_map__set_initial_value(map: Ptr, data: Buffer, size: number): number;
  bpf_map__set_max_entries(map: Ptr, n: number): number;
  bpf_map__max_entries(map: Ptr): number;
  bpf_map__value_size(map: Ptr): number;
  bpf_map_lookup_elem(fd: number, key: Buffer, value: Buffer): number;
  bpf_map_update_elem(fd: number, key: Buffer, value: Buffer, flags: number): number;
  bpf_map_delete_elem(fd: number, key: Buffer): number;
  bpf_program__attach_uprobe_opts(prog: Ptr, pid: number, path: string, offset: number, opts: UprobeOpts): Ptr | null;
  bpf_program__attach_raw_tracepoint(prog: Ptr, name: string): Ptr | null;
  bpf_link__destroy(link: Ptr): number;
  /** The same on a libuv pool thread: each uprobe's unregistration waits for an RCU grace
   *  period (~0.1 s here), so destroying many one after the other takes seconds. */
  bpf_link__destroy_async(link: Ptr, done: (err: unknown, ret: number) => void): void;
  libbpf_num_possible_cpus(): number;
  libbpf_set_print(fn: unknown): unknown;
  // Walking the BPF programs loaded on the host (src/bpf/other-agents.ts). Negative errno on
  // failure; next_id and info_len are 4-byte buffers.
  bpf_prog_get_next_id(startId: number, nextId: Buffer): number;
  bpf_prog_get_fd_by_id(id: number): number;
  bpf_obj_get_info_by_fd(fd: number, info: Buffer, infoLen: Buffer): number;
  // libc
  mmap(addr: null, length: number, prot: number, flags: number, fd: number, offset: number): Ptr | null;
  munmap(addr: Ptr, length: number): number;
  close(fd: number): number;
  // epoll, to wait for a ring buffer's wake-up on a libuv pool thread (src/bpf/file-events.ts).
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Buffer): number;
  /** epoll_wait on a libuv pool thread: `done` gets the count (or -1) when it returns. */
  epoll_wait_async(epfd: number, events: Buffer, max: number, timeoutMs: number, done: (err: unknown, n: number) => void): void;
  vsnprintf(buf: Buffer, size: number, fmt: Ptr, ap: Ptr): number;
  strerror(errnum: number): string;
  errno(): number;
  printType: TypeObject;
}

/** struct bpf_uprobe_opts of libbpf 1.1 (40 bytes; sz must be 40). */
export interface UprobeOpts {
  sz: number;
  ref_ctr_offset: number;
  bpf_cookie: bigint | number;
  retprobe: boolean;
  func_name: string | null;
}

export const UPROBE_OPTS_SIZE = 40;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_FAILED = 0xffffffffffffffffn;

/** Loads libbpf.so.1 and libc once. Throws an Error saying how to install libbpf when missing. */
export function libbpf(): Libbpf {
  if (lib) return lib;
  let bpf: LibraryHandle;
  try {
    bpf = koffi.load('libbpf.so.1');
  } catch (e) {
    throw new Error(`libbpf.so.1 could not be loaded (${(e as Error).message}); install it with: apt-get install libbpf1`);
  }
  const libc = loadLibc();
  const opts = koffi.struct('bpf_uprobe_opts', {
    sz: 'size_t',
    ref_ctr_offset: 'size_t',
    bpf_cookie: 'uint64_t',
    retprobe: 'bool',
    func_name: 'const char *',
  });
  if (koffi.sizeof(opts) !== UPROBE_OPTS_SIZE) {
    throw new Error(`internal: struct bpf_uprobe_opts is ${koffi.sizeof(opts)} bytes, expected ${UPROBE_OPTS_SIZE}`);
  }
  const printType = koffi.proto('int libbpf_print_fn(int level, void *fmt, void *ap)');
  const p = 'void *';
  const linkDestroy = bpf.func('bpf_link__destroy', 'int', [p]);
  const epollWait = libc.func('epoll_wait', 'int', ['int', p, 'int', 'int']);
  lib = {
    bpf_object__open_file: bpf.func('bpf_object__open_file', p, ['const char *', p]),
    bpf_object__load: bpf.func('bpf_object__load', 'int', [p]),
    bpf_object__close: bpf.func('bpf_object__close', 'void', [p]),
    bpf_object__next_map: bpf.func('bpf_object__next_map', p, [p, p]),
    bpf_object__find_map_by_name: bpf.func('bpf_object__find_map_by_name', p, [p, 'const char *']),
    bpf_object__find_program_by_name: bpf.func('bpf_object__find_program_by_name', p, [p, 'const char *']),
    bpf_map__name: bpf.func('bpf_map__name', 'const char *', [p]),
    bpf_map__fd: bpf.func('bpf_map__fd', 'int', [p]),
    bpf_map__set_initial_value: bpf.func('bpf_map__set_initial_value', 'int', [p, p, 'size_t']),
    bpf_map__set_max_entries: bpf.func('bpf_map__set_max_entries', 'int', [p, 'uint32_t']),
    bpf_map__max_entries: bpf.func('bpf_map__max_entries', 'uint32_t', [p]),
    bpf_map__value_size: bpf.func('bpf_map__value_size', 'uint32_t', [p]),
    bpf_map_lookup_elem: bpf.func('bpf_map_lookup_elem', 'int', ['int', p, p]),
    bpf_map_update_elem: bpf.func('bpf_map_update_elem', 'int', ['int', p, p, 'uint64_t']),
    bpf_map_delete_elem: bpf.func('bpf_map_delete_elem', 'int', ['int', p]),
    bpf_program__attach_uprobe_opts: bpf.func('bpf_program__attach_uprobe_opts', p, [
      p, 'int', 'const char *', 'size_t', koffi.pointer(opts),
    ]),
    bpf_program__attach_raw_tracepoint: bpf.func('bpf_program__attach_raw_tracepoint', p, [p, 'const char *']),
    bpf_link__destroy: linkDestroy,
    bpf_link__destroy_async: (link: Ptr, done: (err: unknown, ret: number) => void) => (linkDestroy as unknown as { async: (l: Ptr, cb: typeof done) => void }).async(link, done),
    libbpf_num_possible_cpus: bpf.func('libbpf_num_possible_cpus', 'int', []),
    libbpf_set_print: bpf.func('libbpf_set_print', p, [koffi.pointer(printType)]),
    bpf_prog_get_next_id: bpf.func('bpf_prog_get_next_id', 'int', ['uint32_t', p]),
    bpf_prog_get_fd_by_id: bpf.func('bpf_prog_get_fd_by_id', 'int', ['uint32_t']),
    bpf_obj_get_info_by_fd: bpf.func('bpf_obj_get_info_by_fd', 'int', ['int', p, p]),
    mmap: libc.func('mmap', p, [p, 'size_t', 'int', 'int', 'int', 'int64_t']),
    munmap: libc.func('munmap', 'int', [p, 'size_t']),
    close: libc.func('close', 'int', ['int']),
    epoll_create1: libc.func('epoll_create1', 'int', ['int']),
    epoll_ctl: libc.func('epoll_ctl', 'int', ['int', 'int', 'int', p]),
    epoll_wait_async: (epfd, events, max, timeoutMs, done) => (epollWait as unknown as { async: (...a: unknown[]) => void }).async(epfd, events, max, timeoutMs, done),
    vsnprintf: libc.func('vsnprintf', 'int', [p, 'size_t', p, p]),
    strerror: libc.func('strerror', 'const char *', ['int']),
    errno: () => koffi.errno(),
    printType,
  };
  return lib;
}

/** Text for an errno value, e.g. "Operation not permitted (EPERM)". */
export function errnoText(errno: number): string {
  const e = Math.abs(errno);
  const name = Object.entries(constants.errno).find(([, v]) => v === e)?.[0];
  let text = `errno ${e}`;
  try {
    text = libbpf().strerror(e);
  } catch {
    // libbpf (and so libc through koffi) not loadable: the number and name still say enough
  }
  return name ? `${text} (${name})` : text;
}

/** An Error for a failed libbpf/libc call: "bpf_object__load: Operation not permitted (EPERM)". */
export class BpfError extends Error {
  constructor(readonly operation: string, readonly errno: number, hint?: string) {
    super(`${operation}: ${errnoText(errno)}${hint ? `; ${hint}` : ''}`);
    this.name = 'BpfError';
  }
}

/** Reads a koffi pointer's NUL-terminated C string (for libbpf's log). */
export function formatLog(fmt: Ptr, ap: Ptr, buf: Buffer): string {
  const n = libbpf().vsnprintf(buf, buf.length, fmt, ap);
  return buf.toString('utf8', 0, Math.max(0, Math.min(n, buf.length - 1)));
}
