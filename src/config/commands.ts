// One typed, fully resolved configuration per command, from the command's flags (already split
// by src/cli/options.ts, values still text) and the environment (environment.ts): flags win over
// variables, variables over defaults. Every flag value is checked here, at start, with an
// error naming the flag (exit 2); nothing deeper in the agent has to reject a value later.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { TLSOTEL_MAX_COMMS } from '../bpf/layout.generated';
import { PROBE_DEFAULTS } from '../bpf/probes';
import type { ExportConfig } from '../export/config';
import type { AgentMetricsSettings } from '../telemetry/agent-metrics';
import { EXCHANGE_DEFAULTS } from '../exchange/tracker';
import { DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT } from '../trace/span-builder';
import { parseResourceAttributes } from '../trace/resource';
import type { RedactionOptions } from '../trace/redact';
import type { Environment } from './environment';
import { UsageError } from './errors';
import { resolveExportConfig, type Resolved } from './export';
import { resolveMetricsConfig, resolveRedMetricsConfig } from './metrics';
import { resolveSamplingConfig } from './sampling';
import type { MetricsSettings } from '../metrics/metrics-stage';
import type { SamplingConfig } from '../trace/sampler';
import { DEFAULT_NICE, NICE_RANGE } from '../util/process-priority';
import { duration, fromEnv, fromFlag, integer, shortDuration, size, text, type ValueKind } from './values';
import { DEFAULT_LIBRARY_ROOTS } from '../discovery/library-roots';
import { DEFAULT_CPU_YIELD_US } from '../util/cpu-yield';

/** Flag values as the command line gave them (text, or true for a boolean flag). */
export type Flags = Readonly<Record<string, string | boolean | undefined>>;

export interface CommonConfig {
  /** -v: debug log, libbpf's and the OpenTelemetry SDK's included. */
  verbose: boolean;
  /** TLSOTEL_DEBUG: a stack trace with a fatal error. */
  debug: boolean;
}

/** What the capture stage needs (run and sniff). */
export interface CaptureConfig {
  /** --pid: trace only this process (it exists at start). */
  pid?: number;
  /** --comm: trace only threads with one of these names (at most COMM_MAX_NAMES, each at most
   *  15 bytes, as the kernel keeps it); filtered in BPF. */
  comms?: string[];
  captureBytes: number;
  maxSegments: number;
  ringBufferBytes: number;
  /** Body skipping: calls of at least this many bytes beginning with an HTTP/1 head have their
   *  body counted, not copied, in BPF, as have HTTP/2 DATA payloads of at least this many bytes;
   *  0 (--keep-bodies): every byte is copied. */
  skipBodiesFrom: number;
  /** Directories searched at start for programs that carry OpenSSL inside (node): PATH, then
   *  /usr/bin and /usr/local/bin. */
  binDirs: string[];
  /** --library-roots / TLSOTEL_LIBRARY_ROOTS: directories searched for TLS library files before
   *  any process maps them ('*' matches one component); [] for none. */
  libraryRoots: string[];
  /** A process that execs or maps a new file is stopped until the file is examined (and
   *  attached), then resumed: traced from its first request; --hold-new-programs (off by
   *  default: README, Discovery, says what a stop can do to a parent that watches for it). */
  holdNewFiles: boolean;
}

export interface SniffConfig extends CommonConfig, CaptureConfig {
  previewBytes: number;
}

export interface RunConfig extends CommonConfig, CaptureConfig {
  export: ExportConfig;
  /** The agent's own metrics; undefined when off (no collector, or OTEL_METRICS_EXPORTER=none). */
  metrics?: AgentMetricsSettings;
  /** RED metrics of the traced exchanges; undefined when they go nowhere. */
  red?: MetricsSettings;
  /** Which spans are kept; undefined: every span (no OTEL_TRACES_SAMPLER). */
  sampling?: SamplingConfig;
  redaction: RedactionOptions;
  responseTimeoutMs: number;
  /** OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: longest string attribute value. */
  attributeValueLengthLimit: number;
  /** Same-host client↔server stitching. */
  stitch: boolean;
  /** OTEL_RESOURCE_ATTRIBUTES of the agent: on every span's resource, under what the traced
   *  process says of itself and what /proc says (e.g. k8s.node.name from the downward API). */
  resourceAttributes: Record<string, string>;
  statsIntervalMs: number;
  /** --nice: the agent's threads get this nice value at start (0: unchanged), so that the
   *  traced programs win a contended core (src/util/process-priority.ts). */
  nice: number;
  /** Whether `run` starts V8 with --single-threaded-gc (TLSOTEL_SINGLE_THREADED_GC, default
   *  1; src/util/v8-flags.ts). */
  v8Flags: boolean;
  /** --cpu-yield: µs of drain work between two offers of the core to other threads; 0: off. */
  cpuYieldUs: number;
  /** TLSOTEL_CPU_PROFILE: write a V8 CPU profile of the agent from ready to stop to this file. */
  cpuProfile?: string;
}

