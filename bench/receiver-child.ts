// OTLP/gRPC trace receiver for the pipeline benchmark, run as a child process (fork) so that its
// CPU is not counted in the benchmark process. It answers every Export and counts spans with a
// minimal protobuf walk (ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span); the
// first request after each reset is also fully decoded with the test receiver's decoder
// (test/helpers/otlp-receiver.ts) and a sample span is kept, to check the shape end to end.
//
// Two servers (argv[2]):
//   h2       (default) gRPC spoken directly over node:http2 with large flow-control windows
//            (16 MiB per stream, 64 MiB per connection), like a Go collector once its BDP
//            estimator has grown the windows: the exporter is never held back by the receiver.
//   grpc-js  @grpc/grpc-js's server, as test/helpers/otlp-receiver.ts: HTTP/2 default 64 KiB
//            windows, so a 512-span request (~0.5 MB) takes ~8 WINDOW_UPDATE round trips, each
//            waiting for the exporting process's event loop to turn.
//
// IPC (process.send): child → parent { type: 'ready', port } once listening;
// parent → child { type: 'stats' | 'reset' | 'stop' }, answered with { type: 'stats', ... }.
import * as http2 from 'node:http2';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { decodeExportTraceRequest, type ReceivedSpan } from '../test/helpers/otlp-receiver';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const identity = (b: Buffer): Buffer => b;
const EMPTY = Buffer.alloc(0);

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

function startGrpcJs(ready: (port: number) => void): () => void {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  server.addService(
    {
      Export: {
        path: EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Export(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        try {
          accept(call.request);
        } catch (err) {
          errors++;
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `undecodable request: ${(err as Error).message}` });
          return;
        }
        callback(null, EMPTY);
      },
    },
  );
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) fail(err.message);
    ready(port);
  });
  return () => server.forceShutdown();
}

const STREAM_WINDOW = 16 * 1024 * 1024;
const SESSION_WINDOW = 64 * 1024 * 1024;
const EMPTY_GRPC_MESSAGE = Buffer.alloc(5); // uncompressed, length 0: an empty ExportTraceServiceResponse

function startH2(ready: (port: number) => void): () => void {
  const server = http2.createServer({ settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: 1 << 20 } });
  server.on('session', (session) => {
    session.on('localSettings', () => session.setLocalWindowSize(SESSION_WINDOW));
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      let status = 0;
      let message = '';
      if (headers[':path'] !== EXPORT_PATH) {
        status = grpc.status.UNIMPLEMENTED;
        message = `unknown method ${String(headers[':path'])}`;
      } else {
        try {
          const body = Buffer.concat(chunks);
          // One length-prefixed message: flag byte (1 = compressed), u32 BE length.
          if (body.length < 5) throw new Error('short gRPC frame');
          const len = body.readUInt32BE(1);
          if (body.length !== 5 + len) throw new Error(`gRPC frame of ${len} bytes in a body of ${body.length}`);
          let msg = body.subarray(5);
          if (body[0] === 1) msg = headers['grpc-encoding'] === 'gzip' ? zlib.gunzipSync(msg) : zlib.inflateSync(msg);
          accept(msg);
        } catch (err) {
          errors++;
          status = grpc.status.INVALID_ARGUMENT;
          message = `undecodable request: ${(err as Error).message}`;
        }
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(status), 'grpc-message': encodeURIComponent(message) }));
      stream.end(status === 0 ? EMPTY_GRPC_MESSAGE : undefined);
    });
    stream.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    ready(typeof a === 'object' && a !== null ? a.port : 0);
  });
  return () => server.close();
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

const mode = process.argv[2] ?? 'h2';
if (mode !== 'h2' && mode !== 'grpc-js') fail(`unknown receiver mode ${mode}`);
const ready = (port: number): void => {
  process.send!({ type: 'ready', port });
};
const stop = mode === 'h2' ? startH2(ready) : startGrpcJs(ready);

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
