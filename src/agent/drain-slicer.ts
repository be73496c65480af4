// How the agent drains its ring buffer: in slices bounded by time as well as by records, with a
// turn of the event loop between two slices (setImmediate), never one long turn.
//
// Why a time budget and not only a record count: a record's cost varies a hundredfold (a
// connection record, a 16-byte body chunk, a 16 KiB header block that completes an exchange
// and builds its span), so a fixed count gives turns from 0.1 to 10 ms. A turn that long holds
// back the exporter's network I/O (HTTP/2 flow control only moves when the loop turns) and
// makes the agent's CPU use come in lumps. A slice ends at whichever limit it reaches first.
//
// Nothing is lost by slicing: what a slice leaves stays in the ring (the kernel's producer
// waits for no one; what does not fit is counted by the BPF side as ring-full), and the next
// slice starts where this one stopped.

export interface DrainSlicerOptions {
  /** Most records in one slice. */
  maxRecords: number;
  /** Most milliseconds in one slice (checked every `checkEvery` records). */
  budgetMs: number;
  /** Records read between two clock reads (a clock read costs ~50 ns; a record ~1 µs). */
  checkEvery?: number;
  /** The clock, in ms (tests). */
  now?: () => number;
  /** Runs `fn` on a later turn of the event loop (tests). */
  defer?: (fn: () => void) => void;
  /** Gives the core to a waiting thread (sched_yield) if it should now; returns whether it
   *  did. Called at most every `yieldEveryMs` of a slice (see cpu-yield.ts). Unset: never. */
  yieldCpu?: () => boolean;
  yieldEveryMs?: number;
}

/** Reads at most `limit` records; returns how many it read (fewer: the ring is empty now). */
export type DrainFn = (limit: number) => number;

export class DrainSlicer {
  private readonly maxRecords: number;
  private readonly budgetMs: number;
  private readonly checkEvery: number;
  private readonly now: () => number;
  private readonly defer: (fn: () => void) => void;
  private readonly yieldCpu: (() => boolean) | undefined;
  private readonly yieldEveryMs: number;
  private scheduled = false;
  private cancelled = false;
  /** Slices run and records read, for the tests and the debug log. */
  slices = 0;
  records = 0;
  /** Times the core was offered to others in a slice. */
  yields = 0;
  private lastRead = 0;

  constructor(private readonly drain: DrainFn, opts: DrainSlicerOptions) {
    if (!(opts.maxRecords >= 1) || !(opts.budgetMs > 0)) throw new RangeError('a drain slice needs maxRecords ≥ 1 and budgetMs > 0');
    this.maxRecords = opts.maxRecords;
    this.budgetMs = opts.budgetMs;
    this.checkEvery = Math.max(1, Math.min(opts.checkEvery ?? 64, opts.maxRecords));
    this.now = opts.now ?? (() => performance.now());
    this.defer = opts.defer ?? ((fn) => setImmediate(fn));
    this.yieldCpu = opts.yieldCpu;
    this.yieldEveryMs = opts.yieldEveryMs ?? Infinity;
  }

  /** The last slice stopped at maxRecords (not at its time budget nor at an empty ring): a
   *  backlog of at least that many records. */
  get lastSliceFull(): boolean {
    return this.lastRead >= this.maxRecords;
  }

  /** A later slice is scheduled (the ring had more than the last slice took). */
  get continuing(): boolean {
    return this.scheduled;
  }

  /**
   * One slice now; if it stopped at a limit (not at an empty ring), the next slice on a later
   * turn of the event loop, and so on until the ring is empty. Returns the records read now.
   * A call while a continuation is scheduled runs one more slice now (a timer poll is never
   * skipped) and leaves the one continuation scheduled.
   */
  run(): number {
    const { read, empty } = this.slice();
    if (!empty && !this.scheduled && !this.cancelled) {
      this.scheduled = true;
      this.defer(() => {
        this.scheduled = false;
        if (!this.cancelled) this.run();
      });
    }
    return read;
  }

  /** No further slice runs (stop). */
  cancel(): void {
    this.cancelled = true;
  }

  /** Reads until the ring is empty, maxRecords are read, or the budget is spent. */
  private slice(): { read: number; empty: boolean } {
    const start = this.now();
    let lastYield = start;
    let read = 0;
    for (;;) {
      const want = Math.min(this.checkEvery, this.maxRecords - read);
      const got = this.drain(want);
      read += got;
      if (got < want) {
        this.account(read);
        return { read, empty: true };
      }
      const now = this.now();
      if (read >= this.maxRecords || now - start >= this.budgetMs) {
        this.account(read);
        return { read, empty: false };
      }
      if (this.yieldCpu !== undefined && now - lastYield >= this.yieldEveryMs) {
        if (this.yieldCpu()) this.yields++;
        lastYield = this.now();
      }
    }
  }

  private account(read: number): void {
    this.lastRead = read;
    this.slices++;
    this.records += read;
  }
}
