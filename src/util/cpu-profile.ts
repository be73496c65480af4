// The V8 sampling profiler of this process through the inspector: as `node --cpu-prof`, but
// started and stopped by the caller. `--cpu-prof` cannot be used for the agent: its SIGPROF
// ticks interrupt the BPF verifier, which then fails the load with EAGAIN. Profiling slows
// everything down; its numbers are for finding where time goes, not results.
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';

export interface CpuProfiler {
  /** Stops profiling and returns the profile (the `.cpuprofile` JSON object). */
  stop(): Promise<unknown>;
}

export async function startCpuProfiler(samplingIntervalUs = 200): Promise<CpuProfiler> {
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      return profile;
    },
  };
}

/** Stops `profiler` and writes its profile to `file`. */
export async function writeCpuProfile(profiler: CpuProfiler, file: string): Promise<void> {
  fs.writeFileSync(file, JSON.stringify(await profiler.stop()));
}
