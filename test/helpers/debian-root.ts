// The Debian 13 (trixie) root the tests of "OpenSSL as others build it" use: trixie's own curl,
// libssl 3.5 and libgnutls 3.8, built with debootstrap by scripts/build-debian-trixie-root.sh
// (run by scripts/install-test-deps.sh; built here when missing, about a minute).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './procs';

let cached: string | undefined;

/** The root's directory. */
export function trixieRoot(): string {
  cached ??= execFileSync('bash', [path.join(ROOT, 'scripts/build-debian-trixie-root.sh')], { encoding: 'utf8' }).trim();
  return cached;
}

/** A file of the root by its path inside it ("/usr/lib/x86_64-linux-gnu/libssl.so.3"). */
export function inTrixie(file: string): string {
  return path.join(trixieRoot(), file);
}
