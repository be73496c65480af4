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
//
// Two ways shorten the time between a new file appearing and its attach (every call before it
// is not traced): notices (examineNotices) say that a process exec'd or mapped a file not
// examined yet, and that process is examined at once; library roots (library-roots.ts) are
// searched ahead of time, so that a container's files are attached before it runs.
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import { definedFunctions } from './elf';
import { expandRoot, ROOT_LIMITS, walkRootSteps, type RootLimits } from './library-roots';
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
  /** Called once for each file examined (attached or found not to be a TLS library's), with
   *  its st_dev and inode: exec and mappings of it need no notice from now on. */
  onFileExamined?(file: { dev: number; ino: number }): void;
  /** Detaches what attach() placed in a file (a deleted file no process maps any more: its
   *  probes would keep its inode, and its disk space, for the agent's lifetime). */
  detach?(libId: number): void;
  /** A file is no longer attached nor examined (see detach): its identity may come back as
   *  another file's, which must then be announced again. */
  onFileForgotten?(file: { dev: number; ino: number }): void;
  /** Directories searched for the libraries' files before any process maps them ('*' matches
   *  one path component), at start and then periodically (startRootRescans). */
  libraryRoots?: string[];
  rootLimits?: RootLimits;
  /** The TLS stack a file no library claims carries, when it is one that cannot be traced (by
   *  its path): such a file is noted once (untraceableFiles, an info line). */
  untraceable?(filePath: string): string | undefined;
}

/** A process exec'd or mapped executable a file not examined yet (the BPF side's event). */
export interface FileNotice {
  pid: number;
  /** The file: st_dev (glibc's encoding, as stat() gives it) and inode. */
  dev: number;
  ino: number;
  /** The fd the process mapped it from (may be closed by now); -1 when none (an exec). */
  fd: number;
}

/** What a notice came to. */
export const enum NoticeResult {
  /** The file is (now) attached. */
  Attached = 'attached',
  /** The file was examined and is no TLS library's. */
  NotTls = 'not-tls',
  /** The file could not be found from the process (it exited, or unmapped it): not examined. */
  Missing = 'missing',
}

/** What a search of the library roots found, per root pattern (for doctor and -v). */
export interface RootReport {
  pattern: string;
  /** Directories the pattern named. */
  dirs: number;
  /** Regular files looked at. */
  files: number;
  /** Files found there that a library claims (display paths). */
  claimed: string[];
  /** The pass ran out of its entry budget before this root was walked to the end. */
  truncated: boolean;
}

export interface DiscoveryStats {
  /** Notices handled (each one examined its process, once per batch). */
  notices: number;
  /** Notices whose file was attached by that examination, found not a TLS library's, or not
   *  found (the process gone before it was examined). */
  noticesAttached: number;
  noticesNotTls: number;
  noticesMissing: number;
  /** Passes over the library roots, and the files they attached. */
  rootPasses: number;
  rootAttached: number;
  lastRootPassMs: number;
}

const DEFAULT_LIB_DIRS = [
  '/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib', '/usr/local/lib64',
  '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/usr/local/ssl/lib', '/usr/local/ssl/lib64',
];
const DEFAULT_BIN_DIRS = ['/usr/bin', '/usr/local/bin'];
/** Files checked and found to carry no OpenSSL, remembered so they are read once. Bounded. */
const MAX_REMEMBERED = 100_000;
/** Most files noted as carrying a TLS stack that cannot be traced. */
const MAX_UNTRACEABLE = 256;
/** See Discovery.noMaps. */
const NO_MAPS_RECHECK = 10;
/** Executables in library roots smaller than this are not offered to a library that claims
 *  files without symbols (Go: its smallest TLS program is several MiB). */
const MIN_EXECUTABLE_BYTES = 512 * 1024;
/** Longest slice of the event loop a periodic root pass takes at once. */
const ROOT_SLICE_MS = 5;
/** A stable layer directory is walked again every this many passes (30 s apart by default). */
const ROOT_FULL_PASS_EVERY = 10;

