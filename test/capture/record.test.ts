// decodeRecord and encodeRecord (struct tls_event of bpf/tlsotel.h): the layout, every field
// both ways, round trips (record → bytes → record, bytes → record → bytes), and malformed input
// (null, never an exception). No BPF involved: test/bpf/ring-reader.test.ts reads a real ring.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeRecord, encodeRecord, encodedSize, RecordCopier,
  type CloseRecord, type ConnRecord, type DataRecord, type EncodableRecord,
} from '../../src/capture/record';
import {
  TlsConnLayout as C, TlsEventFlags as F, TlsEventLayout as L, TlsEventType as T, TlsProcLayout as P, TLSOTEL_COMM_LEN,
  TLSOTEL_PROC_CGROUP_DEPTH, TLSOTEL_PROC_EXE_LEN, TLSOTEL_PROC_NAME_LEN,
} from '../../src/bpf/layout.generated';

function dataRec(over: Partial<DataRecord> = {}): DataRecord {
  const data = over.data ?? Buffer.alloc(0);
  return {
    type: 'data', tsNs: 1_000n, conn: 0x5555_0000_1234n, pid: 4242, tid: 4243, comm: 'curl', libId: 3,
    dir: 'write', callLen: data.length, offset: 0, last: false, lostBefore: 0, lostOther: 0, skipped: 0, data, ...over,
  };
}

function closeRec(over: Partial<CloseRecord> = {}): CloseRecord {
  return { type: 'close', tsNs: 77n, conn: 0xabcn, pid: 10, tid: 11, comm: 'curl', libId: 2, ...over };
}

function connRec(over: Partial<ConnRecord> & { socketFamily?: 'ipv4' | 'ipv6' } = {}): ConnRecord & { socketFamily?: 'ipv4' | 'ipv6' } {
  return {
    type: 'conn', tsNs: 5n, conn: 0x77n, pid: 20, tid: 21, comm: 'python3', libId: 0, fd: 7,
    addresses: { localAddress: '127.0.0.1', localPort: 40000, remoteAddress: '127.0.0.1', remotePort: 443, family: 'ipv4' },
    ...over,
  };
}

function decodeData(buf: Buffer): DataRecord {
  const r = decodeRecord(buf);
  assert.ok(r, 'decoded');
  assert.equal(r.type, 'data');
  return r as DataRecord;
}

/** What decodeRecord gives for what encodeRecord wrote: the record itself (less socketFamily). */
function roundTrip(rec: EncodableRecord): void {
  const bytes = encodeRecord(rec);
  assert.equal(bytes.length, encodedSize(rec));
  const { socketFamily: _, ...expected } = rec as EncodableRecord & { socketFamily?: string };
  assert.deepEqual(decodeRecord(bytes), expected);
}

test('layout: header fields sit where bpf/tlsotel.h puts them', () => {
  assert.equal(L.SIZE, 88);
  assert.equal(L.data, L.SIZE);
  assert.equal(L.comm + TLSOTEL_COMM_LEN, L.data);
  assert.equal(C.SIZE, 48);
});

