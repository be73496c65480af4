// HPACK decoder (RFC 7541) for one direction of one connection, fed every header block of that
// direction in wire order, that keeps going when it does not know the whole dynamic table.
//
// An observer joins connections late (the agent started after them) and loses header blocks
// (capture gaps). What it can still know exactly: the entries inserted since, and where they
// are. New entries go to the front, so the k-th most recent insertion is at dynamic index k
// (62 + k - 1 overall) whatever came before it; eviction only ever removes from the back. So:
//  - every insertion is counted, even one whose name is unknown (its value is kept), so the
//    positions of the later ones stay exact;
//  - a reference to a position we hold is answered; one beyond is UNKNOWN (an older entry
//    inserted before we joined) — never a guess;
//  - our eviction may run early (we forget an entry the encoder still has: later references
//    to it are unknown) or late (we keep one the encoder dropped: a valid encoder never refers
//    to it, and such entries only ever sit behind all of the encoder's); both are safe, so the
//    maximum table size need not be certain, only the count of insertions. The one RFC rule
//    that changes that count — an entry larger than the table empties it and is not inserted —
//    is applied only when the maximum is certain (seen in a size update, or the connection seen
//    from its start); otherwise the entry is inserted, which again only adds entries behind
//    all of the encoder's.
// A block we cannot parse, or lose part of, may hide insertions: lose() makes every held entry
// unknown (positions no longer certain), and decoding resumes from the next block.

import { latin1 } from '../http1/syntax';
import { huffmanDecode, huffmanDecodedBound } from './huffman';
import { STATIC_COUNT, STATIC_NAMES, STATIC_VALUES, internName } from './static-table';

/** HTTP/2's initial SETTINGS_HEADER_TABLE_SIZE, the dynamic table's maximum until changed. */
export const DEFAULT_TABLE_SIZE = 4096;
/** The most table bytes one decoder keeps: a larger table is tracked this far (the rest of it
 *  is reported unknown when referred to). */
export const MAX_TRACKED_TABLE_SIZE = 65536;
/** What a decoder joined mid-way keeps while the table's maximum is unknown: encoders almost
 *  always use 4096; keeping more only helps with larger tables, and costs memory on every
 *  connection. */
export const UNCERTAIN_TRACKED_SIZE = 16384;
/** A Huffman scratch buffer grown past this is dropped after the block. */
const KEEP_SCRATCH = 4096;
/** Per-entry overhead counted in table sizes (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;
/** Largest integer accepted in a header block (lengths, indexes, sizes): beyond is garbage. */
const MAX_INT = 1 << 24;

export const enum DecodeResult {
  /** The block parsed; fields are in names/values (undefined name: field unknown). */
  Ok,
  /** The block is malformed (or refers to an entry the decoder is certain cannot exist): its
   *  fields are unknown and so is the table from now on. */
  Invalid,
}

export interface HpackDecoderOptions {
  /** The connection is seen from its start: the table is empty and its maximum is 4096.
   *  False: joined mid-way, the table's content and maximum are unknown. */
  fromStart: boolean;
  /** Memory bound, in table bytes (default MAX_TRACKED_TABLE_SIZE). */
  maxTrackedSize?: number;
}

export class HpackDecoder {
  /** Decoded fields of the last block: name i at names[i], undefined when unknown. */
  readonly names: Array<string | undefined> = [];
  readonly values: Array<string | undefined> = [];
  /** Fields in the last block, and how many of them are unknown. */
  count = 0;
  unknown = 0;

  // The dynamic table: a ring, newest at `head`, `size` entries, capacity a power of two.
  private entryNames: Array<string | undefined> = new Array<string | undefined>(64);
  private entryValues: string[] = new Array<string>(64);
  private entrySizes = new Int32Array(64);
  private head = 0;
  private size = 0;
  /** Sum of entrySizes (a lower bound of the encoder's for entries whose name is unknown). */
  private bytes = 0;

  /** The encoder's maximum table size, when certain; tracked is what we keep. */
  private max = DEFAULT_TABLE_SIZE;
  private maxCertain: boolean;
  private tracked: number;
  private readonly cap: number;
  /** Every entry of the encoder's table is one we hold, with its exact size: an index beyond
   *  ours is then an error, not an unknown entry. */
  private exact: boolean;

