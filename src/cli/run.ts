// `tlsotel run`: the agent (src/agent) until SIGINT/SIGTERM; then it flushes what is buffered,
// detaches every probe, and exits 0.
import { Agent } from '../agent/agent';
import type { RunConfig } from '../config';
import { startCpuProfiler, writeProfile } from '../util/profiler';
import type { Logger } from '../util/log';
import { untilSignal } from './signals';

export interface RunOptions extends RunConfig {
  log: Logger;
}

export async function run(opts: RunOptions): Promise<number> {
  const stopped = untilSignal(); // before anything slow: a signal during start-up still stops cleanly
  const log = opts.log;
  const config = opts.export;
  const agent = Agent.start({
    capture: opts,
    tracing: {
      export: config,
      metrics: opts.metrics,
      ...(opts.red !== undefined ? { red: opts.red } : {}),
      ...(opts.sampling !== undefined ? { sampling: opts.sampling } : {}),
      redaction: opts.redaction,
      stitch: opts.stitch,
      responseTimeoutMs: opts.responseTimeoutMs,
      attributeValueLengthLimit: opts.attributeValueLengthLimit,
      resourceAttributes: opts.resourceAttributes,
      statsIntervalMs: opts.statsIntervalMs,
      verbose: opts.verbose,
    },
    log,
  });
  const where = config.mode === 'otlp' ? `spans to ${config.endpoint} (OTLP/gRPC)` : config.mode === 'console' ? 'spans to stdout' : 'spans discarded (OTEL_TRACES_EXPORTER=none)';
  const libs = [...new Set(agent.files.map((f) => f.library))].join(', ') || 'none yet';
  log.info(`ready: tracing ${agent.files.length} file(s) (${libs}); ${where}`);
  // For finding where the agent's CPU goes (bench/README.md): a V8 profile from ready to stop.
  const profileFile = opts.cpuProfile;
  const profiler = profileFile ? await startCpuProfiler() : undefined;

  const signal = await stopped;
  log.info(`${signal}: stopping`);
  if (profiler !== undefined) {
    await writeProfile(profiler, profileFile!).then(
      () => log.info(`CPU profile written to ${profileFile}`),
      (e: Error) => log.warn(`cannot write the CPU profile to ${profileFile}: ${e.message}`),
    );
  }
  const links = await agent.stop();
  const s = agent.stats().sink;
  const discarded = s.discarded > 0 ? `, ${s.discarded} discarded (OTEL_TRACES_EXPORTER=none)` : '';
  log.info(`stopped: detached ${links} probes; ${agent.stats().exchanges.exchanges} exchanges, ${s.exported} spans exported, ${s.dropped + s.failed} not exported${discarded}`);
  return 0;
}
