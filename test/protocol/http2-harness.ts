// Helpers for the HTTP/2 tests: a session whose output is collected, a feeder that cuts input
// anywhere, frame splitting, and a recorder of real HTTP/2 traffic (node's http2 client and
// server over plain TCP on loopback, bytes copied by a relay between them).

import http2 from 'node:http2';
import net from 'node:net';

import type { ErrorKind } from '../../src/exchange/error-kind';
import { CLIENT_PREFACE, Flag, FrameType, HpackEncoder, Http2Session, encodeFrame } from '../../src/protocol/http2/index';
import type { Direction, ProtocolCounter, ProtocolExchange } from '../../src/protocol/session';

export interface Chunk {
  dir: Direction;
  bytes: Buffer;
  /** Monotonic ns when recorded (real traffic); feed() numbers steps otherwise. */
  ts?: bigint;
}
export interface Gap {
  dir: Direction;
  gap: number;
}
export type Step = Chunk | Gap;

export interface Collected {
  session: Http2Session;
  exchanges: ProtocolExchange[];
  counters: Map<ProtocolCounter, number>;
  notMine: number;
}

export function collector(maxPending = 64): Collected {
  const exchanges: ProtocolExchange[] = [];
  const counters = new Map<ProtocolCounter, number>();
  const c: Collected = { session: undefined as unknown as Http2Session, exchanges, counters, notMine: 0 };
  c.session = new Http2Session(
    {
      exchange: (ex) => exchanges.push(ex),
      count: (counter, n = 1) => counters.set(counter, (counters.get(counter) ?? 0) + n),
      notMine: () => c.notMine++,
    },
    { maxPending },
  );
  return c;
}

/** Feeds steps (timestamps 1, 2, …), each chunk cut into pieces of at most `piece` bytes;
 *  then closes the session with `closeWith` when given. */
export function feed(steps: readonly Step[], piece = Infinity, closeWith?: ErrorKind): Collected {
  const c = collector();
  let ts = 0n;
  for (const s of steps) {
    ts = 'ts' in s && s.ts !== undefined ? s.ts : ts + 1n;
    if ('gap' in s) {
      c.session.gap(s.dir, s.gap, ts);
      continue;
    }
    for (let at = 0; at < s.bytes.length; at += piece) c.session.data(s.dir, s.bytes.subarray(at, Math.min(s.bytes.length, at + piece)), ts);
  }
  if (closeWith !== undefined) c.session.close(closeWith, ts + 1n);
  return c;
}

/** The same traffic seen from the other end: directions swapped. */
export function flip(steps: readonly Step[]): Step[] {
  return steps.map((s) => ({ ...s, dir: s.dir === 'write' ? 'read' : 'write' }));
}

/** Byte offsets where frames start in one direction's bytes (after the preface, if any). */
export function frameStarts(bytes: Buffer): number[] {
  const starts: number[] = [];
  let at = bytes.subarray(0, 24).toString('latin1') === 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' ? 24 : 0;
  while (at + 9 <= bytes.length) {
    starts.push(at);
    at += 9 + bytes.readUIntBE(at, 3);
  }
  return starts;
}

/** Joins consecutive chunks of one direction (recorded traffic arrives in many small pieces). */
export function concatDir(steps: readonly Step[], dir: Direction): Buffer {
  return Buffer.concat(steps.filter((s): s is Chunk => 'bytes' in s && s.dir === dir).map((s) => s.bytes));
}

/** What a test compares: the facts of an exchange, without timestamps. */
export function facts(ex: ProtocolExchange): Record<string, unknown> {
  return {
    side: ex.side,
    stream: ex.ordinal,
    method: ex.request.method,
    url: ex.request.url,
    status: ex.response?.statusCode,
    reqBody: ex.request.bodySize,
    respBody: ex.response?.bodySize,
    error: ex.error,
  };
}

// ---------------------------------------------------------------------------------------------
// Real traffic

export type ServerHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

/**
 * Runs `client` against a node http2 (h2c) server whose streams `handler` answers, through a
 * relay that records every byte: 'write' is what the client sent, 'read' what it received
 * (the traced process is the client). Returns the recorded steps once the client is done and
 * the connection closed.
 */
