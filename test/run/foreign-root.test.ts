// OpenSSL as another distribution builds it, in another root: Debian 13's own curl and libssl
// 3.5 (scripts/build-debian-trixie-root.sh, debootstrap) → nginx on the host, entered both ways
// programs are really put in a root:
//   - as a container runtime does: own mount and PID namespaces, pivot_root into the root, a
//     fresh /proc, the host's tree unmounted, and a cgroup shaped as containerd's CRI plugin
//     makes it. /proc/PID/maps then names files by their paths inside the container; the agent
//     reaches them through /proc/PID/root.
//   - with chroot in a copy of the host's mount tree (unshare --mount): /proc/PID/maps names the
//     file by its *host* path, and /proc/PID/root + that path does not exist; the agent picks
//     the path by the device and inode the maps line names.
// Each: a CLIENT span per request (three on one keep-alive connection, one a 404), the service
// name the process was given, container.id right (the container's) or absent (the chroot's,
// as for the host's curl in the same cgroup), and the one request of a curl that lives < 100 ms
// (its process attributes may be unknown: it can be gone before the agent reads its /proc).
import test, { after, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { makeCert, requireRoot, start, type Proc } from '../helpers/procs';
import { startAgent } from '../helpers/agent';
import { startNginx, type Nginx } from '../helpers/nginx';
import { TestCgroups } from '../helpers/cgroups';
import { trixieRoot } from '../helpers/debian-root';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const tag = `fr${process.pid}`;
let root: string;
let receiver: OtlpReceiver;
let nginx: Nginx;
/** Accepts TCP connections and never answers: a curl connected to it waits in its TLS
 *  handshake, its libssl mapped (see warmUp). */
let silent: net.Server;
let silentPort: number;
const silentSockets = new Set<net.Socket>();
const cgroups = new TestCgroups();

before(async () => {
  requireRoot();
  root = trixieRoot();
  receiver = await startOtlpReceiver();
  nginx = await startNginx(makeCert());
  // Never answers; reads (and drops) what comes, so that a client's close is seen and the
  // socket closed: an unread socket would stay in CLOSE-WAIT and keep this file running.
  silent = net.createServer((s) => {
    silentSockets.add(s);
    s.on('error', () => s.destroy()).on('close', () => silentSockets.delete(s)).resume();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as net.AddressInfo).port;
});

after(async () => {
  await nginx?.stop('SIGTERM'); // not SIGKILL: its worker would outlive it, holding this process's pipes
  await receiver?.stop();
  for (const s of silentSockets) s.destroy();
  silent?.close();
  await cgroups.remove();
});

type Entry = 'container' | 'chroot';

/** The command that runs `script` (a shell script of the root's own /bin/sh) inside the root. */
function enterRoot(entry: Entry, script: string): string[] {
  if (entry === 'chroot') return ['unshare', '--mount', '--propagation', 'private', 'chroot', root, '/bin/sh', '-c', script];
  // What runc does, in shell: the root becomes a mount point, pivot_root(".", ".") puts it at /
  // with the old root stacked above it, a fresh /proc for the new PID namespace (the root's
  // umount needs it), then the old root is detached. mount/umount after pivot_root are the root's.
  const pivot = 'mount --bind "$0" "$0" && cd "$0" && pivot_root . . && mount -t proc proc /proc && umount -l . && cd / && exec /bin/sh -c "$1"';
  return ['unshare', '--mount', '--pid', '--fork', '--propagation', 'private', '/bin/sh', '-c', pivot, root, script];
}

interface RootRun {
  proc: Proc;
  /** Lets the script go on past its `read go`. */
  go(): void;
  /** Kills every process of the run (its process group). */
  kill(): Promise<void>;
}

/** Starts `script` in the root, in the cgroup `cgroup` (relative to the hierarchy) when given,
 *  with OTEL_SERVICE_NAME set to `service`. */
function runInRoot(entry: Entry, script: string, service: string, cgroup?: string): RootRun {
  const cmd = enterRoot(entry, script);
  // The shell moves itself into the cgroup before it becomes the entering command: everything
  // the root runs is in it from its first instruction.
  const argv = cgroup ? ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', cgroups.make(cgroup), ...cmd] : cmd;
  // Its own process group: a failed test kills everything the root runs (see kill), which
  // would otherwise wait for `go` and keep this file running.
  const proc = start(argv[0], argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', OTEL_SERVICE_NAME: service },
  });
  return {
    proc,
    go: () => proc.child.stdin!.end('go\n'),
    kill: async () => {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
      await proc.exited;
    },
  };
}

/**
 * How the root's libssl is found. 'discovered': the agent is not told of the root; the file is
 * found in a running process's maps (through /proc/PID/root, or by device and inode under its
 * host path) — a curl of the root waiting in a TLS handshake with `silent` maps it first, since a
 * client living < 100 ms may come and go between two /proc rescans. 'library-root': the root is
 * a library root (--library-roots), its libssl attached before any process maps it, no warm-up.
 */
type Found = 'discovered' | 'library-root';

/** A curl of the root waiting in a TLS handshake with `silent`, its libssl mapped; killed when
 *  the script ends. */
function warmUp(found: Found): string {
  return found === 'library-root' ? '' : `curl -sk --max-time 60 -o /dev/null https://127.0.0.1:${silentPort}/warm & W=$!; `;
}

/** The script: (warm-up), wait for `go`, one curl making three requests on one keep-alive
 *  connection (spread over half a second: the agent reads a process's environment while it
 *  lives), then a curl making one request, timed. */
function clientScript(prefix: string, query: string, found: Found): string {
  const url = (p: string) => `https://127.0.0.1:${nginx.port}${p}`;
  return `${warmUp(found)}read go; `
    + `curl -sk --http1.1 --rate 6/s -o /dev/null ${url(`${prefix}/1`)} -o /dev/null ${url(`/status/404?${query}`)} -o /dev/null ${url(`${prefix}/3`)} || exit 3; `
    + `s=$(date +%s%N); curl -sk --http1.1 -o /dev/null ${url(`${prefix}/short`)} || exit 4; e=$(date +%s%N); `
    + `echo "short-lived curl: $(( (e - s) / 1000000 )) ms"; `
    + `${found === 'library-root' ? '' : 'kill $W; '}exit 0`;
}

/** Runs the client script entered as `entry` under a fresh agent (each entry must find the file
 *  on its own: an agent that attached it once would not look again) and checks the spans. */
async function traceFromRoot(t: TestContext, entry: Entry, found: Found, attachLog: RegExp, cgroup?: { rel: string; id: string }) {
  const prefix = `/foreign/${tag}/${entry}-${found}`;
  const query = `${tag}-${entry}-${found}`;
  const service = `trixie-${entry}-${found}-${tag}`;
  // Only curl is traced: other programs on this host (load tests) could fill the agent's export
  // queue, and the spans checked here would be dropped with theirs.
  const agent = await startAgent(['--otlp-endpoint', receiver.url, '--comm', 'curl', ...(found === 'library-root' ? ['--library-roots', root] : ['--library-roots', 'none'])]);
  const mine = () => receiver.spans.filter((s) => s.kind === 'CLIENT' && s.attributes['server.port'] === nginx.port
    && (String(s.attributes['url.path']).startsWith(`${prefix}/`) || s.attributes['url.query'] === query));
  const key = (s: ReceivedSpan) => `${s.attributes['url.path']}${s.attributes['url.query'] !== undefined ? `?${s.attributes['url.query']}` : ''}`;
  let run: RootRun | undefined;
  try {
    run = runInRoot(entry, clientScript(prefix, query, found), service, cgroup?.rel);
    // Without pre-attach, the warm-up curl maps the root's libssl and the rescan attaches it.
    await agent.waitFor(attachLog, 'stderr', 15_000);
    run.go();
    const { code } = await run.proc.exited;
    assert.equal(code, 0, `${run.proc.stdout()}${run.proc.stderr()}`);
    const life = Number(/short-lived curl: (\d+) ms/.exec(run.proc.stdout())?.[1]);
    t.diagnostic(`${entry}: the short-lived curl lived ${life} ms`);
    const expected = [`${prefix}/1`, `/status/404?${query}`, `${prefix}/3`, `${prefix}/short`];
    await receiver.waitFor(() => expected.every((k) => mine().some((s) => key(s) === k)), 15_000).catch((e) => {
      throw new Error(`${(e as Error).message}; spans of this test: ${JSON.stringify(mine().map(key))}\nagent: ${agent.stderr().slice(-3000)}`);
    });

    // The host's curl, in this test's cgroup (the chroot's): what container.id is for a process
    // that is in no container.
    const hostCurl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${nginx.port}${prefix}/host`]);
    assert.equal((await hostCurl.exited).code, 0, hostCurl.stderr());
    await receiver.waitFor(() => mine().some((s) => key(s) === `${prefix}/host`), 15_000);
    const host = mine().find((s) => key(s) === `${prefix}/host`)!;

    const spans = mine().filter((s) => key(s) !== `${prefix}/host`);
    assert.deepEqual(spans.map(key).sort(), [...expected].sort(), 'one CLIENT span per request, none twice');
    for (const s of spans) {
      assert.equal(s.attributes['http.response.status_code'], s.attributes['url.path'] === '/status/404' ? 404 : 200);
      assert.equal(s.attributes['network.peer.port'], nginx.port);
      assert.equal(s.resource['process.executable.name'], 'curl');
      const expectedId = cgroup ? cgroup.id : host.resource['container.id'];
      // The agent reads a process's cgroup and environment (OTEL_SERVICE_NAME) from /proc while
      // it lives; a curl gone within milliseconds may be gone before that: its span then lacks
      // container.id (unknown, never another's) and carries the executable's name, the
      // documented fallback.
      if (key(s) === `${prefix}/short`) {
        assert.ok(s.resource['container.id'] === undefined || s.resource['container.id'] === expectedId, `container.id ${String(s.resource['container.id'])}`);
        assert.ok([service, 'curl'].includes(String(s.resource['service.name'])), String(s.resource['service.name']));
      } else {
        assert.equal(s.resource['container.id'], expectedId, cgroup ? "the container's id" : 'as for a host process in the same cgroup');
        assert.equal(s.resource['service.name'], service);
      }
    }
    const short = spans.find((s) => key(s) === `${prefix}/short`)!;
    t.diagnostic(`${entry}: the short-lived curl's service.name: ${String(short.resource['service.name'])}, container.id: ${String(short.resource['container.id'])}`);
    if (cgroup) assert.notEqual(host.resource['container.id'], cgroup.id, 'the host\'s curl is not in the container');
    // It lives a few tens of ms here (15–70 ms; more on a loaded machine): well below the
    // rescan interval (1 s), so no rescan could have found it.
    assert.ok(life < 1000, `the short-lived curl lived ${life} ms`);
  } finally {
    await run?.kill();
    await agent.stop('SIGKILL');
  }
}

/** libssl 3.5's probes: on the internal functions (the write side's with its count pointer in
 *  argument 5, see src/tls/openssl/internals.ts), not on the exported ones. */
const INTERNALS = 'ssl_write_internal@0x[0-9a-f]+, ssl_read_internal@0x[0-9a-f]+, SSL_free';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const found of ['discovered', 'library-root'] as const) {
  const how = found === 'library-root' ? 'attached before it runs (its root a library root)' : 'found in its maps';
  test(`curl of Debian 13 (libssl 3.5) in a container (own mount and PID namespaces, pivot_root), libssl ${how}: a span per request, container.id from its cgroup`, async (t) => {
    const id = randomBytes(32).toString('hex');
    const attach = found === 'library-root'
      ? new RegExp(`attached to ${escape(root)}${escape(LIBSSL)} \\(openssl[^)]*\\): ${INTERNALS}`)
      : new RegExp(`attached to ${escape(LIBSSL)} \\(openssl[^)]*\\) \\(pid \\d+, via /proc/\\d+/root${escape(LIBSSL)}\\): ${INTERNALS}`);
    await traceFromRoot(t, 'container', found, attach, { rel: `kubepods-${tag}/besteffort/pod${randomUUID()}/${id}`, id });
  });

  test(`curl of Debian 13 (libssl 3.5) chroot()ed in a copy of the host's mount tree, libssl ${how} (by device and inode under its host path): a span per request`, async (t) => {
    // Found in its maps by device and inode under its host path, or, first, by the search of a
    // new mount namespace's library directories (through /proc/PID/root: the chroot's root).
    const byRoot = `${escape(LIBSSL)} \\(openssl[^)]*\\) \\(pid \\d+, via /proc/\\d+/root${escape(LIBSSL)}\\)`;
    const attach = found === 'library-root'
      ? new RegExp(`attached to ${escape(root)}${escape(LIBSSL)} \\(openssl[^)]*\\): ${INTERNALS}`)
      : new RegExp(`attached to (?:${escape(root)}${escape(LIBSSL)} \\(openssl[^)]*\\)|${byRoot}): ${INTERNALS}`);
    await traceFromRoot(t, 'chroot', found, attach);
  });
}
