// HTTP/2 and gRPC peers for the end-to-end tests, run as their own processes (so that the test
// can tell their spans by pid). Not a test itself.
//   h2-peers.js h2-server CERT KEY             node http2 server: any path → 200 with a small body
//                                              (/bytes/N: a body of N bytes)
//   h2-peers.js h2-client PORT N PREFIX        one connection, N concurrent GET streams
//   h2-peers.js h2-joined PORT PREFIX          one connection: 3 requests, prints "connected",
//                                              waits for a line on stdin, then 5 requests with
//                                              new paths (the agent starts in between)
//   h2-peers.js grpc-server CERT KEY           grpc-js over TLS: Greeter SayHello, Fail, LotsOfReplies
//   h2-peers.js grpc-client PORT CERT          the three calls
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { GREETER, callGreeter, greeterClient, greeterHandlers } from '../helpers/greeter';

const [mode, ...args] = process.argv.slice(2);

export const STREAM_GAP_MS = 100;

function h2Server(cert: string, key: string): void {
  const server = http2.createSecureServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    let size = 0;
    stream.on('data', (d: Buffer) => { size += d.length; });
    stream.on('end', () => {
      const status = /^\/status\/(\d{3})/.exec(path);
      const bytes = /^\/bytes\/(\d+)/.exec(path);
      const body = bytes ? 'b'.repeat(Number(bytes[1])) : `${path} ${size}\n`;
      stream.respond({ ':status': status ? Number(status[1]) : 200, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      stream.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`));
}

function request(session: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, 'user-agent': 'h2-peers' });
    let status = 0;
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', () => {});
    req.on('end', () => resolve(status));
    req.on('error', reject);
    req.end();
  });
}

async function h2Client(port: string, n: number, prefix: string): Promise<void> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, peerMaxConcurrentStreams: 1000 });
  const statuses = await Promise.all(Array.from({ length: n }, (_, i) => request(session, `${prefix}/${i}?n=${i}`)));
  session.close();
  process.stdout.write(`${statuses.filter((s) => s === 200).length} ok\n`);
}

async function h2Joined(port: string, prefix: string): Promise<void> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  for (let i = 0; i < 3; i++) await request(session, `${prefix}/before/${i}`);
  process.stdout.write('connected\n');
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => rl.once('line', () => resolve()));
  rl.close();
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push(await request(session, `${prefix}/after/${i}?k=${i}`));
  session.close();
  process.stdout.write(`${statuses.join(' ')}\n`);
}

function grpcServer(cert: string, key: string): void {
  const server = new grpc.Server();
  server.addService(GREETER, greeterHandlers('no such greeting', STREAM_GAP_MS));
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(cert), private_key: fs.readFileSync(key) }]);
  server.bindAsync('127.0.0.1:0', creds, (err, port) => {
    if (err) throw err;
    process.stdout.write(`listening ${port}\n`);
  });
}

async function grpcClient(port: string, cert: string): Promise<void> {
  const client = greeterClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(fs.readFileSync(cert)), { 'grpc.ssl_target_name_override': 'localhost' });
  const { hello, failure, replies } = await callGreeter(client);
  client.close();
  process.stdout.write(`${hello.toString()}|${failure.code}|${replies.length}\n`);
}

const main: Record<string, () => unknown> = {
  'h2-server': () => h2Server(args[0], args[1]),
  'h2-client': () => h2Client(args[0], Number(args[1]), args[2]),
  'h2-joined': () => h2Joined(args[0], args[1]),
  'grpc-server': () => grpcServer(args[0], args[1]),
  'grpc-client': () => grpcClient(args[0], args[1]),
};
if (require.main === module) {
  const run = main[mode];
  if (run === undefined) {
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
  }
  Promise.resolve(run()).catch((e: Error) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  });
}
