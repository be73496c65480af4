// Who a traced process is (from /proc), and the OpenTelemetry Resource its spans carry.
//
// /proc reads cost syscalls, and exchanges come in thousands per second from few processes, so
// both ProcessInfo and Resource are cached. A PID can be reused: an entry is valid for one
// (pid, start time) pair, start time being field 22 of /proc/PID/stat, re-checked at most every
// `revalidateMs`. A process that has exited keeps its last known info (its last exchanges are
// reported after it is gone). What the probes took of a process at its first connection (a
// proc record: its environment, executable name and cgroup path) stands in for /proc when the
// process is gone before its records are handled; one known neither way falls back to its
// kernel comm.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { Attributes } from '@opentelemetry/api';
import { ATTR_SERVICE_NAME, ATTR_TELEMETRY_DISTRO_NAME, ATTR_TELEMETRY_DISTRO_VERSION } from '@opentelemetry/semantic-conventions';
import type { ProcessInfo } from '../exchange/types';
import { VERSION } from './version';
import {
  ATTR_CONTAINER_ID, ATTR_HOST_NAME, ATTR_K8S_POD_UID, ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_EXECUTABLE_PATH, ATTR_PROCESS_PID,
} from './semconv';

export const DISTRO_NAME = 'tlsotel';

/** Field 22 (starttime) of /proc/PID/stat; undefined when the process is gone. */
export function readStartTime(pid: number, procRoot = '/proc'): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = stat.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const v = Number(rest[19]);
  return Number.isFinite(v) ? v : undefined;
}

/** Parse OTEL_RESOURCE_ATTRIBUTES ("k=v,k2=v2", values percent-encoded); bad pairs skipped. */
export function parseResourceAttributes(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    let v = pair.slice(eq + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      continue;
    }
    if (key.length > 0) out[key] = v;
  }
  return out;
}

/** A container's cgroup, as the runtimes name it: "<runtime>-<64 hex>.scope" (systemd driver:
 *  docker, containerd's CRI plugin, cri-o, podman), or a bare 64-hex segment under a parent a
 *  runtime made (cgroupfs driver: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>, /crio/<id>…). */
const SCOPED_ID = /^(?:docker|cri-containerd|containerd|crio|libpod|cri-o)-([0-9a-f]{64})\.scope$/;
const BARE_ID = /^[0-9a-f]{64}$/;
const RUNTIME_PARENT = /^(?:docker|containerd|crio|libpod|lxc|kubepods(?:-.*)?|.*\.slice|pod[0-9a-f][0-9a-f_-]{31,35}|besteffort|burstable|guaranteed)$/;
const POD_UID = /^(?:kubepods-(?:besteffort-|burstable-)?)?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

/**
 * Container id and pod UID from the text of /proc/PID/cgroup (docker, containerd, cri-o,
 * podman; cgroup v1 and v2; systemd and cgroupfs drivers). Only cgroup paths shaped the way
 * container runtimes make them count: a 64-hex segment elsewhere (or a pod-like name outside
 * /kubepods) is not taken for one, so the values are right or absent, never guessed.
 */
export function parseCgroup(text: string): { containerId?: string; podUid?: string } {
  let containerId: string | undefined;
  let podUid: string | undefined;
  for (const line of text.split('\n')) {
    const segments = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).split('/');
    const kube = segments.some((seg) => seg.startsWith('kubepods'));
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const scoped = SCOPED_ID.exec(seg);
      const id = scoped !== null ? scoped[1] : BARE_ID.test(seg) && i > 0 && RUNTIME_PARENT.test(segments[i - 1]) ? seg : undefined;
      if (id !== undefined && containerId === undefined) containerId = id;
      const pod = kube ? POD_UID.exec(seg) : null;
      if (pod !== null && podUid === undefined) podUid = pod[1].replace(/_/g, '-');
    }
  }
  return { containerId, podUid };
}

