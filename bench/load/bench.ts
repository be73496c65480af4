// The load bench of `npm run bench` (see bench/README.md): a private nginx with TLS on loopback,
// wrk loads (saturation with small and 16 KiB responses, fixed 1k and 5k requests/s) and an
// HTTP/2 load (nginx's http2 port, h2load at a fixed 5k requests/s), and for each repetition,
// interleaved, the rows
//   baseline  no agent
//   floor     empty BPF programs at tlsotel's attach points (bench/load/empty-probes.*)
//   (floor-exported, on request: the same on the exported SSL_* functions, where sslsniff sits)
//   tlsotel   `tlsotel run` exporting to a local OTLP/gRPC receiver (bench/load/receiver.ts)
//   sslsniff  sslsniff-bpfcc (Debian bpfcc-tools), output to /dev/null — the peer
// Every figure is a median over the repetitions with min–max; ratios are taken against the
// baseline of the same repetition. Prints one table; writes results.json and table.md.
// Needs root; tools come from bench/load/install-deps.sh (bench/load/run.sh runs it).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { otherAgentPrograms } from '../../src/bpf/other-agents';
import { median, startReceiver, type Receiver } from './receiver-client';
import { RECEIVER_MODES, type ReceiverMode } from '../grpc-receivers';

/** Under the table: what the agents exported to (runs before the option default to grpc-js). */
const RECEIVER_NOTES: Record<ReceiverMode, string> = {
  'h2': 'bench/load/receiver.ts over node:http2 with 16 MiB stream and 64 MiB connection windows (a Go collector once its BDP estimator grew them; --receiver)',
  'grpc-js': "bench/load/receiver.ts on @grpc/grpc-js's server, HTTP/2's default 64 KiB windows (--receiver)",
};

const ROOT = path.resolve(__dirname, '../../..'); // dist/bench/load → the checkout
const SRC = path.join(ROOT, 'bench', 'load');
const AGENT = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const CACHE = '/var/cache/tlsotel-bench';
/** Node flags for the agent only, e.g. BENCH_AGENT_NODE_ARGS='--max-semi-space-size=32' (not
 *  --cpu-prof: its signals fail the BPF load; TLSOTEL_CPU_PROFILE=FILE profiles the agent). */
const AGENT_NODE_ARGS = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(/\s+/).filter((a) => a.length > 0);
/** Flags for `tlsotel run`, e.g. BENCH_AGENT_ARGS='--nice 0' (to compare a setting with its default). */
const AGENT_ARGS = (process.env.BENCH_AGENT_ARGS ?? '').split(/\s+/).filter((a) => a.length > 0);
const ALT_AGENT_ARGS = (process.env.BENCH_ALT_AGENT_ARGS ?? '').split(/\s+/).filter((a) => a.length > 0);
const ALT_AGENT_NODE_ARGS = (process.env.BENCH_ALT_AGENT_NODE_ARGS ?? '').split(/\s+/).filter((a) => a.length > 0);

// ---------------------------------------------------------------------------------------------
// Options

type RowId = 'baseline' | 'floor' | 'floor-exported' | 'tlsotel' | 'tlsotel-alt' | 'tlsotel-keep-bodies' | 'sslsniff';
const ALL_ROWS: RowId[] = ['baseline', 'floor', 'floor-exported', 'tlsotel', 'tlsotel-alt', 'tlsotel-keep-bodies', 'sslsniff'];
/** A row that runs `tlsotel run` (tlsotel-alt: with BENCH_ALT_AGENT_ARGS / BENCH_ALT_AGENT_NODE_ARGS
 *  instead, to compare a setting with the default in one run, interleaved; tlsotel-keep-bodies:
 *  `tlsotel run --keep-bodies`, every body byte copied through the ring as before body skipping). */
const isTlsotel = (row: RowId): boolean => row === 'tlsotel' || row === 'tlsotel-alt' || row === 'tlsotel-keep-bodies';
const DEFAULT_ROWS: RowId[] = ['baseline', 'floor', 'tlsotel', 'sslsniff'];

interface Load {
  id: string;
  label: string;
  path: string;
  /** Requests per second in total; 0: as fast as the connections allow. */
  rate: number;
  conns: number;
  /** HTTP/2 with h2load (nginx's http2 port), this many streams at most at once per connection;
   *  unset: HTTP/1.1 with wrk. */
  h2Streams?: number;
  /** HTTP/1.1 from the Go client (bench/load/go-load: crypto/tls) instead of wrk. */
  go?: true;
  /** Run only when named in --loads. */
  optIn?: true;
}

const LOADS: Load[] = [
  { id: 'small', label: 'saturation, small responses', path: '/small', rate: 0, conns: 8 },
  { id: '16k', label: 'saturation, 16 KiB responses', path: '/16k', rate: 0, conns: 8 },
  { id: 'r1k', label: 'fixed 1k req/s', path: '/small', rate: 1000, conns: 8 },
  { id: 'r5k', label: 'fixed 5k req/s', path: '/small', rate: 5000, conns: 16 },
  // HTTP/2: h2load paces each connection (--rps is per client); 4 connections of up to 8 streams.
  { id: 'h2r5k', label: 'HTTP/2 fixed 5k req/s', path: '/small', rate: 5000, conns: 4, h2Streams: 8 },
  // The same with 16 KiB responses: what following HTTP/2 frames and skipping DATA payloads in BPF
  // costs and saves (issue #15, item 2), against h2r5k and against --keep-bodies.
  { id: 'h2r5k16k', label: 'HTTP/2 fixed 5k req/s, 16 KiB responses', path: '/16k', rate: 5000, conns: 4, h2Streams: 8, optIn: true },
  // Go's crypto/tls on the client side (GOMAXPROCS=1, as wrk -t1): what the Go probes cost a Go program.
  { id: 'gor5k', label: 'Go client fixed 5k req/s', path: '/small', rate: 5000, conns: 16, go: true },
  { id: 'gosmall', label: 'Go client saturation, small responses', path: '/small', rate: 0, conns: 8, go: true, optIn: true },
];

/** Load run after an agent starts, before the measured loads: below saturation, so nothing drops. */
const AGENT_WARMUP: Load = { id: 'agent-warm-up', label: 'agent warm-up (not measured)', path: '/small', rate: 5000, conns: 16 };
const AGENT_WARMUP_S = 2;
/** Seconds of the HTTP/2 warm-up: 1 in quick mode, to keep it short. */
const h2WarmupS = (o: Options): number => (o.quick ? 1 : AGENT_WARMUP_S);
/** The same for HTTP/2 (its own parser and session code), when an HTTP/2 load is run. */
const AGENT_WARMUP_H2: Load = { id: 'agent-warm-up-h2', label: 'agent warm-up, HTTP/2 (not measured)', path: '/small', rate: 5000, conns: 4, h2Streams: 8 };
/** The same for the Go client, when a Go load is run, for tlsotel only: the agent finds the Go
 *  binary (its once-a-second /proc rescan) and attaches to the file, so that the measured Go
 *  processes (the same file) are traced from their first request. The floor attaches by path. */
const AGENT_WARMUP_GO: Load = { id: 'agent-warm-up-go', label: 'agent warm-up, Go client (not measured)', path: '/small', rate: 5000, conns: 16, go: true };

interface Options {
  quick: boolean;
  reps: number;
  extraReps: number;
  durationS: number;
  gapS: number;
  waitQuietS: number;
  /** Minutes: no extra repetition is started past this. */
  budgetMin: number;
  rows: RowId[];
  loads: Load[];
  peer: 'sslsniff' | 'bpftrace';
  out?: string;
  /** Spans per repetition of the stock-SDK reference (bench/pipeline.ts --only sdk); 0: none. */
  sdkSpans: number;
  /** The OTLP receiver's server (bench/grpc-receivers.ts). */
  receiver: ReceiverMode;
}

