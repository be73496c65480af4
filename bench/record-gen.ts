// Synthetic capture for the pipeline benchmark: binary ring-buffer records (struct tls_event of
// bpf/tlsotel.h, written by encodeRecord, the inverse of decodeRecord)
// for HTTP/1.1 keep-alive traffic seen by traced clients and servers, generated into memory
// before anything is timed.
//
// Shape of the traffic (deterministic for a given seed):
//   - connections from several client processes (python3, java, node, ruby) and to several
//     server processes (nginx, envoy); 40 % client side only, 40 % server side only, 20 % both
//     ends on this host (two traced connections with mirrored addresses: same-host stitching);
//   - each connection: a conn record (the socket's addresses; for node after its first write,
//     as with memory BIOs), 2..20 exchanges, then a close record per traced end;
//   - requests 300..600 B of headers (Host, User-Agent, Accept*, Authorization, X-Request-Id,
//     sometimes Cookie and traceparent), POST/PUT with small JSON bodies (written with the head
//     or in a second call);
//   - responses ~350..500 B of headers, small bodies, ~6 % bodies of 16..24 KiB, ~15 % chunked;
//     204/304 without body; written in one call, or head then body, or chunk by chunk;
//   - a write call longer than the capture cap (16 KiB) becomes several records (offset, LAST on
//     the final one), like the BPF side; a reader gets at most one TLS record (16 KiB) per read
//     call, cut further by its buffer size (16/8/4 KiB);
//   - many connections interleaved in the ring (default 48 open at once), each call stamped
//     with its own timestamp, all records of a call with the same one.
import { TLSOTEL_MAX_PAYLOAD, TLSOTEL_MAX_SEGMENTS } from '../src/bpf/layout.generated';
import { encodeRecord, encodedSize, type EncodableRecord } from '../src/capture/record';

export interface GenOptions {
  /** Spans to produce: exchanges as seen by traced processes (a same-host exchange counts twice). */
  spans: number;
  seed?: number;
  /** Connections open (interleaved) at once. */
  concurrency?: number;
  /** Share of responses with a 16..24 KiB body. */
  largeBodyShare?: number;
  /** First timestamp (monotonic ns). */
  startNs?: bigint;
}

export interface CorpusStats {
  records: number;
  dataRecords: number;
  connRecords: number;
  closeRecords: number;
  /** Calls longer than the capture cap (several records). */
  segmentedCalls: number;
  /** Bytes of ring records (headers + payload, before alignment). */
  recordBytes: number;
  /** Plaintext bytes carried by data records. */
  payloadBytes: number;
  /** Traced connections (a same-host pair counts twice). */
  connections: number;
  /** HTTP exchanges on the wire (a same-host pair counts once). */
  httpExchanges: number;
  /** Exchanges seen by traced processes = spans the pipeline must produce. */
  spans: number;
  largeBodies: number;
  chunkedResponses: number;
  withTraceparent: number;
  avgRequestHeadBytes: number;
  avgResponseHeadBytes: number;
}

/** Records laid out as in the mmapped ring: 8-byte aligned in big buffers; views made on use. */
export interface Corpus {
  chunks: Buffer[];
  recChunk: Uint16Array;
  recOff: Uint32Array;
  recLen: Uint32Array;
  count: number;
  stats: CorpusStats;
}

/** A view of record i, as RingReader.drain hands it out. */
export function recordView(c: Corpus, i: number): Buffer {
  const off = c.recOff[i];
  return c.chunks[c.recChunk[i]].subarray(off, off + c.recLen[i]);
}

// ---------------------------------------------------------------------------------------------

