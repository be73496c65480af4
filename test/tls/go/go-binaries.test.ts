// The Go crypto/tls analysis against real Go binaries: the fixture programs built by Go 1.19
// (Debian's golang-go) and the current Go (1.26), normal, PIE, stripped, stripped PIE, and
// stripped PIE linked by the C linker. Every answer is checked against an independent tool: the
// binary's own .symtab (through `nm`), the unstripped twin for a stripped binary, and binutils'
// objdump for file offsets and RET instructions.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ElfImage } from '../../../src/discovery/elf';
import {
  GO_TLS_READ,
  GO_TLS_WRITE,
  GoAnalysisError,
  GoBinaryAnalysis,
  Pclntab,
  analyzeGoBinary,
  findGoFunctionsInPclntab,
  goBuildInfo,
  isGoBinary,
} from '../../../src/tls/go';
import { prng } from '../../helpers/prng';
import { BUILD_DIR, LINK_MODES, LinkMode, TOOLCHAINS, UNSTRIPPED_TWIN, buildFixture, toolchainVersion } from './go-toolchains';

after(() => rmSync(BUILD_DIR, { recursive: true, force: true }));

const FUNCS = [GO_TLS_WRITE, GO_TLS_READ];
const MODULE = 'example.com/tlsotel/https-pair';
const hex = (n: number) => `0x${n.toString(16)}`;

/** Symbol → address, from binutils' nm (not our symbol reader). */
function nmSymbols(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of execFileSync('nm', [file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).split('\n')) {
    const m = /^([0-9a-f]+) \S (.+)$/.exec(line);
    if (m) out.set(m[2], parseInt(m[1], 16));
  }
  return out;
}