function usage(): string {
  return `usage: node dist/bench/load/bench.js [--quick] [--reps N] [--duration S] [--rows a,b,..]
         [--loads small,16k,r1k,r5k] [--peer sslsniff|bpftrace] [--wait-quiet S] [--budget MIN] [--out DIR]
  --quick        5 repetitions of 1 s loads (about 4 minutes); default: 5 of 6 s (about 16)
  --reps N       repetitions (interleaved: baseline, floor, tlsotel, sslsniff, baseline, …), ≥ 1
  --extra-reps N repetitions added when others disturbed one (default 2; quick 1), within --budget
  --budget MIN   start no extra repetition past this many minutes (default 15; quick 4)
  --duration S   seconds of load per measurement (whole seconds: wrk's unit)
  --rows LIST    rows to run, of ${ALL_ROWS.join(',')} (baseline is always run;
                 default ${DEFAULT_ROWS.join(',')}; floor-exported: empty probes on the exported
                 SSL_write/SSL_read/_ex, for comparison with tlsotel's placement; tlsotel-alt:
                 tlsotel again with BENCH_ALT_AGENT_ARGS / BENCH_ALT_AGENT_NODE_ARGS, e.g.
                 '--nice 0', to compare a setting with the default in the same run)
  --loads LIST   loads to run, of ${LOADS.map((l) => l.id).join(',')}
                 (default ${LOADS.filter((l) => !l.optIn).map((l) => l.id).join(',')};
                 h2r5k: HTTP/2, nginx's http2 port loaded by h2load from nghttp2-client;
                 h2r5k16k: the same with 16 KiB responses;
                 gor5k, gosmall: a Go client, bench/load/go-load, built at run time)
  --peer P       force the peer: sslsniff (default; bpftrace if sslsniff cannot run) or bpftrace
  --wait-quiet S before each repetition wait up to S seconds for other tracers to go away and
                 for other processes to use less than 30% of a core (default 60; quick 5)
  --out DIR      where to write results.json, table.md and logs (default: a new /tmp/tlsotel-bench-*)
  --sdk-spans N  spans per repetition of the stock OpenTelemetry JS reference run after the loads
                 (bench/pipeline.ts --only sdk, 3 repetitions; default 20000, quick 10000; 0: none)
  --receiver R   the OTLP receiver's server: h2 (default: large HTTP/2 flow-control windows, as a
                 Go collector has once grpc-go's BDP estimator grew them) or grpc-js (64 KiB
                 windows: about one window per turn of a busy agent's event loop)
  --report FILE  print the table of an earlier run (its results.json) again, and exit`;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    quick: false, reps: 5, extraReps: 2, durationS: 6, gapS: 1, waitQuietS: 60, budgetMin: 15,
    rows: [...DEFAULT_ROWS], loads: LOADS.filter((l) => !l.optIn), peer: 'sslsniff', sdkSpans: 20_000,
    receiver: 'h2',
  };
  const explicit = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (min: number): number => {
      const v = Number(val());
      if (!Number.isFinite(v) || v < min) throw new Error(`${a} expects a number ≥ ${min}`);
      return v;
    };
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--reps': o.reps = Math.floor(num(1)); explicit.add('reps'); break;
      case '--extra-reps': o.extraReps = Math.floor(num(0)); explicit.add('extra'); break;
      case '--duration': o.durationS = Math.round(num(1)); explicit.add('duration'); break; // wrk: whole seconds
      case '--wait-quiet': o.waitQuietS = num(0); explicit.add('quiet'); break;
      case '--budget': o.budgetMin = num(1); explicit.add('budget'); break;
      case '--out': o.out = path.resolve(val()); break;
      case '--sdk-spans': o.sdkSpans = Math.floor(num(0)); explicit.add('sdk'); break;
      case '--receiver': {
        const r = val();
        if (!RECEIVER_MODES.includes(r as ReceiverMode)) throw new Error(`--receiver expects ${RECEIVER_MODES.join(' or ')}`);
        o.receiver = r as ReceiverMode;
        break;
      }
      case '--peer': {
        const p = val();
        if (p !== 'sslsniff' && p !== 'bpftrace') throw new Error('--peer expects sslsniff or bpftrace');
        o.peer = p;
        break;
      }
      case '--rows': {
        const rows = val().split(',').map((s) => s.trim()).filter(Boolean);
        for (const r of rows) if (!ALL_ROWS.includes(r as RowId)) throw new Error(`unknown row ${r}`);
        o.rows = ALL_ROWS.filter((r) => r === 'baseline' || rows.includes(r));
        break;
      }
      case '--loads': {
        const ids = val().split(',').map((s) => s.trim()).filter(Boolean);
        for (const id of ids) if (!LOADS.some((l) => l.id === id)) throw new Error(`unknown load ${id}`);
        o.loads = LOADS.filter((l) => ids.includes(l.id));
        break;
      }
      case '-h': case '--help': console.log(usage()); process.exit(0);
      default: throw new Error(`unknown argument ${a}\n${usage()}`);
    }
  }
  if (o.quick) {
    if (!explicit.has('duration')) o.durationS = 1;
    if (!explicit.has('extra')) o.extraReps = 1;
    if (!explicit.has('quiet')) o.waitQuietS = 5;
    if (!explicit.has('budget')) o.budgetMin = 4;
    if (!explicit.has('sdk')) o.sdkSpans = 10_000;
    o.gapS = 0.5;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
let logStream: fs.WriteStream | undefined;

function log(msg: string): void {
  const line = `[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`;
  process.stderr.write(line + '\n');
  logStream?.write(line + '\n');
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** utime+stime (+ the waited-for children's) of a process, in seconds; undefined if gone. */
function procCpu(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14 → f[11], stime f[12], cutime f[13], cstime f[14]
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function ppidOf(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The process and all its descendants. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const pp = ppidOf(pid);
    if (pp === undefined) continue;
    if (!children.has(pp)) children.set(pp, []);
    children.get(pp)!.push(pid);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    if (!fs.existsSync(`/proc/${p}`)) continue;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

function treeCpu(root: number): number {
  return processTree(root).reduce((sum, p) => sum + (procCpu(p) ?? 0), 0);
}

/** Peak resident set (VmHWM) summed over the tree, in KiB. */
function treePeakRssKb(root: number): number {
  let sum = 0;
  for (const p of processTree(root)) {
    try {
      const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) sum += Number(m[1]);
    } catch {
      // gone
    }
  }
  return sum;
}

/** CPU seconds the host's processes used (user, nice, system): comparable with the processes'
 *  utime+stime. Interrupts and softirqs — much of loopback networking — are left out, as they
 *  are out of the processes' times; so is steal. */
function hostBusy(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  return (v[0] + v[1] + v[2]) / CLK_TCK;
}

// ---------------------------------------------------------------------------------------------
// BPF program statistics (kernel.bpf_stats_enabled=1; bpftool prog show -j)

interface Prog { id: number; type: string; name: string; runNs: number; runCnt: number }
const TRACING_TYPES = new Set(['kprobe', 'raw_tracepoint', 'tracepoint', 'perf_event', 'tracing', 'raw_tracepoint_writable']);

function bpfProgs(): Map<number, Prog> {
  const out = new Map<number, Prog>();
  const raw = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { maxBuffer: 64 * 1024 * 1024 }).toString()) as Array<Record<string, unknown>>;
  for (const p of raw) {
    out.set(Number(p.id), {
      id: Number(p.id),
      type: String(p.type),
      name: String(p.name ?? ''),
      runNs: Number(p.run_time_ns ?? 0),
      runCnt: Number(p.run_cnt ?? 0),
    });
  }
  return out;
}

/** Ids of the BPF programs that a process tree holds (program and link fds). */
function progIdsOf(root: number): Set<number> {
  const ids = new Set<number>();
  for (const pid of processTree(root)) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (!/bpf-prog|bpf_link/.test(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))) continue;
        const m = /prog_id:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
        if (m) ids.add(Number(m[1]));
      } catch {
        // closed meanwhile
      }
    }
  }
  return ids;
}

type ProbeClass = 'enter' | 'ret' | 'free' | 'sys';
function classify(p: Prog): ProbeClass {
  if (p.type !== 'kprobe') return 'sys';
  if (/free/.test(p.name)) return 'free';
  if (/ret|exit/.test(p.name)) return 'ret';
  return 'enter';
}

type BpfDelta = Record<ProbeClass, { cnt: number; ns: number }>;
function bpfDelta(before: Map<number, Prog>, after: Map<number, Prog>, ids: Set<number>): BpfDelta {
  const d: BpfDelta = { enter: { cnt: 0, ns: 0 }, ret: { cnt: 0, ns: 0 }, free: { cnt: 0, ns: 0 }, sys: { cnt: 0, ns: 0 } };
  for (const id of ids) {
    const a = after.get(id);
    const b = before.get(id);
    if (!a || !b) continue;
    const c = classify(a);
    d[c].cnt += a.runCnt - b.runCnt;
    d[c].ns += a.runNs - b.runNs;
  }
  return d;
}

/** Tracing programs not ours that ran between the two snapshots: they slow the load too. */
function foreignActive(before: Map<number, Prog>, after: Map<number, Prog>, ours: Set<number>): string[] {
  const names = new Set<string>();
  for (const [id, a] of after) {
    if (ours.has(id) || !TRACING_TYPES.has(a.type)) continue;
    const b = before.get(id);
    if (!b || a.runCnt > b.runCnt) names.add(`${a.name}#${id}`);
  }
  return [...names];
}

function foreignPresent(ours: Set<number>): string[] {
  return [...bpfProgs().values()].filter((p) => !ours.has(p.id) && TRACING_TYPES.has(p.type)).map((p) => `${p.name}#${p.id}`);
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Spawned {
  proc: ChildProcess;
  pid: number;
  stderr: () => string;
  /** Resolves with the first stderr line matching re. */
  waitStderr: (re: RegExp, timeoutMs: number) => Promise<string>;
  exited: Promise<number | null>;
}

function spawnLogged(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdout?: 'ignore' | 'pipe'; logFile: string }): Spawned {
  const proc = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe'] });
  const file = fs.createWriteStream(opts.logFile, { flags: 'a' });
  let buf = '';
  let pending = '';
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  proc.stderr!.on('data', (d: Buffer) => {
    const s = d.toString();
    file.write(s);
    buf = (buf + s).slice(-20000);
    pending += s;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code, sig) => {
      file.end();
      resolve(code ?? (sig ? 128 : null));
    });
    proc.on('error', (e) => {
      buf += `\nspawn ${cmd}: ${e.message}`;
      resolve(127);
    });
  });
  return {
    proc,
    pid: proc.pid ?? -1,
    stderr: () => buf,
    exited,
    waitStderr: (re, timeoutMs) => new Promise<string>((resolve, reject) => {
      const w = { re, resolve: (l: string) => { clearTimeout(t); resolve(l); } };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs / 1000}s waiting for ${re} from ${path.basename(cmd)}`));
      }, timeoutMs);
      waiters.push(w);
      void exited.then((code) => {
        if (waiters.includes(w)) {
          clearTimeout(t);
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${path.basename(cmd)} exited (${code}) before ${re}: ${buf.split('\n').filter((l) => l.trim() && !/warning|note:|^\s|\^|In file included|expanded from/.test(l)).slice(-6).join(' | ')}`));
        }
      });
    }),
  };
}

async function stopProcess(p: Spawned, signal: NodeJS.Signals, timeoutMs: number): Promise<number | null> {
  try {
    p.proc.kill(signal);
  } catch {
    // already gone
  }
  const t = setTimeout(() => { try { p.proc.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

// ---------------------------------------------------------------------------------------------
// nginx

interface Nginx { master: Spawned; worker: number; port: number; h2Port: number; statusPort: number }

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = http.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function startNginx(dir: string): Promise<Nginx> {
  const port = await freePort();
  const h2Port = await freePort();
  const statusPort = await freePort();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  fs.mkdirSync(`${dir}/www`, { recursive: true });
  // 16 KiB of printable bytes: the body of the "16 KiB responses" load.
  fs.writeFileSync(`${dir}/www/16k`, Buffer.alloc(16384, 'abcdefghijklmnopqrstuvwxyz0123456789\n'));
  fs.writeFileSync(`${dir}/nginx.conf`, `
daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    # HTTP/2 (ALPN h2) on a port of its own, same server, same locations (nginx 1.22's syntax).
    listen 127.0.0.1:${h2Port} ssl http2;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    default_type text/plain;
    root ${dir}/www;
    location = /small { return 200 "ok\\n"; }
    location = /16k { }
  }
  # Plain HTTP (not traced): nginx's own count of the requests it handled.
  server {
    listen 127.0.0.1:${statusPort};
    location = /status { stub_status; }
  }
}
`);
  const master = spawnLogged('/usr/sbin/nginx', ['-p', dir, '-c', `${dir}/nginx.conf`, '-e', `${dir}/nginx-error.log`], { logFile: `${dir}/nginx.stderr` });
  const t0 = Date.now();
  for (;;) {
    const workers = processTree(master.pid).filter((p) => p !== master.pid);
    if (workers.length === 1) {
      try {
        await nginxRequests(statusPort);
        return { master, worker: workers[0], port, h2Port, statusPort };
      } catch {
        // not listening yet
      }
    }
    if (Date.now() - t0 > 10_000) throw new Error(`nginx did not start: ${master.stderr()}`);
    await sleep(100);
  }
}

/** nginx's total request count (stub_status); this request itself is counted too. */
function nginxRequests(statusPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: statusPort, path: '/status', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => {
        const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(body);
        if (m) resolve(Number(m[3]));
        else reject(new Error(`unexpected stub_status: ${body}`));
      });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('stub_status timed out')));
  });
}

