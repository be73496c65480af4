// Waits for the BPF side's new-executable-file events (bpf/tlsotel.bpf.c: file_events) and
// hands them over as soon as they are written.
//
// The data ring is drained on a timer (every 10 to 40 ms): fine for plaintext, too late here,
// where every millisecond between a process mapping a new TLS library and its attach is a
// millisecond in which its calls are not traced. These events are few (one per new file), so
// the BPF side writes them with a wake-up, and a libuv pool thread blocks in epoll_wait on the
// ring: the event loop hears of an event within a wake-up's latency, and an idle agent pays
// nothing but one wait every WAIT_MS.
import { BpfError, libbpf } from './libbpf';
import { RingReader } from './ring-reader';
import { TlsFileEventFlags, TlsFileEventKind, TlsFileEventLayout, TlsFileKeyLayout, TLSOTEL_COMM_LEN } from './layout.generated';

export const FileEventKind = {
  /** The process exec'd the file. */
  Exec: TlsFileEventKind.TLS_FILE_EXEC,
  /** The process mapped the file executable (a shared library). */
  Mmap: TlsFileEventKind.TLS_FILE_MMAP,
} as const;
export type FileEventKind = (typeof FileEventKind)[keyof typeof FileEventKind];

export interface FileEvent {
  kind: FileEventKind;
  pid: number;
  /** CLOCK_MONOTONIC ns when the BPF side saw it (comparable with process.hrtime.bigint()). */
  tsNs: bigint;
  /** The file's device, as the kernel encodes it (major << 20 | minor), and inode. */
  kernelDev: number;
  ino: number;
  /** Mmap: the fd mapped (open at the event; may be closed by the time it is read). -1: exec. */
  fd: number;
  comm: string;
  /** The BPF side stopped the process (SIGSTOP) until the file is examined: the agent must
   *  resume it (SIGCONT), whatever comes of the examination. */
  held: boolean;
}

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;
/** struct epoll_event on x86_64: packed u32 events + u64 data. */
const EPOLL_EVENT_SIZE = 12;
/** How long one wait lasts: a stop waits at most this for the pool thread to come back. */
const WAIT_MS = 250;
/** A stop that finds no wait in progress reads the ring for the last time this much later; and
 *  the last reads are this far apart. */
const FINAL_DRAIN_MS = 20;
const FINAL_DRAIN_TRIES = 10;

export interface WatcherHooks {
  /** Before each wait (at least every WAIT_MS while the watcher runs): it is alive. */
  onWait?: () => void;
  /** At stop, after a last read: whether events are known to be still missing. */
  expectMore?: () => boolean;
}

export function decodeFileEvent(rec: Buffer): FileEvent | undefined {
  if (rec.length < TlsFileEventLayout.SIZE) return undefined;
  const kind = rec.readUInt32LE(TlsFileEventLayout.kind);
  if (kind !== FileEventKind.Exec && kind !== FileEventKind.Mmap) return undefined;
  const comm = rec.subarray(TlsFileEventLayout.comm, TlsFileEventLayout.comm + TLSOTEL_COMM_LEN);
  const nul = comm.indexOf(0);
  return {
    kind,
    pid: rec.readUInt32LE(TlsFileEventLayout.pid),
    tsNs: rec.readBigUInt64LE(TlsFileEventLayout.ts_ns),
    kernelDev: rec.readUInt32LE(TlsFileEventLayout.file + TlsFileKeyLayout.dev),
    ino: Number(rec.readBigUInt64LE(TlsFileEventLayout.file + TlsFileKeyLayout.ino)),
    fd: rec.readInt32LE(TlsFileEventLayout.fd),
    comm: comm.toString('latin1', 0, nul < 0 ? comm.length : nul),
    held: (rec.readUInt32LE(TlsFileEventLayout.flags) & TlsFileEventFlags.TLS_FILE_HELD) !== 0,
  };
}

export class FileEventWatcher {
  private readonly reader: RingReader;
  private epfd: number;
  private readonly events = Buffer.alloc(EPOLL_EVENT_SIZE);
  private waiting = false;
  private stopped = false;
  private finished: () => void = () => {};
  private readonly done: Promise<void>;
  /** Records that were not a file event (never expected: a layout mismatch). */
  malformed = 0;

  constructor(
    ringFd: number,
    ringBytes: number,
    private readonly onEvents: (events: FileEvent[]) => void,
    private readonly onError: (e: Error) => void,
    private readonly hooks: WatcherHooks = {},
  ) {
    const lb = libbpf();
    this.reader = new RingReader(ringFd, ringBytes);
    this.epfd = lb.epoll_create1(EPOLL_CLOEXEC);
    if (this.epfd < 0) {
      this.reader.close();
      throw new BpfError('epoll_create1', lb.errno());
    }
    const ev = Buffer.alloc(EPOLL_EVENT_SIZE);
    ev.writeUInt32LE(EPOLLIN, 0);
    if (lb.epoll_ctl(this.epfd, EPOLL_CTL_ADD, ringFd, ev) < 0) {
      const errno = lb.errno();
      lb.close(this.epfd);
      this.reader.close();
      throw new BpfError('epoll_ctl(file_events)', errno);
    }
    this.done = new Promise((resolve) => { this.finished = resolve; });
  }

  /** Hands over what is there now, then waits for more on a pool thread. */
  start(): void {
    this.drain();
    this.wait();
  }

  private wait(): void {
    if (this.stopped) return this.closeSoon();
    this.hooks.onWait?.();
    this.waiting = true;
    libbpf().epoll_wait_async(this.epfd, this.events, 1, WAIT_MS, (err, n) => {
      this.waiting = false;
      if (this.stopped) return this.closeSoon();
      if (err) this.onError(err instanceof Error ? err : new Error(String(err)));
      else if (n > 0) this.drain();
      this.wait(); // n 0 (timeout) or -1 (EINTR): wait again
    });
  }

  /** Reads every event there is now. */
  drain(): number {
    const out: FileEvent[] = [];
    const n = this.reader.drain((rec) => {
      const ev = decodeFileEvent(rec);
      if (ev === undefined) this.malformed++;
      else out.push(ev);
    });
    if (out.length > 0) this.onEvents(out);
    return n;
  }

  /** Stops waiting; resolves once the pool thread is back and the ring has been read a last
   *  time (at least FINAL_DRAIN_MS later: events written meanwhile are handed over too, e.g.
   *  of processes held just before holding was turned off) and closed, with the epoll. */
  stop(): Promise<void> {
    this.stopped = true;
    if (!this.waiting) this.closeSoon();
    return this.done;
  }

  private closing: NodeJS.Timeout | undefined;

  private closeSoon(): void {
    this.closing ??= setTimeout(() => this.close(), FINAL_DRAIN_MS);
  }

  private close(): void {
    if (this.epfd < 0) return;
    libbpf().close(this.epfd);
    this.epfd = -1;
    this.finalDrain(0);
  }

  /** The last reads: again, FINAL_DRAIN_MS apart, while hooks.expectMore says events are
   *  missing (a record reserved but not yet submitted is not read), at most FINAL_DRAIN_TRIES. */
  private finalDrain(tries: number): void {
    let more = false;
    try {
      this.drain();
      more = tries + 1 < FINAL_DRAIN_TRIES && this.hooks.expectMore?.() === true;
    } catch (e) {
      this.onError(e instanceof Error ? e : new Error(String(e)));
    }
    if (more) {
      setTimeout(() => this.finalDrain(tries + 1), FINAL_DRAIN_MS);
      return;
    }
    this.reader.close();
    this.finished();
  }
}
