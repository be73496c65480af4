// Finds a series by a key of three small integers (process, route, variant and server): an
// open-addressing hash table in two Int32Arrays. An exchange's lookup reads one or two cache
// lines of it, where nested Maps cost a Map object, its table and a key object per level, and
// an integer key above 2^30 (not a Smi) costs an allocation per lookup (bench/PIPELINE.md).
//
// Keys are integers in [0, 2^31); values are slot numbers in [0, 2^31). Entries are removed in
// bulk (a process forgotten): rare, so by rebuilding the table.

const EMPTY = -1;

export class SeriesIndex {
  /** Three per bucket; a bucket's first number is EMPTY when it is free. */
  private keys: Int32Array;
  private values: Int32Array;
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * 3).fill(EMPTY);
    this.values = new Int32Array(cap);
  }

  get size(): number {
    return this.count;
  }

  /** Buckets (the memory kept is 16 bytes per bucket, at most 4 buckets per entry). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** The value of (a, b, c), or -1. */
  get(a: number, b: number, c: number): number {
    const keys = this.keys;
    for (let i = hash(a, b, c) & this.mask; ; i = (i + 1) & this.mask) {
      const k = i * 3;
      const ka = keys[k];
      if (ka === EMPTY) return -1;
      if (ka === a && keys[k + 1] === b && keys[k + 2] === c) return this.values[i];
    }
  }

  /** Sets the value of (a, b, c) (replacing the one it had). */
  set(a: number, b: number, c: number, value: number): void {
    if (!(isIndexInt(a) && isIndexInt(b) && isIndexInt(c) && isIndexInt(value))) {
      throw new RangeError(`series index keys and values are integers in [0, 2^31): ${a}, ${b}, ${c} → ${value}`);
    }
    if ((this.count + 1) * 2 > this.mask + 1) this.rebuild((this.mask + 1) * 2, () => false);
    this.put(a, b, c, value);
  }

  /** Removes every entry for which `drop` is true; shrinks the table when it is mostly free. */
  removeIf(drop: (a: number, b: number, c: number, value: number) => boolean): void {
    this.rebuild(this.mask + 1, drop);
    let cap = this.mask + 1;
    while (cap > 1024 && this.count * 8 < cap) cap /= 2;
    if (cap !== this.mask + 1) this.rebuild(cap, () => false);
  }

  private put(a: number, b: number, c: number, value: number): void {
    const keys = this.keys;
    for (let i = hash(a, b, c) & this.mask; ; i = (i + 1) & this.mask) {
      const k = i * 3;
      const ka = keys[k];
      if (ka === EMPTY || (ka === a && keys[k + 1] === b && keys[k + 2] === c)) {
        if (ka === EMPTY) this.count++;
        keys[k] = a;
        keys[k + 1] = b;
        keys[k + 2] = c;
        this.values[i] = value;
        return;
      }
    }
  }

  private rebuild(capacity: number, drop: (a: number, b: number, c: number, value: number) => boolean): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.mask = capacity - 1;
    this.keys = new Int32Array(capacity * 3).fill(EMPTY);
    this.values = new Int32Array(capacity);
    this.count = 0;
    for (let i = 0; i < oldValues.length; i++) {
      const k = i * 3;
      const a = oldKeys[k];
      if (a === EMPTY || drop(a, oldKeys[k + 1], oldKeys[k + 2], oldValues[i])) continue;
      this.put(a, oldKeys[k + 1], oldKeys[k + 2], oldValues[i]);
    }
  }
}

/** An integer in [0, 2^31): what an Int32Array holds without aliasing another. */
function isIndexInt(x: number): boolean {
  return (x | 0) === x && x >= 0;
}

/** A 32-bit mix of the three numbers (multiply-xorshift, as in murmur3's finaliser). */
function hash(a: number, b: number, c: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77) ^ Math.imul(c, 0xc2b2ae3d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}
