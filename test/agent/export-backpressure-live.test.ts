// Backpressure from the export queue to the ring drain, against a real client over real TLS: while
// the sink's queue is three quarters full the agent leaves records in the ring (no span is built
// only to be dropped), and a process exit seen meanwhile waits for them; once the queue has
// room, the same records become the spans.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Agent } from '../../src/agent/agent';
import { EXPORT_DEFAULTS } from '../../src/export/config';
import type { SinkStats, SpanSink } from '../../src/export/types';
import { silentLogger } from '../../src/util/log';
import { makeCert, python, requireRoot, sleep, start, startHttpsServer, type Proc } from '../helpers/procs';

const QUEUE = 100;

class HeldSink implements SpanSink {
  readonly spans: ReadableSpan[] = [];
  /** What stats() says is waiting: the test decides. */
  queued = 0;
  export(span: ReadableSpan): void {
    this.spans.push(span);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  stats(): SinkStats {
    return { exported: this.spans.length, dropped: 0, discarded: 0, failed: 0, queued: this.queued, retries: 0 };
  }
}

let server: Proc & { port: number };

before(async () => {
  requireRoot();
  server = await startHttpsServer(makeCert());
});

after(async () => {
  await server?.stop();
});

const ofPid = (pid: number) => (s: ReadableSpan) => s.resource.attributes['process.pid'] === pid;

test('export queue 3/4 full: records wait in the ring; room again: they become the spans', async () => {
  // One client process, filtered in BPF, so that other TLS traffic on this host (which may fill
  // half the ring, and then rightly overrides the wait) stays out of this agent's ring.
  const client = start(python(), ['-c', [
    'import http.client, ssl, sys',
    'sys.stdin.readline()',
    `c = http.client.HTTPSConnection("127.0.0.1", ${server.port}, context=ssl._create_unverified_context())`,
    `c.request("GET", "/held-${process.pid}"); r = c.getresponse(); r.read(); print(r.status, flush=True)`,
  ].join('\n')], { stdio: ['pipe', 'pipe', 'pipe'] });
  const sink = new HeldSink();
  const agent = Agent.start({
    capture: { pid: client.pid },
    tracing: {
      export: { mode: 'otlp', ...EXPORT_DEFAULTS, maxQueueSize: QUEUE },
      redaction: { allowSensitive: false, redactUrls: true },
      stitch: true,
      statsIntervalMs: 60_000,
      verbose: false,
      sink,
    },
    log: silentLogger,
  });
  try {
    sink.queued = Math.ceil(QUEUE * 0.75);
    client.child.stdin!.write('go\n');
    assert.equal((await client.exited).code, 0, client.stderr());
    assert.equal(client.stdout(), '200\n');
    // Several timed polls (10–40 ms apart) and at least one /proc rescan (every second: the
    // client has exited) pass while the queue stays full: the exit must wait for its records too.
    await sleep(1500);
    assert.equal(sink.spans.filter(ofPid(client.pid)).length, 0, 'no span built while the queue is full');
    assert.ok(agent.captureStats().ringPendingBytes > 0, 'the records wait in the ring');
    sink.queued = 0;
    const t0 = Date.now();
    while (!sink.spans.some(ofPid(client.pid))) {
      if (Date.now() - t0 > 20_000) throw new Error('no span from the client after the queue had room again');
      await sleep(20);
    }
    const span = sink.spans.find(ofPid(client.pid))!;
    assert.equal(span.attributes['url.path'], `/held-${process.pid}`);
    assert.equal(span.attributes['http.response.status_code'], 200, 'the whole exchange, not one cut short by the exit');
  } finally {
    await agent.stop();
    await client.stop('SIGKILL');
  }
});
