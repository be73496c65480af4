// What this process may do, from /proc/self/status (no libcap needed), and the one sentence per
// missing capability that says what it is needed for and how to grant it.
//
// The minimum, found by experiment on kernel 6.18 (kernel.perf_event_paranoid=2,
// kernel.unprivileged_bpf_disabled=2), running as an unprivileged user
// (test/deploy/least-privilege.test.ts):
// - CAP_SYS_ADMIN: a uprobe is a perf event of the "uprobe" PMU, and since the 2025 change
//   "perf: Revert to requiring CAP_SYS_ADMIN for uprobes" (upstream ba677dbe77af, backported to
//   the stable kernels) creating one needs CAP_SYS_ADMIN: CAP_PERFMON gets EACCES. CAP_SYS_ADMIN
//   also covers what CAP_BPF and CAP_PERFMON would allow (loading the programs, the raw
//   tracepoint, the maps and the ring buffer), so those two add nothing.
// - CAP_SYS_PTRACE: /proc/PID/exe and /proc/PID/root of other users' processes are behind the
//   kernel's ptrace access check (/proc/PID/maps and environ also pass it with CAP_SYS_ADMIN,
//   through the CAP_PERFMON exception of mm_access).
// - CAP_DAC_READ_SEARCH: /proc/PID/environ is mode 0400 of the process's owner, and library
//   files inside containers or in directories the agent's user may not enter are opened and
//   named to the kernel through paths it could not walk.
import { readFileSync } from 'node:fs';

export const CAP_DAC_READ_SEARCH = 2;
/** Optional: resuming processes of other users held at a new file (README, Discovery); without
 *  it the agent holds only processes of its own uid. */
export const CAP_KILL = 5;
export const CAP_SYS_PTRACE = 19;
export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

/** What each needed capability is for, and how to grant it: the only text about capabilities. */
export const REQUIRED_CAPS: ReadonlyArray<{ cap: number; name: string; why: string }> = [
  {
    cap: CAP_SYS_ADMIN,
    name: 'CAP_SYS_ADMIN',
    why: 'to create uprobes (perf events of the uprobe PMU: CAP_BPF and CAP_PERFMON are not enough since the 2025 kernels) and load the BPF programs',
  },
  {
    cap: CAP_SYS_PTRACE,
    name: 'CAP_SYS_PTRACE',
    why: "to follow /proc/PID/exe and /proc/PID/root of other users' processes (their executable, and the TLS libraries inside their containers)",
  },
  {
    cap: CAP_DAC_READ_SEARCH,
    name: 'CAP_DAC_READ_SEARCH',
    why: "to read other users' /proc/PID/environ (their OTEL_SERVICE_NAME) and TLS library files in directories its user may not enter",
  },
];

const HOW_TO_GRANT =
  'run tlsotel as root, or grant it (setpriv/capsh --ambient-caps, setcap on the node binary, or the securityContext capabilities in Kubernetes)';

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

/** One sentence per needed capability that caps lacks, in REQUIRED_CAPS order; empty when all are there. */
export function missingCapabilities(caps = effectiveCaps()): Array<{ name: string; sentence: string }> {
  return REQUIRED_CAPS.filter((c) => !hasCap(caps, c.cap)).map((c) => ({
    name: c.name,
    sentence: `tlsotel needs ${c.name} ${c.why}: ${HOW_TO_GRANT}`,
  }));
}

/** Null when everything the agent does is allowed, else one line per missing capability. */
export function bpfPermissionProblem(caps = effectiveCaps()): string | null {
  const missing = missingCapabilities(caps);
  return missing.length ? missing.map((m) => m.sentence).join('\n') : null;
}

/**
 * The security-module label confining this process (AppArmor's profile, SELinux's domain), or
 * undefined when it is not confined: no module (reading /proc/self/attr/current fails), or an
 * unconfined label ("unconfined", SELinux's *unconfined*_t), or a profile in complain mode. A
 * confined agent may be refused signals to processes outside its profile (Docker's default
 * AppArmor profile: only its own peers), though a signal the BPF side sends is not checked.
 */
export function confinement(read: () => string = () => readFileSync('/proc/self/attr/current', 'latin1')): string | undefined {
  let label: string;
  try {
    label = read().replace(/\0/g, '').trim();
  } catch {
    return undefined;
  }
  if (label === '' || /unconfined/.test(label) || /\(complain\)$/.test(label)) return undefined;
  return label;
}
