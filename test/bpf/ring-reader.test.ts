// RingReader against a real BPF ring buffer, filled by the kernel (bpf_ringbuf_output and
// bpf_ringbuf_reserve/discard from a BPF program run on demand: test/helpers/ring-producer.ts).
// Needs root (CAP_BPF); fails without it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { RingReader } from '../../src/bpf/ring-reader';
import { decodeRecord, encodeRecord, type EncodableRecord } from '../../src/capture/record';
import { RingProducer } from '../helpers/ring-producer';
import { prng } from '../helpers/prng';

const RING = 4096; // the smallest ring: the most wrap-arounds per byte written
const HDR = 8; // the kernel's record header: u32 len (busy, discard bits), u32 page offset
/** The producer never catches up with the consumer: records may take at most RING - 1 bytes,
 *  8-byte aligned (kernel/bpf/ringbuf.c, __bpf_ringbuf_reserve). */
const CAPACITY = RING - 8;

/** Ring bytes a record of `len` bytes takes: header, payload, 8-byte alignment. */
const footprint = (len: number): number => (len + HDR + 7) & ~7;

/** A ring, its reader, and a source pattern that every record is a slice of. */
function setup(seed = 1): { producer: RingProducer; reader: RingReader; pattern: Buffer; close(): void } {
  const producer = new RingProducer(RING);
  const pattern = Buffer.alloc(producer.sourceSize);
  const rnd = prng(seed);
  for (let k = 0; k < pattern.length; k++) pattern[k] = Math.floor(rnd() * 256);
  producer.setSource(pattern);
  let reader: RingReader;
  try {
    reader = new RingReader(producer.ringFd, RING);
  } catch (err) {
    producer.close();
    throw err;
  }
  return { producer, reader, pattern, close: () => { reader.close(); producer.close(); } };
}

function drainAll(reader: RingReader, limit?: number): Buffer[] {
  const got: Buffer[] = [];
  const n = reader.drain((rec) => got.push(Buffer.from(rec)), limit);
  assert.equal(n, got.length, 'drain returns the number of records it handed out');
  return got;
}

test('records of every size, through hundreds of wrap-arounds, come out whole and in order', () => {
  const { producer, reader, pattern, close } = setup(1);
  try {
    const rnd = prng(2);
    const max = CAPACITY - HDR; // one record filling the whole ring
    const sizes: number[] = [];
    for (let n = 0; n <= 300; n++) sizes.push(n);
    for (let n = 0; n < 3000; n++) sizes.push(rnd() < 0.05 ? max - Math.floor(rnd() * 16) : Math.floor(rnd() * (rnd() < 0.8 ? 200 : 2000)));
    sizes.push(max, 0, max, 1, max);
    const want: Buffer[] = [];
    let written = 0;
    let straddling = 0; // records whose bytes run past the end of the data area (read through its second mapping)
    let inRing = 0;
    let fullRings = 0;
    const check = (): void => {
      assert.equal(reader.pending(), inRing, 'pending() is the bytes of the records not yet read');
      const got = drainAll(reader);
      assert.equal(got.length, want.length);
      for (let k = 0; k < got.length; k++) assert.ok(got[k].equals(want[k]), `record ${k} of ${want.length} (${want[k].length} bytes) is intact`);
      assert.equal(reader.pending(), 0);
      want.length = 0;
      inRing = 0;
    };
    for (const size of sizes) {
      const off = Math.floor(rnd() * (producer.sourceSize / 2));
      if (!producer.output(off, size)) {
        assert.ok(inRing + footprint(size) > CAPACITY, `refused ${size} bytes with ${CAPACITY - inRing} free`);
        fullRings++;
        check();
        assert.ok(producer.output(off, size), 'room again once read');
      }
      if ((written % RING) + HDR + size > RING) straddling++;
      want.push(pattern.subarray(off, off + size));
      written += footprint(size);
      inRing += footprint(size);
    }
    check();
    assert.ok(written > 200 * RING, `${written} bytes written through a ${RING}-byte ring`);
    assert.ok(straddling > 100, `${straddling} records straddle the end of the ring`);
    assert.ok(fullRings > 100, `the ring was full ${fullRings} times`);
  } finally {
    close();
  }
});

test('a full ring: every record it accepted is read, the refused one is not there', () => {
  const { producer, reader, pattern, close } = setup(3);
  try {
    let accepted = 0;
    while (producer.output(accepted, 0)) accepted++; // 8 bytes each
    assert.equal(accepted, CAPACITY / HDR);
    assert.equal(reader.pending(), CAPACITY);
    assert.equal(drainAll(reader).length, accepted);
    // and one that fills it exactly
    assert.equal(producer.output(5, CAPACITY - HDR + 1), false, 'one byte more than fits');
    assert.ok(producer.output(5, CAPACITY - HDR));
    assert.equal(producer.output(0, 0), false);
    assert.deepEqual(drainAll(reader), [pattern.subarray(5, 5 + CAPACITY - HDR)]);
  } finally {
    close();
  }
});