// ---------------------------------------------------------------------------------------------
// wrk

interface WrkResult {
  pid: number;
  requests: number;
  durationUs: number;
  errors: number;
  p50Us: number;
  p99Us: number;
  cpuS: number;
}

/**
 * Runs a load client through a shell that reports the client's pid (for its CLIENT spans) and,
 * from its own /proc stat after waiting for it, the client's CPU time (cutime + cstime).
 * `client` is the client's command line; resolves with its exit code and output.
 */
function runLoadClient(client: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string; pid: number; cpuS: number | undefined }> {
  const script = `${client} & p=$!; echo "BENCH_WRKPID $p"; wait $p; rc=$?; echo "BENCH_STAT $(cat /proc/$$/stat)"; exit $rc`;
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('exit', (code) => {
      const stat = /BENCH_STAT (.*)/.exec(out)?.[1];
      const f = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
      resolve({
        code,
        out,
        err,
        pid: Number(/BENCH_WRKPID (\d+)/.exec(out)?.[1]),
        cpuS: f === undefined ? undefined : (Number(f[13]) + Number(f[14])) / CLK_TCK,
      });
    });
  });
}

/** Runs a load client that ends with wrk.lua's BENCH_JSON line (wrk with wrk.lua, go-load). */
function runBenchJsonClient(name: string, client: string, env: NodeJS.ProcessEnv): Promise<WrkResult> {
  return runLoadClient(client, env).then(({ code, out, err, pid, cpuS }) => {
    const json = /BENCH_JSON (\{.*\})/.exec(out)?.[1];
    if (code !== 0 || !json || cpuS === undefined) throw new Error(`${name} failed (exit ${code}): ${out.slice(-500)} ${err.slice(-500)}`);
    const j = JSON.parse(json) as { requests: number; duration_us: number; errors: Record<string, number>; lat_p50_us: number; lat_p99_us: number };
    return {
      pid,
      requests: j.requests,
      durationUs: j.duration_us,
      errors: Object.values(j.errors).reduce((x, y) => x + y, 0),
      p50Us: j.lat_p50_us,
      p99Us: j.lat_p99_us,
      cpuS,
    };
  });
}

function runWrk(load: Load, port: number, durationS: number): Promise<WrkResult> {
  const lua = path.join(SRC, 'wrk.lua');
  const url = `https://127.0.0.1:${port}${load.path}`;
  const client = `wrk -t1 -c${load.conns} -d${durationS}s --timeout 5s -s '${lua}' '${url}'`;
  return runBenchJsonClient('wrk', client, { ...process.env, BENCH_RATE: String(load.rate), BENCH_THREADS: '1' });
}

/**
 * An HTTP/2 load: h2load (nghttp2-client, one thread, libssl), `conns` connections of up to
 * `h2Streams` concurrent streams, each connection paced at rate/conns requests per second
 * (--rps is per client; 0: as fast as it goes). Latency percentiles come from its per-request
 * log (microseconds from each request's start to the end of its response).
 */
function runH2load(load: Load, port: number, durationS: number, logDir: string): Promise<WrkResult> {
  const url = `https://127.0.0.1:${port}${load.path}`;
  const logFile = path.join(logDir, `h2load-${load.id}.log`);
  const rps = load.rate > 0 ? ` --rps=${Math.max(1, Math.round(load.rate / load.conns))}` : '';
  const client = `h2load -t1 -c${load.conns} -m${load.h2Streams ?? 1}${rps} -D ${durationS} --log-file='${logFile}' '${url}'`;
  return runLoadClient(client, process.env).then(({ code, out, err, pid, cpuS }) => {
    const fin = /finished in ([\d.]+)(m?s)/.exec(out);
    const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
    if (code !== 0 || cpuS === undefined || !fin || !req) throw new Error(`h2load failed (exit ${code}): ${out.slice(-500)} ${err.slice(-500)}`);
    let lat: number[] = [];
    try {
      lat = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => Number(l.split('\t')[2])).filter(Number.isFinite);
      fs.rmSync(logFile);
    } catch (e) {
      log(`h2load's per-request log ${logFile}: ${(e as Error).message}`);
    }
    lat.sort((x, y) => x - y);
    const pct = (q: number): number => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : NaN);
    return {
      pid,
      requests: Number(req[3]),
      durationUs: Number(fin[1]) * (fin[2] === 'ms' ? 1e3 : 1e6),
      errors: Number(req[5]) + Number(req[6]) + Number(req[7]),
      p50Us: pct(0.5),
      p99Us: pct(0.99),
      cpuS,
    };
  });
}

/** A load on nginx: wrk over HTTP/1.1, h2load over HTTP/2 on nginx's http2 port, or the Go client. */
function runLoad(load: Load, nginx: Nginx, durationS: number, logDir: string): Promise<WrkResult> {
  if (load.go) return runGoLoad(load, nginx.port, durationS, logDir);
  return load.h2Streams !== undefined ? runH2load(load, nginx.h2Port, durationS, logDir) : runWrk(load, nginx.port, durationS);
}

// ---------------------------------------------------------------------------------------------
// The Go client (loads gor5k, gosmall): bench/load/go-load, built at run time into the work
// directory; the floor places empty probes where tlsotel's Go analysis places its own; sslsniff
// cannot see it.

/** The Go toolchain for the client: `go` on PATH, else /usr/local/go (a release), else Debian's golang-go. Any Go ≥ 1.19 builds it. */
function goToolchain(): string | undefined {
  return [which('go'), '/usr/local/go/bin/go', '/usr/lib/go/bin/go'].find((g): g is string => !!g && fs.existsSync(g));
}

