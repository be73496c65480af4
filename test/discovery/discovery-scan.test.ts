// Discovery's rescans on a fake proc root: a mapping already settled for a process is not
// looked at again (no stat, no ELF read), and what identifies it is the file (its maps line's
// dev and inode), not the path — a reused pid that maps another file at the same path is
// looked at anew. The files are real (/bin/true, the system libssl); attaching is faked.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Discovery } from '../../src/discovery/discovery';
import { silentLogger } from '../../src/util/log';

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

/** Process PID maps /lib/x.so (dev fd:01, `inode`) and sees `fsDir` as its root. */
function proc(pid: number, inode: number, fsDir: string): void {
  const dir = path.join(root, 'proc', String(pid));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'maps'), `7f0000000000-7f0000100000 r-xp 00000000 fd:01 ${inode}    /lib/x.so\n`);
  fs.rmSync(path.join(dir, 'root'), { force: true });
  fs.symlinkSync(fsDir, path.join(dir, 'root'));
}

test('rescans skip the mappings a process already had; a reused pid mapping another file is looked at again', () => {
  const plain = fileSystem('plain', '/bin/true'); // an ELF file without OpenSSL
  const withSsl = fileSystem('ssl', LIBSSL);
  const attached: string[] = [];
  const d = new Discovery({
    procRoot: path.join(root, 'proc'),
    libDirs: [],
    binDirs: [],
    log: silentLogger,
    attach: (file, libId) => {
      attached.push(file);
      return { libId, path: file, functions: ['SSL_write', 'SSL_read'], links: [] };
    },
  });
  const procFiles = path.join(root, 'proc') + path.sep;
  const statSync = fs.statSync;
  let stats = 0;
  (fs as { statSync: unknown }).statSync = (p: fs.PathLike, ...rest: unknown[]) => {
    if (String(p).startsWith(procFiles)) stats++;
    return (statSync as (...a: unknown[]) => unknown)(p, ...rest);
  };
  try {
    proc(4001, 11, plain);
    d.scanProcesses();
    assert.equal(stats, 1, 'the new mapping is looked at');
    assert.deepEqual(attached, [], 'a file without OpenSSL is not attached');

    stats = 0;
    d.scanProcesses();
    assert.equal(stats, 0, 'a mapping already settled for this process is not looked at again');

    // Same pid and path, another file (a reused pid, another mount namespace).
    proc(4001, 22, withSsl);
    d.scanProcesses();
    assert.equal(stats, 1, 'a new file behind the same path is looked at');
    assert.deepEqual(attached, [path.join(root, 'proc', '4001', 'root', 'lib', 'x.so')]);
  } finally {
    (fs as { statSync: unknown }).statSync = statSync;
  }
});
