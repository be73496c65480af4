// The two OTLP/gRPC servers the benches' receivers run (bench/receiver-child.ts for the pipeline
// bench, bench/load/receiver.ts for the load bench), unary calls only, messages as raw bytes:
//   h2       gRPC spoken directly over node:http2 with large flow-control windows (16 MiB per
//            stream, 64 MiB per connection), like a Go collector (the OpenTelemetry Collector,
//            Jaeger, Tempo: grpc-go) once its BDP estimator has grown the windows: the exporter
//            is never held back by the receiver.
//   grpc-js  @grpc/grpc-js's server, as test/helpers/otlp-receiver.ts: HTTP/2's default 64 KiB
//            windows (grpc-js's server cannot set them), so a 512-span request (~0.4 MB) takes
//            ~6 WINDOW_UPDATE round trips, each waiting for both processes' event loops to turn:
//            a busy exporter then sends about one window per turn of its loop.
import * as http2 from 'node:http2';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';

export type ReceiverMode = 'h2' | 'grpc-js';
export const RECEIVER_MODES: readonly ReceiverMode[] = ['h2', 'grpc-js'];

/** Per method path: takes one request message (uncompressed); throws when it cannot decode it
 *  (the call then fails with INVALID_ARGUMENT). Answered with an empty message. */
export type UnaryHandlers = Record<string, (message: Buffer) => void>;

const identity = (b: Buffer): Buffer => b;
const EMPTY = Buffer.alloc(0);
const STREAM_WINDOW = 16 * 1024 * 1024;
const SESSION_WINDOW = 64 * 1024 * 1024;
const EMPTY_GRPC_MESSAGE = Buffer.alloc(5); // uncompressed, length 0: an empty response message

/** Listens on 127.0.0.1 (a free port), then calls ready(port); returns what stops it.
 *  `onBadRequest` hears of every call answered with INVALID_ARGUMENT (a bad gRPC frame, or a
 *  handler that threw). */
export function startGrpcReceiver(mode: ReceiverMode, handlers: UnaryHandlers, ready: (port: number) => void, fail: (message: string) => never, onBadRequest: () => void = () => {}): () => void {
  return mode === 'h2' ? startH2(handlers, ready, onBadRequest) : startGrpcJs(handlers, ready, fail, onBadRequest);
}

function startGrpcJs(handlers: UnaryHandlers, ready: (port: number) => void, fail: (message: string) => never, onBadRequest: () => void): () => void {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  for (const [path, take] of Object.entries(handlers)) {
    server.addService(
      { Export: { path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
      {
        Export(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
          try {
            take(call.request);
          } catch (err) {
            onBadRequest();
            callback({ code: grpc.status.INVALID_ARGUMENT, details: `undecodable request: ${(err as Error).message}` });
            return;
          }
          callback(null, EMPTY);
        },
      },
    );
  }
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) fail(err.message);
    ready(port);
  });
  return () => server.forceShutdown();
}

function startH2(handlers: UnaryHandlers, ready: (port: number) => void, onBadRequest: () => void): () => void {
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
      const take = handlers[String(headers[':path'])];
      if (take === undefined) {
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
          take(msg);
        } catch (err) {
          onBadRequest();
          status = grpc.status.INVALID_ARGUMENT;
          message = `undecodable request: ${(err as Error).message}`;
        }
      }
      if (stream.destroyed) return; // reset by the client meanwhile
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
