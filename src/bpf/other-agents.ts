// Is another tlsotel agent running on this host? Two agents attach the same probes and export
// every exchange twice. A second agent may be intended (a test beside a DaemonSet), so this is
// a warning, not an error. Looked up in the kernel's list of loaded BPF programs, which every
// PID namespace and container shares: a program with our raw-tracepoint program's name is
// another agent (or a `sniff`, or a `doctor` in the middle of its check). Needs CAP_SYS_ADMIN
// (BPF_PROG_GET_NEXT_ID); without it, the answer is unknown rather than "none".
import { errnoText, libbpf } from './libbpf';

/** Our programs' names as the kernel keeps them (BPF_OBJ_NAME_LEN: 15 characters). The
 *  sys_enter raw tracepoint is the one name no other tool is likely to share. */
export const AGENT_PROGRAM_NAME = 'tls_sys_enter';

// struct bpf_prog_info (linux/bpf.h): type at 0, id at 4, name[16] at 64. Only the fields up
// to the name are asked for; the kernel copies min(info_len, its size).
const INFO_LEN = 80;
const INFO_ID = 4;
const INFO_NAME = 64;
const NAME_LEN = 16;
const ENOENT = 2;

export interface LoadedProgram {
  id: number;
  name: string;
}

/** Every BPF program loaded on the host (id and name). Throws an Error naming the operation
 *  when the list cannot be read (EPERM without CAP_SYS_ADMIN). Programs unloaded while the list
 *  is walked are skipped. */
export function loadedPrograms(): LoadedProgram[] {
  const lb = libbpf();
  const out: LoadedProgram[] = [];
  const next = Buffer.alloc(4);
  const info = Buffer.alloc(INFO_LEN);
  const len = Buffer.alloc(4);
  let id = 0;
  for (;;) {
    const rc = lb.bpf_prog_get_next_id(id, next);
    if (rc < 0) {
      if (-rc === ENOENT) break;
      throw new Error(`bpf_prog_get_next_id: ${errnoText(rc)}`);
    }
    id = next.readUInt32LE(0);
    const fd = lb.bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue; // unloaded meanwhile
    try {
      info.fill(0);
      len.writeUInt32LE(INFO_LEN, 0);
      if (lb.bpf_obj_get_info_by_fd(fd, info, len) !== 0) continue;
      const raw = info.subarray(INFO_NAME, INFO_NAME + NAME_LEN);
      const end = raw.indexOf(0);
      out.push({ id: info.readUInt32LE(INFO_ID), name: raw.toString('latin1', 0, end < 0 ? NAME_LEN : end) });
    } finally {
      lb.close(fd);
    }
  }
  return out;
}

/** Ids of the loaded programs that belong to another tlsotel agent (call before loading ours),
 *  or an Error saying why the list cannot be read. */
export function otherAgentPrograms(): number[] | Error {
  try {
    return loadedPrograms().filter((p) => p.name === AGENT_PROGRAM_NAME).map((p) => p.id);
  } catch (e) {
    return e as Error;
  }
}
