// OTLP/gRPC receiver for the load bench (bench/load/bench.ts), run as a forked child so that its
// CPU is its own and not the agent's or the driver's. It answers every trace (and metrics)
// Export at once and, with a minimal protobuf walk, keeps for every span only its kind, the
// `process.pid` of its resource and its start time — enough to count, per load window, the
// SERVER spans of the nginx worker and the CLIENT spans of one wrk process.
//
// Its server (argv[2], bench/grpc-receivers.ts): h2 (default: large flow-control windows, as a
// Go collector — the OpenTelemetry Collector, Jaeger, Tempo — has once its BDP estimator grew
// them) or grpc-js (HTTP/2's default 64 KiB windows, which cap a busy exporter's throughput).
//
// IPC: child → parent { type: 'ready', port } once listening.
//      parent → child { type: 'count', windows: [{ fromMs, toMs }], pids: number[] }
//        → { type: 'count', counts: [{ [pid]: { SERVER, CLIENT, OTHER } }], total, requests, undecodable }
//      parent → child { type: 'reset' } (forget spans) → { type: 'reset' }
import { RECEIVER_MODES, startGrpcReceiver, type ReceiverMode } from '../grpc-receivers';

const TRACE_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const METRICS_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

/** Per pid: kinds (1 byte each) and start times (ms since the epoch). */
interface PidSpans { kinds: number[]; startMs: number[] }
let byPid = new Map<number, PidSpans>();
let total = 0;
let requests = 0;
let undecodable = 0;

function varint(buf: Buffer, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [v, pos];
    mul *= 128;
    if (mul > 2 ** 63) throw new Error('varint too long');
  }
}

/** Calls fn(field, wire, valueStart, valueEnd) for every field of buf[pos, end). */
function fields(buf: Buffer, pos: number, end: number, fn: (field: number, wire: number, s: number, e: number) => void): void {
  while (pos < end) {
    const [tag, p] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let s = p;
    let e: number;
    switch (wire) {
      case 0: e = varint(buf, p)[1]; break;
      case 1: e = p + 8; break;
      case 2: { const [len, q] = varint(buf, p); s = q; e = q + len; break; }
      case 5: e = p + 4; break;
      default: throw new Error(`wire type ${wire}`);
    }
    if (e > end) throw new Error('truncated message');
    fn(field, wire, s, e);
    pos = e;
  }
}

/** process.pid from a Resource message (KeyValue attributes, field 1). */
function resourcePid(buf: Buffer, s: number, e: number): number {
  let pid = 0;
  fields(buf, s, e, (f, w, ks, ke) => {
    if (f !== 1 || w !== 2) return;
    let key = '';
    let vs = -1;
    let ve = -1;
    fields(buf, ks, ke, (kf, kw, a, b) => {
      if (kf === 1 && kw === 2) key = buf.toString('utf8', a, b);
      else if (kf === 2 && kw === 2) { vs = a; ve = b; }
    });
    if (key !== 'process.pid' || vs < 0) return;
    fields(buf, vs, ve, (af, aw, a) => {
      if (af === 3 && aw === 0) pid = varint(buf, a)[0]; // AnyValue.int_value
    });
  });
  return pid;
}

function record(buf: Buffer): void {
  fields(buf, 0, buf.length, (f, w, rs, re) => {
    if (f !== 1 || w !== 2) return; // ResourceSpans
    let pid = 0;
    const scopes: Array<[number, number]> = [];
    fields(buf, rs, re, (rf, rw, s, e) => {
      if (rw !== 2) return;
      if (rf === 1) pid = resourcePid(buf, s, e);
      else if (rf === 2) scopes.push([s, e]);
    });
    let entry = byPid.get(pid);
    if (!entry) byPid.set(pid, (entry = { kinds: [], startMs: [] }));
    for (const [ss, se] of scopes) {
      fields(buf, ss, se, (sf, sw, s, e) => {
        if (sf !== 2 || sw !== 2) return; // Span
        let kind = 0;
        let startMs = 0;
        fields(buf, s, e, (pf, pw, a) => {
          if (pf === 6 && pw === 0) kind = varint(buf, a)[0];
          else if (pf === 7 && pw === 1) startMs = Number(buf.readBigUInt64LE(a) / 1000n) / 1000;
        });
        entry!.kinds.push(kind);
        entry!.startMs.push(startMs);
        total++;
      });
    }
  });
}

function fail(message: string): never {
  process.stderr.write(`receiver: ${message}\n`);
  process.exit(1);
}

function main(): void {
  const mode = (process.argv[2] ?? 'h2') as ReceiverMode;
  if (!RECEIVER_MODES.includes(mode)) fail(`unknown receiver mode ${mode}`);
  startGrpcReceiver(mode, {
    [TRACE_PATH]: (msg) => {
      requests++;
      try {
        record(msg);
      } catch {
        undecodable++;
      }
    },
    [METRICS_PATH]: () => {},
  }, (port) => process.send!({ type: 'ready', port }), fail);
  process.on('message', (m: { type: string; windows?: Array<{ fromMs: number; toMs: number }>; pids?: number[] }) => {
    if (m.type === 'reset') {
      byPid = new Map();
      process.send!({ type: 'reset' });
    } else if (m.type === 'count') {
      const windows = m.windows ?? [];
      const counts = windows.map(() => ({} as Record<number, { SERVER: number; CLIENT: number; OTHER: number }>));
      for (const pid of m.pids ?? []) {
        const entry = byPid.get(pid);
        windows.forEach((w, i) => {
          const c = { SERVER: 0, CLIENT: 0, OTHER: 0 };
          if (entry) {
            for (let k = 0; k < entry.kinds.length; k++) {
              const t = entry.startMs[k];
              if (t < w.fromMs || t >= w.toMs) continue;
              const kind = entry.kinds[k];
              if (kind === 2) c.SERVER++;
              else if (kind === 3) c.CLIENT++;
              else c.OTHER++;
            }
          }
          counts[i][pid] = c;
        });
      }
      process.send!({ type: 'count', counts, total, requests, undecodable });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

main();