test('encodeRecord writes every header field where the layout says, as the BPF side does', () => {
  const payload = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const b = encodeRecord(dataRec({
    tsNs: 0x1234_5678_9abc_def0n, conn: 0x7fff_dead_beef_0010n, pid: 4_000_000_000, tid: 17, callLen: 1000, offset: 24,
    libId: 9, comm: 'python3', dir: 'read', last: true, lostBefore: 123_456, lostOther: 7, data: payload,
  }));
  assert.equal(b.length, L.SIZE + payload.length);
  assert.equal(b.readUInt32LE(L.type), T.TLS_EVENT_DATA);
  assert.equal(b.readUInt32LE(L.flags), F.TLS_FLAG_READ | F.TLS_FLAG_LAST | F.TLS_FLAG_LOSS_BEFORE);
  assert.equal(b.readBigUInt64LE(L.ts_ns), 0x1234_5678_9abc_def0n);
  assert.equal(b.readBigUInt64LE(L.conn), 0x7fff_dead_beef_0010n);
  assert.equal(b.readUInt32LE(L.pid), 4_000_000_000);
  assert.equal(b.readUInt32LE(L.tid), 17);
  assert.equal(b.readUInt32LE(L.call_len), 1000);
  assert.equal(b.readUInt32LE(L.offset), 24);
  assert.equal(b.readUInt32LE(L.cap_len), payload.length);
  assert.equal(b.readUInt32LE(L.lib_id), 9);
  assert.equal(b.readBigUInt64LE(L.lost_bytes), 123_456n);
  assert.equal(b.readBigUInt64LE(L.lost_other), 7n);
  assert.deepEqual(b.subarray(L.comm, L.data), Buffer.from('python3\0\0\0\0\0\0\0\0\0', 'latin1'));
  assert.deepEqual(b.subarray(L.data), payload);

  const c = encodeRecord(closeRec());
  assert.equal(c.length, L.SIZE);
  assert.equal(c.readUInt32LE(L.type), T.TLS_EVENT_CLOSE);
  assert.equal(c.readUInt32LE(L.cap_len), 0);

  const k = encodeRecord(connRec({ fd: -1, addresses: { localAddress: '10.1.2.3', localPort: 5, remoteAddress: '192.168.0.9', remotePort: 443, family: 'ipv4' } }));
  assert.equal(k.length, L.SIZE + C.SIZE);
  assert.equal(k.readUInt32LE(L.type), T.TLS_EVENT_CONN);
  assert.equal(k.readUInt32LE(L.cap_len), C.SIZE, 'as tls_sys_enter: cap_len is sizeof(struct tls_conn)');
  assert.equal(k.readUInt16LE(L.data + C.family), 2);
  assert.equal(k.readUInt16LE(L.data + C.local_port), 5);
  assert.equal(k.readUInt16LE(L.data + C.remote_port), 443);
  assert.equal(k.readInt32LE(L.data + C.fd), -1);
  assert.deepEqual([...k.subarray(L.data + C.local_addr, L.data + C.local_addr + 16)], [10, 1, 2, 3, ...new Array(12).fill(0)]);
  assert.deepEqual([...k.subarray(L.data + C.remote_addr, L.data + C.remote_addr + 4)], [192, 168, 0, 9]);
});

test('encodeRecord writes into a buffer at an offset and touches nothing else', () => {
  const buf = Buffer.alloc(300, 0xee);
  const rec = dataRec({ data: Buffer.from('hello') });
  const view = encodeRecord(rec, buf, 16);
  assert.equal(view.buffer, buf.buffer);
  assert.equal(view.byteOffset, buf.byteOffset + 16);
  assert.ok(buf.subarray(0, 16).every((b) => b === 0xee));
  assert.ok(buf.subarray(16 + encodedSize(rec)).every((b) => b === 0xee));
  assert.deepEqual(decodeRecord(view), rec);
  assert.throws(() => encodeRecord(rec, buf, 300 - L.SIZE), /do not fit at offset/);
});

test('data record: every field round-trips', () => {
  roundTrip(dataRec({
    tsNs: 0x1234_5678_9abc_def0n, conn: 0x7fff_dead_beef_0010n, pid: 4_000_000_000, tid: 17, callLen: 1000,
    libId: 9, comm: 'python3', data: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
  }));
  for (const dir of ['read', 'write'] as const) for (const last of [true, false]) roundTrip(dataRec({ dir, last, data: Buffer.from('x') }));
  roundTrip(dataRec({ dir: 'read', last: true, callLen: 50_000, offset: 32_768, data: Buffer.alloc(100, 1) }));
  roundTrip(dataRec({ callLen: 4096, last: true })); // cap_len 0: user memory unreadable
});

