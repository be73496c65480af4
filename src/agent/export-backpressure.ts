// When the ring drain waits for the exporter (bench/README.md, "what was tried").
//
// A drain that falls behind (the agent descheduled on a busy host, a burst) builds spans far
// faster than any exporter sends them, and the export queue drops them. So while the queue is
// three quarters full, records wait in the ring instead. But only while the ring has room: a
// record lost to a full ring is worse than a span dropped at the queue — it leaves a gap in its
// stream, which costs the exchanges around it, and on an HTTP/2 connection every later one
// (HPACK's table is lost with it). From half full on, the ring is drained whatever the queue
// holds: if the exporter is slower than the traffic for good, whole spans are dropped (and
// counted) at the queue, not bytes at the ring.
//
// And only while the exporter makes progress: a collector that hangs or is down empties no
// queue, and holding records for it would only delay everything else built from them (RED
// metrics, process exits) until the ring is half full — hours on a quiet host. When no export
// has completed (accepted or failed) for EXPORT_STALL_MS while spans wait, the drain goes on
// and spans past the queue are dropped and counted, as without the wait.

/** Export queue fill (0..1) from which the drain waits. */
export const EXPORT_PAUSE_AT = 3 / 4;
/** Ring fill (0..1) from which the drain goes on regardless. */
export const RING_OVERRIDE_AT = 1 / 2;

/** No export completed for this long while spans wait: the exporter is stalled, not slow. */
export const EXPORT_STALL_MS = 2000;

/** Whether to drain now, given how full the export queue and the ring are (0..1 each) and
 *  whether the exporter is stalled. */
export function mayDrain(exportFill: number, ringFill: number, exporterStalled = false): boolean {
  return exportFill < EXPORT_PAUSE_AT || ringFill >= RING_OVERRIDE_AT || exporterStalled;
}

/** Tells a stalled exporter from a slow one by when its completed exports last changed. */
export class ExportProgress {
  private completed = -1;
  private changedAt = 0;

  constructor(private readonly stallMs = EXPORT_STALL_MS) {}

  /** `completed`: spans the exporter has finished with (exported + failed), at `nowMs`. */
  stalled(completed: number, nowMs: number): boolean {
    if (completed !== this.completed) {
      this.completed = completed;
      this.changedAt = nowMs;
      return false;
    }
    return nowMs - this.changedAt >= this.stallMs;
  }
}
