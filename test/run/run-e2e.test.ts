// `tlsotel run` end to end: real programs make real HTTPS requests on loopback, the agent turns
// them into spans, and the spans are checked as they arrive at a real OTLP/gRPC receiver.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { startOtlpReceiver, getFreePort, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, python, requireRoot, run, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';

let cert: ReturnType<typeof makeCert>;
let receiver: OtlpReceiver;
let agent: Proc;
let nginx: Nginx;
let nodeServer: Proc & { port: number };
const tag = `t${process.pid}`;

before(async () => {
  requireRoot();
  cert = makeCert();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(cert);
  nodeServer = await startHttpsServer(cert, '127.0.0.1', { ...process.env, OTEL_SERVICE_NAME: `users-api-${tag}` });
  agent = await startAgent(['--otlp-endpoint', receiver.url]);
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM'); // not SIGKILL: the master must take its worker down with it
  await nodeServer?.stop('SIGKILL');
  await receiver?.stop();
});

const ofPid = (pid: number) => (s: ReceivedSpan) => s.resource['process.pid'] === pid;
const withPath = (p: string) => (s: ReceivedSpan) => s.attributes['url.path'] === p;

test('curl → node https server: a CLIENT span (curl) and a SERVER span (node, its OTEL_SERVICE_NAME); the token never leaves the agent', async () => {
  const path = `/users/42`;
  const curl = start('curl', ['-sk', '--http1.1', '-H', `Authorization: Bearer sekrit-${tag}`, `https://127.0.0.1:${nodeServer.port}${path}?token=abc&${tag}=1`]);
  assert.equal((await curl.exited).code, 0);
  await receiver.waitFor((spans) => spans.some(ofPid(curl.pid)) && spans.some((s) => ofPid(nodeServer.pid)(s) && String(s.attributes['url.query']).includes(tag)), 15_000);
  const client = receiver.spans.find(ofPid(curl.pid))!;
  const server = receiver.spans.find((s) => ofPid(nodeServer.pid)(s) && String(s.attributes['url.query']).includes(tag))!;
  assert.equal(client.kind, 'CLIENT');
  assert.equal(client.resource['service.name'], 'curl');
  assert.equal(client.name, 'GET /users/{id}');
  assert.equal(client.attributes['http.request.method'], 'GET');
  assert.equal(client.attributes['url.path'], path);
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.attributes['url.scheme'], 'https');
  assert.equal(client.attributes['url.full'], `https://127.0.0.1:${nodeServer.port}/users/42?token=REDACTED&${tag}=1`);
  assert.equal(client.status.code, 'UNSET');
  assert.equal(server.kind, 'SERVER');
  assert.equal(server.resource['service.name'], `users-api-${tag}`);
  assert.equal(server.attributes['http.request.method'], 'GET');
  assert.equal(server.attributes['url.path'], path);
  assert.equal(server.attributes['url.query'], `token=REDACTED&${tag}=1`);
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.equal(server.attributes['url.scheme'], 'https');
  // Timing, on one clock. Both ends are stamped when their TLS call returns, so a side that is
  // preempted between its socket call and that return is stamped late: node, woken by curl's
  // request on curl's core, may read it, answer it and block before curl's write returns (seen
  // here: curl's span starting 2.5-3.2 ms after node's), so the client's span need not enclose
  // the server's. What holds however the two are scheduled: node read the request before curl
  // read the answer (node answers only after its read returned); and both spans lie on one
  // timeline, their ends within 50 ms of each other (a clock conversion gone wrong is seconds).
  const ms50 = 50_000_000n;
  const near = (a: bigint, b: bigint) => (a > b ? a - b : b - a) < ms50;
  const times = `client ${client.startTimeUnixNano}..${client.endTimeUnixNano}, server ${server.startTimeUnixNano}..${server.endTimeUnixNano}`;
  assert.ok(server.startTimeUnixNano < client.endTimeUnixNano, times);
  assert.ok(near(client.startTimeUnixNano, server.startTimeUnixNano) && near(client.endTimeUnixNano, server.endTimeUnixNano), times);
  const raw = receiver.rawBytes().toString('latin1');
  assert.ok(!raw.includes('abc'), 'the token value appears nowhere in the exported data');
  assert.ok(!raw.includes(`sekrit-${tag}`), 'the Authorization value appears nowhere in the exported data');
});

