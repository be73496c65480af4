// The one koffi handle of the C library, loaded at first use (libbpf's wrapper, sched_yield,
// execv, fcntl): not each its own load of the same file.
import koffi, { type LibraryHandle } from 'koffi';

let handle: LibraryHandle | undefined;

export function libc(): LibraryHandle {
  handle ??= koffi.load('libc.so.6');
  return handle;
}
