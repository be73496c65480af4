// Wires the capture stages: BPF probes → discovery (attach per file) → ring reader → records →
// streams. Used by `tlsotel sniff` and `tlsotel run`. Starts in order, stops in reverse.
import { TlsProbes, PROBE_DEFAULTS, type Counters } from '../bpf/probes';
import { RingReader } from '../bpf/ring-reader';
import { Discovery, type TlsFile } from '../discovery/discovery';
import { decodeRecord, RecordCopier, type TlsRecord } from './record';
import { StreamTable, type StreamSink, type StreamStats, STREAM_DEFAULTS } from './streams';
import type { Logger } from '../util/log';

export interface CaptureOptions {
  /** Trace only this process (filtered in BPF). */
  pid?: number;
  /** Trace only processes whose comm equals this (filtered in user space). */
  comm?: string;
  captureBytes?: number;
  maxSegments?: number;
  ringBufferBytes?: number;
  /** How often the ring buffer is drained while it fills fast (a sixteenth of it or more
   *  between two polls). */
  pollIntervalMs?: number;
  /** While polls find less than that, the interval doubles up to this: a timer wake-up costs
   *  tens of µs on a VM (100 a second are about 1 % of a core: half of what an idle agent
   *  spent, and a fifth of its cost at 1k requests/s). A poll that finds a sixteenth of the
   *  ring brings it back to pollIntervalMs; the ring (8 MiB by default) must not fill within
   *  this time of traffic growing that fast. */
  idlePollMaxMs?: number;
  /** How often /proc is rescanned for new TLS files and exited processes. */
  rescanIntervalMs?: number;
  maxConnections?: number;
  idleTimeoutMs?: number;
  objectPath?: string;
  libDirs?: string[];
  binDirs?: string[];
  log: Logger;
}

export interface CaptureSink extends StreamSink {
  /** Every record that passed the filters, before stream reassembly (for `sniff`). */
  onRecord?(rec: TlsRecord): void;
  /**
   * False when the sink never keeps a payload (a data record's `data`, an onData buffer) past
   * the call: records are then decoded straight from the ring buffer, whose bytes the kernel
   * reuses as soon as the record is released. Otherwise (the default) each record is first
   * copied into memory of our own, and payloads are safe to keep.
   */
  keepsPayloads?: boolean;
}

export interface CaptureStats {
  bpf: Counters;
  streams: StreamStats;
  malformedRecords: number;
  filteredRecords: number;
  sinkErrors: number;
  files: number;
  ringPendingBytes: number;
}

/** Records handled per turn of the event loop (a few ms of work). */
const POLL_BATCH = 2048;

export const CAPTURE_DEFAULTS = {
  ...PROBE_DEFAULTS,
  ...STREAM_DEFAULTS,
  pollIntervalMs: 10,
  idlePollMaxMs: 40,
  rescanIntervalMs: 1000,
};

export class Capture {
  private readonly streams: StreamTable;
  private readonly discovery: Discovery;
  private readonly reader: RingReader;
  private readonly timers: NodeJS.Timeout[] = [];
  /** The poll timer (see schedulePoll): what keeps the process alive while capturing. */
  private pollTimer: NodeJS.Timeout | undefined;
  private pollDelayMs = 0;
  /** Backlog at a poll that keeps polling at pollIntervalMs (see idlePollMaxMs). */
  private readonly busyBytes: number;
  private readonly busyPollMs: number;
  private readonly idlePollMaxMs: number;
  private malformed = 0;
  private filtered = 0;
  private sinkErrors = 0;
  private stopped = false;
  /** A continuation of a large drain is scheduled. */
  private continuing = false;
  /** For sinks that keep payloads (see CaptureSink.keepsPayloads). */
  private readonly copier: RecordCopier | undefined;
  /** The BPF counters as they were when the probes were closed (the maps are gone after). */
  private finalCounters: Counters | undefined;

  private constructor(
    private readonly probes: TlsProbes,
    private readonly opts: CaptureOptions,
    private readonly sink: CaptureSink,
  ) {
    this.streams = new StreamTable(sink, { maxConnections: opts.maxConnections, idleTimeoutMs: opts.idleTimeoutMs });
    this.copier = sink.keepsPayloads === false ? undefined : new RecordCopier();
    this.reader = new RingReader(probes.ringFd, probes.ringBufferBytes);
    this.busyBytes = probes.ringBufferBytes / 16;
    this.busyPollMs = opts.pollIntervalMs ?? CAPTURE_DEFAULTS.pollIntervalMs;
    this.idlePollMaxMs = Math.max(this.busyPollMs, opts.idlePollMaxMs ?? CAPTURE_DEFAULTS.idlePollMaxMs);
    this.discovery = new Discovery({
      attach: (p, id, syms, internals) => probes.attachFile(p, id, syms, internals),
      log: opts.log,
      libDirs: opts.libDirs,
      binDirs: opts.binDirs,
      onScan: (running) => {
        // Every process with connections that no longer runs (also one that started and died
        // between two scans). Records it wrote before it exited may still be in the ring: take
        // them first. A pid reused within one scan interval is taken for the same process.
        const gone = this.streams.pids().filter((pid) => !running.has(pid));
        if (gone.length === 0) return;
        this.pollAll();
        this.streams.processesExited(gone, process.hrtime.bigint());
      },
    });
  }

