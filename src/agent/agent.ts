// The composition root: the one place that builds the agent's stages, starts them in order and
// stops them in reverse. `run`, `sniff`, `doctor` and the benchmarks use it; none of them wires
// a stage.
//
// Start:  BPF object (load, tunables, the syscall hook) → pipeline (pipeline.ts: decode →
//         streams → protocol sessions → exchanges → spans → sink) → discovery (TLS libraries
//         claim files; each claim is attached once per file) → timers (ring polls, /proc
//         rescans, idle and response timeouts, clock resync, loss log, the agent's metrics).
// Stop:   timers → discovery → detach every probe → drain the ring → close every connection →
//         flush the sink → the agent's metrics → free the BPF object.
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { TlsProbes, PROBE_DEFAULTS, userDev, type Counters, type FileCounters } from '../bpf/probes';
import { FileEventKind, FileEventWatcher, type FileEvent } from '../bpf/file-events';
import { RingReader } from '../bpf/ring-reader';
import { STREAM_DEFAULTS } from '../capture/streams';
import { Discovery, NoticeResult, type DiscoveryStats, type RootReport, type TlsFile } from '../discovery/discovery';
import { createSpanSink, type ExportConfig } from '../export';
import type { SpanSink } from '../export/types';
import type { Exchange } from '../exchange/types';
import { MetricsStage, type MetricsSettings } from '../metrics/metrics-stage';
import { startAgentMetrics, type AgentMetrics, type AgentMetricsSettings } from '../telemetry/agent-metrics';
import { LossReporter, type AgentStats } from '../telemetry/loss-reporter';
import { TLS_LIBRARIES, untraceableStack, type UntraceableFile } from '../tls';
import type { TlsLibrary } from '../tls/library';
import { startPeriodicResync } from '../trace/clock';
import { ProcessInfoReader } from '../trace/resource';
import type { RedactionOptions } from '../trace/redact';
import type { SamplingConfig } from '../trace/sampler';
import type { Logger } from '../util/log';
import { DEFAULT_LIBRARY_ROOTS } from '../discovery/library-roots';
import { DrainSlicer } from './drain-slicer';
import { DEFAULT_CPU_YIELD_US, yieldCpu } from '../util/cpu-yield';
import { CAP_KILL, confinement, effectiveCaps, hasCap } from '../util/caps';
import { EXPORT_PAUSE_AT, ExportProgress, mayDrain } from './export-backpressure';
import { PriorityGovernor } from './priority-governor';
import { Pipeline, type Observer, type PipelineStats } from './pipeline';

export type { RootReport };

export interface CaptureOptions {
  /** Trace only this process (filtered in BPF). */
  pid?: number;
  /** Trace only threads with one of these names (comm; filtered in BPF). */
  comms?: readonly string[];
  captureBytes?: number;
  maxSegments?: number;
  ringBufferBytes?: number;
  /** See ProbeOptions.skipBodiesFrom (0: off). */
  skipBodiesFrom?: number;
  /** How often the ring buffer is drained while it fills fast (a sixteenth of it, or 512 KiB,
   *  or more between two polls). */
  pollIntervalMs?: number;
  /** While polls find less than that, the interval doubles up to this: a timer wake-up costs
   *  tens of µs on a VM (100 a second are about 1 % of a core: half of what an idle agent
   *  spent, and a fifth of its cost at 1k requests/s). A poll that finds a sixteenth of the
   *  ring (512 KiB at most) brings it back to pollIntervalMs; the ring (32 MiB by default) must
   *  not fill within this time of traffic growing that fast. */
  idlePollMaxMs?: number;
  /** Longest turn of the event loop spent draining the ring (see drain-slicer.ts): a drain
   *  continues on later turns, with the loop's I/O in between. */
  drainSliceMs?: number;
  /** Within a drain, the core is offered to other threads (sched_yield) every this many µs of
   *  work (cpu-yield.ts); 0: never. */
  cpuYieldUs?: number;
  /** The agent's nice value while its ring backlog is small (priority-governor.ts); 0 or
   *  unset: its priority is left as it is. */
  nice?: number;
  /** How often /proc is rescanned for new TLS files and exited processes. */
  rescanIntervalMs?: number;
  maxConnections?: number;
  idleTimeoutMs?: number;
  objectPath?: string;
  libDirs?: string[];
  binDirs?: string[];
  /** Directories searched for TLS library files before any process maps them (default:
   *  container runtimes' image layers, src/discovery/library-roots.ts). */
  libraryRoots?: string[];
  /** How often the library roots are searched again (a newly unpacked image layer). */
  rootRescanIntervalMs?: number;
  /** React to exec and executable mappings of files not examined yet (default on; off only
   *  to measure what the rescans alone miss). */
  fileEvents?: boolean;
  /** With fileEvents: a process that execs or maps a new file of TLS-library size is stopped
   *  by the BPF side until the file is examined and attached, then resumed, so that its first
   *  request is traced (bpf/tlsotel.bpf.c may_hold says which processes). Default off; the
   *  CLI's --hold-new-programs turns it on. Only an agent whose event loop never blocks on a
   *  child process may hold (a held child of a spawnSync would wait for the loop that waits). */
  holdNewFiles?: boolean;
  /** The TLS libraries to trace (default: all of src/tls). */
  libraries?: readonly TlsLibrary[];
}

