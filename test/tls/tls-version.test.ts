// The version a claim names (doctor shows it), read from the real files: the host's libssl 3.0
// and libgnutls 3.7, Debian 13's libssl 3.5 and libgnutls 3.8 (scripts/build-debian-trixie-root.sh),
// node's OpenSSL inside; each checked against what the library or its package says by itself.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { definedFunctions } from '../../src/discovery/elf';
import { gnutls } from '../../src/tls/gnutls/gnutls';
import { openssl } from '../../src/tls/openssl/openssl';
import { opensslVersion } from '../../src/tls/openssl/version';
import { gnutlsVersion } from '../../src/tls/gnutls/version';
import type { TlsLibrary } from '../../src/tls/library';
import { inTrixie, trixieRoot } from '../helpers/debian-root';

const LIB = '/usr/lib/x86_64-linux-gnu';

const claimOf = (lib: TlsLibrary, file: string) => lib.claim({ path: file, defined: definedFunctions(file, lib.symbols) });
/** The upstream part of a Debian package's version in the trixie root ("3.5.9-1~deb13u1" → "3.5.9"). */
const trixiePackage = (pkg: string) => execFileSync('chroot', [trixieRoot(), 'dpkg-query', '-W', '-f', '${Version}', pkg], { encoding: 'utf8' }).replace(/-[^-]*$/, '');

test("the host's libssl: the version its libcrypto reports (openssl version), learnt from the libcrypto beside it", () => {
  const expected = /^OpenSSL (\S+) /.exec(execFileSync('openssl', ['version'], { encoding: 'utf8' }))![1];
  assert.deepEqual(opensslVersion(`${LIB}/libssl.so.3`), { version: expected, note: 'version from libcrypto.so.3 beside it' });
  const claim = claimOf(openssl, `${LIB}/libssl.so.3`)!;
  assert.equal(claim.version, expected);
  assert.ok(claim.notes.includes('version from libcrypto.so.3 beside it'));
});

test("Debian 13's libssl 3.5: the version of its package and of its curl's banner", () => {
  const file = inTrixie(`${LIB}/libssl.so.3`);
  const pkg = trixiePackage('libssl3t64');
  assert.match(pkg, /^3\.5\./);
  const banner = /OpenSSL\/(\S+)/.exec(execFileSync('chroot', [trixieRoot(), 'curl', '--version'], { encoding: 'utf8' }))![1];
  assert.equal(banner, pkg);
  assert.equal(opensslVersion(file).version, pkg);
  assert.equal(claimOf(openssl, file)!.version, pkg);
});

test('node: the OpenSSL inside the binary, as node itself reports it', () => {
  assert.deepEqual(opensslVersion(process.execPath), { version: process.versions.openssl.replace(/\+.*$/, '') });
  assert.equal(claimOf(openssl, process.execPath)!.version, process.versions.openssl.replace(/\+.*$/, ''));
});

test('a libssl beside a libcrypto of another release: version unknown, and the note says why', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsotel-ver-'));
  try {
    copyFileSync(inTrixie(`${LIB}/libssl.so.3`), path.join(dir, 'libssl.so.3'));
    copyFileSync(`${LIB}/libcrypto.so.3`, path.join(dir, 'libcrypto.so.3')); // the host's 3.0
    const v = opensslVersion(path.join(dir, 'libssl.so.3'));
    assert.equal(v.version, undefined);
    assert.match(v.note ?? '', /^version unknown \(libcrypto\.so\.3 beside it is 3\.0\.\d+, its symbols name 3\.5\)$/);
    // Alone (no libcrypto at all): unknown, nothing to say.
    rmSync(path.join(dir, 'libcrypto.so.3'));
    assert.deepEqual(opensslVersion(path.join(dir, 'libssl.so.3')), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GnuTLS: the host\'s (as gnutls-cli reports it) and Debian 13\'s (as its package says)', () => {
  const host = /gnutls-cli (\S+)/.exec(execFileSync('gnutls-cli', ['--version'], { encoding: 'utf8' }))![1];
  assert.equal(gnutlsVersion(`${LIB}/libgnutls.so.30`), host);
  assert.equal(claimOf(gnutls, `${LIB}/libgnutls.so.30`)!.version, host);
  const pkg = trixiePackage('libgnutls30t64');
  assert.match(pkg, /^3\.8\./);
  assert.equal(gnutlsVersion(inTrixie(`${LIB}/libgnutls.so.30`)), pkg);
});

test('files that are not the library: no version', () => {
  assert.equal(gnutlsVersion(`${LIB}/libssl.so.3`), undefined);
  assert.deepEqual(opensslVersion('/bin/ls'), {});
  assert.deepEqual(opensslVersion('/nonexistent/libssl.so.3'), {});
});
