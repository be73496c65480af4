// sched_yield(2) for the agent's long stretches of work (the ring drain, see drain-slicer.ts).
//
// Why: at saturation the traced program and the agent want the same cores. Linux's fair
// scheduler takes a running thread off its core for a waiting one only at a wake-up or at the
// scheduler tick (every 4 ms at HZ=250), so a traced program that wakes while the agent is in
// a burst of work may wait up to a tick for the core: its tail latency. A thread that yields
// every few hundred µs gives the waiting thread the core at once, and gets it back when it is
// its turn again; when no other thread waits, sched_yield returns at once (a syscall). The
// agent's share of CPU is unchanged; only how its work is cut up.
import { libc } from './libc';

/** `run`'s default: µs of drain work between two offers of the core (--cpu-yield). */
export const DEFAULT_CPU_YIELD_US = 200;

let fn: (() => number) | undefined;

/** Offers the calling thread's core to another runnable thread. */
export function yieldCpu(): void {
  if (fn === undefined) fn = libc().func('int sched_yield(void)') as unknown as () => number;
  fn();
}
