// Where a Go function returns: the offset of every RET instruction in its code. Go functions get
// no uretprobes (a uretprobe replaces the return address on the stack, and Go copies goroutine
// stacks when they grow: the program then returns to garbage, golang/go#22008), so a uprobe is
// placed on each RET instead. A RET byte (0xC3) inside another instruction's immediate or
// displacement is no place for a probe: the code is decoded instruction by instruction.
//
// The decoder is iced-x86 (npm), a WebAssembly build of the iced Rust decoder, chosen over a
// hand-written x86-64 length decoder because:
//   - correctness: iced decodes every x86-64 instruction (legacy, VEX, EVEX, XOP, 3DNow!) and is
//     tested against Intel XED and other decoders; a length decoder of our own would need the
//     opcode tables for every map and prefix rule, and a single wrong length silently shifts all
//     later boundaries — exactly the wrong-value failure we must not have. Go's compiler emits
//     mostly plain integer and SSE code, but its assembly (crypto, runtime) uses AVX2/AVX-512,
//     and later Go releases may emit more (GOAMD64=v3).
//   - size: 2.3 MB unpacked (0.8 MB of WASM, 0.9 MB of JS glue, 0.5 MB of typings), no
//     dependencies, no install script, MIT.
//   - load time: ~30 ms (WASM compile), so it is loaded only when a Go binary is analysed.
//   - speed: ~4.4 M instructions/s here (all 3 MB of a Go 1.26 binary's .text in ~180 ms); a
//     crypto/tls function is a few hundred instructions, i.e. microseconds.
// The test compares the result with binutils' objdump for real Go binaries.
import type * as Iced from 'iced-x86';
import { GoAnalysisError, GoAnalysisErrorKind } from './go-analysis-error';

export interface ReturnSites {
  /** Where an entry probe goes: the function's offset, past an `endbr64` if it starts with one. */
  entryOffset: number;
  /** File offsets of every near return (RET, RET imm16), in address order. */
  returnOffsets: number[];
}

const ENDBR64 = Buffer.from([0xf3, 0x0f, 0x1e, 0xfa]);

let iced: typeof Iced | undefined;
function decoderLibrary(): typeof Iced {
  // Deferred: compiling the WASM costs ~30 ms, wasted on hosts without Go programs.
  iced ??= require('iced-x86') as typeof Iced;
  return iced;
}

/**
 * The probe sites of one function whose whole machine code is `code`, found at file offset
 * `offset`. Throws GoAnalysisError if the bytes don't decode into whole instructions (a wrong
 * size, or not code), since a probe in the middle of an instruction corrupts the program.
 */
export function findReturnSites(code: Buffer, offset: number, name = 'function'): ReturnSites {
  const x86 = decoderLibrary();
  const returns = new Set<number>([x86.Code.Retnq, x86.Code.Retnq_imm16, x86.Code.Retnw, x86.Code.Retnw_imm16]);
  const decoder = new x86.Decoder(64, code, x86.DecoderOptions.None);
  const instruction = new x86.Instruction();
  const returnOffsets: number[] = [];
  try {
    while (decoder.canDecode) {
      const at = decoder.position;
      decoder.decodeOut(instruction);
      if (instruction.code === x86.Code.INVALID) {
        throw new GoAnalysisError(GoAnalysisErrorKind.Undecodable, `${name}: no valid instruction at +0x${at.toString(16)}`);
      }
      if (returns.has(instruction.code)) returnOffsets.push(offset + at);
    }
  } finally {
    instruction.free();
    decoder.free();
  }
  const startsWithEndbr = code.length >= ENDBR64.length && code.subarray(0, ENDBR64.length).equals(ENDBR64);
  return { entryOffset: offset + (startsWithEndbr ? ENDBR64.length : 0), returnOffsets };
}