/** objdump's view of [vaddr, vaddr+size): the addresses of its RET instructions, and whether any byte did not decode. */
function objdumpReturns(file: string, vaddr: number, size: number): { rets: number[]; bad: boolean; count: number } {
  const text = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=${hex(vaddr)}`, `--stop-address=${hex(vaddr + size)}`, file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const rets: number[] = [];
  let count = 0;
  let bad = false;
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t(.*)$/.exec(line);
    if (!m) continue;
    count++;
    if (/^(bnd |repz )?ret[qw]?\b/.test(m[2])) rets.push(parseInt(m[1], 16));
    if (m[2].includes('(bad)')) bad = true;
  }
  return { rets, bad, count };
}

/** The file offset objdump -F prints for a symbol (needs the symbol table). */
function objdumpFileOffset(file: string, vaddr: number): number {
  const text = execFileSync('objdump', ['-d', '-F', `--start-address=${hex(vaddr)}`, `--stop-address=${hex(vaddr + 1)}`, file], { encoding: 'utf8' });
  const m = /\(File Offset: (0x[0-9a-f]+)\)/.exec(text);
  assert.ok(m, `objdump -F printed no file offset:\n${text}`);
  return parseInt(m[1], 16);
}

for (const tc of TOOLCHAINS) {
  // A cold build cache makes the first build of each toolchain take minutes on a busy machine.
  describe(`crypto/tls in binaries built by ${tc.release}`, { timeout: 900_000 }, () => {
    let version = '';
    const bins = new Map<LinkMode, string>();
    const analyses = new Map<LinkMode, GoBinaryAnalysis>();

    before(() => {
      version = toolchainVersion(tc);
      for (const mode of Object.keys(LINK_MODES) as LinkMode[]) bins.set(mode, buildFixture(tc, 'https-pair', mode));
    }, { timeout: 600_000 });

    for (const mode of Object.keys(LINK_MODES) as LinkMode[]) {
      const twinMode = UNSTRIPPED_TWIN[mode];
      const stripped = twinMode !== undefined;
      test(`${mode}: build info names the toolchain and the module`, () => {
        const file = bins.get(mode)!;
        assert.equal(isGoBinary(file), true);
        const info = goBuildInfo(file);
        assert.ok(info);
        assert.equal(info.goVersion, version);
        assert.equal(info.mainModule, MODULE);
        assert.equal(info.mainPackage, MODULE);
        assert.equal(info.settings.get('-ldflags')?.includes('-s -w') ?? false, stripped, `-ldflags: ${info.settings.get('-ldflags')}`);
        const static_ = mode.startsWith('static');
        assert.equal(info.settings.get('CGO_ENABLED'), static_ ? '0' : '1');
        const elf = ElfImage.open(file)!;
        assert.equal(elf.section('.interp') === undefined, static_, 'only the CGO_ENABLED=0 builds are static');
        elf.close();
      });

      test(`${mode}: Write and Read are found where the symbol table puts them`, () => {
        const file = bins.get(mode)!;
        const a = analyzeGoBinary(file);
        assert.ok(a?.cryptoTls, 'crypto/tls not found');
        assert.equal(a.registerAbi, true);
        analyses.set(mode, a);
        // A stripped binary is compared with its unstripped twin: stripping removes symbols
        // and DWARF but moves no code (checked here, since it is what makes the comparison valid).
        const twin = bins.get(twinMode ?? mode)!;
        const symbols = nmSymbols(twin);
        for (const [fn, want] of [[a.cryptoTls.write, GO_TLS_WRITE], [a.cryptoTls.read, GO_TLS_READ]] as const) {
          assert.equal(fn.function.name, want);
          assert.equal(fn.function.source, stripped ? 'pclntab' : 'symtab');
          assert.equal(fn.function.vaddr, symbols.get(want), `${want} vaddr`);
          assert.ok(fn.function.size > 100, `${want} size ${fn.function.size}`);
          assert.equal(fn.entryOffset, fn.function.offset, 'Go emits no endbr64: the entry probe is at the function start');
          if (!stripped) assert.equal(fn.function.offset, objdumpFileOffset(file, fn.function.vaddr), `${want} file offset`);
        }
      });

      test(`${mode}: the pclntab gives what the symbol table gives`, () => {
        const file = bins.get(mode)!;
        const elf = ElfImage.open(file)!;
        try {
          const fromPclntab = findGoFunctionsInPclntab(elf, FUNCS);
          const pclntab = Pclntab.load(elf);
          if (stripped) {
            // No symbols here: the text start must still be runtime.text, which the external
            // linker does not put at the start of .text.
            assert.ok(pclntab.textStart >= elf.section('.text')!.addr);
            if (mode === 'external-stripped-pie') assert.notEqual(pclntab.textStart, elf.section('.text')!.addr);
            const twin = nmSymbols(bins.get(twinMode!)!);
            assert.equal(pclntab.textStart, twin.get('runtime.text'), 'text start = the twin\'s runtime.text');
            return;
          }
          const symbols = nmSymbols(file);
          assert.equal(pclntab.textStart, symbols.get('runtime.text'), 'text start (moduledata) = runtime.text');
          assert.equal(pclntab.textEnd, symbols.get('runtime.etext'), 'text end (moduledata) = runtime.etext');
          const fromSymtab = elf.functionSymbols(FUNCS);
          for (const name of FUNCS) {
            const p = fromPclntab.get(name)!;
            const s = fromSymtab.get(name)!;
            assert.deepEqual({ vaddr: p.vaddr, size: p.size }, { vaddr: s.vaddr, size: s.size }, name);
          }
        } finally {
          elf.close();
        }
      });

      test(`${mode}: every RET, and only RETs, as objdump decodes them`, () => {
        const file = bins.get(mode)!;
        const a = analyses.get(mode) ?? analyzeGoBinary(file);
        assert.ok(a?.cryptoTls);
        for (const sites of [a.cryptoTls.write, a.cryptoTls.read]) {
          const { vaddr, offset, size, name } = sites.function;
          const od = objdumpReturns(file, vaddr, size);
          assert.equal(od.bad, false, `objdump could not decode ${name}`);
          assert.ok(od.count > 50, `objdump decoded only ${od.count} instructions of ${name}`);
          assert.ok(od.rets.length >= 2, `${name}: objdump shows ${od.rets.length} RETs`);
          assert.deepEqual(sites.returnOffsets.map(hex), od.rets.map((r) => hex(r - vaddr + offset)), name);
        }
      });
    }

    test('stripping moves no code: the stripped binaries have their twins\' addresses, sizes and RETs', () => {
      for (const [s, n] of Object.entries(UNSTRIPPED_TWIN) as Array<[LinkMode, LinkMode]>) {
        const stripped = analyses.get(s) ?? analyzeGoBinary(bins.get(s)!);
        const normal = analyses.get(n) ?? analyzeGoBinary(bins.get(n)!);
        for (const k of ['write', 'read'] as const) {
          const a = stripped!.cryptoTls![k];
          const b = normal!.cryptoTls![k];
          assert.deepEqual([a.function.vaddr, a.function.size, a.returnOffsets.map((r) => r - a.function.offset)], [b.function.vaddr, b.function.size, b.returnOffsets.map((r) => r - b.function.offset)], `${s} vs ${n}: ${k}`);
        }
      }
    });

    test('a truncated binary gives no analysis or a GoAnalysisError, never another exception or wrong sites', () => {
      const file = bins.get('stripped-pie')!;
      const whole = readFileSync(file);
      const good = analyses.get('stripped-pie') ?? analyzeGoBinary(file);
      const elf = ElfImage.open(file)!;
      const cuts = [0, 16, 64, 200, ...elf.sections.flatMap((sec) => [sec.offset, sec.offset + (sec.size >> 1)]), whole.length >> 1, whole.length - 1];
      elf.close();
      const cut = path.join(BUILD_DIR, `truncated-${tc.release}`);
      for (const at of cuts.filter((c) => c < whole.length)) {
        writeFileSync(cut, whole.subarray(0, at));
        let a: GoBinaryAnalysis | null;
        try {
          a = analyzeGoBinary(cut);
        } catch (err) {
          assert.ok(err instanceof GoAnalysisError, `cut at ${at}: ${String(err)}`);
          continue;
        }
        // What it still finds must be what the whole file gives.
        if (a?.cryptoTls) assert.deepEqual(a.cryptoTls, good!.cryptoTls, `cut at ${at}`);
      }
    });

    test('damaged tables give null, a GoAnalysisError or an analysis, never another exception', () => {
      const file = bins.get('stripped-pie')!;
      const whole = readFileSync(file);
      const elf = ElfImage.open(file)!;
      const pclntab = Pclntab.load(elf);
      const pclnSection = elf.sections.find((sec) => sec.addr === pclntab.vaddr) ?? elf.sections.find((sec) => sec.name.endsWith('.data.rel.ro'))!;
      const regions = [
        { at: elf.offsetOf(pclntab.vaddr)!, size: 72 }, // pcHeader
        { at: pclnSection.offset, size: pclnSection.size }, // names, ftab, _func, pc tables
        { at: elf.section('.go.buildinfo')!.offset, size: 64 },
        { at: elf.section('.noptrdata')!.offset, size: 1 << 16 }, // where moduledata lives before Go 1.26
        ...(elf.section('.go.module') ? [{ at: elf.section('.go.module')!.offset, size: 24 * 8 }] : []),
        { at: 0, size: 64 }, // ELF header
      ];
      elf.close();
      const seed = 0x60a11 + tc.release.length;
      const random = prng(seed);
      const damaged = path.join(BUILD_DIR, `damaged-${tc.release}`);
      const outcomes = { null: 0, error: 0, analysis: 0 };
      for (let i = 0; i < 120; i++) {
        const copy = Buffer.from(whole);
        const region = regions[i % regions.length];
        for (let k = 1 + Math.floor(random() * 4); k > 0; k--) copy[region.at + Math.floor(random() * region.size)] = Math.floor(random() * 256);
        writeFileSync(damaged, copy);
        try {
          outcomes[analyzeGoBinary(damaged) ? 'analysis' : 'null']++;
        } catch (err) {
          assert.ok(err instanceof GoAnalysisError, `seed ${seed} case ${i}: ${String(err)}`);
          outcomes.error++;
        }
      }
      assert.ok(outcomes.error > 0 && outcomes.analysis > 0, JSON.stringify(outcomes));
    });

    test('without section names, or with no section headers at all, the blob and the pclntab are found by their magic', () => {
      for (const mode of ['stripped', 'stripped-pie', 'external-stripped-pie'] as const) {
        const file = bins.get(mode)!;
        const want = analyzeGoBinary(file);
        const whole = readFileSync(file);
        const elf = ElfImage.open(file)!;
        const names = elf.sections.find((sec) => sec.name === '.shstrtab')!;
        elf.close();

        const renamed = Buffer.from(whole);
        const table = renamed.subarray(names.offset, names.offset + names.size);
        let count = 0;
        for (const name of ['gopclntab\0', '.go.buildinfo\0']) {
          for (let i = table.indexOf(name); i >= 0; i = table.indexOf(name, i + 1)) {
            table.write('x', i + (name.startsWith('.') ? 1 : 0), 'latin1');
            count++;
          }
        }
        // Go 1.19's C-linked PIE has no pclntab section to rename: it is inside .data.rel.ro.
        assert.ok(count >= 2 || (mode === 'external-stripped-pie' && count === 1), `${mode}: renamed ${count}`);

        // What sstrip does: e_shoff, e_shnum and e_shstrndx zeroed; only program headers remain.
        const headerless = Buffer.from(whole);
        headerless.writeBigUInt64LE(0n, 0x28);
        headerless.writeUInt16LE(0, 0x3c);
        headerless.writeUInt16LE(0, 0x3e);

        for (const [variant, bytes] of [['renamed', renamed], ['headerless', headerless]] as const) {
          const copy = path.join(BUILD_DIR, `${variant}-${tc.release}-${mode}`);
          writeFileSync(copy, bytes);
          const check = ElfImage.open(copy)!;
          assert.equal(check.sections.some((sec) => sec.name.endsWith('gopclntab') || sec.name === '.go.buildinfo'), false);
          check.close();
          assert.deepEqual(analyzeGoBinary(copy), want, `${mode} ${variant}`);
        }
      }
    });

    test('build info in the pointer format of Go < 1.18 (rewritten from this binary\'s) reads the same', () => {
      // No older toolchain is at hand, so the blob is turned into the old format: flags without
      // the inline bit, and pointers to Go string headers {data, len} that point at the strings
      // where they already are. The headers go at the start of .noptrdata (the copy never runs).
      const file = bins.get('normal')!;
      const want = goBuildInfo(file)!;
      const bytes = readFileSync(file);
      const elf = ElfImage.open(file)!;
      const blob = elf.section('.go.buildinfo')!;
      const spare = elf.section('.noptrdata')!;
      elf.close();
      const b = blob.offset;
      assert.equal(bytes[b + 15] & 2, 2, 'the toolchain writes the inline format');
      const versionLength = bytes[b + 32]; // < 128: one varint byte
      let modLength = 0;
      let n = 0;
      for (let shift = 0; ; shift += 7) {
        const x = bytes[b + 33 + versionLength + n++];
        modLength += (x & 0x7f) << shift;
        if (!(x & 0x80)) break;
      }
      const copy = Buffer.from(bytes);
      copy[b + 15] &= ~2;
      copy.writeBigUInt64LE(BigInt(spare.addr), b + 16);
      copy.writeBigUInt64LE(BigInt(spare.addr + 16), b + 24);
      copy.writeBigUInt64LE(BigInt(blob.addr + 33), spare.offset);
      copy.writeBigUInt64LE(BigInt(versionLength), spare.offset + 8);
      copy.writeBigUInt64LE(BigInt(blob.addr + 33 + versionLength + n), spare.offset + 16);
      copy.writeBigUInt64LE(BigInt(modLength), spare.offset + 24);
      const old = path.join(BUILD_DIR, `old-format-${tc.release}`);
      writeFileSync(old, copy);
      assert.deepEqual(goBuildInfo(old), want);
      // A version without module information (GOPATH builds): no module, still Go.
      copy.writeBigUInt64LE(0n, spare.offset + 24);
      writeFileSync(old, copy);
      assert.deepEqual(goBuildInfo(old), { goVersion: version, mainPackage: null, mainModule: null, settings: new Map() });
    });

    test('the fixture is a real crypto/tls user: it makes HTTPS requests to itself', () => {
      for (const mode of ['stripped-pie', 'static'] as const) {
        const out = execFileSync(bins.get(mode)!, ['-n', '2'], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(out, '200 hello /req/0\n200 hello /req/1\n', mode);
      }
    });

    test('a Go program without crypto/tls: a Go binary, and no crypto/tls (normal and stripped)', () => {
      for (const mode of ['normal', 'stripped'] as const) {
        const file = buildFixture(tc, 'no-tls', mode);
        const a = analyzeGoBinary(file);
        assert.ok(a, `${mode}: not recognised as Go`);
        assert.equal(a.buildInfo.goVersion, version);
        assert.equal(a.buildInfo.mainModule, 'example.com/tlsotel/no-tls');
        assert.equal(a.cryptoTls, null, mode);
      }
    });
  });
}

test('files that are not Go binaries: not Go, no analysis', () => {
  for (const file of ['/bin/ls', process.execPath, __filename]) {
    assert.equal(isGoBinary(file), false, file);
    assert.equal(analyzeGoBinary(file), null, file);
  }
});
