// Finds every file that a TLS library claims (src/tls/) and has it attached once, for all
// processes.
//
// A uprobe is placed on a file (device + inode), not on a process: one attach covers every
// process that maps the file, including processes started later, with no per-PID race. So the
// job here is to find files: the libraries' own file names in the usual library directories and
// their executables on PATH at start (so programs started after `ready` are traced from their
// first byte), and any executable mapping of any process that a library claims (statically
// linked copies, containers' own libraries reached through /proc/PID/root, dlopen'ed copies),
// found by rescanning /proc/*/maps every interval. Which library a file is, and where its
// probes go, is the libraries' business: nothing here names one.
import { readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { definedFunctions } from './elf';
import type { Claim, TlsLibrary } from '../tls/library';
import type { Logger } from '../util/log';

export interface TlsFile {
  /** "dev:inode": the identity of the file, whatever path reaches it. */
  key: string;
  /** Numbers this (file, library) pair: records carry it. */
  libId: number;
  /** The claiming library's name and its plan for the file. */
  library: string;
  claim: Claim;
  /** Path used to attach (may go through /proc/PID/root for a container's file). */
  path: string;
  /** Path as the owning process sees it. */
  displayPath: string;
  functions: string[];
}

export interface DiscoveryOptions {
  /** The libraries to offer files to. */
  libraries: readonly TlsLibrary[];
  /** Attaches a claim's probes to a file; returns the labels of what was probed. Throws on
   *  failure. */
  attach(filePath: string, libId: number, claim: Claim): string[];
  log: Logger;
  procRoot?: string;
  /** Directories searched at start for the libraries' file names (default: the usual library
   *  directories). */
  libDirs?: string[];
  /** Directories searched at start for the libraries' executables (default: the usual bin
   *  directories; the commands pass PATH's first, as resolved by src/config). */
  binDirs?: string[];
  /** Called with the pids that have exited since the previous scan. */
  onProcessesExited?(pids: number[]): void;
  /** Called after each scan with every pid running now (to find processes that came and went
   *  between two scans, which onProcessesExited cannot report). */
  onScan?(running: Set<number>): void;
  /** Called once for each process found mapping a traced file (while it runs). */
  onTracedProcess?(pid: number): void;
  /** Called when a new file has been attached. */
  onAttached?(file: TlsFile): void;
}

const DEFAULT_LIB_DIRS = [
  '/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib', '/usr/local/lib64',
  '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/usr/local/ssl/lib', '/usr/local/ssl/lib64',
];
const DEFAULT_BIN_DIRS = ['/usr/bin', '/usr/local/bin'];
/** Files checked and found to carry no OpenSSL, remembered so they are read once. Bounded. */
const MAX_REMEMBERED = 100_000;
/** See Discovery.noMaps. */
const NO_MAPS_RECHECK = 10;

export class Discovery {
  /** Attached files, by "dev:inode" (one entry per claiming library). */
  private readonly files = new Map<string, TlsFile[]>();
  private readonly byId = new Map<number, TlsFile>();
  /** Every library's symbols, looked up once per file. */
  private readonly symbols: string[];
  /** Some library is offered files that define none of the symbols. */
  private readonly anyWithoutSymbols: boolean;
  /** dev:inode of files that define no SSL_write/SSL_read, or whose attach failed. */
  private readonly rejected = new Set<string>();
  private pids = new Set<number>();
  /** Per running process, the mappings (path with the dev and inode its maps line shows)
   *  already settled: attached, known or rejected. A scan skips them: each stat of a mapped
   *  file costs as much as reading the maps, and a process's mappings rarely change. */
  private settled = new Map<number, Set<string>>();
  /** Processes whose last look found no executable mapping: kernel threads (most of the pids
   *  of a host) and zombies. Looked at again every NO_MAPS_RECHECK scans only (in case the pid
   *  was reused); each read of a maps file costs tens of µs. */
  private noMaps = new Set<number>();
  private scans = 0;
  private nextId = 1;
  private readonly procRoot: string;
  private timer: NodeJS.Timeout | undefined;
  /** Set by consider() when the file it looked at is (now) traced. */
  private sawTraced = false;
  /** Milliseconds the last scan of all processes took (reported with -v). */
  lastScanMs = 0;

  constructor(private readonly opts: DiscoveryOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.symbols = [...new Set(opts.libraries.flatMap((l) => l.symbols))];
    this.anyWithoutSymbols = opts.libraries.some((l) => l.claimsWithoutSymbols === true);
  }

  /** Attaches to the files on the host now: the libraries' files in the library directories,
   *  their executables on PATH, and what running processes map. */
  initialScan(): void {
    const libNames = this.opts.libraries.flatMap((l) => (l.libraryFileNames ? [l.libraryFileNames] : []));
    for (const dir of this.opts.libDirs ?? DEFAULT_LIB_DIRS) {
      for (const name of listDir(dir)) {
        if (!libNames.some((re) => re.test(name))) continue;
        const real = realpathOrNull(path.join(dir, name)); // libssl.so → libssl.so.3: name the real file
        if (real) this.consider(real, real);
      }
    }
    const binNames = [...new Set(this.opts.libraries.flatMap((l) => l.executableNames ?? []))];
    const binDirs = this.opts.binDirs ?? DEFAULT_BIN_DIRS; // src/config adds PATH's
    for (const dir of new Set(binDirs.filter((d) => d.startsWith('/')))) {
      for (const name of binNames) {
        const real = realpathOrNull(path.join(dir, name));
        if (real) this.consider(real, real);
      }
    }
    this.scanProcesses();
  }

  /** Rescans /proc every `intervalMs` for new files and exited processes. */
  startRescans(intervalMs: number): void {
    this.timer = setInterval(() => this.scanProcesses(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get attached(): TlsFile[] {
    return [...this.files.values()].flat();
  }

  fileById(libId: number): TlsFile | undefined {
    return this.byId.get(libId);
  }

  /** One pass over the maps of every process. */
  scanProcesses(): void {
    const t0 = performance.now();
    const now = new Set<number>();
    const settled = new Map<number, Set<string>>();
    const noMaps = new Set<number>();
    const recheck = this.scans++ % NO_MAPS_RECHECK === 0;
    for (const entry of listDir(this.procRoot)) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
      now.add(pid);
      if (!recheck && this.noMaps.has(pid)) {
        noMaps.add(pid);
        continue;
      }
      const files = executableFiles(this.procRoot, pid);
      if (files.size === 0) {
        noMaps.add(pid);
        continue;
      }
      const before = this.settled.get(pid);
      const after = new Set<string>();
      this.sawTraced = false;
      for (const [file, identity] of files) {
        // Keyed by the file's identity too: a reused pid (another mount namespace, a file
        // replaced under the same path) is not taken for what that pid mapped before.
        const key = `${identity} ${file}`;
        if (before?.has(key)) {
          after.add(key);
        } else {
          const [reachPath, st] = this.reach(pid, file, identity);
          if (this.consider(file, reachPath, pid, st)) after.add(key);
        }
      }
      settled.set(pid, after);
      // A process that maps a traced file, seen for the first time: who it is can be read now,
      // while it runs (a short-lived one may be gone when its records are handled).
      if (this.sawTraced && before === undefined) this.opts.onTracedProcess?.(pid);
    }
    const gone = [...this.pids].filter((p) => !now.has(p));
    this.pids = now;
    this.settled = settled;
    this.noMaps = noMaps;
    this.lastScanMs = performance.now() - t0;
    if (gone.length && this.opts.onProcessesExited) this.opts.onProcessesExited(gone);
    this.opts.onScan?.(now);
  }

  /**
   * How this process reaches the file a mapping of `pid` names: through /proc/PID/root (a
   * container's own root, its own mount namespace), or as is. A process that chroot()ed
   * without a mount namespace of its own shows the file's path as *we* see it in its maps
   * (paths are resolved against the reader's root), and /proc/PID/root + that path does not
   * exist. So the path chosen is the one whose inode (and device) is the one the maps line
   * names; /proc/PID/root first.
   */
  private reach(pid: number, file: string, identity: string): [string, Stats | null] {
    const viaRoot = path.join(this.procRoot, String(pid), 'root', file);
    const sp = identity.indexOf(' ');
    const ino = Number(identity.slice(sp + 1));
    const [major, minor] = identity.slice(0, sp).split(':').map((h) => parseInt(h, 16));
    const rootStat = statOrNull(viaRoot);
    const matches = (st: Stats | null) => st !== null && st.ino === ino && devMajor(st.dev) === major && devMinor(st.dev) === minor;
    if (rootStat === null || !matches(rootStat)) {
      const plain = statOrNull(file);
      if (matches(plain)) return [file, plain];
    }
    return [viaRoot, rootStat];
  }

  /**
   * `displayPath` as the process sees it, `reachPath` how this process reaches the same file
   * (through /proc/PID/root for another mount namespace).
   */
  private consider(displayPath: string, reachPath: string, pid?: number, stat?: Stats | null): boolean {
    const st = stat !== undefined ? stat : statOrNull(reachPath);
    if (!st || !st.isFile()) return false; // gone or not readable now: look again next time
    const key = `${st.dev}:${st.ino}`;
    if (this.files.has(key)) {
      this.sawTraced = true;
      return true;
    }
    if (this.rejected.has(key)) return true;
    let defined: Set<string>;
    try {
      defined = definedFunctions(reachPath, this.symbols);
    } catch (e) {
      this.opts.log.debug(`cannot read ${reachPath}: ${(e as Error).message}`);
      return false; // unreadable now (e.g. the process exited): try again on a later scan
    }
    if (defined.size === 0 && !this.anyWithoutSymbols) {
      this.reject(key);
      return true;
    }
    // Prefer the plain path when it is the same file in our mount namespace: it stays valid
    // after the process that showed it to us exits.
    const plain = statOrNull(displayPath);
    const attachPath = plain && `${plain.dev}:${plain.ino}` === key ? displayPath : reachPath;
    const attached: TlsFile[] = [];
    for (const library of this.opts.libraries) {
      if (defined.size === 0 && library.claimsWithoutSymbols !== true) continue;
      let claim: Claim | undefined;
      try {
        claim = library.claim({ path: attachPath, defined });
      } catch (e) {
        this.opts.log.warn(`cannot judge ${displayPath} as ${library.name}: ${(e as Error).message}`);
        continue;
      }
      if (claim === undefined) continue;
      const libId = this.nextId++;
      try {
        const functions = this.opts.attach(attachPath, libId, claim);
        const file: TlsFile = { key, libId, library: claim.library, claim, path: attachPath, displayPath, functions };
        attached.push(file);
        this.byId.set(libId, file);
        this.opts.log.info(`attached to ${displayPath} (${claim.library})${pid && attachPath !== displayPath ? ` (pid ${pid}, via ${attachPath})` : ''}: ${functions.join(', ')}`);
        this.opts.onAttached?.(file);
      } catch (e) {
        this.opts.log.warn(`cannot trace ${displayPath} (${claim.library}): ${(e as Error).message}`);
      }
    }
    if (attached.length === 0) {
      this.reject(key);
    } else {
      this.files.set(key, attached);
      this.sawTraced = true;
    }
    return true;
  }

  private reject(key: string): void {
    if (this.rejected.size >= MAX_REMEMBERED) this.rejected.clear();
    this.rejected.add(key);
  }
}

// st_dev as glibc encodes it (gnu_dev_major / gnu_dev_minor): what "fd:01" in a maps line says.
function devMajor(dev: number): number {
  return ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
}

function devMinor(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & ~0xff);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return []; // absent directory, or a process that exited: nothing to find there
  }
}

function realpathOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null; // absent or a dangling link: not a candidate
  }
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch {
    return null; // gone or unreadable: not a candidate
  }
}

