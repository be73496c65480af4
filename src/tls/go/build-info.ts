// Go build info: the blob every Go linker (≥ 1.13) writes into a Go executable, found by its
// magic "\xff Go buildinf:". It names the toolchain ("go1.26.0") and the main package/module,
// which is how a Go binary is told from any other ELF file without symbols (`-s -w` keeps it).
//
// Layout (the linker's ld.buildinfo, read by Go's own debug/buildinfo):
//   [0,14)  magic           [14] pointer size   [15] flags: bit 0 big-endian, bit 1 inline strings
//   inline (Go ≥ 1.18): at 32, the version then the modinfo string, each a uvarint length + bytes
//   pointer (Go < 1.18): at 16 and 16+ptrSize, addresses of Go string headers {data, len}
// The modinfo string is framed by two 16-byte sentinels and is lines of tab-separated fields:
// "path <main package>", "mod <module> <version> <sum>", "dep …", "build <key>=<value>".
import { ElfImage, PF_W } from '../../discovery/elf';

export interface GoBuildInfo {
  /** The toolchain that linked the binary, e.g. "go1.26.0" (may carry a suffix such as " X:…"). */
  goVersion: string;
  /** The main package's import path ("command-line-arguments" for `go build file.go`), or null. */
  mainPackage: string | null;
  /** The main module's path, or null when built outside a module. */
  mainModule: string | null;
  /** `build` settings (e.g. "-buildmode" → "pie", "-ldflags" → "-s -w", "CGO_ENABLED" → "1"). */
  settings: Map<string, string>;
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_SIZE = 32;
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE = 0x2;
// The blob is small (a few KiB for a binary with many dependencies); this bounds a damaged one.
const MAX_STRING = 1 << 20;
const SENTINEL_SIZE = 16;
const MAX_SEARCH = 16 * 1024 * 1024;

/**
 * The minor release of a Go version string: 26 for "go1.26.8", "go1.26rc1" or
 * "devel go1.26-abcdef …"; null when it names no Go 1.x release.
 */
export function goMinorVersion(version: string): number | null {
  const m = /(?:^|\s)go1\.(\d+)(?!\d)/.exec(version);
  return m ? Number(m[1]) : null;
}

/** The build info of a Go executable; null for a file that is not one (or not ELF). */
export function readGoBuildInfo(elf: ElfImage): GoBuildInfo | null {
  const at = findBlob(elf);
  if (at === undefined) return null;
  const header = elf.readVaddr(at, HEADER_SIZE);
  if (!header) return null;
  const flags = header[15];
  if (flags & FLAG_BIG_ENDIAN) return null; // x86-64 only, like the rest of the ELF reading
  let version: Buffer | null;
  let modinfo: Buffer | null;
  if (flags & FLAG_INLINE) {
    const v = inlineString(elf, at + HEADER_SIZE);
    const m = v && inlineString(elf, v.next);
    version = v?.bytes ?? null;
    modinfo = m?.bytes ?? null;
  } else {
    const ptrSize = header[14];
    if (ptrSize !== 8) return null;
    version = pointedString(elf, Number(header.readBigUInt64LE(16)));
    modinfo = pointedString(elf, Number(header.readBigUInt64LE(24)));
  }
  // Any non-empty version, as Go's debug/buildinfo: toolchains built from source say "devel …".
  const goVersion = version?.toString('utf8');
  if (!goVersion) return null;
  return { goVersion, ...parseModinfo(modinfo) };
}

/** The blob's virtual address: the .go.buildinfo section, else a search of the writable data. */
function findBlob(elf: ElfImage): number | undefined {
  const section = elf.section('.go.buildinfo');
  if (section) {
    const head = elf.read(section.offset, MAGIC.length);
    return head && head.equals(MAGIC) ? section.addr : undefined;
  }
  // Without section names: the linker puts the blob at the start of a writable segment,
  // 16-byte aligned: the first one, or (internally linked PIE) the one after the RELRO data.
  for (const data of elf.segments.filter((s) => s.flags & PF_W)) {
    const bytes = elf.read(data.offset, Math.min(data.filesz, MAX_SEARCH));
    if (!bytes) continue;
    for (let i = bytes.indexOf(MAGIC); i >= 0; i = bytes.indexOf(MAGIC, i + 1)) {
      if (i % 16 === 0) return data.vaddr + i;
    }
  }
  return undefined;
}

function inlineString(elf: ElfImage, vaddr: number): { bytes: Buffer; next: number } | null {
  let length = 0;
  let n = 0;
  for (let shift = 0; ; shift += 7) {
    const b = shift <= 28 ? elf.readVaddr(vaddr + n, 1) : null;
    if (!b) return null;
    n++;
    length += (b[0] & 0x7f) * 2 ** shift;
    if (!(b[0] & 0x80)) break;
  }
  if (length > MAX_STRING) return null;
  const bytes = elf.readVaddr(vaddr + n, length);
  return bytes ? { bytes, next: vaddr + n + length } : null;
}

/** The bytes of the Go string whose header {data, len} is at a virtual address. */
function pointedString(elf: ElfImage, headerVaddr: number): Buffer | null {
  const h = elf.readVaddr(headerVaddr, 16);
  if (!h) return null;
  const length = Number(h.readBigUInt64LE(8));
  if (length > MAX_STRING) return null;
  return elf.readVaddr(Number(h.readBigUInt64LE(0)), length);
}

function parseModinfo(framed: Buffer | null): Omit<GoBuildInfo, 'goVersion'> {
  const out: Omit<GoBuildInfo, 'goVersion'> = { mainPackage: null, mainModule: null, settings: new Map() };
  // Without both sentinels (and the newline before the closing one) the text is not modinfo.
  if (!framed || framed.length < 2 * SENTINEL_SIZE + 1 || framed[framed.length - SENTINEL_SIZE - 1] !== 0x0a) return out;
  for (const line of framed.subarray(SENTINEL_SIZE, framed.length - SENTINEL_SIZE).toString('utf8').split('\n')) {
    const [kind, a] = line.split('\t');
    if (kind === 'path' && a) out.mainPackage = a;
    else if (kind === 'mod' && a) out.mainModule = a;
    else if (kind === 'build' && a) {
      // "build\tkey=value"; a value with spaces or quotes is quoted Go-style, kept as written.
      const eq = a.indexOf('=');
      if (eq > 0) out.settings.set(a.slice(0, eq), a.slice(eq + 1));
    }
  }
  return out;
}
