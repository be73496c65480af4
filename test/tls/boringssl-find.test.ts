// Finding SSL_read and SSL_write in a BoringSSL without symbols (src/tls/boringssl/find.ts), on
// real builds from PyPI (scripts/build-python-venv.sh): curl_cffi's, whose symbols in .symtab
// (which the finder never reads) say where the functions are, so the finder is checked against
// the truth on a build it was not written from; grpcio's, which the e2e test traces (its spans
// show the functions are right); files that are not BoringSSL; a copy with no usable unwind table.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, closeSync, writeSync, readdirSync, rmSync } from 'node:fs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfImage, definedFunctions } from '../../src/discovery/elf';
import { openssl } from '../../src/tls/openssl/openssl';
import { boringssl } from '../../src/tls/boringssl/boringssl';
import { BoringsslPlacementError, findBoringssl, fnIndexAt, startsAtEntry, unwindFunctions } from '../../src/tls/boringssl/find';
import { ROOT } from '../helpers/procs';

let cygrpc: string;
let curlCffi: string;

before(() => {
  const py = execFileSync('bash', [path.join(ROOT, 'scripts/build-python-venv.sh'), '--path'], { encoding: 'utf8' }).trim();
  if (!existsSync(py)) throw new Error(`no Python environment with grpcio at ${py}: run scripts/install-test-deps.sh`);
  const site = execFileSync(py, ['-c', 'import grpc._cython, os; print(os.path.dirname(grpc._cython.__file__))'], { encoding: 'utf8' }).trim();
  const name = readdirSync(site).find((f) => /^cygrpc\..*\.so$/.test(f));
  assert.ok(name, `cygrpc module in ${site}`);
  cygrpc = path.join(site, name);
  const cffi = execFileSync(py, ['-c', 'import curl_cffi, os; print(os.path.dirname(curl_cffi.__file__))'], { encoding: 'utf8' }).trim();
  const wrapper = readdirSync(cffi).find((f) => /^_wrapper\..*\.so$/.test(f));
  assert.ok(wrapper, `curl_cffi's wrapper module in ${cffi}`);
  curlCffi = path.join(cffi, wrapper);
});

