// Pipeline benchmark, no BPF: recorded ring-buffer records (bench/record-gen.ts) replayed
// through decodeRecord → StreamTable → ExchangeTracker (HTTP/1.x parser) → TraceLinker +
// SpanBuilder → OtlpSpanSink → OTLPTraceExporter (gRPC) → an OTLP receiver in a child process
// (bench/receiver-child.ts), through the agent's own pipeline (src/agent/pipeline.ts).
//
// Measured in this process: wall time and process.cpuUsage() (user + sys, all threads) from the
// first record to the moment the receiver has every span. Partial pipelines give the breakdown:
//   parse      decodeRecord + StreamTable + ExchangeTracker/Http1Parser (exchanges counted)
//   build      + TraceLinker.optionsFor + SpanBuilder.build (spans dropped)
//   serialize  + OtlpTraceSerializer (the agent exporter's) per 512 spans, no network
//   full       + OtlpSpanSink (batches serialized when sealed) → OtlpGrpcTraceTransport → gRPC
//              → receiver child, until all arrived
//   sdk        baseline, no capture nor parsing: the same spans made and exported the stock way,
//              Tracer.startSpan/setAttributes/end → BatchSpanProcessor → OTLPTraceExporter →
//              the same receiver (bench/sdk-baseline.ts); full / sdk is printed as a ratio
//   parser     Http1Parser alone over the same plaintext (bytes/s)
// Records are fed as the capture poll does, a slice at a time with the event loop turning in
// between (so exports run concurrently with capture work, as in the agent).
// Two corpora by default, the same exchanges over HTTP/1.1 and over HTTP/2 (record-gen.ts):
// every stage runs on both, interleaved, and HTTP/2's CPU per exchange over HTTP/1.1's is
// printed per stage (per repetition, then the median); --protocol h1|h2 runs one of them.
//
// Usage: node --expose-gc dist/bench/pipeline.js [--exchanges N] [--reps N] [--json]
//          [--protocol h1|h2|both] [--grpc-share 0..1]
//          [--only parse,build,serialize,full,sdk,parser] [--slice RECORDS] [--queue SPANS]
//          [--sdk-queue SPANS]
//          [--concurrency CONNS] [--seed N] [--no-warmup] [--receiver h2|grpc-js] [--gzip]
//          [--concurrent-exports N] [--batch SPANS] [--cpu-prof FILE.cpuprofile]
//          [--alloc-prof FILE.heapprofile] [--metrics]
// --metrics: one more stage, the serialize stage with the RED metrics (src/metrics) recording every
// exchange, interleaved with the others; its row says what metrics add over serialize.
// --queue: OtlpSpanSink maxQueueSize (default: room for every span, so nothing drops; with the
// agent's 8192 drops are counted and fail the check); --sdk-queue the same for the baseline's
// BatchSpanProcessor (the SDK's default is 2048). --receiver grpc-js: 64 KiB HTTP/2 windows
// (see bench/receiver-child.ts). --cpu-prof: profile of the timed repetitions only; summarise it
// with dist/bench/cpuprofile-summary.js. Default run (80k exchanges × 5 reps) ≈ 2 min here (the
// sdk stage adds ≈ 5 s a repetition, most of it preparing its inputs, untimed), twice that with
// both protocols.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import * as path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { TlsEventLayout as L } from '../src/bpf/layout.generated';
import { Pipeline } from '../src/agent/pipeline';
import { decodeRecord } from '../src/capture/record';
import { OtlpSpanSink } from '../src/export/otlp-sink';
import { OtlpTraceSerializer } from '../src/export/otlp-trace-serializer';
import { RedMetrics } from '../src/metrics/red-metrics';
import { OtlpGrpcTraceTransport } from '../src/export/otlp-transport';
import type { Logger, SpanSink } from '../src/export/types';
import { Http1Parser } from '../src/protocol/http1/parser';
import type { ExchangeTracker } from '../src/exchange/tracker';
import type { TraceLinker } from '../src/trace/linker';
import { ProcessInfoReader } from '../src/trace/resource';
import { startAllocationSampler, startCpuProfiler, writeProfile, type Profiler } from '../src/util/profiler';
import { generateCorpus, recordView, type Corpus, type WireProtocol } from './record-gen';
import { SdkBaseline, type SdkBaselineStats, type SdkSpanInput } from './sdk-baseline';

type Stage = 'parse' | 'build' | 'serialize' | 'full' | 'sdk' | 'parser' | 'metrics';
const ALL_STAGES: Stage[] = ['parse', 'build', 'serialize', 'full', 'sdk', 'parser'];
const STAGE_LABEL: Record<Stage, string> = {
  parse: 'decode + streams + HTTP parse + exchanges',
  build: '+ linker + span build',
  serialize: '+ OTLP protobuf serialize (no network)',
  full: 'full: + OtlpSpanSink → gRPC → receiver',
  sdk: 'baseline: stock SDK, same spans → gRPC → receiver',
  parser: 'Http1Parser alone',
  metrics: 'serialize + RED metrics (src/metrics)',
};
const TARGET_PER_CORE = 50_000;
/** Issue 13: RED metrics cost at most 10 % more CPU per exchange than without them (metrics / serialize, same run). */
const METRICS_TARGET = 1.1;
/** An HTTP span's name ("GET /route") or a gRPC span's ("package.Service/Method"). */
const SPAN_NAME = /^(?:[A-Z_]+ \/|[\w.]+\/\w+$)/;
/** Spans per export request / per serialize call: OtlpSpanSink's default maxExportBatchSize. */
let BATCH = 512;