/** What `run` adds: where spans go and what they hold. */
export interface TracingOptions {
  export: ExportConfig;
  redaction: RedactionOptions;
  /** Same-host client↔server stitching (default on). */
  stitch: boolean;
  responseTimeoutMs?: number;
  attributeValueLengthLimit?: number;
  /** On every span's resource (OTEL_RESOURCE_ATTRIBUTES of the agent). */
  resourceAttributes?: Record<string, string>;
  /** How often loss counters are logged when they change. */
  statsIntervalMs: number;
  /** The agent's own counters as OTLP metrics (src/config decides when and where); undefined:
   *  none. */
  metrics?: AgentMetricsSettings;
  /** RED metrics from every exchange (src/metrics); undefined: none. */
  red?: MetricsSettings;
  /** Which spans are kept; undefined: every span. */
  sampling?: SamplingConfig;
  /** The OpenTelemetry SDK's own diagnostics go to the debug log. */
  verbose: boolean;
  /** For tests: a sink instead of the one the export config makes. */
  sink?: SpanSink;
}

export interface AgentOptions {
  capture: CaptureOptions;
  /** Exactly one of tracing (run) and observe (sniff, tests). */
  tracing?: TracingOptions;
  observe?: Observer;
  log: Logger;
}

export interface CaptureStats {
  bpf: Counters;
  streams: PipelineStats['streams'];
  malformedRecords: number;
  sinkErrors: number;
  files: number;
  ringPendingBytes: number;
  /** Finding new files: the BPF side's exec/mmap events and what discovery made of them. */
  discovery?: NewFileStats;
}

export interface NewFileStats extends DiscoveryStats {
  bpf: FileCounters;
  /** Milliseconds from the BPF event to the file's probes attached, for the last
   *  NOTICE_LATENCIES attached on a notice (oldest first). */
  attachLatenciesMs: number[];
  /** Processes held at a new file (TLS_FILE_HELD) and resumed; those that were gone (killed
   *  while held) when resumed. */
  resumed: number;
  resumeGone: number;
  /** How long the last NOTICE_LATENCIES held processes were held, ms from the BPF event to
   *  their SIGCONT (oldest first). */
  heldMs: number[];
}

/** Reaction latencies kept for stats (a bounded window). */
const NOTICE_LATENCIES = 256;
/** A process held at least this long at a new file is logged (info). */
const SLOW_HOLD_MS = 100;

/** Most records handled in one turn of the event loop (with drainSliceMs, whichever comes first). */
const POLL_BATCH = 2048;
/** A poll that finds this much (or a sixteenth of a smaller ring) brings the interval down to
 *  pollIntervalMs. */
const BUSY_BACKLOG_MAX = 512 * 1024;
/** Owed closes (settleOwedCloses): every second, three sweeps after close records were lost,
 *  at most this many connection lookups each. */
const OWED_CLOSE_SWEEP_MS = 1000;
const OWED_CLOSE_SWEEPS = 3;
const OWED_CLOSE_SWEEP_LIMIT = 4096;

export const CAPTURE_DEFAULTS = {
  ...PROBE_DEFAULTS,
  ...STREAM_DEFAULTS,
  pollIntervalMs: 10,
  idlePollMaxMs: 40,
  drainSliceMs: 2,
  cpuYieldUs: DEFAULT_CPU_YIELD_US,
  rescanIntervalMs: 1000,
  rootRescanIntervalMs: 30_000,
};