test('limit: at most that many records per drain; the rest stays, in order, and pending() says how much', () => {
  const { producer, reader, pattern, close } = setup(4);
  try {
    for (let n = 1; n <= 10; n++) assert.ok(producer.output(n * 10, n));
    const slice = (n: number): Buffer => pattern.subarray(n * 10, n * 10 + n);
    assert.deepEqual(drainAll(reader, 3), [slice(1), slice(2), slice(3)]);
    let rest = 0;
    for (let n = 4; n <= 10; n++) rest += footprint(n);
    assert.equal(reader.pending(), rest);
    assert.deepEqual(drainAll(reader, 0), []);
    assert.equal(reader.pending(), rest);
    assert.deepEqual(drainAll(reader, 1), [slice(4)]);
    assert.deepEqual(drainAll(reader), [5, 6, 7, 8, 9, 10].map(slice));
    assert.equal(reader.pending(), 0);
    assert.deepEqual(drainAll(reader), []);
  } finally {
    close();
  }
});

test('discarded records are skipped and released, and do not count against the limit', () => {
  const { producer, reader, pattern, close } = setup(5);
  try {
    assert.ok(producer.discard(16));
    assert.ok(producer.discard(0));
    assert.ok(producer.output(0, 7));
    assert.ok(producer.discard(1000));
    assert.ok(producer.output(100, 300));
    assert.ok(producer.discard(24));
    assert.equal(reader.pending(), footprint(16) + footprint(0) + footprint(7) + footprint(1000) + footprint(300) + footprint(24));
    assert.deepEqual(drainAll(reader, 1), [pattern.subarray(0, 7)], 'the two discarded records before it do not count');
    assert.equal(reader.pending(), footprint(1000) + footprint(300) + footprint(24));
    assert.deepEqual(drainAll(reader), [pattern.subarray(100, 400)]);
    assert.equal(reader.pending(), 0, 'a discarded record at the end is released too');
    // Discarded records wrap around like the others.
    const rnd = prng(6);
    for (let round = 0; round < 200; round++) {
      const keep = Math.floor(rnd() * 500);
      const off = Math.floor(rnd() * 1000);
      const drop = [8, 40, 600][round % 3];
      assert.ok(producer.discard(drop));
      assert.ok(producer.output(off, keep));
      assert.ok(producer.discard(drop));
      assert.deepEqual(drainAll(reader), [pattern.subarray(off, off + keep)]);
      assert.equal(reader.pending(), 0);
    }
  } finally {
    close();
  }
});

test('agent records through the ring decode to what was encoded', () => {
  const { producer, reader, close } = setup(7);
  try {
    const head = { tsNs: 123_456_789n, conn: 0x55d0_0000_1000n, pid: 4242, tid: 4243, comm: 'python3', libId: 1 };
    const records: EncodableRecord[] = [
      { type: 'conn', ...head, fd: 5, addresses: { localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '2001:db8::1', remotePort: 443, family: 'ipv6' } },
      { type: 'data', ...head, dir: 'write', callLen: 18, offset: 0, last: true, lostBefore: 0, lostOther: 0, skipped: 0, data: Buffer.from('GET / HTTP/1.1\r\n\r\n') },
      { type: 'data', ...head, dir: 'read', callLen: 5000, offset: 0, last: false, lostBefore: 77, lostOther: 5, skipped: 0, data: Buffer.alloc(1500, 0x61) },
      { type: 'close', ...head },
    ];
    const source = Buffer.concat(records.map((r) => encodeRecord(r)));
    producer.setSource(source);
    for (let round = 0; round < 20; round++) { // 20 × ~1.8 KiB: the ring wraps
      let off = 0;
      for (const r of records) {
        const len = encodeRecord(r).length;
        assert.ok(producer.output(off, len));
        off += len;
        const got: unknown[] = [];
        assert.equal(reader.drain((rec) => got.push(decodeRecord(rec))), 1);
        const { socketFamily: _, ...expected } = r as EncodableRecord & { socketFamily?: string };
        assert.deepEqual(got, [expected]);
      }
    }
  } finally {
    close();
  }
});

test('after close(), drain and pending() return 0; close() twice is harmless', () => {
  const { producer, reader, close } = setup(8);
  try {
    assert.ok(producer.output(0, 10));
    reader.close();
    assert.equal(reader.pending(), 0);
    assert.equal(reader.drain(() => assert.fail('no record after close')), 0);
    reader.close();
  } finally {
    close();
  }
});
