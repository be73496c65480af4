// tlsotel → Jaeger, for real: the agent exports over OTLP/gRPC straight to a Jaeger v2 binary
// (otel-config/jaeger.yaml: OTLP receiver, in-memory storage, query API); curl → nginx over
// HTTPS on loopback; the trace is read back through Jaeger's own query APIs.
// Fails (never skips) without root or without the Jaeger binary (scripts/install-test-deps.sh).
import test, { after, before } from 'node:test';
import { makeCert, requireRoot, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';
import { jaegerBinary, startJaeger, type Jaeger } from './jaeger-process';
import { assertExchangeSpans, assertUiTrace, curlOnce, waitForExchange } from './exchange-in-jaeger';

let jaeger: Jaeger;
let agent: Proc;
let nginx: Nginx;
const tag = `j${process.pid}`;

before(async () => {
  requireRoot();
  jaegerBinary();
  nginx = await startNginx(makeCert());
  jaeger = await startJaeger();
  // Jaeger takes spans only (its OTLP receiver has no metrics service): as the README says.
  agent = await startAgent(['--otlp-endpoint', jaeger.otlpUrl], { OTEL_METRICS_EXPORTER: 'none' });
});

after(async () => {
  await agent?.stop('SIGKILL');
  await nginx?.stop('SIGTERM');
  await jaeger?.stop('SIGTERM');
});

test('curl → nginx, 200: one trace in Jaeger, the nginx SERVER span a child of the curl CLIENT span', async () => {
  const ex = await curlOnce(nginx, `/jaeger/${tag}/ok`, 200);
  const { client, server, trace } = await waitForExchange(jaeger.queryUrl, ex);
  assertExchangeSpans(ex, client, server, trace);
  await assertUiTrace(jaeger.queryUrl, ex, client, server);
});

test('curl → nginx, 404: an error on the CLIENT span only', async () => {
  const ex = await curlOnce(nginx, `/status/404?t=${tag}`, 404);
  const { client, server, trace } = await waitForExchange(jaeger.queryUrl, ex);
  assertExchangeSpans(ex, client, server, trace);
  await assertUiTrace(jaeger.queryUrl, ex, client, server);
});
