// What tlsotel costs a Python gRPC service (grpcio: BoringSSL built in without symbols, found by
// src/tls/boringssl; connections ended at their socket's close). A grpcio client (test/tls/
// grpcio-peer.py load: CONNS channels, a thread each, unary calls back to back) against a grpcio
// server, interleaved per repetition: baseline (nothing attached), floor (empty BPF programs
// where tlsotel places its own: uprobe + uretprobe on SSL_write and SSL_read as the finder
// places them, and the sys_enter raw tracepoint; bench/load/empty-probes.*), tlsotel; medians
// of per-repetition ratios. The agent exports to an OTLP receiver in a child process (bench/load/receiver.ts),
// which counts the spans of the two pids in the load's window.
//
//   npm run bench:grpcio [-- --reps 5 --duration 5 --conns 4]
//
// Needs root (BPF) and the Python environment of scripts/build-python-venv.sh. Prints a table;
// never asserts a threshold (the machine is shared: read the ratios, not the absolute figures).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, startReceiver } from './load/receiver-client';
import { RECEIVER_MODES, type ReceiverMode } from './grpc-receivers';

const ROOT = path.resolve(__dirname, '../..');
const PEER = path.join(ROOT, 'test/tls/grpcio-peer.py');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const CLK_TCK = 100;
const ROWS = ['baseline', 'floor', 'tlsotel'] as const;
type Row = (typeof ROWS)[number];

interface Options { reps: number; durationS: number; conns: number; receiver: ReceiverMode }

function parse(argv: string[]): Options {
  const o: Options = { reps: 5, durationS: 5, conns: 4, receiver: 'h2' };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--reps' && v >= 1) o.reps = v, i++;
    else if (argv[i] === '--duration' && v > 0) o.durationS = v, i++;
    else if (argv[i] === '--conns' && v >= 1) o.conns = v, i++;
    else if (argv[i] === '--receiver' && RECEIVER_MODES.includes(argv[i + 1] as ReceiverMode)) o.receiver = argv[++i] as ReceiverMode;
    else if (argv[i] === '--quick') Object.assign(o, { reps: 3, durationS: 2 });
    else throw new Error(`usage: node dist/bench/grpcio.js [--quick] [--reps N] [--duration S] [--conns N] [--receiver h2|grpc-js] (not ${argv[i]})`);
  }
  return o;
}

