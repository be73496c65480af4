// V8 flags the agent runs with, which V8 takes only at start (`run`: --single-threaded-gc).
//
// Why single-threaded garbage collection: V8 collects garbage with helper threads by default
// (parallel scavenges, concurrent marking and sweeping). In a process that makes ~50k spans a
// second, collections are frequent, and each spreads over every core for its duration: on a
// busy host that is when the traced programs lose their cores to the agent. With the flag the
// collector runs on the agent's main thread only — one core, between two pieces of the
// agent's own work — and, measured (bench/README.md, issue #15), in less CPU in total (no
// handing out and joining of helper tasks).
//
// V8 cannot take these flags once it runs (v8.setFlagsFromString('--single-threaded-gc')
// aborts the process at the next collection), and `node dist/src/cli/main.js run` is how the
// agent is started. So `run` replaces its own process image with the same node, the flags and
// its own arguments (execv(2): the same pid — what a supervisor, a PID file or a test holds —
// and the same stdio and environment), before it has opened anything. If execv fails, the
// agent goes on without the flags and says so.
import koffi from 'koffi';
import { libc as loadLibc } from './libc';

/** The flags `run` wants V8 to start with. */
export const RUN_V8_FLAGS = ['--single-threaded-gc'] as const;

/**
 * Replaces this process with `node <flags> <node's own flags> <script> <arguments>` unless it
 * runs with `flags` already. Returns only when nothing was replaced: undefined when the flags
 * are there, else why execv failed.
 */
export function restartWithV8Flags(flags: readonly string[]): string | undefined {
  const missing = flags.filter((f) => !process.execArgv.includes(f));
  // The new image has them in process.execArgv (node keeps V8's flags there): it returns here.
  if (missing.length === 0) return undefined;
  const script = process.argv[1];
  if (script === undefined) return 'no script path to start again';
  const argv = [process.execPath, ...missing, ...process.execArgv, script, ...process.argv.slice(2)];
  try {
    const libc = loadLibc();
    // Node marks its stdio close-on-exec when they are pipes or sockets (as a parent's spawn
    // makes them): the new image would start with /dev/null for them and say nothing.
    const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
    for (const fd of [0, 1, 2]) fcntl(fd, 2 /* F_SETFD */, 0);
    const execv = libc.func('int execv(const char *path, const char **argv)');
    execv(process.execPath, [...argv, null]);
    return `execv ${process.execPath}: errno ${koffi.errno()}`;
  } catch (e) {
    return `execv ${process.execPath}: ${(e as Error).message}`;
  }
}