/** mulberry32: small, fast, deterministic. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<X>(xs: readonly X[]): X {
    return xs[Math.floor(this.next() * xs.length)];
  }
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += ((this.next() * 0x100000000) >>> 0).toString(16).padStart(8, '0');
    return s.slice(0, n);
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
  }
  b64(n: number): string {
    const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let s = '';
    for (let i = 0; i < n; i++) s += a[Math.floor(this.next() * 64)];
    return s;
  }
}

const CHUNK_BYTES = 64 * 1024 * 1024;

class RecordWriter {
  readonly chunks: Buffer[] = [];
  private cur: Buffer = Buffer.alloc(0);
  private pos = 0;
  private readonly chunkIdx: number[] = [];
  private readonly offs: number[] = [];
  private readonly lens: number[] = [];
  recordBytes = 0;

  /** Appends one record. */
  write(rec: EncodableRecord): void {
    const [buf, at] = this.reserve(encodedSize(rec));
    encodeRecord(rec, buf, at);
  }

  /** Room for a record of `len` bytes; returns [buffer, offset] and indexes it. */
  private reserve(len: number): [Buffer, number] {
    if (this.pos + len > this.cur.length) {
      this.cur = Buffer.alloc(Math.max(CHUNK_BYTES, len));
      this.chunks.push(this.cur);
      this.pos = 0;
    }
    const off = this.pos;
    this.pos = (this.pos + len + 7) & ~7; // ring records are 8-byte aligned
    this.chunkIdx.push(this.chunks.length - 1);
    this.offs.push(off);
    this.lens.push(len);
    this.recordBytes += len;
    return [this.cur, off];
  }

  finish(stats: CorpusStats): Corpus {
    // Trim the last chunk so the corpus does not hold 64 MiB of nothing.
    if (this.chunks.length > 0) this.chunks[this.chunks.length - 1] = Buffer.from(this.cur.subarray(0, this.pos));
    return {
      chunks: this.chunks,
      recChunk: Uint16Array.from(this.chunkIdx),
      recOff: Uint32Array.from(this.offs),
      recLen: Uint32Array.from(this.lens),
      count: this.offs.length,
      stats,
    };
  }
}

interface Side {
  pid: number;
  tid: number;
  comm: string;
  libId: number;
  ssl: bigint;
  fd: number;
  family: 'ipv4' | 'ipv6';
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  /** Read buffer size of the process (SSL_read length). */
  readBuf: number;
  /** Conn record found only after the first write (memory-BIO programs such as node). */
  connAfterWrite: boolean;
  connSent: boolean;
}

type Action =
  | { kind: 'call'; side: Side; read: boolean; data: Buffer; off: number; len: number }
  | { kind: 'conn'; side: Side }
  | { kind: 'close'; side: Side };

interface Conn {
  client?: Side;
  server?: Side;
  left: number;
  host: string;
  ua: string;
  cookie?: string;
  auth: string;
  actions: Action[];
  head: number;
}

interface ProcDesc {
  pid: number;
  comm: string;
  libId: number;
  readBuf: number;
  ua?: string;
}

const CLIENT_PROCS: ProcDesc[] = [
  { pid: 4_100_001, comm: 'python3', libId: 1, readBuf: 16384, ua: 'python-requests/2.31.0' },
  { pid: 4_100_002, comm: 'java', libId: 2, readBuf: 16384, ua: 'Java-http-client/17.0.9' },
  { pid: 4_100_003, comm: 'node', libId: 3, readBuf: 16384, ua: 'node' },
  { pid: 4_100_004, comm: 'ruby', libId: 1, readBuf: 8192, ua: 'Faraday v2.7.10' },
  { pid: 4_100_005, comm: 'python3', libId: 1, readBuf: 4096, ua: 'python-httpx/0.25.1' },
];
const SERVER_PROCS: ProcDesc[] = [
  { pid: 4_100_101, comm: 'nginx', libId: 1, readBuf: 16384 },
  { pid: 4_100_102, comm: 'nginx', libId: 1, readBuf: 16384 },
  { pid: 4_100_103, comm: 'envoy', libId: 4, readBuf: 16384 },
];
const BROWSER_UA = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'okhttp/4.12.0',
];
const REMOTE_HOSTS = ['api.internal.example.com', 'payments.svc.cluster.local:8443', 'auth.example.org', 'inventory.prod.example.net'];
const DATE = 'Tue, 25 Nov 2025 14:56:57 GMT';
const FILLER = Buffer.from(
  '{"id":12345,"name":"Widget","tags":["a","b","c"],"price":19.99,"stock":42,"description":"Lorem ipsum dolor sit amet, consectetur adipiscing elit."},'.repeat(300),
  'latin1',
);