/** CPU seconds (user + system, every thread) of a process so far. */
function cpuS(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function waitLine(p: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no ${re} from ${p.spawnfile} in ${ms} ms:\n${buf.slice(-2000)}`)), ms);
    const on = (d: Buffer): void => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        p[stream]!.off('data', on);
        resolve(m);
      }
    };
    p[stream]!.on('data', on);
    p.once('exit', (code) => { clearTimeout(t); reject(new Error(`${p.spawnfile} exited (${code}) before ${re}:\n${buf.slice(-2000)}`)); });
  });
}

interface LoadResult { calls: number; seconds: number; p50_us: number; p99_us: number; cpu_s: number }

async function runLoad(py: string, cert: string, port: number, conns: number, seconds: number): Promise<LoadResult & { pid: number; fromMs: number; toMs: number }> {
  const p = spawn(py, [PEER, 'load', cert, String(port), String(conns), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const fromMs = Date.now();
  const m = await waitLine(p, 'stdout', /^\{.*\}$/m, (seconds + 60) * 1000);
  return { ...(JSON.parse(m[0]) as LoadResult), pid: p.pid!, fromMs, toMs: Date.now() };
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

interface Sample { callsPerS: number; p50: number; p99: number; clientUs: number; serverUs: number; agentUs?: number; spansPerCall?: number }

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench:grpcio needs root (the agent loads BPF programs)');
  const py = execFileSync('bash', [path.join(ROOT, 'scripts/build-python-venv.sh')], { encoding: 'utf8' }).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-bench-grpcio-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const receiver = await startReceiver(o.receiver);
  const server = spawn(py, [PEER, 'server', cert, key], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = Number((await waitLine(server, 'stdout', /listening (\d+)/, 30_000))[1]);
  // The floor: empty programs at the offsets tlsotel's finder gives for this grpcio's module.
  const cygrpc = execFileSync(py, ['-c', 'import grpc._cython.cygrpc as m; print(m.__file__)'], { encoding: 'utf8' }).trim();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { findBoringssl } = require(path.join(ROOT, 'dist/src/tls/boringssl/find.js')) as typeof import('../src/tls/boringssl/find');
  const found = findBoringssl(cygrpc);
  if (!found) throw new Error(`no BoringSSL found in ${cygrpc}`);
  const specs = [found.write.offset, found.read.offset].map((o) => `both:${cygrpc}:0x${o.toString(16)}`);
  const emptyObj = path.join(dir, 'empty-probes.bpf.o');
  const emptyBin = path.join(dir, 'empty-probes');
  execFileSync('clang-14', ['-O2', '-target', 'bpf', '-c', path.join(ROOT, 'bench/load/empty-probes.bpf.c'), '-o', emptyObj]);
  execFileSync('cc', ['-O2', '-Wall', '-o', emptyBin, path.join(ROOT, 'bench/load/empty-probes.c'), '-lbpf']);
  const rows: Record<Row, Sample[]> = { baseline: [], floor: [], tlsotel: [] };
  const measure = async (row: Row, agentPid?: number): Promise<void> => {
    const s0 = cpuS(server.pid!);
    const a0 = agentPid !== undefined ? cpuS(agentPid) : 0;
    const r = await runLoad(py, cert, port, o.conns, o.durationS);
    const sample: Sample = {
      callsPerS: r.calls / r.seconds, p50: r.p50_us, p99: r.p99_us,
      clientUs: (r.cpu_s / r.calls) * 1e6, serverUs: ((cpuS(server.pid!) - s0) / r.calls) * 1e6,
    };
    if (agentPid !== undefined) {
      sample.agentUs = ((cpuS(agentPid) - a0) / r.calls) * 1e6;
      await new Promise((res) => setTimeout(res, 1500)); // the last batch exported
      const [c] = await receiver.count([{ fromMs: r.fromMs, toMs: r.toMs + 1000 }], [server.pid!, r.pid]);
      sample.spansPerCall = ((c[server.pid!]?.SERVER ?? 0) + (c[r.pid]?.CLIENT ?? 0)) / (r.calls + o.conns); // + one warm call a channel
    }
    rows[row].push(sample);
  };
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      const order: Row[] = rep % 2 === 0 ? [...ROWS] : [...ROWS].reverse();
      for (const row of order) {
        if (row === 'baseline') {
          await measure('baseline');
          continue;
        }
        if (row === 'floor') {
          const floor = spawn(emptyBin, [emptyObj, ...specs], { stdio: ['ignore', 'ignore', 'pipe'] });
          await waitLine(floor, 'stderr', /ready/, 30_000);
          await measure('floor');
          floor.kill('SIGINT');
          await new Promise((res) => floor.once('exit', res));
          continue;
        }
        const agent = spawn(process.execPath, [CLI, 'run', '--otlp-endpoint', `http://127.0.0.1:${receiver.port}`], {
          stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OTEL_METRICS_EXPORTER: 'none' },
        });
        await waitLine(agent, 'stderr', /ready/, 60_000);
        await runLoad(py, cert, port, o.conns, 1); // warm-up: the agent's code compiled, not measured
        await measure('tlsotel', agent.pid!);
        agent.kill('SIGINT');
        await new Promise((res) => agent.once('exit', res));
      }
      process.stderr.write(`repetition ${rep + 1}/${o.reps} done\n`);
    }
  } finally {
    server.kill('SIGKILL');
    receiver.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const col = (row: Sample[], k: keyof Sample) => median(row.map((s) => s[k] as number));
  const ratio = (a: Row, b: Row, k: keyof Sample) => median(rows[a].map((t, i) => (t[k] as number) / (rows[b][i][k] as number)));
  // Added in-app CPU per call over the baseline, tlsotel's over the floor's, per repetition.
  const delta = (k: 'clientUs' | 'serverUs') => median(rows.tlsotel.map((t, i) => (t[k] - rows.baseline[i][k]) / (rows.floor[i][k] - rows.baseline[i][k])));
  const ratioRow = (a: Row, b: Row) => `| ${a} ÷ ${b} | ${fmt(ratio(a, b, 'callsPerS'))} | ${fmt(ratio(a, b, 'p50'))} | ${fmt(ratio(a, b, 'p99'))} | ${fmt(ratio(a, b, 'clientUs'))} | ${fmt(ratio(a, b, 'serverUs'))} | | |`;
  const lines = [
    `grpcio ${o.conns} channels, unary calls back to back, ${o.durationS} s × ${o.reps} repetitions (medians; ratios per repetition, then median)`,
    `floor: ${specs.join(' ')} + sys_enter`,
    '',
    '| row | calls/s | p50 µs | p99 µs | client CPU µs/call | server CPU µs/call | agent CPU µs/call | spans per call |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
    ...ROWS.map((r) => `| ${r} | ${fmt(col(rows[r], 'callsPerS'), 0)} | ${fmt(col(rows[r], 'p50'), 0)} | ${fmt(col(rows[r], 'p99'), 0)} | ${fmt(col(rows[r], 'clientUs'), 1)} | ${fmt(col(rows[r], 'serverUs'), 1)} | ${r === 'tlsotel' ? fmt(col(rows[r], 'agentUs'), 1) : '–'} | ${r === 'tlsotel' ? fmt(col(rows[r], 'spansPerCall'), 3) : '–'} |`),
    ratioRow('floor', 'baseline'),
    ratioRow('tlsotel', 'baseline'),
    ratioRow('tlsotel', 'floor'),
    '',
    `in-app CPU added per call, tlsotel's over the floor's (Δ ÷ floor Δ): client ${fmt(delta('clientUs'))}, server ${fmt(delta('serverUs'))}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
