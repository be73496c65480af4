// Body skipping in user space alone: the records the BPF side writes for wrk → nginx exchanges
// (both ends traced, as in the load bench) with 3-byte and 16 KiB responses, with the body
// copied (--keep-bodies) or counted (skipped), replayed through the agent's pipeline (decode,
// streams, HTTP parse, exchanges, spans built, to a sink that only counts them). CPU µs per
// exchange, medians of interleaved repetitions: what the ring's bytes cost user space, with no
// BPF and none of the host's other traffic (the load bench's agent CPU includes both).
//
//   node --expose-gc dist/bench/skip-replay.js [--exchanges N] [--reps N]
import { encodeRecord, type EncodableRecord } from '../src/capture/record';
import { Pipeline } from '../src/agent/pipeline';
import type { SpanSink } from '../src/export/types';
import { createLogger } from '../src/util/log';

type Variant = { load: 'small' | '16k'; skip: boolean };

const HEAD = (len: number) => `HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 07:00:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: ${len}\r\nLast-Modified: Sat, 05 Dec 2026 06:00:00 GMT\r\nConnection: keep-alive\r\nETag: "6751c0a0-4000"\r\nAccept-Ranges: bytes\r\n\r\n`;
const REQ = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n`;
const CAP = 16384;

/** Ring records of `n` keep-alive exchanges on one connection seen at both ends. */
function records(v: Variant, n: number): Buffer[] {
  const bodyLen = v.load === 'small' ? 3 : 16384;
  const head = HEAD(bodyLen);
  const response = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.alloc(bodyLen, 0x61)]);
  const request = Buffer.from(REQ(v.load === 'small' ? '/small' : '/16k'), 'latin1');
  const out: Buffer[] = [];
  let ts = 1_000_000n;
  const base = { conn: 0n, pid: 0, tid: 0, comm: '', libId: 1, lostBefore: 0, lostOther: 0 };
  /** One call as emit() writes it: with skipping, the head then the body counted (a call that
   *  begins inside the body is all counted); without, records of up to CAP bytes. */
  const call = (pid: number, conn: bigint, comm: string, dir: 'read' | 'write', bytes: Buffer, at: number, headLen: number) => {
    ts += 5000n;
    const len = bytes.length;
    const push = (r: Partial<EncodableRecord> & { offset: number; data: Buffer; last: boolean; skipped: number }) =>
      out.push(encodeRecord({ ...base, type: 'data', tsNs: ts, pid, tid: pid, conn, comm, dir, callLen: len, ...r } as EncodableRecord));
    const bodyStart = Math.max(0, headLen - at); // where the body begins in this call
    if (v.skip && v.load === '16k') {
      if (bodyStart === 0) return push({ offset: 0, data: Buffer.alloc(0), last: true, skipped: len });
      if (len >= 1024) return push({ offset: 0, data: bytes.subarray(0, bodyStart), last: true, skipped: len - bodyStart });
    }
    for (let off = 0; off < len; off += CAP) {
      const end = Math.min(len, off + CAP);
      push({ offset: off, data: bytes.subarray(off, end), last: end >= len, skipped: 0 });
    }
    return undefined;
  };
  const server = { pid: 200, conn: 0x5000n, comm: 'nginx' };
  const client = { pid: 300, conn: 0x6000n, comm: 'wrk' };
  for (let i = 0; i < n; i++) {
    call(client.pid, client.conn, client.comm, 'write', request, 0, request.length);
    call(server.pid, server.conn, server.comm, 'read', request, 0, request.length);
    // nginx: one SSL_write of up to 16 KiB (ssl_buffer_size), then the rest.
    for (let at = 0; at < response.length; at += 16384) call(server.pid, server.conn, server.comm, 'write', response.subarray(at, at + 16384), at, head.length);
    // wrk: SSL_read of up to 8 KiB.
    for (let at = 0; at < response.length; at += 8192) call(client.pid, client.conn, client.comm, 'read', response.subarray(at, at + 8192), at, head.length);
  }
  return out;
}

function measure(v: Variant, recs: Buffer[], exchanges: number): number {
  let spans = 0;
  const sink: SpanSink = {
    export: () => { spans++; },
    forceFlush: async () => {},
    shutdown: async () => {},
    stats: () => ({ exported: spans, dropped: 0, discarded: 0, failed: 0, queued: 0, retries: 0 }),
  };
  const p = new Pipeline({
    log: createLogger('warn'),
    trace: {
      sink, stitch: true, redaction: { allowSensitive: false, redactUrls: true, captureRequestHeaders: [] },
      processInfo: (pid, comm) => ({ pid, comm, exeName: comm, exePath: `/usr/bin/${comm}`, serviceName: comm }),
    },
  });
  // Garbage of the previous variant is not charged to this one (run with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.cpuUsage();
  for (const r of recs) p.handle(r);
  p.closeAll(1n << 62n);
  const t = process.cpuUsage(t0);
  if (spans < 2 * exchanges - 2) throw new Error(`${v.load}${v.skip ? ' skip' : ''}: ${spans} spans for ${exchanges} exchanges`);
  const s = p.stats();
  if (s.exchanges!.skipMismatches !== 0 || s.streams.gaps['not-captured'] + s.streams.gaps.truncated !== 0) throw new Error('gaps in the replay');
  return (t.user + t.system) / (2 * exchanges);
}

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const exchanges = opt('--exchanges', 20_000);
  const reps = opt('--reps', 5);
  const variants: Variant[] = [{ load: 'small', skip: true }, { load: 'small', skip: false }, { load: '16k', skip: true }, { load: '16k', skip: false }];
  const recs = variants.map((v) => records(v, exchanges));
  const got: number[][] = variants.map(() => []);
  for (let r = 0; r < reps + 1; r++) {
    // Each round starts with another variant: none is always the one after the largest.
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      const us = measure(variants[i], recs[i], exchanges);
      if (r > 0) got[i].push(us); // the first round warms the code up
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const name = (v: Variant) => `${v.load}, ${v.skip ? 'bodies skipped' : '--keep-bodies'}`;
  console.log(`CPU µs per span (one exchange = 2 spans), ${exchanges} exchanges × ${reps} reps, medians [min–max]:`);
  variants.forEach((v, i) => console.log(`  ${name(v).padEnd(28)} ${med(got[i]).toFixed(2)} [${Math.min(...got[i]).toFixed(2)}–${Math.max(...got[i]).toFixed(2)}]  records/exchange ${(recs[i].length / exchanges).toFixed(1)}, ring bytes/exchange ${(recs[i].reduce((a, b) => a + b.length, 0) / exchanges).toFixed(0)}`));
  console.log(`  16k / small: bodies skipped ${(med(got[2]) / med(got[0])).toFixed(2)}×, --keep-bodies ${(med(got[3]) / med(got[1])).toFixed(2)}×`);
}

main();
