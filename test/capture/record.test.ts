// decodeRecord against records built by hand with the generated layout of struct tls_event
// (bpf/tlsotel.h): no BPF involved.
import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, RecordCopier, type CloseRecord, type DataRecord } from '../../src/capture/record';
import { TlsEventFlags as F, TlsEventLayout as L, TlsEventType as T, TLSOTEL_COMM_LEN } from '../../src/bpf/layout.generated';

interface Fields {
  type?: number;
  flags?: number;
  tsNs?: bigint;
  conn?: bigint;
  pid?: number;
  tid?: number;
  callLen?: number;
  offset?: number;
  /** Defaults to data.length; set it to lie about the payload size. */
  capLen?: number;
  libId?: number;
  lostBytes?: bigint;
  /** Raw comm bytes (at most 16); a string is written as latin1 then NUL-padded. */
  comm?: string | Buffer;
  data?: Buffer;
  /** Bytes appended after the payload (ring records are padded). */
  trailing?: number;
  lostOther?: bigint;
}

/** struct tls_event + payload, as the BPF side writes it. */
function encode(f: Fields = {}): Buffer {
  const data = f.data ?? Buffer.alloc(0);
  const buf = Buffer.alloc(L.SIZE + data.length + (f.trailing ?? 0), 0xee);
  buf.fill(0, 0, L.SIZE);
  buf.writeUInt32LE(f.type ?? T.TLS_EVENT_DATA, L.type);
  buf.writeUInt32LE(f.flags ?? 0, L.flags);
  buf.writeBigUInt64LE(f.tsNs ?? 1_000n, L.ts_ns);
  buf.writeBigUInt64LE(f.conn ?? 0x5555_0000_1234n, L.conn);
  buf.writeUInt32LE(f.pid ?? 4242, L.pid);
  buf.writeUInt32LE(f.tid ?? 4243, L.tid);
  buf.writeUInt32LE(f.callLen ?? data.length, L.call_len);
  buf.writeUInt32LE(f.offset ?? 0, L.offset);
  buf.writeUInt32LE(f.capLen ?? data.length, L.cap_len);
  buf.writeUInt32LE(f.libId ?? 3, L.lib_id);
  buf.writeBigUInt64LE(f.lostBytes ?? 0n, L.lost_bytes);
  buf.writeBigUInt64LE(f.lostOther ?? 0n, L.lost_other);
  const comm = typeof f.comm === 'string' ? Buffer.from(f.comm, 'latin1') : (f.comm ?? Buffer.from('curl', 'latin1'));
  assert.ok(comm.length <= TLSOTEL_COMM_LEN);
  comm.copy(buf, L.comm);
  data.copy(buf, L.data);
  return buf;
}

function decodeData(buf: Buffer): DataRecord {
  const r = decodeRecord(buf);
  assert.ok(r, 'decoded');
  assert.equal(r.type, 'data');
  return r as DataRecord;
}

test('layout: header fields sit where bpf/tlsotel.h puts them', () => {
  assert.equal(L.SIZE, 80);
  assert.equal(L.data, L.SIZE);
  assert.equal(L.comm + TLSOTEL_COMM_LEN, L.data);
});

test('data record: every header field and the payload', () => {
  const payload = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const r = decodeData(
    encode({
      tsNs: 0x1234_5678_9abc_def0n,
      conn: 0x7fff_dead_beef_0010n,
      pid: 4_000_000_000,
      tid: 17,
      callLen: 1000,
      offset: 0,
      libId: 9,
      comm: 'python3',
      data: payload,
    }),
  );
  assert.deepEqual(r, {
    type: 'data',
    tsNs: 0x1234_5678_9abc_def0n,
    conn: 0x7fff_dead_beef_0010n,
    pid: 4_000_000_000,
    tid: 17,
    comm: 'python3',
    libId: 9,
    dir: 'write',
    callLen: 1000,
    offset: 0,
    last: false,
    lostBefore: 0,
    lostOther: 0,
    data: payload,
  });
});

test('data record: READ flag gives dir read, its absence dir write', () => {
  assert.equal(decodeData(encode({ flags: F.TLS_FLAG_READ, data: Buffer.from('x') })).dir, 'read');
  assert.equal(decodeData(encode({ flags: 0, data: Buffer.from('x') })).dir, 'write');
  assert.equal(decodeData(encode({ flags: F.TLS_FLAG_LAST, data: Buffer.from('x') })).dir, 'write');
});

