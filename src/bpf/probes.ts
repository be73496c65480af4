// Owns the BPF object of bpf/tlsotel.bpf.c: open → set tunables → load → attach per file →
// read counters → close. One straight line, one cleanup path (close()). What to attach where
// comes from the caller (a TLS library's claim, src/tls/): the loader knows no library.
import { existsSync } from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { BpfError, formatLog, libbpf, type Ptr, UPROBE_OPTS_SIZE } from './libbpf';
import { DirKeyLayout, LostKeyLayout, LostValLayout, OwedCloseLayout, TlsConfigLayout, TlsControl, TlsCounter, TlsFileCounter, TlsFileKeyLayout, TLSOTEL_COMM_LEN, TLSOTEL_COOKIE_ENDS_AT_CLOSE, TLSOTEL_COOKIE_WRITE_ENTRY, TLSOTEL_MAX_COMMS, TLSOTEL_MAX_PAYLOAD, TLSOTEL_MAX_SEGMENTS } from './layout.generated';
import type { Logger } from '../util/log';
import type { ProbeSpec } from '../tls/library';
import type { PendingLoss } from '../capture/streams';
import { ownPidNamespace, type PidNamespace } from './pid-namespace';

export interface ProbeOptions {
  /** Never trace this process (default: the agent itself). */
  agentTgid?: number;
  /** Trace only this process (BPF-side filter); 0 = all. */
  filterTgid?: number;
  /** Trace only threads with one of these names (BPF-side filter, at most TLSOTEL_MAX_COMMS,
   *  each at most TLSOTEL_COMM_LEN - 1 bytes); none = all. */
  comms?: readonly string[];
  /** Payload bytes per record (1..32768). */
  captureBytes?: number;
  /** Records per SSL call before the rest is reported as truncated (1..16). */
  maxSegments?: number;
  /** Ring buffer size in bytes: a power of two, at least one page. */
  ringBufferBytes?: number;
  /** Body skipping (struct tls_config.skip_min): calls of at least this many bytes that begin
   *  with an HTTP/1 head have their Content-Length body counted, not copied, and so have HTTP/2
   *  DATA payloads of at least this many bytes; 0: off. */
  skipBodiesFrom?: number;
  /** Pids as seen from this PID namespace (default: the agent's own, when not the host's). */
  pidNamespace?: PidNamespace | null;
  objectPath?: string;
  log: Logger;
}

/** Links destroyed concurrently at stop (see detachAllInParallel). */
const DETACH_LANES = 32;

export const PROBE_DEFAULTS = {
  captureBytes: 16384,
  maxSegments: 4,
  /** 32 MiB: at saturation on 2 cores (bench/README.md, session 13) the agent falls behind by
   *  up to ≈ 20 MB of records in a 6 s load and catches up after; 8 MiB lost records then. */
  ringBufferBytes: 32 * 1024 * 1024,
  /** A head with a body of a few hundred bytes is not worth a search; a 1 KiB call is. */
  skipBodiesFrom: 1024,
};

export interface AttachedFile {
  libId: number;
  path: string;
  /** What was probed (ProbeSpec labels, once each), e.g. ["SSL_write", "SSL_read_ex", ...]. */
  functions: string[];
  links: Ptr[];
}

export type Counters = Record<keyof typeof TlsCounter, bigint>;
export type FileCounters = Record<Exclude<keyof typeof TlsFileCounter, 'TLS_FCNT__MAX'>, bigint>;

