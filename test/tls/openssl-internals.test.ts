// Finding OpenSSL's internal read/write functions from the exported wrappers' code.
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { functionCode, readCode } from '../../src/discovery/elf';
import { findInternals } from '../../src/tls/openssl/internals';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

test("Debian's libssl 3: both directions found, each a function both wrappers call, starting with a push", () => {
  const found = findInternals(LIBSSL);
  const code = functionCode(LIBSSL, ['SSL_write', 'SSL_write_ex', 'SSL_read', 'SSL_read_ex']);
  for (const [dir, plain, ex] of [['write', 'SSL_write', 'SSL_write_ex'], ['read', 'SSL_read', 'SSL_read_ex']] as const) {
    const probe = found[dir];
    assert.ok(probe, `${dir} internal found`);
    assert.equal(probe.name, `ssl_${dir}_internal`);
    assert.deepEqual(probe.calledBy, [plain, ex]);
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
