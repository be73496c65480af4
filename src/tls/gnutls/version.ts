// Which GnuTLS release a file is: the version in the line gnutls_global_init logs ("Enabled
// GnuTLS 3.8.9 logging..."), kept only when it is at least the newest symbol version the file
// defines (GNUTLS_3_8_6): a string that disagrees with the symbols leaves it unknown.
import { compareVersions, newestSymbolVersion, rodataStrings } from '../version-strings';

const TEXT = /^Enabled GnuTLS (\d+\.\d+\.\d+) logging/;
const SYMVER = /^GNUTLS_(\d+)_(\d+)_(\d+)$/;

export function gnutlsVersion(file: string): string | undefined {
  const found = rodataStrings(file, 'Enabled GnuTLS ', TEXT);
  if (found.size !== 1) return undefined;
  const version = [...found][0];
  const newest = newestSymbolVersion(file, SYMVER);
  if (newest === undefined || compareVersions(version.split('.').map(Number), newest) < 0) return undefined;
  return version;
}
