// What an ELF file says about its own version, for `doctor` and the claims (src/tls/library.ts
// Claim.version): a version string in its read-only data, and the newest of the symbol version
// names its dynamic string table holds (OPENSSL_3.5.0, GNUTLS_3_8_6: a release at least that
// new). Read once per claimed file, in bounded chunks (node's .rodata is ~45 MB).
import { ElfImage } from '../discovery/elf';

const CHUNK = 4 * 1024 * 1024;
/** Bytes after a marker that a match may span. */
const WINDOW = 96;

/**
 * The distinct first groups of `re` (anchored at the marker, ending before a NUL) over every
 * occurrence of `marker` in the file's .rodata. Empty when the file is no ELF or has no .rodata.
 */
export function rodataStrings(path: string, marker: string, re: RegExp): Set<string> {
  const out = new Set<string>();
  let elf: ElfImage | null;
  try {
    elf = ElfImage.open(path);
  } catch {
    return out; // unreadable now: no version known
  }
  if (!elf) return out;
  try {
    const rodata = elf.section('.rodata');
    if (!rodata) return out;
    const needle = Buffer.from(marker, 'latin1');
    for (let at = 0; at < rodata.size; at += CHUNK) {
      const len = Math.min(CHUNK + WINDOW, rodata.size - at);
      const buf = elf.read(rodata.offset + at, len);
      if (!buf) break;
      for (let i = buf.indexOf(needle); i >= 0 && i < CHUNK; i = buf.indexOf(needle, i + 1)) {
        const end = buf.indexOf(0, i);
        const m = re.exec(buf.toString('latin1', i, end < 0 ? Math.min(buf.length, i + WINDOW) : Math.min(end, i + WINDOW)));
        if (m) out.add(m[1]);
      }
    }
    return out;
  } finally {
    elf.close();
  }
}

/** The newest version (as numbers) among the symbol version names `re` matches in .dynstr
 *  (its groups are the numbers: /^OPENSSL_(\d+)\.(\d+)\.(\d+)$/). */
export function newestSymbolVersion(path: string, re: RegExp): number[] | undefined {
  let elf: ElfImage | null;
  try {
    elf = ElfImage.open(path);
  } catch {
    return undefined; // unreadable now: no version known
  }
  if (!elf) return undefined;
  try {
    const dynstr = elf.section('.dynstr');
    const data = dynstr ? elf.sectionData(dynstr) : null;
    if (!data) return undefined;
    let best: number[] | undefined;
    for (const s of data.toString('latin1').split('\0')) {
      const m = re.exec(s);
      if (!m) continue;
      const v = m.slice(1).map(Number);
      if (best === undefined || compareVersions(v, best) > 0) best = v;
    }
    return best;
  } finally {
    elf.close();
  }
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
