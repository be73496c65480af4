// The capture layer against real programs making real TLS connections on loopback:
// curl (libssl, SSL_read/SSL_write), python3 (SSL_read_ex/SSL_write_ex), node (OpenSSL
// inside the binary) — each asserted on its own pid only, since other programs on the host
// may use TLS at the same time.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, type CaptureOptions } from '../../src/agent/agent';
import type { Observer } from '../../src/agent/pipeline';
import type { TlsRecord, Direction } from '../../src/capture/record';
import type { CloseReason, Connection, GapReason } from '../../src/capture/streams';
import { silentLogger } from '../../src/util/log';
import { makeCert, python, requireRoot, sleep, start, startHttpsServer, EXAMPLES, type Proc } from '../helpers/procs';
import path from 'node:path';

/** The agent observing (no tracing): every record and stream event goes to `observer`. */
function observe(opts: CaptureOptions & { log: typeof silentLogger }, observer: Observer): Agent {
  const { log, ...capture } = opts;
  return Agent.start({ capture, observe: observer, log });
}

interface Seen {
  records: TlsRecord[];
  data: Array<{ conn: string; dir: Direction; data: Buffer }>;
  gaps: Array<{ conn: string; dir: Direction; bytes: number; reason: GapReason }>;
  closes: Array<{ conn: string; reason: CloseReason; bytes: Connection['bytes'] }>;
}

const byPid = new Map<number, Seen>();
function seen(pid: number): Seen {
  let s = byPid.get(pid);
  if (!s) byPid.set(pid, (s = { records: [], data: [], gaps: [], closes: [] }));
  return s;
}

/** Concatenated captured bytes of one process in one direction, over all its connections. */
function stream(pid: number, dir: Direction): string {
  return Buffer.concat(seen(pid).data.filter((d) => d.dir === dir).map((d) => d.data)).toString('latin1');
}

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    capture.poll();
    await sleep(20);
  }
}

let capture: Agent;
let cert: ReturnType<typeof makeCert>;
let server: Proc & { port: number };

before(async () => {
  requireRoot();
  cert = makeCert();
  server = await startHttpsServer(cert);
  capture = observe({ log: silentLogger, captureBytes: 16384, maxSegments: 4 }, {
    onRecord: (r) => seen(r.pid).records.push(r),
    onData: (c, dir, data) => seen(c.pid).data.push({ conn: c.id, dir, data }),
    onGap: (c, dir, bytes, _ts, reason) => seen(c.pid).gaps.push({ conn: c.id, dir, bytes, reason }),
    onClose: (c, reason) => seen(c.pid).closes.push({ conn: c.id, reason, bytes: { ...c.bytes } }),
  });
});

after(async () => {
  await capture?.stop();
  await server?.stop();
});

test('curl started after the agent is ready: its first request (write) and the response (read) from libssl', async () => {
  const url = `https://127.0.0.1:${server.port}/curl-first-${process.pid}`;
  const curl = start('curl', ['-sk', '--http1.1', url]);
  const { code } = await curl.exited;
  assert.equal(code, 0, curl.stderr());
  await until(() => stream(curl.pid, 'read').includes('curl-first'), 'curl response');
  const w = stream(curl.pid, 'write');
  assert.match(w, new RegExp(`^GET /curl-first-${process.pid} HTTP/1\\.1\\r\\nHost: 127\\.0\\.0\\.1:${server.port}\\r\\n`));
  assert.match(stream(curl.pid, 'read'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"method":"GET","path":"\/curl-first-\d+","received":0\}$/);
  const recs = seen(curl.pid).records.filter((r) => r.type === 'data');
  assert.ok(recs.every((r) => r.comm === 'curl'));
  assert.match(capture.fileName(recs[0].libId), /^libssl\.so/);
  // The server (node, OpenSSL inside the binary) saw the same exchange from its side.
  await until(() => stream(server.pid, 'read').includes(`/curl-first-${process.pid}`), 'server side of curl request');
  // SSL_free told us the connection is gone.
  await until(() => seen(curl.pid).closes.length > 0, 'close event');
  assert.equal(seen(curl.pid).closes[0].reason, 'closed');
});

