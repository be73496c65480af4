// Synthetic capture for the pipeline benchmark: binary ring-buffer records (struct tls_event of
// bpf/tlsotel.h, written by encodeRecord, the inverse of decodeRecord)
// for HTTP/1.1 keep-alive or HTTP/2 traffic seen by traced clients and servers, generated into
// memory before anything is timed. For a given seed, both protocols carry the same exchanges
// (same connections, methods, paths, header fields, body sizes, statuses): each connection
// draws its content from a generator of its own, and the wire (framing, write calls, the order
// of calls in the ring) from another, so that the two corpora differ only in how the exchanges
// are put on the wire.
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
//     with its own timestamp, all records of a call with the same one;
//   - a share of connections (default 20 %) carry gRPC calls: POST /package.Service/Method,
//     content-type application/grpc, te: trailers, length-prefixed messages, grpc-status (and
//     grpc-message) in trailers. Over HTTP/1.1 (the same calls, for the comparison) the response
//     is chunked with the trailers after the last chunk.
//
// HTTP/2 (protocol 'h2'), as a client and server would put it on the wire: the client preface
// with SETTINGS and a connection WINDOW_UPDATE in the client's first write; the server's SETTINGS,
// WINDOW_UPDATE and SETTINGS ACK first in its own; the client's SETTINGS ACK after it read them.
// Requests go out in batches of 1..16 concurrent streams (odd ids, opened in order): HEADERS
// blocks from one HpackEncoder per direction and connection (dynamic table on: later requests
// reuse indexed fields; authorization and cookie never indexed, as nghttp2 does), then DATA
// frames; the frames of the batch's streams interleaved in both directions (responses in
// whatever order the server finishes them, DATA of different streams alternating, gRPC trailers
// as a last HEADERS frame). Frames are gathered into write calls of up to 16 KiB or 4 KiB, or
// one frame a call, depending on the process; the reader's calls are cut as for HTTP/1.1 (one
// TLS record at most per read, cut by its buffer). Clients send connection WINDOW_UPDATEs after
// reading 32 KiB of DATA, servers after reading request bodies; some connections end with the
// server's GOAWAY.
import { TLSOTEL_MAX_PAYLOAD, TLSOTEL_MAX_SEGMENTS } from '../src/bpf/layout.generated';
import { encodeRecord, encodedSize, type EncodableRecord } from '../src/capture/record';
import { CLIENT_PREFACE, encodeFrame, Flag, FrameType } from '../src/protocol/http2/frame';
import { HpackEncoder } from '../src/protocol/http2/hpack-encoder';

/** How the exchanges go on the wire. */
export type WireProtocol = 'h1' | 'h2';

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
  /** HTTP/1.1 (default) or HTTP/2: the same exchanges either way. */
  protocol?: WireProtocol;
  /** Share of connections carrying gRPC calls (default 0.2). */
  grpcShare?: number;
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
  /** gRPC calls on the wire (a same-host pair counts once). */
  grpcCalls: number;
  /** HTTP/2: streams in flight at once on a connection, on average over the batches. */
  avgConcurrentStreams: number;
  /** HTTP/1.1: head text; HTTP/2: HPACK header block (dynamic table in use). */
  avgRequestHeadBytes: number;
  avgResponseHeadBytes: number;
  protocol: WireProtocol;
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
  /** gRPC calls only. */
  grpc: boolean;
  /** The connection's content (exchanges): the same whatever the protocol. */
  rng: Rng;
  actions: Action[];
  head: number;
  h2?: H2State;
}

/** The wire state of an HTTP/2 connection. */
interface H2State {
  /** Client → server and server → client header compression (one dynamic table each). */
  clientHpack: HpackEncoder;
  serverHpack: HpackEncoder;
  started: boolean;
  nextStream: number;
  /** Most streams the client opens at once. */
  maxStreams: number;
  /** Largest write call when frames are gathered (1: one frame per call). */
  clientWriteMax: number;
  serverWriteMax: number;
  /** Server's DATA frame size (nginx: http2_chunk_size 8k). */
  serverFrame: number;
  /** DATA read by the client since its last WINDOW_UPDATE. */
  unacked: number;
}

/** An HTTP/2 frame, or one made when it goes out (a header block: HPACK state is in wire order). */
type Frame = Buffer | (() => Buffer);