  /** Loads and attaches everything found on the host now. When it returns, capture is live. */
  static start(opts: CaptureOptions, sink: CaptureSink): Capture {
    const probes = TlsProbes.load({
      filterTgid: opts.pid,
      captureBytes: opts.captureBytes,
      maxSegments: opts.maxSegments,
      ringBufferBytes: opts.ringBufferBytes,
      objectPath: opts.objectPath,
      log: opts.log,
    });
    let cap: Capture;
    try {
      cap = new Capture(probes, opts, sink);
      cap.discovery.initialScan();
    } catch (e) {
      probes.close();
      throw e;
    }
    cap.discovery.startRescans(opts.rescanIntervalMs ?? CAPTURE_DEFAULTS.rescanIntervalMs);
    const idleMs = opts.idleTimeoutMs ?? CAPTURE_DEFAULTS.idleTimeoutMs;
    cap.timers.push(setInterval(() => cap.streams.evictIdle(process.hrtime.bigint()), Math.min(idleMs, 10_000)).unref());
    cap.schedulePoll(cap.busyPollMs);
    return cap;
  }

  /** The wait before the next timed poll (pollIntervalMs while the ring fills fast, up to
   *  idlePollMaxMs otherwise). */
  get pollDelayNowMs(): number {
    return this.pollDelayMs;
  }

  get files(): TlsFile[] {
    return this.discovery.attached;
  }

  /** Basename of the probed file a record came from, e.g. "libssl.so.3" or "node". */
  libraryName(libId: number): string {
    const f = this.discovery.fileById(libId);
    return f ? f.displayPath.slice(f.displayPath.lastIndexOf('/') + 1) : `lib#${libId}`;
  }

  /** Polls after `delayMs`, then again after pollIntervalMs if it found a sixteenth of the
   *  ring or more, or after a longer wait (doubling, up to idlePollMaxMs) if it found less.
   *  Ref'd: while capture runs, this timer keeps the process alive; stop() clears it. */
  private schedulePoll(delayMs: number): void {
    this.pollDelayMs = delayMs;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      if (this.stopped) return;
      const backlog = this.reader.pending();
      this.poll();
      const busy = backlog >= this.busyBytes || this.continuing;
      this.schedulePoll(busy ? this.busyPollMs : Math.min(this.pollDelayMs * 2, this.idlePollMaxMs));
    }, delayMs);
  }

  /**
   * Drains the ring buffer: at most POLL_BATCH records now, the rest in later turns of the event
   * loop (setImmediate), so that a burst does not starve the exporter's network I/O (HTTP/2
   * flow control only moves when the loop turns). Returns the number of records read now.
   */
  poll(): number {
    const n = this.drainSome(POLL_BATCH);
    if (n >= POLL_BATCH && !this.continuing) {
      this.continuing = true;
      setImmediate(() => {
        this.continuing = false;
        this.poll();
      });
    }
    return n;
  }

  /** Drains everything there is now (before acting on a process exit, and at stop). */
  private pollAll(): void {
    while (this.drainSome(POLL_BATCH) >= POLL_BATCH);
  }

  private drainSome(limit: number): number {
    if (this.stopped) return 0;
    const copier = this.copier;
    return this.reader.drain((ring) => {
      const rec = decodeRecord(copier === undefined ? ring : copier.copy(ring));
      if (!rec) {
        this.malformed++;
        return;
      }
      if (this.opts.comm !== undefined && rec.comm !== this.opts.comm) {
        this.filtered++;
        return;
      }
      try {
        this.sink.onRecord?.(rec);
        this.streams.push(rec);
      } catch (e) {
        // A bug downstream must not stop capture: count it, say it once.
        if (this.sinkErrors++ === 0) this.opts.log.error(`error while handling a record (counted, logged once): ${(e as Error).stack}`);
      }
    }, limit);
  }

  stats(): CaptureStats {
    return {
      bpf: this.finalCounters ?? this.probes.counters(),
      streams: this.streams.stats(),
      malformedRecords: this.malformed,
      filteredRecords: this.filtered,
      sinkErrors: this.sinkErrors,
      files: this.discovery.attached.length,
      ringPendingBytes: this.reader.pending(),
    };
  }

  /** Detaches every probe, drains what is left, closes all streams. Returns the number of links destroyed. */
  stop(): number {
    if (this.stopped) return 0;
    for (const t of this.timers) clearInterval(t);
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.discovery.stop();
    const links = this.probes.detachAll(); // no new records from here on
    this.pollAll();
    this.stopped = true;
    this.streams.closeAll('agent-stopped', process.hrtime.bigint());
    this.reader.close();
    this.finalCounters = this.probes.counters();
    this.probes.close();
    return links;
  }
}