test('python3 keep-alive client, 3 requests (one POST with a body) to nginx: 3 CLIENT and 3 SERVER spans', async () => {
  const script = `
import http.client, ssl
c = http.client.HTTPSConnection('127.0.0.1', ${nginx.port}, context=ssl._create_unverified_context())
c.request('GET', '/py/${tag}/a'); r = c.getresponse(); r.read(); print(r.status)
c.request('POST', '/py/${tag}/b', body=b'x' * 1234, headers={'Content-Type': 'application/octet-stream'}); r = c.getresponse(); r.read(); print(r.status)
c.request('GET', '/status/404?${tag}'); r = c.getresponse(); r.read(); print(r.status)
c.close()
`;
  const py = start(python(), ['-c', script]);
  assert.equal((await py.exited).code, 0, py.stderr());
  assert.equal(py.stdout(), '200\n200\n404\n');
  const mine = (s: ReceivedSpan) => String(s.attributes['url.path']).startsWith(`/py/${tag}/`) || String(s.attributes['url.query']) === tag;
  await receiver.waitFor((spans) => spans.filter(mine).length >= 6, 15_000);
  await sleep(300);
  const spans = receiver.spans.filter(mine);
  const clients = spans.filter((s) => s.kind === 'CLIENT');
  const servers = spans.filter((s) => s.kind === 'SERVER');
  assert.equal(clients.length, 3);
  assert.equal(servers.length, 3);
  assert.ok(clients.every(ofPid(py.pid)));
  assert.ok(servers.every((s) => s.resource['service.name'] === 'nginx'));
  for (const group of [clients, servers]) {
    const by = (p: string) => group.find(withPath(p))!;
    assert.equal(by(`/py/${tag}/a`).attributes['http.request.method'], 'GET');
    assert.equal(by(`/py/${tag}/a`).attributes['http.response.status_code'], 200);
    assert.equal(by(`/py/${tag}/b`).attributes['http.request.method'], 'POST');
    assert.equal(by(`/py/${tag}/b`).attributes['http.request.body.size'], 1234);
    assert.equal(by(`/py/${tag}/b`).attributes['http.response.status_code'], 200);
    assert.equal(by(`/py/${tag}/b`).attributes['http.response.body.size'], 3);
    assert.equal(by('/status/404').attributes['http.response.status_code'], 404);
    assert.equal(by('/status/404').attributes['http.response.body.size'], 10);
  }
  // A 404 is an error for the client, not for the server.
  assert.equal(clients.find(withPath('/status/404'))!.status.code, 'ERROR');
  assert.equal(servers.find(withPath('/status/404'))!.status.code, 'UNSET');
});

test('pipelining: three requests written at once over one openssl s_client connection to nginx, correctly paired', async () => {
  const reqs = [`/pipe/${tag}/1`, '/status/201', '/status/404']
    .map((p, i) => `GET ${p}?pipe=${tag}&n=${i} HTTP/1.1\r\nHost: localhost\r\n${i === 2 ? 'Connection: close\r\n' : ''}\r\n`)
    .join('');
  const r = await run('bash', ['-c', `printf '%s' "$REQS" | openssl s_client -quiet -connect 127.0.0.1:${nginx.port} 2>/dev/null`], { env: { ...process.env, REQS: reqs } });
  assert.match(r.stdout, /HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 201[\s\S]*HTTP\/1\.1 404/);
  const mine = (s: ReceivedSpan) => String(s.attributes['url.query']).startsWith(`pipe=${tag}&`);
  await receiver.waitFor((spans) => spans.filter((s) => mine(s) && s.kind === 'SERVER').length >= 3, 15_000);
  const servers = receiver.spans.filter((s) => mine(s) && s.kind === 'SERVER');
  assert.equal(servers.length, 3);
  const status = (n: number) => servers.find((s) => s.attributes['url.query'] === `pipe=${tag}&n=${n}`)!.attributes['http.response.status_code'];
  assert.deepEqual([status(0), status(1), status(2)], [200, 201, 404]);
  // s_client is the client side of the same three exchanges.
  await receiver.waitFor((spans) => spans.filter((s) => mine(s) && s.kind === 'CLIENT').length >= 3, 10_000);
});

