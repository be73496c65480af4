// Which spans are kept: OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as every OpenTelemetry
// SDK reads them, plus --keep-errors and --keep-slower-than (src/trace/sampler.ts). With none of
// them, every span is kept (no sampler at all: nothing to decide per span).
import { SAMPLER_NAMES, type SamplerName, type SamplingConfig } from '../trace/sampler';
import type { Environment } from './environment';
import type { Flags } from './commands';
import { duration, fromFlag } from './values';

/** A ratio from 0 to 1 ("0.1", "1", ".5"). */
function ratioOf(raw: string): number | undefined {
  if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(raw.trim())) return undefined;
  const n = Number(raw.trim());
  return n >= 0 && n <= 1 ? n : undefined;
}

export function resolveSamplingConfig(flags: Flags, env: Environment, warnings: string[]): SamplingConfig | undefined {
  const keepErrors = flags['keep-errors'] === true;
  const keepSlowerThanMs = fromFlag(duration, 'keep-slower-than', flags['keep-slower-than']);
  let sampler: SamplerName | undefined;
  const raw = env.OTEL_TRACES_SAMPLER?.toLowerCase();
  if (raw !== undefined) {
    if ((SAMPLER_NAMES as readonly string[]).includes(raw)) sampler = raw as SamplerName;
    else warnings.push(`OTEL_TRACES_SAMPLER="${env.OTEL_TRACES_SAMPLER}" is not one of ${SAMPLER_NAMES.join(', ')}; every span is kept`);
  }
  let ratio = 1;
  if (env.OTEL_TRACES_SAMPLER_ARG !== undefined && (sampler === 'traceidratio' || sampler === 'parentbased_traceidratio')) {
    const r = ratioOf(env.OTEL_TRACES_SAMPLER_ARG);
    if (r === undefined) warnings.push(`OTEL_TRACES_SAMPLER_ARG="${env.OTEL_TRACES_SAMPLER_ARG}" is not a ratio from 0 to 1; using the default (1)`);
    else ratio = r;
  }
  if (sampler === undefined) {
    // Every span is kept anyway: --keep-* have nothing to add to.
    if (keepErrors || keepSlowerThanMs !== undefined) warnings.push('--keep-errors and --keep-slower-than act only with a sampler (OTEL_TRACES_SAMPLER); every span is kept');
    return undefined;
  }
  const config: SamplingConfig = { sampler, ratio, keepErrors };
  if (keepSlowerThanMs !== undefined) config.keepSlowerThanMs = keepSlowerThanMs;
  return config;
}
