// The numbers of every series in a few large Float64Arrays: a series is a slot (a slice of
// slotSize numbers) of a chunk. Recording an exchange then writes to one array that is already
// at hand, without reaching the series object or a typed array of its own first.
//
// Slots of forgotten series are reused (cleared first): the memory kept is that of the most
// series alive at once, rounded up to a chunk.

/** Slots per chunk (a power of two). */
const CHUNK_BITS = 6;
const CHUNK_SLOTS = 1 << CHUNK_BITS;

export class SeriesSlab {
  readonly chunks: Float64Array[] = [];
  private readonly free: number[] = [];
  private next = 0;

  /** `clear` sets a slot to its empty state (on allocation: a reused slot holds old values). */
  constructor(readonly slotSize: number, private readonly clear: (store: Float64Array, base: number) => void) {}

  /** Slots in use. */
  get live(): number {
    return this.next - this.free.length;
  }

  /** Slots allocated, used or free. */
  get allocated(): number {
    return this.next;
  }

  allocate(): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.next++;
    const chunk = slot >>> CHUNK_BITS;
    if (chunk === this.chunks.length) this.chunks.push(new Float64Array(CHUNK_SLOTS * this.slotSize));
    this.clear(this.chunks[chunk], this.baseOf(slot));
    return slot;
  }

  release(slot: number): void {
    this.free.push(slot);
  }

  chunkOf(slot: number): Float64Array {
    return this.chunks[slot >>> CHUNK_BITS];
  }

  baseOf(slot: number): number {
    return (slot & (CHUNK_SLOTS - 1)) * this.slotSize;
  }
}