/** A file by identity as the kernel names it: st_dev as stat() returns it (glibc's encoding) is
 *  converted by fileKey. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

// libbpf's print callback must stay registered for the life of the process (see LIBBPF-KOFFI.md);
// it forwards to whichever logger is current.
let printLog: Logger | undefined;
let printRegistered = false;
const printBuf = Buffer.alloc(4096);

function installPrint(log: Logger): void {
  printLog = log;
  if (printRegistered) return;
  const lb = libbpf();
  const cb = koffi.register((level: number, fmt: Ptr, ap: Ptr) => {
    const text = formatLog(fmt, ap, printBuf).trimEnd();
    // libbpf levels: 0 warn, 1 info, 2 debug. All of it is detail unless asked for (-v).
    if (printLog && text) printLog.debug(`libbpf${level === 0 ? ' warning' : ''}: ${text}`);
    return 0;
  }, koffi.pointer(lb.printType));
  lb.libbpf_set_print(cb);
  printRegistered = true;
}

export function defaultObjectPath(): string {
  // dist/src/bpf/probes.js → <root>/bpf/tlsotel.bpf.o (also works from src/ under ts-node-like runners)
  for (const up of ['../../..', '../..']) {
    const p = path.resolve(__dirname, up, 'bpf', 'tlsotel.bpf.o');
    if (existsSync(p)) return p;
  }
  return path.resolve(__dirname, '../../../bpf/tlsotel.bpf.o');
}

/** examined_files value for a file user space has examined (bpf: FILE_EXAMINED; the BPF side
 *  writes FILE_ANNOUNCED, 1, when it announces one). */
const FILE_EXAMINED = 2;

export class TlsProbes {
  private obj: Ptr | null;
  private readonly progs = new Map<string, Ptr>();
  private readonly files = new Map<number, AttachedFile>();
  /** Host-wide hooks (not per file): the sys_enter raw tracepoint of connection identity. */
  private globalLinks: Ptr[] = [];
  private readonly countersFd: number;
  private readonly lostFd: number;
  private readonly owedClosesFd: number;
  private readonly dirStatesFd: number;
  private readonly controlFd: number;
  private readonly examinedFd: number;
  private readonly fileCountersFd: number;
  readonly ringFd: number;
  /** The ring of new-executable-file events (bpf: file_events), and its size. */
  readonly fileEventsFd: number;
  readonly fileEventsBytes: number;
  readonly ringBufferBytes: number;
  private readonly ncpus: number;

  private constructor(obj: Ptr, ringBufferBytes: number) {
    this.obj = obj;
    this.ringBufferBytes = ringBufferBytes;
    const lb = libbpf();
    this.ringFd = mapFd(obj, 'events');
    this.countersFd = mapFd(obj, 'counters');
    this.lostFd = mapFd(obj, 'lost');
    this.owedClosesFd = mapFd(obj, 'owed_closes');
    this.dirStatesFd = mapFd(obj, 'dir_states');
    this.controlFd = mapFd(obj, 'control');
    this.examinedFd = mapFd(obj, 'examined_files');
    this.fileCountersFd = mapFd(obj, 'file_counters');
    this.fileEventsFd = mapFd(obj, 'file_events');
    const fe = lb.bpf_object__find_map_by_name(obj, 'file_events');
    this.fileEventsBytes = fe ? lb.bpf_map__max_entries(fe) : 0;
    this.ncpus = lb.libbpf_num_possible_cpus();
  }

