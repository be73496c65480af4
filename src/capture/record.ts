// Ring buffer records (struct tls_event of bpf/tlsotel.h): decoding into plain objects, and the
// one encoder that writes them back as the BPF side does (for tests, benchmarks and recorded
// captures), side by side so that a layout change meets both.
import { isIPv4, isIPv6 } from 'node:net';
import {
  TLSOTEL_COMM_LEN, TLSOTEL_MAX_PAYLOAD, TLSOTEL_PROC_CGROUP_DEPTH, TLSOTEL_PROC_EXE_LEN, TLSOTEL_PROC_NAME_LEN,
  TlsConnLayout as C, TlsEventFlags, TlsEventLayout as L, TlsEventType, TlsProcLayout as P,
} from '../bpf/layout.generated';

export type Direction = 'write' | 'read';

/** Addresses of the TCP connection under a TLS session (from a conn record). */
export interface ConnectionAddresses {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  family: 'ipv4' | 'ipv6';
}

/** What every record says: when, which connection, which process, which probed file. */
interface RecordHeader {
  tsNs: bigint;
  /** SSL* pointer; with pid names one connection. */
  conn: bigint;
  pid: number;
  tid: number;
  comm: string;
  /** The probed file (0 for records of the syscall hook, which belongs to no file). */
  libId: number;
}

export interface DataRecord extends RecordHeader {
  type: 'data';
  dir: Direction;
  /** Bytes the whole call transferred. */
  callLen: number;
  /** Offset of `data` within the call. */
  offset: number;
  /** Last record of the call: callLen - offset - data.length bytes after it were not captured. */
  last: boolean;
  /** Bytes of whole calls lost (ring buffer full) just before this one, on this connection and direction. */
  lostBefore: number;
  /** Bytes of whole calls in the other direction lost since that direction's last record. */
  lostOther: number;
  /**
   * Bytes of the call right after `data` (at offset + data.length) that the BPF side took for
   * HTTP/1 body bytes and counted instead of copying (bpf/tlsotel.bpf.c, body skipping). A
   * claim about framing, not a fact: the stream's consumer accepts them only where its parser
   * expects body bytes (see StreamSink.onSkip).
   */
  skipped: number;
  /**
   * Captured bytes: a view into the buffer given to decodeRecord. From Capture, a copy safe to
   * keep, unless the sink said it keeps no payload (CaptureSink.keepsPayloads = false): then a
   * view of the ring, valid only while the call runs. Shorter than the segment when user
   * memory was unreadable.
   */
  data: Buffer;
}

/** The connection ended (SSL_free…). One that did not fit in the ring when it ended comes later,
 *  just before the next record at the same address (a new connection there), with the time it
 *  ended: its time may be older than records of other connections before it. */
export interface CloseRecord extends RecordHeader {
  type: 'close';
  /** Bytes of whole calls of the connection lost (ring buffer full) since its last record, by
   *  direction; absent when none were. */
  lostWritten?: number;
  lostRead?: number;
}

/** The TCP socket under a connection, found once (see bpf/tlsotel.bpf.c, tls_sys_enter). */
export interface ConnRecord extends RecordHeader {
  type: 'conn';
  fd: number;
  addresses: ConnectionAddresses;
}

/**
 * Who a process is (struct tls_proc, bpf/tlsotel.bpf.c proc_identity): taken by the probes at
 * the process's first connection, before that connection's records, so that a process gone
 * before its records are handled (a curl, a script) is still known by its environment. Sent
 * again after an exec.
 */
export interface ProcRecord extends RecordHeader {
  type: 'proc';
  /** When the process started, ns after boot: /proc/PID/stat field 22 × 10^7 (USER_HZ 100). */
  startBoottimeNs: bigint;
  /** The environment as /proc/PID/environ has it (NUL-separated, latin1), whole entries only:
   *  when the probes cut it, the entry cut is left out (never a value cut short). An environment
   *  larger than a record holds comes as its OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
   *  entries only (bpf/tlsotel.bpf.c env_otel_entries). */
  environ: string;
  /** False when the environment was longer than the probes take: entries are missing. */
  environWhole: boolean;
  /** The executable's file name ('' when unknown; cut at 63 bytes). */
  exeName: string;
  /** The process's cgroup v2 path names from the root ('/'-joined, leading '/'), or, when the
   *  path is deeper than the probes walk, its last names after '…/'; undefined when unknown. */
  cgroupPath: string | undefined;
}