test("curl_cffi's BoringSSL (another build, another BoringSSL): the finder lands on the symbols' functions", () => {
  const elf = ElfImage.open(curlCffi)!;
  let truth: Record<'read' | 'write', number>;
  try {
    const syms = elf.functionSymbols(['SSL_read', 'SSL_write']);
    assert.equal(syms.size, 2, 'curl_cffi keeps SSL_read and SSL_write in .symtab');
    truth = { read: elf.offsetOf(syms.get('SSL_read')!.vaddr)!, write: elf.offsetOf(syms.get('SSL_write')!.vaddr)! };
  } finally {
    elf.close();
  }
  const found = findBoringssl(curlCffi);
  assert.ok(found);
  assert.deepEqual({ read: found.read.offset, write: found.write.offset }, truth);
  // With its symbols it is the OpenSSL library's claim, named for the fork.
  const claim = openssl.claim({ path: curlCffi, defined: definedFunctions(curlCffi, openssl.symbols) });
  assert.ok(claim);
  assert.equal(claim.library, 'boringssl');
  assert.match(claim.notes.join('; '), /BoringSSL \(OpenSSL's API\)/);
  assert.equal(boringssl.claim({ path: curlCffi, defined: definedFunctions(curlCffi, boringssl.symbols) }), undefined);
});

test("grpcio's cygrpc: SSL_write and SSL_read found in its text, apart, each a whole function", () => {
  const found = findBoringssl(cygrpc);
  assert.ok(found, 'BoringSSL found');
  assert.ok(found.sites >= 20, `error sites of ssl_lib.cc: ${found.sites}`);
  assert.notEqual(found.read.offset, found.write.offset);
  const elf = ElfImage.open(cygrpc)!;
  try {
    const text = elf.section('.text')!;
    for (const f of [found.read, found.write]) {
      assert.ok(f.offset >= text.offset && f.offset + f.size <= text.offset + text.size, `0x${f.offset.toString(16)} in .text`);
      assert.ok(f.size > 16 && f.size < 4096, `size ${f.size}`);
    }
    // SSL_write raises SSL_R_BAD_LENGTH (111) itself: `mov $0x6f,%edx` in its code; SSL_read does not.
    const has111 = (f: { offset: number; size: number }) => elf.read(f.offset, f.size)!.includes(Buffer.from([0xba, 0x6f, 0, 0, 0]));
    assert.equal(has111(found.write), true);
    assert.equal(has111(found.read), false);
  } finally {
    elf.close();
  }
  // The same answer every time (no state between files).
  assert.deepEqual(findBoringssl(cygrpc), found);
});

test('the claim: the OpenSSL probe programs on both functions, connections ending at their socket\'s close', () => {
  const claim = boringssl.claim({ path: cygrpc, defined: new Set() });
  assert.ok(claim);
  assert.equal(claim.library, 'boringssl');
  assert.equal(claim.endsAtSocketClose, true);
  assert.deepEqual(claim.probes.map((p) => `${p.program}${p.retprobe ? '(ret)' : ''} ${p.label.replace(/@.*/, '')}`), [
    'tls_enter SSL_write', 'tls_write_ret(ret) SSL_write', 'tls_enter SSL_read', 'tls_read_ret(ret) SSL_read',
  ]);
  assert.match(claim.notes.join('; '), /error sites of ssl_lib\.cc/);
  // A file that exports SSL_read is OpenSSL's claim (a BoringSSL with symbols included).
  assert.equal(boringssl.claim({ path: cygrpc, defined: new Set(['SSL_read', 'SSL_write']) }), undefined);
});

test('files that are not BoringSSL: null, quickly', () => {
  const files = ['/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/lib/x86_64-linux-gnu/libc.so.6', process.execPath, '/usr/bin/curl', '/bin/sh'];
  for (const f of files.filter(existsSync)) {
    const t0 = performance.now();
    assert.equal(findBoringssl(f), null, f);
    assert.ok(performance.now() - t0 < 2000, `${f} took ${performance.now() - t0} ms`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bssl-'));
  try {
    const notElf = path.join(dir, 'x.so');
    const fd = openSync(notElf, 'w');
    writeSync(fd, Buffer.alloc(2 * 1024 * 1024, 'third_party/boringssl/ssl/ssl_lib.cc\0'));
    closeSync(fd);
    assert.equal(findBoringssl(notElf), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BoringSSL whose unwind table cannot be read: a clear error, not a guess', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bssl-'));
  try {
    const copy = path.join(dir, 'cygrpc-copy.so');
    copyFileSync(cygrpc, copy);
    const elf = ElfImage.open(copy)!;
    const hdr = elf.section('.eh_frame_hdr')!;
    elf.close();
    const fd = openSync(copy, 'r+');
    writeSync(fd, Buffer.from([0x7f]), 0, 1, hdr.offset); // version 1 → 0x7f
    closeSync(fd);
    assert.throws(() => findBoringssl(copy), (e: Error) => e instanceof BoringsslPlacementError && /unwind table/.test(e.message));
    assert.throws(() => boringssl.claim({ path: copy, defined: new Set() }), /BoringSSL built in without symbols: .*unwind table.*; not traced/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a function's start and a fragment's are told apart by their unwind rules (libcrypto, built by GCC)", () => {
  const lib = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libcrypto.so.3');
  const elf = ElfImage.open(lib)!;
  try {
    const u = unwindFunctions(elf)!;
    assert.ok(u && u.starts.length > 1000, 'the unwind table read');
    // Exported functions are entries: every one with an unwind entry of its own starts as one.
    const names = ['EVP_DigestInit_ex', 'EVP_EncryptUpdate', 'SHA256', 'BN_add', 'ERR_put_error', 'OPENSSL_cleanse', 'EVP_PKEY_new', 'X509_free'];
    const syms = elf.functionSymbols(names);
    let checked = 0;
    for (const [name, sym] of syms) {
      const k = fnIndexAt(u, sym.vaddr);
      if (k < 0 || u.starts[k] !== sym.vaddr) continue;
      assert.equal(startsAtEntry(u, k), true, name);
      checked++;
    }
    assert.ok(checked >= 4, `entries checked: ${checked}`);
    // GCC splits unlikely paths into ".cold" fragments with unwind entries of their own: some
    // of the table's entries do not start as functions do.
    let fragments = 0;
    for (let k = 0; k < u.starts.length; k++) if (!startsAtEntry(u, k)) fragments++;
    assert.ok(fragments > 0, 'fragments found');
    assert.ok(fragments < u.starts.length / 4, `fragments ${fragments} of ${u.starts.length}`);
  } finally {
    elf.close();
  }
});
