// What this process may do with BPF, from /proc/self/status (no libcap needed).
import { readFileSync } from 'node:fs';

export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

export function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n; // no /proc: treat as no capabilities, the check then says what is missing
  }
}

export function hasCap(caps: bigint, cap: number): boolean {
  return ((caps >> BigInt(cap)) & 1n) === 1n;
}

/** Null when loading BPF programs and attaching uprobes is allowed, else why not. */
export function bpfPermissionProblem(caps = effectiveCaps()): string | null {
  if (hasCap(caps, CAP_SYS_ADMIN)) return null;
  if (hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON)) return null;
  const missing = [CAP_BPF, CAP_PERFMON].filter((c) => !hasCap(caps, c)).map((c) => (c === CAP_BPF ? 'CAP_BPF' : 'CAP_PERFMON'));
  return `tlsotel needs root, or the capabilities ${missing.join(' and ')} (missing here): run it with sudo, or grant them with setcap/securityContext`;
}