interface Options {
  exchanges: number;
  /** Corpora: the same exchanges over HTTP/1.1 and/or HTTP/2. */
  protocols: WireProtocol[];
  /** Share of connections carrying gRPC calls (record-gen's default when unset). */
  grpcShare?: number;
  reps: number;
  json: boolean;
  stages: Stage[];
  slice: number;
  queue?: number;
  /** The baseline's BatchSpanProcessor maxQueueSize (default: room for every span). */
  sdkQueue?: number;
  concurrency: number;
  seed: number;
  warmup: boolean;
  /** OtlpSpanSink maxConcurrentExports (the agent uses the sink's default, 2). */
  concurrentExports?: number;
  /** OTLPTraceExporter compression. */
  compression: 'none' | 'gzip';
  /** The receiver child's server (see bench/receiver-child.ts). */
  receiver: 'h2' | 'grpc-js';
  /** Write a .cpuprofile of the timed repetitions only (not generation or warm-up). */
  cpuProf?: string;
  /** Write a .heapprofile of what the timed repetitions allocate (collected or not). */
  allocProf?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { exchanges: 80_000, protocols: ['h1', 'h2'], reps: 5, json: false, stages: ALL_STAGES, slice: 2048, concurrency: 48, seed: 1, warmup: true, receiver: 'h2', compression: 'none' };
  let withMetrics = false;
  const num = (i: number): number => {
    const v = Number(argv[i]);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${argv[i - 1]} needs a positive integer, got ${argv[i]}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--exchanges': o.exchanges = num(++i); break;
      case '--reps': o.reps = num(++i); break;
      case '--json': o.json = true; break;
      case '--slice': o.slice = num(++i); break;
      case '--queue': o.queue = num(++i); break;
      case '--sdk-queue': o.sdkQueue = num(++i); break;
      case '--concurrency': o.concurrency = num(++i); break;
      case '--seed': o.seed = num(++i); break;
      case '--no-warmup': o.warmup = false; break;
      case '--cpu-prof': o.cpuProf = argv[++i]; break;
      case '--alloc-prof': o.allocProf = argv[++i]; break;
      case '--gzip': o.compression = 'gzip'; break;
      case '--metrics': withMetrics = true; break;
      case '--batch': BATCH = num(++i); break;
      case '--concurrent-exports': o.concurrentExports = num(++i); break;
      case '--protocol': {
        const p = argv[++i];
        if (p !== 'h1' && p !== 'h2' && p !== 'both') throw new Error(`--protocol h1|h2|both, got ${p}`);
        o.protocols = p === 'both' ? ['h1', 'h2'] : [p];
        break;
      }
      case '--grpc-share': {
        const v = Number(argv[++i]);
        if (!(v >= 0 && v <= 1)) throw new Error(`--grpc-share needs a share between 0 and 1, got ${argv[i]}`);
        o.grpcShare = v;
        break;
      }
      case '--receiver': {
        const r = argv[++i];
        if (r !== 'h2' && r !== 'grpc-js') throw new Error(`--receiver h2|grpc-js, got ${r}`);
        o.receiver = r;
        break;
      }
      case '--only': {
        const list = (argv[++i] ?? '').split(',').filter((s) => s.length > 0);
        const known: Stage[] = [...ALL_STAGES, 'metrics'];
        for (const s of list) if (!known.includes(s as Stage)) throw new Error(`unknown stage "${s}" (${known.join(', ')})`);
        o.stages = known.filter((s) => list.includes(s));
        break;
      }
      case '-h':
      case '--help':
        process.stdout.write(
          'node --expose-gc dist/bench/pipeline.js [--exchanges N=80000] [--reps N=5] [--json]\n' +
            '  [--protocol h1|h2|both=both] [--grpc-share 0..1=0.2]\n' +
            '  [--only parse,build,serialize,full,sdk,parser] [--slice RECORDS=2048] [--queue SPANS=exchanges]\n' +
            '  [--sdk-queue SPANS=exchanges]\n' +
            '  [--concurrency CONNS=48] [--seed N=1] [--no-warmup] [--receiver h2|grpc-js] [--gzip]\n' +
            '  [--concurrent-exports N=2] [--batch SPANS=512]\n' +
            '  [--cpu-prof FILE.cpuprofile] [--alloc-prof FILE.heapprofile] [--metrics]\n',
        );
        process.exit(0);
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  // Metrics on and off in the same run: the metrics stage right after serialize, its baseline.
  if (withMetrics) o.stages = [...o.stages.filter((st) => st !== 'metrics' && st !== 'serialize'), 'serialize', 'metrics'];
  return o;
}

const progress = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

// ---------------------------------------------------------------------------------------------
// The pipeline, wired as in run.ts / capture.ts.

interface Counts {
  exchanges: number;
  spans: number;
  buildErrors: number;
  malformed: number;
  sinkErrors: number;
  serializedBytes: number;
}

interface BenchPipeline {
  pipeline: Pipeline;
  tracker: ExchangeTracker;
  linker: TraceLinker;
  counts: Counts;
  /** Called when every record has been fed. */
  end(): void;
}

/** The agent's own pipeline (src/agent/pipeline.ts), with a span sink per stage. */
function makePipeline(stage: 'parse' | 'build' | 'serialize' | 'full' | 'metrics', sink?: { export(span: ReadableSpan): void }): BenchPipeline {
  const red = stage === 'metrics' ? new RedMetrics() : undefined;
  const counts: Counts = { exchanges: 0, spans: 0, buildErrors: 0, malformed: 0, sinkErrors: 0, serializedBytes: 0 };
  const processes = new ProcessInfoReader();
  let batch: ReadableSpan[] = [];
  const serialize = (): void => {
    const bytes = OtlpTraceSerializer.serializeRequest(batch);
    counts.serializedBytes += bytes?.length ?? 0;
    batch = [];
  };
  let onSpan: (span: ReadableSpan) => void;
  if (stage === 'full') onSpan = (span) => sink!.export(span);
  else if (stage === 'serialize' || stage === 'metrics') {
    onSpan = (span) => {
      batch.push(span);
      if (batch.length >= BATCH) serialize();
    };
  } else onSpan = () => {};
  const spanSink: SpanSink = {
    export: (span) => {
      counts.spans++;
      onSpan(span);
    },
    forceFlush: async () => {},
    shutdown: async () => {},
    stats: () => ({ exported: counts.spans, dropped: 0, discarded: 0, failed: 0, queued: 0, retries: 0 }),
  };
  const pipeline = new Pipeline({
    trace: {
      sink: spanSink,
      redaction: {},
      stitch: true,
      processInfo: (pid, comm) => processes.read(pid, comm),
      onExchange: red === undefined ? () => {
        counts.exchanges++;
      } : (ex) => {
        counts.exchanges++;
        red.record(ex);
      },
      spans: stage !== 'parse',
    },
    log: { error: progress, warn: progress, info() {}, debug() {} },
  });
  return {
    pipeline,
    tracker: pipeline.tracker!,
    linker: pipeline.linker!,
    counts,
    end: () => {
      if ((stage === 'serialize' || stage === 'metrics') && batch.length > 0) serialize();
      const st = pipeline.stats();
      counts.buildErrors = st.buildErrors;
      counts.malformed = st.malformedRecords;
      counts.sinkErrors = st.sinkErrors;
    },
  };
}

/** Feeds every record as the agent's ring poll does, a slice per event-loop turn. */
async function feed(corpus: Corpus, p: BenchPipeline, slice: number, afterSlice?: () => void): Promise<void> {
  const { pipeline } = p;
  const n = corpus.count;
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + slice);
    for (; i < end; i++) pipeline.handle(recordView(corpus, i));
    afterSlice?.();
    await yieldToLoop();
  }
  p.end();
}

// ---------------------------------------------------------------------------------------------
// Parser alone: the data records' plaintext per stream, extracted once (untimed).