export interface DoctorConfig extends CommonConfig {
  binDirs: string[];
  libraryRoots: string[];
}

export interface HostView {
  /** Whether process `pid` exists now; default: /proc/PID exists. */
  processExists(pid: number): boolean;
  /** Names (comm) of the threads running now, of one process or of all; default:
   *  /proc/PID/task/TID/comm. */
  threadNames(pid?: number): Set<string>;
}

const realHost: HostView = { processExists: (pid) => existsSync(`/proc/${pid}`), threadNames };

/** The kernel keeps a task's name (comm) in 16 bytes: 15 characters and a NUL. */
export const COMM_MAX = 15;
/** Most names --comm takes (struct tls_config.comms). */
export const COMM_MAX_NAMES = TLSOTEL_MAX_COMMS;

/** --comm: one name, or several separated by commas. */
const commList: ValueKind<string[]> = {
  expected: `1 to ${COMM_MAX_NAMES} process names separated by commas, each of 1 to ${COMM_MAX} bytes (the kernel keeps a process name's first 15 bytes)`,
  parse(raw) {
    const names = [...new Set(raw.split(',').map((n) => n.trim()))];
    if (names.length > COMM_MAX_NAMES || names.some((n) => text(COMM_MAX).parse(n) === undefined)) return undefined;
    return names;
  },
};

function threadNames(only?: number): Set<string> {
  const names = new Set<string>();
  for (const pid of only !== undefined ? [String(only)] : safeReaddir('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    for (const tid of safeReaddir(`/proc/${pid}/task`)) {
      try {
        names.add(readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, ''));
      } catch {
        // gone meanwhile
      }
    }
  }
  return names;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
/** --cpu-yield: "off" (0) or 50us..10ms, in µs. */
const cpuYield: ValueKind<number> = {
  expected: '"off" or a duration from 50us to 10ms, like 200us',
  parse(raw) {
    if (raw.trim() === 'off') return 0;
    const ns = shortDuration.parse(raw);
    return ns !== undefined && ns >= 50_000 && ns <= 10_000_000 ? ns / 1000 : undefined;
  },
};

/** Linux's PID_MAX_LIMIT. */
const PID_MAX = 2 ** 22;
/** What the BPF side accepts (src/bpf/probes.ts checks the same bounds at load). */
export const CAPTURE_LIMITS = {
  captureBytes: [1, 16384],
  maxSegments: [1, 16],
  ringBufferBytes: [4096, 1024 ** 3],
} as const;

function common(flags: Flags, env: Environment): CommonConfig {
  return { verbose: flags.verbose === true, debug: env.TLSOTEL_DEBUG !== undefined };
}

function binDirs(env: Environment): string[] {
  return [...new Set([...(env.PATH ?? '').split(':'), '/usr/bin', '/usr/local/bin'].filter((d) => d.startsWith('/')))];
}

/** "DIR,DIR" (absolute paths, '*' for one component) or "none". */
const rootList: ValueKind<string[]> = {
  expected: "absolute directories separated by commas, or 'none'",
  parse(raw) {
    if (raw.trim() === 'none') return [];
    const dirs = raw.split(',').map((d) => d.trim()).filter(Boolean);
    return dirs.length > 0 && dirs.every((d) => d.startsWith('/')) ? dirs : undefined;
  },
};

function libraryRoots(flags: Flags, env: Environment, warnings: string[]): string[] {
  return fromFlag(rootList, 'library-roots', flags['library-roots'])
    ?? fromEnv(rootList, 'TLSOTEL_LIBRARY_ROOTS', env.TLSOTEL_LIBRARY_ROOTS, warnings, 'the container runtimes\' layer directories')
    ?? DEFAULT_LIBRARY_ROOTS;
}

function capture(flags: Flags, env: Environment, host: HostView, warnings: string[]): CaptureConfig {
  const pid = fromFlag(integer(1, PID_MAX), 'pid', flags.pid);
  if (pid !== undefined && !host.processExists(pid)) {
    throw new UsageError(`--pid ${pid}: no process ${pid} (the filter is fixed at start: start the program first)`);
  }
  const comms = fromFlag(commList, 'comm', flags.comm);
  if (comms !== undefined) {
    // Not an error (the program may start later), but a typo would trace nothing without a word.
    const running = host.threadNames(pid);
    const absent = comms.filter((n) => !running.has(n));
    if (absent.length > 0) {
      warnings.push(`--comm: no thread${pid !== undefined ? ` of process ${pid}` : ''} is named ${absent.map((n) => `'${n}'`).join(', ')} now; traced once one is ` +
        `(the name is the kernel's: /proc/PID/comm, the program file's name cut to 15 bytes unless the program renames itself)`);
    }
  }
  const cfg: CaptureConfig = {
    captureBytes: fromFlag(integer(...CAPTURE_LIMITS.captureBytes), 'capture-bytes', flags['capture-bytes']) ?? PROBE_DEFAULTS.captureBytes,
    maxSegments: fromFlag(integer(...CAPTURE_LIMITS.maxSegments), 'capture-segments', flags['capture-segments']) ?? PROBE_DEFAULTS.maxSegments,
    ringBufferBytes: fromFlag(
      size({ min: CAPTURE_LIMITS.ringBufferBytes[0], max: CAPTURE_LIMITS.ringBufferBytes[1], powerOfTwo: true }),
      'ring-buffer-size',
      flags['ring-buffer-size'],
    ) ?? PROBE_DEFAULTS.ringBufferBytes,
    skipBodiesFrom: flags['keep-bodies'] === true ? 0 : PROBE_DEFAULTS.skipBodiesFrom,
    binDirs: binDirs(env),
    libraryRoots: libraryRoots(flags, env, warnings),
    holdNewFiles: flags['hold-new-programs'] === true,
  };
  if (pid !== undefined) cfg.pid = pid;
  if (comms !== undefined) cfg.comms = comms;
  return cfg;
}

