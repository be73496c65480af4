// Decoding of ring buffer records (struct tls_event of bpf/tlsotel.h) into plain objects.
import { isIPv4 } from 'node:net';
import { TLSOTEL_COMM_LEN, TlsConnLayout as C, TlsEventFlags, TlsEventLayout as L, TlsEventType } from '../bpf/layout.generated';

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
   * Captured bytes: a view into the buffer given to decodeRecord. From Capture, a copy safe to
   * keep, unless the sink said it keeps no payload (CaptureSink.keepsPayloads = false): then a
   * view of the ring, valid only while the call runs. Shorter than the segment when user
   * memory was unreadable.
   */
  data: Buffer;
}

export interface CloseRecord extends RecordHeader {
  type: 'close';
}

/** The TCP socket under a connection, found once (see bpf/tlsotel.bpf.c, tls_sys_enter). */
export interface ConnRecord extends RecordHeader {
  type: 'conn';
  fd: number;
  addresses: ConnectionAddresses;
}

export type TlsRecord = DataRecord | CloseRecord | ConnRecord;

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
  if (type === TlsEventType.TLS_EVENT_CLOSE) return { type: 'close', tsNs, conn, pid, tid, comm, libId };
  if (type === TlsEventType.TLS_EVENT_CONN) {
    if (buf.length < L.SIZE + C.SIZE) return null;
    const c = decodeConn(buf, L.data);
    return c && { type: 'conn', tsNs, conn, pid, tid, comm, libId, fd: c.fd, addresses: c.addresses };
  }
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
    data: buf.subarray(L.data, L.data + capLen),
  };
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