interface ParserInput {
  stream: Int32Array; // -1: not a data record
  chunk: Uint16Array;
  off: Uint32Array;
  len: Uint32Array;
  ts: BigInt64Array;
  streams: number;
  bytes: number;
}

function parserInput(c: Corpus): ParserInput {
  const ids = new Map<string, number>();
  const inp: ParserInput = {
    stream: new Int32Array(c.count).fill(-1),
    chunk: new Uint16Array(c.count),
    off: new Uint32Array(c.count),
    len: new Uint32Array(c.count),
    ts: new BigInt64Array(c.count),
    streams: 0,
    bytes: 0,
  };
  for (let i = 0; i < c.count; i++) {
    const r = decodeRecord(recordView(c, i));
    if (!r || r.type !== 'data' || r.data.length === 0) continue;
    const key = `${r.pid}:${r.conn}:${r.dir}`;
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ids.size));
    inp.stream[i] = id;
    inp.chunk[i] = c.recChunk[i];
    inp.off[i] = c.recOff[i] + L.data;
    inp.len[i] = r.data.length;
    inp.ts[i] = r.tsNs;
    inp.bytes += r.data.length;
  }
  inp.streams = ids.size;
  return inp;
}

function runParser(c: Corpus, inp: ParserInput): { messages: number; errors: number } {
  const parsers: Array<Http1Parser | undefined> = new Array(inp.streams);
  let messages = 0;
  let errors = 0;
  const cb = {
    onMessage: () => {
      messages++;
    },
    onError: () => {
      errors++;
    },
    methodForResponse: () => undefined,
  };
  for (let i = 0; i < c.count; i++) {
    const id = inp.stream[i];
    if (id < 0) continue;
    const off = inp.off[i];
    (parsers[id] ??= new Http1Parser(cb)).execute(c.chunks[inp.chunk[i]].subarray(off, off + inp.len[i]), inp.ts[i]);
  }
  return { messages, errors };
}

// ---------------------------------------------------------------------------------------------
// Receiver child.

interface ReceiverStats {
  type: 'stats';
  spans: number;
  requests: number;
  bytes: number;
  errors: number;
  cpuUs: number;
  sample?: ReceivedSample;
}

/** test/helpers/otlp-receiver.ts's ReceivedSpan after IPC (bigints as strings). */
interface ReceivedSample {
  name: string;
  kind: string;
  attributes: Record<string, unknown>;
  parentSpanId?: string;
  resource: Record<string, unknown>;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  status?: unknown;
  scope?: unknown;
}

class Receiver {
  private waiting: Array<(s: ReceiverStats) => void> = [];
  private constructor(private readonly child: ChildProcess, readonly port: number) {
    child.on('message', (m: ReceiverStats) => {
      if (m.type === 'stats') this.waiting.shift()?.(m);
    });
  }

  static start(mode: 'h2' | 'grpc-js'): Promise<Receiver> {
    // No inherited execArgv: a --cpu-prof of the benchmark must not profile the receiver too.
    const child = fork(path.join(__dirname, 'receiver-child.js'), [mode], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      const onMsg = (m: { type: string; port?: number; message?: string }): void => {
        if (m.type === 'ready') {
          child.off('message', onMsg);
          resolve(new Receiver(child, m.port!));
        } else if (m.type === 'error') reject(new Error(`receiver: ${m.message}`));
      };
      child.on('message', onMsg);
      child.once('exit', (code) => reject(new Error(`receiver exited (${code})`)));
    });
  }

  private ask(type: 'stats' | 'reset'): Promise<ReceiverStats> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send({ type });
    });
  }

  stats(): Promise<ReceiverStats> {
    return this.ask('stats');
  }

  reset(): Promise<ReceiverStats> {
    return this.ask('reset');
  }

  /** Resolves with the stats once the receiver has `spans` spans (or after timeoutMs). */
  async waitFor(spans: number, timeoutMs: number): Promise<ReceiverStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.stats();
      if (s.spans >= spans || Date.now() > deadline) return s;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  stop(): void {
    this.child.send({ type: 'stop' });
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement.

interface Sample {
  wallMs: number;
  /** process.cpuUsage() user + sys: every thread of the process. */
  cpuMs: number;
  /** The main (JS) thread's CPU, from /proc/self/task/PID/stat (10 ms ticks); the rest of cpuMs
   *  is V8's GC helper threads, libuv's pool and the like. */
  mainThreadCpuMs?: number;
  /** Main-thread GC pauses (perf_hooks 'gc' entries) inside the measurement. */
  gcPauseMs: number;
  /** Units processed: spans (exchanges) or, for the parser, bytes. */
  units: number;
  ok: boolean;
  notes: string[];
}

const TICK_MS = 1000 / 100; // USER_HZ: 100 on every Linux that matters

/** utime + stime of the main thread in ms, or undefined off Linux. */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS; // fields 14, 15
  } catch {
    return undefined;
  }
}

const gcEntries: Array<{ start: number; duration: number }> = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcEntries.push({ start: e.startTime, duration: e.duration });
}).observe({ entryTypes: ['gc'] });

async function measure(fn: () => Promise<{ units: number; ok: boolean; notes: string[] }>): Promise<Sample> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 10)); // let the forced GC's entry be delivered
  gcEntries.length = 0;
  const m0 = mainThreadCpuMs();
  const p0 = performance.now();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const wallNs = process.hrtime.bigint() - t0;
  const cpu = process.cpuUsage(c0);
  const p1 = performance.now();
  const m1 = mainThreadCpuMs();
  await new Promise((res) => setImmediate(res)); // gc entries are delivered asynchronously
  const gcPauseMs = gcEntries.filter((e) => e.start >= p0 && e.start <= p1).reduce((a, e) => a + e.duration, 0);
  return {
    wallMs: Number(wallNs) / 1e6,
    cpuMs: (cpu.user + cpu.system) / 1e3,
    mainThreadCpuMs: m0 !== undefined && m1 !== undefined ? m1 - m0 : undefined,
    gcPauseMs,
    ...r,
  };
}

interface Env {
  corpus: Corpus;
  slice: number;
  sink?: OtlpSpanSink;
  receiver?: Receiver;
  parser?: ParserInput;
  lastLinker?: ReturnType<TraceLinker['stats']>;
  receiverCpuMs: number[];
  /** Deepest sink queue (waiting + in flight) seen between slices, per full run. */
  maxQueued: number[];
  sample?: ReceiverStats['sample'];
  /** The stock SDK baseline (stage sdk), sharing the receiver. */
  sdk?: SdkBaseline;
  /** Per sdk run: what the receiver spent, what the processor dropped, request bytes per span. */
  sdkRuns: Array<{ receiverCpuMs: number; dropped: number; failed: number; bytesPerSpan: number; prepareMs: number; maxQueued: number }>;
  /** Request bytes per span at the receiver, per full run (to compare with the baseline's). */
  fullBytesPerSpan: number[];
}

