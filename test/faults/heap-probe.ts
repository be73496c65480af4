// Preloaded into the agent by the fault tests (node --expose-gc -r heap-probe.js main.js run …):
// on SIGUSR2, collect garbage and write one line with the live JS heap on stderr, so a test can
// tell retained state (connections, exchanges) from garbage the GC has not reclaimed yet. It
// changes nothing else; loaded on its own (e.g. by a test runner) it does nothing visible.
export {};

let seq = 0;
const gc = (globalThis as { gc?: () => void }).gc;
process.on('SIGUSR2', () => {
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  process.stderr.write(`heap-probe ${++seq} used=${m.heapUsed} external=${m.external} rss=${m.rss} gc=${gc ? 'yes' : 'no'}\n`);
});