test('data record: lost_bytes and lost_other round-trip, LOSS_BEFORE set when either is non-zero', () => {
  for (const [lostBefore, lostOther] of [[123_456, 0], [0, 777], [2 ** 40, 5], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], [0, 0]]) {
    const rec = dataRec({ lostBefore, lostOther, dir: 'read', last: true, data: Buffer.from('a') });
    roundTrip(rec);
    const flags = encodeRecord(rec).readUInt32LE(L.flags);
    assert.equal((flags & F.TLS_FLAG_LOSS_BEFORE) !== 0, lostBefore > 0 || lostOther > 0);
  }
});

test('data record: without LOSS_BEFORE, lost_bytes and lost_other are ignored', () => {
  const b = encodeRecord(dataRec({ last: true, data: Buffer.from('a') }));
  b.writeBigUInt64LE(999n, L.lost_bytes);
  b.writeBigUInt64LE(5n, L.lost_other);
  const r = decodeData(b);
  assert.equal(r.lostBefore, 0);
  assert.equal(r.lostOther, 0);
});

test('data record: bytes after cap_len (ring padding) are not part of the payload', () => {
  const rec = dataRec({ data: Buffer.from('abc') });
  const padded = Buffer.alloc(encodedSize(rec) + 5, 0xee);
  encodeRecord(rec, padded);
  assert.equal(decodeData(padded).data.toString('latin1'), 'abc');
});

test('close record round-trips', () => {
  roundTrip(closeRec());
  roundTrip(closeRec({ tsNs: 0xffff_ffff_ffff_ffffn, conn: 0n, pid: 0xffff_ffff, tid: 0, libId: 0xffff_ffff, comm: '' }));
});

test('conn record: IPv4, IPv6 and IPv4-mapped addresses round-trip', () => {
  const v4 = { localAddress: '10.0.0.1', localPort: 1, remoteAddress: '93.184.216.34', remotePort: 65535, family: 'ipv4' } as const;
  roundTrip(connRec({ addresses: v4 }));
  roundTrip(connRec({ addresses: v4, socketFamily: 'ipv6' }));
  for (const [local, remote] of [
    ['::1', '::1'], ['::', '2001:db8::1'], ['fe80::1:0:0:1', '2001:db8:0:1:1:1:1:1'], ['1::', '1:2:3:4:5:6:7:8'],
    ['fd00::abcd:0:0:0', '::fffe:0:1'], ['::1:ffff:0:0', '1:0:0:2::'],
  ]) {
    roundTrip(connRec({ addresses: { localAddress: local, localPort: 443, remoteAddress: remote, remotePort: 50000, family: 'ipv6' } }));
  }
  // An IPv6 socket's mapped addresses: written as ::ffff:a.b.c.d, decoded as plain IPv4.
  const mapped = encodeRecord(connRec({ addresses: v4, socketFamily: 'ipv6' }));
  assert.equal(mapped.readUInt16LE(L.data + C.family), 10);
  assert.deepEqual([...mapped.subarray(L.data + C.remote_addr, L.data + C.remote_addr + 16)], [...new Array(10).fill(0), 0xff, 0xff, 93, 184, 216, 34]);
  // Non-canonical text is accepted and decodes in canonical form.
  const odd = decodeRecord(encodeRecord(connRec({
    addresses: { localAddress: '2001:DB8:0:0:0:0:0:1', localPort: 1, remoteAddress: '::ffff:1.2.3.4', remotePort: 2, family: 'ipv6' },
    socketFamily: 'ipv6',
  }))) as ConnRecord;
  assert.deepEqual(odd.addresses, { localAddress: '2001:db8::1', localPort: 1, remoteAddress: '1.2.3.4', remotePort: 2, family: 'ipv4' });
});

test('conn record: a family other than AF_INET/AF_INET6 decodes to null', () => {
  const b = encodeRecord(connRec());
  for (const family of [0, 1, 3, 9, 11, 0xffff]) {
    b.writeUInt16LE(family, L.data + C.family);
    assert.equal(decodeRecord(b), null, `family ${family}`);
  }
});