/** Paths of the files a process maps executable, from /proc/PID/maps (deleted files skipped). */
export function executableMappings(procRoot: string, pid: number): Set<string> {
  return new Set(executableFiles(procRoot, pid).keys());
}

/** executableMappings with, for each path, the "dev inode" its maps line shows (e.g.
 *  "fd:01 1835092"): which file it is, whatever the path. */
export function executableFiles(procRoot: string, pid: number): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(path.join(procRoot, String(pid), 'maps'), 'latin1');
  } catch {
    return out; // exited, or a kernel thread
  }
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    // "addr perms offset dev inode   path": perms is the second field; 'x' is its third char.
    const sp = text.indexOf(' ', start);
    if (sp > 0 && text.charCodeAt(sp + 3) === 120 /* x */) {
      // The path is the sixth field (after perms, offset, dev, inode), a file's starts with '/':
      // not the first '/' of the line, which may be inside a name such as [anon:jit/code].
      let i = sp + 1;
      let devStart = i;
      let inodeEnd = i;
      for (let field = 0; field < 4; field++) {
        if (field === 2) devStart = i;
        while (i < end && text.charCodeAt(i) !== 32) i++;
        if (field === 3) inodeEnd = i;
        while (i < end && text.charCodeAt(i) === 32) i++;
      }
      if (i < end && text.charCodeAt(i) === 47 /* / */) {
        const p = text.slice(i, end);
        if (!p.endsWith(' (deleted)')) out.set(p, text.slice(devStart, inodeEnd));
      }
    }
    start = end + 1;
  }
  return out;
}