/** One exchange's content, protocol-neutral: fields as flat [Name, value, …] in HTTP/1.1 case. */
interface ReqPlan {
  method: string;
  path: string;
  fields: string[];
  body: Buffer;
  /** HTTP/1.1: the body in a second write call. */
  bodyApart: boolean;
}

interface RespPlan {
  code: number;
  reason: string;
  fields: string[];
  /** The body as the server writes it (HTTP/1.1 chunks, HTTP/2 DATA boundaries); may be empty. */
  pieces: Buffer[];
  chunked: boolean;
  /** HTTP/1.1, not chunked: head and body in one call. */
  headWithBody: boolean;
  /** HTTP/1.1 chunked: the last chunk (and trailers) in a call of its own. */
  endApart: boolean;
  /** gRPC: flat [name, value, …], lower case. */
  trailers?: string[];
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
const GRPC_METHODS = [
  '/shop.v1.OrderService/GetOrder', '/shop.v1.OrderService/ListOrders', '/inventory.v2.StockService/Reserve',
  '/grpc.health.v1.Health/Check', '/auth.v1.TokenService/Validate',
];
const GRPC_UA = 'grpc-go/1.59.0';
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

/** gRPC's length-prefixed message: flag 0 (not compressed), length, then the bytes. */
function grpcMessage(n: number): Buffer {
  const b = Buffer.allocUnsafe(5 + n);
  b[0] = 0;
  b.writeUInt32BE(n, 1);
  body(n).copy(b, 5);
  return b;
}

/** HTTP/1.1 field names with no place in HTTP/2 (connection-specific; Host is :authority). */
const H1_ONLY = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);

/** Client SETTINGS as browsers and grpc clients send them: table 4096 (default, said anyway),
 *  push off, 100 streams, 6 MiB stream windows, 16 KiB frames. */
const CLIENT_SETTINGS = settingsPayload([[0x1, 4096], [0x2, 0], [0x3, 100], [0x4, 6 * 1024 * 1024], [0x5, 16384]]);
const SERVER_SETTINGS = settingsPayload([[0x3, 128], [0x4, 65536], [0x5, 16777215]]);

function settingsPayload(pairs: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    b.writeUInt16BE(id, 6 * i);
    b.writeUInt32BE(v, 6 * i + 2);
  });
  return b;
}

function windowUpdate(stream: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment, 0);
  return encodeFrame(FrameType.WindowUpdate, 0, stream, p);
}