  /** Opens the object, writes the tunables, and loads it into the kernel. */
  static load(opts: ProbeOptions): TlsProbes {
    const lb = libbpf();
    installPrint(opts.log);
    const captureBytes = opts.captureBytes ?? PROBE_DEFAULTS.captureBytes;
    const maxSegments = opts.maxSegments ?? PROBE_DEFAULTS.maxSegments;
    const ringBytes = opts.ringBufferBytes ?? PROBE_DEFAULTS.ringBufferBytes;
    validate(captureBytes, maxSegments, ringBytes, opts.comms ?? []);

    const objectPath = opts.objectPath ?? defaultObjectPath();
    if (!existsSync(objectPath)) {
      throw new Error(`BPF object ${objectPath} is missing; build it with: npm run build:bpf`);
    }
    const obj = lb.bpf_object__open_file(objectPath, null);
    if (!obj) throw new BpfError(`bpf_object__open_file(${objectPath})`, lb.errno());
    try {
      const cfg = Buffer.alloc(TlsConfigLayout.SIZE);
      cfg.writeUInt32LE(opts.agentTgid ?? process.pid, TlsConfigLayout.agent_tgid);
      cfg.writeUInt32LE(opts.filterTgid ?? 0, TlsConfigLayout.filter_tgid);
      cfg.writeUInt32LE(captureBytes, TlsConfigLayout.capture_bytes);
      cfg.writeUInt32LE(maxSegments, TlsConfigLayout.max_segments);
      cfg.writeUInt32LE(opts.skipBodiesFrom ?? PROBE_DEFAULTS.skipBodiesFrom, TlsConfigLayout.skip_min);
      // Process records (who a process is, at its first connection) take at most 1/64 of the
      // ring each: 16 KiB with the default ring; a ring of a few KiB (tests of losses) gets none.
      cfg.writeUInt32LE(Math.min(TLSOTEL_MAX_PAYLOAD, Math.floor(ringBytes / 64)), TlsConfigLayout.proc_max);
      const comms = opts.comms ?? [];
      cfg.writeUInt32LE(comms.length, TlsConfigLayout.n_comms);
      // NUL-padded, as bpf_get_current_comm gives a name.
      comms.forEach((n, i) => cfg.write(n, TlsConfigLayout.comms + i * TLSOTEL_COMM_LEN, 'utf8'));
      const ns = opts.pidNamespace === undefined ? ownPidNamespace() : opts.pidNamespace ?? undefined;
      if (ns !== undefined) {
        cfg.writeBigUInt64LE(BigInt(ns.dev), TlsConfigLayout.pidns_dev);
        cfg.writeBigUInt64LE(BigInt(ns.ino), TlsConfigLayout.pidns_ino);
        opts.log.info(`in PID namespace ${ns.ino}: pids are that namespace's; processes outside it are not traced`);
      }
      const rodata = findMap(obj, (name) => name.endsWith('.rodata'));
      if (!rodata) throw new Error('BPF object has no .rodata map: rebuild it with npm run build:bpf');
      if (lb.bpf_map__value_size(rodata) !== TlsConfigLayout.SIZE) {
        throw new Error('BPF object .rodata does not hold exactly struct tls_config: rebuild it with npm run build:bpf');
      }
      check(lb.bpf_map__set_initial_value(rodata, cfg, cfg.length), 'bpf_map__set_initial_value(.rodata)');
      const events = lb.bpf_object__find_map_by_name(obj, 'events');
      if (!events) throw new Error('BPF object has no events map: rebuild it with npm run build:bpf');
      check(lb.bpf_map__set_max_entries(events, ringBytes), 'bpf_map__set_max_entries(events)');
      const t0 = performance.now();
      check(lb.bpf_object__load(obj), 'bpf_object__load', loadHint);
      opts.log.debug(`BPF object loaded in ${(performance.now() - t0).toFixed(1)} ms`);
      const probes = new TlsProbes(obj, ringBytes);
      probes.attachSyscallHook();
      probes.attachExecHook();
      return probes;
    } catch (e) {
      lb.bpf_object__close(obj);
      throw e;
    }
  }

