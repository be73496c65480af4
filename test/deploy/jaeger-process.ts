// Runs the real Jaeger v2 binary (built by scripts/build-jaeger.sh, which
// scripts/install-test-deps.sh calls) with one of the shipped configurations from otel-config/,
// every address on a free loopback port given through the configuration's ${env:…} variables.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { getFreePort } from '../helpers/otlp-receiver';
import { ROOT, start, type Proc } from '../helpers/procs';
import { poll } from './jaeger-query';

export const OTEL_CONFIG = path.join(ROOT, 'otel-config');

/** The cached binary's path, from the build script itself so that both agree. Throws, with how
 *  to fix it, when it has not been built: the deployment tests fail rather than skip. */
export function jaegerBinary(): string {
  const bin = execFileSync('bash', [path.join(ROOT, 'scripts/build-jaeger.sh'), '--path'], { encoding: 'utf8' }).trim();
  if (!existsSync(bin)) {
    throw new Error(`Jaeger is not built (${bin} is missing): run ./scripts/install-test-deps.sh (or scripts/build-jaeger.sh) first`);
  }
  return bin;
}

/** Starts `jaeger --config FILE` with the given variables and waits until every component has
 *  started (the collector's own "Everything is ready" log line). */
export async function startJaegerBinary(config: string, env: Record<string, string>): Promise<Proc> {
  const p = start(jaegerBinary(), ['--config', config], { env: { ...process.env, ...env } });
  await p.waitFor(/Everything is ready/, 'stderr', 60_000);
  return p;
}

export interface Jaeger extends Proc {
  /** http://127.0.0.1:PORT: where OTLP/gRPC goes (tlsotel's --otlp-endpoint). */
  otlpUrl: string;
  /** host:port of the same, as a collector's otlp exporter names it. */
  otlpEndpoint: string;
  /** http://127.0.0.1:PORT: the UI, /api/traces and /api/v3. */
  queryUrl: string;
}

/** Jaeger all-in-one with in-memory storage: otel-config/jaeger.yaml. */
export async function startJaeger(): Promise<Jaeger> {
  const [grpc, http, ui, queryGrpc] = [await getFreePort(), await getFreePort(), await getFreePort(), await getFreePort()];
  const p = await startJaegerBinary(path.join(OTEL_CONFIG, 'jaeger.yaml'), {
    JAEGER_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
    JAEGER_OTLP_HTTP_ENDPOINT: `127.0.0.1:${http}`,
    JAEGER_UI_ENDPOINT: `127.0.0.1:${ui}`,
    JAEGER_QUERY_GRPC_ENDPOINT: `127.0.0.1:${queryGrpc}`,
    JAEGER_MAX_TRACES: '20000',
  });
  const queryUrl = `http://127.0.0.1:${ui}`;
  // The query server's listener is serving once /api/services answers.
  await poll('Jaeger query API', 10_000, async () => ((await fetch(`${queryUrl}/api/services`).catch(() => undefined))?.ok ? true : undefined));
  return Object.assign(p, {
    otlpUrl: `http://127.0.0.1:${grpc}`,
    otlpEndpoint: `127.0.0.1:${grpc}`,
    queryUrl,
  });
}