function pipelineChecks(p: BenchPipeline, c: Corpus, notes: string[]): boolean {
  const expected = c.stats.spans;
  const t = p.tracker.stats();
  const s = p.pipeline.stats().streams;
  const problems: string[] = [];
  if (p.counts.exchanges !== expected) problems.push(`exchanges ${p.counts.exchanges} != expected ${expected}`);
  if (p.counts.malformed) problems.push(`${p.counts.malformed} malformed records`);
  if (p.counts.sinkErrors) problems.push(`${p.counts.sinkErrors} record handling errors`);
  if (p.counts.buildErrors) problems.push(`${p.counts.buildErrors} span build errors`);
  if (Object.keys(t.cutShort).length) problems.push(`cut short: ${JSON.stringify(t.cutShort)}`);
  if (Object.values(t.parseErrors).some((v) => v > 0)) problems.push(`parse errors: ${JSON.stringify(t.parseErrors)}`);
  if (t.unpairedResponses || t.otherProtocolConnections) problems.push(`unpaired ${t.unpairedResponses}, other protocols ${t.otherProtocolConnections}`);
  if (Object.values(s.gaps).some((v) => v > 0)) problems.push(`stream gaps: ${JSON.stringify(s.gaps)}`);
  if (s.connections !== 0) problems.push(`${s.connections} connections still open`);
  notes.push(...problems);
  return problems.length === 0;
}

async function runStage(stage: Stage, env: Env, corpus: Corpus): Promise<Sample> {
  const c = corpus;
  if (stage === 'parser') {
    const inp = (env.parser ??= parserInput(c));
    return measure(async () => {
      const r = runParser(c, inp);
      const notes: string[] = [];
      const ok = r.errors === 0 && r.messages === 2 * c.stats.spans;
      if (!ok) notes.push(`parser: ${r.messages} messages (expected ${2 * c.stats.spans}), ${r.errors} errors`);
      return { units: inp.bytes, ok, notes };
    });
  }
  if (stage === 'sdk') return runSdkStage(env, c);
  if (stage !== 'full') {
    const p = makePipeline(stage);
    const s = await measure(async () => {
      await feed(c, p, env.slice);
      const notes: string[] = [];
      let ok = pipelineChecks(p, c, notes);
      if (stage !== 'parse' && p.counts.spans !== c.stats.spans) {
        ok = false;
        notes.push(`spans ${p.counts.spans} != ${c.stats.spans}`);
      }
      return { units: p.counts.exchanges, ok, notes };
    });
    env.lastLinker = p.linker.stats();
    return s;
  }
  const sink = env.sink!;
  const receiver = env.receiver!;
  await receiver.reset();
  const before = sink.stats();
  const p = makePipeline('full', sink);
  const r0 = await receiver.stats();
  let maxQueued = 0;
  const s = await measure(async () => {
    await feed(c, p, env.slice, () => {
      const q = sink.stats().queued;
      if (q > maxQueued) maxQueued = q;
    });
    await sink.forceFlush();
    // Every export has been answered: the receiver has what the sink counts as exported.
    const got = await receiver.waitFor(sink.stats().exported - before.exported, 30_000);
    const after = sink.stats();
    const notes: string[] = [];
    let ok = pipelineChecks(p, c, notes);
    const exported = after.exported - before.exported;
    const dropped = after.dropped - before.dropped;
    const failed = after.failed - before.failed;
    if (got.spans !== p.counts.spans || exported !== p.counts.spans || dropped || failed || after.queued || got.errors) {
      ok = false;
      notes.push(`spans built ${p.counts.spans}, exported ${exported}, dropped ${dropped}, failed ${failed}, queued ${after.queued}, receiver got ${got.spans} (${got.errors} bad requests)`);
    }
    // The exported spans are the agent's: name and attributes as built (first request decoded in full).
    if (got.sample === undefined || !SPAN_NAME.test(got.sample.name) || got.sample.attributes['http.request.method'] === undefined) {
      ok = false;
      notes.push(`receiver sample span looks wrong: ${JSON.stringify(got.sample)}`);
    }
    env.receiverCpuMs.push((got.cpuUs - r0.cpuUs) / 1e3);
    if (got.spans > 0) env.fullBytesPerSpan.push(got.bytes / got.spans);
    env.maxQueued.push(maxQueued);
    env.sample ??= got.sample;
    return { units: p.counts.spans, ok, notes };
  });
  env.lastLinker = p.linker.stats();
  return s;
}

/** tlsotel's spans for a corpus, untimed: what the stock SDK baseline is given to make. */
async function dryRunSpans(c: Corpus, slice: number): Promise<ReadableSpan[]> {
  const spans: ReadableSpan[] = [];
  const p = makePipeline('full', {
    export: (span) => {
      spans.push(span);
    },
  });
  await feed(c, p, slice);
  const notes: string[] = [];
  if (!pipelineChecks(p, c, notes) || spans.length !== c.stats.spans) {
    throw new Error(`dry run for the SDK baseline: ${spans.length} spans of ${c.stats.spans}; ${notes.join('; ')}`);
  }
  return spans;
}

const KIND_NAMES = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS_NAMES = ['UNSET', 'OK', 'ERROR'];
const unixNano = (t: HrTime): string => String(BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]));

/**
 * The baseline exported the spans it was given: the receiver's sample (decoded in full) is
 * tlsotel's span for the same exchange (found by its start and end time), field for field,
 * ids aside (the SDK draws its own) but for the parent's.
 */
function sdkSampleDiffers(sample: ReceivedSample, inputs: readonly SdkSpanInput[]): string | undefined {
  const x = inputs.find((i) => unixNano(i.startTime) === sample.startTimeUnixNano && unixNano(i.endTime) === sample.endTimeUnixNano);
  if (x === undefined) return 'no input span has the times of the receiver\'s sample';
  const expected: Record<string, unknown> = {
    name: x.name,
    kind: KIND_NAMES[x.kind],
    attributes: x.attributes,
    status: x.status === undefined ? { code: 'UNSET' } : { code: STATUS_NAMES[x.status.code], message: x.status.message },
    resource: x.resource.attributes,
    parentSpanId: x.parentSpanId,
  };
  const got = sample as unknown as Record<string, unknown>;
  const differ = Object.keys(expected).filter((key) => JSON.stringify(expected[key]) !== JSON.stringify(got[key]));
  return differ.length === 0 ? undefined : `receiver's span differs from tlsotel's in ${differ.join(', ')}: got ${JSON.stringify(sample)}, expected ${JSON.stringify(expected)}`;
}

