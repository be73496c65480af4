// With no endpoint configured, `run` prints spans to stdout and, every
// OTEL_METRIC_EXPORT_INTERVAL, a compact per-route table of what changed: checked against a load
// of curl requests to the node example server (a service name of its own, read by the agent from
// the process's environment; other programs on this host use TLS too).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makeCert, requireRoot, start, startHttpsServer, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';

let agent: Proc;
let node: Proc & { port: number };
const service = `tbl${process.pid}`;

before(async () => {
  requireRoot();
  const cert = makeCert();
  node = await startHttpsServer(cert, '127.0.0.1', { ...process.env, OTEL_SERVICE_NAME: service });
  agent = await startAgent([], { OTEL_METRIC_EXPORT_INTERVAL: '1000' });
});

after(async () => {
  await agent?.stop('SIGKILL');
  await node?.stop('SIGKILL');
});

test('no collector: a per-route table on stdout every interval, counts per route and status', async () => {
  const paths = [...Array<string>(5).fill('/status/200'), ...Array<string>(3).fill('/status/503'), '/items/7', '/items/8'];
  const curl = start('curl', ['-sk', '--http1.1', ...paths.flatMap((p) => ['-o', '/dev/null', `https://127.0.0.1:${node.port}${p}`])]);
  assert.equal((await curl.exited).code, 0, curl.stderr());
  const row = (route: string, status: string, count: number, errors: number) =>
    new RegExp(`^${service}\\[${node.pid}\\]\\s+server\\s+GET ${route.replace(/[{}]/g, '\\$&')}\\s+${status}\\s+${count}\\s+${errors}\\s+\\d+\\.\\d\\d$`, 'm');
  await agent.waitFor(row('/items/{id}', '200', 2, 0), 'stdout', 20_000);
  const out = agent.stdout();
  assert.match(out, row('/status/{id}', '200', 5, 0));
  assert.match(out, row('/status/{id}', '503', 3, 3));
  assert.match(out, /^metrics, last 1 s:\nPROCESS\s+SIDE\s+ROUTE\s+STATUS\s+COUNT\s+ERRORS\s+MEAN_MS$/m);
  // The spans are there too, one line each (the embedded default).
  assert.ok(out.split('\n').filter((l) => l.includes(`:${node.port}`) || l.includes('/status/503')).length >= 3, out.slice(-2000));
});
