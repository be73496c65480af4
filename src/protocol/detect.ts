// Which protocol a connection speaks, from the first bytes seen on it (either direction). One
// entry per protocol: adding one is a folder under src/protocol/ and a line in PROTOCOLS.
import { http2Detector } from './http2/index';
import type { Direction, ProtocolName, SessionFactory } from './session';
import { http1 } from './http1/session';

export const enum Verdict {
  /** These bytes cannot start this protocol. */
  No,
  /** Not enough bytes to say: ask again with more. */
  Maybe,
  /** This protocol. */
  Yes,
}

export interface ProtocolDetector {
  protocol: ProtocolName;
  /** Judges `head`, the first bytes seen in direction `dir` (at most DETECT_BYTES). */
  detect(dir: Direction, head: Buffer): Verdict;
  create: SessionFactory;
}

/** Most bytes of a direction a detector is shown before it must decide. */
export const DETECT_BYTES = 64;

/** In order: the first to say Yes wins, once every one before it has said Yes or No. */
export const PROTOCOLS: readonly ProtocolDetector[] = [http2Detector, http1];

export type Detection = ProtocolDetector | Verdict.Maybe | Verdict.No;

/** The protocol of a connection whose first bytes in `dir` are `head`: a detector, Maybe (show
 *  more bytes, unless there are DETECT_BYTES already), or No (none of ours). A detector's Yes
 *  waits while one before it says Maybe: the client preface cut after "PRI * " is a request
 *  line to the HTTP/1 detector, and only more bytes tell them apart. */
export function detect(dir: Direction, head: Buffer): Detection {
  let maybe = false;
  let first: ProtocolDetector | undefined;
  for (const p of PROTOCOLS) {
    const v = p.detect(dir, head);
    if (v === Verdict.Yes) {
      if (!maybe) return p;
      first ??= p;
    }
    if (v === Verdict.Maybe) maybe = true;
  }
  if (maybe && head.length < DETECT_BYTES) return Verdict.Maybe;
  return first ?? Verdict.No;
}
