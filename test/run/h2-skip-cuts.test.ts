// HTTP/2 DATA skipping in BPF against byte streams cut at many offsets: a Python client with no
// HTTP/2 library writes and reads its connection to nginx in TLS calls of sizes the test picks
// (1 to 11 bytes in turn, a frame header alone, a payload alone, 100 kB), after a first write
// and a first read that begin the two directions whole. So the BPF side must follow frames
// whose headers (over up to nine calls) and payloads are split anywhere: in the client's writes
// and reads, and in nginx's reads of what the client's calls cut. Spans are checked at a real
// OTLP/gRPC receiver: body sizes exact, nothing lost; the agent's own counters say DATA bytes
// were skipped at both ends in every round, none where its frame reader did not expect them, and
// no direction was given up.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, python, requireRoot, start, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

const CUTS = path.join(__dirname, '../../../test/run/h2-cuts.py');
const PUT_BYTES = 20000;
const GET_BYTES = 65536;
// One process name for the client and nginx (symlinks), traced alone: other TLS loads on this
// host must not crowd our spans out.
const COMM = `cuts${process.pid % 100000}`;
const tag = `c${process.pid}`;
let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
let client = '';

before(async () => {
  requireRoot();
  cert = makeCert();
  const files = path.join(cert.dir, 'files');
  fs.mkdirSync(files, { recursive: true });
  let text = '';
  for (let i = 0; text.length < GET_BYTES; i++) text += `line ${i} ${(i * 2654435761 % 1000003).toString(36)}\n`;
  fs.writeFileSync(path.join(files, 'get'), text.slice(0, GET_BYTES));
  for (const [name, target] of [['nginx', '/usr/sbin/nginx'], ['python', python()]] as const) {
    fs.mkdirSync(path.join(cert.dir, name));
    fs.symlinkSync(target, path.join(cert.dir, name, COMM));
  }
  client = path.join(cert.dir, 'python', COMM);
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert, { http2: true, files, binary: path.join(cert.dir, 'nginx', COMM) });
  agent = await startAgent(['--otlp-endpoint', receiver.url, '--comm', COMM, '--ring-buffer-size', '64M'], { OTEL_METRIC_EXPORT_INTERVAL: '500' });
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await receiver?.stop();
});


// Call sizes, used in turn for every write and read of one connection, and the size of the
// upload's DATA frames.
const ROUNDS: Array<[string, number]> = [
  ['1,2,3,4,5,6,7,8,9,10,11', 16384], // one to eleven bytes
  ['9,16384,1,16393,8', 16384], // a header, a payload, a byte
  ['17,5000,10,16400,3', 16384], // odd cuts
  ['100000', 16384], // large calls
  ['4,5,16393,16393,9,3616', 16384], // a header cut in two, then whole frames
  ['100000', 1100], // one call of 19 DATA frames: more than a call's planned records
];

test('HTTP/2 streams cut at many offsets: exact body sizes at both ends, DATA skipped, no skip where none was expected', async () => {
  const before = {
    mismatches: receiver.total('tlsotel.http.skip_mismatches'),
    unfollowed: receiver.total('tlsotel.bpf.frames_unfollowed'),
  };
  const ids = ROUNDS.map((_, i) => `${tag}-${i}`);
  for (const [i, [sizes, frame]] of ROUNDS.entries()) {
    const skippedBefore = receiver.total('tlsotel.bpf.skipped_bytes');
    const p = start(client, [CUTS, String(nginx.port), ids[i], String(PUT_BYTES), sizes, '/files/get', String(frame)]);
    const r = await p.exited;
    assert.equal(r.code, 0, `${sizes}: ${p.stderr()}`);
    // The client's own view: nginx took the whole upload and sent the whole file.
    assert.equal(p.stdout().trim(), `put 201 0\nget 200 ${GET_BYTES}`, sizes);
    void fs.promises.rm(path.join(nginx.dir, 'upload', ids[i]), { force: true });
    // Both bodies' DATA payloads skipped at both ends (the client's calls and nginx's): nearly
    // all (not a last DATA frame under 1 KiB, nor frames past a call's 16 planned records).
    const want = skippedBefore + 0.9 * 2 * (PUT_BYTES + GET_BYTES);
    await receiver.waitForTotal('tlsotel.bpf.skipped_bytes', skippedBefore, want).catch((e: Error) => assert.fail(`${sizes}: ${e.message}`));
  }
  const mine = (q: string) => (s: ReceivedSpan) => s.attributes['url.query'] === q;
  const queries = ids.flatMap((id) => [`${id}-put`, `${id}-get`]);
  await receiver.waitFor((spans) => queries.every((q) => spans.filter(mine(q)).length >= 2), 20_000).catch((e: Error) => {
    const seen = queries.map((q) => `${q}: ${receiver.spans.filter(mine(q)).map((s) => s.kind).join(', ')}`);
    assert.fail(`${e.message}\n${seen.join('\n')}\nagent: ${agent.stderr().slice(-3000)}`);
  });
  const wrong: string[] = [];
  for (const [i, [sizes]] of ROUNDS.entries()) {
    for (const [q, method, status, reqBody, respBody] of [
      [`${ids[i]}-put`, 'PUT', 201, PUT_BYTES, 0],
      [`${ids[i]}-get`, 'GET', 200, 0, GET_BYTES],
    ] as const) {
      const spans = receiver.spans.filter(mine(q));
      assert.deepEqual(spans.map((s) => s.kind).sort(), ['CLIENT', 'SERVER'], `${sizes}: ${q}`);
      for (const s of spans) {
        const got = {
          version: s.attributes['network.protocol.version'],
          method: s.attributes['http.request.method'],
          status: s.attributes['http.response.status_code'],
          reqBody: s.attributes['http.request.body.size'] ?? 0,
          respBody: s.attributes['http.response.body.size'] ?? 0,
          error: s.attributes['tlsotel.exchange.error'],
        };
        const want = { version: '2', method, status, reqBody, respBody, error: undefined };
        if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${sizes} ${q} ${s.kind}: ${JSON.stringify(got)}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
  assert.equal(receiver.total('tlsotel.http.skip_mismatches'), before.mismatches, 'every skipped part was inside a DATA payload');
  assert.equal(receiver.total('tlsotel.bpf.frames_unfollowed'), before.unfollowed, 'frames followed to the end');
});