export function generateCorpus(opts: GenOptions): Corpus {
  const seed = opts.seed ?? 0x7150_7e1;
  const protocol: WireProtocol = opts.protocol ?? 'h1';
  /** Connections (kind, processes, addresses, exchange count), in creation order. */
  const rng = new Rng(seed);
  /** The wire: which connection moves next, time between calls, framing and write calls. */
  const wire = new Rng(seed ^ 0x5bd1e995);
  const concurrency = opts.concurrency ?? 48;
  const largeShare = opts.largeBodyShare ?? 0.06;
  const grpcShare = opts.grpcShare ?? 0.2;
  const w = new RecordWriter();
  const st: CorpusStats = {
    records: 0, dataRecords: 0, connRecords: 0, closeRecords: 0, segmentedCalls: 0, recordBytes: 0, payloadBytes: 0,
    connections: 0, httpExchanges: 0, spans: 0, largeBodies: 0, chunkedResponses: 0, withTraceparent: 0, grpcCalls: 0,
    avgConcurrentStreams: 0, avgRequestHeadBytes: 0, avgResponseHeadBytes: 0, protocol,
  };
  let reqHeadBytes = 0;
  let respHeadBytes = 0;
  let batches = 0;
  let batchStreams = 0;
  let now = opts.startNs ?? 1_000_000_000_000n;
  let sslCounter = 0;
  let portCounter = 30000;
  let connCounter = 0;
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
    const conn: Conn = {
      left: n, host: '', ua: '', auth: `Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.${rng.b64(rng.int(60, 120))}.${rng.b64(43)}`,
      grpc: rng.chance(grpcShare), rng: new Rng((seed + Math.imul(++connCounter, 0x9e3779b1)) | 0), actions: [], head: 0,
    };
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
    if (conn.grpc) conn.ua = GRPC_UA;
    if (protocol === 'h2') {
      conn.h2 = {
        clientHpack: new HpackEncoder(),
        serverHpack: new HpackEncoder(),
        started: false,
        nextStream: 1,
        maxStreams: wire.pick([2, 4, 8, 16]),
        clientWriteMax: wire.pick([16384, 4096, 1]),
        serverWriteMax: wire.pick([16384, 16384, 4096, 1]),
        serverFrame: wire.pick([8192, 16384]),
        unacked: 0,
      };
    }
    if (conn.server && !conn.server.connAfterWrite) conn.actions.push({ kind: 'conn', side: conn.server });
    if (conn.client && !conn.client.connAfterWrite) conn.actions.push({ kind: 'conn', side: conn.client });
    return conn;
  };

  // ---- content: drawn from the connection's own generator, whatever the protocol ----

  const request = (conn: Conn): ReqPlan => {
    const rng = conn.rng;
    const f: string[] = [];
    if (conn.grpc) {
      const path = rng.pick(GRPC_METHODS);
      f.push('Host', conn.host, 'User-Agent', conn.ua, 'Content-Type', 'application/grpc', 'TE', 'trailers');
      if (rng.chance(0.5)) f.push('grpc-timeout', `${rng.int(1, 30)}S`);
      f.push('grpc-accept-encoding', 'identity,deflate,gzip', 'Authorization', conn.auth);
      if (rng.chance(0.3)) {
        f.push('traceparent', `00-${rng.hex(32)}-${rng.hex(16)}-01`);
        st.withTraceparent++;
      }
      const msg = grpcMessage(rng.int(20, 1500));
      f.push('Content-Length', String(msg.length));
      st.grpcCalls++;
      return { method: 'POST', path, fields: f, body: msg, bodyApart: false };
    }
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
    f.push('Host', conn.host, 'User-Agent', conn.ua);
    f.push('Accept', 'application/json, text/plain, */*', 'Accept-Encoding', 'gzip, deflate, br');
    if (rng.chance(0.5)) f.push('Accept-Language', 'en-US,en;q=0.9');
    f.push('Connection', 'keep-alive');
    f.push('Authorization', conn.auth);
    f.push('X-Request-Id', rng.uuid());
    if (conn.cookie) f.push('Cookie', conn.cookie);
    if (rng.chance(0.3)) {
      f.push('traceparent', `00-${rng.hex(32)}-${rng.hex(16)}-01`);
      st.withTraceparent++;
    }
    if (bodyLen > 0) f.push('Content-Type', 'application/json', 'Content-Length', String(bodyLen));
    return { method, path, fields: f, body: body(bodyLen), bodyApart: bodyLen > 0 && rng.chance(0.3) };
  };

  /** Body length: 30 B .. 4 KB log-uniform, or a large one. */
  const bodyLength = (rng: Rng): number => {
    if (rng.chance(largeShare)) {
      st.largeBodies++;
      return rng.int(16 * 1024, 24 * 1024);
    }
    return Math.floor(Math.exp(rng.next() * Math.log(4000 / 30)) * 30);
  };

  /** Cuts a body into the pieces a server writes (chunks of 1..8 KiB). */
  const pieces = (rng: Rng, b: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    for (let o = 0; o < b.length; ) {
      const n = Math.min(b.length - o, rng.int(1024, 8192));
      out.push(b.subarray(o, o + n));
      o += n;
    }
    return out;
  };

  const grpcResponse = (conn: Conn): RespPlan => {
    const rng = conn.rng;
    const r = rng.next();
    const status = r < 0.92 ? 0 : r < 0.97 ? 5 : 14;
    const f = ['Server', 'envoy', 'Date', DATE, 'Content-Type', 'application/grpc', 'Transfer-Encoding', 'chunked', 'grpc-accept-encoding', 'identity,deflate,gzip'];
    const trailers = ['grpc-status', String(status)];
    if (status === 5) trailers.push('grpc-message', 'order%20not%20found');
    if (status === 14) trailers.push('grpc-message', 'upstream connect error');
    // A failed call answers with no message (trailers only on the wire, as grpc servers do).
    const msg = status === 0 ? grpcMessage(bodyLength(rng)) : Buffer.alloc(0);
    st.chunkedResponses++;
    return { code: 200, reason: 'OK', fields: f, pieces: msg.length > 0 ? pieces(rng, msg) : [], chunked: true, headWithBody: false, endApart: rng.chance(0.5), trailers };
  };

  const response = (conn: Conn, method: string): RespPlan => {
    if (conn.grpc) return grpcResponse(conn);
    const rng = conn.rng;
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
    const len = noBody ? 0 : bodyLength(rng);
    const chunked = !noBody && rng.chance(0.15);
    const f = ['Server', 'nginx/1.24.0', 'Date', DATE];
    if (!noBody) f.push('Content-Type', 'application/json; charset=utf-8');
    if (chunked) f.push('Transfer-Encoding', 'chunked');
    else if (!noBody) f.push('Content-Length', String(len));
    f.push('Connection', 'keep-alive', 'Cache-Control', 'no-cache, no-store, must-revalidate');
    f.push('X-Request-Id', rng.uuid(), 'Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    f.push('Vary', 'Accept-Encoding, Origin', 'ETag', `W/"${rng.hex(6)}-${rng.hex(12)}"`, 'X-Content-Type-Options', 'nosniff');
    if (rng.chance(0.1)) f.push('Set-Cookie', `session=${rng.b64(32)}; Path=/; Secure; HttpOnly; SameSite=Lax`);
    if (noBody) return { code, reason, fields: f, pieces: [], chunked: false, headWithBody: false, endApart: false };
    const b = body(len);
    if (chunked) {
      st.chunkedResponses++;
      return { code, reason, fields: f, pieces: pieces(rng, b), chunked, headWithBody: false, endApart: rng.chance(0.5) };
    }
    return { code, reason, fields: f, pieces: [b], chunked, headWithBody: rng.chance(0.6), endApart: false };
  };

  // ---- the wire ----

  /** Read calls the reader makes for one write call: per TLS record, cut by its buffer size. */
  const reads = (acts: Action[], reader: Side, data: Buffer): void => {
    for (let rec = 0; rec < data.length; rec += TLSOTEL_MAX_PAYLOAD) {
      const recEnd = Math.min(data.length, rec + TLSOTEL_MAX_PAYLOAD);
      for (let o = rec; o < recEnd; o += reader.readBuf) {
        acts.push({ kind: 'call', side: reader, read: true, data, off: o, len: Math.min(reader.readBuf, recEnd - o) });
      }
    }
  };

  /** A write call by one end (if traced) and the other end's reads of it (if traced). */
  const transfer = (conn: Conn, fromClient: boolean, data: Buffer): void => {
    const acts = conn.actions;
    const writer = fromClient ? conn.client : conn.server;
    const reader = fromClient ? conn.server : conn.client;
    if (writer) {
      acts.push({ kind: 'call', side: writer, read: false, data, off: 0, len: data.length });
      if (!writer.connSent && writer.connAfterWrite) {
        acts.push({ kind: 'conn', side: writer });
        writer.connSent = true;
      }
    }
    if (reader) reads(acts, reader, data);
  };

  const h1Fields = (f: string[]): string => {
    let s = '';
    for (let i = 0; i < f.length; i += 2) s += `${f[i]}: ${f[i + 1]}\r\n`;
    return s;
  };

  const planH1 = (conn: Conn): void => {
    const req = request(conn);
    const reqHead = Buffer.from(`${req.method} ${req.path} HTTP/1.1\r\n${h1Fields(req.fields)}\r\n`, 'latin1');
    reqHeadBytes += reqHead.length;
    const reqWrites = req.body.length === 0 ? [reqHead] : req.bodyApart ? [reqHead, req.body] : [Buffer.concat([reqHead, req.body])];
    for (const wr of reqWrites) transfer(conn, true, wr);
    const resp = response(conn, req.method);
    const respHead = Buffer.from(`HTTP/1.1 ${resp.code} ${resp.reason}\r\n${h1Fields(resp.fields)}\r\n`, 'latin1');
    respHeadBytes += respHead.length;
    let writes: Buffer[];
    if (resp.chunked) {
      writes = [respHead];
      for (const p of resp.pieces) {
        writes.push(Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`, 'latin1'), p, Buffer.from('\r\n', 'latin1')]));
      }
      const t = resp.trailers ?? [];
      let end = '0\r\n';
      for (let i = 0; i < t.length; i += 2) end += `${t[i]}: ${t[i + 1]}\r\n`;
      const endBuf = Buffer.from(`${end}\r\n`, 'latin1');
      if (!resp.endApart && writes.length > 1) writes[writes.length - 1] = Buffer.concat([writes[writes.length - 1], endBuf]);
      else writes.push(endBuf);
    } else if (resp.pieces.length === 0) writes = [respHead];
    else writes = resp.headWithBody ? [Buffer.concat([respHead, resp.pieces[0]])] : [respHead, resp.pieces[0]];
    for (const wr of writes) transfer(conn, false, wr);
  };

  /** HTTP/2 header list: pseudo-header fields first, names lower case, HTTP/1.1-only fields out. */
  const h2Fields = (pseudo: string[], f: string[]): string[] => {
    const out = pseudo.slice();
    for (let i = 0; i < f.length; i += 2) {
      const name = f[i].toLowerCase();
      if (!H1_ONLY.has(name)) out.push(name, f[i + 1]);
    }
    return out;
  };

  /** Data split into DATA frames of at most `max`, END_STREAM on the last when `end`. */
  const dataFrames = (stream: number, pieces: Buffer[], max: number, end: boolean): Buffer[] => {
    const out: Buffer[] = [];
    for (let p = 0; p < pieces.length; p++) {
      const b = pieces[p];
      for (let o = 0; o < b.length; o += max) {
        const n = Math.min(max, b.length - o);
        const last = end && p === pieces.length - 1 && o + n >= b.length;
        out.push(encodeFrame(FrameType.Data, last ? Flag.EndStream : 0, stream, b.subarray(o, o + n)));
      }
    }
    return out;
  };

  /**
   * Frames of several streams in one order: a random stream's next frame each time (each
   * stream's own frames stay in order); with `inOrder`, stream i's first frame only after stream
   * i-1's (a client opens streams in increasing id order). A header block is made when its
   * frame goes out (a function in the queue): HPACK's dynamic table follows the order on the wire.
   */
  const interleave = (queues: Frame[][], inOrder: boolean): Buffer[] => {
    const out: Buffer[] = [];
    const pos = queues.map(() => 0);
    let opened = inOrder ? 1 : queues.length;
    for (;;) {
      const ready: number[] = [];
      for (let i = 0; i < Math.min(opened, queues.length); i++) if (pos[i] < queues[i].length) ready.push(i);
      if (ready.length === 0) {
        if (opened >= queues.length) return out;
        opened++;
        continue;
      }
      const i = wire.pick(ready);
      if (i === opened - 1 && pos[i] === 0 && inOrder) opened++;
      const f = queues[i][pos[i]++];
      out.push(typeof f === 'function' ? f() : f);
    }
  };

  /** Frames gathered into write calls of up to `max` bytes (a frame never cut), flushed now and then. */
  const writeCalls = (frames: Buffer[], max: number): Buffer[] => {
    const calls: Buffer[] = [];
    let cur: Buffer[] = [];
    let size = 0;
    for (const f of frames) {
      if (cur.length > 0 && (size + f.length > max || wire.chance(0.15))) {
        calls.push(cur.length === 1 ? cur[0] : Buffer.concat(cur));
        cur = [];
        size = 0;
      }
      cur.push(f);
      size += f.length;
    }
    if (cur.length > 0) calls.push(cur.length === 1 ? cur[0] : Buffer.concat(cur));
    return calls;
  };

  /** One batch of concurrent streams on an HTTP/2 connection (the first opens the connection). */
  const planH2 = (conn: Conn, count: number): void => {
    const h = conn.h2!;
    batches++;
    batchStreams += count;
    const reqQueues: Frame[][] = [];
    const respQueues: Frame[][] = [];
    let requestData = 0;
    for (let k = 0; k < count; k++) {
      const id = h.nextStream;
      h.nextStream += 2;
      const req = request(conn);
      const reqFields = h2Fields([':method', req.method, ':scheme', 'https', ':authority', conn.host, ':path', req.path], req.fields);
      const q: Frame[] = [() => {
        const block = h.clientHpack.encode(reqFields);
        reqHeadBytes += block.length;
        return encodeFrame(FrameType.Headers, Flag.EndHeaders | (req.body.length === 0 ? Flag.EndStream : 0), id, block);
      }];
      if (req.body.length > 0) q.push(...dataFrames(id, [req.body], 16384, true));
      requestData += req.body.length;
      reqQueues.push(q);
      const resp = response(conn, req.method);
      const respFields = h2Fields([':status', String(resp.code)], resp.fields);
      const noData = resp.pieces.length === 0;
      const endOnData = resp.trailers === undefined;
      const rq: Frame[] = [() => {
        const block = h.serverHpack.encode(respFields);
        respHeadBytes += block.length;
        return encodeFrame(FrameType.Headers, Flag.EndHeaders | (noData && endOnData ? Flag.EndStream : 0), id, block);
      }];
      // Chunks of a streamed response are DATA frames as written; a whole body in frames of the server's size.
      rq.push(...dataFrames(id, resp.pieces, resp.chunked ? 16384 : h.serverFrame, endOnData));
      const trailers = resp.trailers;
      if (trailers) rq.push(() => encodeFrame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, id, h.serverHpack.encode(trailers)));
      respQueues.push(rq);
    }
    const cFrames = interleave(reqQueues, true);
    if (!h.started) cFrames.unshift(CLIENT_PREFACE, encodeFrame(FrameType.Settings, 0, 0, CLIENT_SETTINGS), windowUpdate(0, 15 * 1024 * 1024));
    for (const c of writeCalls(cFrames, h.clientWriteMax)) transfer(conn, true, c);
    const sFrames = interleave(respQueues, false);
    if (requestData > 0) sFrames.unshift(windowUpdate(0, requestData));
    if (!h.started) sFrames.unshift(encodeFrame(FrameType.Settings, 0, 0, SERVER_SETTINGS), windowUpdate(0, 16 * 1024 * 1024), encodeFrame(FrameType.Settings, Flag.Ack, 0));
    const sCalls = writeCalls(sFrames, h.serverWriteMax);
    for (let i = 0; i < sCalls.length; i++) {
      transfer(conn, false, sCalls[i]);
      if (i === 0 && !h.started) transfer(conn, true, encodeFrame(FrameType.Settings, Flag.Ack, 0));
      // The client gives the connection's window back once it has read 32 KiB of DATA.
      for (let o = 0; o + 9 <= sCalls[i].length; ) {
        const len = sCalls[i].readUIntBE(o, 3);
        if (sCalls[i][o + 3] === FrameType.Data) h.unacked += len;
        o += 9 + len;
      }
      if (h.unacked >= 32768) {
        transfer(conn, true, windowUpdate(0, h.unacked));
        h.unacked = 0;
      }
    }
    h.started = true;
  };

  const planNext = (conn: Conn): void => {
    if (conn.h2 === undefined) {
      conn.left--;
      planH1(conn);
      return;
    }
    const count = Math.min(conn.left, wire.int(1, conn.h2.maxStreams));
    conn.left -= count;
    planH2(conn, count);
  };

  const open: Conn[] = [];
  for (let i = 0; i < concurrency; i++) {
    const c = newConn();
    if (c) open.push(c);
  }
  while (open.length > 0) {
    const i = Math.floor(wire.next() * open.length);
    const conn = open[i];
    if (conn.head >= conn.actions.length && conn.left >= 0) {
      conn.actions.length = 0;
      conn.head = 0;
      if (conn.left > 0) planNext(conn);
      else {
        // Some HTTP/2 servers say goodbye first (nginx after its keep-alive timeout).
        if (conn.h2 && wire.chance(0.5)) {
          const p = Buffer.alloc(8);
          p.writeUInt32BE(conn.h2.nextStream - 2, 0);
          transfer(conn, false, encodeFrame(FrameType.GoAway, 0, 0, p));
        }
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
    now += BigInt(wire.int(2_000, 60_000)); // 2..60 µs between calls in the ring
    if (a.kind === 'call') emitCall(a.side, a.read, a.data, a.off, a.len);
    else if (a.kind === 'conn') {
      if (a.side.connAfterWrite || !a.side.connSent) emitConn(a.side);
    } else emitClose(a.side);
  }

  st.records = st.dataRecords + st.connRecords + st.closeRecords;
  st.recordBytes = w.recordBytes;
  st.avgConcurrentStreams = batches > 0 ? batchStreams / batches : 1;
  st.avgRequestHeadBytes = Math.round(reqHeadBytes / st.httpExchanges);
  st.avgResponseHeadBytes = Math.round(respHeadBytes / st.httpExchanges);
  return w.finish(st);
}
