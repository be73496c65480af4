// Owns the BPF object of bpf/tlsotel.bpf.c: open → set tunables → load → attach per file →
// read counters → close. One straight line, one cleanup path (close()).
import { existsSync } from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { BpfError, formatLog, libbpf, type Ptr, UPROBE_OPTS_SIZE } from './libbpf';
import { TlsConfigLayout, TlsCounter, TLSOTEL_MAX_PAYLOAD, TLSOTEL_MAX_SEGMENTS } from './layout.generated';
import type { Logger } from '../util/log';
import type { OpensslInternals } from '../discovery/openssl-internals';

export interface ProbeOptions {
  /** Never trace this process (default: the agent itself). */
  agentTgid?: number;
  /** Trace only this process (BPF-side filter); 0 = all. */
  filterTgid?: number;
  /** Payload bytes per record (1..32768). */
  captureBytes?: number;
  /** Records per SSL call before the rest is reported as truncated (1..16). */
  maxSegments?: number;
  /** Ring buffer size in bytes: a power of two, at least one page. */
  ringBufferBytes?: number;
  objectPath?: string;
  log: Logger;
}

export const PROBE_DEFAULTS = {
  captureBytes: 16384,
  maxSegments: 4,
  ringBufferBytes: 8 * 1024 * 1024,
};

type ProbeDir = 'write' | 'read' | 'free';

/** The functions probed in every OpenSSL-carrying file; `required` ones must exist. */
const PROBES: Array<{ fn: string; dir: ProbeDir; prog: string; retprobe: boolean; required: boolean }> = [
  { fn: 'SSL_write', dir: 'write', prog: 'tls_enter', retprobe: false, required: true },
  { fn: 'SSL_write', dir: 'write', prog: 'tls_write_ret', retprobe: true, required: true },
  { fn: 'SSL_read', dir: 'read', prog: 'tls_enter', retprobe: false, required: true },
  { fn: 'SSL_read', dir: 'read', prog: 'tls_read_ret', retprobe: true, required: true },
  { fn: 'SSL_write_ex', dir: 'write', prog: 'tls_enter', retprobe: false, required: false },
  { fn: 'SSL_write_ex', dir: 'write', prog: 'tls_write_ex_ret', retprobe: true, required: false },
  { fn: 'SSL_read_ex', dir: 'read', prog: 'tls_enter', retprobe: false, required: false },
  { fn: 'SSL_read_ex', dir: 'read', prog: 'tls_read_ex_ret', retprobe: true, required: false },
  { fn: 'SSL_free', dir: 'free', prog: 'tls_free', retprobe: false, required: false },
];

/** What attachFile places, by name: internal functions first, then the exported ones not replaced by them. */
export function plannedProbes(symbols: Set<string>, internals: OpensslInternals): string[] {
  const internal = (['write', 'read'] as const).flatMap((d) => (internals[d] ? [internals[d]!.describe.split(' ')[0]] : []));
  const exported = [...new Set(PROBES.filter((p) => symbols.has(p.fn) && (p.dir === 'free' || !internals[p.dir])).map((p) => p.fn))];
  return [...internal, ...exported];
}

/** Probes on an internal function that both wrappers of a direction call (same arguments as
 *  the _ex variant): they replace the four probes on the exported functions. */
const INTERNAL_PROGS: Record<'write' | 'read', string> = { write: 'tls_write_ex_ret', read: 'tls_read_ex_ret' };

/** The symbols a file must define to be probed, and those probed when present. */
export const REQUIRED_SYMBOLS = ['SSL_write', 'SSL_read'];
export const PROBED_SYMBOLS = [...new Set(PROBES.map((p) => p.fn))];

export interface AttachedFile {
  libId: number;
  path: string;
  /** Functions attached (entry and/or return), e.g. ["SSL_write", "SSL_read_ex", ...]. */
  functions: string[];
  links: Ptr[];
}

export type Counters = Record<keyof typeof TlsCounter, bigint>;

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

export class TlsProbes {
  private obj: Ptr | null;
  private readonly progs = new Map<string, Ptr>();
  private readonly files = new Map<number, AttachedFile>();
  /** Host-wide hooks (not per file): the sys_enter raw tracepoint of connection identity. */
  private globalLinks: Ptr[] = [];
  private readonly countersFd: number;
  readonly ringFd: number;
  readonly ringBufferBytes: number;
  private readonly ncpus: number;

