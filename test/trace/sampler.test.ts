// SpanSampler with TraceLinker, as the pipeline uses them: one decision per trace, so that the
// CLIENT and SERVER spans of a stitched exchange are kept or dropped together, whichever side is
// built first; traceparent's sampled flag under parentbased_*; --keep-errors / --keep-slower-than.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TraceLinker } from '../../src/trace/linker';
import { SpanSampler, traceIdKept, type SamplingConfig } from '../../src/trace/sampler';
import { SpanBuilder } from '../../src/trace/span-builder';
import type { ConnectionAddresses, Exchange } from '../../src/exchange/types';
import { CURL, NGINX, exchange, request, response } from './fixtures';
import { prng } from '../helpers/prng';

interface Outcome {
  client: boolean;
  server: boolean;
  clientTrace?: string;
  serverTrace?: string;
}

/** `n` exchanges over `conns` keep-alive connections, both ends on this host; each pair's sides
 *  built in a random order, as the pipeline does (linker → sampler → builder). */
function runPairs(config: SamplingConfig, n: number, opts: { status?: (i: number) => number; ns?: (i: number, side: 'client' | 'server') => bigint; tp?: (i: number) => string | undefined; seed?: number } = {}): { outcomes: Outcome[]; sampler: SpanSampler } {
  const linker = new TraceLinker();
  const sampler = new SpanSampler(config);
  const builder = new SpanBuilder();
  const rng = prng(opts.seed ?? 7);
  const conns = 20;
  for (let c = 0; c < conns; c++) {
    const ca: ConnectionAddresses = { localAddress: '127.0.0.1', localPort: 40000 + c, remoteAddress: '127.0.0.1', remotePort: 8443, family: 'ipv4' };
    const sa: ConnectionAddresses = { localAddress: '127.0.0.1', localPort: 8443, remoteAddress: '127.0.0.1', remotePort: 40000 + c, family: 'ipv4' };
    linker.connectionKnown(`c${c}`, ca);
    linker.connectionKnown(`s${c}`, sa);
  }
  const outcomes: Outcome[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % conns;
    const ordinal = Math.floor(i / conns) + 1;
    const status = opts.status?.(i) ?? 200;
    const tp = opts.tp?.(i);
    const headers: Array<[string, string]> = tp !== undefined ? [['traceparent', tp]] : [];
    const mk = (side: 'client' | 'server'): Exchange => {
      const endNs = opts.ns?.(i, side) ?? 10_000_000n;
      return exchange({
        side,
        process: side === 'client' ? CURL : NGINX,
        connectionId: side === 'client' ? `c${c}` : `s${c}`,
        addresses: side === 'client'
          ? { localAddress: '127.0.0.1', localPort: 40000 + c, remoteAddress: '127.0.0.1', remotePort: 8443, family: 'ipv4' }
          : { localAddress: '127.0.0.1', localPort: 8443, remoteAddress: '127.0.0.1', remotePort: 40000 + c, family: 'ipv4' },
        ordinal,
        request: request('GET', `/r/${i}`, headers),
        response: response(status),
        startNs: 0n,
        endNs,
      });
    };
    const out: Outcome = { client: false, server: false };
    const order: Array<'client' | 'server'> = rng() < 0.5 ? ['client', 'server'] : ['server', 'client'];
    for (const side of order) {
      const ex = mk(side);
      const options = linker.optionsFor(ex);
      if (!sampler.keep(ex, options)) continue;
      const span = builder.build(ex, options);
      out[side] = true;
      if (side === 'client') out.clientTrace = span.spanContext().traceId;
      else out.serverTrace = span.spanContext().traceId;
    }
    outcomes.push(out);
  }
  return { outcomes, sampler };
}

test('traceidratio 0.1 over 2,000 stitched exchanges: ~10% kept, never one side without the other', () => {
  const { outcomes, sampler } = runPairs({ sampler: 'traceidratio', ratio: 0.1, keepErrors: false }, 2000);
  const kept = outcomes.filter((o) => o.client && o.server).length;
  const sigma = Math.sqrt(2000 * 0.1 * 0.9);
  assert.ok(Math.abs(kept - 200) < 4 * sigma, `kept ${kept} of 2000 (expected 200 ± ${Math.round(4 * sigma)})`);
  for (const o of outcomes) {
    assert.equal(o.client, o.server, 'CLIENT and SERVER kept or dropped together');
    if (o.client) assert.equal(o.clientTrace, o.serverTrace, 'one trace');
  }
  const s = sampler.stats();
  assert.equal(s.kept, kept * 2);
  assert.equal(s.sampledOut, 4000 - kept * 2);
});

