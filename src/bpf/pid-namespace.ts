// Which PID namespace the agent runs in. BPF sees the host's pids; an agent in its own PID
// namespace (a sidecar with shareProcessNamespace, a container) sees that namespace's in /proc,
// and the pids it is given (--pid) are that namespace's. The BPF side then reports and compares
// pids as seen from the namespace (bpf_get_ns_current_pid_tgid), given its device and inode.
import { statSync } from 'node:fs';

/** The initial (host) PID namespace's inode: PROC_PID_INIT_INO in the kernel. */
const HOST_PIDNS_INO = 0xeffffffc;

export interface PidNamespace {
  dev: number;
  ino: number;
}

/** The agent's PID namespace, or undefined when it is the host's (nothing to translate). */
export function ownPidNamespace(path = '/proc/self/ns/pid'): PidNamespace | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return undefined; // no /proc/self/ns (very old kernel, no /proc): assume the host's
  }
  if (st.ino === HOST_PIDNS_INO) return undefined;
  return { dev: st.dev, ino: st.ino };
}
