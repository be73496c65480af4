// The agent's own CPU scheduling priority (`run --nice N`, bench/README.md "what was tried").
//
// Why: at saturation the traced program and the agent want the same cores at the same time; the
// agent's work comes in bursts (a drain turn, a batch serialized, a garbage collection) and a
// burst that takes a core from the program lands in the program's tail latency. With a higher
// nice value the kernel's scheduler gives the program the core when both are runnable, and the
// agent catches up in the program's gaps (the BPF ring buffer holds what arrives meanwhile;
// every record that does not fit is counted, never lost silently).
//
// Linux keeps a nice value per thread, and setpriority(PRIO_PROCESS, 0) changes only the
// calling thread: V8's and libuv's threads started before it (garbage collection helpers, the
// compiler, the thread pool) would stay at 0. So every thread of /proc/self/task is set;
// threads started later inherit the value of the thread that starts them.
import fs from 'node:fs';
import os from 'node:os';

/** The nice value `run` takes by default: 0, the agent's priority left as it is. A lower
 *  priority (nice 10) was measured and not kept as the default: on a host busy for longer than
 *  the ring can hold, the agent at nice 10 fell behind and caught up in bursts, and the traced
 *  program's p99 was no better, often worse (bench/README.md, "what was tried"); on a quiet
 *  host with the 32 MiB ring, better in one run and no better in the next ("Session 14"). */
export const DEFAULT_NICE = 0;
/** The values `--nice` takes: 0 (the agent's priority left as it is) to 19, Linux's lowest. */
export const NICE_RANGE = [0, 19] as const;

/** Node's SystemError for ESRCH (the thread ended between the listing and the call). */
function threadGone(e: unknown): boolean {
  return (e as { info?: { code?: string } }).info?.code === 'ESRCH';
}

/** Thread ids of this process, from /proc/self/task. */
function threadIds(): number[] {
  return fs.readdirSync('/proc/self/task').map(Number).filter((t) => Number.isSafeInteger(t) && t > 0);
}

/**
 * Gives every thread of this process nice value `nice`. Returns the number of threads set.
 * Raising the priority (a lower value than now) needs CAP_SYS_NICE: without it this throws. A thread that exited between the listing and the call is skipped;
 * any other failure throws, naming the operation.
 */
export function setProcessNice(nice: number): number {
  if (!Number.isSafeInteger(nice) || nice < NICE_RANGE[0] || nice > NICE_RANGE[1]) {
    throw new RangeError(`nice value ${nice}: expected an integer from ${NICE_RANGE[0]} to ${NICE_RANGE[1]}`);
  }
  let set = 0;
  for (const tid of threadIds()) {
    try {
      os.setPriority(tid, nice);
      set++;
    } catch (e) {
      if (threadGone(e)) continue;
      throw new Error(`setpriority(thread ${tid}, nice ${nice}): ${(e as Error).message}`);
    }
  }
  return set;
}

/** The nice value of each thread of this process (for tests and the debug log). */
export function threadNiceValues(): number[] {
  const out: number[] = [];
  for (const tid of threadIds()) {
    try {
      out.push(os.getPriority(tid));
    } catch (e) {
      if (threadGone(e)) continue;
      throw new Error(`getpriority(thread ${tid}): ${(e as Error).message}`);
    }
  }
  return out;
}