/**
 * The stock SDK path over the same spans: inputs prepared from a dry run of tlsotel's pipeline
 * (untimed, redone per run so that no other stage's heap holds them), then timed from the first
 * startSpan until the receiver has every span.
 */
async function runSdkStage(env: Env, c: Corpus): Promise<Sample> {
  const sdk = env.sdk!;
  const receiver = env.receiver!;
  const t0 = Date.now();
  const inputs = sdk.prepare(await dryRunSpans(c, env.slice));
  const prepareMs = Date.now() - t0;
  // As many spans per event-loop turn as a slice of records gives the full stage.
  const perTurn = Math.max(1, Math.round((env.slice * c.stats.spans) / c.count));
  await receiver.reset();
  const before = sdk.stats();
  const r0 = await receiver.stats();
  return measure(async () => {
    const { maxQueued } = await sdk.run(inputs, perTurn);
    // Every export has been answered: the receiver has what the exporter counts as exported.
    const got = await receiver.waitFor(sdk.stats().exported - before.exported, 30_000);
    const after = sdk.stats();
    const d = (key: keyof SdkBaselineStats): number => after[key] - before[key];
    const ended = d('ended');
    const exported = d('exported');
    const failed = d('failed');
    // Ended but neither exported nor failed: the processor's queue was full (or a batch is late).
    const dropped = ended - exported - failed - after.inFlight;
    const notes: string[] = [];
    let ok = true;
    if (got.spans !== c.stats.spans || ended !== c.stats.spans || exported !== ended || dropped || failed || after.inFlight || got.errors) {
      ok = false;
      notes.push(`spans ${c.stats.spans}, ended ${ended}, exported ${exported}, dropped ${dropped}, failed ${failed}, in flight ${after.inFlight}, receiver got ${got.spans} (${got.errors} bad requests)`);
    }
    if (got.sample === undefined || !SPAN_NAME.test(got.sample.name) || got.sample.attributes['http.request.method'] === undefined) {
      ok = false;
      notes.push(`receiver sample span looks wrong: ${JSON.stringify(got.sample)}`);
    } else {
      const differ = sdkSampleDiffers(got.sample, inputs);
      if (differ !== undefined) {
        ok = false;
        notes.push(differ);
      }
    }
    env.sdkRuns.push({ receiverCpuMs: (got.cpuUs - r0.cpuUs) / 1e3, dropped, failed, bytesPerSpan: got.spans > 0 ? got.bytes / got.spans : 0, prepareMs, maxQueued });
    return { units: inputs.length, ok, notes };
  });
}

// ---------------------------------------------------------------------------------------------
// Reporting.

interface Dist {
  median: number;
  min: number;
  max: number;
}

function dist(xs: number[]): Dist {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  const median = m % 2 ? s[(m - 1) / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
  return { median, min: s[0], max: s[m - 1] };
}

interface StageResult {
  label: string;
  samples: Sample[];
  /** CPU µs per exchange (per MB for the parser). */
  cpuUsPerUnit: Dist;
  /** units per CPU second: exchanges/s per core (bytes/s per core for the parser). */
  perCoreSec: Dist;
  /** units per wall second. */
  perWallSec: Dist;
  /** Main-thread CPU and main-thread GC pauses, µs per unit. */
  mainUsPerUnit?: Dist;
  gcUsPerUnit: Dist;
  ok: boolean;
}

function summarise(stage: Stage, samples: Sample[]): StageResult {
  return {
    label: STAGE_LABEL[stage],
    samples,
    cpuUsPerUnit: dist(samples.map((s) => (s.cpuMs * 1e3) / s.units)),
    perCoreSec: dist(samples.map((s) => s.units / (s.cpuMs / 1e3))),
    perWallSec: dist(samples.map((s) => s.units / (s.wallMs / 1e3))),
    mainUsPerUnit: samples.every((s) => s.mainThreadCpuMs !== undefined) ? dist(samples.map((s) => (s.mainThreadCpuMs! * 1e3) / s.units)) : undefined,
    gcUsPerUnit: dist(samples.map((s) => (s.gcPauseMs * 1e3) / s.units)),
    ok: samples.every((s) => s.ok),
  };
}

const k = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e4 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));
const us = (x: number): string => x.toFixed(2);
const mb = (x: number): string => `${(x / 1e6).toFixed(1)}`;
const fmt = (d: Dist, f: (x: number) => string): string => `${f(d.median)} [${f(d.min)}–${f(d.max)}]`;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

// ---------------------------------------------------------------------------------------------

/** One protocol's results: the table's rows, its JSON, its checks. */
interface ProtocolReport {
  results: Partial<Record<Stage, StageResult>>;
  json: Record<string, unknown>;
  lines: string[];
  ok: boolean;
}

const PROTOCOL_LABEL: Record<WireProtocol, string> = { h1: 'HTTP/1.1', h2: 'HTTP/2' };

