// A real BPF ring buffer, filled by the kernel on command, for testing RingReader without probes.
//
// User space cannot write into a BPF_MAP_TYPE_RINGBUF, so a tiny BPF program does it: a
// BPF_PROG_TYPE_SYSCALL program (kernel >= 5.14, run on demand with BPF_PROG_TEST_RUN, no attach
// point) written here as raw instructions, so no clang is needed. `output` copies bytes of a
// source buffer (an array map's value, set from user space) into the ring with
// bpf_ringbuf_output, as the agent's probes do; `discard` reserves a record and discards it
// (bpf_ringbuf_reserve + bpf_ringbuf_discard), which leaves a record with the DISCARD bit that a
// reader must skip. Both report a full ring (-EAGAIN) as false.
import koffi from 'koffi';
import { BpfError, errnoText } from '../../src/bpf/libbpf';

const BPF_MAP_TYPE_ARRAY = 2;
const BPF_MAP_TYPE_RINGBUF = 27;
const BPF_PROG_TYPE_SYSCALL = 31;
/** Syscall programs must be sleepable. */
const BPF_F_SLEEPABLE = 1 << 4;
const BPF_PSEUDO_MAP_FD = 1;
const FN_MAP_LOOKUP_ELEM = 1;
const FN_RINGBUF_OUTPUT = 130;
const FN_RINGBUF_RESERVE = 131;
const FN_RINGBUF_DISCARD = 133;
const EAGAIN = 11;
/** Returned by the output program when its arguments are out of range (never a helper's errno). */
const BAD_ARGS = 0x7e57;

interface Bindings {
  bpf_map_create(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, opts: null): number;
  bpf_map_update_elem(fd: number, key: Buffer, value: Buffer, flags: bigint): number;
  bpf_prog_load(type: number, name: string, license: string, insns: Buffer, count: number, opts: Buffer): number;
  bpf_prog_test_run_opts(fd: number, opts: Buffer): number;
  close(fd: number): number;
}

let bindings: Bindings | undefined;

function lib(): Bindings {
  if (bindings) return bindings;
  const bpf = koffi.load('libbpf.so.1');
  const libc = koffi.load('libc.so.6');
  bindings = {
    bpf_map_create: bpf.func('bpf_map_create', 'int', ['int', 'const char *', 'uint32_t', 'uint32_t', 'uint32_t', 'void *']),
    bpf_map_update_elem: bpf.func('bpf_map_update_elem', 'int', ['int', 'void *', 'void *', 'uint64_t']),
    bpf_prog_load: bpf.func('bpf_prog_load', 'int', ['int', 'const char *', 'const char *', 'void *', 'size_t', 'void *']),
    bpf_prog_test_run_opts: bpf.func('bpf_prog_test_run_opts', 'int', ['int', 'void *']),
    close: libc.func('close', 'int', ['int']),
  };
  return bindings;
}

/** libbpf 1.x returns -errno. */
function check(op: string, ret: number): number {
  if (ret < 0) throw new BpfError(op, -ret);
  return ret;
}

// ---------------------------------------------------------------------------------------------
// A few eBPF instructions (struct bpf_insn: u8 code, u8 dst:4 src:4, s16 off, s32 imm).

type Insn = { code: number; dst: number; src: number; off: number | string; imm: number } | { label: string };

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R6 = 6, R8 = 8, R9 = 9, R10 = 10;
const i = (code: number, dst: number, src: number, off: number | string, imm: number): Insn => ({ code, dst, src, off, imm });
const mov = (dst: number, src: number) => i(0xbf, dst, src, 0, 0); // BPF_ALU64 | BPF_MOV | BPF_X
const movImm = (dst: number, imm: number) => i(0xb7, dst, 0, 0, imm);
const addImm = (dst: number, imm: number) => i(0x07, dst, 0, 0, imm);
const add = (dst: number, src: number) => i(0x0f, dst, src, 0, 0);
const ldxW = (dst: number, src: number, off: number) => i(0x61, dst, src, off, 0); // BPF_LDX | BPF_MEM | BPF_W
const stW = (dst: number, off: number, imm: number) => i(0x62, dst, 0, off, imm); // BPF_ST | BPF_MEM | BPF_W
const jeqImm = (dst: number, imm: number, to: string) => i(0x15, dst, 0, to, imm);
const jgtImm = (dst: number, imm: number, to: string) => i(0x25, dst, 0, to, imm); // unsigned >
const call = (fn: number) => i(0x85, 0, 0, 0, fn);
const exit = () => i(0x95, 0, 0, 0, 0);
const label = (name: string): Insn => ({ label: name });
/** r = the map of fd (BPF_LD | BPF_IMM | BPF_DW with BPF_PSEUDO_MAP_FD: two slots). */
const ldMap = (dst: number, fd: number): Insn[] => [i(0x18, dst, BPF_PSEUDO_MAP_FD, 0, fd), i(0, 0, 0, 0, 0)];

function assemble(program: Insn[]): Buffer {
  const at = new Map<string, number>();
  const code: Array<Exclude<Insn, { label: string }>> = [];
  for (const x of program) {
    if ('label' in x) at.set(x.label, code.length);
    else code.push(x);
  }
  const buf = Buffer.alloc(code.length * 8);
  code.forEach((x, n) => {
    const off = typeof x.off === 'string' ? at.get(x.off)! - n - 1 : x.off;
    buf[n * 8] = x.code;
    buf[n * 8 + 1] = (x.src << 4) | x.dst;
    buf.writeInt16LE(off, n * 8 + 2);
    buf.writeInt32LE(x.imm, n * 8 + 4);
  });
  return buf;
}