test('--keep-errors: every 5xx exchange is kept, on both sides, whatever the ratio', () => {
  const { outcomes, sampler } = runPairs({ sampler: 'traceidratio', ratio: 0.1, keepErrors: true }, 2000, { status: (i) => (i % 10 === 3 ? 503 : i % 10 === 4 ? 404 : 200) });
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i];
    assert.equal(o.client, o.server);
    if (i % 10 === 3) assert.ok(o.client, `5xx exchange ${i} kept`);
  }
  const others = outcomes.filter((_, i) => i % 10 !== 3 && outcomes[i].client).length;
  const sigma = Math.sqrt(1800 * 0.1 * 0.9);
  assert.ok(Math.abs(others - 180) < 4 * sigma, `the rest still sampled at 10%: ${others} of 1800 (404s are not kept for being errors)`);
  assert.ok(sampler.stats().keptForError >= 150);
});

test('--keep-slower-than: a pair both sides see slow is kept; a pair only the second side sees slow follows the first', () => {
  const slowBoth = runPairs({ sampler: 'always_off', ratio: 1, keepErrors: false, keepSlowerThanMs: 100 }, 200, {
    ns: (i) => (i % 2 === 0 ? 150_000_000n : 5_000_000n),
  });
  slowBoth.outcomes.forEach((o, i) => {
    assert.equal(o.client, o.server);
    assert.equal(o.client, i % 2 === 0, `exchange ${i}`);
  });
  // Only the client (its duration includes the network) crosses the threshold: whatever the
  // order, both sides end with the same decision.
  const clientOnly = runPairs({ sampler: 'always_off', ratio: 1, keepErrors: false, keepSlowerThanMs: 100 }, 400, {
    ns: (_i, side) => (side === 'client' ? 120_000_000n : 90_000_000n),
  });
  for (const o of clientOnly.outcomes) assert.equal(o.client, o.server);
  assert.ok(clientOnly.outcomes.some((o) => o.client) && clientOnly.outcomes.some((o) => !o.client), 'kept when the client was built first, dropped otherwise');
});

test('parentbased_*: the sampled flag of traceparent decides, for both sides alike', () => {
  const tp = (i: number) => `00-${(0xabc000 + i).toString(16).padStart(32, '0')}-${'b7ad6b7169203331'}-${i % 2 === 0 ? '01' : '00'}`;
  for (const sampler of ['parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const) {
    const { outcomes } = runPairs({ sampler, ratio: 0, keepErrors: false }, 100, { tp });
    outcomes.forEach((o, i) => {
      assert.equal(o.client, i % 2 === 0, `${sampler}: client of ${i}`);
      assert.equal(o.server, i % 2 === 0, `${sampler}: server of ${i}`);
    });
  }
  // Without a parent: the root sampler.
  assert.ok(runPairs({ sampler: 'parentbased_always_on', ratio: 1, keepErrors: false }, 50).outcomes.every((o) => o.client && o.server));
  assert.ok(runPairs({ sampler: 'parentbased_always_off', ratio: 1, keepErrors: false }, 50).outcomes.every((o) => !o.client && !o.server));
});

test('always_on and always_off', () => {
  assert.ok(runPairs({ sampler: 'always_on', ratio: 0, keepErrors: false }, 100).outcomes.every((o) => o.client && o.server));
  const off = runPairs({ sampler: 'always_off', ratio: 1, keepErrors: false }, 100);
  assert.ok(off.outcomes.every((o) => !o.client && !o.server));
  assert.equal(off.sampler.stats().sampledOut, 200);
});

test('traceIdKept: the trace id alone decides, monotonic in the ratio', () => {
  const low = '0af7651916cd43dd' + '00' + '00000000000001';
  const high = '0af7651916cd43dd' + '00' + 'ffffffffffffff';
  assert.equal(traceIdKept(low, 0.001), true);
  assert.equal(traceIdKept(high, 0.999), false);
  assert.equal(traceIdKept(high, 1), true);
  assert.equal(traceIdKept(low, 0), false);
  const mid = '0af7651916cd43dd' + '00' + '80000000000000';
  assert.equal(traceIdKept(mid, 0.49), false);
  assert.equal(traceIdKept(mid, 0.51), true);
});