test('a 5xx response makes a SERVER span with ERROR status', async () => {
  const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/status/500?${tag}-500`]);
  assert.equal((await curl.exited).code, 0);
  const mine = (s: ReceivedSpan) => s.attributes['url.query'] === `${tag}-500`;
  await receiver.waitFor((spans) => spans.filter(mine).length >= 2, 15_000);
  const server = receiver.spans.find((s) => mine(s) && s.kind === 'SERVER')!;
  const client = receiver.spans.find((s) => mine(s) && s.kind === 'CLIENT')!;
  assert.equal(server.status.code, 'ERROR');
  assert.equal(server.attributes['error.type'], '500');
  assert.equal(client.status.code, 'ERROR');
});

test('collector down when the agent starts, up 10 s later: spans made in between arrive', async () => {
  const port = await getFreePort();
  const late = await startAgent(['--otlp-endpoint', `http://127.0.0.1:${port}`]);
  let lateReceiver: OtlpReceiver | undefined;
  try {
    const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/late/${tag}`]);
    assert.equal((await curl.exited).code, 0);
    await sleep(10_000);
    assert.equal(late.child.exitCode, null, 'the agent is still running');
    lateReceiver = await startOtlpReceiver({ port });
    await lateReceiver.waitFor((spans) => spans.filter(withPath(`/late/${tag}`)).length >= 2, 20_000);
    assert.equal(late.child.exitCode, null);
  } finally {
    await late.stop('SIGKILL');
    await lateReceiver?.stop();
  }
});

test('SIGTERM while spans are buffered: they are exported before exit, and the agent exits 0', async () => {
  const r2 = await startOtlpReceiver();
  const a2 = await startAgent(['--otlp-endpoint', r2.url]);
  try {
    const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/flush/${tag}`]);
    assert.equal((await curl.exited).code, 0);
    await sleep(100); // captured, but not yet exported: the batch delay is 1 s
    const t0 = Date.now();
    const { code } = await a2.stop('SIGTERM');
    assert.equal(code, 0, a2.stderr());
    assert.ok(Date.now() - t0 < 10_000);
    const spans = r2.spans.filter(withPath(`/flush/${tag}`));
    assert.equal(spans.length, 2, a2.stderr());
    assert.match(a2.stderr(), /stopped: detached \d+ probes/);
  } finally {
    await a2.stop('SIGKILL');
    await r2.stop();
  }
});