export class Agent {
  readonly pipeline: Pipeline;
  private readonly discovery: Discovery;
  private readonly reader: RingReader;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stopTimers: Array<() => void> = [];
  /** The poll timer (see schedulePoll): what keeps the process alive while capturing. */
  private pollTimer: NodeJS.Timeout | undefined;
  private pollDelayMs = 0;
  /** Backlog at a poll that keeps polling at pollIntervalMs (see idlePollMaxMs). */
  private readonly busyBytes: number;
  private readonly busyPollMs: number;
  private readonly idlePollMaxMs: number;
  private stopped = false;
  /** TLS_CNT_CLOSE_DROPS when last looked at, and sweeps of owed closes still to do. */
  private closeDropsSeen = 0n;
  private owedSweepsLeft = 0;
  /** Drains the ring in slices (drain-slicer.ts). */
  private readonly slicer: DrainSlicer;
  /** Whether the exporter still completes exports (see export-backpressure.ts). */
  private readonly exportProgress = new ExportProgress();
  /** The agent's CPU priority, following the ring's backlog. */
  private readonly priority: PriorityGovernor;
  /** The BPF counters as they were when the probes were closed (the maps are gone after). */
  private finalCounters: Counters | undefined;
  private finalFileCounters: FileCounters | undefined;
  private sink: SpanSink | undefined;
  private metrics: AgentMetrics | undefined;
  /** RED metrics from every exchange (src/metrics). */
  readonly red: MetricsStage | undefined;
  private losses: LossReporter | undefined;
  private fileEvents: FileEventWatcher | undefined;
  private readonly attachLatenciesMs: number[] = [];
  /** Whether the BPF side may hold processes now (TlsProbes.setHolding: the heartbeat). */
  private holding = false;
  /** From the first hold allowed until the last events are read at stop: held processes may be
   *  waiting for the agent. */
  private holdsOutstanding = false;
  /** The process exits without stop() (releaseHolds): events are only acted on to resume. */
  private exiting = false;
  /** seen: events that said their process was held (to compare with the BPF side's count). */
  private readonly holds = { seen: 0, resumed: 0, gone: 0, heldMs: [] as number[] };

  private constructor(
    private readonly probes: TlsProbes,
    private readonly opts: AgentOptions,
    sink: SpanSink | undefined,
  ) {
    const c = opts.capture;
    const t = opts.tracing;
    this.sink = sink;
    const processes = new ProcessInfoReader();
    const red = t?.red !== undefined ? new MetricsStage(t.red, opts.log) : undefined;
    this.red = red;
    this.pipeline = new Pipeline({
      streams: { maxConnections: c.maxConnections, idleTimeoutMs: c.idleTimeoutMs, pendingLoss: (pid, conn) => probes.takePendingLoss(pid, conn), owedClose: (pid, conn) => probes.takeOwedClose(pid, conn) },
      trace: t === undefined ? undefined : {
        sink: sink!,
        redaction: t.redaction,
        stitch: t.stitch,
        responseTimeoutMs: t.responseTimeoutMs,
        attributeValueLengthLimit: t.attributeValueLengthLimit,
        resourceAttributes: t.resourceAttributes,
        processInfo: (pid, comm) => processes.read(pid, comm),
        onProcess: (rec) => processes.learn(rec.pid, rec.comm, rec),
        ...(red !== undefined ? { onExchange: (ex: Exchange) => red.record(ex) } : {}),
        ...(t.sampling !== undefined ? { sampling: t.sampling } : {}),
      },
      observe: opts.observe,
      libraryOf: (id) => this.discovery.fileById(id)?.library,
      log: opts.log,
    });
    this.reader = new RingReader(probes.ringFd, probes.ringBufferBytes);
    const yieldEveryMs = (c.cpuYieldUs ?? CAPTURE_DEFAULTS.cpuYieldUs) / 1000;
    // Backpressure (export-backpressure.ts): while the export queue is three quarters full and
    // the ring less than half, records wait in the ring; the next timed poll tries again.
    this.slicer = new DrainSlicer((limit) => (this.mayDrain() ? this.drainSome(limit) : 0), {
      maxRecords: POLL_BATCH,
      budgetMs: c.drainSliceMs ?? CAPTURE_DEFAULTS.drainSliceMs,
      // Only while the agent keeps up: yielding lowers its share of a contended core, and one
      // that has fallen behind (the ring or the export queue filling) must catch up instead.
      ...(yieldEveryMs > 0 ? { yieldCpu: () => this.yieldIfKeepingUp(), yieldEveryMs } : {}),
    });
    this.priority = new PriorityGovernor({ nice: c.nice ?? 0, log: opts.log });
    // Traffic that fast wants the short interval whatever the ring's size (the interval was
    // tuned with a sixteenth of 8 MiB).
    this.busyBytes = Math.min(probes.ringBufferBytes / 16, BUSY_BACKLOG_MAX);
    this.busyPollMs = c.pollIntervalMs ?? CAPTURE_DEFAULTS.pollIntervalMs;
    this.idlePollMaxMs = Math.max(this.busyPollMs, c.idlePollMaxMs ?? CAPTURE_DEFAULTS.idlePollMaxMs);
    this.discovery = new Discovery({
      libraries: c.libraries ?? TLS_LIBRARIES,
      untraceable: untraceableStack,
      attach: (p, id, claim) => probes.attachFile(p, id, claim.probes, claim).functions,
      log: opts.log,
      libDirs: c.libDirs,
      binDirs: c.binDirs,
      libraryRoots: c.libraryRoots ?? DEFAULT_LIBRARY_ROOTS,
      onFileExamined: (f) => probes.markExamined([f]),
      detach: (libId) => probes.detachFile(libId),
      onFileForgotten: (f) => probes.forgetExamined(f),
      onTracedProcess: t === undefined ? undefined : (pid) => processes.prefetch(pid),
      onScan: (running) => {
        // Every process with connections that no longer runs (also one that started and died
        // between two scans). Records it wrote before it exited may still be in the ring: take
        // them first. A pid reused within one scan interval is taken for the same process.
        const gone = this.pipeline.streams.pids().filter((pid) => !running.has(pid));
        if (gone.length === 0) return;
        // While the export queue is full the ring waits (see the slicer): so do the exits, until
        // a later scan (they are still gone then).
        if (!this.pollAll(false)) return;
        this.pipeline.processesExited(gone, process.hrtime.bigint());
        this.red?.processesExited(gone);
      },
    });
  }