test('comm: 15 characters + NUL (the kernel maximum) and 16 with no NUL both round-trip', () => {
  roundTrip(dataRec({ comm: 'abcdefghijklmno', data: Buffer.from('PAYLOAD') }));
  // 16 bytes with no NUL never runs into the payload, whether or not it holds a NUL.
  roundTrip(dataRec({ comm: 'ABCDEFGHIJKLMNOP', data: Buffer.from('PAYLOAD') }));
  roundTrip(dataRec({ comm: 'ABCDEFGHIJKLMNOP', data: Buffer.from('XY\0Z') }));
  roundTrip(closeRec({ comm: 'ABCDEFGHIJKLMNOP' }));
  roundTrip(connRec({ comm: 'ABCDEFGHIJKLMNOP' }));
  roundTrip(dataRec({ comm: '' }));
  roundTrip(dataRec({ comm: '\u00e9t\u00e9\u00ff' }));
});

test('comm: stops at the first NUL, ignores what follows it', () => {
  const b = encodeRecord(dataRec({ data: Buffer.from('x') }));
  b.write('node\0garbage!', L.comm, 'latin1');
  assert.equal(decodeData(b).comm, 'node');
});

test('comm: decoded strings are cached; many names, repeated and interleaved, stay exact', () => {
  const names = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `w${i}` : i % 3 === 1 ? `worker-${i}`.slice(0, 15) : `${'x'.repeat(i % 16)}`));
  names.push('ABCDEFGHIJKLMNOP', 'ABCDEFGHIJKLMNOQ', 'python3', 'python4', '\u00e9t\u00e9');
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i * 7 + round * 13) % names.length];
      assert.equal(decodeData(encodeRecord(dataRec({ comm: n, data: Buffer.from('x') }))).comm, n);
    }
  }
});

test('64-bit fields: exact past 2^53, as read by readBigUInt64LE', () => {
  for (const v of [0n, 1n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 0xffff_ffff_ffff_ffffn, 0x0020_0000_0000_0000n, 0x001f_ffff_ffff_ffffn]) {
    roundTrip(dataRec({ tsNs: v, conn: v ^ 0x5555n, data: Buffer.from('x') }));
  }
  // lost_* past 2^53 (no encoder input can say so) decode to the nearest double.
  const b = encodeRecord(dataRec({ lostBefore: 1, data: Buffer.from('a') }));
  b.writeBigUInt64LE((1n << 53n) + 2n, L.lost_bytes);
  b.writeBigUInt64LE(0xffff_ffffn, L.lost_other);
  assert.equal(decodeData(b).lostBefore, Number((1n << 53n) + 2n));
  assert.equal(decodeData(b).lostOther, 0xffff_ffff);
});

test('encodeRecord refuses values the record cannot hold, naming the field', () => {
  const cases: Array<[EncodableRecord, RegExp]> = [
    [dataRec({ pid: 2 ** 32 }), /pid/],
    [dataRec({ tid: -1 }), /tid/],
    [dataRec({ libId: 1.5 }), /libId/],
    [dataRec({ callLen: 2 ** 32 }), /callLen/],
    [dataRec({ offset: -1 }), /offset/],
    [dataRec({ lostBefore: -1 }), /lostBefore/],
    [dataRec({ lostOther: 2 ** 53 }), /lostOther/],
    [dataRec({ tsNs: -1n }), /tsNs/],
    [dataRec({ conn: 1n << 64n }), /conn/],
    [dataRec({ comm: 'ABCDEFGHIJKLMNOPQ' }), /comm/],
    [dataRec({ comm: 'a\0b' }), /comm/],
    [dataRec({ comm: '\u0100' }), /comm/],
    [connRec({ fd: 2 ** 31 }), /fd/],
    [connRec({ addresses: { localAddress: '1.2.3.4', localPort: 65536, remoteAddress: '1.2.3.4', remotePort: 1, family: 'ipv4' } }), /localPort/],
    [connRec({ addresses: { localAddress: '1.2.3.4', localPort: 1, remoteAddress: '1.2.3.4', remotePort: 1, family: 'ipv6' } }), /family/],
    [connRec({ addresses: { localAddress: 'localhost', localPort: 1, remoteAddress: '::1', remotePort: 1, family: 'ipv6' } }), /localhost/],
    [connRec({ addresses: { localAddress: '::1', localPort: 1, remoteAddress: '::1', remotePort: 1, family: 'ipv6' }, socketFamily: 'ipv4' }), /IPv4 socket/],
    [connRec({ addresses: { localAddress: 'fe80::1%eth0', localPort: 1, remoteAddress: '::1', remotePort: 1, family: 'ipv6' } }), /fe80/],
  ];
  for (const [rec, re] of cases) assert.throws(() => encodeRecord(rec), (e: unknown) => e instanceof RangeError && re.test(e.message), `${re}`);
});