test('TLSOTEL_CPU_PROFILE: the agent writes a V8 CPU profile of its run when it stops', async () => {
  const file = `/tmp/tlsotel-profile-${tag}.cpuprofile`;
  fs.rmSync(file, { force: true });
  const a3 = await startAgent(['--otlp-endpoint', receiver.url], { TLSOTEL_CPU_PROFILE: file });
  try {
    const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/profiled/${tag}`]);
    assert.equal((await curl.exited).code, 0);
    const { code } = await a3.stop('SIGINT');
    assert.equal(code, 0, a3.stderr());
    assert.match(a3.stderr(), /CPU profile written to /);
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: unknown[]; samples: unknown[] };
    assert.ok(profile.nodes.length > 1 && profile.samples.length > 0, 'a profile with samples');
  } finally {
    await a3.stop('SIGKILL');
    fs.rmSync(file, { force: true });
  }
});

/** The nice value of every thread of process `pid` (field 19 of /proc/PID/task/TID/stat). */
function threadNice(pid: number): number[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

test('--nice 10 puts every thread of the agent at nice 10; by default its priority is left as it is', async () => {
  assert.equal(os.getPriority(agent.pid), os.getPriority(process.pid), 'default: the priority it was started with');
  const a10 = await startAgent(['--otlp-endpoint', receiver.url, '--nice', '10']);
  try {
    assert.equal(os.getPriority(a10.pid), 10, 'the main thread');
    const nice = threadNice(a10.pid);
    assert.ok(nice.length >= 5, `node's threads: ${nice.length}`);
    assert.deepEqual(nice, nice.map(() => 10), 'V8 and libuv threads started before the flag was applied too');
    // Still traces: the flag changes when it runs, not what it sees.
    const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${nginx.port}/nice10/${tag}`]);
    assert.equal((await curl.exited).code, 0);
    await receiver.waitFor((spans) => spans.some((s) => s.attributes['url.path'] === `/nice10/${tag}` && s.kind === 'SERVER'), 15_000);
  } finally {
    await a10.stop('SIGKILL');
  }
});

test('run restarts itself with node --single-threaded-gc, keeping its pid and arguments; TLSOTEL_SINGLE_THREADED_GC=0 keeps node as started', async () => {
  const cmdline = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const argv = cmdline(agent.pid);
  assert.ok(argv.includes('--single-threaded-gc'), argv.join(' '));
  assert.ok(argv.includes('--otlp-endpoint') && argv.includes(receiver.url), 'its own arguments kept');
  assert.equal(argv.filter((a) => a === '--single-threaded-gc').length, 1, 'once');
  assert.doesNotMatch(agent.stderr(), /running without --single-threaded-gc/);
  // Only V8's own threads besides the main one do no garbage collection now: nothing to count
  // here but the flag; bench/README.md has what it changes.
  const plain = await startAgent(['--otlp-endpoint', receiver.url], { TLSOTEL_SINGLE_THREADED_GC: '0' });
  try {
    assert.ok(!cmdline(plain.pid).includes('--single-threaded-gc'), cmdline(plain.pid).join(' '));
  } finally {
    await plain.stop('SIGKILL');
  }
});

test('a backlog of a quarter of the ring gives the agent normal priority until it has drained, then nice 10 again', async () => {
  // A 64 KiB ring and the agent stopped while a 48 KiB POST crosses it: when it resumes, its
  // first poll finds the ring well past a quarter full. (Other programs on this host use TLS
  // too and may boost it before: only what it logs after the resume counts.) --keep-bodies: the
  // body must cross the ring, not be counted in BPF.
  const a = await startAgent(['--otlp-endpoint', receiver.url, '--ring-buffer-size', '64k', '--nice', '10', '--keep-bodies', '-v']);
  const after = async (from: number, re: RegExp): Promise<number> => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(20)) {
      const m = re.exec(a.stderr().slice(from));
      if (m) return from + m.index + m[0].length;
    }
    throw new Error(`no ${re} in the agent's log after offset ${from}:\n${a.stderr().slice(from)}`);
  };
  try {
    process.kill(a.pid, 'SIGSTOP');
    const stoppedAt = a.stderr().length;
    const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', '--data-binary', '@-', `https://127.0.0.1:${nginx.port}/backlog/${tag}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    curl.child.stdin?.end(Buffer.alloc(48 * 1024, 0x61));
    await curl.exited;
    process.kill(a.pid, 'SIGCONT');
    const boosted = await after(stoppedAt, /backlog \d+% full \(ring or export queue\): nice 0 until it drains/);
    await after(boosted, /backlog drained: nice 10 again/);
    const nice = threadNice(a.pid);
    // Unless the host's other TLS traffic boosted it again in between.
    if (!/nice 0 until it drains/.test(a.stderr().slice(boosted))) assert.deepEqual(nice, nice.map(() => 10), 'every thread back at 10');
  } finally {
    process.kill(a.pid, 'SIGCONT');
    await a.stop('SIGKILL');
  }
});