export class Discovery {
  /** Attached files, by "dev:inode" (one entry per claiming library). */
  private readonly files = new Map<string, TlsFile[]>();
  private readonly byId = new Map<number, TlsFile>();
  /** Every library's symbols, looked up once per file. */
  private readonly symbols: string[];
  /** Some library is offered files that define none of the symbols. */
  private readonly anyWithoutSymbols: boolean;
  /** dev:inode of files that no library claims, or whose attach failed, with their mtime
   *  then: a file changed since (one being written when it was looked at, as a layer being
   *  unpacked or a copy in progress) is looked at again. */
  private readonly rejected = new Map<string, number>();
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
  /** Attached files that were deleted before they were found (a library a program extracts,
   *  loads and unlinks, as Java's Netty does with netty-tcnative): key → pids seen mapping
   *  them. When none of those runs any more, the file is detached and forgotten. */
  private readonly deletedUsers = new Map<string, { dev: number; ino: number; pids: Set<number> }>();
  /** Deleted files detached so far (for -v and tests). */
  deletedDetached = 0;
  private readonly procRoot: string;
  private timer: NodeJS.Timeout | undefined;
  /** Set by consider() when the file it looked at is (now) traced. */
  private sawTraced = false;
  /** Milliseconds the last scan of all processes took (reported with -v). */
  lastScanMs = 0;
  readonly stats: DiscoveryStats = {
    notices: 0, noticesAttached: 0, noticesNotTls: 0, noticesMissing: 0, rootPasses: 0, rootAttached: 0, lastRootPassMs: 0,
  };
  /** The last pass over the library roots, per pattern. */
  rootReports: RootReport[] = [];
  /** Root files already looked at, by path: "dev:ino:mtime". A file is analysed again only
   *  when it changed. Bounded (cleared past MAX_REMEMBERED). */
  private readonly rootSeen = new Map<string, string>();
  private ownMountNamespace: string | null = null;
  private rootTimer: NodeJS.Timeout | undefined;
  /** The slice of a root pass scheduled next (scanLibraryRootsInSlices). */
  private rootSlice: NodeJS.Immediate | undefined;
  /** Per directory a root pattern named: what its last walk found, and whether two walks in a
   *  row found the same number of files (a layer unpacked completely). */
  private readonly rootDirs = new Map<string, { files: number; claimed: string[]; stable: boolean }>();

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
    this.ownMountNamespace = readlinkOrNull(path.join(this.procRoot, String(process.pid), 'ns', 'mnt'));
    this.scanLibraryRoots();
    this.scanProcesses();
  }

  /** Searches the library roots again every `intervalMs` (a newly unpacked image layer), in
   *  slices of at most ROOT_SLICE_MS of the event loop. */
  startRootRescans(intervalMs: number): void {
    if ((this.opts.libraryRoots ?? []).length === 0) return;
    this.rootTimer = setInterval(() => this.scanLibraryRootsInSlices(), intervalMs);
    this.rootTimer.unref();
  }

  /** One pass over the library roots, at once (at start, for doctor). */
  scanLibraryRoots(): RootReport[] {
    const it = this.rootPass();
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /** One pass, a slice per turn of the event loop: a pass over 100k files takes about a second
   *  here, too long to hold the loop (the ring buffer must be drained meanwhile). */
  private scanLibraryRootsInSlices(): void {
    if (this.rootSlice !== undefined) return; // the previous pass is still running
    const it = this.rootPass();
    const step = () => {
      const t0 = performance.now();
      for (;;) {
        if (it.next().done) {
          this.rootSlice = undefined;
          return;
        }
        if (performance.now() - t0 > ROOT_SLICE_MS) break;
      }
      this.rootSlice = setImmediate(step);
    };
    step();
  }

  /**
   * One pass over the library roots: every file there that a library may claim (its library
   * file names, its executables, or any executable ELF file when some library claims files
   * without symbols) is offered, once per file identity and modification time. A directory a
   * '*' pattern names (an image layer: written once, when unpacked) is walked again only every
   * ROOT_FULL_PASS_EVERY passes once two walks found it the same; other roots every pass.
   * Yields between steps (see scanLibraryRootsInSlices).
   */
  private *rootPass(): Generator<void, RootReport[]> {
    const patterns = this.opts.libraryRoots ?? [];
    if (patterns.length === 0) return [];
    const t0 = performance.now();
    const limits = this.opts.rootLimits ?? ROOT_LIMITS;
    const budget = { entries: limits.maxEntries };
    const libNames = this.opts.libraries.flatMap((l) => (l.libraryFileNames ? [l.libraryFileNames] : []));
    const binNames = new Set(this.opts.libraries.flatMap((l) => l.executableNames ?? []));
    const full = this.stats.rootPasses % ROOT_FULL_PASS_EVERY === 0;
    const reports: RootReport[] = [];
    if (this.rootSeen.size > MAX_REMEMBERED) this.rootSeen.clear();
    if (this.rootDirs.size > MAX_REMEMBERED) this.rootDirs.clear();
    // A directory two patterns name (the host's layers, seen directly and through
    // /proc/1/root on the host itself) is walked once per pass.
    const walkedNow = new Set<string>();
    for (const pattern of patterns) {
      const report: RootReport = { pattern, dirs: 0, files: 0, claimed: [], truncated: false };
      reports.push(report);
      for (const dir of expandRoot(pattern)) {
        const dst = statOrNull(dir);
        const id = dst ? `${dst.dev}:${dst.ino}` : dir;
        if (walkedNow.has(id)) continue;
        walkedNow.add(id);
        report.dirs++;
        const before = this.rootDirs.get(dir);
        if (before?.stable && !full && pattern.includes('*')) {
          report.files += before.files;
          report.claimed.push(...before.claimed);
          continue;
        }
        const walked = { files: 0, claimed: [] as string[], stable: false };
        const steps = walkRootSteps(dir, limits, budget);
        let step = steps.next();
        for (; !step.done; step = steps.next()) {
          if (step.value === undefined) {
            yield;
            continue;
          }
          const [file, name] = step.value;
          walked.files++;
          const byName = libNames.some((re) => re.test(name)) || binNames.has(name);
          if (!byName && !this.anyWithoutSymbols) continue;
          const st = statOrNull(file);
          if (!st || !st.isFile()) continue;
          const seen = `${st.dev}:${st.ino}:${st.mtimeMs}`;
          const key = `${st.dev}:${st.ino}`;
          if (this.rootSeen.get(file) === seen) {
            if (this.files.has(key)) walked.claimed.push(file);
            continue;
          }
          // Any executable: a Go binary is named anything. ELF only, and not tiny (a script, a
          // small C tool): Go's smallest TLS program is megabytes.
          if (!byName && ((st.mode & 0o111) === 0 || st.size < MIN_EXECUTABLE_BYTES || !isElf(file))) {
            this.rootSeen.set(file, seen);
            continue;
          }
          const had = this.files.has(key);
          this.consider(file, file, undefined, st);
          this.rootSeen.set(file, seen);
          if (this.files.has(key)) {
            walked.claimed.push(file);
            if (!had) this.stats.rootAttached++;
          }
          yield; // an analysis can take milliseconds
        }
        if (!step.value) report.truncated = true;
        walked.stable = step.value && before !== undefined && before.files === walked.files;
        this.rootDirs.set(dir, walked);
        report.files += walked.files;
        report.claimed.push(...walked.claimed);
      }
      if (report.truncated) this.opts.log.warn(`library root ${pattern}: stopped after ${limits.maxEntries} directory entries this pass`);
    }
    this.stats.rootPasses++;
    this.stats.lastRootPassMs = performance.now() - t0;
    this.rootReports = reports;
    return reports;
  }

  /**
   * Processes exec'd or mapped files not examined yet: each process's mappings are examined
   * now (once per batch, not at the next rescan), and the files are attached if a library
   * claims them. The mapping of an mmap notice may not exist yet when the maps are read; the
   * fd it was mapped from is tried then. One result per notice, in order.
   */
  examineNotices(notices: readonly FileNotice[]): NoticeResult[] {
    // The announced files first: the process is about to call into them. The rest of each
    // process's mappings (a first process maps many files never examined) after.
    const maps = new Map<number, Map<string, MappedFile>>();
    for (const n of notices) {
      const key = `${n.dev}:${n.ino}`;
      if (this.files.has(key) || this.rejected.has(key)) continue;
      let mapped = maps.get(n.pid);
      if (mapped === undefined) maps.set(n.pid, mapped = mappedFiles(this.procRoot, n.pid));
      for (const [file, m] of mapped) {
        if (!sameFile(m.identity, n.dev, n.ino)) continue;
        this.considerMapping(n.pid, file, m);
        break;
      }
      if (!this.files.has(key) && !this.rejected.has(key) && n.fd >= 0) {
        // An mmap seen at its syscall's entry: the mapping may not be in the maps yet.
        const viaFd = path.join(this.procRoot, String(n.pid), 'fd', String(n.fd));
        const st = statOrNull(viaFd);
        const shown = readlinkOrNull(viaFd);
        if (st && st.dev === n.dev && st.ino === n.ino && shown !== null) this.consider(shown, viaFd, n.pid, st);
      }
    }
    for (const pid of new Set(notices.map((n) => n.pid))) {
      this.examineProcess(pid);
      this.searchMountNamespace(pid);
    }
    return notices.map((n) => {
      this.stats.notices++;
      const key = `${n.dev}:${n.ino}`;
      const result = this.files.has(key) ? NoticeResult.Attached : this.rejected.has(key) ? NoticeResult.NotTls : NoticeResult.Missing;
      if (result === NoticeResult.Attached) this.stats.noticesAttached++;
      else if (result === NoticeResult.NotTls) this.stats.noticesNotTls++;
      else this.stats.noticesMissing++;
      return result;
    });
  }

  /** The mappings of one process, now (as a rescan would). */
  examineProcess(pid: number): void {
    if (pid === process.pid) return;
    const before = this.settled.get(pid);
    this.sawTraced = false;
    const after = this.scanPid(pid, before);
    if (after === null) return;
    this.settled.set(pid, after);
    this.pids.add(pid);
    this.noMaps.delete(pid);
    if (this.sawTraced && before === undefined) this.opts.onTracedProcess?.(pid);
  }

  /**
   * A process with a new file, in a mount namespace other than ours (a container): the
   * library directories of its root are searched, as the host's are at start, so that the
   * container's libraries are attached before its programs load them. At every such notice,
   * not once per namespace: a runtime's first execs there may come before the root is set up
   * (a notice is rare, and a file examined already costs a stat).
   */
  private searchMountNamespace(pid: number): void {
    const ns = readlinkOrNull(path.join(this.procRoot, String(pid), 'ns', 'mnt'));
    if (ns === null || ns === this.ownMountNamespace) return;
    const root = path.join(this.procRoot, String(pid), 'root');
    const libNames = this.opts.libraries.flatMap((l) => (l.libraryFileNames ? [l.libraryFileNames] : []));
    for (const dir of this.opts.libDirs ?? DEFAULT_LIB_DIRS) {
      // Names as the container sees them, without following its links (they point into its
      // root, which realpath here would resolve in ours): a directory reached through a link
      // (merged /usr: /lib → usr/lib) is searched under its real name, a linked file
      // (libssl.so → libssl.so.3) under the file's.
      if (throughLink(root, dir)) continue;
      for (const e of listEntries(path.join(root, dir))) {
        if (e.isFile() && libNames.some((re) => re.test(e.name))) this.consider(path.join(dir, e.name), path.join(root, dir, e.name), pid);
      }
    }
  }

  /** Rescans /proc every `intervalMs` for new files and exited processes. */
  startRescans(intervalMs: number): void {
    this.timer = setInterval(() => this.scanProcesses(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.rootTimer) clearInterval(this.rootTimer);
    if (this.rootSlice) clearImmediate(this.rootSlice);
    this.rootSlice = undefined;
    this.timer = undefined;
    this.rootTimer = undefined;
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
      const before = this.settled.get(pid);
      this.sawTraced = false;
      const after = this.scanPid(pid, before);
      if (after === null) {
        noMaps.add(pid);
        continue;
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
    // After onScan: the exited processes' last records are taken with their library known.
    if (this.deletedUsers.size > 0) this.releaseDeleted(now);
  }

  /** The mappings of `pid` settled now (those in `before` are not looked at again), or null
   *  when it maps no file executable (a kernel thread, a zombie, gone). */
  private scanPid(pid: number, before: Set<string> | undefined): Set<string> | null {
    const files = mappedFiles(this.procRoot, pid);
    if (files.size === 0) return null;
    const after = new Set<string>();
    for (const [file, m] of files) {
      // Keyed by the file's identity too: a reused pid (another mount namespace, a file
      // replaced under the same path) is not taken for what that pid mapped before.
      const key = `${m.identity} ${file}`;
      if (before?.has(key)) {
        after.add(key);
      } else if (this.considerMapping(pid, file, m)) {
        after.add(key);
      }
    }
    return after;
  }

  /** consider() for one file a process maps; a deleted one is reached through
   *  /proc/PID/map_files (the mapping itself), and its users are remembered. */
  private considerMapping(pid: number, file: string, m: MappedFile): boolean {
    if (!m.deleted) {
      const [reachPath, st] = this.reach(pid, file, m.identity);
      return this.consider(file, reachPath, pid, st);
    }
    const viaMapping = path.join(this.procRoot, String(pid), 'map_files', mapFilesName(m.range));
    const st = statOrNull(viaMapping);
    if (st === null || !sameFile(m.identity, st.dev, st.ino)) return false; // gone, or not readable (needs CAP_SYS_ADMIN)
    const settled = this.consider(file, viaMapping, pid, st);
    const key = `${st.dev}:${st.ino}`;
    if (this.files.has(key) || this.rejected.has(key)) {
      let users = this.deletedUsers.get(key);
      if (users === undefined) this.deletedUsers.set(key, users = { dev: st.dev, ino: st.ino, pids: new Set() });
      users.pids.add(pid);
    }
    return settled;
  }

  /** Deleted files no running process maps any more: detached and forgotten (a file examined
   *  and found no TLS library's is forgotten too: its inode may be the next extracted copy's).
   *  A process that maps the same inode under another name (a hard link) keeps it. */
  private releaseDeleted(running: Set<number>): void {
    for (const [key, users] of this.deletedUsers) {
      for (const pid of users.pids) if (!running.has(pid)) users.pids.delete(pid);
      if (users.pids.size > 0 || this.stillMapped(users.dev, users.ino)) continue;
      this.deletedUsers.delete(key);
      this.rejected.delete(key);
      for (const f of this.files.get(key) ?? []) {
        // Attached by its path before the unlink, it is named as the maps now show it.
        const shown = f.displayPath.endsWith(DELETED) ? f.displayPath : f.displayPath + DELETED;
        try {
          this.opts.detach?.(f.libId);
        } catch (e) {
          this.opts.log.warn(`cannot detach from ${shown}: ${(e as Error).message}`);
        }
        this.byId.delete(f.libId);
        this.opts.log.info(`detached from ${shown}: no process maps it any more`);
      }
      if (this.files.delete(key)) this.deletedDetached++;
      this.opts.onFileForgotten?.({ dev: users.dev, ino: users.ino });
    }
  }

  /** Whether a running process's settled mappings include this file (under any name). */
  private stillMapped(dev: number, ino: number): boolean {
    for (const keys of this.settled.values()) {
      for (const k of keys) {
        const sp = k.indexOf(' ', k.indexOf(' ') + 1); // "maj:min inode path"
        if (sameFile(k.slice(0, sp), dev, ino)) return true;
      }
    }
    return false;
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
    if (this.rejected.get(key) === st.mtimeMs) return true;
    let defined: Set<string>;
    const t0 = performance.now();
    try {
      defined = definedFunctions(reachPath, this.symbols);
    } catch (e) {
      this.opts.log.debug(`cannot read ${reachPath}: ${(e as Error).message}`);
      return false; // unreadable now (e.g. the process exited): try again on a later scan
    }
    if (defined.size === 0 && !this.anyWithoutSymbols) {
      this.reject(key, st.mtimeMs, displayPath, pid);
      this.opts.onFileExamined?.({ dev: st.dev, ino: st.ino });
      return true;
    }
    // Prefer the plain path when it is the same file in our mount namespace: it stays valid
    // after the process that showed it to us exits.
    const plain = statOrNull(displayPath);
    const attachPath = plain && `${plain.dev}:${plain.ino}` === key ? displayPath : reachPath;
    const attached: TlsFile[] = [];
    // The path stopped leading to the file while it was judged or attached (the process that
    // showed it exited, or its root changed under it, as a container runtime's pivot_root
    // does): not a verdict on the file, which a later sighting tries again.
    let vanished = false;
    const gone = () => {
      const now = statOrNull(attachPath);
      return now === null || `${now.dev}:${now.ino}` !== key;
    };
    for (const library of this.opts.libraries) {
      if (defined.size === 0 && library.claimsWithoutSymbols !== true) continue;
      let claim: Claim | undefined;
      try {
        claim = library.claim({ path: attachPath, defined });
      } catch (e) {
        if (gone()) {
          vanished = true;
          this.opts.log.debug(`cannot judge ${displayPath} as ${library.name} now (${attachPath} is gone): ${(e as Error).message}`);
          break;
        }
        this.opts.log.warn(`cannot judge ${displayPath} as ${library.name}: ${(e as Error).message}`);
        continue;
      }
      if (claim === undefined) continue;
      const libId = this.nextId++;
      try {
        const t1 = performance.now();
        const functions = this.opts.attach(attachPath, libId, claim);
        this.opts.log.debug(`${displayPath}: analysed in ${(t1 - t0).toFixed(1)} ms, ${claim.probes.length} probes attached in ${(performance.now() - t1).toFixed(1)} ms`);
        const file: TlsFile = { key, libId, library: claim.library, claim, path: attachPath, displayPath, functions };
        attached.push(file);
        this.byId.set(libId, file);
        this.opts.log.info(`attached to ${displayPath} (${claim.library})${pid && attachPath !== displayPath ? ` (pid ${pid}, via ${attachPath})` : ''}: ${functions.join(', ')}`);
        this.opts.onAttached?.(file);
      } catch (e) {
        if (gone()) {
          vanished = true;
          this.opts.log.debug(`cannot trace ${displayPath} (${claim.library}) now (${attachPath} is gone): ${(e as Error).message}`);
          break;
        }
        this.opts.log.warn(`cannot trace ${displayPath} (${claim.library}): ${(e as Error).message}`);
      }
    }
    if (vanished && attached.length === 0) return false; // not examined: looked at again when next seen
    this.opts.onFileExamined?.({ dev: st.dev, ino: st.ino });
    if (attached.length === 0) {
      this.reject(key, st.mtimeMs, displayPath, pid);
    } else {
      this.files.set(key, attached);
      this.sawTraced = true;
    }
    return true;
  }

  /** Files seen mapped that carry a TLS stack no library traces (options.untraceable), once
   *  each, the first MAX_UNTRACEABLE. */
  readonly untraceableFiles: Array<{ path: string; what: string }> = [];
  private readonly untraceableKeys = new Set<string>();

  private noteUntraceable(key: string, displayPath: string, pid?: number): void {
    const what = this.opts.untraceable?.(displayPath);
    if (what === undefined || this.untraceableKeys.has(key) || this.untraceableKeys.size >= MAX_UNTRACEABLE) return;
    this.untraceableKeys.add(key);
    this.untraceableFiles.push({ path: displayPath, what });
    this.opts.log.info(`not traced: ${displayPath}${pid !== undefined ? ` (pid ${pid})` : ''}: ${what}`);
  }

  /** The file is no TLS library's (looked at again only if modified); one that carries a TLS
   *  stack that cannot be traced is noted. */
  private reject(key: string, mtimeMs: number, displayPath: string, pid?: number): void {
    if (this.rejected.size >= MAX_REMEMBERED) this.rejected.clear();
    this.rejected.set(key, mtimeMs);
    this.noteUntraceable(key, displayPath, pid);
  }
}

const DELETED = ' (deleted)';

/** A maps line's address range as /proc/PID/map_files names it: the maps pad each address to
 *  8 hex digits ("00400000-00b6f000"), map_files does not ("400000-b6f000"). */
export function mapFilesName(range: string): string {
  return range.split('-').map((h) => h.replace(/^0+(?=.)/, '')).join('-');
}

/** A maps line's "dev inode" ("fd:01 1835092", hex major:minor) names this st_dev and inode. */
function sameFile(identity: string, dev: number, ino: number): boolean {
  const sp = identity.indexOf(' ');
  if (Number(identity.slice(sp + 1)) !== ino) return false;
  const [major, minor] = identity.slice(0, sp).split(':').map((h) => parseInt(h, 16));
  return major === devMajor(dev) && minor === devMinor(dev);
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

function listEntries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // absent directory, or a process that exited: nothing to find there
  }
}

/** Some component of `dir` below `root` is a symbolic link (or cannot be looked at). */
function throughLink(root: string, dir: string): boolean {
  let at = root;
  for (const part of dir.split('/').filter(Boolean)) {
    at = path.join(at, part);
    try {
      if (lstatSync(at).isSymbolicLink()) return true;
    } catch {
      return true; // absent: nothing to search
    }
  }
  return false;
}

function readlinkOrNull(p: string): string | null {
  try {
    return readlinkSync(p);
  } catch {
    return null; // gone (the process exited, the fd was closed): nothing to name
  }
}

/** Starts with the ELF magic. */
function isElf(p: string): boolean {
  let fd: number;
  try {
    fd = openSync(p, 'r');
  } catch {
    return false; // unreadable: not a candidate now (looked at again if it changes)
  }
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32BE(0) === 0x7f454c46;
  } catch {
    return false; // a read error (a file being written): as unreadable
  } finally {
    closeSync(fd);
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
  for (const [p, m] of mappedFiles(procRoot, pid)) if (!m.deleted) out.set(p, m.identity);
  return out;
}

/** One file a process maps executable. */
export interface MappedFile {
  /** "dev inode" as the maps line shows it. */
  identity: string;
  /** The first executable mapping's address range ("7f3ec0c24000-7f3ec0dc1000"): its name in
   *  /proc/PID/map_files, which reaches the file even once deleted. */
  range: string;
  /** The file was deleted (the maps line, and so the path, ends in " (deleted)"). */
  deleted: boolean;
}

/** The files a process maps executable, by path as the maps show it, deleted ones included
 *  (their path ends in " (deleted)"). */
export function mappedFiles(procRoot: string, pid: number): Map<string, MappedFile> {
  const out = new Map<string, MappedFile>();
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
        if (!out.has(p)) out.set(p, { identity: text.slice(devStart, inodeEnd), range: text.slice(start, sp), deleted: p.endsWith(DELETED) });
      }
    }
    start = end + 1;
  }
  return out;
}