test('payload is a view of the record (not copied); every other field is a copy', () => {
  const buf = encodeRecord(dataRec({ data: Buffer.from('hello world') }));
  const r = decodeData(buf);
  assert.equal(r.data.buffer, buf.buffer);
  assert.equal(r.data.byteOffset, buf.byteOffset + L.data);
  buf.fill(0x41, L.data);
  buf.fill(0, L.comm, L.data);
  assert.equal(r.data.toString('latin1'), 'AAAAAAAAAAA', 'the view sees the ring reused');
  assert.equal(r.comm, 'curl');
  assert.equal(r.tsNs, 1_000n);
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
  const raw = encodeRecord(dataRec({ data: Buffer.from('hello world') }));
  const r = decodeData(copier.copy(raw));
  raw.fill(0x41);
  assert.equal(r.data.toString('latin1'), 'hello world');
});

test('malformed records decode to null', () => {
  assert.equal(decodeRecord(Buffer.alloc(0)), null, 'empty');
  assert.equal(decodeRecord(encodeRecord(dataRec({ data: Buffer.from('x') })).subarray(0, L.SIZE - 1)), null, 'header cut');
  assert.equal(decodeRecord(encodeRecord(closeRec()).subarray(0, L.SIZE - 1)), null, 'close cut');
  assert.equal(decodeRecord(encodeRecord(connRec()).subarray(0, L.SIZE + C.SIZE - 1)), null, 'conn cut');
  const lie = (capLen: number): Buffer => {
    const b = encodeRecord(dataRec({ data: Buffer.from('abcd') }));
    b.writeUInt32LE(capLen, L.cap_len);
    return b;
  };
  assert.equal(decodeRecord(lie(5)), null, 'cap_len one past the buffer');
  assert.equal(decodeRecord(lie(0xffff_ffff)), null, 'huge cap_len');
  assert.ok(decodeRecord(lie(4)), 'the boundary that is fine');
  assert.equal(decodeRecord(encodeRecord(dataRec({ data: Buffer.from('abcdef') })).subarray(0, L.SIZE + 3)), null, 'payload cut');
  for (const type of [0, 5, 99, 0xffff_ffff]) {
    const b = encodeRecord(dataRec({ data: Buffer.from('x') }));
    b.writeUInt32LE(type, L.type);
    assert.equal(decodeRecord(b), null, `type ${type}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Properties over many records.

const u32 = fc.nat({ max: 0xffff_ffff });
const u64 = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn });
const comm = fc.string({ unit: fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: TLSOTEL_COMM_LEN });
const header = { tsNs: u64, conn: u64, pid: u32, tid: u32, comm, libId: u32 };
const dataArb = fc.record({
  type: fc.constant('data' as const), ...header,
  dir: fc.constantFrom('read' as const, 'write' as const), callLen: u32, offset: u32, last: fc.boolean(),
  lostBefore: fc.oneof(fc.constant(0), fc.maxSafeNat()), lostOther: fc.oneof(fc.constant(0), fc.maxSafeNat()),
  skipped: fc.oneof(fc.constant(0), u32),
  data: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
});
const closeArb = fc.record({ type: fc.constant('close' as const), ...header });
const port = fc.nat({ max: 0xffff });
/** Addresses as decodeRecord writes them: IPv4 dotted, IPv6 in the form WHATWG URLs serialize (RFC 5952). */
const ipv6Text = fc.ipV6().map((a) => new URL(`http://[${a}]/`).hostname.slice(1, -1)).filter((a) => !/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(a));
const connArb = fc.oneof(
  fc.record({ local: fc.ipV4(), remote: fc.ipV4(), socketFamily: fc.constantFrom('ipv4' as const, 'ipv6' as const) }),
  fc.record({ local: ipv6Text, remote: ipv6Text, socketFamily: fc.constant('ipv6' as const) }),
).chain(({ local, remote, socketFamily }) => fc.record({
  type: fc.constant('conn' as const), ...header, fd: fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }), socketFamily: fc.constant(socketFamily),
  addresses: fc.record({
    localAddress: fc.constant(local), localPort: port, remoteAddress: fc.constant(remote), remotePort: port,
    family: fc.constant(socketFamily === 'ipv4' || remote.includes('.') ? 'ipv4' as const : 'ipv6' as const),
  }).map((a) => ({ ...a })), // fc.record's objects have no prototype; decodeRecord's do
}));
const latin1NoNul = (max: number, extra = '') => fc.string({ unit: fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c)).filter((c) => !extra.includes(c)), maxLength: max });
const cgName = latin1NoNul(TLSOTEL_PROC_NAME_LEN - 1, '/').filter((n) => n !== '');
const procArb = fc.record({
  type: fc.constant('proc' as const), ...header,
  startBoottimeNs: u64,
  environ: fc.array(latin1NoNul(40), { maxLength: 6 }).map((e) => e.map((x) => `${x}\0`).join('')),
  environWhole: fc.boolean(),
  exeName: latin1NoNul(TLSOTEL_PROC_EXE_LEN - 1),
  cgroupPath: fc.oneof(
    fc.constant(undefined),
    fc.array(cgName, { maxLength: TLSOTEL_PROC_CGROUP_DEPTH }).map((n) => `/${n.join('/')}`),
    fc.array(cgName, { minLength: 1, maxLength: TLSOTEL_PROC_CGROUP_DEPTH }).map((n) => `…/${n.join('/')}`),
  ),
});
const anyRecord: fc.Arbitrary<EncodableRecord> = fc.oneof(dataArb, closeArb, connArb, procArb);