export async function recordHttp2(
  handler: ServerHandler,
  client: (session: http2.ClientHttp2Session) => Promise<void>,
  serverOptions: http2.ServerOptions = {},
): Promise<Step[]> {
  const server = http2.createServer(serverOptions);
  server.on('stream', handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const relay = await startRelay((server.address() as net.AddressInfo).port);
  const session = http2.connect(`http://127.0.0.1:${relay.port}`);
  session.on('error', () => undefined);
  try {
    await client(session);
  } finally {
    await new Promise<void>((resolve) => session.close(resolve));
    await relay.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return relay.steps;
}

export interface Relay {
  port: number;
  /** Every byte through the relay: 'write' client to server, 'read' back, with times. */
  steps: Step[];
  /** Waits for the relayed connections to close, then stops listening. */
  close(): Promise<void>;
}

/** A TCP relay on loopback to `targetPort` that records what goes through it. */
export async function startRelay(targetPort: number): Promise<Relay> {
  const steps: Step[] = [];
  const relayDone: Array<Promise<void>> = [];
  const relay = net.createServer((down) => {
    const up = net.connect(targetPort, '127.0.0.1');
    down.on('data', (b: Buffer) => {
      steps.push({ dir: 'write', bytes: Buffer.from(b), ts: process.hrtime.bigint() });
      up.write(b);
    });
    up.on('data', (b: Buffer) => {
      steps.push({ dir: 'read', bytes: Buffer.from(b), ts: process.hrtime.bigint() });
      down.write(b);
    });
    relayDone.push(new Promise<void>((resolve) => {
      let open = 2;
      const done = (): void => {
        if (--open === 0) resolve();
      };
      down.on('close', () => {
        up.end();
        done();
      });
      up.on('close', () => {
        down.end();
        done();
      });
    }));
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    port: (relay.address() as net.AddressInfo).port,
    steps,
    close: async () => {
      await Promise.all(relayDone);
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

/** One request on a client session: status, response body length, trailers. */
export function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
  opts: { cancelAfterMs?: number } = {},
): Promise<{ status: number; body: number; trailers: http2.IncomingHttpHeaders; reset?: number }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let length = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (d: Buffer) => {
      length += d.length;
    });
    req.on('close', () => resolve({ status, body: length, trailers, reset: req.rstCode }));
    req.on('error', (err: Error) => {
      if (opts.cancelAfterMs === undefined) reject(err);
    });
    if (body !== undefined) req.end(body);
    if (opts.cancelAfterMs !== undefined) setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), opts.cancelAfterMs);
  });
}

// ---------------------------------------------------------------------------------------------
// Synthesized traffic: frames written with our encoder, one HPACK context per direction.

export interface HeadersOptions {
  endStream?: boolean;
  /** Pad length (PADDED flag). */
  pad?: number;
  /** Adds priority fields (PRIORITY flag). */
  priority?: boolean;
  /** Cuts the block into fragments of this many bytes (HEADERS + CONTINUATIONs). */
  fragment?: number;
}

/** Writes a conversation frame by frame: 'write' is the client unless told otherwise. */
export class Conversation {
  readonly steps: Step[] = [];
  private readonly encoders = { write: new HpackEncoder(), read: new HpackEncoder() };

  constructor(opts: { preface?: boolean; huffman?: boolean; clientDir?: Direction } = {}) {
    const h = opts.huffman ?? true;
    this.encoders = { write: new HpackEncoder({ huffman: h }), read: new HpackEncoder({ huffman: h }) };
    const client = opts.clientDir ?? 'write';
    if (opts.preface ?? true) {
      this.raw(client, Buffer.concat([CLIENT_PREFACE, encodeFrame(FrameType.Settings, 0, 0, settingsPayload([[3, 100], [4, 65535]]))]));
      this.raw(client === 'write' ? 'read' : 'write', encodeFrame(FrameType.Settings, 0, 0, settingsPayload([[3, 128]])));
    }
  }

  raw(dir: Direction, bytes: Buffer): this {
    this.steps.push({ dir, bytes });
    return this;
  }

  gap(dir: Direction, n: number): this {
    this.steps.push({ dir, gap: n });
    return this;
  }

  headers(dir: Direction, stream: number, fields: string[], o: HeadersOptions = {}): this {
    const block = this.encoders[dir].encode(fields);
    this.raw(dir, headersFrames(FrameType.Headers, stream, block, o));
    return this;
  }

  pushPromise(dir: Direction, stream: number, promised: number, fields: string[]): this {
    const block = this.encoders[dir].encode(fields);
    const p = Buffer.alloc(4);
    p.writeUInt32BE(promised);
    this.raw(dir, encodeFrame(FrameType.PushPromise, Flag.EndHeaders, stream, Buffer.concat([p, block])));
    return this;
  }