function reportProtocol(proto: WireProtocol, samples: Map<Stage, Sample[]>, env: Env): ProtocolReport {
  const cs = env.corpus.stats;
  const results: Partial<Record<Stage, StageResult>> = {};
  for (const [stage, ss] of samples) if (ss.length > 0) results[stage] = summarise(stage, ss);
  const ok = Object.values(results).every((r) => r!.ok);
  const endToEnd = results.full ?? results.serialize ?? results.build ?? results.parse;
  const met = results.full !== undefined ? results.full.perCoreSec.median >= TARGET_PER_CORE : undefined;

  // Incremental cost per stage (medians of differences per repetition).
  const pipelineStages = (['parse', 'build', 'serialize', 'full'] as Stage[]).filter((s) => results[s]);
  const increments: Record<string, Dist> = {};
  for (let i = 0; i < pipelineStages.length; i++) {
    const cur = samples.get(pipelineStages[i])!;
    const prev = i > 0 ? samples.get(pipelineStages[i - 1])! : undefined;
    const name = pipelineStages[i];
    increments[name] = dist(cur.map((s, j) => (s.cpuMs * 1e3) / s.units - (prev ? (prev[j].cpuMs * 1e3) / prev[j].units : 0)));
  }

  // tlsotel end to end over the stock SDK path, per repetition (the two ran back to back), then
  // the median: < 1 means tlsotel's whole pipeline costs less than the SDK's span path alone.
  const fullSamples = samples.get('full');
  const sdkSamples = samples.get('sdk');
  const ratio = fullSamples?.length && sdkSamples?.length ? dist(fullSamples.map((f, j) => perUnit(f) / perUnit(sdkSamples[j]))) : undefined;
  // RED metrics on over off (metrics / serialize), per repetition, then the median.
  const metricsSamples = samples.get('metrics');
  const serializeSamples = samples.get('serialize');
  const metricsRatio = metricsSamples && serializeSamples ? dist(metricsSamples.map((m, j) => perUnit(m) / perUnit(serializeSamples[j]))) : undefined;
  const metricsDelta = metricsSamples && serializeSamples ? dist(metricsSamples.map((m, j) => perUnit(m) - perUnit(serializeSamples[j]))) : undefined;
  // The same increment over the end-to-end pipeline (full), when it ran: what the metrics add to
  // the agent's whole cost per exchange. The goal is judged on the stricter ratio above.
  const metricsOverFull = metricsSamples && serializeSamples && fullSamples?.length
    ? dist(metricsSamples.map((m, j) => (perUnit(fullSamples[j]) + perUnit(m) - perUnit(serializeSamples[j])) / perUnit(fullSamples[j])))
    : undefined;
  const metricsMet = metricsRatio ? metricsRatio.median <= METRICS_TARGET : undefined;
  const baseline = results.sdk
    ? {
        tlsotelOverSdkCpu: ratio,
        droppedPerRun: env.sdkRuns.map((r) => r.dropped),
        failedPerRun: env.sdkRuns.map((r) => r.failed),
        receiverCpuMsPerRun: dist(env.sdkRuns.map((r) => r.receiverCpuMs)),
        inputsPrepareMsPerRun: dist(env.sdkRuns.map((r) => r.prepareMs)),
        maxProcessorQueue: dist(env.sdkRuns.map((r) => r.maxQueued)),
        requestBytesPerSpan: {
          sdk: dist(env.sdkRuns.map((r) => r.bytesPerSpan)),
          tlsotel: env.fullBytesPerSpan.length ? dist(env.fullBytesPerSpan) : undefined,
        },
        ok: results.sdk.ok,
      }
    : undefined;

  const json = {
    protocol: proto,
    corpus: cs,
    stages: Object.fromEntries(
      Object.entries(results).map(([name, r]) => [
        name,
        name === 'parser'
          ? { label: r!.label, bytesPerCoreSec: r!.perCoreSec, bytesPerWallSec: r!.perWallSec, cpuUsPerByte: { median: r!.cpuUsPerUnit.median, min: r!.cpuUsPerUnit.min, max: r!.cpuUsPerUnit.max }, ok: r!.ok, samples: r!.samples }
          : {
              label: r!.label, cpuUsPerExchange: r!.cpuUsPerUnit, exchangesPerCoreSec: r!.perCoreSec, exchangesPerWallSec: r!.perWallSec,
              mainThreadCpuUsPerExchange: r!.mainUsPerUnit, gcPauseUsPerExchange: r!.gcUsPerUnit, ok: r!.ok, samples: r!.samples,
            },
      ]),
    ),
    incrementalCpuUsPerExchange: increments,
    metricsOverSerializeCpu: metricsRatio,
    metricsTarget: metricsRatio ? { ratio: METRICS_TARGET, met: metricsMet, overFullCpu: metricsOverFull } : undefined,
    baseline,
    receiverCpuMsPerRun: env.receiverCpuMs.length ? dist(env.receiverCpuMs) : undefined,
    maxSinkQueue: env.maxQueued.length ? dist(env.maxQueued) : undefined,
    linker: env.lastLinker,
    receiverSample: env.sample,
    target: { exchangesPerCoreSec: TARGET_PER_CORE, endToEnd: endToEnd?.perCoreSec.median, met },
    ok,
  };

  const out: string[] = [];
  out.push(`${PROTOCOL_LABEL[proto]}`);
  out.push(
    `corpus: ${cs.records} records (${cs.dataRecords} data, ${cs.connRecords} conn, ${cs.closeRecords} close; ${cs.segmentedCalls} calls split across records), ` +
      `${mb(cs.recordBytes)} MB; ${cs.connections} connections, ${cs.httpExchanges} HTTP exchanges on the wire (${cs.grpcCalls} gRPC) → ${cs.spans} spans; ` +
      `heads ~${cs.avgRequestHeadBytes} B req / ~${cs.avgResponseHeadBytes} B resp${proto === 'h2' ? ` (HPACK), ${cs.avgConcurrentStreams.toFixed(1)} streams at once on average` : ''}; ` +
      `${cs.largeBodies} bodies ≥16 KiB, ${cs.chunkedResponses} chunked/streamed; ` +
      `${(cs.payloadBytes / cs.spans / 1024).toFixed(1)} KiB plaintext per exchange`,
  );
  const rows: string[][] = [['stage', 'CPU µs/exchange', 'Δ µs', 'exchanges/s per core', 'wall exchanges/s', 'main thr µs', 'GC pause µs', 'ok']];
  for (const s of pipelineStages) {
    const r = results[s]!;
    rows.push([
      r.label, fmt(r.cpuUsPerUnit, us), us(increments[s].median), fmt(r.perCoreSec, k), fmt(r.perWallSec, k),
      r.mainUsPerUnit ? us(r.mainUsPerUnit.median) : '?', us(r.gcUsPerUnit.median), r.ok ? 'yes' : 'NO',
    ]);
  }
  if (results.sdk) {
    const r = results.sdk;
    rows.push([
      r.label, fmt(r.cpuUsPerUnit, us), '', fmt(r.perCoreSec, k), fmt(r.perWallSec, k),
      r.mainUsPerUnit ? us(r.mainUsPerUnit.median) : '?', us(r.gcUsPerUnit.median), r.ok ? 'yes' : 'NO',
    ]);
  }
  if (results.metrics) {
    const r = results.metrics;
    rows.push([
      r.label, fmt(r.cpuUsPerUnit, us), metricsDelta ? us(metricsDelta.median) : '', fmt(r.perCoreSec, k), fmt(r.perWallSec, k),
      r.mainUsPerUnit ? us(r.mainUsPerUnit.median) : '?', us(r.gcUsPerUnit.median), r.ok ? 'yes' : 'NO',
    ]);
  }
  if (rows.length > 1) out.push(table(rows));
  if (metricsRatio) {
    out.push(
      `RED metrics on / off (metrics / serialize), CPU per exchange: ${fmt(metricsRatio, (x) => x.toFixed(3))}; ` +
        `target ≤ ${METRICS_TARGET.toFixed(2)} (median of the per-repetition ratios): ${metricsMet ? 'MET' : 'NOT MET'}` +
        `${metricsRatio.max > METRICS_TARGET ? ` (worst repetition ${metricsRatio.max.toFixed(3)})` : ''}`,
    );
    if (metricsOverFull) out.push(`  the same +${us(metricsDelta!.median)} µs over the end-to-end pipeline (full + Δ) / full: ${fmt(metricsOverFull, (x) => x.toFixed(3))}`);
  }
  if (baseline) {
    if (ratio) {
      out.push(
        `tlsotel end to end / stock SDK path, CPU per exchange: ${fmt(ratio, us)} ` +
          `(< 1: tlsotel's whole pipeline, capture parsing included, costs less than the SDK's span path alone)`,
      );
    }
    const sum = (xs: number[]): number => xs.reduce((a, x) => a + x, 0);
    const bytes = baseline.requestBytesPerSpan;
    out.push(
      `stock SDK path: dropped ${sum(baseline.droppedPerRun)}, failed ${sum(baseline.failedPerRun)} spans over ${env.sdkRuns.length} runs; ` +
        `receiver child CPU per run (not counted): ${fmt(baseline.receiverCpuMsPerRun, (x) => x.toFixed(0))} ms; ` +
        `deepest BatchSpanProcessor queue: ${fmt(baseline.maxProcessorQueue, (x) => x.toFixed(0))} spans; ` +
        `request bytes per span: SDK ${bytes.sdk.median.toFixed(0)}` + (bytes.tlsotel ? `, tlsotel ${bytes.tlsotel.median.toFixed(0)}` : '') +
        `; inputs prepared per run (dry run, untimed) in ${fmt(baseline.inputsPrepareMsPerRun, (x) => x.toFixed(0))} ms`,
    );
  }
  if (results.parser) {
    const r = results.parser;
    out.push(
      `HTTP parser alone: ${fmt(r.perCoreSec, mb)} MB/s per core of plaintext ` +
        `(${(cs.payloadBytes / (2 * cs.spans)).toFixed(0)} B/message avg, ${k(((2 * cs.spans) / cs.payloadBytes) * r.perCoreSec.median)} messages/s)` +
        (r.ok ? '' : '  CHECK FAILED'),
    );
  }
  if (results.parse) {
    const r = results.parse;
    const bytesPerEx = cs.payloadBytes / cs.spans;
    out.push(`decode+streams+parse: ${mb(r.perCoreSec.median * bytesPerEx)} MB/s per core of plaintext through the whole front end`);
  }
  if (env.receiverCpuMs.length) {
    out.push(
      `receiver child CPU per run (not counted): ${fmt(dist(env.receiverCpuMs), (x) => x.toFixed(0))} ms; ` +
        `deepest sink queue: ${fmt(dist(env.maxQueued), (x) => x.toFixed(0))} spans`,
    );
  }
  if (env.lastLinker) out.push(`linker per run: ${env.lastLinker.stitched} stitched same-host, ${env.lastLinker.fromTraceparent} from traceparent`);
  if (env.sample) out.push(`receiver sample span: "${env.sample.name}" ${env.sample.kind}, ${Object.keys(env.sample.attributes).length} attributes, parent ${env.sample.parentSpanId ?? '-'}, service ${String(env.sample.resource['service.name'])}`);
  if (met !== undefined) {
    out.push(`target ≥ ${k(TARGET_PER_CORE)} exchanges/s per core end to end: ${met ? 'MET' : 'NOT MET'} (${k(results.full!.perCoreSec.median)}/s, ${us(results.full!.cpuUsPerUnit.median)} µs CPU per exchange)`);
  }
  return { results, json, lines: out, ok };
}

