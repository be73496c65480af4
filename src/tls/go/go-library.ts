// Go's crypto/tls as a TLS library of the seam: any Go executable that links crypto/tls. Its
// functions are found from the binary itself (analyze.ts: .symtab, or .gopclntab in stripped
// and PIE builds, Go 1.26 included), so it is offered every executable file, not only those
// defining some symbol. Probes: an entry probe on (*Conn).Write and (*Conn).Read and one on
// every RET of each (never a uretprobe: goroutine stacks move), plus (*Conn).Close's entry. A
// Write's plaintext is taken at its entry (reads and writes of one connection run in different
// goroutines: see bpf/tlsotel.bpf.c).
// BPF programs: go_tls_* in bpf/tlsotel.bpf.c.
import type { CandidateFile, Claim, ProbeSpec, TlsLibrary } from '../library';
import { analyzeGoBinary, GO_TLS_CLOSE, GO_TLS_READ, GO_TLS_WRITE, type GoProbeSites } from './analyze';

/** The RET probes first, the entry last: a call entered while the probes are being attached
 *  to a running program must not find some of its RETs unprobed (its entry would stay). */
function sites(probes: ProbeSpec[], s: GoProbeSites, enter: string, ret: string, label: string): void {
  for (const at of s.returnOffsets) probes.push({ program: ret, retprobe: false, offset: at, label });
  probes.push({ program: enter, retprobe: false, offset: s.entryOffset, label });
}

export const goTls: TlsLibrary = {
  name: 'go',
  symbols: [],
  claimsWithoutSymbols: true,
  claim(file: CandidateFile): Claim | undefined {
    const a = analyzeGoBinary(file.path); // a GoAnalysisError says why it cannot be placed
    if (a === null || a.cryptoTls === null) return undefined;
    const version = a.buildInfo.goVersion;
    if (a.registerAbi !== true) {
      throw new Error(`${version} passes arguments on the stack (register ABI since Go 1.17): not traced`);
    }
    const { write, read, close } = a.cryptoTls;
    const probes: ProbeSpec[] = [];
    sites(probes, write, 'go_tls_write_enter', 'go_tls_write_ret', GO_TLS_WRITE);
    sites(probes, read, 'go_tls_read_enter', 'go_tls_read_ret', GO_TLS_READ);
    if (close !== undefined) probes.push({ program: 'go_tls_close', retprobe: false, offset: close.offset, label: GO_TLS_CLOSE });
    const from = write.function.source === 'symtab' ? 'the symbol table' : 'the pclntab (no symbol table)';
    return {
      library: 'go',
      version: version.replace(/^go/, ''),
      probes,
      notes: [
        `functions from ${from}`,
        `writes: entry + ${write.returnOffsets.length} RET, reads: entry + ${read.returnOffsets.length} RET (no uretprobes)`,
      ],
    };
  },
};
