// Finding OpenSSL's internal read/write functions from the exported wrappers' code.
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { functionCode, readCode } from '../../src/discovery/elf';
import { findInternals } from '../../src/tls/openssl/internals';
import { openssl } from '../../src/tls/openssl/openssl';
import { definedFunctions } from '../../src/discovery/elf';
import { inTrixie } from '../helpers/debian-root';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

test("Debian's libssl 3: both directions found, each a function both wrappers call, starting with a push", () => {
  const found = findInternals(LIBSSL);
  const code = functionCode(LIBSSL, ['SSL_write', 'SSL_write_ex', 'SSL_read', 'SSL_read_ex']);
  for (const [dir, plain, ex] of [['write', 'SSL_write', 'SSL_write_ex'], ['read', 'SSL_read', 'SSL_read_ex']] as const) {
    const probe = found[dir];
    assert.ok(probe, `${dir} internal found`);
    assert.equal(probe.name, `ssl_${dir}_internal`);
    assert.deepEqual(probe.calledBy, [plain, ex]);
    assert.equal(probe.countArg, 4);
    for (const fn of [plain, ex]) {
      const { offset, code: c } = code.get(fn)!;
      assert.notEqual(probe.offset, offset, 'not the exported function itself');
      const callsIt = [...c.keys()].some((i) => c[i] === 0xe8 && i + 5 <= c.length && offset + i + 5 + c.readInt32LE(i + 1) === probe.offset);
      assert.ok(callsIt, `${fn} calls the probed function`);
    }
    const first = readCode(LIBSSL, probe.offset, 2)!;
    assert.ok((first[0] >= 0x50 && first[0] <= 0x57) || (first[0] === 0x41 && first[1] >= 0x50 && first[1] <= 0x57), 'starts with a push');
  }
  assert.notEqual(found.write!.offset, found.read!.offset);
});

test('node (wrappers with inlined internals) and files without OpenSSL: nothing found, the exported functions are probed', () => {
  assert.deepEqual(findInternals(process.execPath), {});
  assert.deepEqual(findInternals('/bin/ls'), {});
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-int-'));
  writeFileSync(path.join(dir, 'junk'), Buffer.alloc(100, 7));
  assert.deepEqual(findInternals(path.join(dir, 'junk')), {});
  assert.deepEqual(findInternals(path.join(dir, 'missing')), {});
});

test('a wrapper whose call goes elsewhere than its twin\'s is not trusted', () => {
  // Patch SSL_write's call so it no longer reaches ssl_write_internal: only the read side stays.
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-int-'));
  const copy = path.join(dir, 'libssl.so.3');
  copyFileSync(LIBSSL, copy);
  const { offset, code } = functionCode(copy, ['SSL_write']).get('SSL_write')!;
  const buf = readFileSync(copy);
  for (let i = 0; i + 5 <= code.length; i++) {
    if (code[i] === 0xe8) buf.writeInt32LE(code.readInt32LE(i + 1) + 16, offset + i + 1);
  }
  writeFileSync(copy, buf);
  const found = findInternals(copy);
  assert.equal(found.write, undefined);
  assert.ok(found.read);
});

/** What the agent would place in `file` (the claim, with the symbols discovery would pass). */
function claimOf(file: string) {
  return openssl.claim({ path: file, defined: definedFunctions(file, openssl.symbols) })!;
}

const isPush = (c: Buffer) => (c[0] >= 0x50 && c[0] <= 0x57) || (c[0] === 0x41 && c[1] >= 0x50 && c[1] <= 0x57);

function callsAt(file: string, fn: string, target: number): boolean {
  const { offset, code: c } = functionCode(file, [fn]).get(fn)!;
  return [...c.keys()].some((i) => c[i] === 0xe8 && i + 5 <= c.length && offset + i + 5 + c.readInt32LE(i + 1) === target);
}

