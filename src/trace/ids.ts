// Random W3C trace and span ids. One crypto.randomFillSync call fills a pool that serves many
// ids: a syscall-backed call per span would cost more than building the span itself.
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 8192;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

function take(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL_SIZE) {
      randomFillSync(pool);
      offset = 0;
    }
    const start = offset;
    offset += bytes;
    // All-zero ids are invalid (W3C trace context): draw again.
    for (let i = start; i < start + bytes; i++) {
      if (pool[i] !== 0) return pool.toString('hex', start, start + bytes);
    }
  }
}

/** 32 lower-case hex characters, never all zero. */
export function newTraceId(): string {
  return take(16);
}

/** 16 lower-case hex characters, never all zero. */
export function newSpanId(): string {
  return take(8);
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

export function isValidTraceId(id: string): boolean {
  return TRACE_ID.test(id) && id !== '00000000000000000000000000000000';
}

export function isValidSpanId(id: string): boolean {
  return SPAN_ID.test(id) && id !== '0000000000000000';
}