  private scratch = Buffer.allocUnsafe(256);
  // Cursor of the block being decoded.
  private pos = 0;
  private str: string | undefined;

  constructor(opts: HpackDecoderOptions) {
    this.cap = opts.maxTrackedSize ?? MAX_TRACKED_TABLE_SIZE;
    this.maxCertain = opts.fromStart;
    this.exact = opts.fromStart;
    this.tracked = opts.fromStart ? Math.min(DEFAULT_TABLE_SIZE, this.cap) : Math.min(UNCERTAIN_TRACKED_SIZE, this.cap);
  }

  /** Entries held (known positions), for tests and the sniff printer. */
  get entries(): number {
    return this.size;
  }

  /** Whether the decoder holds the encoder's whole table. */
  get synced(): boolean {
    return this.exact;
  }

  /** A header block of this direction was lost (or not decodable): nothing held is certain
   *  any more. Later insertions are known again. */
  lose(): void {
    this.size = 0;
    this.bytes = 0;
    this.exact = false;
    this.maxCertain = false;
    this.tracked = Math.min(UNCERTAIN_TRACKED_SIZE, this.cap);
    // Drop the strings: a lost table must not keep memory alive.
    this.entryNames.fill(undefined);
    this.entryValues.fill('');
  }

  /** Decodes the header block buf[start, end). */
  decode(buf: Buffer, start: number, end: number): DecodeResult {
    this.count = 0;
    this.unknown = 0;
    this.pos = start;
    let fieldsSeen = false;
    while (this.pos < end) {
      const b = buf[this.pos];
      if (b >= 0x80) {
        const index = this.readInt(buf, end, 7);
        if (index <= 0) return this.invalid();
        if (!this.emitIndexed(index)) return this.invalid();
        fieldsSeen = true;
      } else if (b >= 0x40) {
        if (!this.literal(buf, end, 6, true)) return this.invalid();
        fieldsSeen = true;
      } else if (b >= 0x20) {
        // A dynamic table size update: only at the start of a block (RFC 7541 4.2).
        if (fieldsSeen) return this.invalid();
        const max = this.readInt(buf, end, 5);
        if (max < 0) return this.invalid();
        this.resize(max);
      } else {
        if (!this.literal(buf, end, 4, false)) return this.invalid();
        fieldsSeen = true;
      }
    }
    if (this.scratch.length > KEEP_SCRATCH) this.scratch = Buffer.allocUnsafe(256);
    return DecodeResult.Ok;
  }

  private invalid(): DecodeResult {
    this.lose();
    if (this.scratch.length > KEEP_SCRATCH) this.scratch = Buffer.allocUnsafe(256);
    this.count = 0;
    this.unknown = 0;
    return DecodeResult.Invalid;
  }