  /**
   * Attaches `probes` to one file, for all processes that map it, now and later; records they
   * emit carry `libId` (the attach cookie's low 32 bits). On failure, detaches what was attached and throws.
   */
  attachFile(filePath: string, libId: number, probes: readonly ProbeSpec[], opts: { endsAtSocketClose?: boolean } = {}): AttachedFile {
    const lb = libbpf();
    const file: AttachedFile = { libId, path: filePath, functions: [], links: [] };
    // The cookie: the library id records carry, whether its connections end at their socket's
    // close (bpf/tlsotel.bpf.c, fd_closes), and on a write's entry probe, that it stamps the
    // write's records.
    const cookie = BigInt(libId) | (opts.endsAtSocketClose === true ? TLSOTEL_COOKIE_ENDS_AT_CLOSE : 0n);
    try {
      for (const p of probes) {
        const bpfCookie = p.writes === true && !p.retprobe ? cookie | TLSOTEL_COOKIE_WRITE_ENTRY : cookie;
        const opts = { sz: UPROBE_OPTS_SIZE, ref_ctr_offset: 0, bpf_cookie: bpfCookie, retprobe: p.retprobe, func_name: p.symbol ?? null };
        const link = lb.bpf_program__attach_uprobe_opts(this.program(p.program), -1, filePath, p.offset ?? 0, opts);
        if (!link) {
          const errno = lb.errno();
          throw new BpfError(
            `attach ${p.retprobe ? 'uretprobe' : 'uprobe'} ${filePath}:${p.label}`,
            errno,
            errno === 22 ? 'another tracer may hold a uprobe on this function with a different reference counter' : undefined,
          );
        }
        file.links.push(link);
        if (!file.functions.includes(p.label)) file.functions.push(p.label);
      }
    } catch (e) {
      for (const l of file.links) lb.bpf_link__destroy(l);
      throw e;
    }
    this.files.set(libId, file);
    return file;
  }

  /** A program of the object, by name. */
  private program(name: string): Ptr {
    let prog = this.progs.get(name);
    if (prog === undefined) {
      const found = this.obj === null ? null : libbpf().bpf_object__find_program_by_name(this.obj, name);
      if (!found) throw new Error(`BPF object has no program ${name}: rebuild it with npm run build:bpf`);
      prog = found;
      this.progs.set(name, prog);
    }
    return prog;
  }

  /** The raw tracepoint that finds each connection's socket (see bpf/tlsotel.bpf.c). */
  private attachSyscallHook(): void {
    const lb = libbpf();
    const link = lb.bpf_program__attach_raw_tracepoint(this.program('tls_sys_enter'), 'sys_enter');
    if (!link) throw new BpfError('attach raw tracepoint sys_enter', lb.errno());
    this.globalLinks.push(link);
  }

  /** The raw tracepoint that announces exec'd files (see bpf/tlsotel.bpf.c: examined_files). */
  private attachExecHook(): void {
    const lb = libbpf();
    const link = lb.bpf_program__attach_raw_tracepoint(this.program('tls_file_exec'), 'sched_process_exec');
    if (!link) throw new BpfError('attach raw tracepoint sched_process_exec', lb.errno());
    this.globalLinks.push(link);
  }

  /** Files examined by user space: exec and executable mappings of them announce nothing. */
  markExamined(files: readonly FileIdentity[]): void {
    const lb = libbpf();
    const examined = Buffer.from([FILE_EXAMINED]);
    for (const f of files) {
      // Best effort: a failure (never seen) costs one more event for the file, nothing else.
      lb.bpf_map_update_elem(this.examinedFd, fileKey(f), examined, 0);
    }
  }

  /** The file could not be examined (its process exited first): the next process that maps it
   *  announces it again. */
  forgetExamined(file: FileIdentity): void {
    libbpf().bpf_map_delete_elem(this.examinedFd, fileKey(file));
  }

  /** Sums the per-CPU counters of the new-file events. */
  fileCounters(): FileCounters {
    const out = {} as FileCounters;
    for (const [name, idx] of Object.entries(TlsFileCounter) as Array<[keyof typeof TlsFileCounter, number]>) {
      if (name === 'TLS_FCNT__MAX') continue;
      out[name] = this.sumPerCpu(this.fileCountersFd, idx);
    }
    return out;
  }

  private sumPerCpu(fd: number, idx: number): bigint {
    const key = Buffer.alloc(4);
    const values = Buffer.alloc(8 * this.ncpus);
    key.writeUInt32LE(idx);
    let sum = 0n;
    if (libbpf().bpf_map_lookup_elem(fd, key, values) === 0) {
      for (let c = 0; c < this.ncpus; c++) sum += values.readBigUInt64LE(c * 8);
    }
    return sum;
  }

  get attached(): AttachedFile[] {
    return [...this.files.values()];
  }