function ipv4(a: number, b: number, c: number, d: number): string {
  return `${a}.${b}.${c}.${d}`;
}

/** A unique local address fd00::/16 (uncompressed text). */
function ipv6(rng: Rng): string {
  const bytes = [0xfd, 0x00];
  for (let i = 2; i < 16; i++) bytes.push(rng.int(0, 255));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(':');
}

/** Body bytes: filler JSON-ish text. */
function body(n: number): Buffer {
  if (n <= FILLER.length) return FILLER.subarray(0, n);
  const b = Buffer.allocUnsafe(n);
  for (let o = 0; o < n; o += FILLER.length) FILLER.copy(b, o, 0, Math.min(FILLER.length, n - o));
  return b;
}

export function generateCorpus(opts: GenOptions): Corpus {
  const rng = new Rng(opts.seed ?? 0x7150_7e1);
  const concurrency = opts.concurrency ?? 48;
  const largeShare = opts.largeBodyShare ?? 0.06;
  const w = new RecordWriter();
  const st: CorpusStats = {
    records: 0, dataRecords: 0, connRecords: 0, closeRecords: 0, segmentedCalls: 0, recordBytes: 0, payloadBytes: 0,
    connections: 0, httpExchanges: 0, spans: 0, largeBodies: 0, chunkedResponses: 0, withTraceparent: 0,
    avgRequestHeadBytes: 0, avgResponseHeadBytes: 0,
  };
  let reqHeadBytes = 0;
  let respHeadBytes = 0;
  let now = opts.startNs ?? 1_000_000_000_000n;
  let sslCounter = 0;
  let portCounter = 30000;
  let budget = opts.spans;

  /** What every record of `side` says. */
  const head = (side: Side) => ({ tsNs: now, conn: side.ssl, pid: side.pid, tid: side.tid, comm: side.comm, libId: side.libId });

  const emitCall = (side: Side, read: boolean, data: Buffer, dOff: number, len: number): void => {
    // As tls_emit in bpf/tlsotel.bpf.c: segments of up to the cap, LAST on the final one.
    let i = 0;
    for (; i < TLSOTEL_MAX_SEGMENTS; i++) {
      const off = i * TLSOTEL_MAX_PAYLOAD;
      if (off >= len) break;
      const n = Math.min(len - off, TLSOTEL_MAX_PAYLOAD);
      const last = off + n >= len || i + 1 >= TLSOTEL_MAX_SEGMENTS;
      w.write({
        type: 'data', ...head(side), dir: read ? 'read' : 'write', callLen: len, offset: off, last, lostBefore: 0, lostOther: 0,
        data: data.subarray(dOff + off, dOff + off + n),
      });
      st.dataRecords++;
      st.payloadBytes += n;
    }
    if (i > 1) st.segmentedCalls++;
  };

  const emitConn = (side: Side): void => {
    w.write({
      type: 'conn', ...head(side), fd: side.fd,
      addresses: { localAddress: side.local, localPort: side.localPort, remoteAddress: side.remote, remotePort: side.remotePort, family: side.family },
    });
    st.connRecords++;
    side.connSent = true;
  };

  const emitClose = (side: Side): void => {
    w.write({ type: 'close', ...head(side) });
    st.closeRecords++;
  };

  const newSide = (p: ProcDesc, family: 'ipv4' | 'ipv6', local: string, localPort: number, remote: string, remotePort: number): Side => ({
    pid: p.pid,
    tid: p.pid + rng.int(0, 7),
    comm: p.comm,
    libId: p.libId,
    ssl: 0x55d0_0000_0000n + BigInt(++sslCounter) * 0x1f40n,
    fd: rng.int(5, 900),
    family,
    local,
    localPort,
    remote,
    remotePort,
    readBuf: p.readBuf,
    connAfterWrite: p.comm === 'node',
    connSent: false,
  });

  const newConn = (): Conn | undefined => {
    if (budget <= 0) return undefined;
    const r = rng.next();
    const kind = budget >= 2 && r < 0.2 ? 'pair' : r < 0.6 ? 'client' : 'server';
    const perExchange = kind === 'pair' ? 2 : 1;
    const n = Math.max(1, Math.min(rng.int(2, 20), Math.floor(budget / perExchange)));
    budget -= n * perExchange;
    st.spans += n * perExchange;
    st.httpExchanges += n;
    const port = (portCounter = portCounter >= 60999 ? 30000 : portCounter + 1);
    const conn: Conn = { left: n, host: '', ua: '', auth: `Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.${rng.b64(rng.int(60, 120))}.${rng.b64(43)}`, actions: [], head: 0 };
    if (rng.chance(0.3)) conn.cookie = `session=${rng.b64(32)}; _ga=GA1.2.${rng.int(1e8, 9e8)}.${rng.int(1e9, 2e9)}`;
    if (kind === 'client') {
      const p = rng.pick(CLIENT_PROCS);
      const v6 = rng.chance(0.15);
      const local = v6 ? ipv6(rng) : ipv4(10, 0, 3, rng.int(2, 250));
      const remote = v6 ? ipv6(rng) : ipv4(10, rng.int(1, 9), rng.int(0, 255), rng.int(2, 250));
      conn.client = newSide(p, v6 ? 'ipv6' : 'ipv4', local, port, remote, 443);
      conn.host = rng.pick(REMOTE_HOSTS);
      conn.ua = p.ua!;
      st.connections++;
    } else if (kind === 'server') {
      const p = rng.pick(SERVER_PROCS);
      const remote = ipv4(rng.int(11, 200), rng.int(0, 255), rng.int(0, 255), rng.int(2, 250));
      conn.server = newSide(p, 'ipv4', ipv4(10, 0, 3, 7), 443, remote, port);
      conn.host = 'shop.example.com';
      conn.ua = rng.pick(BROWSER_UA);
      st.connections++;
    } else {
      const cp = rng.pick(CLIENT_PROCS);
      const sp = rng.pick(SERVER_PROCS);
      const a = ipv4(127, 0, 0, 1);
      conn.client = newSide(cp, 'ipv4', a, port, a, 8443);
      conn.server = newSide(sp, 'ipv4', a, 8443, a, port);
      conn.host = 'localhost:8443';
      conn.ua = cp.ua!;
      st.connections += 2;
    }
    if (conn.server && !conn.server.connAfterWrite) conn.actions.push({ kind: 'conn', side: conn.server });
    if (conn.client && !conn.client.connAfterWrite) conn.actions.push({ kind: 'conn', side: conn.client });
    return conn;
  };

  const request = (conn: Conn): { data: Buffer; headLen: number; method: string } => {
    const m = rng.next();
    const method = m < 0.7 ? 'GET' : m < 0.9 ? 'POST' : m < 0.95 ? 'PUT' : 'DELETE';
    const id = rng.int(1, 9_999_999);
    let path: string;
    if (method === 'POST') path = rng.pick(['/api/v1/orders', '/api/v1/sessions', '/graphql', `/api/v1/users/${id}/events`]);
    else if (method === 'PUT') path = `/api/v2/orders/${rng.uuid()}`;
    else if (method === 'DELETE') path = `/api/v1/carts/${id}/items/${rng.int(1, 99)}`;
    else {
      const k = rng.int(0, 7);
      path = [
        `/api/v1/users/${id}`,
        `/api/v1/users/${id}/orders?page=${rng.int(1, 20)}&limit=50`,
        `/api/v2/orders/${rng.uuid()}`,
        `/v1/products?category=shoes&sort=price&page=${rng.int(1, 9)}`,
        '/healthz',
        `/api/v1/search?q=red+running+shoes&access_token=${rng.hex(40)}`,
        `/static/js/app.${rng.hex(8)}.js`,
        `/api/v1/inventory/${id}/stock`,
      ][k];
    }
    const bodyLen = method === 'POST' || method === 'PUT' ? rng.int(60, 2500) : 0;
    let h = `${method} ${path} HTTP/1.1\r\nHost: ${conn.host}\r\nUser-Agent: ${conn.ua}\r\n`;
    h += 'Accept: application/json, text/plain, */*\r\nAccept-Encoding: gzip, deflate, br\r\n';
    if (rng.chance(0.5)) h += 'Accept-Language: en-US,en;q=0.9\r\n';
    h += 'Connection: keep-alive\r\n';
    h += `Authorization: ${conn.auth}\r\n`;
    h += `X-Request-Id: ${rng.uuid()}\r\n`;
    if (conn.cookie) h += `Cookie: ${conn.cookie}\r\n`;
    if (rng.chance(0.3)) {
      h += `traceparent: 00-${rng.hex(32)}-${rng.hex(16)}-01\r\n`;
      st.withTraceparent++;
    }
    if (bodyLen > 0) h += `Content-Type: application/json\r\nContent-Length: ${bodyLen}\r\n`;
    h += '\r\n';
    const head = Buffer.from(h, 'latin1');
    reqHeadBytes += head.length;
    return { data: bodyLen > 0 ? Buffer.concat([head, body(bodyLen)]) : head, headLen: head.length, method };
  };

  /** The server's write calls for one response. */
  const response = (method: string): Buffer[] => {
    const r = rng.next();
    let code: number;
    let reason: string;
    if (method === 'DELETE') [code, reason] = r < 0.9 ? [204, 'No Content'] : [404, 'Not Found'];
    else if (method === 'POST') [code, reason] = r < 0.7 ? [201, 'Created'] : r < 0.95 ? [200, 'OK'] : [500, 'Internal Server Error'];
    else if (r < 0.86) [code, reason] = [200, 'OK'];
    else if (r < 0.9) [code, reason] = [304, 'Not Modified'];
    else if (r < 0.97) [code, reason] = [404, 'Not Found'];
    else [code, reason] = [503, 'Service Unavailable'];
    const noBody = code === 204 || code === 304;
    let len = 0;
    if (!noBody) {
      if (rng.chance(largeShare)) {
        len = rng.int(16 * 1024, 24 * 1024);
        st.largeBodies++;
      } else {
        len = Math.floor(Math.exp(rng.next() * Math.log(4000 / 30)) * 30); // 30 B .. 4 KB, log-uniform
      }
    }
    const chunked = !noBody && rng.chance(0.15);
    let h = `HTTP/1.1 ${code} ${reason}\r\nServer: nginx/1.24.0\r\nDate: ${DATE}\r\n`;
    if (!noBody) h += 'Content-Type: application/json; charset=utf-8\r\n';
    if (chunked) h += 'Transfer-Encoding: chunked\r\n';
    else if (!noBody) h += `Content-Length: ${len}\r\n`;
    h += 'Connection: keep-alive\r\nCache-Control: no-cache, no-store, must-revalidate\r\n';
    h += `X-Request-Id: ${rng.uuid()}\r\nStrict-Transport-Security: max-age=31536000; includeSubDomains\r\n`;
    h += `Vary: Accept-Encoding, Origin\r\nETag: W/"${rng.hex(6)}-${rng.hex(12)}"\r\nX-Content-Type-Options: nosniff\r\n`;
    if (rng.chance(0.1)) h += `Set-Cookie: session=${rng.b64(32)}; Path=/; Secure; HttpOnly; SameSite=Lax\r\n`;
    h += '\r\n';
    const head = Buffer.from(h, 'latin1');
    respHeadBytes += head.length;
    if (noBody) return [head];
    const b = body(len);
    if (chunked) {
      st.chunkedResponses++;
      const writes: Buffer[] = [head];
      for (let o = 0; o < len; ) {
        const n = Math.min(len - o, rng.int(1024, 8192));
        writes.push(Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`, 'latin1'), b.subarray(o, o + n), Buffer.from('\r\n', 'latin1')]));
        o += n;
      }
      const end = Buffer.from('0\r\n\r\n', 'latin1');
      if (rng.chance(0.5)) writes[writes.length - 1] = Buffer.concat([writes[writes.length - 1], end]);
      else writes.push(end);
      return writes;
    }
    return rng.chance(0.6) ? [Buffer.concat([head, b])] : [head, b];
  };

  /** Read calls the reader makes for one write call: per TLS record, cut by its buffer size. */
  const reads = (acts: Action[], reader: Side, data: Buffer): void => {
    for (let rec = 0; rec < data.length; rec += TLSOTEL_MAX_PAYLOAD) {
      const recEnd = Math.min(data.length, rec + TLSOTEL_MAX_PAYLOAD);
      for (let o = rec; o < recEnd; o += reader.readBuf) {
        acts.push({ kind: 'call', side: reader, read: true, data, off: o, len: Math.min(reader.readBuf, recEnd - o) });
      }
    }
  };

  const planExchange = (conn: Conn): void => {
    const acts = conn.actions;
    const req = request(conn);
    const reqWrites = req.data.length > req.headLen && rng.chance(0.3)
      ? [req.data.subarray(0, req.headLen), req.data.subarray(req.headLen)]
      : [req.data];
    for (const wr of reqWrites) {
      if (conn.client) {
        acts.push({ kind: 'call', side: conn.client, read: false, data: wr, off: 0, len: wr.length });
        if (!conn.client.connSent && conn.client.connAfterWrite) {
          acts.push({ kind: 'conn', side: conn.client });
          conn.client.connSent = true;
        }
      }
      if (conn.server) reads(acts, conn.server, wr);
    }
    for (const wr of response(req.method)) {
      if (conn.server) acts.push({ kind: 'call', side: conn.server, read: false, data: wr, off: 0, len: wr.length });
      if (conn.client) reads(acts, conn.client, wr);
    }
  };

  const open: Conn[] = [];
  for (let i = 0; i < concurrency; i++) {
    const c = newConn();
    if (c) open.push(c);
  }
  while (open.length > 0) {
    const i = Math.floor(rng.next() * open.length);
    const conn = open[i];
    if (conn.head >= conn.actions.length && conn.left >= 0) {
      conn.actions.length = 0;
      conn.head = 0;
      if (conn.left > 0) {
        conn.left--;
        planExchange(conn);
      } else {
        if (conn.client) conn.actions.push({ kind: 'close', side: conn.client });
        if (conn.server) conn.actions.push({ kind: 'close', side: conn.server });
        conn.left = -1;
      }
    }
    if (conn.head >= conn.actions.length) {
      // Closed: replace it with a new connection (or drop it when the budget is spent).
      const next = newConn();
      if (next) open[i] = next;
      else open.splice(i, 1);
      continue;
    }
    const a = conn.actions[conn.head++];
    now += BigInt(rng.int(2_000, 60_000)); // 2..60 µs between calls in the ring
    if (a.kind === 'call') emitCall(a.side, a.read, a.data, a.off, a.len);
    else if (a.kind === 'conn') {
      if (a.side.connAfterWrite || !a.side.connSent) emitConn(a.side);
    } else emitClose(a.side);
  }

  st.records = st.dataRecords + st.connRecords + st.closeRecords;
  st.recordBytes = w.recordBytes;
  st.avgRequestHeadBytes = Math.round(reqHeadBytes / st.httpExchanges);
  st.avgResponseHeadBytes = Math.round(respHeadBytes / st.httpExchanges);
  return w.finish(st);
}