// ---------------------------------------------------------------------------------------------

/** struct bpf_prog_load_opts (libbpf 1.1 bpf.h): only what is set here. */
function progLoadOpts(log: Buffer): Buffer {
  const o = Buffer.alloc(104);
  o.writeBigUInt64LE(104n, 0); // sz
  o.writeUInt32LE(BPF_F_SLEEPABLE, 20); // prog_flags
  o.writeUInt32LE(1, 88); // log_level
  o.writeUInt32LE(log.length, 92); // log_size
  o.writeBigUInt64LE(koffi.address(log), 96); // log_buf
  return o;
}

export class RingProducer {
  readonly ringFd: number;
  private readonly source: number;
  private readonly outputProg: number;
  private readonly discardProgs = new Map<number, number>();
  private readonly ctx = Buffer.alloc(12); // { u32 off; u32 size; u32 unused }
  private readonly runOpts = Buffer.alloc(80); // struct bpf_test_run_opts
  private closed = false;

  /**
   * @param ringSize the ring buffer's size (a power of two, a multiple of the page size)
   * @param sourceSize bytes `output` can copy from (records up to sourceSize / 2 bytes)
   */
  constructor(readonly ringSize: number, readonly sourceSize = 2 * ringSize) {
    const lb = lib();
    this.ringFd = check('bpf_map_create(ringbuf)', lb.bpf_map_create(BPF_MAP_TYPE_RINGBUF, 'test_ring', 0, 0, ringSize, null));
    this.source = check('bpf_map_create(array)', lb.bpf_map_create(BPF_MAP_TYPE_ARRAY, 'test_source', 4, sourceSize, 1, null));
    const max = sourceSize / 2;
    this.outputProg = this.load('ring_output', [
      mov(R6, R1),
      ldxW(R8, R6, 0), // off
      ldxW(R9, R6, 4), // size
      jgtImm(R8, max, 'bad'),
      jgtImm(R9, max, 'bad'),
      stW(R10, -4, 0),
      mov(R2, R10),
      addImm(R2, -4),
      ...ldMap(R1, this.source),
      call(FN_MAP_LOOKUP_ELEM),
      jeqImm(R0, 0, 'bad'),
      mov(R2, R0),
      add(R2, R8),
      ...ldMap(R1, this.ringFd),
      mov(R3, R9),
      movImm(R4, 0),
      call(FN_RINGBUF_OUTPUT), // 0, or -EAGAIN when the ring is full
      exit(),
      label('bad'),
      movImm(R0, BAD_ARGS),
      exit(),
    ]);
    this.runOpts.writeBigUInt64LE(80n, 0); // sz
    this.runOpts.writeBigUInt64LE(koffi.address(this.ctx), 32); // ctx_in
    this.runOpts.writeUInt32LE(this.ctx.length, 48); // ctx_size_in
  }

  /** Sets the bytes `output` copies from (at most sourceSize). */
  setSource(bytes: Buffer): void {
    if (bytes.length > this.sourceSize) throw new RangeError(`source of ${bytes.length} bytes, at most ${this.sourceSize}`);
    const value = Buffer.alloc(this.sourceSize);
    bytes.copy(value);
    check('bpf_map_update_elem(source)', lib().bpf_map_update_elem(this.source, Buffer.alloc(4), value, 0n));
  }

  /** One record holding source[off, off + size); false when the ring has no room for it. */
  output(off: number, size: number): boolean {
    this.ctx.writeUInt32LE(off, 0);
    this.ctx.writeUInt32LE(size, 4);
    return this.run(this.outputProg, `output(${off}, ${size})`);
  }

  /** One record of `size` bytes, reserved and discarded; false when the ring has no room for it. */
  discard(size: number): boolean {
    let prog = this.discardProgs.get(size);
    if (prog === undefined) {
      // bpf_ringbuf_reserve takes a constant size: one program per size.
      prog = this.load(`ring_discard`, [
        ...ldMap(R1, this.ringFd),
        movImm(R2, size),
        movImm(R3, 0),
        call(FN_RINGBUF_RESERVE),
        jeqImm(R0, 0, 'full'),
        mov(R1, R0),
        movImm(R2, 0),
        call(FN_RINGBUF_DISCARD),
        movImm(R0, 0),
        exit(),
        label('full'),
        movImm(R0, -EAGAIN),
        exit(),
      ]);
      this.discardProgs.set(size, prog);
    }
    return this.run(prog, `discard(${size})`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const lb = lib();
    for (const fd of [this.outputProg, ...this.discardProgs.values(), this.source, this.ringFd]) lb.close(fd);
  }

  private load(name: string, program: Insn[]): number {
    const insns = assemble(program);
    const log = Buffer.alloc(64 * 1024);
    const fd = lib().bpf_prog_load(BPF_PROG_TYPE_SYSCALL, name, 'GPL', insns, insns.length / 8, progLoadOpts(log));
    if (fd < 0) throw new Error(`bpf_prog_load(${name}): ${errnoText(-fd)}\n${log.toString('latin1', 0, Math.max(0, log.indexOf(0)))}`);
    return fd;
  }

  private run(prog: number, what: string): boolean {
    check(`bpf_prog_test_run_opts(${what})`, lib().bpf_prog_test_run_opts(prog, this.runOpts));
    const ret = this.runOpts.readInt32LE(56); // retval
    if (ret === 0) return true;
    if (ret === -EAGAIN) return false;
    throw new Error(`${what}: the BPF program returned ${ret === BAD_ARGS ? 'bad arguments' : errnoText(-ret)}`);
  }
}
