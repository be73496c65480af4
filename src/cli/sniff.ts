// `tlsotel sniff`: print every captured chunk of TLS plaintext as it happens.
import { Agent } from '../agent/agent';
import type { TlsRecord } from '../capture/record';
import { Verdict, detect } from '../protocol/detect';
import { Http2FramePrinter } from '../protocol/http2';
import { preview } from './preview';
import { readEnvironService } from '../trace/resource';
import type { Logger } from '../util/log';
import { untilSignal } from './signals';

export interface SniffOptions {
  pid?: number;
  comms?: readonly string[];
  captureBytes?: number;
  maxSegments?: number;
  ringBufferBytes?: number;
  skipBodiesFrom?: number;
  /** Where node binaries are looked for at start (src/config: PATH, /usr/bin, /usr/local/bin). */
  binDirs?: string[];
  /** Directories searched for TLS library files before any process maps them. */
  libraryRoots?: string[];
  /** See CaptureOptions.holdNewFiles (default off). */
  holdNewFiles?: boolean;
  previewBytes: number;
  log: Logger;
  out?: (line: string) => void;
}


export async function sniff(opts: SniffOptions): Promise<number> {
  // Listen first: a signal that arrives while the probes attach must still stop us cleanly.
  const stopped = untilSignal();
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const offsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  const time = (tsNs: bigint) => new Date(Number((tsNs + offsetNs) / 1_000_000n)).toISOString().slice(11, 23);
  let agent: Agent | undefined;
  // The probed file and the TLS library that claimed it: "libssl.so.3 (openssl)".
  const lib = (id: number) => {
    const library = agent?.libraryName(id);
    return `${agent?.fileName(id) ?? `lib#${id}`}${library !== undefined ? ` (${library})` : ''}`;
  };
  const who = (pid: number, comm: string) => `${comm}[${pid}]`;
  // HTTP/2 connections are shown frame by frame (type, stream, flags, decoded fields) instead
  // of as escaped bytes: one printer per connection, decided from its first record that says
  // (a record too short to tell, such as node's lone 9-byte SETTINGS, leaves it to the next).
  const printers = new Map<string, Http2FramePrinter | null>();
  const printerOf = (pid: number, conn: bigint, dir: 'write' | 'read', first: Buffer): Http2FramePrinter | null => {
    const key = `${pid}:${conn}`;
    let p = printers.get(key);
    if (p === undefined) {
      const d = detect(dir, first.subarray(0, 64));
      if (d === Verdict.Maybe) return null;
      p = typeof d === 'object' && d.protocol === 'http/2' ? new Http2FramePrinter() : null;
      printers.set(key, p);
    }
    return p;
  };

  agent = Agent.start({ capture: opts, log: opts.log, observe: {
    // Each record is printed at once and nothing is kept: decode straight from the ring.
    keepsPayloads: false,
    onRecord(rec: TlsRecord) {
      if (rec.type === 'conn') {
        const a = rec.addresses;
        const ep = (addr: string, port: number) => (a.family === 'ipv6' ? `[${addr}]:${port}` : `${addr}:${port}`);
        out(`${time(rec.tsNs)} ${who(rec.pid, rec.comm)} conn fd ${rec.fd} ${ep(a.localAddress, a.localPort)} -> ${ep(a.remoteAddress, a.remotePort)}`);
        return;
      }
      if (rec.type === 'proc') {
        // Who a process is, taken by the probes at its first connection (its spans' resource
        // when it is gone before /proc is read). Its environment is not shown, it may hold
        // secrets: only how much of it was taken, and the service name the spans will have
        // from it (resource.ts), when it says one.
        const service = readEnvironService(rec.environ).serviceName;
        out(`${time(rec.tsNs)} ${who(rec.pid, rec.comm)} process exe ${JSON.stringify(rec.exeName)}` +
          `${rec.cgroupPath !== undefined ? ` cgroup ${JSON.stringify(rec.cgroupPath)}` : ''}` +
          `${service !== undefined ? ` service ${JSON.stringify(service)}` : ''}` +
          `, ${rec.environ.length} B of environment taken${rec.environWhole ? ' (all of it)' : ' (part of it: README, Resource per traced process)'}`);
        return;
      }
      if (rec.type !== 'data') return;
      const seg = rec.offset > 0 || rec.data.length < rec.callLen ? ` [${rec.offset}+${rec.data.length} of ${rec.callLen}]` : '';
      const head = `${time(rec.tsNs)} ${who(rec.pid, rec.comm)} ${lib(rec.libId)} ${rec.dir === 'write' ? 'write' : 'read '} ${rec.callLen} B${seg}`;
      // Body bytes the BPF side counted instead of copying (see --keep-bodies).
      const skipped = rec.skipped > 0 ? ` +${rec.skipped} B body skipped (counted, not copied)` : '';
      const h2 = rec.data.length > 0 ? printerOf(rec.pid, rec.conn, rec.dir, rec.data) : printers.get(`${rec.pid}:${rec.conn}`) ?? null;
      if (h2 === null) {
        out(`${head} ${preview(rec.data, opts.previewBytes)}${skipped}`);
        return;
      }
      out(`${head} HTTP/2${skipped.replace('body', 'DATA')}`);
      for (const line of h2.data(rec.dir, rec.data)) out(`    ${line}`);
      if (rec.skipped > 0) for (const line of h2.skip(rec.dir, rec.skipped)) out(`    ${line}`);
    },
    onData() {},
    // Shown with their record (onRecord); not gaps.
    onSkip() {},
    onGap(c, dir, bytes, tsNs, reason) {
      out(`${time(tsNs)} ${who(c.pid, c.comm)} ${lib(c.libId)} ${dir === 'write' ? 'write' : 'read '} GAP ${bytes} B not captured (${reason})`);
      printers.get(`${c.pid}:${c.conn}`)?.gap(dir, bytes);
    },
    onClose(c, reason, tsNs) {
      printers.delete(`${c.pid}:${c.conn}`);
      out(`${time(tsNs)} ${who(c.pid, c.comm)} ${lib(c.libId)} close (${reason}) wrote ${c.bytes.write} B, read ${c.bytes.read} B`);
    },
  } });
  const libs = [...new Set(agent.files.map((f) => f.library))].join(', ') || 'none yet';
  opts.log.info(`ready: tracing ${agent.files.length} file(s) (${libs}); Ctrl-C to stop`);
  await stopped;
  const links = await agent.stop();
  const stats = agent.captureStats();
  const b = stats.bpf;
  opts.log.info(
    `stopped: detached ${links} probes; ${b.TLS_CNT_EVENTS} records, lost ${b.TLS_CNT_RB_DROPS} (ring full), ` +
      `${b.TLS_CNT_TRUNC_BYTES} B truncated`,
  );
  return 0;
}
