// Robustness and property tests for the HTTP/2 session and HPACK decoder: random bytes,
// mutated conversations and random gaps must never throw and never buffer past the bounds;
// random valid conversations cut anywhere must come out exactly as written; joined at any
// frame, nothing reported may be wrong.
//
// Cases per randomized test: a bounded number in `npm test`, millions with TLSOTEL_FUZZ_CASES
// (npm run fuzz); TLSOTEL_FUZZ_SEED replays another sequence.

import assert from 'node:assert/strict';
import test from 'node:test';

import { ErrorKind } from '../../src/exchange/error-kind';
import { HpackDecoder } from '../../src/protocol/http2/hpack-decoder';
import { MAX_HEADER_BLOCK } from '../../src/protocol/http2/session';
import type { Direction, ProtocolExchange } from '../../src/protocol/session';
import { prng } from '../helpers/prng';
import { Conversation, collector, facts } from './http2-harness';
import type { Step } from './http2-harness';

const CASES = Number(process.env.TLSOTEL_FUZZ_CASES) > 0 ? Number(process.env.TLSOTEL_FUZZ_CASES) : 1500;
const SEED = Number(process.env.TLSOTEL_FUZZ_SEED) || 0;
/** Property cases cost more (a whole conversation, checked): a tenth as many, at least 1000. */
const PROPERTY_CASES = Math.max(1000, Math.floor(CASES / 10));
/** Two frame readers' payloads (64 KiB each), two header blocks, and small change. */
const MAX_BUFFERED = 2 * 65536 + 2 * MAX_HEADER_BLOCK + 4096;

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Feeds steps cut at random points; checks the invariants after every call. */
function feedChecked(steps: readonly Step[], rand: () => number, label: string): ProtocolExchange[] {
  const c = collector();
  let ts = 0n;
  try {
    for (const s of steps) {
      ts++;
      if ('gap' in s) {
        c.session.gap(s.dir, s.gap, ts);
      } else {
        let pos = 0;
        while (pos < s.bytes.length) {
          const n = rand() < 0.3 ? 1 + Math.floor(rand() * 3) : 1 + Math.floor(rand() * s.bytes.length);
          c.session.data(s.dir, s.bytes.subarray(pos, pos + n), ts);
          pos += n;
        }
      }
      assert.ok(c.session.bufferedBytes <= MAX_BUFFERED, `${label}: ${c.session.bufferedBytes} bytes buffered`);
      assert.ok(c.session.inFlight <= 256, `${label}: ${c.session.inFlight} streams`);
    }
    if (rand() < 0.5) c.session.expire(ts, ts + 1n);
    c.session.close(rand() < 0.5 ? ErrorKind.ClosedBeforeResponse : ErrorKind.AgentStopped, ts + 2n);
  } catch (err) {
    assert.fail(`${label}: session threw ${err instanceof Error ? err.stack : String(err)}`);
  }
  assert.ok(c.notMine <= 1, `${label}: notMine twice`);
  for (const ex of c.exchanges) {
    assert.ok(ex.startNs <= ex.endNs, `${label}: times`);
    assert.ok(ex.request.bodySize >= 0 && (ex.response?.bodySize ?? 0) >= 0, `${label}: sizes`);
    if (ex.request.url !== undefined) assert.ok(ex.request.url.startsWith('/') || ex.request.url === '*', `${label}: url ${ex.request.url}`);
    if (ex.response?.statusCode !== undefined) assert.ok(ex.response.statusCode >= 100 && ex.response.statusCode <= 599, `${label}: status`);
  }
  return c.exchanges;
}

// ---------------------------------------------------------------------------------------------
// A random valid conversation and what it must produce.

interface Model {
  conv: Conversation;
  /** Expected facts per stream id. */
  truth: Map<number, Record<string, unknown>>;
}

const NAMES = ['user-agent', 'accept', 'x-request-id', 'cookie', 'content-type', 'x-custom', 'traceparent'];