test('proc record: environment, executable name and cgroup path round-trip; a cut environment loses its cut entry, never keeps half of it', () => {
  const rec = {
    type: 'proc' as const, tsNs: 5n, conn: 0n, pid: 77, tid: 78, comm: 'curl', libId: 0,
    startBoottimeNs: 123_456_789_000n, environ: 'PATH=/bin\0OTEL_SERVICE_NAME=checkout\0', environWhole: true,
    exeName: 'curl-with-a-name-longer-than-comm', cgroupPath: `/kubepods.slice/cri-containerd-${'a'.repeat(64)}.scope`,
  };
  roundTrip(rec);
  // As the BPF side cuts it: env_total past env_len, the copy ending inside an entry.
  const b = Buffer.from(encodeRecord(rec));
  const envAt = L.data + P.SIZE + b.readUInt32LE(L.data + P.cgroup_len);
  const cutLen = 'PATH=/bin\0OTEL_SERV'.length;
  const cut = Buffer.concat([b.subarray(0, envAt), b.subarray(envAt, envAt + cutLen)]);
  cut.writeUInt32LE(cut.length - L.SIZE, L.cap_len);
  cut.writeUInt32LE(cutLen, L.data + P.env_len);
  const r = decodeRecord(cut);
  assert.ok(r !== null && r.type === 'proc');
  assert.equal(r.environ, 'PATH=/bin\0');
  assert.equal(r.environWhole, false);
  assert.equal(r.cgroupPath, rec.cgroupPath);
  // A path deeper than the probes walk: its last names, marked.
  const deep = decodeRecord(encodeRecord({ ...rec, cgroupPath: '…/a/b' }));
  assert.ok(deep !== null && deep.type === 'proc');
  assert.equal(deep.cgroupPath, '…/a/b');
  // env_len larger than the payload, or than env_total: malformed.
  const bad = Buffer.from(b);
  bad.writeUInt32LE(1 << 20, L.data + P.env_len);
  assert.equal(decodeRecord(bad), null);
  const bad2 = Buffer.from(b);
  bad2.writeUInt32LE(3, L.data + P.env_total);
  assert.equal(decodeRecord(bad2), null);
  // Names that do not end in a NUL within the bytes said, or more than the probes keep.
  const bad3 = Buffer.from(b);
  bad3.writeUInt32LE(b.readUInt32LE(L.data + P.cgroup_len) - 1, L.data + P.cgroup_len);
  bad3.writeUInt32LE(b.readUInt32LE(L.cap_len) - 1, L.cap_len);
  assert.equal(decodeRecord(bad3), null);
  const deeper = encodeRecord({ ...rec, cgroupPath: `/${Array.from({ length: TLSOTEL_PROC_CGROUP_DEPTH }, (_, i) => `n${i}`).join('/')}` });
  const thirteen = Buffer.concat([deeper.subarray(0, L.data + P.SIZE), Buffer.from('x\0'), deeper.subarray(L.data + P.SIZE)]);
  thirteen.writeUInt32LE(deeper.readUInt32LE(L.cap_len) + 2, L.cap_len);
  thirteen.writeUInt32LE(deeper.readUInt32LE(L.data + P.cgroup_len) + 2, L.data + P.cgroup_len);
  assert.equal(decodeRecord(thirteen), null);
});