  data(dir: Direction, stream: number, size: number, o: { endStream?: boolean; pad?: number } = {}): this {
    let flags = o.endStream ? Flag.EndStream : 0;
    let payload = Buffer.alloc(size, 0x62);
    if (o.pad !== undefined) {
      flags |= Flag.Padded;
      payload = Buffer.concat([Buffer.from([o.pad]), payload, Buffer.alloc(o.pad)]);
    }
    return this.raw(dir, encodeFrame(FrameType.Data, flags, stream, payload));
  }

  rst(dir: Direction, stream: number, code: number): this {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(code);
    return this.raw(dir, encodeFrame(FrameType.RstStream, 0, stream, p));
  }

  goAway(dir: Direction, lastStream: number, code: number): this {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(lastStream);
    p.writeUInt32BE(code, 4);
    return this.raw(dir, encodeFrame(FrameType.GoAway, 0, 0, p));
  }

  ping(dir: Direction, ack = false): this {
    return this.raw(dir, encodeFrame(FrameType.Ping, ack ? Flag.Ack : 0, 0, Buffer.alloc(8, 7)));
  }

  windowUpdate(dir: Direction, stream: number): this {
    return this.raw(dir, encodeFrame(FrameType.WindowUpdate, 0, stream, Buffer.from([0, 0, 0x10, 0])));
  }

  priority(dir: Direction, stream: number): this {
    return this.raw(dir, encodeFrame(FrameType.Priority, 0, stream, Buffer.from([0, 0, 0, 0, 15])));
  }

  settings(dir: Direction, values: Array<[number, number]>, ack = false): this {
    return this.raw(dir, encodeFrame(FrameType.Settings, ack ? Flag.Ack : 0, 0, ack ? Buffer.alloc(0) : settingsPayload(values)));
  }

  /** All the bytes of one direction. */
  bytes(dir: Direction): Buffer {
    return concatDir(this.steps, dir);
  }
}

export function settingsPayload(values: Array<[number, number]>): Buffer {
  const p = Buffer.alloc(6 * values.length);
  values.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(v, 6 * i + 2);
  });
  return p;
}

/** A header block as HEADERS (or PUSH_PROMISE) plus CONTINUATION frames. */
export function headersFrames(type: FrameType, stream: number, block: Buffer, o: HeadersOptions): Buffer {
  const size = o.fragment ?? block.length;
  const parts: Buffer[] = [];
  for (let at = 0; at < block.length || at === 0; at += Math.max(size, 1)) {
    parts.push(block.subarray(at, at + Math.max(size, 1)));
    if (block.length === 0) break;
  }
  const frames: Buffer[] = [];
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    if (i === 0) {
      let flags = (o.endStream ? Flag.EndStream : 0) | (last ? Flag.EndHeaders : 0);
      const pre: Buffer[] = [];
      if (o.pad !== undefined) {
        flags |= Flag.Padded;
        pre.push(Buffer.from([o.pad]));
      }
      if (o.priority) {
        flags |= Flag.Priority;
        pre.push(Buffer.from([0x80, 0, 0, 0, 200]));
      }
      frames.push(encodeFrame(type, flags, stream, Buffer.concat([...pre, part, Buffer.alloc(o.pad ?? 0)])));
    } else {
      frames.push(encodeFrame(FrameType.Continuation, last ? Flag.EndHeaders : 0, stream, part));
    }
  });
  return Buffer.concat(frames);
}

/** The steps with `n` bytes of direction `dir` from `offset` on replaced by a gap. */
export function withGap(steps: readonly Step[], dir: Direction, offset: number, n: number): Step[] {
  const out: Step[] = [];
  let pos = 0;
  let left = n;
  let gapped = false;
  for (const s of steps) {
    if (!('bytes' in s) || s.dir !== dir) {
      out.push(s);
      continue;
    }
    const start = pos;
    pos += s.bytes.length;
    if (pos <= offset || left === 0) {
      out.push(s);
      continue;
    }
    const from = Math.max(0, offset - start);
    if (from > 0) out.push({ ...s, bytes: s.bytes.subarray(0, from) });
    const cut = Math.min(left, s.bytes.length - from);
    left -= cut;
    if (!gapped) {
      out.push({ dir, gap: n });
      gapped = true;
    }
    if (from + cut < s.bytes.length) out.push({ ...s, bytes: s.bytes.subarray(from + cut) });
  }
  return out;
}
