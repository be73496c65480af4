// findReturnSites on hand-assembled x86-64: a RET byte inside another instruction is no return
// site, every real RET (and RET imm16) is, and bytes that don't decode into whole instructions
// are an error rather than a guess.
import test from 'node:test';
import assert from 'node:assert/strict';
import { GoAnalysisError, GoAnalysisErrorKind, findReturnSites } from '../../../src/tls/go';

const code = (...bytes: number[]) => Buffer.from(bytes);

test('a 0xC3 inside an immediate, a displacement or a ModRM byte is not a return', () => {
  const bytes = code(
    0xb8, 0xc3, 0x00, 0x00, 0x00, //       +0  mov eax, 0xc3
    0x48, 0x8d, 0x05, 0xc3, 0xc3, 0xc3, 0x00, // +5 lea rax, [rip+0xc3c3c3]
    0x48, 0x89, 0xc3, //                   +12 mov rbx, rax (ModRM 0xc3)
    0xc3, //                               +15 ret
  );
  assert.deepEqual(findReturnSites(bytes, 0x1000), { entryOffset: 0x1000, returnOffsets: [0x100f] });
});

test('every return of a function with several exits, RET imm16 included', () => {
  const bytes = code(
    0x48, 0x85, 0xc0, //       +0 test rax, rax
    0x74, 0x01, //             +3 je +1
    0xc3, //                   +5 ret
    0x48, 0x83, 0xc4, 0x18, // +6 add rsp, 0x18
    0xc2, 0x08, 0x00, //       +10 ret 8
    0x66, 0xc3, //             +13 ret (16-bit operand size)
    0xe8, 0xc3, 0xc3, 0x00, 0x00, // +15 call rel32 (0xc3 in the displacement)
    0xeb, 0xe9, //             +20 jmp back
  );
  assert.deepEqual(findReturnSites(bytes, 0).returnOffsets, [5, 10, 13]);
});

test('an endbr64 at the entry is stepped over for the entry probe', () => {
  const sites = findReturnSites(code(0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x5d, 0xc3), 0x400);
  assert.deepEqual(sites, { entryOffset: 0x404, returnOffsets: [0x406] });
});

test('VEX and EVEX instructions (what Go assembly uses) decode to their real lengths', () => {
  const bytes = code(
    0xc5, 0xfd, 0x6f, 0xc3, //                   vmovdqa ymm0, ymm3 (ModRM 0xc3)
    0x62, 0xf1, 0x7d, 0x48, 0x6f, 0xc3, //       vmovdqa32 zmm0, zmm3
    0xc5, 0xf8, 0x77, //                         vzeroupper
    0xc3,
  );
  assert.deepEqual(findReturnSites(bytes, 0).returnOffsets, [13]);
});

test('bytes that end inside an instruction, or are no instruction, are an error, not a guess', () => {
  for (const bad of [code(0xc3, 0xb8, 0x01, 0x02), code(0xc3, 0x06), code(0x0f, 0x0b, 0xc3, 0xd6)]) {
    assert.throws(
      () => findReturnSites(bad, 0),
      (err: unknown) => err instanceof GoAnalysisError && err.kind === GoAnalysisErrorKind.Undecodable,
      bad.toString('hex'),
    );
  }
});

test('no code: no returns, entry at the offset', () => {
  assert.deepEqual(findReturnSites(Buffer.alloc(0), 7), { entryOffset: 7, returnOffsets: [] });
});