test('property: decodeRecord(encodeRecord(r)) equals r, for data, close, conn and proc records', () => {
  fc.assert(fc.property(anyRecord, (rec) => roundTrip(rec)), { numRuns: 3000 });
});

test('property: encodeRecord(decodeRecord(b)) gives back b, ignored bytes being zero', () => {
  fc.assert(fc.property(anyRecord, (rec) => {
    const b = encodeRecord(rec);
    const back = decodeRecord(Buffer.from(b))!;
    const family = rec.type === 'conn' ? (rec as { socketFamily?: 'ipv4' | 'ipv6' }).socketFamily : undefined;
    assert.deepEqual(encodeRecord(back.type === 'conn' ? { ...back, socketFamily: family } : back), b);
  }), { numRuns: 2000 });
});

test('property: every prefix of a record shorter than it decodes to null, longer ones (ring padding) to the same record', () => {
  fc.assert(fc.property(anyRecord, fc.nat({ max: 7 }), (rec, pad) => {
    const full = encodeRecord(rec);
    for (let n = 0; n < full.length; n++) assert.equal(decodeRecord(full.subarray(0, n)), null, `${rec.type} cut at ${n} of ${full.length}`);
    const padded = Buffer.concat([full, Buffer.alloc(pad, 0xee)]);
    assert.deepEqual(decodeRecord(padded), decodeRecord(full));
  }), { numRuns: 300 });
});

test('property: any bytes decode to a record or null, never an exception', () => {
  // Random bytes, and valid records with random bytes written over random places.
  const damaged = fc.tuple(anyRecord, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })).map(([rec, edits]) => {
    const b = Buffer.from(encodeRecord(rec));
    for (const [at, v] of edits) b[at % b.length] = v;
    return b;
  });
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), damaged), (b) => {
    const r = decodeRecord(b);
    if (r === null) return;
    assert.ok(r.type === 'data' || r.type === 'close' || r.type === 'conn' || r.type === 'proc');
    if (r.type === 'data') assert.ok(r.data.length <= b.length - L.SIZE);
  }), { numRuns: 20_000 });
});