/** Builds bench/load/go-load into `dir`; returns the binary and the Go release that built it. */
function buildGoClient(dir: string): { bin: string; goVersion: string } {
  const go = goToolchain();
  if (!go) throw new Error('a Go toolchain is needed for the Go loads: run bench/load/install-deps.sh (golang-go)');
  const env = { PATH: process.env.PATH, HOME: CACHE, GOCACHE: path.join(CACHE, 'go-build'), GOPATH: path.join(CACHE, 'gopath'), GOTOOLCHAIN: 'local', GOENV: 'off', GOFLAGS: '', CGO_ENABLED: '1' };
  fs.mkdirSync(env.GOCACHE, { recursive: true });
  const bin = path.join(dir, 'go-load');
  execFileSync(go, ['build', '-buildvcs=false', '-o', bin, '.'], { cwd: path.join(SRC, 'go-load'), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const goVersion = execFileSync(go, ['env', 'GOVERSION'], { env }).toString().trim();
  return { bin, goVersion };
}

/** The Go client: one process per load, GOMAXPROCS=1 (one thread running Go code, as wrk -t1);
 *  its output is wrk.lua's BENCH_JSON line. */
function runGoLoad(load: Load, port: number, durationS: number, dir: string): Promise<WrkResult> {
  const url = `https://127.0.0.1:${port}${load.path}`;
  const client = `'${path.join(dir, 'go-load')}' -c ${load.conns} -rate ${load.rate} -d ${durationS} '${url}'`;
  return runBenchJsonClient('go-load', client, { ...process.env, GOMAXPROCS: '1' });
}

interface GoProbeSpec { offset: number; label: string }
type GoClaim = (file: { path: string; defined: ReadonlySet<string> }) => { version?: string; probes: GoProbeSpec[] } | undefined;

/** Empty uprobes where tlsotel places its Go probes in `bin`: the entries of crypto/tls.(*Conn)
 *  Write and Read, each of their RET instructions (no uretprobes on Go), Close's entry — taken
 *  from tlsotel's own analysis (dist/src/tls/go/go-library.js: the probes its claim returns). */
function goFloorPlan(bin: string): { specs: string[]; describe: string } {
  // Loaded at run time, as floorPlan() loads internals.js: without it the bench still builds.
  const claim = (require(path.join(ROOT, 'dist', 'src', 'tls', 'go', 'go-library.js')) as { goTls?: { claim?: GoClaim } }).goTls?.claim;
  if (!claim) throw new Error('dist/src/tls/go/go-library.js has no goTls.claim: the floor cannot place the Go probes');
  const c = claim({ path: bin, defined: new Set() });
  if (!c || c.probes.length === 0) throw new Error(`tlsotel's Go analysis places no probe in ${bin}`);
  const byLabel = new Map<string, number>();
  for (const p of c.probes) byLabel.set(p.label, (byLabel.get(p.label) ?? 0) + 1);
  return {
    specs: c.probes.map((p) => `entry:${bin}:0x${p.offset.toString(16)}`),
    describe: `${path.basename(bin)} (Go ${c.version ?? '?'}) uprobes only: ${[...byLabel].map(([l, n]) => `${l} ×${n}`).join(', ')} (entry and every RET)`,
  };
}

/** Why a row is not measured for a load (the table says n/a and why); undefined: measured. */
function notMeasured(row: RowId, load: Load): string | undefined {
  if (row === 'sslsniff' && load.go) return "sslsniff probes libssl's SSL_read/SSL_write only: Go's crypto/tls is not libssl, it cannot see the Go client";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Agents (the rows); the OTLP receiver they export to is ./receiver-client.ts

interface Agent {
  row: RowId;
  name: string;
  p: Spawned;
  /** Program ids that are this agent's. */
  progs: Set<number>;
  /** sslsniff/bpftrace peers: their own count of events seen and lost, if they keep one. */
  eventCounts?: () => Promise<{ events: number; lost: number } | undefined>;
}

interface Env {
  dir: string;
  opts: Options;
  libssl: string[];
  emptyProbes?: { bin: string; obj: string };
  /** empty-probes specs of each floor row, and what they are. */
  floorPlans: Partial<Record<'floor' | 'floor-exported', { specs: string[]; describe: string }>>;
  receiver: Receiver;
  peer?: { kind: 'sslsniff' | 'bpftrace'; cmd: string; args: string[]; env: NodeJS.ProcessEnv; note: string };
  peerFailure?: string;
  nginxPort?: number;
}

const PROG_NAMES: Record<Exclude<RowId, 'baseline'>, RegExp> = {
  floor: /^empty_/,
  'floor-exported': /^empty_/,
  tlsotel: /^tls_/,
  'tlsotel-alt': /^tls_/,
  'tlsotel-keep-bodies': /^tls_/,
  sslsniff: /^(probe_SSL|SSL_)/, // sslsniff-bpfcc; the bpftrace peer names programs after the function
};

async function startAgent(env: Env, row: Exclude<RowId, 'baseline'>, tag: string): Promise<Agent> {
  const before = new Set(bpfProgs().keys());
  let p: Spawned;
  let name: string;
  let ready: RegExp;
  let timeoutMs = 60_000;
  const logFile = path.join(env.dir, `${row}.log`);
  fs.appendFileSync(logFile, `\n===== ${tag} =====\n`);
  if (row === 'floor' || row === 'floor-exported') {
    p = spawnLogged(env.emptyProbes!.bin, [env.emptyProbes!.obj, ...env.floorPlans[row]!.specs], { logFile });
    name = row === 'floor' ? 'empty probes' : 'empty probes on the exported functions';
    ready = /ready/;
  } else if (isTlsotel(row)) {
    const alt = row === 'tlsotel-alt';
    const keep = row === 'tlsotel-keep-bodies' ? ['--keep-bodies'] : [];
    p = spawnLogged(process.execPath, [...(alt ? ALT_AGENT_NODE_ARGS : AGENT_NODE_ARGS), AGENT, 'run', ...keep, '--otlp-endpoint', `http://127.0.0.1:${env.receiver.port}`, ...(alt ? ALT_AGENT_ARGS : AGENT_ARGS)], { logFile });
    name = alt ? `tlsotel run ${[...ALT_AGENT_NODE_ARGS, ...ALT_AGENT_ARGS].join(' ')}` : keep.length ? 'tlsotel run --keep-bodies' : 'tlsotel run';
    ready = /ready/;
  } else {
    const peer = env.peer!;
    p = spawnLogged(peer.cmd, peer.args, { env: peer.env, logFile });
    name = peer.kind === 'sslsniff' ? 'sslsniff-bpfcc' : 'bpftrace peer';
    ready = /tlsotel-bench: ready/;
    timeoutMs = 240_000; // bcc compiles at start-up
  }
  try {
    if (row === 'sslsniff' && env.peer!.kind === 'bpftrace') await bpftraceReady(p, env.nginxPort!, timeoutMs);
    else await p.waitStderr(ready, timeoutMs);
  } catch (e) {
    await stopProcess(p, 'SIGKILL', 1000);
    throw e;
  }
  // The agent's programs: those its processes hold (fdinfo of their BPF fds); by name among the
  // new ones only if that finds nothing (another tlsotel may be starting at the same time).
  const all = bpfProgs();
  let progs = new Set([...progIdsOf(p.pid)].filter((id) => all.has(id)));
  if (progs.size === 0) progs = new Set([...all.values()].filter((x) => !before.has(x.id) && PROG_NAMES[row].test(x.name)).map((x) => x.id));
  const agent: Agent = { row, name, p, progs };
  if (row === 'sslsniff' && env.peer!.kind === 'sslsniff') {
    agent.eventCounts = async () => {
      const line = p.waitStderr(/tlsotel-bench: events/, 5000);
      p.proc.kill('SIGUSR1');
      try {
        const m = /events (\d+) lost (\d+)/.exec(await line);
        return m ? { events: Number(m[1]), lost: Number(m[2]) } : undefined;
      } catch {
        return undefined;
      }
    };
  }
  return agent;
}

/** bpftrace says nothing on stderr once attached (its output goes to /dev/null): it is ready
 *  when its new programs run on a request made through libssl (curl). */
async function bpftraceReady(p: Spawned, port: number, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  let gone = false;
  void p.exited.then(() => { gone = true; });
  while (Date.now() - t0 < timeoutMs) {
    if (gone) throw new Error(`bpftrace exited: ${p.stderr().trim().split('\n').slice(-3).join(' | ')}`);
    try {
      execFileSync('curl', ['-sk', '-o', '/dev/null', '--max-time', '2', `https://127.0.0.1:${port}/small`]);
    } catch {
      // counted or not, the next round tells
    }
    const mine = progIdsOf(p.pid);
    const ran = [...bpfProgs().values()].some((x) => mine.has(x.id) && x.type === 'kprobe' && x.runCnt > 0);
    if (ran) return;
    await sleep(500);
  }
  throw new Error(`bpftrace did not attach within ${timeoutMs / 1000}s: ${p.stderr().trim().split('\n').slice(-3).join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------
// The floor: where tlsotel attaches, computed by tlsotel's own discovery code when it has it

interface InternalProbe { offset: number; name: string }
type FindInternals = (file: string) => { write?: InternalProbe; read?: InternalProbe };

function floorPlan(libs: string[], exportedOnly: boolean): { specs: string[]; describe: string } {
  // Loaded at run time, not imported: the bench keeps working (on the exported functions)
  // with a tlsotel that has no such module, and never breaks the project's build.
  let findInternals: FindInternals | undefined;
  if (!exportedOnly) {
    try {
      findInternals = (require(path.join(ROOT, 'dist', 'src', 'tls', 'openssl', 'internals.js')) as { findInternals?: FindInternals }).findInternals;
    } catch {
      findInternals = undefined;
    }
  }
  const specs: string[] = [];
  const parts: string[] = [];
  for (const lib of libs) {
    let internals: ReturnType<FindInternals> = {};
    try {
      internals = findInternals?.(lib) ?? {};
    } catch {
      internals = {};
    }
    for (const dir of ['write', 'read'] as const) {
      const i = internals[dir];
      if (i) {
        specs.push(`both:${lib}:0x${i.offset.toString(16)}`);
        parts.push(`${path.basename(lib)} ${i.name}@0x${i.offset.toString(16)}`);
      } else {
        const fn = dir === 'write' ? 'SSL_write' : 'SSL_read';
        specs.push(`both:${lib}:${fn}`, `both-opt:${lib}:${fn}_ex`);
        parts.push(`${path.basename(lib)} ${fn}, ${fn}_ex`);
      }
    }
    specs.push(`entry-opt:${lib}:SSL_free`);
    parts.push(`${path.basename(lib)} SSL_free (entry)`);
  }
  return { specs, describe: `${parts.join('; ')}; raw tracepoint sys_enter` };
}

// ---------------------------------------------------------------------------------------------
// The peer: sslsniff-bpfcc, patched at run time; bpftrace if it cannot run

/** A copy of sslsniff-bpfcc that compiles against current kernel headers and reports its counts. */
function patchSslsniff(src: string): { text: string; notes: string[] } {
  let text = src;
  const notes: string[] = [];
  const replace = (from: string, to: string, what: string, required: boolean): void => {
    if (!text.includes(from)) {
      if (required) throw new Error(`cannot patch sslsniff (${what}): '${from.trim()}' not found`);
      notes.push(`${what}: not needed (line not found)`);
      return;
    }
    text = text.replace(from, to);
    notes.push(what);
  };
  // The one-line fix: kernel headers ≥ 6.x reject min() of a size_t and an int-derived value
  // at compile time (__careful_cmp → "cannot call non-static helper function").
  replace('u32 buf_copy_size = min((size_t)MAX_BUF_SIZE, (size_t)len);',
    'u32 buf_copy_size = min_t(size_t, MAX_BUF_SIZE, len);',
    'compile fix: min() → min_t(size_t, …) for kernel headers ≥ 6.x', false);
  // Bench instrumentation (no change to what is captured or printed):
  replace('args = parser.parse_args()\n', `args = parser.parse_args()
import signal as _bench_signal, sys as _bench_sys
_bench = {"events": 0, "lost": 0}
def _bench_report(*_a):
    _bench_sys.stderr.write("tlsotel-bench: events %d lost %d\\n" % (_bench["events"], _bench["lost"]))
    _bench_sys.stderr.flush()
def _bench_lost(n):
    _bench["lost"] += n
_bench_signal.signal(_bench_signal.SIGUSR1, _bench_report)
`, 'report event counts on SIGUSR1', true);
  replace('def print_event_rw(cpu, data, size):\n', 'def print_event_rw(cpu, data, size):\n    _bench["events"] += 1\n', 'count events', true);
  replace('b["perf_SSL_rw"].open_perf_buffer(print_event_rw)', 'b["perf_SSL_rw"].open_perf_buffer(print_event_rw, lost_cb=_bench_lost)', 'count lost events (lost_cb)', true);
  replace('print(header)\n', 'print(header)\n_bench_sys.stderr.write("tlsotel-bench: ready\\n")\n_bench_sys.stderr.flush()\n', 'say ready on stderr', true);
  replace('b.perf_buffer_poll()', 'b.perf_buffer_poll(timeout=100)', 'poll with a 100 ms timeout', true);
  return { text, notes };
}

function kernelSource(): string | undefined {
  if (fs.existsSync(`/lib/modules/${os.release()}/build/include/linux/kconfig.h`)) return undefined; // bcc finds them itself
  if (process.env.BCC_KERNEL_SOURCE) return process.env.BCC_KERNEL_SOURCE;
  try {
    const p = fs.readFileSync(path.join(CACHE, 'bcc-kernel-source'), 'utf8').trim();
    if (p && fs.existsSync(p)) return p;
  } catch {
    // none prepared
  }
  return undefined;
}

async function preparePeer(env: Env): Promise<void> {
  const failures: string[] = [];
  if (env.opts.peer === 'sslsniff') {
    const tool = which('sslsniff-bpfcc');
    if (!tool) {
      failures.push('sslsniff-bpfcc is not installed (Debian bpfcc-tools)');
    } else {
      try {
        const { text, notes } = patchSslsniff(fs.readFileSync(tool, 'utf8'));
        const copy = path.join(env.dir, 'sslsniff-patched.py');
        fs.writeFileSync(copy, text, { mode: 0o755 });
        const ksrc = kernelSource();
        const penv: NodeJS.ProcessEnv = { ...process.env };
        if (ksrc) penv.BCC_KERNEL_SOURCE = ksrc;
        // Debian's python3 with python3-bpfcc, whatever python3 comes first on PATH.
        env.peer = {
          kind: 'sslsniff', cmd: '/usr/bin/python3', args: [copy, '--no-gnutls', '--no-nss'], env: penv,
          note: `sslsniff-bpfcc (${tool}), patched copy: ${notes.join('; ')}${ksrc ? `; BCC_KERNEL_SOURCE=${ksrc}` : ''}`,
        };
        log(`peer: trying ${env.peer.note}`);
        const a = await startAgent(env, 'sslsniff', 'availability check');
        await stopProcess(a.p, 'SIGINT', 10_000);
        log('peer: sslsniff-bpfcc runs');
        return;
      } catch (e) {
        failures.push(`sslsniff-bpfcc cannot run: ${(e as Error).message}`);
        log(`peer: ${failures[failures.length - 1]}`);
        env.peer = undefined;
      }
    }
  }
  // Fallback: the same capture with bpftrace (entry stashes the buffer, return copies the
  // bytes the call transferred and prints them), output to /dev/null.
  const bt = which('bpftrace');
  if (bt) {
    const script = path.join(env.dir, 'sslsniff.bt');
    const lines = env.libssl.map((lib) => `
uprobe:${lib}:SSL_write, uprobe:${lib}:SSL_read { @buf[tid] = arg1; }
uretprobe:${lib}:SSL_write, uretprobe:${lib}:SSL_read /@buf[tid]/ {
  if ((int32)retval > 0) { printf("%s %d %d %r\\n", comm, pid, (int32)retval, buf(@buf[tid], (int32)retval)); }
  delete(@buf[tid]);
}`).join('\n');
    fs.writeFileSync(script, lines);
    env.peer = {
      kind: 'bpftrace', cmd: bt, args: ['-o', '/dev/null', script],
      env: { ...process.env, BPFTRACE_STRLEN: '200' },
      note: `bpftrace doing sslsniff's capture (${script})${failures.length ? ` because ${failures.join('; ')}` : ''}`,
    };
    try {
      const a = await startAgent(env, 'sslsniff', 'availability check');
      await stopProcess(a.p, 'SIGINT', 10_000);
      log(`peer: ${env.peer.note}`);
      return;
    } catch (e) {
      failures.push(`bpftrace peer cannot run: ${(e as Error).message}`);
    }
  } else {
    failures.push('bpftrace is not installed');
  }
  env.peer = undefined;
  env.peerFailure = failures.join('; ');
  log(`peer: none: ${env.peerFailure}`);
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Sample {
  rep: number;
  row: RowId;
  load: string;
  rps: number;
  p50Us: number;
  p99Us: number;
  wrkRequests: number;
  wrkErrors: number;
  wrkPid: number;
  wrkCpuS: number;
  /** Requests nginx handled (stub_status). */
  requests: number;
  nginxCpuS: number;
  agentCpuS?: number;
  agentPeakRssKb?: number;
  bpf?: BpfDelta;
  spans?: { server: number; client: number };
  events?: { events: number; lost: number };
  foreign: string[];
  otherCpuS: number;
  window: { fromMs: number; toMs: number };
  /** Seconds waited past the gap for the agent to finish this load's work (agentIdle; at least
   *  one step, AGENT_SETTLE_STEP_MS, for an idle agent). */
  settledS?: number;
}

/** Longest wait for an agent to finish a load's work before the next load starts. */
const AGENT_SETTLE_MAX_S = 20;
/** An agent using less than this share of a core over AGENT_SETTLE_STEP_MS is done. */
const AGENT_IDLE_CORES = 0.1;
const AGENT_SETTLE_STEP_MS = 250;

/**
 * Waits until the agent is idle (at most maxS) and returns the seconds waited. An agent that
 * fell behind at saturation (its ring holds up to tens of MB then) catches up after the load:
 * that CPU belongs to the load that caused it, and must not be charged to the next load, nor
 * take the cores while the next load is measured.
 */
async function agentIdle(pid: number, maxS: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxS * 1000) {
    const c0 = treeCpu(pid);
    await sleep(AGENT_SETTLE_STEP_MS);
    if ((treeCpu(pid) - c0) / (AGENT_SETTLE_STEP_MS / 1000) < AGENT_IDLE_CORES) break;
  }
  return (Date.now() - t0) / 1000;
}

async function measure(env: Env, nginx: Nginx, load: Load, rep: number, row: RowId, agent: Agent | undefined): Promise<Sample> {
  const ours = agent?.progs ?? new Set<number>();
  const ev0 = agent?.eventCounts ? await agent.eventCounts() : undefined;
  const progs0 = bpfProgs();
  const req0 = await nginxRequests(nginx.statusPort);
  const worker0 = procCpu(nginx.worker) ?? 0;
  const agent0 = agent ? treeCpu(agent.p.pid) : 0;
  const host0 = hostBusy();
  const self0 = process.cpuUsage();
  const recv0 = procCpu(env.receiver.child.pid!) ?? 0;
  const master0 = procCpu(nginx.master.pid) ?? 0;
  const fromMs = Date.now();
  const w = await runLoad(load, nginx, env.opts.durationS, env.dir);
  const toMs = Date.now();
  const progs1 = bpfProgs();
  const worker1 = procCpu(nginx.worker) ?? 0;
  const req1 = await nginxRequests(nginx.statusPort);
  // The agent's work on this load ends a little after the load does (ring drained every 10 ms,
  // spans batched every second, a backlog caught up after a saturated load): its CPU is
  // counted until it is idle (agentIdle), and the next load starts only then.
  await sleep(env.opts.gapS * 1000);
  const settledS = agent ? await agentIdle(agent.p.pid, AGENT_SETTLE_MAX_S) : undefined;
  const agent1 = agent ? treeCpu(agent.p.pid) : 0;
  const ev1 = agent?.eventCounts ? await agent.eventCounts() : undefined;
  const host1 = hostBusy();
  const self1 = process.cpuUsage(self0);
  const recv1 = procCpu(env.receiver.child.pid!) ?? 0;
  const master1 = procCpu(nginx.master.pid) ?? 0;
  const requests = req1 - req0 - 1;
  const ownCpu = (worker1 - worker0) + (master1 - master0) + w.cpuS + (agent1 - agent0) + (recv1 - recv0) + (self1.user + self1.system) / 1e6;
  return {
    rep, row, load: load.id,
    rps: w.requests / (w.durationUs / 1e6),
    p50Us: w.p50Us,
    p99Us: w.p99Us,
    wrkRequests: w.requests,
    wrkErrors: w.errors,
    wrkPid: w.pid,
    wrkCpuS: w.cpuS,
    requests,
    nginxCpuS: worker1 - worker0,
    agentCpuS: agent ? agent1 - agent0 : undefined,
    agentPeakRssKb: agent ? treePeakRssKb(agent.p.pid) : undefined,
    bpf: agent ? bpfDelta(progs0, progs1, ours) : undefined,
    events: ev0 && ev1 ? { events: ev1.events - ev0.events, lost: ev1.lost - ev0.lost } : undefined,
    foreign: foreignActive(progs0, progs1, ours),
    otherCpuS: Math.max(0, (host1 - host0) - ownCpu),
    window: { fromMs, toMs },
    settledS,
  };
}

/** CPU (in cores) used over one second by processes other than nginx, the receiver and us. */
async function otherCpu(env: Env, nginx: Nginx): Promise<number> {
  const ours = (): number => (procCpu(nginx.worker) ?? 0) + (procCpu(nginx.master.pid) ?? 0) + (procCpu(env.receiver.child.pid!) ?? 0);
  const h0 = hostBusy();
  const o0 = ours();
  const s0 = process.cpuUsage();
  const t0 = Date.now();
  await sleep(1000);
  const s1 = process.cpuUsage(s0);
  return Math.max(0, (hostBusy() - h0) - (ours() - o0) - (s1.user + s1.system) / 1e6) / ((Date.now() - t0) / 1000);
}

/** Waits (up to limitS) until no other tracing program is loaded and the host is idle. */
async function waitQuiet(env: Env, nginx: Nginx, limitS: number): Promise<{ foreign: string[]; otherCpu: number }> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    const foreign = foreignPresent(new Set());
    const other = await otherCpu(env, nginx);
    if ((foreign.length === 0 && other < 0.3) || Date.now() - t0 >= limitS * 1000) return { foreign, otherCpu: other };
    if (!said) {
      log(`waiting up to ${limitS.toFixed(0)}s for a quiet host: ${foreign.length ? `other tracing programs loaded (${foreign.slice(0, 4).join(', ')}${foreign.length > 4 ? ', …' : ''}); ` : ''}other processes use ${(100 * other).toFixed(0)}% of a core`);
      said = true;
    }
  }
}

