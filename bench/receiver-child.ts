// OTLP/gRPC trace receiver for the pipeline benchmark, run as a child process (fork) so that its
// CPU is not counted in the benchmark process. It answers every Export and counts spans with a
// minimal protobuf walk (ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span); the
// first request after each reset is also fully decoded with the test receiver's decoder
// (test/helpers/otlp-receiver.ts) and a sample span is kept, to check the shape end to end.
//
// Two servers (argv[2], bench/grpc-receivers.ts): h2 (default: large flow-control windows, as a Go
// collector) or grpc-js (HTTP/2's default 64 KiB windows).
//
// IPC (process.send): child → parent { type: 'ready', port } once listening;
// parent → child { type: 'stats' | 'reset' | 'stop' }, answered with { type: 'stats', ... }.
import { RECEIVER_MODES, startGrpcReceiver, type ReceiverMode } from './grpc-receivers';
import { decodeExportTraceRequest, type ReceivedSpan } from '../test/helpers/otlp-receiver';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

let spans = 0;
let requests = 0;
let bytes = 0;
let errors = 0;
let sample: ReceivedSpan | undefined;
let sampleDecoded = false;

function varint(buf: Buffer, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [v, pos];
    mul *= 128;
    if (mul > 2 ** 56) throw new Error('varint too long');
  }
}

function skip(buf: Buffer, pos: number, wire: number): number {
  switch (wire) {
    case 0: return varint(buf, pos)[1];
    case 1: return pos + 8;
    case 2: { const [len, p] = varint(buf, pos); return p + len; }
    case 5: return pos + 4;
    default: throw new Error(`wire type ${wire}`);
  }
}

/** Calls fn(field, start, end) for every length-delimited field of buf[pos, end). */
function eachLen(buf: Buffer, pos: number, end: number, fn: (field: number, s: number, e: number) => void): void {
  while (pos < end) {
    const [tag, p] = varint(buf, pos);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2) {
      const [len, s] = varint(buf, p);
      if (s + len > end) throw new Error('truncated message');
      fn(field, s, s + len);
      pos = s + len;
    } else {
      pos = skip(buf, p, wire);
    }
  }
  if (pos !== end) throw new Error('bad message end');
}

function countSpans(buf: Buffer): number {
  let n = 0;
  eachLen(buf, 0, buf.length, (f, s, e) => {
    if (f !== 1) return; // ResourceSpans
    eachLen(buf, s, e, (f2, s2, e2) => {
      if (f2 !== 2) return; // ScopeSpans
      eachLen(buf, s2, e2, (f3) => {
        if (f3 === 2) n++; // Span
      });
    });
  });
  return n;
}

/** Counts one ExportTraceServiceRequest; throws (→ INVALID_ARGUMENT) when undecodable. */
function accept(req: Buffer): void {
  const n = countSpans(req);
  if (!sampleDecoded) {
    sampleDecoded = true;
    const d = decodeExportTraceRequest(req);
    if (d.spans.length !== n) throw new Error(`span count mismatch: walk ${n}, decoder ${d.spans.length}`);
    sample = d.spans.find((s) => s.kind === 'SERVER' && s.parentSpanId !== undefined) ?? d.spans[0];
  }
  spans += n;
  requests++;
  bytes += req.length;
}

function fail(message: string): never {
  process.send!({ type: 'error', message });
  process.exit(1);
}

function stats(): Record<string, unknown> {
  const cpu = process.cpuUsage();
  return {
    type: 'stats',
    spans,
    requests,
    bytes,
    errors,
    cpuUs: cpu.user + cpu.system,
    sample: sample === undefined ? undefined : JSON.parse(JSON.stringify(sample, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))),
  };
}

const mode = (process.argv[2] ?? 'h2') as ReceiverMode;
if (!RECEIVER_MODES.includes(mode)) fail(`unknown receiver mode ${mode}`);
const ready = (port: number): void => {
  process.send!({ type: 'ready', port });
};
const stop = startGrpcReceiver(mode, { [EXPORT_PATH]: accept }, ready, fail, () => errors++);

process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') process.send!(stats());
  else if (m.type === 'reset') {
    spans = requests = bytes = errors = 0;
    sample = undefined;
    sampleDecoded = false;
    process.send!(stats());
  } else if (m.type === 'stop') {
    stop();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