test('data record: LAST flag, with offset within the call', () => {
  const r = decodeData(encode({ flags: F.TLS_FLAG_LAST | F.TLS_FLAG_READ, callLen: 50_000, offset: 32_768, data: Buffer.alloc(100, 1) }));
  assert.equal(r.last, true);
  assert.equal(r.dir, 'read');
  assert.equal(r.offset, 32_768);
  assert.equal(r.callLen, 50_000);
  assert.equal(r.data.length, 100);
  assert.equal(decodeData(encode({ flags: F.TLS_FLAG_READ, data: Buffer.alloc(1) })).last, false);
});

test('data record: LOSS_BEFORE carries lost_bytes; without the flag lost_bytes is ignored', () => {
  const withFlag = decodeData(encode({ flags: F.TLS_FLAG_LOSS_BEFORE, lostBytes: 123_456n, data: Buffer.from('a') }));
  assert.equal(withFlag.lostBefore, 123_456);
  const big = decodeData(encode({ flags: F.TLS_FLAG_LOSS_BEFORE | F.TLS_FLAG_READ | F.TLS_FLAG_LAST, lostBytes: 1n << 40n, data: Buffer.from('a') }));
  assert.equal(big.lostBefore, 2 ** 40);
  assert.equal(big.dir, 'read');
  assert.equal(big.last, true);
  const noFlag = decodeData(encode({ flags: F.TLS_FLAG_LAST, lostBytes: 999n, lostOther: 5n, data: Buffer.from('a') }));
  assert.equal(noFlag.lostBefore, 0);
  assert.equal(noFlag.lostOther, 0);
  const other = decodeData(encode({ flags: F.TLS_FLAG_LOSS_BEFORE, lostBytes: 0n, lostOther: 777n, data: Buffer.from('a') }));
  assert.equal(other.lostBefore, 0);
  assert.equal(other.lostOther, 777);
});

test('data record: cap_len 0 (unreadable memory) decodes to an empty payload', () => {
  const r = decodeData(encode({ callLen: 4096, offset: 0, flags: F.TLS_FLAG_LAST }));
  assert.equal(r.data.length, 0);
  assert.equal(r.callLen, 4096);
});

test('data record: bytes after cap_len (ring padding) are not part of the payload', () => {
  const r = decodeData(encode({ data: Buffer.from('abc'), trailing: 5 }));
  assert.equal(r.data.toString('latin1'), 'abc');
});

test('comm: stops at the first NUL, ignores what follows it', () => {
  const raw = Buffer.alloc(16, 0);
  raw.write('node\0garbage!', 'latin1');
  assert.equal(decodeData(encode({ comm: raw, data: Buffer.from('x') })).comm, 'node');
  assert.equal(decodeData(encode({ comm: '' })).comm, '');
});

test('comm: 15 characters + NUL (the kernel maximum)', () => {
  const r = decodeData(encode({ comm: 'abcdefghijklmno', data: Buffer.from('PAYLOAD') }));
  assert.equal(r.comm, 'abcdefghijklmno');
});

test('comm: 16 bytes with no NUL never runs into the payload', () => {
  // payload with no NUL at all, then one with a NUL a few bytes in
  const a = decodeData(encode({ comm: 'ABCDEFGHIJKLMNOP', data: Buffer.from('PAYLOAD') }));
  assert.equal(a.comm, 'ABCDEFGHIJKLMNOP');
  const b = decodeData(encode({ comm: 'ABCDEFGHIJKLMNOP', data: Buffer.from('XY\0Z') }));
  assert.equal(b.comm, 'ABCDEFGHIJKLMNOP');
  const c = decodeRecord(encode({ type: T.TLS_EVENT_CLOSE, comm: 'ABCDEFGHIJKLMNOP' })) as CloseRecord;
  assert.equal(c.comm, 'ABCDEFGHIJKLMNOP');
});

test('payload is a view of the record (not copied); every other field is a copy', () => {
  const buf = encode({ data: Buffer.from('hello world') });
  const r = decodeData(buf);
  assert.equal(r.data.buffer, buf.buffer);
  assert.equal(r.data.byteOffset, buf.byteOffset + L.data);
  buf.fill(0x41, L.data);
  buf.fill(0, L.comm, L.data);
  assert.equal(r.data.toString('latin1'), 'AAAAAAAAAAA', 'the view sees the ring reused');
  assert.equal(r.comm, 'curl');
  assert.equal(r.tsNs, 1_000n);
});

