// The agent's CPU priority, following its backlog (run --nice N; bench/README.md "what was tried").
//
// At nice N the traced programs win a contended core and the agent catches up in their gaps:
// its bursts (a drain turn, a batch serialized, a garbage collection) stop landing in their
// tail latency. But on a host busy for longer than the ring buffer can hold (measured: with
// other work on both cores an agent at nice 10 got a tenth of a core and the 8 MiB ring, the
// default then, overflowed within a second at 20k requests/s), a low priority alone would lose
// records; and once the ring was watched, the export queue overflowed instead (the exporter's
// I/O and serialization run at the agent's priority too). So the agent takes back normal
// priority (nice 0) when the ring or the export queue is a quarter full, and lowers it again
// once both are nearly empty (a sixteenth): hysteresis, so that it does not flip at every poll.
// Raising one's priority needs CAP_SYS_NICE (root has it); without it the agent says so once
// and stays at N.
import type { Logger } from '../util/log';
import { setProcessNice } from '../util/process-priority';

export interface PriorityGovernorOptions {
  /** The nice value while the backlog is small; 0: the governor does nothing. */
  nice: number;
  /** Backlog (a fraction of the ring) at which normal priority is taken back. */
  boostAt?: number;
  /** Backlog at which the nice value is set again. */
  relaxAt?: number;
  log: Logger;
  /** Sets the process's nice value (tests); returns the threads set. */
  setNice?: (nice: number) => number;
}

export class PriorityGovernor {
  private readonly nice: number;
  private readonly boostAt: number;
  private readonly relaxAt: number;
  private readonly log: Logger;
  private readonly setNice: (nice: number) => number;
  private boosted = false;
  /** Raising the priority failed (no CAP_SYS_NICE): stay at `nice`. */
  private cannotBoost = false;
  /** Times normal priority was taken back, for the debug log and the tests. */
  boosts = 0;

  constructor(opts: PriorityGovernorOptions) {
    this.nice = opts.nice;
    this.boostAt = opts.boostAt ?? 1 / 4;
    this.relaxAt = opts.relaxAt ?? 1 / 16;
    if (!(this.relaxAt < this.boostAt)) throw new RangeError('relaxAt must be below boostAt');
    this.log = opts.log;
    this.setNice = opts.setNice ?? setProcessNice;
  }

  /** Sets the nice value on every thread (at start, and again once start-up made its threads). */
  apply(): void {
    if (this.nice === 0) return;
    const threads = this.setNice(this.boosted ? 0 : this.nice);
    this.log.debug(`nice ${this.boosted ? 0 : this.nice} on the agent's ${threads} threads`);
  }

  /** The current nice value the governor wants. */
  get current(): number {
    return this.boosted ? 0 : this.nice;
  }

  /** Called at each timed poll with the backlog before the poll: the fuller of the ring and
   *  the export queue (0..1). */
  update(backlog: number): void {
    if (this.nice === 0 || this.cannotBoost) return;
    if (!this.boosted && backlog >= this.boostAt) {
      try {
        this.setNice(0);
      } catch (e) {
        this.cannotBoost = true;
        this.log.warn(`the ring buffer or the export queue is ${Math.round(backlog * 100)}% full and the agent cannot take back normal priority (${(e as Error).message}; needs CAP_SYS_NICE): it stays at nice ${this.nice}, and records may be lost (counted) while the host is busy; --nice 0 avoids this`);
        return;
      }
      this.boosted = true;
      this.boosts++;
      this.log.debug(`backlog ${Math.round(backlog * 100)}% full (ring or export queue): nice 0 until it drains`);
    } else if (this.boosted && backlog <= this.relaxAt) {
      this.setNice(this.nice);
      this.boosted = false;
      this.log.debug(`backlog drained: nice ${this.nice} again`);
    }
  }
}