const perUnit = (x: Sample): number => (x.cpuMs * 1e3) / x.units;

/** The issue's bound on HTTP/2's CPU per exchange over HTTP/1.1's, same exchanges. */
const H2_OVER_H1_TARGET = 1.3;

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const logLines: string[] = [];
  const logger: Logger = {
    debug: () => {},
    info: (m) => logLines.push(`info ${m}`),
    warn: (m) => logLines.push(`warn ${m}`),
    error: (m) => logLines.push(`error ${m}`),
  };

  const envs = new Map<WireProtocol, Env>();
  const warmEnvs = new Map<WireProtocol, Env>();
  let genMs = 0;
  for (const proto of o.protocols) {
    // The same seed for every protocol: the same exchanges, put on the wire differently.
    const t = Date.now();
    progress(`generating ${o.exchanges} exchanges of recorded ${PROTOCOL_LABEL[proto]} capture…`);
    const gen = { concurrency: o.concurrency, protocol: proto, grpcShare: o.grpcShare };
    const corpus = generateCorpus({ ...gen, spans: o.exchanges, seed: o.seed, startNs: process.hrtime.bigint() / 2n });
    genMs += Date.now() - t;
    const warm = o.warmup ? generateCorpus({ ...gen, spans: Math.max(5000, Math.floor(o.exchanges / 10)), seed: o.seed + 1000, startNs: process.hrtime.bigint() / 4n }) : undefined;
    const cs = corpus.stats;
    progress(`  ${cs.records} records, ${mb(cs.recordBytes)} MB (${mb(cs.payloadBytes)} MB plaintext) in ${Date.now() - t} ms`);
    envs.set(proto, { corpus, slice: o.slice, receiverCpuMs: [], maxQueued: [], sdkRuns: [], fullBytesPerSpan: [] });
    if (warm) warmEnvs.set(proto, { corpus: warm, slice: o.slice, receiverCpuMs: [], maxQueued: [], sdkRuns: [], fullBytesPerSpan: [] });
  }
  const allEnvs = [...envs.values(), ...warmEnvs.values()];

  const receiver = o.stages.includes('full') || o.stages.includes('sdk') ? await Receiver.start(o.receiver) : undefined;
  let sink: OtlpSpanSink | undefined;
  let sdk: SdkBaseline | undefined;
  if (receiver && o.stages.includes('full')) {
    // Room for every span: nothing can drop (drops are still counted and reported).
    // The agent's transport (src/export/otlp-transport.ts): batches serialized when sealed.
    const transport = new OtlpGrpcTraceTransport({
      url: `http://127.0.0.1:${receiver.port}`,
      compression: o.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    });
    sink = new OtlpSpanSink(transport, {
      maxQueueSize: o.queue ?? Math.max(8192, o.exchanges),
      flushTimeoutMillis: 120_000,
      maxConcurrentExports: o.concurrentExports,
      maxExportBatchSize: BATCH,
      logger,
      destination: 'bench receiver',
    });
  }
  if (receiver && o.stages.includes('sdk')) {
    // The stock path, to the same receiver; its queue too has room for every span by default.
    sdk = new SdkBaseline({
      url: `http://127.0.0.1:${receiver.port}`,
      compression: o.compression,
      maxQueueSize: o.sdkQueue ?? Math.max(2048, o.exchanges),
      maxExportBatchSize: BATCH,
      logger,
    });
  }
  for (const e of allEnvs) {
    e.receiver = receiver;
    e.sink = sink;
    e.sdk = sdk;
  }
  /** The parser stage is Http1Parser alone: HTTP/1.1 corpora only. */
  const runs = (proto: WireProtocol): Stage[] => o.stages.filter((s) => s !== 'parser' || proto === 'h1');

  if (warmEnvs.size > 0) {
    const t = Date.now();
    for (const [proto, warmEnv] of warmEnvs) {
      progress(`warm-up ${PROTOCOL_LABEL[proto]} (${warmEnv.corpus.stats.spans} exchanges per stage)…`);
      for (const stage of runs(proto)) {
        const s = await runStage(stage, warmEnv, warmEnv.corpus);
        if (!s.ok) progress(`  warm-up ${proto} ${stage}: ${s.notes.join('; ')}`);
      }
      warmEnv.parser = undefined;
    }
    progress(`  ${Date.now() - t} ms`);
  }

  const profilers: Array<[Profiler, string, string]> = [];
  if (o.cpuProf !== undefined) profilers.push([await startCpuProfiler(), o.cpuProf, `CPU profile of the timed runs: ${o.cpuProf} (summarise: node dist/bench/cpuprofile-summary.js ${o.cpuProf})`]);
  if (o.allocProf !== undefined) profilers.push([await startAllocationSampler(), o.allocProf, `allocations of the timed runs: ${o.allocProf} (open it in Chrome DevTools, Memory tab)`]);
  const samples = new Map<WireProtocol, Map<Stage, Sample[]>>(o.protocols.map((p) => [p, new Map(runs(p).map((s) => [s, []]))]));
  for (let rep = 0; rep < o.reps; rep++) {
    // Stages and protocols interleaved per repetition: noise on this machine spreads over all.
    const line: string[] = [];
    for (const stage of o.stages) {
      for (const proto of o.protocols) {
        if (!runs(proto).includes(stage)) continue;
        const env = envs.get(proto)!;
        const s = await runStage(stage, env, env.corpus);
        samples.get(proto)!.get(stage)!.push(s);
        const per = (ms: number | undefined): string => (ms === undefined ? '?' : us((ms * 1e3) / s.units));
        const name = o.protocols.length > 1 ? `${proto} ${stage}` : stage;
        line.push(
          stage === 'parser'
            ? `${name} ${mb(s.units / (s.cpuMs / 1e3))} MB/s`
            : `${name} ${per(s.cpuMs)} µs (main thread ${per(s.mainThreadCpuMs)}, gc pauses ${per(s.gcPauseMs)})`,
        );
        if (!s.ok) progress(`  rep ${rep + 1} ${proto} ${stage}: CHECK FAILED: ${s.notes.join('; ')}`);
      }
    }
    progress(`rep ${rep + 1}/${o.reps}: ${line.join(', ')}`);
  }
  for (const [profiler, file, said] of profilers) {
    await writeProfile(profiler, file);
    progress(said);
  }
  receiver?.stop();
  if (sink) await sink.shutdown();
  if (sdk) await sdk.shutdown();

  const reports = new Map<WireProtocol, ProtocolReport>();
  for (const proto of o.protocols) reports.set(proto, reportProtocol(proto, samples.get(proto)!, envs.get(proto)!));
  const ok = [...reports.values()].every((r) => r.ok);

  // HTTP/2 over HTTP/1.1, per stage: per repetition (the two ran back to back), then the median.
  const h2OverH1: Partial<Record<Stage, Dist>> = {};
  if (samples.has('h1') && samples.has('h2')) {
    for (const stage of ['parse', 'build', 'serialize', 'full', 'sdk'] as Stage[]) {
      const a = samples.get('h1')!.get(stage);
      const b = samples.get('h2')!.get(stage);
      if (a?.length && b?.length) h2OverH1[stage] = dist(b.map((x, j) => perUnit(x) / perUnit(a[j])));
    }
  }
  const endStage = (['full', 'serialize', 'build', 'parse'] as Stage[]).find((s) => h2OverH1[s] !== undefined);

  if (o.json) {
    const byProto = Object.fromEntries([...reports].map(([p, r]) => [p, r.json]));
    const out = {
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      options: o,
      generateMs: genMs,
      protocols: byProto,
      h2OverH1: endStage ? { stages: h2OverH1, endToEndStage: endStage, target: H2_OVER_H1_TARGET, met: h2OverH1[endStage]!.median <= H2_OVER_H1_TARGET } : undefined,
      ok,
      log: logLines,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return ok ? 0 : 1;
  }

  const out: string[] = [];
  out.push(`tlsotel pipeline benchmark: ${o.exchanges} exchanges (= spans) per run, ${o.reps} reps, median [min–max]; ${o.protocols.length > 1 ? 'HTTP/1.1 and HTTP/2, same exchanges' : PROTOCOL_LABEL[o.protocols[0]]}`);
  out.push(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}; CPU = process.cpuUsage() user+sys of this process (receiver in a child, not counted)`);
  for (const r of reports.values()) {
    out.push('');
    out.push(...r.lines);
  }
  if (endStage) {
    out.push('');
    out.push('HTTP/2 / HTTP/1.1, CPU per exchange (same exchanges; per repetition, then median [min–max]):');
    const rows: string[][] = [['stage', 'HTTP/1.1 µs', 'HTTP/2 µs', 'HTTP/2 / HTTP/1.1']];
    for (const [stage, d] of Object.entries(h2OverH1) as Array<[Stage, Dist]>) {
      rows.push([
        STAGE_LABEL[stage], us(reports.get('h1')!.results[stage]!.cpuUsPerUnit.median), us(reports.get('h2')!.results[stage]!.cpuUsPerUnit.median), fmt(d, us),
      ]);
    }
    out.push(table(rows));
    const d = h2OverH1[endStage]!;
    out.push(`target HTTP/2 ≤ ${H2_OVER_H1_TARGET} × HTTP/1.1 (${endStage}): ${d.median <= H2_OVER_H1_TARGET ? 'MET' : 'NOT MET'} (${us(d.median)})`);
  }
  const metricsVerdicts = [...reports].map(([p, r]) => [p, r.json.metricsTarget as { met: boolean } | undefined] as const).filter(([, t]) => t !== undefined);
  if (metricsVerdicts.length > 1) {
    const all = metricsVerdicts.every(([, t]) => t!.met);
    out.push('');
    out.push(`target RED metrics ≤ ${METRICS_TARGET.toFixed(2)} × CPU per exchange without them, every protocol: ${all ? 'MET' : 'NOT MET'} (${metricsVerdicts.map(([p, t]) => `${PROTOCOL_LABEL[p]} ${t!.met ? 'met' : 'not met'}`).join(', ')})`);
  }
  if (logLines.length) out.push(`sink log: ${logLines.slice(0, 5).join(' | ')}`);
  if (!ok) out.push('CORRECTNESS CHECKS FAILED (see above)');
  process.stdout.write(`${out.join('\n')}\n`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);
