// Whether this process runs in the host's PID namespace. The BPF side sees every process on the
// host and names it by its host PID; an agent in a PID namespace of its own (a Kubernetes
// sidecar with shareProcessNamespace, a container without hostPID) reads /proc of its own
// namespace, where those PIDs mean other processes or none. It must say so.
import { readlinkSync } from 'node:fs';

/** The inode of the initial PID namespace: a constant of the kernel (PROC_PID_INIT_INO). */
const INIT_PID_NS = 'pid:[4026531836]';

/** 'host', 'own' (a PID namespace of its own), or 'unknown' (no /proc/self/ns/pid). */
export function pidNamespace(link = '/proc/self/ns/pid'): 'host' | 'own' | 'unknown' {
  let ns: string;
  try {
    ns = readlinkSync(link);
  } catch {
    return 'unknown'; // /proc without ns links (very old kernels): nothing to say
  }
  return ns === INIT_PID_NS ? 'host' : 'own';
}

/** The sentence for an agent outside the host's PID namespace. */
export const OWN_PID_NAMESPACE_WARNING =
  "tlsotel runs in a PID namespace of its own (a sidecar, or a container without hostPID): its probes still see every process on the host that uses the same library files, exchanges of processes outside its namespace are exported too, and their process attributes may be missing or another process's; run it in the host's PID namespace (hostPID: true, the DaemonSet)";
