// Cgroups made by tests, in the shapes container runtimes give them (container.id and
// k8s.pod.uid are read from a process's cgroup path). Each test removes what it made.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A cgroup hierarchy we may make directories in (cgroup v2, else v1's pids controller). */
export function hierarchy(): string {
  for (const dir of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/pids', '/sys/fs/cgroup']) {
    if (fs.existsSync(path.join(dir, 'cgroup.procs'))) return dir;
  }
  throw new Error('no writable cgroup hierarchy found under /sys/fs/cgroup');
}

export class TestCgroups {
  private readonly made: string[] = [];

  /** Makes the cgroup `rel` (each level) and returns its cgroup.procs file. */
  make(rel: string): string {
    let dir = hierarchy();
    for (const part of rel.split('/')) {
      dir = path.join(dir, part);
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir);
        this.made.push(dir);
      }
    }
    return path.join(dir, 'cgroup.procs');
  }

  /** Makes the cgroup `rel` and moves `pid` into it. */
  enter(rel: string, pid: number): void {
    fs.writeFileSync(this.make(rel), String(pid));
  }

  /** Removes what make() made, deepest first, once its processes are gone. */
  async remove(): Promise<void> {
    for (const dir of this.made.splice(0).reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(dir);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }
}