  /** An HPACK integer with an N-bit prefix at pos; -1 when truncated or too large. */
  private readInt(buf: Buffer, end: number, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let v = buf[this.pos++] & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.pos >= end) return -1;
      const b = buf[this.pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (v > MAX_INT) return -1;
      if (b < 0x80) return v;
      shift += 7;
    }
  }

  /** Reads a string literal at pos into this.str (latin1); false when malformed. */
  private readString(buf: Buffer, end: number, asName: boolean): boolean {
    if (this.pos >= end) return false;
    const huffman = buf[this.pos] >= 0x80;
    const len = this.readInt(buf, end, 7);
    if (len < 0 || len > end - this.pos) return false;
    const s = this.pos;
    this.pos += len;
    if (!huffman) {
      this.str = asName ? nameOf(buf, s, s + len) : latin1(buf, s, s + len);
      return true;
    }
    const bound = huffmanDecodedBound(len);
    if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafe(Math.max(bound, this.scratch.length * 2));
    const n = huffmanDecode(buf, s, s + len, this.scratch);
    if (n < 0) return false;
    this.str = asName ? nameOf(this.scratch, 0, n) : latin1(this.scratch, 0, n);
    return true;
  }

  private push(name: string | undefined, value: string | undefined): void {
    const i = this.count++;
    this.names[i] = name;
    this.values[i] = value;
    if (name === undefined) this.unknown++;
  }

  private emitIndexed(index: number): boolean {
    if (index <= STATIC_COUNT) {
      this.push(STATIC_NAMES[index], STATIC_VALUES[index]);
      return true;
    }
    const d = index - STATIC_COUNT - 1;
    if (d < this.size) {
      const at = (this.head + d) & (this.entrySizes.length - 1);
      const name = this.entryNames[at];
      this.push(name, name === undefined ? undefined : this.entryValues[at]);
      return true;
    }
    if (this.exact) return false;
    this.push(undefined, undefined);
    return true;
  }

  /** A literal field (with incremental indexing when `insert`); false when malformed. */
  private literal(buf: Buffer, end: number, prefixBits: number, insert: boolean): boolean {
    const index = this.readInt(buf, end, prefixBits);
    if (index < 0) return false;
    let name: string | undefined;
    let nameLength = 0;
    if (index === 0) {
      if (!this.readString(buf, end, true)) return false;
      name = this.str;
      nameLength = name!.length;
    } else if (index <= STATIC_COUNT) {
      name = STATIC_NAMES[index];
      nameLength = name.length;
    } else {
      const d = index - STATIC_COUNT - 1;
      if (d < this.size) {
        name = this.entryNames[(this.head + d) & (this.entrySizes.length - 1)];
        if (name !== undefined) nameLength = name.length;
      } else if (this.exact) {
        return false;
      }
    }
    if (!this.readString(buf, end, false)) return false;
    const value = this.str!;
    this.push(name, name === undefined ? undefined : value);
    if (insert) this.insert(name, value, ENTRY_OVERHEAD + nameLength + value.length);
    return true;
  }

  private insert(name: string | undefined, value: string, entrySize: number): void {
    if (name === undefined) this.exact = false; // its size is only a lower bound
    if (this.maxCertain && entrySize > this.max) {
      // RFC 7541 4.4: the table is emptied and the entry is not inserted.
      this.evictTo(0);
      if (this.max <= this.cap) this.exact = true;
      return;
    }
    this.evictTo(Math.max(0, this.tracked - entrySize));
    let capacity = this.entrySizes.length;
    if (this.size === capacity) this.grow();
    capacity = this.entrySizes.length;
    this.head = (this.head - 1 + capacity) & (capacity - 1);
    this.entryNames[this.head] = name;
    this.entryValues[this.head] = value;
    this.entrySizes[this.head] = entrySize;
    this.size++;
    this.bytes += entrySize;
  }

  private evictTo(limit: number): void {
    const mask = this.entrySizes.length - 1;
    while (this.size > 0 && this.bytes > limit) {
      const at = (this.head + this.size - 1) & mask;
      this.bytes -= this.entrySizes[at];
      this.entryNames[at] = undefined;
      this.entryValues[at] = '';
      this.size--;
      // Forgetting an entry the encoder may still hold: references to it become unknown.
      if (!(this.maxCertain && this.max <= this.cap)) this.exact = false;
    }
  }

  private grow(): void {
    const old = this.entrySizes.length;
    const names = new Array<string | undefined>(old * 2);
    const values = new Array<string>(old * 2).fill('');
    const sizes = new Int32Array(old * 2);
    for (let i = 0; i < this.size; i++) {
      const at = (this.head + i) & (old - 1);
      names[i] = this.entryNames[at];
      values[i] = this.entryValues[at];
      sizes[i] = this.entrySizes[at];
    }
    this.entryNames = names;
    this.entryValues = values;
    this.entrySizes = sizes;
    this.head = 0;
  }

  private resize(max: number): void {
    this.max = max;
    this.maxCertain = true;
    this.tracked = Math.min(max, this.cap);
    this.evictTo(this.tracked);
    if (max > this.cap) this.exact = false;
    // A table resized to nothing is certainly empty, whatever we knew before.
    if (max === 0) this.exact = true;
  }
}

/** A literal field name: the interned string when it is a common one, else lower-cased (HTTP/2
 *  names are lower-case; an upper-case one is malformed, and must not split a header in two). */
function nameOf(buf: Buffer, s: number, e: number): string {
  return internName(buf, s, e) ?? latin1(buf, s, e).toLowerCase();
}