test('python3 (SSL_read_ex/SSL_write_ex): two requests on one keep-alive connection, in order', async () => {
  const script = `
import http.client, ssl
ctx = ssl._create_unverified_context()
c = http.client.HTTPSConnection('127.0.0.1', ${server.port}, context=ctx)
for p in ('/py-one', '/py-two'):
    c.request('GET', p + '-${process.pid}')
    r = c.getresponse(); r.read(); print(r.status)
c.close()
`;
  const py = start(python(), ['-c', script]);
  const { code } = await py.exited;
  assert.equal(code, 0, py.stderr());
  assert.equal(py.stdout(), '200\n200\n');
  await until(() => stream(py.pid, 'read').includes('py-two'), 'python responses');
  const s = seen(py.pid);
  const conns = new Set(s.data.map((d) => d.conn));
  assert.equal(conns.size, 1, 'one connection');
  // Order: request 1, response 1, request 2, response 2.
  const order = s.data.map((d) => `${d.dir}:${/py-(one|two)/.exec(d.data.toString('latin1'))?.[1] ?? ''}`).filter((x) => !x.endsWith(':'));
  assert.deepEqual(order, ['write:one', 'read:one', 'write:two', 'read:two']);
  assert.match(stream(py.pid, 'write'), /^GET \/py-one-\d+ HTTP\/1\.1\r\n[\s\S]*\r\n\r\nGET \/py-two-\d+ HTTP\/1\.1\r\n/);
  assert.equal(s.gaps.length, 0);
});

test('node https client and node https server (OpenSSL inside /usr/bin/node): both sides captured', async () => {
  const url = `https://127.0.0.1:${server.port}/node-client-${process.pid}`;
  const client = start(process.execPath, [path.join(EXAMPLES, 'https-client.js'), url]);
  const { code } = await client.exited;
  assert.equal(code, 0, client.stderr());
  await until(() => stream(client.pid, 'read').includes(`node-client-${process.pid}`), 'node client response');
  assert.match(stream(client.pid, 'write'), new RegExp(`^GET /node-client-${process.pid} HTTP/1\\.1\\r\\n`));
  // Written once: node's SSL_write returns -1 during the handshake and is retried.
  assert.equal(stream(client.pid, 'write').split(`/node-client-${process.pid}`).length, 2);
  await until(() => stream(server.pid, 'write').includes(`node-client-${process.pid}`), 'server response');
  assert.match(stream(server.pid, 'read'), new RegExp(`GET /node-client-${process.pid} HTTP/1\\.1\\r\\n`));
  const lib = seen(client.pid).records.find((r) => r.type === 'data')!.libId;
  assert.equal(capture.fileName(lib), path.basename(process.execPath));
});

test('1 MiB response: true lengths reported, what was not captured is marked, memory bounded', async () => {
  const total = 1 << 20;
  const url = `https://127.0.0.1:${server.port}/big?bytes=${total}`;
  const heapBefore = process.memoryUsage().heapUsed;
  const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{size_download} %{size_header}', url]);
  const { code } = await curl.exited;
  assert.equal(code, 0, curl.stderr());
  const [body, header] = curl.stdout().split(' ').map(Number);
  assert.equal(body, total);
  await until(() => seen(curl.pid).closes.length > 0, 'curl connection closed');
  const s = seen(curl.pid);
  const captured = s.data.filter((d) => d.dir === 'read').reduce((n, d) => n + d.data.length, 0);
  const missing = s.gaps.filter((g) => g.dir === 'read').reduce((n, g) => n + g.bytes, 0);
  // Every byte curl read is accounted for: captured, or inside a gap of known size.
  assert.equal(captured + missing, body + header);
  const reads = s.records.filter((r) => r.type === 'data' && r.dir === 'read');
  assert.equal(reads.reduce((n, r) => n + (r.type === 'data' && r.offset === 0 ? r.callLen : 0), 0), body + header);
  // The server wrote the megabyte: if its writes exceeded the capture cap, the rest is a gap
  // of the exact size, and what was captured plus what is missing is what it wrote.
  await until(() => seen(server.pid).data.some((d) => d.dir === 'write' && d.data.includes('content-length: 1048576')), 'server write');
  const srvConn = seen(server.pid).data.find((d) => d.dir === 'write' && d.data.includes('content-length: 1048576'))!.conn;
  const srvWritten = () => seen(server.pid).records
    .filter((r) => r.type === 'data' && r.dir === 'write' && `${r.pid}:${r.conn.toString(16)}` === srvConn && r.offset === 0)
    .reduce((n, r) => n + (r.type === 'data' ? r.callLen : 0), 0);
  await until(() => srvWritten() >= total, 'server writes of the whole body');
  const srvCaptured = seen(server.pid).data.filter((d) => d.conn === srvConn && d.dir === 'write').reduce((n, d) => n + d.data.length, 0);
  const srvMissing = seen(server.pid).gaps.filter((g) => g.conn === srvConn && g.dir === 'write').reduce((n, g) => n + g.bytes, 0);
  assert.equal(srvCaptured + srvMissing, srvWritten());
  
  // No payload is kept by the capture layer: retained heap does not grow by the megabyte
  // twice over (the test itself keeps what it captured, at most 64 KiB per call).
  const s2 = capture.captureStats().streams;
  assert.ok(s2.connections < 1000);
  const grown = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(grown < 64 * 1024 * 1024, `heap grew by ${grown} B`);
});