  /** Loads and attaches everything found on the host now. When it returns, capture is live. */
  static start(opts: AgentOptions): Agent {
    const log = opts.log;
    const c = opts.capture;
    const t = opts.tracing;
    if ((t === undefined) === (opts.observe === undefined)) throw new Error('the agent either traces or observes');
    if (t?.verbose) {
      // The SDK's own diagnostics (export errors, retries) only with -v: the sink already
      // reports failures and drops once per interval.
      diag.setLogger({ error: log.debug, warn: log.debug, info: log.debug, debug: log.debug, verbose: () => {} }, DiagLogLevel.WARN);
    }
    const sink = t === undefined ? undefined : t.sink ?? createSpanSink(t.export, { logger: log });
    let probes: TlsProbes;
    try {
      probes = TlsProbes.load({
        filterTgid: c.pid,
        comms: c.comms,
        captureBytes: c.captureBytes,
        maxSegments: c.maxSegments,
        ringBufferBytes: c.ringBufferBytes,
        skipBodiesFrom: c.skipBodiesFrom,
        objectPath: c.objectPath,
        log,
      });
    } catch (e) {
      void sink?.shutdown();
      throw e;
    }
    let agent: Agent;
    try {
      agent = new Agent(probes, opts, sink);
      // Before the scan and the attaches, so that threads started from here inherit it; and
      // again after, for those started already (V8's, libuv's, start-up's).
      agent.priority.apply();
      agent.discovery.initialScan();
      agent.priority.apply();
    } catch (e) {
      probes.close();
      void sink?.shutdown();
      throw e;
    }
    agent.startTimers();
    return agent;
  }

  /** New files announced by the BPF side: each announcing process is examined now, and one the
   *  BPF side held is resumed as soon as its own event is handled, whatever came of it. */
  private onFileEvents(events: FileEvent[]): void {
    for (const ev of events) if (ev.held) this.holds.seen++;
    if (this.stopped || this.exiting) {
      this.resumeHeld(events); // the last events, read at stop: nothing is attached any more
      return;
    }
    if (!events.some((ev) => ev.held)) {
      this.examineFileEvents(events);
      return;
    }
    for (const ev of events) {
      try {
        this.examineFileEvents([ev]);
      } finally {
        this.resumeHeld([ev]);
      }
    }
  }