function readText(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/** OTEL_SERVICE_NAME (else service.name of OTEL_RESOURCE_ATTRIBUTES) and OTEL_RESOURCE_ATTRIBUTES
 *  of an environment as /proc/PID/environ has it: what a process says of itself. */
export function readEnvironService(environ: string | undefined): { serviceName?: string; resourceAttributes?: Record<string, string> } {
  if (environ === undefined) return {};
  let serviceName: string | undefined;
  let resourceAttributes: Record<string, string> | undefined;
  for (const entry of environ.split('\0')) {
    if (entry.startsWith('OTEL_SERVICE_NAME=')) {
      const v = Buffer.from(entry.slice(18), 'latin1').toString('utf8').trim();
      if (v !== '') serviceName = v;
    } else if (entry.startsWith('OTEL_RESOURCE_ATTRIBUTES=')) {
      const attrs = parseResourceAttributes(Buffer.from(entry.slice(25), 'latin1').toString('utf8'));
      if (Object.keys(attrs).length > 0) resourceAttributes = attrs;
    }
  }
  // OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES (OTel SDK spec).
  const fromAttrs = resourceAttributes?.[ATTR_SERVICE_NAME];
  return { serviceName: serviceName ?? (fromAttrs ? fromAttrs : undefined), resourceAttributes };
}

/**
 * Read what /proc says about a process, without caching. Never throws. `captured` (what the
 * probes took of it) fills in what /proc no longer shows: a process exiting (a zombie) still
 * has its stat but no environment or executable.
 */
export function readProcessInfoUncached(pid: number, comm: string, procRoot = '/proc', startTime?: number, captured?: CapturedProcess): ProcessInfo {
  const base = `${procRoot}/${pid}`;
  let exePath: string | undefined;
  try {
    exePath = fs.readlinkSync(`${base}/exe`);
    if (exePath.endsWith(' (deleted)')) exePath = exePath.slice(0, -10);
  } catch {
    exePath = undefined;
  }
  const slash = exePath ? exePath.lastIndexOf('/') : -1;
  const exeName = exePath && slash < exePath.length - 1 ? exePath.slice(slash + 1) : captured?.exeName || comm;
  const environ = readText(`${base}/environ`);
  const env = readEnvironService(environ !== undefined && environ !== '' ? environ : captured?.environ);
  const cgroup = readText(`${base}/cgroup`) || (captured?.cgroupPath !== undefined ? `0::${captured.cgroupPath}` : undefined);
  const { containerId, podUid } = cgroup !== undefined ? parseCgroup(cgroup) : {};
  const info: ProcessInfo = { pid, comm, exeName, serviceName: env.serviceName ?? exeName };
  if (exePath !== undefined) info.exePath = exePath;
  if (containerId !== undefined) info.containerId = containerId;
  if (podUid !== undefined) info.podUid = podUid;
  if (startTime !== undefined) info.startTime = startTime;
  if (env.resourceAttributes !== undefined) info.resourceAttributes = env.resourceAttributes;
  return info;
}

/** What the probes took of a process while it ran (a proc record, src/capture/record.ts). */
export interface CapturedProcess {
  /** ns after boot the process started. */
  startBoottimeNs: bigint;
  /** NUL-separated entries, as /proc/PID/environ (whole entries only). */
  environ: string;
  /** The executable's file name, '' when unknown. */
  exeName: string;
  /** The cgroup v2 path ('…/' first when only its last names are known), undefined when unknown. */
  cgroupPath: string | undefined;
}

/** Linux's USER_HZ: the unit of /proc/PID/stat's start time, 100 on every architecture Node runs on. */
const USER_HZ_NS = 10_000_000n;

/** /proc/PID/stat's start time (clock ticks after boot) of a captured process. */
function capturedStartTime(p: CapturedProcess): number {
  return Number(p.startBoottimeNs / USER_HZ_NS);
}

/** Where no process is: what the probes took is then all there is. */
const NO_PROC = '/nonexistent/proc';

export interface ProcessInfoReaderOptions {
  procRoot?: string;
  /** Most processes remembered (least recently used go first). Default 4096. */
  maxEntries?: number;
  /** How long a cached entry is trusted before its start time is checked again. Default 2000 ms. */
  revalidateMs?: number;
  /** Clock for revalidation (tests). */
  now?: () => number;
}

interface CacheEntry {
  info: ProcessInfo;
  checkedAt: number;
  /** Thread comms seen for this process (threads may rename themselves), at most 8. */
  comms: string[];
}

/** Cached readProcessInfo. */
export class ProcessInfoReader {
  private readonly procRoot: string;
  private readonly maxEntries: number;
  private readonly revalidateMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<number, CacheEntry>();

  constructor(options: ProcessInfoReaderOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.maxEntries = Math.max(1, options.maxEntries ?? 4096);
    this.revalidateMs = options.revalidateMs ?? 2000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  read(pid: number, comm: string): ProcessInfo {
    const now = this.now();
    const entry = this.entries.get(pid);
    if (entry !== undefined && now - entry.checkedAt < this.revalidateMs && entry.comms.includes(comm)) {
      return entry.info;
    }
    const startTime = readStartTime(pid, this.procRoot);
    if (entry !== undefined) {
      // Gone (keep the last known identity), or still the same incarnation.
      if (startTime === undefined || startTime === entry.info.startTime) {
        if (startTime !== undefined && !entry.comms.includes(comm) && this.execed(entry.info, pid)) {
          return this.store(pid, comm, startTime, now);
        }
        entry.checkedAt = now;
        if (!entry.comms.includes(comm) && entry.comms.length < 8) entry.comms.push(comm);
        this.touch(pid, entry);
        return entry.info;
      }
    }
    return this.store(pid, comm, startTime, now);
  }

  /** Reads (and caches) what /proc says about a running process now, before any of its
   *  records: a short-lived process may be gone when they are handled. */
  prefetch(pid: number): void {
    const comm = readText(`${this.procRoot}/${pid}/comm`)?.trim();
    if (comm !== undefined && comm !== '') this.read(pid, comm);
  }

  /**
   * What the probes took of a process at its first connection, handled before that
   * connection's records: /proc is read now if it still shows the same process (it says more:
   * the executable's path), else the capture is what is known of it. Either way the next
   * read() of this pid finds it, however long the process lived.
   */
  learn(pid: number, comm: string, p: CapturedProcess): void {
    const now = this.now();
    const startTime = capturedStartTime(p);
    // The same process in /proc (it may be exiting: what /proc no longer shows comes from p),
    // else gone, or its pid already another's: p alone.
    const alive = readStartTime(pid, this.procRoot) === startTime;
    const info = readProcessInfoUncached(pid, comm, alive ? this.procRoot : NO_PROC, startTime, p);
    this.touch(pid, { info, checkedAt: now, comms: [comm] });
  }

  /** Drop what is known about a pid (e.g. on a process-exit event once its spans are out). */
  forget(pid: number): void {
    this.entries.delete(pid);
  }

  /** A new comm for a known incarnation: a thread name, or an execve (same pid and start time). */
  private execed(info: ProcessInfo, pid: number): boolean {
    try {
      let exe = fs.readlinkSync(`${this.procRoot}/${pid}/exe`);
      if (exe.endsWith(' (deleted)')) exe = exe.slice(0, -10);
      return exe !== info.exePath;
    } catch {
      return false;
    }
  }

  private store(pid: number, comm: string, startTime: number | undefined, now: number): ProcessInfo {
    const info = readProcessInfoUncached(pid, comm, this.procRoot, startTime);
    this.touch(pid, { info, checkedAt: now, comms: [comm] });
    return info;
  }

  private touch(pid: number, entry: CacheEntry): void {
    this.entries.delete(pid);
    this.entries.set(pid, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
    }
  }
}

const readers = new Map<string, ProcessInfoReader>();

/**
 * What is known about process `pid` (its kernel comm as fallback), read from `procRoot`
 * and cached per (pid, start time). Never throws.
 */
export function readProcessInfo(pid: number, comm: string, procRoot = '/proc'): ProcessInfo {
  let reader = readers.get(procRoot);
  if (reader === undefined) {
    reader = new ProcessInfoReader({ procRoot });
    readers.set(procRoot, reader);
  }
  return reader.read(pid, comm);
}

export interface ResourceFactoryOptions {
  /** host.name; default os.hostname(). */
  hostName?: string;
  /** telemetry.distro.version; default the package version. */
  distroVersion?: string;
  /** Most Resources remembered. Default 4096. */
  maxEntries?: number;
  /** On every Resource, under the process's own OTEL_RESOURCE_ATTRIBUTES and what /proc says:
   *  where the agent runs (the agent's OTEL_RESOURCE_ATTRIBUTES, e.g. k8s.node.name). */
  agentAttributes?: Readonly<Record<string, string>>;
}

/**
 * Builds and caches one Resource per process. The OTLP serializer groups spans by Resource
 * *identity*, so handing out the same object for a process also keeps export requests small.
 */
export class ResourceFactory {
  private readonly hostName: string;
  private readonly distroVersion: string;
  private readonly maxEntries: number;
  private readonly agentAttributes: Readonly<Record<string, string>>;
  private readonly byInfo = new WeakMap<ProcessInfo, Resource>();
  private readonly byKey = new Map<string, Resource>();

  constructor(options: ResourceFactoryOptions = {}) {
    this.hostName = options.hostName ?? os.hostname();
    this.distroVersion = options.distroVersion ?? VERSION;
    this.maxEntries = Math.max(1, options.maxEntries ?? 4096);
    this.agentAttributes = options.agentAttributes ?? {};
  }

  resourceFor(info: ProcessInfo): Resource {
    const known = this.byInfo.get(info);
    if (known !== undefined) return known;
    const key = `${info.pid}\0${info.startTime ?? ''}\0${info.serviceName}\0${info.exeName}\0${info.exePath ?? ''}\0${info.containerId ?? ''}\0${info.podUid ?? ''}`;
    let resource = this.byKey.get(key);
    if (resource === undefined) {
      resource = resourceFromAttributes(this.attributes(info));
      if (this.byKey.size >= this.maxEntries) this.byKey.delete(this.byKey.keys().next().value as string);
      this.byKey.set(key, resource);
    }
    this.byInfo.set(info, resource);
    return resource;
  }

  private attributes(info: ProcessInfo): Attributes {
    // The application's own OTEL_RESOURCE_ATTRIBUTES first (service.namespace,
    // deployment.environment.name, …); what we know from /proc wins over them.
    const attrs: Attributes = { ...this.agentAttributes, ...(info.resourceAttributes ?? {}) };
    attrs[ATTR_SERVICE_NAME] = info.serviceName;
    attrs[ATTR_PROCESS_PID] = info.pid;
    attrs[ATTR_PROCESS_EXECUTABLE_NAME] = info.exeName;
    if (info.exePath !== undefined) attrs[ATTR_PROCESS_EXECUTABLE_PATH] = info.exePath;
    else delete attrs[ATTR_PROCESS_EXECUTABLE_PATH];
    attrs[ATTR_HOST_NAME] = this.hostName;
    if (info.containerId !== undefined) attrs[ATTR_CONTAINER_ID] = info.containerId;
    if (info.podUid !== undefined) attrs[ATTR_K8S_POD_UID] = info.podUid;
    attrs[ATTR_TELEMETRY_DISTRO_NAME] = DISTRO_NAME;
    attrs[ATTR_TELEMETRY_DISTRO_VERSION] = this.distroVersion;
    return attrs;
  }
}

const defaultFactory = new ResourceFactory();

/** The (cached) Resource of a traced process. */
export function resourceFor(info: ProcessInfo): Resource {
  return defaultFactory.resourceFor(info);
}