  /** What connection (pid, conn) lost and has not reported yet (struct lost_val), and the close
   *  it owes (struct owed_close), taken from the BPF side (no later record at that address
   *  reports them again); undefined when neither. For a connection ending with no record to
   *  say so: its process exited, or it was idle for minutes (nothing of it runs concurrently).
   *  What the BPF side follows of the connection (`dir_states`: an HTTP/2 connection's frames,
   *  an HTTP/1 body being counted) is dropped too: a connection of an exited process would
   *  otherwise hold its two entries until evicted. The BPF side's pending counters stay as
   *  they are: too high only costs a lookup. */
  takePendingLoss(pid: number, conn: bigint): PendingLoss | undefined {
    const lb = libbpf();
    for (const read of [0, 1]) lb.bpf_map_delete_elem(this.dirStatesFd, dirKey(pid, conn, read));
    const key = lostKey(pid, conn);
    const lost = takeEntry(this.lostFd, key, LostValLayout.SIZE);
    const owed = takeEntry(this.owedClosesFd, key, OwedCloseLayout.SIZE);
    if (lost === undefined && owed === undefined) return undefined;
    return {
      written: lost !== undefined ? Number(lost.readBigUInt64LE(LostValLayout.written)) : 0,
      read: lost !== undefined ? Number(lost.readBigUInt64LE(LostValLayout.read)) : 0,
      ...owedCloseOf(owed),
    };
  }

  /** The close connection (pid, conn) owes (struct owed_close), taken from the BPF side; its
   *  losses not reported yet (`lost`) stay: they are a later connection's at that address. */
  takeOwedClose(pid: number, conn: bigint): PendingLoss | undefined {
    const owed = takeEntry(this.owedClosesFd, lostKey(pid, conn), OwedCloseLayout.SIZE);
    return owed === undefined ? undefined : { written: 0, read: 0, ...owedCloseOf(owed) };
  }

  /** Close records that did not fit in the ring so far (TLS_CNT_CLOSE_DROPS): one lookup. */
  closeDrops(): bigint {
    return this.sumPerCpu(this.countersFd, TlsCounter.TLS_CNT_CLOSE_DROPS);
  }

  /** Sums the per-CPU counters of the BPF side. */
  counters(): Counters {
    const lb = libbpf();
    const key = Buffer.alloc(4);
    const values = Buffer.alloc(8 * this.ncpus);
    const out = {} as Counters;
    for (const [name, idx] of Object.entries(TlsCounter) as Array<[keyof typeof TlsCounter, number]>) {
      if (name === 'TLS_CNT__MAX') continue;
      key.writeUInt32LE(idx);
      let sum = 0n;
      if (lb.bpf_map_lookup_elem(this.countersFd, key, values) === 0) {
        for (let c = 0; c < this.ncpus; c++) sum += values.readBigUInt64LE(c * 8);
      }
      out[name] = sum;
    }
    return out;
  }

  /** Detaches the probes of one file (attachFile's libId); returns the links destroyed. */
  detachFile(libId: number): number {
    const f = this.files.get(libId);
    if (f === undefined) return 0;
    const lb = libbpf();
    for (const l of f.links) lb.bpf_link__destroy(l);
    this.files.delete(libId);
    return f.links.length;
  }

  /** Detaches every probe: no new records after this. Returns the number of links destroyed. */
  detachAll(): number {
    const lb = libbpf();
    let n = 0;
    for (const f of this.files.values()) {
      for (const l of f.links) {
        lb.bpf_link__destroy(l);
        n++;
      }
    }
    this.files.clear();
    for (const l of this.globalLinks) {
      lb.bpf_link__destroy(l);
      n++;
    }
    this.globalLinks = [];
    return n;
  }

  /** The probes stop emitting records (they still run until detached): the ring can be
   *  drained for the last time at once. */
  stopEmitting(): void {
    this.setControl(TlsControl.TLS_CONTROL_STOPPING, 1);
  }