  private examineFileEvents(events: FileEvent[]): void {
    const heard = process.hrtime.bigint();
    const files = events.map((ev) => ({ dev: userDev(ev.kernelDev), ino: ev.ino }));
    const had = new Set(this.discovery.attached.map((f) => f.key));
    let results: NoticeResult[];
    try {
      results = this.discovery.examineNotices(events.map((ev, i) => ({ pid: ev.pid, ...files[i]!, fd: ev.fd })));
    } catch (e) {
      this.opts.log.warn(`cannot examine the processes of ${events.length} new-file event(s): ${(e as Error).message}`);
      results = events.map(() => NoticeResult.Missing);
    }
    const done = process.hrtime.bigint();
    events.forEach((ev, i) => {
      const file = files[i]!;
      const how = ev.kind === FileEventKind.Exec ? "exec'd" : 'mapped';
      this.opts.log.debug(`new file: pid ${ev.pid} (${ev.comm}) ${how} inode ${ev.ino}${ev.held ? ' (held)' : ''}: ${results[i]}`);
      if (results[i] === NoticeResult.Missing) {
        // Not examined (the process exited or unmapped it first): the next process mapping the
        // file announces it again, and the rescan looks for it meanwhile.
        this.probes.forgetExamined(file);
        return;
      }
      // Examined now or before (a file the BPF side had forgotten, its map being an LRU): the
      // BPF side's mark goes from announced to examined, so that it holds no later process at it.
      this.probes.markExamined([file]);
      if (results[i] === NoticeResult.Attached && !had.has(`${file.dev}:${file.ino}`)) {
        const ms = Number(done - ev.tsNs) / 1e6;
        if (this.attachLatenciesMs.push(ms) > NOTICE_LATENCIES) this.attachLatenciesMs.shift();
        this.opts.log.info(`attached ${ms.toFixed(1)} ms after pid ${ev.pid} (${ev.comm}) ${how} it (inode ${ev.ino}; heard of it after ${(Number(heard - ev.tsNs) / 1e6).toFixed(1)} ms)`);
      }
    });
  }