test('a small capture cap: the rest of each call is a gap flagged truncated, with its true size', async () => {
  // Bodies copied (no body skipping): the cap is what cuts them here.
  const small = observe({ log: silentLogger, captureBytes: 512, maxSegments: 2, pid: undefined, skipBodiesFrom: 0 }, {
    onData: (c, dir, data) => { if (c.comm === 'curl') seen(-c.pid).data.push({ conn: c.id, dir, data }); },
    onGap: (c, dir, bytes, _ts, reason) => { if (c.comm === 'curl') seen(-c.pid).gaps.push({ conn: c.id, dir, bytes, reason }); },
    onClose: () => {},
  });
  try {
    const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{size_download} %{size_header}', `https://127.0.0.1:${server.port}/big?bytes=200000`]);
    assert.equal((await curl.exited).code, 0);
    const [body, header] = curl.stdout().split(' ').map(Number);
    const t0 = Date.now();
    const s = seen(-curl.pid);
    const sum = () => s.data.filter((d) => d.dir === 'read').reduce((n, d) => n + d.data.length, 0) + s.gaps.filter((g) => g.dir === 'read').reduce((n, g) => n + g.bytes, 0);
    while (sum() < body + header && Date.now() - t0 < 10_000) { small.poll(); await sleep(20); }
    assert.equal(sum(), body + header);
    assert.ok(s.gaps.some((g) => g.reason === 'truncated'));
    assert.ok(s.data.every((d) => d.data.length <= 512));
    assert.ok(small.captureStats().bpf.TLS_CNT_TRUNC_BYTES > 0n);
  } finally {
    await small.stop();
  }
});

test('stop() detaches every probe: no BPF link left in this process', async () => {
  const links = () => readdirSync('/proc/self/fdinfo').filter((fd) => {
    try {
      return /^link_id:/m.test(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    } catch {
      return false;
    }
  }).length;
  const c = observe({ log: silentLogger }, { onData() {}, onGap() {}, onClose() {} });
  const attached = c.files.length;
  assert.ok(attached >= 1, 'at least libssl attached');
  const before = links();
  assert.ok(before >= attached * 4, `expected link fds while attached, found ${before}`);
  const destroyed = await c.stop();
  assert.ok(destroyed >= attached * 4);
  assert.equal(links(), before - destroyed);
});

test('records keep their true lengths in every record header', () => {
  assert.ok(byPid.size > 0);
  // Across everything captured above: a record never claims more than its call.
  for (const s of byPid.values()) {
    for (const r of s.records) {
      if (r.type !== 'data') continue;
      assert.ok(r.offset + r.data.length <= r.callLen);
    }
  }
});

test('the poll timer: every 40 ms while little comes, every 10 ms while the ring fills fast', async () => {
  // A capture of one process only (filtered in BPF), so other TLS traffic on the host does not
  // feed its ring: the python client waits for a line on stdin (sent once the capture runs at its
  // idle interval: a fixed sleep raced the agent's start on a busy host, and the small exchange
  // then came while the interval was still ramping up), makes a small request, sleeps, then
  // fetches 2 MB. The ring is 1 MiB: 64 KiB between two polls is "fast".
  const client = start(python(), ['-c', [
    'import http.client, ssl, sys, time',
    `c = http.client.HTTPSConnection("127.0.0.1", ${server.port}, context=ssl._create_unverified_context())`,
    'sys.stdin.readline()',
    'c.request("GET", "/small-after-idle"); r = c.getresponse(); r.read()',
    'print("small done", flush=True)',
    'time.sleep(3.0)',
    'c.request("GET", "/big?bytes=2000000"); r = c.getresponse(); print(len(r.read()))',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'pipe'] });
  const delays = new Set<number>();
  // Bodies copied (no body skipping), so that the 2 MB body fills the ring fast.
  const own = observe({ log: silentLogger, pid: client.child.pid, ringBufferBytes: 1 << 20, skipBodiesFrom: 0 }, {
    // Runs inside a poll; the next delay is chosen when the poll returns.
    onRecord: () => { setImmediate(() => delays.add(own.pollDelayNowMs)); },
    onData() {}, onGap() {}, onClose() {},
  });
  try {
    await sleep(500);
    assert.equal(own.pollDelayNowMs, 40, 'an empty ring is polled every 40 ms');
    client.child.stdin!.write('go\n');
    await client.waitFor(/small done/);
    await sleep(500); // its records polled (within 40 ms), the big request 2.5 s away
    assert.deepEqual([...delays], [40], 'a small exchange does not bring the interval down');
    assert.equal((await client.exited).code, 0, client.stderr());
    assert.match(client.stdout(), /2000000/);
    const t0 = Date.now();
    while (!delays.has(10) && Date.now() - t0 < 5000) await sleep(20);
    assert.ok(delays.has(10), `a ring filling fast is polled every 10 ms (delays seen: ${[...delays].join(', ')})`);
  } finally {
    await own.stop();
    await client.stop('SIGKILL');
  }
});