  private constructor(obj: Ptr, ringBufferBytes: number) {
    this.obj = obj;
    this.ringBufferBytes = ringBufferBytes;
    const lb = libbpf();
    for (const name of new Set([...PROBES.map((p) => p.prog), 'tls_sys_enter'])) {
      const prog = lb.bpf_object__find_program_by_name(obj, name);
      if (!prog) throw new Error(`BPF object has no program ${name}: rebuild it with npm run build:bpf`);
      this.progs.set(name, prog);
    }
    this.ringFd = mapFd(obj, 'events');
    this.countersFd = mapFd(obj, 'counters');
    this.ncpus = lb.libbpf_num_possible_cpus();
  }

  /** Opens the object, writes the tunables, and loads it into the kernel. */
  static load(opts: ProbeOptions): TlsProbes {
    const lb = libbpf();
    installPrint(opts.log);
    const captureBytes = opts.captureBytes ?? PROBE_DEFAULTS.captureBytes;
    const maxSegments = opts.maxSegments ?? PROBE_DEFAULTS.maxSegments;
    const ringBytes = opts.ringBufferBytes ?? PROBE_DEFAULTS.ringBufferBytes;
    validate(captureBytes, maxSegments, ringBytes);

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
      return probes;
    } catch (e) {
      lb.bpf_object__close(obj);
      throw e;
    }
  }

  /**
   * Attaches every probe to one file (a libssl or an executable carrying OpenSSL), for all
   * processes that map it, now and later. `symbols` are the probed symbols the file defines.
   * On failure, detaches what was attached and throws.
   */
  attachFile(filePath: string, libId: number, symbols: Set<string>, internals: OpensslInternals = {}): AttachedFile {
    const lb = libbpf();
    const missing = REQUIRED_SYMBOLS.filter((s) => !symbols.has(s));
    if (missing.length) throw new Error(`${filePath} does not define ${missing.join(', ')}`);
    const file: AttachedFile = { libId, path: filePath, functions: [], links: [] };
    const attach = (prog: string, retprobe: boolean, what: string, fn: string | null, offset: number) => {
      const opts = { sz: UPROBE_OPTS_SIZE, ref_ctr_offset: 0, bpf_cookie: libId, retprobe, func_name: fn };
      const link = lb.bpf_program__attach_uprobe_opts(this.progs.get(prog)!, -1, filePath, offset, opts);
      if (!link) {
        const errno = lb.errno();
        throw new BpfError(
          `attach ${retprobe ? 'uretprobe' : 'uprobe'} ${filePath}:${what}`,
          errno,
          errno === 22 ? 'another tracer may hold a uprobe on this function with a different reference counter' : undefined,
        );
      }
      file.links.push(link);
      if (!file.functions.includes(what)) file.functions.push(what);
    };
    try {
      for (const dir of ['write', 'read'] as const) {
        const internal = internals[dir];
        if (!internal) continue;
        const what = `${internal.describe.split(' ')[0]}@0x${internal.offset.toString(16)}`;
        attach('tls_enter', false, what, null, internal.offset);
        attach(INTERNAL_PROGS[dir], true, what, null, internal.offset);
      }
      for (const p of PROBES) {
        if (!symbols.has(p.fn) || (p.dir !== 'free' && internals[p.dir])) continue;
        attach(p.prog, p.retprobe, p.fn, p.fn, 0);
      }
    } catch (e) {
      for (const l of file.links) lb.bpf_link__destroy(l);
      throw e;
    }
    this.files.set(libId, file);
    return file;
  }

  /** The raw tracepoint that finds each connection's socket (see bpf/tlsotel.bpf.c). */
  private attachSyscallHook(): void {
    const lb = libbpf();
    const link = lb.bpf_program__attach_raw_tracepoint(this.progs.get('tls_sys_enter')!, 'sys_enter');
    if (!link) throw new BpfError('attach raw tracepoint sys_enter', lb.errno());
    this.globalLinks.push(link);
  }

  get attached(): AttachedFile[] {
    return [...this.files.values()];
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

  /** Detaches every probe and frees the object (maps, programs). Safe to call twice. */
  close(): number {
    const n = this.detachAll();
    if (this.obj) libbpf().bpf_object__close(this.obj);
    this.obj = null;
    return n;
  }
}

function validate(captureBytes: number, maxSegments: number, ringBytes: number): void {
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
