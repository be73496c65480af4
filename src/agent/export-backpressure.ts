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

/** Export queue fill (0..1) from which the drain waits. */
export const EXPORT_PAUSE_AT = 3 / 4;
/** Ring fill (0..1) from which the drain goes on regardless. */
export const RING_OVERRIDE_AT = 1 / 2;

/** Whether to drain now, given how full the export queue and the ring are (0..1 each). */
export function mayDrain(exportFill: number, ringFill: number): boolean {
  return exportFill < EXPORT_PAUSE_AT || ringFill >= RING_OVERRIDE_AT;
}
