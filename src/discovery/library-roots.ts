// Library roots: directories searched for TLS library files before any process maps them.
//
// A uprobe is placed on an inode, so a file attached before it is mapped is traced from its
// first call. Container runtimes unpack each image layer into a directory of the host before a
// container starts (containerd: a snapshot's fs/, Docker: a layer's diff/, CRI-O/Podman: the
// same), and the container's processes map those very inodes (overlayfs maps the lower layer's
// file). So a search of those directories finds a container's libssl, or its Go binary, before
// the container runs. What counts as a candidate is the libraries' business (their file names,
// their executables, or any executable when a library claims files without symbols: Go); here
// only the walk, bounded in depth and in entries per pass.
import { readdirSync, statSync, type Dirent } from 'node:fs';
import path from 'node:path';

const LAYER_DIRS = [
  '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/*/fs',
  '/var/lib/docker/overlay2/*/diff',
  '/var/lib/containers/storage/overlay/*/diff',
];

/** Where container runtimes keep unpacked image layers ('*' matches one path component): as
 *  this process sees the file system, and as the host's init does (/proc/1/root: an agent in
 *  a DaemonSet's container, with the host's PID namespace, reaches the host's layers there
 *  without a hostPath mount). On the host both name the same directories, walked once. */
export const DEFAULT_LIBRARY_ROOTS = [...LAYER_DIRS, ...LAYER_DIRS.map((d) => `/proc/1/root${d}`)];

export interface RootLimits {
  /** Directory levels below a root that are searched (a layer's usr/lib/x86_64-linux-gnu is 3). */
  maxDepth: number;
  /** Directory entries looked at per pass over every root: bounds a pass's cost. */
  maxEntries: number;
}

export const ROOT_LIMITS: RootLimits = { maxDepth: 8, maxEntries: 100_000 };

/** Names below a root never searched: kernel file systems (a root may be a process's root). */
const SKIP = new Set(['proc', 'sys', 'dev']);

/** The directories a root pattern names now: its '*' components expanded (non-recursively). */
export function expandRoot(pattern: string): string[] {
  const parts = pattern.split('/').filter(Boolean);
  let dirs = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    for (const d of dirs) {
      if (part.includes('*')) {
        const re = new RegExp(`^${part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
        for (const e of listDir(d)) if (e.isDirectory() && re.test(e.name)) next.push(path.join(d, e.name));
      } else {
        next.push(path.join(d, part));
      }
    }
    dirs = next;
  }
  return dirs.filter(isDirectory);
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false; // absent: this runtime (or layer) is not here
  }
}

export interface WalkBudget {
  /** Entries still allowed in this pass; the walk stops at 0. */
  entries: number;
}

/** The walk offers a pause point every this many entries (see walkRootSteps). */
const PAUSE_EVERY = 256;

/**
 * Yields every regular file under `dir` as [path, name] (symbolic links not followed: a
 * layer's links point into the container's root, not ours), depth first, within the budget,
 * and `undefined` every PAUSE_EVERY entries: a point where a caller may yield the event loop.
 * Returns false when the budget ran out before the walk ended.
 */
export function* walkRootSteps(dir: string, limits: RootLimits, budget: WalkBudget): Generator<[string, string] | undefined, boolean> {
  const stack: Array<[string, number]> = [[dir, 0]];
  let n = 0;
  while (stack.length > 0) {
    const [d, depth] = stack.pop()!;
    for (const e of listDir(d)) {
      if (budget.entries-- <= 0) return false;
      if (++n % PAUSE_EVERY === 0) yield undefined;
      if (e.isDirectory()) {
        if (depth < limits.maxDepth && !(depth === 0 && SKIP.has(e.name))) stack.push([path.join(d, e.name), depth + 1]);
      } else if (e.isFile()) {
        yield [path.join(d, e.name), e.name];
      }
    }
  }
  return true;
}

/** walkRootSteps in one go: `visit` gets every file. */
export function walkRoot(dir: string, limits: RootLimits, budget: WalkBudget, visit: (file: string, name: string) => void): boolean {
  const it = walkRootSteps(dir, limits, budget);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
    if (r.value !== undefined) visit(r.value[0], r.value[1]);
  }
}

function listDir(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // absent (no such runtime here), or removed while walking: nothing to find there
  }
}
