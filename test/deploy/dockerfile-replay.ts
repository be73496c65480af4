// Replays a Dockerfile without a Docker engine: its instructions become one shell script that,
// in a mount namespace of its own, lays an overlay over a cached Debian root (the FROM image,
// scripts/build-debian-root.sh), runs each RUN there with chroot, copies each COPY from the
// build context, and finally runs the ENTRYPOINT as the USER, the way a container runtime would
// (the image's own setpriv drops to the user and limits the bounding set to the pod's
// capabilities; nothing is ambient, so the program gets only its file capabilities).
// Only the instructions our Dockerfile uses are known; any other one is an error, so the replay
// cannot silently skip a step the image would take.
import path from 'node:path';

export interface Image {
  from: string;
  /** Build steps, in order. */
  steps: Array<{ kind: 'run'; workdir: string; env: Record<string, string>; command: string } | { kind: 'copy'; workdir: string; sources: string[]; dest: string }>;
  workdir: string;
  user?: string;
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Dockerfile text → what the image is. */
export function parseDockerfile(text: string): Image {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) { pending += `${line.slice(0, -1)} `; continue; }
    const full = (pending + line).trim();
    pending = '';
    if (full !== '') lines.push(full);
  }
  const image: Image = { from: '', steps: [], workdir: '/', entrypoint: [], cmd: [], env: {} };
  for (const line of lines) {
    const m = /^([A-Za-z]+)\s+(.*)$/s.exec(line);
    if (!m) throw new Error(`Dockerfile: cannot read '${line}'`);
    const [, instruction, rest] = m;
    switch (instruction.toUpperCase()) {
      case 'FROM': image.from = rest.trim(); break;
      case 'RUN': image.steps.push({ kind: 'run', workdir: image.workdir, env: { ...image.env }, command: rest }); break;
      case 'WORKDIR': image.workdir = path.posix.resolve(image.workdir, rest.trim()); break;
      case 'COPY': {
        const parts = rest.trim().split(/\s+/);
        if (parts.some((p) => p.startsWith('--'))) throw new Error(`Dockerfile: COPY flags are not replayed: ${line}`);
        image.steps.push({ kind: 'copy', workdir: image.workdir, sources: parts.slice(0, -1), dest: parts[parts.length - 1] });
        break;
      }
      case 'ENV': {
        const kv = /^(\w+)[= ](.*)$/.exec(rest.trim());
        if (!kv) throw new Error(`Dockerfile: cannot read ${line}`);
        image.env[kv[1]] = kv[2];
        break;
      }
      case 'USER': image.user = rest.trim(); break;
      case 'ENTRYPOINT': image.entrypoint = JSON.parse(rest) as string[]; break;
      case 'CMD': image.cmd = JSON.parse(rest) as string[]; break;
      case 'LABEL': break;
      default: throw new Error(`Dockerfile: the replay does not know ${instruction} (${line})`);
    }
  }
  return image;
}

export interface ReplayOptions {
  /** The cached root standing in for the FROM image. */
  baseRoot: string;
  /** The build context (the checkout). */
  context: string;
  /** Scratch directory: the overlay's upper and work directories and the mount point. */
  scratch: string;
  /** Capabilities the pod grants (setpriv names: sys_admin, …): the bounding set of the entrypoint. */
  podCapabilities: string[];
  /** Arguments replacing CMD. */
  args: string[];
  /** Environment of the entrypoint. */
  env: Record<string, string>;
}

/** The bash script that builds the image in an overlay and then execs its entrypoint (run it with unshare --mount). */
export function replayScript(image: Image, o: ReplayOptions): string {
  const root = path.join(o.scratch, 'rootfs');
  const out: string[] = [
    'set -euo pipefail',
    'mount --make-rprivate /',
    `mkdir -p ${quote(`${o.scratch}/upper`)} ${quote(`${o.scratch}/work`)} ${quote(root)}`,
    `mount -t overlay overlay -o lowerdir=${o.baseRoot},upperdir=${o.scratch}/upper,workdir=${o.scratch}/work ${quote(root)}`,
    // What a runtime provides: /proc (the host's PID namespace, as with hostPID), /sys read-only,
    // /dev, a /tmp, and the host's resolver for the build's downloads.
    `mount -t proc proc ${quote(`${root}/proc`)}`,
    `mount --rbind /sys ${quote(`${root}/sys`)} && mount -o remount,bind,ro ${quote(`${root}/sys`)}`,
    `mount --rbind /dev ${quote(`${root}/dev`)}`,
    `mount -t tmpfs tmpfs ${quote(`${root}/tmp`)}`,
    `cp /etc/resolv.conf ${quote(`${root}/etc/resolv.conf`)}`,
    // The build's downloads go through whatever this host trusts (a TLS-inspecting proxy's CA
    // is in its bundle): node reads it from NODE_EXTRA_CA_CERTS during RUN steps only. It sits
    // in the /tmp mount, not in the image.
    `if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt ${quote(`${root}/tmp/host-ca.crt`)}; fi`,
  ];
  const t0 = 'SECONDS=0';
  out.push(t0);
  for (const step of image.steps) {
    if (step.kind === 'run') {
      const env = Object.entries({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', DEBIAN_FRONTEND: 'noninteractive', NODE_EXTRA_CA_CERTS: '/tmp/host-ca.crt', ...step.env })
        .map(([k, v]) => `${k}=${quote(v)}`).join(' ');
      out.push(`echo "replay: RUN ${step.command.replace(/["$`\\]/g, '')}" >&2`);
      out.push(`mkdir -p ${quote(root + step.workdir)}`);
      out.push(`chroot ${quote(root)} /usr/bin/env -i ${env} /bin/sh -c ${quote(`cd ${step.workdir} && ${step.command}`)} >&2`);
    } else {
      const dest = path.posix.resolve(step.workdir, step.dest);
      const intoDir = step.dest.endsWith('/') || step.sources.length > 1;
      out.push(`echo "replay: COPY ${step.sources.join(' ')} ${step.dest}" >&2`);
      for (const src of step.sources) {
        const from = quote(path.join(o.context, src));
        const target = quote(root + (intoDir ? `${dest}/${path.posix.basename(src)}` : dest));
        out.push(`mkdir -p "$(dirname ${target})"`);
        out.push(`if [ -d ${from} ]; then mkdir -p ${target} && cp -a ${from}/. ${target}/; else cp -a ${from} ${target}; fi`);
      }
    }
  }
  out.push('echo "replay: image built in ${SECONDS} s" >&2');
  // readOnlyRootFilesystem, as the pod spec asks.
  out.push(`mount -o remount,ro ${quote(root)}`);
  const [uid, gid] = (image.user ?? '0:0').split(':');
  const caps = ['-all', ...o.podCapabilities.map((c) => `+${c}`)].join(',');
  const env = Object.entries({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/', ...image.env, ...o.env }).map(([k, v]) => `${k}=${quote(v)}`).join(' ');
  const argv = [...image.entrypoint, ...o.args].map(quote).join(' ');
  out.push(
    `exec chroot ${quote(root)} /usr/bin/env -i ${env} /usr/bin/setpriv --reuid=${uid} --regid=${gid ?? uid} --clear-groups ` +
      `--bounding-set=${caps} --inh-caps=-all -- /bin/sh -c ${quote(`cd ${image.workdir} && exec "$@"`)} entrypoint ${argv}`,
  );
  return `${out.join('\n')}\n`;
}