test('comm: decoded strings are cached; many names, repeated and interleaved, stay exact', () => {
  const names = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `w${i}` : i % 3 === 1 ? `worker-${i}`.slice(0, 15) : `${'x'.repeat(i % 16)}`));
  names.push('ABCDEFGHIJKLMNOP', 'ABCDEFGHIJKLMNOQ', 'python3', 'python4', '\u00e9t\u00e9');
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i * 7 + round * 13) % names.length];
      const raw = Buffer.alloc(16, 0);
      raw.write(n, 'latin1');
      assert.equal(decodeData(encode({ comm: raw, data: Buffer.from('x') })).comm, n);
    }
  }
});

test('64-bit fields: exact past 2^53, as read by readBigUInt64LE', () => {
  for (const v of [0n, 1n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 0xffff_ffff_ffff_ffffn, 0x0020_0000_0000_0000n, 0x001f_ffff_ffff_ffffn]) {
    const r = decodeData(encode({ tsNs: v, conn: v ^ 0x5555n, data: Buffer.from('x') }));
    assert.equal(r.tsNs, v);
    assert.equal(r.conn, v ^ 0x5555n);
  }
  const lost = decodeData(encode({ flags: F.TLS_FLAG_LOSS_BEFORE, lostBytes: (1n << 53n) + 3n, lostOther: 0xffff_ffffn, data: Buffer.from('a') }));
  assert.equal(lost.lostBefore, Number((1n << 53n) + 3n));
  assert.equal(lost.lostOther, 0xffff_ffff);
});

test('RecordCopier: copies stay intact after the source is reused, never overlap, batches are never reused', () => {
  const copier = new RecordCopier(64);
  const src = Buffer.alloc(100);
  const kept: Array<[Buffer, string]> = [];
  for (let i = 0; i < 200; i++) {
    const len = 1 + ((i * 37) % 90); // some longer than a batch
    const text = Buffer.from(String(i).padEnd(len, String.fromCharCode(65 + (i % 26))).slice(0, len), 'latin1');
    text.copy(src);
    const copy = copier.copy(src.subarray(0, len));
    src.fill(0x2a); // the ring reuses its space at once
    assert.notEqual(copy.buffer, src.buffer);
    kept.push([copy, text.toString('latin1')]);
  }
  for (const [copy, text] of kept) assert.equal(copy.toString('latin1'), text);
  // A record decoded from a copy keeps its payload whatever happens to the source.
  const raw = encode({ data: Buffer.from('hello world') });
  const r = decodeData(copier.copy(raw));
  raw.fill(0x41);
  assert.equal(r.data.toString('latin1'), 'hello world');
});

test('close record', () => {
  const r = decodeRecord(encode({ type: T.TLS_EVENT_CLOSE, tsNs: 77n, conn: 0xabcn, pid: 10, tid: 11, libId: 2, comm: 'curl' }));
  assert.deepEqual(r, { type: 'close', tsNs: 77n, conn: 0xabcn, pid: 10, tid: 11, comm: 'curl', libId: 2 });
});

test('malformed records decode to null', () => {
  assert.equal(decodeRecord(Buffer.alloc(0)), null, 'empty');
  assert.equal(decodeRecord(encode({ data: Buffer.from('x') }).subarray(0, L.SIZE - 1)), null, 'header cut');
  assert.equal(decodeRecord(encode({ type: T.TLS_EVENT_CLOSE }).subarray(0, L.SIZE - 1)), null, 'close cut');
  assert.equal(decodeRecord(encode({ data: Buffer.from('abcd'), capLen: 5 })), null, 'cap_len one past the buffer');
  assert.equal(decodeRecord(encode({ capLen: 0xffff_ffff })), null, 'huge cap_len');
  const cut = encode({ data: Buffer.from('abcdef') }).subarray(0, L.SIZE + 3);
  assert.equal(decodeRecord(cut), null, 'payload cut');
  for (const type of [0, 99, 0xffff_ffff]) assert.equal(decodeRecord(encode({ type, data: Buffer.from('x') })), null, `type ${type}`);
  // and the boundary that is fine
  assert.ok(decodeRecord(encode({ data: Buffer.from('abcd'), capLen: 4 })));
});
