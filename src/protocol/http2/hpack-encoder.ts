// HPACK encoder (RFC 7541), the decoder's counterpart: used by tests and benchmarks to write
// header blocks the way real encoders do (static and dynamic indexes, incremental indexing,
// Huffman strings, table size updates). Not used on the capture path.

import { huffmanEncode, huffmanEncodedLength } from './huffman';
import { STATIC_COUNT, STATIC_NAMES, STATIC_VALUES } from './static-table';

export interface HpackEncoderOptions {
  /** Huffman-code strings when shorter (default true). */
  huffman?: boolean;
  /** Insert literal fields into the dynamic table (default true). */
  index?: boolean;
  /** Maximum table size (default 4096). */
  tableSize?: number;
}

export class HpackEncoder {
  private readonly huffman: boolean;
  private readonly index: boolean;
  private max: number;
  private pendingResize = -1;
  /** Newest first. */
  private table: Array<[string, string]> = [];
  private bytes = 0;

  constructor(opts: HpackEncoderOptions = {}) {
    this.huffman = opts.huffman ?? true;
    this.index = opts.index ?? true;
    this.max = opts.tableSize ?? 4096;
  }

  /** Changes the table's maximum size: signalled at the start of the next block. */
  resize(max: number): void {
    this.max = max;
    this.pendingResize = max;
    this.evict(max);
  }

  /** One header block for the fields, flat [name, value, …] (names lower-case). */
  encode(fields: readonly string[]): Buffer {
    const out: number[] = [];
    if (this.pendingResize >= 0) {
      writeInt(out, 0x20, 5, this.pendingResize);
      this.pendingResize = -1;
    }
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      let nameIndex = 0;
      let full = 0;
      for (let s = 1; s <= STATIC_COUNT && full === 0; s++) {
        if (STATIC_NAMES[s] !== name) continue;
        if (nameIndex === 0) nameIndex = s;
        if (STATIC_VALUES[s] === value) full = s;
      }
      for (let d = 0; d < this.table.length && full === 0; d++) {
        const [n, v] = this.table[d];
        if (n !== name) continue;
        if (nameIndex === 0) nameIndex = STATIC_COUNT + 1 + d;
        if (v === value) full = STATIC_COUNT + 1 + d;
      }
      if (full > 0) {
        writeInt(out, 0x80, 7, full);
        continue;
      }
      const sensitive = name === 'authorization' || name === 'cookie';
      if (this.index && !sensitive) writeInt(out, 0x40, 6, nameIndex);
      else writeInt(out, sensitive ? 0x10 : 0x00, 4, nameIndex);
      if (nameIndex === 0) this.writeString(out, name);
      this.writeString(out, value);
      if (this.index && !sensitive) this.insert(name, value);
    }
    return Buffer.from(out);
  }

  private writeString(out: number[], s: string): void {
    if (this.huffman && huffmanEncodedLength(s) < s.length) {
      const h = huffmanEncode(s);
      writeInt(out, 0x80, 7, h.length);
      for (const b of h) out.push(b);
      return;
    }
    writeInt(out, 0x00, 7, s.length);
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
  }

  private insert(name: string, value: string): void {
    const size = 32 + name.length + value.length;
    if (size > this.max) {
      this.table = [];
      this.bytes = 0;
      return;
    }
    this.evict(this.max - size);
    this.table.unshift([name, value]);
    this.bytes += size;
  }

  private evict(limit: number): void {
    while (this.bytes > limit && this.table.length > 0) {
      const [n, v] = this.table.pop()!;
      this.bytes -= 32 + n.length + v.length;
    }
  }
}

/** An HPACK integer: `first` holds the pattern bits above the N-bit prefix. */
export function writeInt(out: number[], first: number, prefixBits: number, v: number): void {
  const mask = (1 << prefixBits) - 1;
  if (v < mask) {
    out.push(first | v);
    return;
  }
  out.push(first | mask);
  v -= mask;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}