export type TlsRecord = DataRecord | CloseRecord | ConnRecord | ProcRecord;

const AF_INET = 2;
const AF_INET6 = 10;

/** IPv6 text in the usual compressed form; IPv4-mapped addresses (::ffff:a.b.c.d) as plain IPv4. */
function ipText(buf: Buffer, off: number, family: number): string {
  if (family === AF_INET) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  let mapped = buf.readUInt16BE(off + 10) === 0xffff;
  for (let i = 0; i < 10 && mapped; i++) if (buf[off + i] !== 0) mapped = false;
  if (mapped) return `${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(off + i));
  // Longest run of zero groups (length >= 2) becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function decodeConn(buf: Buffer, off: number): { fd: number; addresses: ConnectionAddresses } | null {
  const family = buf.readUInt16LE(off + C.family);
  if (family !== AF_INET && family !== AF_INET6) return null;
  const local = ipText(buf, off + C.local_addr, family);
  const remote = ipText(buf, off + C.remote_addr, family);
  return {
    fd: buf.readInt32LE(off + C.fd),
    addresses: {
      localAddress: local,
      localPort: buf.readUInt16LE(off + C.local_port),
      remoteAddress: remote,
      remotePort: buf.readUInt16LE(off + C.remote_port),
      // An IPv4-mapped peer on an IPv6 socket is IPv4 on the wire.
      family: isIPv4(remote) ? 'ipv4' : 'ipv6',
    },
  };
}

// Field readers for decodeRecord. Buffer#readUInt32LE / readBigUInt64LE validate their
// argument and (the 64-bit one) build three BigInts; here the bounds are checked once per
// record (buf.length >= L.SIZE), so plain byte arithmetic is enough.

function u32(buf: Buffer, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)) + buf[off + 3] * 0x1000000;
}

/** A u64 as a bigint: one BigInt from a Number while it fits in 53 bits (always, for
 *  pointers; for monotonic ns until 104 days of uptime), the exact slow way past that. */
function u64(buf: Buffer, off: number): bigint {
  const lo = u32(buf, off);
  const hi = u32(buf, off + 4);
  return hi < 0x200000 ? BigInt(hi * 0x100000000 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/** A u64 as a number (byte counts: exact up to 2^53). */
function u64Number(buf: Buffer, off: number): number {
  return u32(buf, off + 4) * 0x100000000 + u32(buf, off);
}

// comm is the same few names over and over: decoded strings are kept in a small cache keyed by
// a hash of the bytes (checked byte for byte on a hit), which spares a Buffer#indexOf and a
// Buffer#toString per record and shares one string between records.
const COMM_SLOTS = 64;
const commBytes = Buffer.alloc(COMM_SLOTS * TLSOTEL_COMM_LEN);
const commLens = new Int8Array(COMM_SLOTS).fill(-1);
const commStrings: string[] = new Array<string>(COMM_SLOTS).fill('');

/** The NUL-terminated comm at buf[off], at most TLSOTEL_COMM_LEN bytes (no NUL when full). */
function commAt(buf: Buffer, off: number): string {
  let h = 0;
  let n = 0;
  for (; n < TLSOTEL_COMM_LEN; n++) {
    const b = buf[off + n];
    if (b === 0) break;
    h = (Math.imul(h, 31) + b) | 0;
  }
  const slot = (h ^ (h >>> 11)) & (COMM_SLOTS - 1);
  const base = slot * TLSOTEL_COMM_LEN;
  if (commLens[slot] === n) {
    let i = 0;
    while (i < n && commBytes[base + i] === buf[off + i]) i++;
    if (i === n) return commStrings[slot];
  }
  const s = buf.toString('latin1', off, off + n);
  buf.copy(commBytes, base, off, off + n);
  commLens[slot] = n;
  commStrings[slot] = s;
  return s;
}

/**
 * Decodes one record; null when malformed. The payload is not copied (`data` is a view of
 * `buf`), everything else is: copying every payload cost more than anything else in decoding,
 * and the pipeline keeps none (the stream table passes it on, the HTTP parser copies only an
 * unfinished line). Whoever keeps payloads decodes from a copy (see RecordCopier).
 */
export function decodeRecord(buf: Buffer): TlsRecord | null {
  if (buf.length < L.SIZE) return null;
  const type = u32(buf, L.type);
  const tsNs = u64(buf, L.ts_ns);
  const conn = u64(buf, L.conn);
  const pid = u32(buf, L.pid);
  const tid = u32(buf, L.tid);
  const libId = u32(buf, L.lib_id);
  const comm = commAt(buf, L.comm);
  if (type === TlsEventType.TLS_EVENT_CLOSE) {
    if ((u32(buf, L.flags) & TlsEventFlags.TLS_FLAG_LOSS_BEFORE) === 0) return { type: 'close', tsNs, conn, pid, tid, comm, libId };
    return { type: 'close', tsNs, conn, pid, tid, comm, libId, lostWritten: u64Number(buf, L.lost_bytes), lostRead: u64Number(buf, L.lost_other) };
  }
  if (type === TlsEventType.TLS_EVENT_CONN) {
    if (buf.length < L.SIZE + C.SIZE) return null;
    const c = decodeConn(buf, L.data);
    return c && { type: 'conn', tsNs, conn, pid, tid, comm, libId, fd: c.fd, addresses: c.addresses };
  }
  if (type === TlsEventType.TLS_EVENT_PROC) return decodeProc(buf, { tsNs, conn, pid, tid, comm, libId });
  if (type !== TlsEventType.TLS_EVENT_DATA) return null;
  const flags = u32(buf, L.flags);
  const capLen = u32(buf, L.cap_len);
  if (L.SIZE + capLen > buf.length) return null;
  const loss = (flags & TlsEventFlags.TLS_FLAG_LOSS_BEFORE) !== 0;
  return {
    type: 'data',
    tsNs,
    conn,
    pid,
    tid,
    comm,
    libId,
    dir: flags & TlsEventFlags.TLS_FLAG_READ ? 'read' : 'write',
    callLen: u32(buf, L.call_len),
    offset: u32(buf, L.offset),
    last: (flags & TlsEventFlags.TLS_FLAG_LAST) !== 0,
    lostBefore: loss ? u64Number(buf, L.lost_bytes) : 0,
    lostOther: loss ? u64Number(buf, L.lost_other) : 0,
    skipped: u32(buf, L.skipped),
    data: buf.subarray(L.data, L.data + capLen),
  };
}

/** A NUL-terminated string of at most `max` bytes at buf[off]. */
function cString(buf: Buffer, off: number, max: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end < 0 || end > off + max ? off + max : end);
}

function decodeProc(buf: Buffer, h: RecordHeader): ProcRecord | null {
  const capLen = u32(buf, L.cap_len);
  if (capLen < P.SIZE || L.SIZE + capLen > buf.length) return null;
  const p = L.data;
  const envLen = u32(buf, p + P.env_len);
  const envTotal = u32(buf, p + P.env_total);
  const cgLen = u32(buf, p + P.cgroup_len);
  const whole = u32(buf, p + P.cgroup_whole);
  if (P.SIZE + cgLen + envLen !== capLen || envLen > envTotal || whole > 1) return null;
  // Names, leaf first, each NUL-terminated.
  const names: string[] = [];
  for (let at = p + P.SIZE, end = at + cgLen; at < end;) {
    const nul = buf.indexOf(0, at);
    if (nul < 0 || nul >= end || nul === at || nul - at >= TLSOTEL_PROC_NAME_LEN) return null;
    names.push(buf.toString('latin1', at, nul));
    at = nul + 1;
  }
  if (names.length > TLSOTEL_PROC_CGROUP_DEPTH) return null;
  const cgroupPath = whole === 1 ? `/${names.reverse().join('/')}` : names.length > 0 ? `…/${names.reverse().join('/')}` : undefined;
  const environWhole = envLen === envTotal;
  const envAt = p + P.SIZE + cgLen;
  let env = buf.subarray(envAt, envAt + envLen);
  if (!environWhole) {
    // Cut by the probes: the last entry may be cut short, so it is left out.
    env = env.subarray(0, env.lastIndexOf(0) + 1);
  }
  return {
    type: 'proc',
    ...h,
    startBoottimeNs: u64(buf, p + P.start_boottime),
    environ: env.toString('latin1'),
    environWhole,
    exeName: cString(buf, p + P.exe, TLSOTEL_PROC_EXE_LEN),
    cgroupPath,
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding: decodeRecord's inverse. decodeRecord(encodeRecord(r)) equals r for every record it
// accepts, and encodeRecord(decodeRecord(b)) gives b back for every well-formed record b whose
// ignored bytes (padding, comm after its NUL, lost_* without LOSS_BEFORE, the unused 12 bytes of
// an IPv4 address) are zero.

/**
 * A record to encode: what decodeRecord returns. A conn record may say its socket's address
 * family when it differs from its addresses': an IPv6 socket connected to an IPv4 peer holds
 * IPv4-mapped addresses (::ffff:a.b.c.d), which decode as plain IPv4.
 */
export type EncodableRecord =
  | (Omit<DataRecord, 'skipped'> & { skipped?: number })
  | CloseRecord
  | (ConnRecord & { socketFamily?: 'ipv4' | 'ipv6' })
  | ProcRecord;

/** A proc record's cgroup path names, root first, and the bytes they take packed (each
 *  NUL-terminated), checked as the BPF side could write them. */
function procNames(rec: ProcRecord): { names: string[]; bytes: number } {
  const path = rec.cgroupPath;
  if (path === undefined) return { names: [], bytes: 0 };
  const whole = path.startsWith('/');
  if (!whole && !path.startsWith('…/')) throw new RangeError('encodeRecord: cgroupPath starts with "/" or "…/"');
  const rest = path.slice(whole ? 1 : 2);
  const names = rest === '' ? [] : rest.split('/');
  if (names.length > TLSOTEL_PROC_CGROUP_DEPTH || names.some((n) => n === '' || n.length >= TLSOTEL_PROC_NAME_LEN || n.includes('\0'))) {
    throw new RangeError(`encodeRecord: cgroupPath must have at most ${TLSOTEL_PROC_CGROUP_DEPTH} non-empty names under ${TLSOTEL_PROC_NAME_LEN} characters`);
  }
  if (!whole && names.length === 0) throw new RangeError('encodeRecord: a partial cgroupPath has names');
  return { names, bytes: names.reduce((n, x) => n + x.length + 1, 0) };
}

/** Bytes encodeRecord writes for `rec` (before the ring's 8-byte alignment). */
export function encodedSize(rec: EncodableRecord): number {
  if (rec.type === 'proc') return L.SIZE + P.SIZE + procNames(rec).bytes + rec.environ.length;
  return rec.type === 'data' ? L.SIZE + rec.data.length : rec.type === 'conn' ? L.SIZE + C.SIZE : L.SIZE;
}

function checkInt(what: string, v: number, max: number, min = 0): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new RangeError(`encodeRecord: ${what} must be an integer in ${min}..${max}, got ${v}`);
}

function checkU64(what: string, v: bigint): void {
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`encodeRecord: ${what} must fit in 64 bits unsigned, got ${v}`);
}

const U32_MAX = 0xffff_ffff;

/** The 16 address bytes of struct tls_conn for `text` on a socket of `family`. */
function putIp(text: string, family: number, buf: Buffer, off: number): void {
  buf.fill(0, off, off + 16);
  if (isIPv4(text)) {
    const at = family === AF_INET ? off : off + 12;
    if (family === AF_INET6) buf.writeUInt16BE(0xffff, off + 10);
    text.split('.').forEach((b, i) => { buf[at + i] = Number(b); });
    return;
  }
  if (family !== AF_INET6 || !isIPv6(text) || text.includes('%')) throw new RangeError(`encodeRecord: "${text}" is not an address of an ${family === AF_INET ? 'IPv4' : 'IPv6'} socket`);
  // Groups before and after "::"; a dotted IPv4 tail counts as two groups.
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => buf.writeUInt16BE(g, off + 2 * i));
}

/**
 * Writes `rec` as the BPF side does (struct tls_event, then the payload or struct tls_conn) at
 * `into[at]` (default: a new buffer of encodedSize(rec) bytes) and returns a view of the bytes
 * written. Throws a RangeError naming the field when a value does not fit the record (a pid past
 * 32 bits, a comm longer than 16 latin1 characters or holding a NUL, an address that is not one).
 */
export function encodeRecord(rec: EncodableRecord, into?: Buffer, at = 0): Buffer {
  const size = encodedSize(rec);
  const buf = into ?? Buffer.alloc(size);
  if (at < 0 || at + size > buf.length) throw new RangeError(`encodeRecord: ${size} bytes do not fit at offset ${at} of a ${buf.length}-byte buffer`);
  checkU64('tsNs', rec.tsNs);
  checkU64('conn', rec.conn);
  checkInt('pid', rec.pid, U32_MAX);
  checkInt('tid', rec.tid, U32_MAX);
  checkInt('libId', rec.libId, U32_MAX);
  if (rec.comm.length > TLSOTEL_COMM_LEN || !/^[\x01-\xff]*$/.test(rec.comm)) {
    throw new RangeError(`encodeRecord: comm must be at most ${TLSOTEL_COMM_LEN} latin1 characters without NUL, got ${JSON.stringify(rec.comm)}`);
  }
  buf.fill(0, at, at + L.SIZE);
  let flags = 0;
  let type: number = TlsEventType.TLS_EVENT_CLOSE;
  let capLen = 0;
  if (rec.type === 'data') {
    type = TlsEventType.TLS_EVENT_DATA;
    checkInt('callLen', rec.callLen, U32_MAX);
    checkInt('offset', rec.offset, U32_MAX);
    checkInt('lostBefore', rec.lostBefore, Number.MAX_SAFE_INTEGER);
    checkInt('lostOther', rec.lostOther, Number.MAX_SAFE_INTEGER);
    checkInt('skipped', rec.skipped ?? 0, U32_MAX);
    capLen = rec.data.length;
    if (rec.dir === 'read') flags |= TlsEventFlags.TLS_FLAG_READ;
    if (rec.last) flags |= TlsEventFlags.TLS_FLAG_LAST;
    if (rec.lostBefore > 0 || rec.lostOther > 0) {
      flags |= TlsEventFlags.TLS_FLAG_LOSS_BEFORE;
      buf.writeBigUInt64LE(BigInt(rec.lostBefore), at + L.lost_bytes);
      buf.writeBigUInt64LE(BigInt(rec.lostOther), at + L.lost_other);
    }
    buf.writeUInt32LE(rec.callLen, at + L.call_len);
    buf.writeUInt32LE(rec.offset, at + L.offset);
    buf.writeUInt32LE(rec.skipped ?? 0, at + L.skipped);
    rec.data.copy(buf, at + L.data);
  } else if (rec.type === 'conn') {
    type = TlsEventType.TLS_EVENT_CONN;
    capLen = C.SIZE;
    const a = rec.addresses;
    if (a.family !== (isIPv4(a.remoteAddress) ? 'ipv4' : 'ipv6')) {
      throw new RangeError(`encodeRecord: addresses.family ${a.family} does not match remote address ${a.remoteAddress} (decodeRecord derives one from the other)`);
    }
    checkInt('fd', rec.fd, 0x7fff_ffff, -0x8000_0000);
    checkInt('localPort', a.localPort, 0xffff);
    checkInt('remotePort', a.remotePort, 0xffff);
    const v4 = isIPv4(a.localAddress) && isIPv4(a.remoteAddress);
    const family = (rec.socketFamily ?? (v4 ? 'ipv4' : 'ipv6')) === 'ipv4' ? AF_INET : AF_INET6;
    const c = at + L.data;
    buf.fill(0, c, c + C.SIZE);
    buf.writeUInt16LE(family, c + C.family);
    buf.writeUInt16LE(a.localPort, c + C.local_port);
    buf.writeUInt16LE(a.remotePort, c + C.remote_port);
    buf.writeInt32LE(rec.fd, c + C.fd);
    putIp(a.localAddress, family, buf, c + C.local_addr);
    putIp(a.remoteAddress, family, buf, c + C.remote_addr);
  } else if (rec.type === 'proc') {
    type = TlsEventType.TLS_EVENT_PROC;
    const { names, bytes: cg } = procNames(rec);
    capLen = P.SIZE + cg + rec.environ.length;
    if (capLen > TLSOTEL_MAX_PAYLOAD) throw new RangeError(`encodeRecord: a proc record's payload must be at most ${TLSOTEL_MAX_PAYLOAD} bytes, got ${capLen}`);
    checkU64('startBoottimeNs', rec.startBoottimeNs);
    if (rec.exeName.length >= TLSOTEL_PROC_EXE_LEN || rec.exeName.includes('\0')) throw new RangeError(`encodeRecord: exeName must be under ${TLSOTEL_PROC_EXE_LEN} latin1 characters without NUL`);
    if (!rec.environWhole && rec.environ !== '' && !rec.environ.endsWith('\0')) throw new RangeError('encodeRecord: a cut environ holds whole entries (ends with NUL)');
    const c = at + L.data;
    buf.fill(0, c, c + P.SIZE);
    buf.writeBigUInt64LE(rec.startBoottimeNs, c + P.start_boottime);
    buf.writeUInt32LE(rec.environ.length, c + P.env_len);
    // A cut environment: the probes' copy ends wherever the cap fell; one more byte says so.
    buf.writeUInt32LE(rec.environ.length + (rec.environWhole ? 0 : 1), c + P.env_total);
    buf.writeUInt32LE(cg, c + P.cgroup_len);
    buf.writeUInt32LE(rec.cgroupPath?.startsWith('/') ? 1 : 0, c + P.cgroup_whole);
    buf.write(rec.exeName, c + P.exe, 'latin1');
    let o = c + P.SIZE;
    for (const n of [...names].reverse()) {
      o += buf.write(n, o, 'latin1');
      buf[o++] = 0;
    }
    buf.write(rec.environ, o, 'latin1');
  } else if (rec.lostWritten !== undefined || rec.lostRead !== undefined) {
    // A close that carries losses: the flag and both counts, as the BPF side writes them.
    checkInt('lostWritten', rec.lostWritten ?? 0, Number.MAX_SAFE_INTEGER);
    checkInt('lostRead', rec.lostRead ?? 0, Number.MAX_SAFE_INTEGER);
    flags |= TlsEventFlags.TLS_FLAG_LOSS_BEFORE;
    buf.writeBigUInt64LE(BigInt(rec.lostWritten ?? 0), at + L.lost_bytes);
    buf.writeBigUInt64LE(BigInt(rec.lostRead ?? 0), at + L.lost_other);
  }
  buf.writeUInt32LE(type, at + L.type);
  buf.writeUInt32LE(flags, at + L.flags);
  buf.writeBigUInt64LE(rec.tsNs, at + L.ts_ns);
  buf.writeBigUInt64LE(rec.conn, at + L.conn);
  buf.writeUInt32LE(rec.pid, at + L.pid);
  buf.writeUInt32LE(rec.tid, at + L.tid);
  buf.writeUInt32LE(capLen, at + L.cap_len);
  buf.writeUInt32LE(rec.libId, at + L.lib_id);
  buf.write(rec.comm, at + L.comm, 'latin1');
  return buf.subarray(at, at + size);
}

/**
 * Copies records out of the ring for sinks that keep payloads past the call (see
 * CaptureSink.keepsPayloads): records are laid end to end in buffers of our own that are never
 * written again once filled (the GC frees one when nothing refers to it any more), so a copy
 * stays valid for as long as it is referenced, at one allocation per batch, not per record.
 */
export class RecordCopier {
  private batch = Buffer.alloc(0);
  private used = 0;

  constructor(private readonly batchBytes = 256 * 1024) {}

  /** A copy of `rec` that nothing overwrites. */
  copy(rec: Buffer): Buffer {
    const n = rec.length;
    if (this.used + n > this.batch.length) {
      this.batch = Buffer.allocUnsafeSlow(Math.max(this.batchBytes, n));
      this.used = 0;
    }
    const at = this.used;
    rec.copy(this.batch, at);
    this.used = at + n;
    return this.batch.subarray(at, at + n);
  }
}
