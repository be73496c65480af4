// Which OpenSSL release a file is. OPENSSL_VERSION_TEXT ("OpenSSL 3.5.9 29 Sep 2026", node's
// "OpenSSL 3.0.15+quic 3 Sep 2024") is in libcrypto's read-only data, and in any program that
// carries OpenSSL inside; libssl has none. For a libssl the text is read from the libcrypto
// beside it (the one its package ships), and kept only when that release's series is the one
// libssl's own symbol versions name (OPENSSL_3.5.0 in libssl 3.5): a libcrypto of another
// release beside it leaves the version unknown, never wrong.
import path from 'node:path';
import { newestSymbolVersion, rodataStrings } from '../version-strings';

export interface OpensslVersion {
  version?: string;
  /** How it was learnt, for `doctor`, when not from the file itself. */
  note?: string;
}

const TEXT = /^OpenSSL (\d+\.\d+\.\d+[a-z]?)(?:[+-][\w.]+)? \d{1,2} [A-Z][a-z]{2} \d{4}$/;
const SYMVER = /^OPENSSL_(\d+)\.(\d+)\.(\d+)$/;

/** The one version text in the file, or undefined (none, or several that disagree). */
function ownText(file: string): string | undefined {
  const found = rodataStrings(file, 'OpenSSL ', TEXT);
  return found.size === 1 ? [...found][0] : undefined;
}

export function opensslVersion(file: string): OpensslVersion {
  const own = ownText(file);
  if (own !== undefined) return { version: own };
  const base = path.basename(file);
  if (!base.startsWith('libssl')) return {};
  const series = newestSymbolVersion(file, SYMVER);
  const cryptoName = base.replace(/^libssl/, 'libcrypto');
  const crypto = ownText(path.join(path.dirname(file), cryptoName));
  if (series === undefined || crypto === undefined) return {};
  const [major, minor] = crypto.split('.').map(Number);
  if (major !== series[0] || minor !== series[1]) {
    return { note: `version unknown (${cryptoName} beside it is ${crypto}, its symbols name ${series.slice(0, 2).join('.')})` };
  }
  return { version: crypto, note: `version from ${cryptoName} beside it` };
}
