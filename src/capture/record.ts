// Decoding of ring buffer records (struct tls_event of bpf/tlsotel.h) into plain objects.
import { TlsEventFlags, TlsEventLayout as L, TlsEventType } from '../bpf/layout.generated';

export type Direction = 'write' | 'read';

export interface DataRecord {
  type: 'data';
  tsNs: bigint;
  /** SSL* pointer; with pid names one connection. */
  conn: bigint;
  pid: number;
  tid: number;
  comm: string;
  libId: number;
  dir: Direction;
  /** Bytes the whole call transferred. */
  callLen: number;
  /** Offset of `data` within the call. */
  offset: number;
  /** Last record of the call: callLen - offset - data.length bytes after it were not captured. */
  last: boolean;
  /** Bytes of whole calls lost (ring buffer full) just before this one, on this connection and direction. */
  lostBefore: number;
  /** Captured bytes (a copy: safe to keep). Shorter than the segment when user memory was unreadable. */
  data: Buffer;
}

export interface CloseRecord {
  type: 'close';
  tsNs: bigint;
  conn: bigint;
  pid: number;
  tid: number;
  comm: string;
  libId: number;
}

export type TlsRecord = DataRecord | CloseRecord;

/** Decodes one record; `buf` may be a view into the ring (the payload is copied). Null when malformed. */
export function decodeRecord(buf: Buffer): TlsRecord | null {
  if (buf.length < L.SIZE) return null;
  const type = buf.readUInt32LE(L.type);
  const tsNs = buf.readBigUInt64LE(L.ts_ns);
  const conn = buf.readBigUInt64LE(L.conn);
  const pid = buf.readUInt32LE(L.pid);
  const tid = buf.readUInt32LE(L.tid);
  const libId = buf.readUInt32LE(L.lib_id);
  const commEnd = buf.indexOf(0, L.comm);
  const comm = buf.toString('latin1', L.comm, commEnd < 0 || commEnd > L.data ? L.data : commEnd);
  if (type === TlsEventType.TLS_EVENT_CLOSE) return { type: 'close', tsNs, conn, pid, tid, comm, libId };
  if (type !== TlsEventType.TLS_EVENT_DATA) return null;
  const flags = buf.readUInt32LE(L.flags);
  const capLen = buf.readUInt32LE(L.cap_len);
  if (L.SIZE + capLen > buf.length) return null;
  return {
    type: 'data',
    tsNs,
    conn,
    pid,
    tid,
    comm,
    libId,
    dir: flags & TlsEventFlags.TLS_FLAG_READ ? 'read' : 'write',
    callLen: buf.readUInt32LE(L.call_len),
    offset: buf.readUInt32LE(L.offset),
    last: (flags & TlsEventFlags.TLS_FLAG_LAST) !== 0,
    lostBefore: flags & TlsEventFlags.TLS_FLAG_LOSS_BEFORE ? Number(buf.readBigUInt64LE(L.lost_bytes)) : 0,
    data: Buffer.from(buf.subarray(L.data, L.data + capLen)),
  };
}