  /** Whether a process that execs or maps a new file may be stopped until the file is examined
   *  (bpf: may_hold): on only while the agent reads the new-file events and resumes the
   *  processes they say were held (TLS_FILE_HELD). On is a heartbeat, the time now: it lapses
   *  TLSOTEL_HOLD_HEARTBEAT_MS after the last call, so call it more often than that. */
  /** Which processes may be held: any (undefined: the agent holds CAP_KILL), or only those
   *  whose real or saved uid is `uid` (those kill(2) lets it resume without CAP_KILL). */
  setHoldUid(uid: number | undefined): void {
    this.setControl(TlsControl.TLS_CONTROL_HOLD_UID, uid === undefined ? 0 : uid + 1);
  }

  setHolding(on: boolean): void {
    // CLOCK_MONOTONIC ms cut to 32 bits, as the BPF side compares them; never 0 (off).
    const beat = on ? Number((process.hrtime.bigint() / 1_000_000n) & 0xffffffffn) || 1 : 0;
    this.setControl(TlsControl.TLS_CONTROL_HOLD, beat);
  }

  private setControl(slot: number, value: number): void {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    const v = Buffer.alloc(4);
    v.writeUInt32LE(value);
    check(libbpf().bpf_map_update_elem(this.controlFd, key, v, 0), 'bpf_map_update_elem(control)');
  }

  /**
   * detachAll, off the event loop: the links are destroyed on libuv's pool threads. A uprobe's
   * unregistration waits for an RCU grace period (twenty links took 2 s here), time in which
   * the event loop stays free to flush spans.
   */
  async detachAllInParallel(): Promise<number> {
    const lb = libbpf();
    const links = [...[...this.files.values()].flatMap((f) => f.links), ...this.globalLinks];
    this.files.clear();
    this.globalLinks = [];
    // At most DETACH_LANES calls queued at once: koffi refuses more than 256 async calls in
    // flight (an agent on a busy host holds more links than that), and the pool has 4 threads.
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < links.length) {
        const l = links[next++]!;
        await new Promise<void>((resolve) => lb.bpf_link__destroy_async(l, () => resolve()));
      }
    };
    await Promise.all(Array.from({ length: Math.min(DETACH_LANES, links.length) }, lane));
    return links.length;
  }

  /** Detaches every probe and frees the object (maps, programs). Safe to call twice. */
  close(): number {
    const n = this.detachAll();
    if (this.obj) libbpf().bpf_object__close(this.obj);
    this.obj = null;
    return n;
  }
}

/** struct tls_file_key for a file whose st_dev is glibc's encoding (what stat() and a maps line
 *  give), as the kernel's super_block s_dev (major << 20 | minor). */
export function fileKey(f: FileIdentity): Buffer {
  const major = ((f.dev >>> 8) & 0xfff) | (Math.floor(f.dev / 2 ** 32) & ~0xfff);
  const minor = (f.dev & 0xff) | ((f.dev >>> 12) & ~0xff);
  const key = Buffer.alloc(TlsFileKeyLayout.SIZE);
  key.writeUInt32LE(((major << 20) | minor) >>> 0, TlsFileKeyLayout.dev);
  key.writeBigUInt64LE(BigInt(f.ino), TlsFileKeyLayout.ino);
  return key;
}

/** The kernel's s_dev (major << 20 | minor) as glibc encodes st_dev. */
export function userDev(kernelDev: number): number {
  const major = kernelDev >>> 20;
  const minor = kernelDev & 0xfffff;
  // major has 12 bits in the kernel's encoding; minor's upper bits go above bit 20.
  return (minor & 0xff) + (major & 0xfff) * 2 ** 8 + (minor & ~0xff) * 2 ** 12;
}

/** struct lost_key: the key of `lost` and `owed_closes`. */
function lostKey(pid: number, conn: bigint): Buffer {
  const key = Buffer.alloc(LostKeyLayout.SIZE);
  key.writeBigUInt64LE(conn, LostKeyLayout.conn);
  key.writeUInt32LE(pid, LostKeyLayout.pid);
  return key;
}