function randomConversation(rand: () => number, huffman = rand() < 0.5): Model {
  const conv = new Conversation({ huffman });
  const truth = new Map<number, Record<string, unknown>>();
  const n = 1 + Math.floor(rand() * 6);
  interface Plan { id: number; actions: Array<() => void> }
  const plans: Plan[] = [];
  for (let k = 0; k < n; k++) {
    const id = 2 * k + 1;
    const method = ['GET', 'POST', 'PUT', 'DELETE'][Math.floor(rand() * 4)];
    const path = `/r/${Math.floor(rand() * 1000)}?q=${k}`;
    const status = [200, 201, 204, 404, 500][Math.floor(rand() * 5)];
    const extra: string[] = [];
    for (let i = Math.floor(rand() * 4); i > 0; i--) extra.push(NAMES[Math.floor(rand() * NAMES.length)], `v${Math.floor(rand() * 5)}${'x'.repeat(Math.floor(rand() * 40))}`);
    const reqBody = rand() < 0.5 ? 0 : Math.floor(rand() * 3000);
    const respBody = Math.floor(rand() * 3000);
    const trailers = rand() < 0.3;
    const opts = () => ({ pad: rand() < 0.2 ? Math.floor(rand() * 10) : undefined, priority: rand() < 0.2, fragment: rand() < 0.2 ? 1 + Math.floor(rand() * 30) : undefined });
    const actions: Array<() => void> = [];
    actions.push(() => conv.headers('write', id, [':method', method, ':scheme', 'https', ':path', path, ':authority', 'svc.local', ...extra], { endStream: reqBody === 0, ...opts() }));
    if (reqBody > 0) {
      const half = Math.floor(reqBody / 2);
      actions.push(() => conv.data('write', id, half));
      actions.push(() => conv.data('write', id, reqBody - half, { endStream: true, pad: rand() < 0.3 ? 5 : undefined }));
    }
    actions.push(() => conv.headers('read', id, [':status', String(status), ...extra.slice(0, 2)], { endStream: respBody === 0 && !trailers, ...opts() }));
    if (respBody > 0) actions.push(() => conv.data('read', id, respBody, { endStream: !trailers }));
    if (trailers) actions.push(() => conv.headers('read', id, ['x-trailer', `t${k}`], { endStream: true, ...opts() }));
    plans.push({ id, actions });
    truth.set(id, { side: 'client', stream: id, method, url: path, status, reqBody, respBody, error: undefined });
  }
  // Interleave the streams' frames at random, each stream's in order; pings and window
  // updates in between.
  // Requests are opened in stream order (new stream ids must increase).
  for (const p of plans) p.actions.shift()!();
  const live = plans.filter((p) => p.actions.length > 0);
  while (live.length > 0) {
    const i = Math.floor(rand() * live.length);
    live[i].actions.shift()!();
    if (live[i].actions.length === 0) live.splice(i, 1);
    if (rand() < 0.1) conv.ping(rand() < 0.5 ? 'write' : 'read');
    if (rand() < 0.1) conv.windowUpdate('read', 0);
  }
  return { conv, truth };
}

test('property: random valid conversations, cut anywhere, come out exactly as written', () => {
  const rand = prng(0xc0ffee + SEED);
  for (let i = 0; i < PROPERTY_CASES; i++) {
    const { conv, truth } = randomConversation(rand);
    const got = feedChecked(conv.steps, rand, `case ${i}`);
    const byId = new Map(got.map((e) => [e.ordinal!, facts(e)]));
    assert.deepStrictEqual(byId, truth, `case ${i}`);
  }
});

test('property: joined at any frame of a random conversation, nothing reported is wrong', () => {
  const rand = prng(0xbeef + SEED);
  let reported = 0;
  for (let i = 0; i < PROPERTY_CASES; i++) {
    const { conv, truth } = randomConversation(rand);
    const steps = conv.steps as Array<{ dir: Direction; bytes: Buffer }>;
    const from = 1 + Math.floor(rand() * (steps.length - 1));
    for (const ex of feedChecked(steps.slice(from), rand, `case ${i} from ${from}`)) {
      const t = truth.get(ex.ordinal!);
      assert.ok(t !== undefined, `case ${i}: stream ${ex.ordinal}`);
      const f = facts(ex);
      for (const k of ['method', 'url', 'status'] as const) if (f[k] !== undefined) assert.equal(f[k], t[k], `case ${i} from ${from}: ${k}`);
      // Without an error the exchange is whole, though fields from before the join may be unknown.
      if (ex.error === undefined) assert.deepStrictEqual({ ...f, method: t.method, url: t.url, status: t.status }, t, `case ${i} from ${from}`);
      reported++;
    }
  }
  assert.ok(reported > 0);
});

