// V8's profilers for this process, through the inspector: as `node --cpu-prof`, but started
// and stopped by the caller. `--cpu-prof` cannot be used for the agent: its SIGPROF ticks
// interrupt the BPF verifier, which then fails the load with EAGAIN. Profiling slows
// everything down; its numbers are for finding where time (or memory) goes, not results.
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';

export interface Profiler {
  /** Stops profiling and returns the profile (`.cpuprofile` or `.heapprofile` JSON object). */
  stop(): Promise<unknown>;
}

type Post = (method: string, params?: object) => Promise<unknown>;

function session(): { post: Post; close(): void } {
  const s = new inspector.Session();
  s.connect();
  const post: Post = (method, params) =>
    new Promise((resolve, reject) => s.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  return { post, close: () => s.disconnect() };
}

/** The sampling CPU profiler (a `.cpuprofile`). */
export async function startCpuProfiler(samplingIntervalUs = 200): Promise<Profiler> {
  const { post, close } = session();
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      close();
      return profile;
    },
  };
}

/** The sampling heap profiler, counting what is allocated whether or not it is collected since
 *  (a `.heapprofile`: bytes allocated by stack, about one sample per `intervalBytes`). */
export async function startAllocationSampler(intervalBytes = 4096): Promise<Profiler> {
  const { post, close } = session();
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', {
    samplingInterval: intervalBytes,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop() {
      const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
      close();
      return profile;
    },
  };
}

/** Stops `profiler` and writes its profile to `file`. */
export async function writeProfile(profiler: Profiler, file: string): Promise<void> {
  fs.writeFileSync(file, JSON.stringify(await profiler.stop()));
}