/** struct dir_key: the key of `dir_states` (read: 1 for what the process reads). */
function dirKey(pid: number, conn: bigint, read: number): Buffer {
  const key = Buffer.alloc(DirKeyLayout.SIZE);
  key.writeBigUInt64LE(conn, DirKeyLayout.conn);
  key.writeUInt32LE(pid, DirKeyLayout.pid);
  key.writeUInt32LE(read, DirKeyLayout.read);
  return key;
}

/** A map entry's value, deleted from the map; undefined when there is none. */
function takeEntry(fd: number, key: Buffer, size: number): Buffer | undefined {
  const lb = libbpf();
  const value = Buffer.alloc(size);
  if (lb.bpf_map_lookup_elem(fd, key, value) !== 0) return undefined;
  lb.bpf_map_delete_elem(fd, key);
  return value;
}

/** PendingLoss's close fields from a struct owed_close (none owed: zeros). */
function owedCloseOf(owed: Buffer | undefined): Pick<PendingLoss, 'closedNs' | 'closedWritten' | 'closedRead'> {
  if (owed === undefined) return { closedNs: 0n, closedWritten: 0, closedRead: 0 };
  return {
    closedNs: owed.readBigUInt64LE(OwedCloseLayout.closed_ns),
    closedWritten: Number(owed.readBigUInt64LE(OwedCloseLayout.written)),
    closedRead: Number(owed.readBigUInt64LE(OwedCloseLayout.read)),
  };
}

function validate(captureBytes: number, maxSegments: number, ringBytes: number, comms: readonly string[]): void {
  if (comms.length > TLSOTEL_MAX_COMMS || comms.some((n) => n.length === 0 || Buffer.byteLength(n, 'utf8') >= TLSOTEL_COMM_LEN)) {
    throw new Error(`process names: at most ${TLSOTEL_MAX_COMMS}, each of 1 to ${TLSOTEL_COMM_LEN - 1} bytes, got ${JSON.stringify(comms)}`);
  }
  if (!Number.isInteger(captureBytes) || captureBytes < 1 || captureBytes > TLSOTEL_MAX_PAYLOAD) {
    throw new Error(`capture bytes must be an integer from 1 to ${TLSOTEL_MAX_PAYLOAD}, got ${captureBytes}`);
  }
  if (!Number.isInteger(maxSegments) || maxSegments < 1 || maxSegments > TLSOTEL_MAX_SEGMENTS) {
    throw new Error(`capture segments must be an integer from 1 to ${TLSOTEL_MAX_SEGMENTS}, got ${maxSegments}`);
  }
  if (!Number.isInteger(ringBytes) || ringBytes < 4096 || (ringBytes & (ringBytes - 1)) !== 0 || ringBytes > 2 ** 30) {
    throw new Error(`ring buffer size must be a power of two from 4096 to 1 GiB, got ${ringBytes}`);
  }
}

const loadHint = 'tlsotel needs root (or CAP_BPF + CAP_PERFMON) and a kernel with BTF; run `tlsotel doctor`';

function check(ret: number, op: string, hint?: string): void {
  if (ret < 0) throw new BpfError(op, -ret, hint);
}

function findMap(obj: Ptr, pred: (name: string) => boolean): Ptr | null {
  const lb = libbpf();
  for (let m = lb.bpf_object__next_map(obj, null); m; m = lb.bpf_object__next_map(obj, m)) {
    if (pred(lb.bpf_map__name(m))) return m;
  }
  return null;
}

function mapFd(obj: Ptr, name: string): number {
  const lb = libbpf();
  const m = lb.bpf_object__find_map_by_name(obj, name);
  if (!m) throw new Error(`BPF object has no ${name} map: rebuild it with npm run build:bpf`);
  const fd = lb.bpf_map__fd(m);
  if (fd < 0) throw new BpfError(`bpf_map__fd(${name})`, -fd);
  return fd;
}