test('property: random capture gaps in random conversations: nothing reported is wrong', () => {
  const rand = prng(0xd00d + SEED);
  let reported = 0;
  let whole = 0;
  for (let i = 0; i < PROPERTY_CASES; i++) {
    const { conv, truth } = randomConversation(rand);
    const steps: Step[] = [];
    for (const s of conv.steps as Array<{ dir: Direction; bytes: Buffer }>) {
      if (rand() < 0.15 && s.bytes.length > 0) {
        const at = Math.floor(rand() * s.bytes.length);
        const lost = 1 + Math.floor(rand() * Math.min(s.bytes.length - at, rand() < 0.5 ? 20 : 5000));
        steps.push({ dir: s.dir, bytes: s.bytes.subarray(0, at) }, { dir: s.dir, gap: lost }, { dir: s.dir, bytes: s.bytes.subarray(at + lost) });
      } else {
        steps.push(s);
      }
    }
    for (const ex of feedChecked(steps, rand, `case ${i}`)) {
      const t = truth.get(ex.ordinal!);
      assert.ok(t !== undefined, `case ${i}: stream ${ex.ordinal}`);
      const f = facts(ex);
      assert.equal(f.side, t.side, `case ${i}: side`);
      for (const k of ['method', 'url', 'status'] as const) if (f[k] !== undefined) assert.equal(f[k], t[k], `case ${i}: ${k}`);
      if (ex.error === undefined) {
        assert.deepStrictEqual({ ...f, method: t.method, url: t.url, status: t.status }, t, `case ${i}`);
        whole++;
      }
      reported++;
    }
  }
  assert.ok(whole > 0 && reported > whole, `${whole}/${reported}`);
});

test('random bytes, after a preface or not, with random cuts and gaps: no exception, bounded', () => {
  const rand = prng(0x5eed + SEED);
  const preface = new Conversation().steps;
  for (let i = 0; i < CASES; i++) {
    const steps: Step[] = rand() < 0.5 ? [...preface] : [];
    for (let p = 1 + Math.floor(rand() * 4); p > 0; p--) {
      const dir: Direction = rand() < 0.5 ? 'write' : 'read';
      if (rand() < 0.2) steps.push({ dir, gap: Math.floor(rand() * 3000) });
      steps.push({ dir, bytes: randomBytes(rand, Math.floor(rand() * 800)) });
    }
    feedChecked(steps, rand, `seed ${SEED} case ${i}`);
  }
});

test('mutated valid conversations with random gaps: no exception, bounded', () => {
  const rand = prng(0xfeed + SEED);
  for (let i = 0; i < CASES; i++) {
    const { conv } = randomConversation(rand);
    const steps: Step[] = [];
    for (const s of conv.steps as Array<{ dir: Direction; bytes: Buffer }>) {
      let b = s.bytes;
      if (rand() < 0.2) {
        b = Buffer.from(b);
        for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      }
      if (rand() < 0.1 && b.length > 2) {
        const at = Math.floor(rand() * b.length);
        const lost = 1 + Math.floor(rand() * (b.length - at));
        steps.push({ dir: s.dir, bytes: b.subarray(0, at) }, { dir: s.dir, gap: lost }, { dir: s.dir, bytes: b.subarray(at + lost) });
      } else {
        steps.push({ dir: s.dir, bytes: b });
      }
    }
    feedChecked(steps, rand, `case ${i}`);
  }
});

test('HPACK: random and mutated blocks never throw, in either mode', () => {
  const rand = prng(0xabc + SEED);
  const decoders = [new HpackDecoder({ fromStart: true }), new HpackDecoder({ fromStart: false })];
  const { conv } = randomConversation(rand);
  const sample = Buffer.concat((conv.steps as Array<{ bytes: Buffer }>).map((s) => s.bytes));
  for (let i = 0; i < CASES * 4; i++) {
    const b = rand() < 0.5 ? randomBytes(rand, Math.floor(rand() * 200)) : Buffer.from(sample.subarray(Math.floor(rand() * sample.length), Math.floor(rand() * sample.length) + 100));
    for (const d of decoders) {
      try {
        d.decode(b, 0, b.length);
      } catch (err) {
        assert.fail(`case ${i}: decoder threw ${String(err)} on ${b.toString('hex')}`);
      }
      assert.ok(d.entries <= 65536 / 32 + 1, `case ${i}: ${d.entries} entries`);
    }
  }
});
