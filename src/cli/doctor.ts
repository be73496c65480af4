// `tlsotel doctor`: checks, one line each, everything tlsotel needs, with the fix for each failure.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { CAP_KILL, confinement, effectiveCaps, hasCap, missingCapabilities, REQUIRED_CAPS } from '../util/caps';
import { libbpf } from '../bpf/libbpf';
import { surveyTlsFiles, tryLoadAndAttach } from '../agent/agent';
import type { RootReport } from '../agent/agent';
import { defaultObjectPath } from '../bpf/probes';
import { TLS_LIBRARIES, type UntraceableFile } from '../tls';
import type { Logger } from '../util/log';

type Status = 'ok' | 'warn' | 'fail';
interface Check { status: Status; name: string; detail: string }

const MIN_KERNEL: [number, number] = [5, 17]; // BPF ring buffer (5.8), uprobe attach cookies (5.15), bpf_loop (5.17)

export function doctor(log: Logger, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), binDirs?: string[], libraryRoots?: string[]): number {
  const checks: Check[] = [];
  const add = (status: Status, name: string, detail: string) => {
    checks.push({ status, name, detail });
    out(`[${status === 'ok' ? ' ok ' : status}] ${name}: ${detail}`);
  };

  const m = /^(\d+)\.(\d+)/.exec(release());
  const kv: [number, number] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  const kernelOk = kv[0] > MIN_KERNEL[0] || (kv[0] === MIN_KERNEL[0] && kv[1] >= MIN_KERNEL[1]);
  add(kernelOk ? 'ok' : 'fail', 'kernel', kernelOk ? release() : `${release()} is older than ${MIN_KERNEL.join('.')}; upgrade the kernel`);

  const btf = existsSync('/sys/kernel/btf/vmlinux');
  add(btf ? 'ok' : 'fail', 'BTF', btf ? '/sys/kernel/btf/vmlinux' : 'no /sys/kernel/btf/vmlinux: use a kernel built with CONFIG_DEBUG_INFO_BTF=y');

  // One line per capability, each saying what it is needed for (and, when missing, how to grant it).
  const caps = effectiveCaps();
  const missing = new Map(missingCapabilities(caps).map((m) => [m.name, m.sentence]));
  for (const c of REQUIRED_CAPS) {
    const sentence = missing.get(c.name);
    add(hasCap(caps, c.cap) ? 'ok' : 'fail', `permission ${c.name}`, sentence ?? `held: needed ${c.why}`);
  }
  const perm = missing.size > 0;
  // Optional: what --hold-new-programs could do here (README, Discovery: Holding new programs).
  const confined = confinement();
  add('ok', '--hold-new-programs', confined !== undefined
    ? `would hold nothing: the agent runs confined (${confined}), which may forbid it to resume a held process`
    : hasCap(caps, CAP_KILL)
      ? 'may hold any process (CAP_KILL: it can resume them all)'
      : `would hold only uid ${process.geteuid?.() ?? '?'}'s processes (no CAP_KILL to resume other users')`);

  const uprobe = existsSync('/sys/bus/event_source/devices/uprobe');
  add(uprobe ? 'ok' : 'fail', 'uprobes', uprobe ? 'perf PMU "uprobe" present' : 'no uprobe PMU: use a kernel built with CONFIG_UPROBE_EVENTS=y');

  let lbOk = false;
  try {
    libbpf();
    lbOk = true;
    add('ok', 'libbpf', 'libbpf.so.1 loaded');
  } catch (e) {
    add('fail', 'libbpf', (e as Error).message);
  }

  const obj = defaultObjectPath();
  add(existsSync(obj) ? 'ok' : 'fail', 'BPF object', existsSync(obj) ? obj : `${obj} missing: run npm run build:bpf`);

  const mounts = readMounts();
  add('ok', 'bpffs', mounts.has('bpf') ? 'mounted' : 'not mounted (not needed: tlsotel pins nothing); to mount: mount -t bpf bpf /sys/fs/bpf');
  add('ok', 'tracefs', mounts.has('tracefs') ? 'mounted' : 'not mounted (not needed for uprobes); to mount: mount -t tracefs tracefs /sys/kernel/tracing');

  // Find the TLS libraries' files without attaching anything.
  const roots: RootReport[] = [];
  const untraceable: UntraceableFile[] = [];
  const found = surveyTlsFiles(log, { binDirs, ...(libraryRoots !== undefined ? { libraryRoots } : {}) }, roots, untraceable);
  const names = TLS_LIBRARIES.map((l) => l.name).join(', ');
  add(found.length ? 'ok' : 'warn', 'TLS libraries', found.length
    ? `${found.length} file(s) claimed (libraries traced: ${names})`
    : `no file of a traced TLS library found (${names}): no library file in the usual directories and no running program carrying one`);
  for (const f of found) {
    const version = f.claim.version !== undefined ? ` ${f.claim.version}` : '';
    out(`       ${f.displayPath} (${describe(f.path)}): ${f.library}${version}; ${f.claim.notes.join('; ')}: ${f.functions.join(', ')}`);
  }

  // Running programs whose TLS stack cannot be traced: why they make no span.
  if (untraceable.length > 0) {
    add('warn', 'not traceable', `${untraceable.length} file(s) mapped by running programs carry a TLS stack tlsotel cannot trace:`);
    for (const u of untraceable) out(`       ${u.path}: ${u.what}`);
  }

  // Where files are looked for before any program maps them (--library-roots).
  add('ok', 'library roots', roots.length === 0
    ? 'none searched (--library-roots none): files are found when programs map them'
    : `${roots.length} searched before programs map their files: ${roots.map((r) => r.pattern).join(', ')}`);
  for (const r of roots) {
    const state = r.dirs === 0 ? 'no such directory' : `${r.dirs} director${r.dirs === 1 ? 'y' : 'ies'}, ${r.files} file(s) looked at${r.truncated ? ' (stopped at the entry limit)' : ''}, ${r.claimed.length} claimed`;
    out(`       ${r.pattern}: ${state}`);
    for (const c of r.claimed) out(`         ${c}`);
  }

  // The real thing: load the program and attach to one library, then detach.
  if (!perm && lbOk && kernelOk && btf) {
    try {
      tryLoadAndAttach(log, found[0]);
      add('ok', 'load and attach', found[0] ? `BPF program loaded and attached to ${found[0].displayPath}` : 'BPF program loaded');
    } catch (e) {
      add('fail', 'load and attach', (e as Error).message);
    }
  }

  const failed = checks.filter((c) => c.status === 'fail');
  out(failed.length ? `${failed.length} check(s) failed: tlsotel cannot run here until they are fixed` : 'all checks passed: tlsotel can run here');
  return failed.length ? 1 : 0;
}

function readMounts(): Set<string> {
  try {
    return new Set(readFileSync('/proc/mounts', 'latin1').split('\n').map((l) => l.split(' ')[2]).filter(Boolean));
  } catch {
    return new Set(); // no /proc/mounts: report both as not mounted
  }
}

function describe(p: string): string {
  try {
    return `${(statSync(p).size / 1048576).toFixed(1)} MiB`;
  } catch {
    return 'size unknown';
  }
}