  /** SIGCONT to every process the BPF side held for these events. */
  private resumeHeld(events: readonly FileEvent[]): void {
    for (const ev of events) {
      if (!ev.held) continue;
      try {
        process.kill(ev.pid, 'SIGCONT');
      } catch (e) {
        // ESRCH: killed while held (SIGKILL ends a stopped process). Anything else would leave
        // it stopped: say so, with what to do.
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') {
          this.holds.gone++;
          continue;
        }
        this.opts.log.error(`cannot resume process ${ev.pid} (${ev.comm}), stopped while its new file was examined: ${(e as Error).message}; run 'kill -CONT ${ev.pid}'`);
        if (this.holding) {
          // Not allowed to (a security module confining the agent, say): hold nothing more.
          this.stopHolding();
          this.opts.log.error('holding new programs turned off: the agent may not resume the processes it holds');
        }
        continue;
      }
      this.holds.resumed++;
      const ms = Number(process.hrtime.bigint() - ev.tsNs) / 1e6;
      if (this.holds.heldMs.push(ms) > NOTICE_LATENCIES) this.holds.heldMs.shift();
      const line = `resumed pid ${ev.pid} (${ev.comm}), held ${ms.toFixed(1)} ms at its new file (inode ${ev.ino})`;
      if (ms >= SLOW_HOLD_MS) this.opts.log.info(line);
      else this.opts.log.debug(line);
    }
  }

  /** The BPF side holds no process more (its heartbeat cleared, no more beats). */
  private stopHolding(): void {
    this.holding = false;
    this.probes.setHolding(false);
  }

  /** At an exit that skipped stop() (an uncaught error, process.exit): holding is turned off
   *  and the processes already held (their events still in the ring) are resumed, so that none
   *  stays stopped. stop() does the same in its order. */
  private readonly releaseHolds = (): void => {
    if (!this.holdsOutstanding) return;
    this.holdsOutstanding = false;
    this.exiting = true;
    try {
      this.stopHolding();
      this.fileEvents?.drain();
    } catch {
      // the maps are gone, and with them the programs that hold
    }
  };

  /** Only once every event is read and acted on: a held process is resumed only by the agent
   *  reading its event. */
  private startHolding(): void {
    const confined = confinement();
    if (confined !== undefined) {
      this.opts.log.warn(`not holding new programs: the agent runs confined (${confined}), and such a profile may forbid it to resume the processes it would hold`);
      return;
    }
    // kill(2) lets the agent resume any process with CAP_KILL, else only its own uid's.
    const anyone = hasCap(effectiveCaps(), CAP_KILL);
    this.probes.setHoldUid(anyone ? undefined : process.geteuid!());
    if (!anyone) this.opts.log.info(`holding new programs until their files are attached: only uid ${process.geteuid!()}'s (the agent lacks CAP_KILL, which resuming other users' processes needs)`);
    this.probes.setHolding(true);
    this.holding = true;
    this.holdsOutstanding = true;
    process.once('exit', this.releaseHolds);
  }

  private startTimers(): void {
    const c = this.opts.capture;
    const t = this.opts.tracing;
    this.discovery.startRescans(c.rescanIntervalMs ?? CAPTURE_DEFAULTS.rescanIntervalMs);
    this.discovery.startRootRescans(c.rootRescanIntervalMs ?? CAPTURE_DEFAULTS.rootRescanIntervalMs);
    if (c.fileEvents !== false) {
      this.fileEvents = new FileEventWatcher(
        this.probes.fileEventsFd,
        this.probes.fileEventsBytes,
        (events) => this.onFileEvents(events),
        (e) => this.opts.log.warn(`waiting for new-file events: ${e.message}`),
        {
          // The heartbeat comes from the loop that reads the events, on the thread that resumes
          // the processes: while either is stopped or stuck, the BPF side stops holding.
          onWait: () => { if (this.holding) this.probes.setHolding(true); },
          // At stop: the ring is read again while the BPF side has held more than was read.
          expectMore: () => this.holdsOutstanding && this.probes.fileCounters().TLS_FCNT_HELD > BigInt(this.holds.seen),
        },
      );
      if (c.holdNewFiles === true) this.startHolding();
      this.fileEvents.start();
    }
    const idleMs = c.idleTimeoutMs ?? CAPTURE_DEFAULTS.idleTimeoutMs;
    this.timers.push(setInterval(() => this.pipeline.evictIdle(process.hrtime.bigint()), Math.min(idleMs, 10_000)).unref());
    this.timers.push(setInterval(() => this.settleOwedCloses(), OWED_CLOSE_SWEEP_MS).unref());
    this.schedulePoll(this.busyPollMs);
    if (t === undefined) return;
    this.timers.push(setInterval(() => this.pipeline.expire(process.hrtime.bigint()), 1000).unref());
    this.stopTimers.push(startPeriodicResync());
    this.losses = new LossReporter(this.opts.log, () => this.stats());
    this.timers.push(setInterval(() => this.losses!.report(), t.statsIntervalMs).unref());
    this.red?.start();
    if (t.metrics !== undefined) this.metrics = startAgentMetrics({ ...t.metrics, read: () => this.stats(), logger: this.opts.log });
  }

  /** The wait before the next timed poll (pollIntervalMs while the ring fills fast, up to
   *  idlePollMaxMs otherwise). */
  get pollDelayNowMs(): number {
    return this.pollDelayMs;
  }

  get files(): TlsFile[] {
    return this.discovery.attached;
  }

  /** The last pass over the library roots. */
  get rootReports(): RootReport[] {
    return this.discovery.rootReports;
  }

  /** Basename of the probed file a record came from, e.g. "libssl.so.3" or "node". */
  fileName(libId: number): string {
    const f = this.discovery.fileById(libId);
    return f ? f.displayPath.slice(f.displayPath.lastIndexOf('/') + 1) : `lib#${libId}`;
  }

  /** The TLS library of the probed file a record came from ("openssl"). */
  libraryName(libId: number): string | undefined {
    return this.discovery.fileById(libId)?.library;
  }

  /** Polls after `delayMs`, then again after pollIntervalMs if it found a sixteenth of the
   *  ring or more (512 KiB at most), or after a longer wait (doubling, up to idlePollMaxMs) if
   *  it found less. Ref'd: while capture runs, this timer keeps the process alive; stop()
   *  clears it. */
  private schedulePoll(delayMs: number): void {
    this.pollDelayMs = delayMs;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      if (this.stopped) return;
      const backlog = this.noteBacklog();
      this.poll();
      // A slice cut short by its time budget on a slow turn (a busy host, a first call that
      // compiles) is no sign of a fast-filling ring; one that read its full count is.
      const busy = backlog >= this.busyBytes || (this.slicer.continuing && this.slicer.lastSliceFull);
      this.schedulePoll(busy ? this.busyPollMs : Math.min(this.pollDelayMs * 2, this.idlePollMaxMs));
    }, delayMs);
  }

  /** The ring's backlog now (bytes); the agent's priority follows it, and the export queue's. */
  private noteBacklog(): number {
    const backlog = this.reader.pending();
    this.priority.update(Math.max(backlog / this.reader.size, this.exportBacklog()));
    return backlog;
  }

  /** How full the export queue is (0..1): spans wait there while the exporter is behind, and
   *  an agent kept at a low priority by a busy host must catch up on them too. */
  private exportBacklog(): number {
    const t = this.opts.tracing;
    if (this.sink === undefined || t === undefined || !(t.export.maxQueueSize > 0)) return 0;
    return this.sink.stats().queued / t.export.maxQueueSize;
  }

  /** Offers the core to other threads (drain-slicer.ts) unless a backlog builds up: the ring
   *  a quarter full, or the export queue half full (export backpressure starts at three
   *  quarters). Measured (bench/README.md): yielding whatever the backlog lost spans at the
   *  export queue at saturation; bounds of an eighth and a quarter stopped the yields too
   *  often. Returns whether it yielded. */
  private yieldIfKeepingUp(): boolean {
    if (this.reader.pending() >= this.reader.size / 4 || this.exportBacklog() >= 1 / 2) return false;
    yieldCpu();
    return true;
  }

  /** Whether the exporter has room for more spans, or the ring too little for more waiting. */
  private mayDrain(): boolean {
    const fill = this.exportBacklog();
    if (fill < EXPORT_PAUSE_AT) return true;
    const st = this.sink!.stats();
    return mayDrain(fill, this.reader.pending() / this.reader.size, this.exportProgress.stalled(st.exported + st.failed, Date.now()));
  }

  /**
   * Drains the ring buffer: one slice now (at most POLL_BATCH records or drainSliceMs), the rest
   * in later turns of the event loop, so that a burst does not starve the exporter's network
   * I/O (HTTP/2 flow control only moves when the loop turns). Returns the number of records
   * read now.
   */
  poll(): number {
    return this.slicer.run();
  }

  /** After close records were lost to a full ring, the connections they ended are closed
   *  within seconds (each waiting request reported for what it is), not when their address is
   *  next used or they have been idle for minutes: a few sweeps of the quiet connections, each
   *  a map lookup, only while new losses of close records appear. */
  private settleOwedCloses(): void {
    const drops = this.probes.closeDrops();
    if (drops !== this.closeDropsSeen) {
      this.closeDropsSeen = drops;
      this.owedSweepsLeft = OWED_CLOSE_SWEEPS;
    }
    if (this.owedSweepsLeft === 0 || this.stopped) return;
    this.owedSweepsLeft--;
    // Records already in the ring first: an owed close may be among them.
    if (!this.pollAll(false)) return;
    const n = this.pipeline.streams.settleOwedCloses(process.hrtime.bigint(), BigInt(OWED_CLOSE_SWEEP_MS) * 1_000_000n, OWED_CLOSE_SWEEP_LIMIT);
    if (n > 0) this.opts.log.debug(`ended ${n} connection(s) whose close record the ring buffer had no room for`);
  }

  /** Drains everything there is now (before acting on a process exit, and at stop). Unless
   *  `force` (stop: what the export queue cannot take it counts as dropped), it stops while the
   *  drain must wait for the exporter (export-backpressure.ts), and returns false if records
   *  are left. */
  private pollAll(force: boolean): boolean {
    // A drain outside the timed poll may come first (after the agent was stopped, say): the
    // backlog it finds sets the priority as the poll's would.
    if (!force) this.noteBacklog();
    // Checked every 64 records, as the slicer does: a chunk of 64 makes at most a few dozen spans.
    const chunk = force ? POLL_BATCH : 64;
    for (;;) {
      if (!force && !this.mayDrain()) return this.reader.pending() === 0;
      if (this.drainSome(chunk) < chunk) return true;
    }
  }

  private drainSome(limit: number): number {
    if (this.stopped) return 0;
    const pipeline = this.pipeline;
    return this.reader.drain((ring) => pipeline.handle(ring), limit);
  }

  /** Everything the agent counts: capture, exchanges, spans (for the loss log and metrics). */
  stats(): AgentStats {
    const p = this.pipeline.stats();
    return {
      capture: this.captureStats(p),
      exchanges: p.exchanges!,
      sink: p.sink!,
      buildErrors: p.buildErrors,
      sampling: p.sampling,
      metrics: this.red?.stats(),
    };
  }

  captureStats(p = this.pipeline.stats()): CaptureStats {
    return {
      bpf: this.finalCounters ?? this.probes.counters(),
      streams: p.streams,
      malformedRecords: p.malformedRecords,
      sinkErrors: p.sinkErrors,
      files: this.discovery.attached.length,
      ringPendingBytes: this.reader.pending(),
      discovery: {
        ...this.discovery.stats,
        bpf: this.finalFileCounters ?? this.probes.fileCounters(),
        attachLatenciesMs: [...this.attachLatenciesMs],
        resumed: this.holds.resumed,
        resumeGone: this.holds.gone,
        heldMs: [...this.holds.heldMs],
      },
    };
  }

  /**
   * Stops in the reverse order of start: timers, discovery, probes (no new records), the ring
   * drained, every connection closed (what completes is reported); then the probes are
   * detached while the sink flushes (bounded: never waits for a dead collector for long) and
   * the RED metrics make their last export; the BPF object freed; the agent's own metrics last
   * (after the sink, so their last values include its final counts; ≤ 2 s). Returns the number
   * of probe links destroyed.
   */
  async stop(): Promise<number> {
    if (this.stopped) return 0;
    for (const t of this.timers) clearInterval(t);
    for (const stop of this.stopTimers) stop();
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.discovery.stop();
    // No process is held from here on; the watcher reads the ring once more when it closes
    // (FileEventWatcher.stop), and those events' processes are resumed too.
    this.stopHolding();
    // Resolves once the last events are read and their held processes resumed.
    const fileEventsStopped = this.fileEvents?.stop().then(() => {
      this.holdsOutstanding = false;
      process.off('exit', this.releaseHolds);
    });
    this.probes.stopEmitting(); // no new records from here on
    this.pollAll(true);
    this.slicer.cancel();
    this.stopped = true;
    this.pipeline.closeAll(process.hrtime.bigint());
    this.reader.close();
    this.finalCounters = this.probes.counters();
    this.finalFileCounters = this.probes.fileCounters();
    // The probes are detached while the sink flushes and the RED metrics make their last export
    // (they count every exchange already: they need not wait for the sink).
    const [links] = await Promise.all([this.probes.detachAllInParallel(), this.sink?.shutdown(), this.red?.shutdown(), fileEventsStopped]);
    this.probes.close();
    await this.metrics?.shutdown();
    this.losses?.report();
    return links;
  }
}

