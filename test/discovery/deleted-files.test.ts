// A library a program extracts, loads and deletes (Java's Netty does so with netty-tcnative):
// its maps line ends in " (deleted)" and no path leads to it but /proc/PID/map_files. Discovery
// attaches it through that, and detaches it (and forgets it) when no process maps it any more:
// probes on a deleted file would otherwise keep its inode, and its disk space, for good.
// Discovery on a fake proc root (as discovery-scan.test.ts), with a real libssl copy.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Discovery, mapFilesName, mappedFiles } from '../../src/discovery/discovery';
import { silentLogger } from '../../src/util/log';
import { TLS_LIBRARIES } from '../../src/tls';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-deleted-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const RANGE = '7f0000200000-7f0000300000';

const devOf = (st: fs.Stats) => `${(st.dev >> 8).toString(16).padStart(2, '0')}:${(st.dev & 0xff).toString(16).padStart(2, '0')}`;

function fakeProcess(procDir: string, pid: number, file: string, shownAs: string, range = RANGE): void {
  const st = fs.statSync(file);
  const dir = path.join(procDir, String(pid));
  fs.mkdirSync(path.join(dir, 'map_files'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'maps'), [
    `00200000-00300000 r--p 00000000 ${devOf(st)} ${st.ino}    ${shownAs}`,
    `${range} r-xp 00100000 ${devOf(st)} ${st.ino}    ${shownAs}`,
    '',
  ].join('\n'));
  // The kernel's map_files entry opens the mapped file itself (named without the maps' zero
  // padding); a symlink does here.
  fs.symlinkSync(file, path.join(dir, 'map_files', mapFilesName(range)));
  fs.symlinkSync('/nonexistent-root', path.join(dir, 'root'));
}

test('map_files names: the maps pad addresses to 8 digits, map_files does not', () => {
  assert.equal(mapFilesName('00400000-00b6f000'), '400000-b6f000');
  assert.equal(mapFilesName('7f3ec0c24000-7f3ec0dc1000'), '7f3ec0c24000-7f3ec0dc1000');
  assert.equal(mapFilesName('00000000-00001000'), '0-1000');
});

test('mappedFiles: deleted mappings with their range; executable ones only', () => {
  const procDir = path.join(root, 'proc-a');
  const lib = path.join(root, 'lib-a.so');
  fs.copyFileSync('/bin/true', lib);
  fakeProcess(procDir, 10, lib, '/tmp/libnetty_tcnative_x86_64123.so (deleted)');
  const m = mappedFiles(procDir, 10);
  assert.deepEqual([...m.keys()], ['/tmp/libnetty_tcnative_x86_64123.so (deleted)']);
  const st = fs.statSync(lib);
  assert.deepEqual(m.get('/tmp/libnetty_tcnative_x86_64123.so (deleted)'), { identity: m.values().next().value!.identity, range: RANGE, deleted: true });
  assert.ok(m.values().next().value!.identity.endsWith(` ${st.ino}`));
});

