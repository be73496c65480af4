// Discovery's rescans on a fake proc root: a mapping already settled for a process is not
// looked at again (no stat, no ELF read), and what identifies it is the file (its maps line's
// dev and inode), not the path — a reused pid that maps another file at the same path is
// looked at anew; a process with no executable mapping (a kernel thread) is read only every
// 10th scan. The files are real (/bin/true, the system libssl); attaching is faked.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Discovery } from '../../src/discovery/discovery';
import { silentLogger } from '../../src/util/log';
import { TLS_LIBRARIES } from '../../src/tls';

const LIBSSL = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-scan-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A file system for the fake process to see: /lib/x.so is a link to `target`. */
function fileSystem(name: string, target: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.symlinkSync(target, path.join(dir, 'lib', 'x.so'));
  return dir;
}

/** Process PID (under the fake proc root `procDir`) maps /lib/x.so (dev fd:01, `inode`) and
 *  sees `fsDir` as its root. */
function proc(procDir: string, pid: number, inode: number, fsDir: string): void {
  const dir = path.join(procDir, String(pid));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'maps'), `7f0000000000-7f0000100000 r-xp 00000000 fd:01 ${inode}    /lib/x.so\n`);
  fs.rmSync(path.join(dir, 'root'), { force: true });
  fs.symlinkSync(fsDir, path.join(dir, 'root'));
}

/** A Discovery of the fake proc root `procDir` that only records what it would attach (after
 *  `before(file)`, which may throw as a failed attach does), what it warns of and which files
 *  it marks examined. */
function discovery(procDir: string, before?: (file: string) => void): { d: Discovery; attached: string[]; warnings: string[]; examined: string[] } {
  const attached: string[] = [];
  const warnings: string[] = [];
  const examined: string[] = [];
  const d = new Discovery({
    procRoot: procDir,
    libDirs: [],
    binDirs: [],
    log: { ...silentLogger, warn: (m: string) => warnings.push(m) },
    libraries: TLS_LIBRARIES,
    onFileExamined: (f) => examined.push(`${f.dev}:${f.ino}`),
    attach: (file) => {
      before?.(file);
      attached.push(file);
      return ['SSL_write', 'SSL_read'];
    },
  });
  return { d, attached, warnings, examined };
}

test('rescans skip the mappings a process already had; a reused pid mapping another file is looked at again', () => {
  const plain = fileSystem('plain', '/bin/true'); // an ELF file without OpenSSL
  const withSsl = fileSystem('ssl', LIBSSL);
  const procDir = path.join(root, 'proc1');
  const { d, attached } = discovery(procDir);
  const procFiles = procDir + path.sep;
  const statSync = fs.statSync;
  let stats = 0;
  (fs as { statSync: unknown }).statSync = (p: fs.PathLike, ...rest: unknown[]) => {
    if (String(p).startsWith(procFiles)) stats++;
    return (statSync as (...a: unknown[]) => unknown)(p, ...rest);
  };
  try {
    proc(procDir, 4001, 11, plain);
    d.scanProcesses();
    assert.equal(stats, 1, 'the new mapping is looked at');
    assert.deepEqual(attached, [], 'a file without OpenSSL is not attached');

    stats = 0;
    d.scanProcesses();
    assert.equal(stats, 0, 'a mapping already settled for this process is not looked at again');

    // Same pid and path, another file (a reused pid, another mount namespace).
    proc(procDir, 4001, 22, withSsl);
    d.scanProcesses();
    assert.equal(stats, 1, 'a new file behind the same path is looked at');
    assert.deepEqual(attached, [path.join(procDir, '4001', 'root', 'lib', 'x.so')]);
  } finally {
    (fs as { statSync: unknown }).statSync = statSync;
  }
});

test('a process with no executable mapping (a kernel thread) is read again only every 10th scan', () => {
  const procDir = path.join(root, 'proc2');
  const { d, attached } = discovery(procDir);
  const dir = path.join(procDir, '4002');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'maps'), ''); // what a kernel thread shows
  const maps = path.join(dir, 'maps');
  const readFileSync = fs.readFileSync;
  let reads = 0;
  (fs as { readFileSync: unknown }).readFileSync = (p: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
    if (String(p) === maps) reads++;
    return (readFileSync as (...a: unknown[]) => unknown)(p, ...rest);
  };
  try {
    const perScan: number[] = [];
    for (let i = 0; i < 11; i++) {
      reads = 0;
      d.scanProcesses();
      perScan.push(reads);
    }
    assert.deepEqual(perScan, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // The pid now belongs to a process that maps libssl: found at the next look, at the latest.
    proc(procDir, 4002, 33, fileSystem('reused', LIBSSL));
    for (let i = 0; i < 10 && attached.length === 0; i++) d.scanProcesses();
    assert.deepEqual(attached, [path.join(procDir, '4002', 'root', 'lib', 'x.so')]);
  } finally {
    (fs as { readFileSync: unknown }).readFileSync = readFileSync;
  }
});

// What CI once saw: a container runtime's short-lived helper (after its pivot_root) showed the
// container's libssl through /proc/PID/root and exited while the file was attached. A path that
// stops leading to the file is no verdict on the file: it is neither examined nor rejected, and
// the next process that maps it gets it attached. A failure while the path still leads to the
// file is a verdict (warned once, not retried).
test('a file whose path vanished during its attach (its process exited) is attached when next seen; a failure on a path that still holds is final', () => {
  const procDir = path.join(root, 'proc3');
  let failNext = true;
  const { d, attached, warnings, examined } = discovery(procDir, (file) => {
    if (!failNext) return;
    failNext = false;
    fs.rmSync(path.join(procDir, '5001'), { recursive: true, force: true }); // the process exits
    throw new Error(`attach uprobe ${file}:SSL_write: No such file or directory (ENOENT)`);
  });
  const ssl = fileSystem('vanish', LIBSSL);
  proc(procDir, 5001, 44, ssl);
  d.scanProcesses();
  assert.deepEqual(attached, []);
  assert.equal(examined.length, 0, 'not marked examined: the next mapping of the file announces it again');
  assert.equal(warnings.length, 0, `a process that exited is no failure to warn of: ${warnings.join('\n')}`);

  proc(procDir, 5002, 44, ssl);
  d.scanProcesses();
  assert.deepEqual(attached, [path.join(procDir, '5002', 'root', 'lib', 'x.so')], 'attached through the next process that maps it');
  assert.equal(examined.length, 1);

  // Another Discovery: a refusal while the path still leads to the file is final.
  const procDir2 = path.join(root, 'proc4');
  const refusing = discovery(procDir2, () => {
    throw new Error('attach uprobe: Invalid argument (EINVAL)');
  });
  const d2 = refusing.d;
  proc(procDir2, 6001, 55, ssl);
  d2.scanProcesses();
  assert.equal(refusing.warnings.length, 1, refusing.warnings.join('\n'));
  assert.match(refusing.warnings[0]!, /cannot trace .*EINVAL/);
  assert.equal(refusing.examined.length, 1, 'examined: the BPF side stops announcing it');
  proc(procDir2, 6002, 55, ssl);
  d2.scanProcesses();
  assert.equal(refusing.warnings.length, 1, 'not tried again');
  assert.deepEqual(refusing.attached, []);
});