/** The files the TLS libraries claim on this host now, with what would be probed in each; no
 *  BPF involved (for `doctor`). */
export function surveyTlsFiles(log: Logger, capture: Pick<CaptureOptions, 'libDirs' | 'binDirs' | 'libraries' | 'libraryRoots'> = {}, roots?: RootReport[], untraceable?: UntraceableFile[]): TlsFile[] {
  const found: TlsFile[] = [];
  const d = new Discovery({
    libraries: capture.libraries ?? TLS_LIBRARIES,
    untraceable: untraceableStack,
    attach: (_path, _id, claim) => [...new Set(claim.probes.map((p) => p.label))],
    log: { ...log, info() {} },
    libDirs: capture.libDirs,
    binDirs: capture.binDirs,
    libraryRoots: capture.libraryRoots ?? DEFAULT_LIBRARY_ROOTS,
    onAttached: (f) => found.push(f),
  });
  d.initialScan();
  roots?.push(...d.rootReports);
  untraceable?.push(...d.untraceableFiles);
  return found;
}

/** Loads the BPF object and attaches `file`'s probes (when given), then frees everything: what
 *  `run` will do, once (for `doctor`). Throws what the load or the attach throws. */
export function tryLoadAndAttach(log: Logger, file?: TlsFile): void {
  const probes = TlsProbes.load({ log });
  try {
    if (file !== undefined) probes.attachFile(file.path, 1, file.claim.probes, file.claim);
  } finally {
    probes.close();
  }
}