test('a deleted library: attached through map_files, detached and forgotten once its processes are gone', () => {
  const procDir = path.join(root, 'proc-b');
  const libssl = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const copy = path.join(root, 'libssl-copy.so.3');
  fs.copyFileSync(libssl, copy);
  fakeProcess(procDir, 20, copy, '/tmp/libssl-extracted.so (deleted)');
  fakeProcess(procDir, 21, copy, '/tmp/libssl-extracted.so (deleted)'); // a second process (a fork) maps it too
  const attached: Array<{ path: string; libId: number }> = [];
  const detached: number[] = [];
  const forgotten: Array<{ dev: number; ino: number }> = [];
  const infos: string[] = [];
  const d = new Discovery({
    procRoot: procDir,
    libDirs: [],
    binDirs: [],
    log: { ...silentLogger, info: (m: string) => infos.push(m) },
    libraries: TLS_LIBRARIES,
    attach: (p, libId) => {
      attached.push({ path: p, libId });
      return ['SSL_write'];
    },
    detach: (libId) => detached.push(libId),
    onFileForgotten: (f) => forgotten.push(f),
  });
  d.scanProcesses();
  assert.deepEqual(attached.map((a) => a.path), [path.join(procDir, '20', 'map_files', RANGE)]);
  assert.match(infos.find((l) => l.startsWith('attached to'))!, /^attached to \/tmp\/libssl-extracted\.so \(deleted\) \(openssl\) \(pid 20, via .*map_files/);
  // One of the two exits: still mapped by the other, still attached.
  fs.rmSync(path.join(procDir, '20'), { recursive: true });
  d.scanProcesses();
  assert.deepEqual(detached, []);
  // Both gone: detached, and forgotten (its inode may be another file's next).
  fs.rmSync(path.join(procDir, '21'), { recursive: true });
  d.scanProcesses();
  assert.deepEqual(detached, [attached[0].libId]);
  const st = fs.statSync(copy);
  assert.deepEqual(forgotten, [{ dev: st.dev, ino: st.ino }]);
  assert.equal(d.deletedDetached, 1);
  assert.ok(infos.some((l) => l === 'detached from /tmp/libssl-extracted.so (deleted): no process maps it any more'), infos.join('\n'));
  // A new process mapping the same file again: attached again.
  fakeProcess(procDir, 22, copy, '/tmp/libssl-extracted.so (deleted)');
  d.scanProcesses();
  assert.equal(attached.length, 2);
});

test('a library attached by its path before the program deleted it: detached by the name the maps show', () => {
  const procDir = path.join(root, 'proc-late');
  const libssl = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const copy = path.join(root, 'libssl-late.so.3');
  fs.copyFileSync(libssl, copy);
  // First seen before the unlink: the maps line is the plain path (the process's root is ours).
  fakeProcess(procDir, 60, copy, copy);
  fs.rmSync(path.join(procDir, '60', 'root'));
  fs.symlinkSync('/', path.join(procDir, '60', 'root'));
  const infos: string[] = [];
  const detached: number[] = [];
  const d = new Discovery({ procRoot: procDir, libDirs: [], binDirs: [], log: { ...silentLogger, info: (m: string) => infos.push(m) }, libraries: TLS_LIBRARIES, attach: () => ['SSL_write'], detach: (id) => detached.push(id) });
  d.scanProcesses();
  assert.ok(infos.some((l) => l.startsWith(`attached to ${copy} (openssl)`)), infos.join('\n'));
  // Then unlinked (the maps say so; map_files still reaches it), then the process exits.
  fakeProcess(procDir, 61, copy, `${copy} (deleted)`);
  fs.rmSync(path.join(procDir, '60'), { recursive: true });
  d.scanProcesses();
  assert.deepEqual(detached, []);
  fs.rmSync(path.join(procDir, '61'), { recursive: true });
  d.scanProcesses();
  assert.equal(detached.length, 1);
  assert.ok(infos.includes(`detached from ${copy} (deleted): no process maps it any more`), infos.join('\n'));
});

test('a deleted program mapped low (a non-PIE executable: 8-digit addresses) is reached too', () => {
  const procDir = path.join(root, 'proc-low');
  const libssl = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const copy = path.join(root, 'libssl-low.so.3');
  fs.copyFileSync(libssl, copy);
  fakeProcess(procDir, 40, copy, '/usr/bin/replaced-by-an-upgrade (deleted)', '00400000-00b6f000');
  const attached: string[] = [];
  const d = new Discovery({ procRoot: procDir, libDirs: [], binDirs: [], log: silentLogger, libraries: TLS_LIBRARIES, attach: (p) => (attached.push(p), ['SSL_write']) });
  d.scanProcesses();
  assert.deepEqual(attached, [path.join(procDir, '40', 'map_files', '400000-b6f000')]);
});

test('a deleted file another process maps under another name (a hard link) stays attached', () => {
  const procDir = path.join(root, 'proc-link');
  const libssl = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const copy = path.join(root, 'libssl-linked.so.3');
  fs.copyFileSync(libssl, copy);
  fakeProcess(procDir, 50, copy, '/opt/app/old-name.so (deleted)');
  // pid 51 maps the same inode by a name that still exists (its root is the real one).
  const st = fs.statSync(copy);
  fs.mkdirSync(path.join(procDir, '51'), { recursive: true });
  fs.writeFileSync(path.join(procDir, '51', 'maps'), `${RANGE} r-xp 00000000 ${devOf(st)} ${st.ino}    ${copy}\n`);
  fs.symlinkSync('/', path.join(procDir, '51', 'root'));
  const detached: number[] = [];
  const d = new Discovery({ procRoot: procDir, libDirs: [], binDirs: [], log: silentLogger, libraries: TLS_LIBRARIES, attach: () => ['SSL_write'], detach: (id) => detached.push(id) });
  d.scanProcesses();
  assert.equal(d.attached.length, 1);
  fs.rmSync(path.join(procDir, '50'), { recursive: true });
  d.scanProcesses();
  assert.deepEqual(detached, [], 'pid 51 still maps it');
  fs.rmSync(path.join(procDir, '51'), { recursive: true });
  d.scanProcesses();
  assert.equal(detached.length, 1);
});

test('a file not deleted is never detached when its processes exit', () => {
  const procDir = path.join(root, 'proc-c');
  const libssl = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const dir = path.join(procDir, '30');
  fs.mkdirSync(dir, { recursive: true });
  const st = fs.statSync(libssl);
  const dev = `${(st.dev >> 8).toString(16).padStart(2, '0')}:${(st.dev & 0xff).toString(16).padStart(2, '0')}`;
  fs.writeFileSync(path.join(dir, 'maps'), `${RANGE} r-xp 00000000 ${dev} ${st.ino}    ${libssl}\n`);
  fs.symlinkSync('/', path.join(dir, 'root'));
  const detached: number[] = [];
  const d = new Discovery({
    procRoot: procDir, libDirs: [], binDirs: [], log: silentLogger, libraries: TLS_LIBRARIES,
    attach: () => ['SSL_write'],
    detach: (libId) => detached.push(libId),
  });
  d.scanProcesses();
  assert.equal(d.attached.length, 1);
  fs.rmSync(dir, { recursive: true });
  d.scanProcesses();
  assert.deepEqual(detached, []);
  assert.equal(d.attached.length, 1);
});
