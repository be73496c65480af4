// executableMappings: /proc/PID/maps parsing, on a fake proc root and on the real /proc.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { executableFiles, executableMappings } from '../../src/discovery/discovery';

const root = mkdtempSync(path.join(os.tmpdir(), 'tlsotel-proc-'));
after(() => rmSync(root, { recursive: true, force: true }));

let nextPid = 1000;
/** Writes <root>/<pid>/maps and returns the pid. */
function fakeProc(lines: string[], trailingNewline = true): number {
  const pid = nextPid++;
  mkdirSync(path.join(root, String(pid)));
  writeFileSync(path.join(root, String(pid), 'maps'), lines.join('\n') + (trailingNewline ? '\n' : ''), 'latin1');
  return pid;
}

const sorted = (s: Set<string>) => [...s].sort();

test('only executable mappings are reported, each file once', () => {
  const pid = fakeProc([
    '55d0c0a00000-55d0c0a28000 r--p 00000000 fd:01 1234                       /usr/bin/curl',
    '55d0c0a28000-55d0c0a8e000 r-xp 00028000 fd:01 1234                       /usr/bin/curl',
    '55d0c0a8e000-55d0c0aa0000 r--p 0008e000 fd:01 1234                       /usr/bin/curl',
    '55d0c0aa0000-55d0c0aa2000 rw-p 000a0000 fd:01 1234                       /usr/bin/curl',
    '7f1000000000-7f1000020000 r--p 00000000 fd:01 2222                       /usr/lib/x86_64-linux-gnu/libssl.so.3',
    '7f1000020000-7f1000080000 r-xp 00020000 fd:01 2222                       /usr/lib/x86_64-linux-gnu/libssl.so.3',
    '7f1000100000-7f1000120000 rw-s 00000000 fd:01 3333                       /dev/shm/shared-data',
    '7f1000200000-7f1000201000 ---p 00000000 fd:01 4444                       /usr/lib/guard-only.so',
    '7f1000300000-7f1000400000 rwxp 00000000 fd:01 5555                       /opt/jit/libwritable-code.so',
    '7f1000500000-7f1000501000 --xp 00000000 fd:01 6666                       /opt/exec-only.so',
    '7f1000600000-7f1000601000 r-xs 00000000 fd:01 7777                       /opt/shared-exec.so',
  ]);
  assert.deepEqual(sorted(executableMappings(root, pid)), [
    '/opt/exec-only.so',
    '/opt/jit/libwritable-code.so',
    '/opt/shared-exec.so',
    '/usr/bin/curl',
    '/usr/lib/x86_64-linux-gnu/libssl.so.3',
  ]);
  // With each the file it is, as its maps line names it (device and inode).
  const files = executableFiles(root, pid);
  assert.equal(files.get('/usr/bin/curl'), 'fd:01 1234');
  assert.equal(files.get('/usr/lib/x86_64-linux-gnu/libssl.so.3'), 'fd:01 2222');
  assert.equal(files.get('/opt/exec-only.so'), 'fd:01 6666');
});

test('paths with spaces are kept whole', () => {
  const pid = fakeProc([
    '7f2000000000-7f2000010000 r-xp 00000000 fd:01 11                         /opt/My App/lib ssl  two spaces.so',
    '7f2000010000-7f2000020000 r-xp 00000000 fd:01 12                         /opt/trailing space ',
  ]);
  assert.deepEqual(sorted(executableMappings(root, pid)), ['/opt/My App/lib ssl  two spaces.so', '/opt/trailing space ']);
});

test("deleted files are skipped, a name merely containing '(deleted)' is not", () => {
  const pid = fakeProc([
    '7f3000000000-7f3000010000 r-xp 00000000 fd:01 21                         /usr/lib/libssl.so.3 (deleted)',
    '7f3000010000-7f3000020000 r-xp 00000000 00:01 22                         /memfd:jit (deleted)',
    '7f3000020000-7f3000030000 r-xp 00000000 fd:01 23                         /opt/(deleted)/libkept.so',
  ]);
  assert.deepEqual(sorted(executableMappings(root, pid)), ['/opt/(deleted)/libkept.so']);
});

test('anonymous and special mappings are skipped, and never borrow the next line\'s path', () => {
  const pid = fakeProc([
    '7f4000000000-7f4000010000 r-xp 00000000 00:00 0 ',
    '7f4000010000-7f4000020000 r--p 00000000 fd:01 31                         /usr/lib/not-executable.so',
    '7f4000020000-7f4000030000 r-xp 00000000 00:00 0',
    '7f4000030000-7f4000040000 rw-p 00000000 fd:01 32                         /usr/lib/data-only.so',
    '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
    '7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]',
    '7ffd00102000-7ffd00104000 r--p 00000000 00:00 0                          [vvar]',
    'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
    '7f4000050000-7f4000060000 r-xp 00000000 00:00 0                          [anon:v8 jit/code space]',
    '7f4000060000-7f4000070000 r-xp 00000000 00:00 0                          [anon_shmem:a/b]',
    '7f4000070000-7f4000080000 rw-p 00000000 00:00 0                          [heap]',
  ]);
  assert.deepEqual(sorted(executableMappings(root, pid)), []);
});

test('the last line needs no newline; blank lines are harmless', () => {
  const pid = fakeProc(
    [
      '7f5000000000-7f5000010000 r-xp 00000000 fd:01 41                         /usr/lib/first.so',
      '',
      '7f5000010000-7f5000020000 r-xp 00000000 fd:01 42                         /usr/lib/last.so',
    ],
    false,
  );
  assert.deepEqual(sorted(executableMappings(root, pid)), ['/usr/lib/first.so', '/usr/lib/last.so']);
});

test('a missing pid, or an empty maps file (kernel thread), gives an empty set', () => {
  assert.deepEqual(sorted(executableMappings(root, 999_999)), []);
  assert.deepEqual(sorted(executableMappings(path.join(root, 'no-such-root'), 1)), []);
  assert.deepEqual(sorted(executableMappings(root, fakeProc([], false))), []);
});

test('the real /proc: this process maps its own executable', () => {
  const files = executableMappings('/proc', process.pid);
  assert.ok(files.size > 0);
  const exe = realpathSync(process.execPath);
  assert.ok(files.has(process.execPath) || files.has(exe), `${process.execPath} (${exe}) not in ${sorted(files).join(', ')}`);
  for (const f of files) assert.ok(f.startsWith('/'), f);
  for (const f of files) assert.ok(!f.endsWith(' (deleted)'), f);
});
