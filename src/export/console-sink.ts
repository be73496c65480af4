// Console printing: one readable line per span on stdout, for a first look without a collector.
//   2026-11-25T14:00:00.123Z CLIENT curl[1234] GET /users/{id} -> 200 12.3ms https://host/users/42?token=REDACTED
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind, type AttributeValue } from '@opentelemetry/api';
import { silentLogger, type Logger, type SinkStats, type SpanSink } from './types';

export interface ConsoleSinkOptions {
  /** Where lines go; default process.stdout. */
  stream?: NodeJS.WritableStream;
  logger?: Logger;
}

function str(v: AttributeValue | undefined): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function kindName(kind: SpanKind): string {
  switch (kind) {
    case SpanKind.CLIENT: return 'CLIENT';
    case SpanKind.SERVER: return 'SERVER';
    case SpanKind.PRODUCER: return 'PRODUCER';
    case SpanKind.CONSUMER: return 'CONSUMER';
    default: return 'INTERNAL';
  }
}

/** The line printed for a span (no trailing newline). */
export function formatSpanLine(span: ReadableSpan): string {
  const a = span.attributes;
  const r = span.resource.attributes;
  const startMs = span.startTime[0] * 1000 + Math.floor(span.startTime[1] / 1e6);
  const when = new Date(startMs).toISOString();
  const who = `${str(r['service.name']) ?? '?'}[${str(r['process.pid']) ?? '?'}]`;
  const status = str(a['http.response.status_code']) ?? `ERR ${str(a['error.type']) ?? 'unknown'}`;
  const ms = (span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(1);
  let url = str(a['url.full']);
  if (url === undefined) {
    const path = str(a['url.path']) ?? '';
    const query = str(a['url.query']);
    const host = str(a['server.address']);
    const port = str(a['server.port']);
    const scheme = str(a['url.scheme']) ?? 'https';
    const defaultPort = scheme === 'http' ? '80' : '443';
    const origin = host !== undefined ? `${scheme}://${host.includes(':') ? `[${host}]` : host}${port !== undefined && port !== defaultPort ? ':' + port : ''}` : '';
    url = `${origin}${path}${query !== undefined ? '?' + query : ''}`;
  }
  let line = `${when} ${kindName(span.kind)} ${who} ${span.name} -> ${status} ${ms}ms ${url}`;
  const peer = str(a['client.address']);
  if (span.kind === SpanKind.SERVER && peer !== undefined) line += ` from ${peer}`;
  return line;
}

export class ConsoleSpanSink implements SpanSink {
  private readonly stream: NodeJS.WritableStream;
  private readonly logger: Logger;
  private exported = 0;
  private dropped = 0;
  private failed = 0;
  private stopped = false;
  private broken = false;

  constructor(options: ConsoleSinkOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.logger = options.logger ?? silentLogger;
    // EPIPE and friends arrive as 'error' events; unhandled they would end the process.
    this.stream.on('error', (err: Error) => {
      if (!this.broken) this.logger.warn(`cannot print spans: ${err.message}`);
      this.broken = true;
    });
  }

  export(span: ReadableSpan): void {
    if (this.stopped) {
      this.dropped++;
      return;
    }
    if (this.broken) {
      this.failed++;
      return;
    }
    try {
      this.stream.write(formatSpanLine(span) + '\n');
      this.exported++;
    } catch (err) {
      this.failed++;
      if (!this.broken) this.logger.warn(`cannot print spans: ${err instanceof Error ? err.message : String(err)}`);
      this.broken = true;
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  stats(): SinkStats {
    return { exported: this.exported, dropped: this.dropped, discarded: 0, failed: this.failed, queued: 0, retries: 0 };
  }
}

/** Discards spans (OTEL_TRACES_EXPORTER=none): capture cost without export cost. What it
 *  discards is asked for, so it is counted as `discarded`, not as a loss. */
export class NullSpanSink implements SpanSink {
  private count = 0;
  export(): void {
    this.count++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  stats(): SinkStats {
    return { exported: 0, dropped: 0, discarded: this.count, failed: 0, queued: 0, retries: 0 };
  }
}
