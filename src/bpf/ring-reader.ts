// Reads the BPF ring buffer by mapping it into this process and parsing records in JavaScript:
// no libbpf callback per record (a koffi callback costs microseconds, the parse here ~100 ns).
//
// Layout (kernel/bpf/ringbuf.c): page 0 is the consumer position (read-write); page 1 the
// producer position (read-only), followed by the data area mapped twice back to back, so a
// record never wraps. Each record: u32 len (bit 31 busy, bit 30 discarded), u32 page offset,
// then len bytes; records are 8-byte aligned. Positions are free-running u64 counters.
import koffi from 'koffi';
import { BpfError, libbpf, MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE, type Ptr } from './libbpf';

const PAGE = 4096;
const HDR = 8;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;

export class RingReader {
  private consumerPtr: Ptr | null;
  private producerPtr: Ptr | null;
  private readonly producerLen: number;
  private readonly consumer: BigUint64Array;
  private readonly producer: BigUint64Array;
  private readonly data: Buffer;
  private readonly lens: Uint32Array;

  constructor(fd: number, readonly size: number) {
    const lb = libbpf();
    this.producerLen = PAGE + 2 * size;
    const c = lb.mmap(null, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!c || c === MAP_FAILED) throw new BpfError('mmap(ring buffer consumer page)', lb.errno());
    const p = lb.mmap(null, this.producerLen, PROT_READ, MAP_SHARED, fd, PAGE);
    if (!p || p === MAP_FAILED) {
      const errno = lb.errno();
      lb.munmap(c, PAGE);
      throw new BpfError('mmap(ring buffer data)', errno);
    }
    this.consumerPtr = c;
    this.producerPtr = p;
    // Views are made once: creating one costs microseconds.
    this.consumer = new BigUint64Array(koffi.view(c, PAGE), 0, 1);
    const prod = koffi.view(p, this.producerLen);
    this.producer = new BigUint64Array(prod, 0, 1);
    this.data = Buffer.from(prod, PAGE, 2 * size);
    this.lens = new Uint32Array(prod, PAGE, (2 * size) / 4);
  }

  /**
   * Hands every committed record to `onRecord` (a view valid only during the call: copy what
   * you keep) and releases it. Returns the number of records read. Stops at a record still
   * being written. At most `limit` records, so one call cannot monopolise the event loop.
   */
  drain(onRecord: (rec: Buffer) => void, limit = 1 << 20): number {
    if (!this.consumerPtr) return 0;
    let cons = Atomics.load(this.consumer, 0);
    const prod = Atomics.load(this.producer, 0);
    let n = 0;
    const size = BigInt(this.size);
    while (cons < prod && n < limit) {
      const off = Number(cons % size);
      const len = Atomics.load(this.lens, off / 4);
      if (len & BUSY) break;
      const recLen = len & ~(BUSY | DISCARD);
      if (!(len & DISCARD)) {
        onRecord(this.data.subarray(off + HDR, off + HDR + recLen));
        n++;
      }
      cons += BigInt((recLen + HDR + 7) & ~7);
      // Released record by record: the producer can reuse space while a large backlog drains.
      Atomics.store(this.consumer, 0, cons);
    }
    return n;
  }

  /** Bytes written by the kernel and not yet read. */
  pending(): number {
    if (!this.consumerPtr) return 0;
    return Number(Atomics.load(this.producer, 0) - Atomics.load(this.consumer, 0));
  }

  close(): void {
    const lb = libbpf();
    if (this.producerPtr) lb.munmap(this.producerPtr, this.producerLen);
    if (this.consumerPtr) lb.munmap(this.consumerPtr, PAGE);
    this.producerPtr = this.consumerPtr = null;
  }
}