test("Debian 13's libssl 3.5: writes on the function SSL_write and SSL_write_ex2 call (count pointer in argument 5), reads as in 3.0", () => {
  const lib = inTrixie('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const found = findInternals(lib);
  assert.ok(found.write, 'write internal found');
  assert.deepEqual(found.write.calledBy, ['SSL_write', 'SSL_write_ex2']);
  assert.equal(found.write.countArg, 5);
  assert.ok(found.read, 'read internal found');
  assert.deepEqual(found.read.calledBy, ['SSL_read', 'SSL_read_ex']);
  assert.equal(found.read.countArg, 4);
  for (const [dir, fns] of [['write', ['SSL_write', 'SSL_write_ex2']], ['read', ['SSL_read', 'SSL_read_ex']]] as const) {
    const probe = found[dir]!;
    for (const fn of fns) assert.ok(callsAt(lib, fn, probe.offset) || callsAt(lib, fn, probe.offset - 4), `${fn} calls the probed function`);
    assert.ok(isPush(readCode(lib, probe.offset, 2)!), `${dir}: starts with a push`);
  }
  // Why SSL_write_ex no longer matches: it moves its count pointer to r8 and tail-calls
  // SSL_write_ex2 (endbr64; mov %rcx,%r8; xor %ecx,%ecx; jmp), so it is no wrapper with a plain prologue.
  const ex = functionCode(lib, ['SSL_write_ex']).get('SSL_write_ex')!.code;
  assert.deepEqual([...ex.subarray(4, 7)], [0x49, 0x89, 0xc8], 'mov %rcx,%r8 after endbr64');

  const claim = claimOf(lib);
  const at = (off: number) => claim.probes.filter((p) => p.offset === off).map((p) => `${p.program}${p.retprobe ? '/ret' : ''}`);
  assert.deepEqual(at(found.write.offset), ['tls_enter_arg5', 'tls_write_ex_ret/ret']);
  assert.deepEqual(at(found.read.offset), ['tls_enter', 'tls_read_ex_ret/ret']);
  assert.deepEqual(claim.probes.filter((p) => p.symbol !== undefined).map((p) => p.symbol), ['SSL_free'], 'no exported read/write function probed');
});

test("libssl 3.5 whose SSL_write_ex2 call goes elsewhere: writes fall back to the exported functions, SSL_write_ex2 with its fifth argument", () => {
  const lib = inTrixie('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-int-'));
  const copy = path.join(dir, 'libssl.so.3');
  copyFileSync(lib, copy);
  const { offset, code } = functionCode(copy, ['SSL_write_ex2']).get('SSL_write_ex2')!;
  const buf = readFileSync(copy);
  const call = code.indexOf(0xe8);
  buf.writeInt32LE(code.readInt32LE(call + 1) + 16, offset + call + 1);
  writeFileSync(copy, buf);
  const found = findInternals(copy);
  assert.equal(found.write, undefined, 'SSL_write_ex is not tried in its place');
  assert.ok(found.read);
  const claim = claimOf(copy);
  const exported = claim.probes.filter((p) => p.symbol !== undefined).map((p) => `${p.symbol} ${p.program}${p.retprobe ? '/ret' : ''}`);
  assert.deepEqual(exported, [
    'SSL_write tls_enter', 'SSL_write tls_write_ret/ret',
    'SSL_write_ex tls_enter', 'SSL_write_ex tls_write_ex_ret/ret',
    'SSL_write_ex2 tls_enter_ex2', 'SSL_write_ex2 tls_write_ex2_ret/ret',
    'SSL_free tls_free',
  ]);
  assert.match(claim.notes.join('; '), /writes on the exported functions/);
});

test('an internal function that begins with `sub $imm,%rsp` (OpenSSL 3.6 as Debian sid builds it) is probed there; one that begins otherwise is not', () => {
  const lib = inTrixie('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const found = findInternals(lib);
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-int-'));
  const copy = path.join(dir, 'libssl.so.3');
  // The write side's first instruction (a push, after endbr64) becomes `sub $0x68,%rsp`.
  const buf = readFileSync(lib);
  Buffer.from([0x48, 0x83, 0xec, 0x68]).copy(buf, found.write!.offset);
  writeFileSync(copy, buf);
  const sub = findInternals(copy);
  assert.equal(sub.write?.offset, found.write!.offset);
  assert.equal(sub.write?.countArg, 5);
  // ... and then `mov %rdi,%rbx`: no probe there, the exported functions instead.
  Buffer.from([0x48, 0x89, 0xfb, 0x90]).copy(buf, found.write!.offset);
  writeFileSync(copy, buf);
  assert.equal(findInternals(copy).write, undefined);
  assert.deepEqual(findInternals(copy).read, found.read);
  rmSync(dir, { recursive: true, force: true });
});