/** The agent running now, for the clean-up of an interrupted run. */
let currentAgent: Spawned | undefined;
/** What tlsotel said about its losses when it stopped, per repetition. */
const agentReports: Array<{ rep: number; row?: RowId; stopped?: string; losses?: string }> = [];

async function runRep(env: Env, nginx: Nginx, rep: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (const row of env.opts.rows) {
    if (row === 'sslsniff' && !env.peer) continue;
    if (env.opts.loads.every((l) => notMeasured(row, l))) continue; // e.g. sslsniff with Go loads only
    let agent: Agent | undefined;
    const tag = `rep ${rep} ${row}`;
    if (row !== 'baseline') {
      const t0 = Date.now();
      agent = await startAgent(env, row, tag);
      currentAgent = agent.p;
      log(`${tag}: ${agent.name} ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (${agent.progs.size} BPF programs)`);
      await sleep(500);
      // An agent runs for days: measure it warm. Its first exchanges pay for compiling its hot
      // code (V8's optimizing compiler runs on other threads of the agent), which would be
      // charged to whichever load comes first. Not measured; its spans are outside every
      // load's window (SERVER) and from another wrk process (CLIENT).
      await runWrk(AGENT_WARMUP, nginx.port, AGENT_WARMUP_S);
      if (env.opts.loads.some((l) => l.h2Streams !== undefined)) await runLoad(AGENT_WARMUP_H2, nginx, h2WarmupS(env.opts), env.dir);
      if (row === 'tlsotel' && env.opts.loads.some((l) => l.go)) await runLoad(AGENT_WARMUP_GO, nginx, AGENT_WARMUP_S, env.dir);
      await sleep(env.opts.gapS * 1000);
    }
    const mine: Sample[] = [];
    try {
      for (const load of env.opts.loads) {
        if (notMeasured(row, load)) continue;
        const s = await measure(env, nginx, load, rep, row, agent);
        mine.push(s);
        log(`${tag} ${load.id}: ${s.rps.toFixed(0)} req/s p50 ${s.p50Us}µs p99 ${s.p99Us}µs, nginx ${(s.nginxCpuS / Math.max(1, s.requests) * 1e6).toFixed(1)}µs/req${s.agentCpuS !== undefined ? `, agent ${s.agentCpuS.toFixed(2)}s${(s.settledS ?? 0) >= 0.5 ? ` (idle ${s.settledS!.toFixed(1)}s after the gap)` : ''}` : ''}${s.events ? `, events ${s.events.events} lost ${s.events.lost}` : ''}${s.foreign.length ? `, FOREIGN: ${s.foreign.slice(0, 4).join(',')}` : ''}`);
      }
      // wrk exits with requests in flight; the agent completes those exchanges (error spans)
      // when it sees the process gone, which takes it up to about a second: let it.
      if (isTlsotel(row)) await sleep(2000);
    } finally {
      if (agent) {
        const code = await stopProcess(agent.p, 'SIGINT', 20_000);
        currentAgent = undefined;
        if (code !== 0 && isTlsotel(row)) log(`${tag}: tlsotel exited ${code}`);
      }
    }
    if (isTlsotel(row)) {
      // Spans of this repetition, now that the agent has flushed and exited.
      const pids = [nginx.worker, ...mine.map((s) => s.wrkPid)];
      const windows = mine.map((s) => ({ fromMs: s.window.fromMs - 200, toMs: s.window.toMs + 200 }));
      const counts = await env.receiver.count(windows, pids);
      const all = await env.receiver.count([{ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER }], pids);
      mine.forEach((s, i) => {
        s.spans = { server: counts[i][nginx.worker].SERVER, client: all[0][s.wrkPid].CLIENT };
      });
      await env.receiver.reset();
      const said = agent!.p.stderr();
      const stopped = /stopped: (.*)/.exec(said)?.[1]?.trim();
      const losses = [...said.matchAll(/losses so far: (.*)/g)].pop()?.[1]?.trim();
      agentReports.push({ rep, row, stopped, losses });
      log(`${tag}: tlsotel: ${stopped ?? 'no "stopped" line'}${losses ? `; losses: ${losses}` : ''}`);
    }
    samples.push(...mine);
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------
// The stock OpenTelemetry JS path, for the agent's CPU per span

/** What the stock SDK path costs per span on this host, from the pipeline bench's `sdk` stage. */
interface SdkReference {
  /** CPU µs per span, one per repetition. */
  usPerSpan: number[];
  note: string;
}

/**
 * Runs the pipeline bench's `sdk` stage (bench/pipeline.ts, bench/sdk-baseline.ts) in a child:
 * spans like tlsotel's made and exported by Tracer.startSpan/setAttributes/end →
 * BatchSpanProcessor → OTLPTraceExporter (gRPC) → a receiver child, with no capture and no
 * parsing; its process CPU (every thread, the receiver left out as the load bench leaves out
 * its own) per span. The same machine, right after the loads: the agent's µs/span over this is
 * what tlsotel costs per span, capture and parsing included, against the stock span path alone.
 */
function measureSdkReference(spans: number, dir: string): SdkReference | { failure: string } {
  const script = path.join(ROOT, 'dist', 'bench', 'pipeline.js');
  const args = ['--expose-gc', script, '--only', 'sdk', '--protocol', 'h1', '--exchanges', String(spans), '--reps', '3', '--json'];
  try {
    const out = execFileSync(process.execPath, args, { maxBuffer: 64 << 20, timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    fs.writeFileSync(path.join(dir, 'sdk-reference.json'), out);
    const j = JSON.parse(out) as { protocols: { h1: { corpus: { spans: number }; stages: { sdk?: { ok: boolean; samples: Array<{ cpuMs: number; ok: boolean }> } } } } };
    const h1 = j.protocols.h1;
    const sdk = h1.stages.sdk;
    if (!sdk || !sdk.samples.length) return { failure: 'the pipeline bench returned no sdk samples' };
    if (!sdk.ok) return { failure: 'the stock SDK path lost or failed spans (see sdk-reference.json)' };
    return {
      usPerSpan: sdk.samples.map((x) => x.cpuMs * 1000 / h1.corpus.spans),
      note: `stock OpenTelemetry JS path (node ${args.slice(1).map((a) => a.replace(ROOT + '/', '')).join(' ')}): ${h1.corpus.spans} spans × 3 repetitions, after the loads`,
    };
  } catch (e) {
    return { failure: `the pipeline bench's sdk stage failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

// ---------------------------------------------------------------------------------------------
// The table

const fmtK = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));

function cell(xs: number[], fmt: (x: number) => string): string {
  const v = xs.filter((x) => Number.isFinite(x));
  if (!v.length) return '–';
  if (v.length === 1) return fmt(v[0]);
  return `${fmt(median(v))} [${fmt(Math.min(...v))}–${fmt(Math.max(...v))}]`;
}

interface Report { table: string; notes: string[] }

/** Other processes' CPU during a sample, in cores. */
function otherCores(s: Sample, gapS: number): number {
  return s.otherCpuS / ((s.window.toMs - s.window.fromMs) / 1000 + gapS + (s.settledS ?? 0));
}

/** A sample that other work on the host may have skewed: another tracer ran, or the host was busy. */
function disturbance(s: Sample, gapS: number): string | undefined {
  if (s.foreign.length) return 'other tracing programs ran';
  if (otherCores(s, gapS) > 0.5) return 'other processes used more than half a core';
  return undefined;
}

/** Whether tlsotel's row meets issue #15's goals: p99 within 2× the floor's and at most the
 *  peer's, in-app CPU (nginx and the load client) within 1.1× the floor's. */
function goalLine(label: string, ss: Sample[], other: (s: Sample, r: RowId) => Sample | undefined, nginxDelta: (s: Sample) => number, wrkDelta: (s: Sample) => number): string {
  const med = (f: (s: Sample, o: Sample) => number, r: RowId): number => median(ss.map((s) => { const o = other(s, r); return o ? f(s, o) : NaN; }).filter(Number.isFinite));
  const parts: string[] = [];
  const check = (name: string, v: number, limit: number): void => {
    if (Number.isFinite(v)) parts.push(`${name} ${v.toFixed(2)} ${v <= limit ? '✓' : '✗'} (≤ ${limit})`);
  };
  check('p99 ÷ floor', med((s, o) => s.p99Us / o.p99Us, 'floor'), 2);
  check('p99 ÷ sslsniff', med((s, o) => s.p99Us / o.p99Us, 'sslsniff'), 1);
  check('nginx Δ ÷ floor Δ', med((s, o) => nginxDelta(s) / nginxDelta(o), 'floor'), 1.1);
  check('client Δ ÷ floor Δ', med((s, o) => wrkDelta(s) / wrkDelta(o), 'floor'), 1.1);
  return `${label}: ${parts.join(', ') || 'no floor or peer row'}`;
}

function report(env: Saved, samples: Sample[]): Report {
  const notes: string[] = [];
  const byKey = new Map<string, Sample>();
  for (const s of samples) byKey.set(`${s.rep}/${s.row}/${s.load}`, s);
  const reps = [...new Set(samples.map((s) => s.rep))].sort((a, b) => a - b);
  const gapS = env.options.gapS;
  const header = ['load', 'row', 'req/s ×', 'p50 ×', 'p99 ×', 'p99 ÷ floor', 'p99 ÷ sslsniff', 'agent CPU s/1k req', 'agent CPU µs/span', 'µs/span ÷ stock SDK', 'agent peak RSS MiB', 'spans/req (S+C) · events', 'nginx worker CPU µs/req (Δ)', 'nginx Δ ÷ floor Δ', 'wrk/h2load CPU µs/req (Δ)', 'wrk Δ ÷ floor Δ', 'BPF ns/hit uprobes', 'uprobe hits/req', 'BPF ns/hit sys_enter', 'reps'];
  const lines: string[][] = [];
  const goals: string[] = [];
  let marked = 0;
  for (const load of env.options.loads) {
    for (const row of env.options.rows) {
      const base = (s: Sample): Sample | undefined => byKey.get(`${s.rep}/baseline/${load.id}`);
      const all = reps.map((r) => byKey.get(`${r}/${row}/${load.id}`)).filter((s): s is Sample => !!s);
      if (row === 'sslsniff' && !env.peer) {
        lines.push([load.label, 'sslsniff', `cannot run: ${env.peerFailure ?? ''}`, ...header.slice(3).map(() => '')]);
        continue;
      }
      const na = notMeasured(row, load);
      if (na) {
        lines.push([load.label, row, `n/a: ${na}`, '', '', '', '', '', '', '', '', '', '', '', '']);
        continue;
      }
      if (!all.length) continue;
      // The repetitions where this row's sample and its baseline were both undisturbed, if at
      // least three; else all of them, marked †.
      const clean = all.filter((s) => !disturbance(s, gapS) && (row === 'baseline' || (base(s) && !disturbance(base(s)!, gapS))));
      const ss = clean.length >= 3 ? clean : all;
      const repsCell = clean.length >= 3 ? `${ss.length}` : `${ss.length}†`;
      if (clean.length < 3) marked++;
      const ratio = (f: (s: Sample) => number) => ss.map((s) => { const b = base(s); return b ? f(s) / f(b) : NaN; });
      const perReq = (f: (s: Sample) => number) => (s: Sample) => f(s) / Math.max(1, s.requests) * 1e6;
      const nginxUs = perReq((s) => s.nginxCpuS);
      const wrkUs = perReq((s) => s.wrkCpuS);
      const isBase = row === 'baseline';
      const rowName = row === 'sslsniff' && env.peer?.kind === 'bpftrace' ? (env.options.peer === 'bpftrace' ? 'bpftrace peer' : 'bpftrace peer (sslsniff cannot run)')
        : row === 'tlsotel-alt' ? `tlsotel ${env.altArgs ?? '(alt)'}`
        : row === 'floor' ? 'floor (empty probes)' : row === 'floor-exported' ? 'floor on exported SSL_*' : row === 'baseline' ? 'baseline (no agent)' : row;
      // Against another row of the same repetition (the floor, the peer), then the median.
      const other = (s: Sample, r: RowId): Sample | undefined => byKey.get(`${s.rep}/${r}/${load.id}`);
      const vsRow = (r: RowId, f: (s: Sample) => number) => row === r || row === 'baseline' || !env.options.rows.includes(r)
        ? '–'
        : cell(ss.map((s) => { const o = other(s, r); return o ? f(s) / f(o) : NaN; }), (x) => x.toFixed(2));
      const delta = (us: (s: Sample) => number) => (s: Sample): number => { const b = base(s); return b ? us(s) - us(b) : NaN; };
      const deltaVsFloor = (us: (s: Sample) => number) => row === 'floor' || row === 'baseline' || !env.options.rows.includes('floor')
        ? '–'
        : cell(ss.map((s) => { const f = other(s, 'floor'); return f ? delta(us)(s) / delta(us)(f) : NaN; }), (x) => x.toFixed(2));
      const sdkUs = env.sdk ? median(env.sdk.usPerSpan) : NaN;
      const agentUsPerSpan = (s: Sample): number => s.spans && s.agentCpuS !== undefined ? s.agentCpuS * 1e6 / Math.max(1, s.spans.server + s.spans.client) : NaN;
      const uprobeHits = (s: Sample) => s.bpf ? s.bpf.enter.cnt + s.bpf.ret.cnt + s.bpf.free.cnt : NaN;
      const uprobeNs = (s: Sample) => s.bpf ? s.bpf.enter.ns + s.bpf.ret.ns + s.bpf.free.ns : NaN;
      let spans = '–';
      if (isTlsotel(row)) spans = cell(ss.map((s) => s.spans ? (s.spans.server + s.spans.client) / Math.max(1, s.requests) : NaN), (x) => x.toFixed(3));
      else if (row === 'sslsniff' && ss.some((s) => s.events)) {
        spans = `${cell(ss.map((s) => s.events ? s.events.events / Math.max(1, s.requests) : NaN), (x) => x.toFixed(2))} ev/req, lost ${cell(ss.map((s) => s.events ? 100 * s.events.lost / Math.max(1, s.events.events + s.events.lost) : NaN), (x) => `${x.toFixed(1)}%`)}`;
      }
      if (isTlsotel(row)) goals.push(goalLine(`${row}, ${load.label}`, ss, other, delta(nginxUs), delta(wrkUs)));
      lines.push([
        load.label,
        rowName,
        isBase ? `1.00 (${cell(ss.map((s) => s.rps), fmtK)}/s)` : cell(ratio((s) => s.rps), (x) => x.toFixed(2)),
        isBase ? `1.00 (${cell(ss.map((s) => s.p50Us), (x) => x.toFixed(0))} µs)` : cell(ratio((s) => s.p50Us), (x) => x.toFixed(2)),
        isBase ? `1.00 (${cell(ss.map((s) => s.p99Us), (x) => x.toFixed(0))} µs)` : cell(ratio((s) => s.p99Us), (x) => x.toFixed(2)),
        vsRow('floor', (s) => s.p99Us),
        vsRow('sslsniff', (s) => s.p99Us),
        isBase ? '–' : cell(ss.map((s) => (s.agentCpuS ?? NaN) / Math.max(1, s.requests) * 1000), (x) => x.toFixed(3)),
        isTlsotel(row) ? cell(ss.map(agentUsPerSpan), (x) => x.toFixed(1)) : '–',
        isTlsotel(row) && env.sdk ? cell(ss.map((s) => agentUsPerSpan(s) / sdkUs), (x) => x.toFixed(2)) : '–',
        isBase ? '–' : cell(ss.map((s) => (s.agentPeakRssKb ?? NaN) / 1024), (x) => x.toFixed(0)),
        spans,
        isBase ? cell(ss.map(nginxUs), (x) => x.toFixed(1)) : cell(ss.map(delta(nginxUs)), (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`),
        deltaVsFloor(nginxUs),
        isBase ? cell(ss.map(wrkUs), (x) => x.toFixed(1)) : cell(ss.map(delta(wrkUs)), (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`),
        deltaVsFloor(wrkUs),
        isBase ? '–' : cell(ss.map((s) => uprobeNs(s) / uprobeHits(s)), (x) => x.toFixed(0)),
        isBase ? '–' : cell(ss.map((s) => uprobeHits(s) / Math.max(1, s.requests)), (x) => x.toFixed(2)),
        isBase ? '–' : cell(ss.map((s) => s.bpf && s.bpf.sys.cnt ? s.bpf.sys.ns / s.bpf.sys.cnt : NaN), (x) => x.toFixed(0)),
        repsCell,
      ]);
    }
  }
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const table = [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
    ...lines.map((l) => `| ${l.map(esc).join(' | ')} |`),
  ].join('\n');

  // Span accounting at the fixed rates: every request must give a SERVER span (nginx) and a
  // CLIENT span (wrk, through libssl).
  for (const load of env.options.loads.filter((l) => l.rate > 0)) for (const row of env.options.rows.filter(isTlsotel)) {
    const ss = samples.filter((s) => s.row === row && s.load === load.id);
    if (!ss.length) continue;
    const equal = (s: Sample): boolean => !!s.spans && s.spans.server === s.requests && s.spans.client === s.requests;
    const parts = ss.map((s) => `rep ${s.rep}${disturbance(s, gapS) ? ' (disturbed)' : ''}: S ${s.spans?.server}/${s.requests} C ${s.spans?.client}/${s.requests}${equal(s) ? ' ✓' : ' ✗'}`);
    const calm = ss.filter((s) => !disturbance(s, gapS));
    const verdict = ss.every(equal) ? 'equal to requests in every repetition'
      : calm.length && calm.every(equal) ? 'equal to requests in every undisturbed repetition, NOT in some disturbed one'
      : 'NOT equal to requests';
    notes.push(`${row} spans at ${load.label}: ${verdict} (${parts.join('; ')})`);
  }
  for (const load of env.options.loads.filter((l) => l.rate === 0)) for (const row of env.options.rows.filter(isTlsotel)) {
    const ss = samples.filter((s) => s.row === row && s.load === load.id && s.spans);
    if (!ss.length) continue;
    notes.push(`${row} spans at ${load.label}: ${ss.map((s) => `rep ${s.rep}: S ${s.spans!.server}/${s.requests} C ${s.spans!.client}/${s.requests}`).join('; ')}`);
  }
  if (goals.length) notes.push(`issue #15's goals for tlsotel (medians of per-repetition ratios): ${goals.join('; ')}`);
  const disturbed = samples.filter((s) => disturbance(s, gapS));
  if (disturbed.length) {
    const why = new Map<string, number>();
    for (const s of disturbed) why.set(disturbance(s, gapS)!, (why.get(disturbance(s, gapS)!) ?? 0) + 1);
    notes.unshift(`disturbed samples (left out where at least 3 undisturbed pairs remain; † marks rows where they could not be): ${disturbed.length} of ${samples.length} — ${[...why].map(([k, n]) => `${k}: ${n}`).join('; ')}${marked ? `; ${marked} row(s) marked †` : ''}`);
  }
  const other = samples.map((s) => otherCores(s, gapS));
  notes.push(`CPU used by other processes on the host during the loads: median ${(100 * median(other)).toFixed(0)}% of a core (max ${(100 * Math.max(...other)).toFixed(0)}%)`);
  const errs = samples.reduce((a, s) => a + s.wrkErrors, 0);
  if (errs) notes.push(`wrk/h2load reported ${errs} errors (connect/read/write/status/timeout; h2load: failed/errored/timeout) in total`);
  return { table, notes };
}

/** What a run keeps (results.json), enough to render its table again (--report FILE). */
interface Saved {
  when: string;
  release: string;
  cpus: number;
  options: Options;
  libssl: string[];
  wrkSsl?: string;
  /** The Go client's Go release, when a Go load was run. */
  goClient?: { goVersion: string };
  floorPlans: Env['floorPlans'];
  peer?: { kind: 'sslsniff' | 'bpftrace'; note: string };
  peerFailure?: string;
  cleanReps: number[];
  disturbedReps: number[];
  agentReports?: typeof agentReports;
  samples: Sample[];
  /** The stock SDK path's CPU per span (measureSdkReference), when it ran. */
  sdk?: SdkReference;
  sdkFailure?: string;
  /** What the tlsotel-alt row ran with. */
  altArgs?: string;
}

/** Below the table, for the Go loads: how the client ran, where its in-app cost is, and whether every request succeeded. */
function goNotes(saved: Saved): string[] {
  const loads = saved.options.loads.filter((l) => l.go);
  if (!loads.length) return [];
  const notes = [`Go client (${loads.map((l) => l.id).join(', ')}): bench/load/go-load built with ${saved.goClient?.goVersion ?? 'Go'}, net/http over crypto/tls, HTTP/1.1 keep-alive, GOMAXPROCS=1 (one thread running Go code, as wrk -t1), paced like wrk.lua. Its CPU per request is in the wrk/h2load column: the Δ there is the in-app cost of the probes in the Go process (uprobes on the entries and every RET of crypto/tls.(*Conn).Write and Read, Close's entry: no uretprobes on Go). Its CLIENT spans count in spans/req.`];
  for (const load of loads) {
    const ss = saved.samples.filter((s) => s.load === load.id);
    const total = ss.reduce((a, s) => a + s.wrkRequests, 0);
    const failed = ss.filter((s) => s.wrkErrors > 0);
    notes.push(`${load.label}: ${failed.length === 0 ? `all ${total} requests of the Go client succeeded (${ss.length} samples)` : `Go client requests FAILED: ${failed.map((s) => `rep ${s.rep} ${s.row}: ${s.wrkErrors} of ${s.wrkRequests}`).join('; ')}`}`);
  }
  return notes;
}

function render(saved: Saved): string {
  const opts = saved.options;
  const { table, notes } = report(saved, saved.samples);
  const repsRun = new Set(saved.samples.map((x) => x.rep)).size;
  const preface = [
    `tlsotel load bench — ${saved.when} — ${saved.release}, ${saved.cpus} CPUs${opts.quick ? ' — quick mode' : ''}`,
    `Each cell: median [min–max] over the interleaved repetitions (reps: how many of the ${repsRun} run) of ${opts.durationS}s loads; ×: ratio to the baseline of the same repetition.`,
    '÷ floor, ÷ sslsniff: the ratio to that row\'s figure in the same repetition, then the median (nginx Δ ÷ floor Δ: the in-app cost over the empty probes\' cost).',
    'Δ: CPU per request minus the baseline\'s in the same repetition (the in-app cost of the probes). BPF ns/hit: run_time_ns/run_cnt of the row\'s programs (kernel.bpf_stats_enabled); it excludes the uprobe trap itself.',
    `spans/req: spans at the OTLP receiver (SERVER from the nginx worker + CLIENT from wrk or h2load) per request nginx handled — 2.000 when nothing is lost. events: the peer's own count of captured calls, and the share it reports lost.`,
  ];
  if (saved.agentReports?.length) {
    notes.push(`tlsotel's own account at exit (each repetition, all its loads): ${saved.agentReports.map((r) => `rep ${r.rep}${r.row === 'tlsotel-alt' ? ' alt' : ''}: ${r.stopped ?? '?'}${r.losses ? ` — losses: ${r.losses}` : ''}`).join('; ')}`);
  }
  for (const [row, plan] of Object.entries(saved.floorPlans)) notes.push(`${row}: empty programs on ${plan.describe}`);
  if (saved.sdk) notes.push(`µs/span ÷ stock SDK: the agent's CPU per span over the ${cell(saved.sdk.usPerSpan, (x) => x.toFixed(1))} µs per span of the ${saved.sdk.note}`);
  else if (saved.sdkFailure) notes.push(`µs/span ÷ stock SDK: not measured: ${saved.sdkFailure}`);
  notes.push(`OTLP receiver: ${RECEIVER_NOTES[opts.receiver ?? 'grpc-js']}`);
  if (saved.peer) notes.push(`peer: ${saved.peer.note}`);
  else if (opts.rows.includes('sslsniff')) notes.push(`peer: cannot run: ${saved.peerFailure}`);
  notes.push(`wrk: 1 thread, keep-alive; saturation loads use ${LOADS[0].conns} connections; fixed rates are paced by bench/load/wrk.lua (latency is measured from each request's send, not its scheduled time). wrk ${saved.wrkSsl ? `uses ${saved.wrkSsl}, so its requests give CLIENT spans` : 'does not use libssl'}.`);
  notes.push(...goNotes(saved));
  for (const l of opts.loads.filter((x) => x.h2Streams !== undefined)) {
    notes.push(`${l.label}: h2load (nghttp2-client, libssl) -t1 -c${l.conns} -m${l.h2Streams}${l.rate > 0 ? ` --rps=${Math.round(l.rate / l.conns)} (per connection)` : ''} to nginx's http2 port; p50/p99 from its per-request log (request start to end of response).`);
  }
  return `${preface.join('\n')}\n\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const startedAt = Date.now();
  const reportAt = process.argv.indexOf('--report');
  if (reportAt >= 0) {
    // Render the table of an earlier run again: --report DIR/results.json
    const file = process.argv[reportAt + 1];
    if (!file) throw new Error('--report needs the path of a results.json');
    process.stdout.write(render(JSON.parse(fs.readFileSync(file, 'utf8')) as Saved));
    return;
  }
  const opts = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the load bench needs root (uprobes, bpf_stats_enabled)');
  const tools = ['wrk', 'nginx', 'openssl', 'bpftool', 'sysctl'];
  if (opts.loads.some((l) => l.h2Streams !== undefined)) tools.push('h2load');
  for (const tool of tools) {
    if (!which(tool)) throw new Error(`${tool} is missing: run bench/load/install-deps.sh`);
  }
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} is missing: build with npx tsc -p tsconfig.json`);
  // Another agent's probes would run in every row (the baseline too) and take CPU from the loads.
  const others = otherAgentPrograms();
  if (others instanceof Error) throw new Error(`cannot tell whether another tlsotel agent runs: ${others.message}`);
  if (others.length > 0) {
    throw new Error(`another tlsotel agent (or sniff) has BPF programs loaded (ids ${others.join(', ')}): stop it first, or every row measures it too`);
  }
  const dir = opts.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-bench-'));
  fs.mkdirSync(dir, { recursive: true });
  logStream = fs.createWriteStream(path.join(dir, 'bench.log'), { flags: 'a' });
  log(`work directory ${dir}; ${opts.quick ? 'quick: ' : ''}${opts.reps} repetitions × rows ${opts.rows.join(',')} × loads ${opts.loads.map((l) => l.id).join(',')}, ${opts.durationS}s each`);

  // The files carrying OpenSSL that nginx and wrk use.
  const libsslOf = (bin: string): string | undefined => /libssl\.so[^ ]* => (\S+)/.exec(execFileSync('ldd', [bin]).toString())?.[1];
  const nginxSsl = libsslOf('/usr/sbin/nginx');
  const wrkSsl = libsslOf(which('wrk')!);
  const h2loadSsl = which('h2load') ? libsslOf(which('h2load')!) : undefined;
  const libssl = [...new Set([nginxSsl, wrkSsl, h2loadSsl].filter((x): x is string => !!x).map((p) => fs.realpathSync(p)))];
  log(`nginx uses ${nginxSsl ?? 'no libssl (static?)'}; wrk uses ${wrkSsl ?? 'no libssl: its requests give no CLIENT spans'}${which('h2load') ? `; h2load uses ${h2loadSsl ?? 'no libssl'}` : ''}`);

  const cleanup: Array<() => Promise<void> | void> = [];
  const runCleanup = async (): Promise<void> => {
    for (const f of cleanup.reverse()) {
      try {
        await f();
      } catch {
        // best effort
      }
    }
    cleanup.length = 0;
  };
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('interrupted: cleaning up');
    void runCleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // BPF run-time statistics, restored at the end.
    const statsBefore = execFileSync('sysctl', ['-n', 'kernel.bpf_stats_enabled']).toString().trim();
    execFileSync('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
    cleanup.push(() => { execFileSync('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${statsBefore}`]); });

    cleanup.push(async () => { if (currentAgent) await stopProcess(currentAgent, 'SIGINT', 5000); });
    const receiver = await startReceiver(opts.receiver);
    cleanup.push(() => { receiver.child.kill('SIGTERM'); });
    const env: Env = { dir, opts, libssl, receiver, floorPlans: {} };
    const goClient = opts.loads.some((l) => l.go) ? buildGoClient(dir) : undefined;
    if (goClient) log(`Go client: ${goClient.bin}, built with ${goClient.goVersion}`);

    if (opts.rows.includes('floor') || opts.rows.includes('floor-exported')) {
      const clang = which('clang-14') ?? which('clang');
      const cc = which('cc') ?? which('gcc');
      if (!clang || !cc) throw new Error('clang and cc are needed for the floor: run bench/load/install-deps.sh');
      const obj = path.join(dir, 'empty-probes.bpf.o');
      const bin = path.join(dir, 'empty-probes');
      execFileSync(clang, ['-O2', '-target', 'bpf', '-c', path.join(SRC, 'empty-probes.bpf.c'), '-o', obj]);
      execFileSync(cc, ['-O2', '-Wall', '-o', bin, path.join(SRC, 'empty-probes.c'), '-lbpf']);
      env.emptyProbes = { bin, obj };
      if (opts.rows.includes('floor')) env.floorPlans.floor = floorPlan(libssl, false);
      if (opts.rows.includes('floor-exported')) env.floorPlans['floor-exported'] = floorPlan(libssl, true);
      if (goClient) {
        // The Go client is probed too (tlsotel traces it): the same empty uprobes in both floors.
        const go = goFloorPlan(goClient.bin);
        for (const plan of Object.values(env.floorPlans)) {
          plan.specs.push(...go.specs);
          plan.describe = `${plan.describe}; ${go.describe}`;
        }
      }
      for (const [row, plan] of Object.entries(env.floorPlans)) log(`${row}: empty probes on ${plan.describe}`);
    }

    const nginx = await startNginx(dir);
    cleanup.push(async () => { await stopProcess(nginx.master, 'SIGTERM', 5000); });
    log(`nginx on 127.0.0.1:${nginx.port} (HTTP/2 on :${nginx.h2Port}; worker pid ${nginx.worker}), requests counted by stub_status on :${nginx.statusPort}`);

    env.nginxPort = nginx.port;
    if (opts.rows.includes('sslsniff')) await preparePeer(env);

    log('warm-up (not measured)');
    for (const load of opts.loads) await runLoad(load, nginx, Math.min(1, opts.durationS), dir);

    const samples: Sample[] = [];
    const clean: number[] = [];
    const contaminated: number[] = [];
    let rep = 0;
    // A first guess of one repetition's length, corrected by the real ones.
    let repSeconds = opts.rows.length * opts.loads.length * (opts.durationS + opts.gapS + 0.5) + (opts.rows.length - 1) * (3 + AGENT_WARMUP_S + opts.gapS + (opts.loads.some((l) => l.h2Streams !== undefined) ? h2WarmupS(opts) : 0));
    for (;;) {
      const elapsedS = (Date.now() - startedAt) / 1000;
      if (rep >= opts.reps) {
        if (clean.length >= opts.reps || rep >= opts.reps + opts.extraReps || contaminated.length === 0) break;
        if (elapsedS + repSeconds > opts.budgetMin * 60) {
          log(`no extra repetition: it would end past the ${opts.budgetMin}-minute budget`);
          break;
        }
      }
      rep++;
      // Waiting for a quiet host may not push the planned repetitions past the budget.
      const mandatoryLeft = Math.max(0, opts.reps - rep + 1);
      const slackS = opts.budgetMin * 60 - (Date.now() - startedAt) / 1000 - mandatoryLeft * repSeconds;
      const quiet = await waitQuiet(env, nginx, Math.max(1, Math.min(opts.waitQuietS, slackS / Math.max(1, mandatoryLeft))));
      log(`repetition ${rep}${rep > opts.reps ? ' (extra: others disturbed an earlier one)' : ''}${quiet.foreign.length ? ` — other tracers loaded: ${quiet.foreign.slice(0, 4).join(', ')}` : ''}${quiet.otherCpu >= 0.3 ? ` — other processes use ${(100 * quiet.otherCpu).toFixed(0)}% of a core` : ''}`);
      const r0 = Date.now();
      const ss = await runRep(env, nginx, rep);
      repSeconds = (Date.now() - r0) / 1000;
      samples.push(...ss);
      const bad = ss.filter((s) => disturbance(s, opts.gapS));
      if (bad.length) {
        const foreign = [...new Set(bad.flatMap((s) => s.foreign))];
        contaminated.push(rep);
        log(`repetition ${rep}: ${bad.length} of ${ss.length} samples disturbed${foreign.length ? ` (other tracing programs: ${foreign.slice(0, 4).join(', ')}${foreign.length > 4 ? ', …' : ''})` : ''}`);
      } else {
        clean.push(rep);
      }
    }
    let sdk: SdkReference | undefined;
    let sdkFailure: string | undefined;
    if (opts.sdkSpans > 0 && opts.rows.some(isTlsotel)) {
      log(`stock OpenTelemetry JS reference: the pipeline bench's sdk stage, ${opts.sdkSpans} spans × 3`);
      const r = measureSdkReference(opts.sdkSpans, dir);
      if ('failure' in r) sdkFailure = r.failure;
      else sdk = r;
    }
    const saved: Saved = {
      sdk, sdkFailure,
      ...(opts.rows.includes('tlsotel-alt') ? { altArgs: [...ALT_AGENT_NODE_ARGS, ...ALT_AGENT_ARGS].join(' ') } : {}),
      when: new Date().toISOString(), release: os.release(), cpus: os.cpus().length, options: opts, libssl, wrkSsl,
      goClient: goClient ? { goVersion: goClient.goVersion } : undefined,
      floorPlans: env.floorPlans, peer: env.peer ? { kind: env.peer.kind, note: env.peer.note } : undefined,
      peerFailure: env.peerFailure, cleanReps: clean, disturbedReps: contaminated, agentReports, samples,
    };
    const text = render(saved);
    process.stdout.write(`\n${text}`);
    fs.writeFileSync(path.join(dir, 'table.md'), text);
    fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(saved, null, 2));
    log(`wrote ${path.join(dir, 'table.md')} and results.json`);
  } finally {
    await runCleanup();
    logStream?.end();
  }
}

main().catch((e: unknown) => {
  log(`error: ${(e as Error).message}`);
  process.exit(1);
});