export function resolveSniffConfig(flags: Flags, env: Environment, host: HostView = realHost): Resolved<SniffConfig> {
  const warnings: string[] = [];
  return {
    config: {
      ...common(flags, env),
      ...capture(flags, env, host, warnings),
      previewBytes: fromFlag(integer(0, 16384), 'preview-bytes', flags['preview-bytes']) ?? 96,
    },
    warnings,
    notes: [],
  };
}

export function resolveDoctorConfig(flags: Flags, env: Environment): Resolved<DoctorConfig> {
  const warnings: string[] = [];
  return { config: { ...common(flags, env), binDirs: binDirs(env), libraryRoots: libraryRoots(flags, env, warnings) }, warnings, notes: [] };
}

export function resolveRunConfig(flags: Flags, env: Environment, host: HostView = realHost): Resolved<RunConfig> {
  const list = (name: string): string[] | undefined => {
    const v = flags[name];
    return typeof v === 'string' ? v.split(',').map((h) => h.trim()).filter(Boolean) : undefined;
  };
  const rootWarnings: string[] = [];
  const captureCfg = capture(flags, env, host, rootWarnings);
  const maxQueueSize = fromFlag(integer(1, 10_000_000), 'max-queue-size', flags['max-queue-size']);
  const responseTimeoutMs = fromFlag(duration, 'response-timeout', flags['response-timeout']) ?? EXCHANGE_DEFAULTS.responseTimeoutMs;
  const statsIntervalMs = fromFlag(duration, 'stats-interval', flags['stats-interval']) ?? 10_000;
  const exp = resolveExportConfig({
    ...(typeof flags['otlp-endpoint'] === 'string' ? { otlpEndpoint: flags['otlp-endpoint'] } : {}),
    print: flags.print === true,
    ...(maxQueueSize !== undefined ? { maxQueueSize } : {}),
  }, env);
  const warnings = [...rootWarnings, ...exp.warnings];
  const metrics = resolveMetricsConfig(exp.config, env, warnings);
  const red = resolveRedMetricsConfig(flags, exp.config, env, metrics, warnings);
  const sampling = resolveSamplingConfig(flags, env, warnings);
  const attributeValueLengthLimit = fromEnv(integer(1, 2 ** 30), 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, warnings, DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT)
    ?? DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT;
  const redaction: RedactionOptions = {
    allowSensitive: flags['no-redaction'] === true,
    redactUrls: flags['no-redaction'] !== true,
  };
  const req = list('capture-request-headers');
  const res = list('capture-response-headers');
  if (req !== undefined) redaction.captureRequestHeaders = req;
  if (res !== undefined) redaction.captureResponseHeaders = res;
  const config: RunConfig = {
    ...common(flags, env),
    ...captureCfg,
    export: exp.config,
    redaction,
    responseTimeoutMs,
    attributeValueLengthLimit,
    stitch: flags['no-stitch'] !== true,
    resourceAttributes: env.OTEL_RESOURCE_ATTRIBUTES !== undefined ? parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES) : {},
    statsIntervalMs,
    nice: fromFlag(integer(...NICE_RANGE), 'nice', flags.nice) ?? DEFAULT_NICE,
    cpuYieldUs: fromFlag(cpuYield, 'cpu-yield', flags['cpu-yield']) ?? DEFAULT_CPU_YIELD_US,
    v8Flags: (fromEnv(integer(0, 1), 'TLSOTEL_SINGLE_THREADED_GC', env.TLSOTEL_SINGLE_THREADED_GC, warnings, 1) ?? 1) === 1,
  };
  if (metrics !== undefined) config.metrics = metrics;
  if (red !== undefined) config.red = red;
  if (sampling !== undefined) config.sampling = sampling;
  if (env.TLSOTEL_CPU_PROFILE !== undefined) config.cpuProfile = env.TLSOTEL_CPU_PROFILE;
  return { config, warnings, notes: exp.notes };
}
