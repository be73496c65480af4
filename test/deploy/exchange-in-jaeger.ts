// One HTTPS exchange, curl → nginx on loopback, made by the test, and the checks that its two
// spans arrived in Jaeger as one trace: the CLIENT span (service curl, the test's own curl pid)
// is the root, the SERVER span (service nginx) its child, each with its attributes and status.
// Shared by the deployment tests, whichever way the spans travelled.
import assert from 'node:assert/strict';
import { start } from '../helpers/procs';
import type { Nginx } from '../helpers/nginx';
import { findTraces, getTrace, getUiTrace, poll, type StoredSpan } from './jaeger-query';

export interface Exchange {
  /** Path and query, as requested. */
  target: string;
  path: string;
  status: number;
  curlPid: number;
  /** curl's local port: the connection's client side. */
  clientPort: number;
  nginxPort: number;
  /** Just before curl started. */
  since: Date;
}

/** Runs curl once (HTTP/1.1 over TLS) and returns what identifies its exchange. */
export async function curlOnce(nginx: Nginx, target: string, status: number): Promise<Exchange> {
  const since = new Date();
  const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{local_port} %{http_code}', `https://127.0.0.1:${nginx.port}${target}`]);
  const { code } = await curl.exited;
  assert.equal(code, 0, `curl failed: ${curl.stderr()}`);
  const [clientPort, httpCode] = curl.stdout().trim().split(' ').map(Number);
  assert.equal(httpCode, status, `nginx answered ${target} with ${httpCode}`);
  assert.ok(clientPort > 0);
  return { target, path: target.split('?')[0], status, curlPid: curl.pid, clientPort, nginxPort: nginx.port, since };
}

/** Waits until Jaeger has the exchange's trace with both spans, and returns them. Other
 *  programs on this host make TLS requests too (the agent sees them all): the CLIENT span is
 *  found by the test's own curl pid, the SERVER span as its child. */
export async function waitForExchange(queryUrl: string, ex: Exchange, timeoutMs = 30_000): Promise<{ client: StoredSpan; server: StoredSpan; trace: StoredSpan[] }> {
  const client = await poll(`the CLIENT span of curl[${ex.curlPid}] ${ex.target} in Jaeger`, timeoutMs, async () =>
    (await findTraces(queryUrl, 'curl', ex.since)).find((s) => s.kind === 'CLIENT' && s.resource['process.pid'] === ex.curlPid));
  const trace = await poll(`the SERVER span under ${client.spanId} (curl[${ex.curlPid}] ${ex.target}) in Jaeger`, timeoutMs, async () => {
    const spans = await getTrace(queryUrl, client.traceId);
    return spans.some((s) => s.kind === 'SERVER' && s.parentSpanId === client.spanId) ? spans : undefined;
  });
  const server = trace.find((s) => s.kind === 'SERVER' && s.parentSpanId === client.spanId)!;
  return { client, server, trace };
}

/** Everything the two spans of one exchange must say, as Jaeger stored them. */
export function assertExchangeSpans(ex: Exchange, client: StoredSpan, server: StoredSpan, trace: StoredSpan[]): void {
  assert.equal(trace.length, 2, `the trace holds the exchange's two spans: ${trace.map((s) => `${s.kind} ${s.name}`).join(', ')}`);
  assert.equal(client.resource['service.name'], 'curl');
  assert.equal(client.resource['process.pid'], ex.curlPid);
  assert.equal(server.resource['service.name'], 'nginx');
  assert.equal(server.resource['process.executable.name'], 'nginx');
  assert.equal(client.kind, 'CLIENT');
  assert.equal(server.kind, 'SERVER');
  assert.equal(server.traceId, client.traceId, 'one trace');
  assert.equal(server.parentSpanId, client.spanId, "the SERVER span's parent is the CLIENT span");
  assert.equal(client.parentSpanId, undefined, 'the CLIENT span is the root');
  for (const s of [client, server]) {
    assert.match(s.name, /^GET \//, `${s.kind} span name`);
    assert.equal(s.attributes['http.request.method'], 'GET');
    assert.equal(s.attributes['url.path'], ex.path);
    assert.equal(s.attributes['url.scheme'], 'https');
    assert.equal(s.attributes['http.response.status_code'], ex.status);
    assert.equal(s.attributes['server.address'], '127.0.0.1');
    assert.equal(s.attributes['server.port'], ex.nginxPort);
    assert.equal(s.attributes['client.address'], '127.0.0.1');
    assert.equal(s.attributes['client.port'], ex.clientPort);
    assert.equal(s.attributes['network.type'], 'ipv4');
    assert.equal(s.attributes['network.protocol.version'], '1.1');
  }
  assert.equal(client.attributes['url.full'], `https://127.0.0.1:${ex.nginxPort}${ex.target}`);
  assert.equal(client.attributes['network.peer.address'], '127.0.0.1');
  assert.equal(client.attributes['network.peer.port'], ex.nginxPort);
  assert.equal(client.attributes['network.local.port'], ex.clientPort);
  assert.equal(server.attributes['network.peer.address'], '127.0.0.1');
  assert.equal(server.attributes['network.peer.port'], ex.clientPort);
  assert.equal(server.attributes['network.local.port'], ex.nginxPort);
  // 4xx is the client's failure only; 5xx would be both sides'.
  const clientFailed = ex.status >= 400;
  const serverFailed = ex.status >= 500;
  assert.equal(client.status.code, clientFailed ? 'ERROR' : 'UNSET', 'CLIENT span status');
  assert.equal(server.status.code, serverFailed ? 'ERROR' : 'UNSET', 'SERVER span status');
  assert.equal(client.attributes['error.type'], clientFailed ? String(ex.status) : undefined);
  assert.equal(server.attributes['error.type'], serverFailed ? String(ex.status) : undefined);
}

/** The same trace as the UI shows it (/api/traces): two services, the SERVER span a CHILD_OF
 *  the CLIENT span, and the UI's error flag on the failed side only. */
export async function assertUiTrace(queryUrl: string, ex: Exchange, client: StoredSpan, server: StoredSpan): Promise<void> {
  const ui = await getUiTrace(queryUrl, client.traceId);
  assert.ok(ui, `/api/traces/${client.traceId} found`);
  assert.equal(ui.spans.length, 2);
  const uiClient = ui.spans.find((s) => s.spanID === client.spanId);
  const uiServer = ui.spans.find((s) => s.spanID === server.spanId);
  assert.ok(uiClient && uiServer, 'both spans, with the same ids');
  assert.equal(ui.processes[uiClient.processID].serviceName, 'curl');
  assert.equal(ui.processes[uiServer.processID].serviceName, 'nginx');
  assert.deepEqual(uiServer.references.map((r) => [r.refType, r.spanID]), [['CHILD_OF', client.spanId]]);
  assert.deepEqual(uiClient.references, []);
  const tag = (s: typeof uiClient, key: string) => s.tags.find((t) => t.key === key)?.value;
  assert.equal(tag(uiClient, 'span.kind'), 'client');
  assert.equal(tag(uiServer, 'span.kind'), 'server');
  assert.equal(tag(uiClient, 'error'), ex.status >= 400 ? true : undefined, 'the UI marks the CLIENT span failed for 4xx');
  assert.equal(tag(uiServer, 'error'), ex.status >= 500 ? true : undefined);
}
