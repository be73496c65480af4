// Shared helpers for the HTTP/1.x parser tests: feed a stream in given pieces, record what the
// parser reported, and check that the result does not depend on where the pieces were cut.

import assert from 'node:assert/strict';

import { Http1Parser } from '../../../src/protocol/http1/index';
import type { HttpMessage, ParseError } from '../../../src/protocol/http1/index';

/** What the parser reported, in order. */
export type ParserEvent = { message: HttpMessage } | { error: ParseError };

/** One step of a captured stream: bytes, a capture gap of `gap` bytes, or `skip` bytes counted
 *  instead of captured (body skipping: refused skips become gaps, as the session does). */
export type Step = Buffer | { gap: number } | { skip: number };

export interface RunOptions {
  maxHeaderBytes?: number;
  /** Answer for Http1ParserCallbacks.methodForResponse. */
  requestMethod?: string;
  /** Call finish() after the last step (default true). */
  finish?: boolean;
  /** tsNs for step i; default: every step at 1n, so cutting a stream differently changes nothing. */
  tsOf?: (step: number) => bigint;
}

export interface RunResult {
  /** Everything reported while the steps were fed. */
  events: ParserEvent[];
  /** Reported by finish(). */
  atFinish: ParserEvent[];
  /** Largest parser.bufferedBytes seen after any step. */
  maxBuffered: number;
  /** Skip steps the parser refused (fed as gaps then). */
  refusedSkips: number;
}

export function run(steps: Step[], options: RunOptions = {}): RunResult {
  const events: ParserEvent[] = [];
  const parser = new Http1Parser(
    {
      onMessage: (message) => events.push({ message }),
      onError: (error) => events.push({ error }),
      methodForResponse: options.requestMethod === undefined ? undefined : () => options.requestMethod,
    },
    { maxHeaderBytes: options.maxHeaderBytes },
  );
  const tsOf = options.tsOf ?? (() => 1n);
  let maxBuffered = 0;
  let refusedSkips = 0;
  steps.forEach((step, i) => {
    if (Buffer.isBuffer(step)) parser.execute(step, tsOf(i));
    else if ('skip' in step) {
      if (!parser.skip(step.skip, tsOf(i))) {
        refusedSkips++;
        parser.gap(step.skip, tsOf(i));
      }
    } else parser.gap(step.gap, tsOf(i));
    maxBuffered = Math.max(maxBuffered, parser.bufferedBytes);
  });
  const fed = events.length;
  if (options.finish !== false) parser.finish(tsOf(steps.length));
  return { events: events.slice(0, fed), atFinish: events.slice(fed), maxBuffered, refusedSkips };
}

/** The input whole, cut in two at every offset, and byte by byte. */
export function cuts(input: Buffer): Buffer[][] {
  const all: Buffer[][] = [[input]];
  for (let i = 1; i < input.length; i++) all.push([input.subarray(0, i), input.subarray(i)]);
  const bytes: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  if (input.length > 1) all.push(bytes);
  return all;
}

/**
 * Parses `input` whole, cut at every offset and byte by byte; asserts every way gives the same
 * events (timestamps included: all steps share one tsNs) and returns the whole-input result.
 */
export function runEveryCut(input: Buffer, options: RunOptions = {}): RunResult {
  const [whole, ...others] = cuts(input);
  const expected = run(whole, options);
  for (const pieces of others) {
    const got = run(pieces, options);
    const where = pieces.length === 2 ? `cut at ${pieces[0].length}` : 'byte by byte';
    assert.deepStrictEqual(got.events, expected.events, `events differ when fed ${where}`);
    assert.deepStrictEqual(got.atFinish, expected.atFinish, `finish() differs when fed ${where}`);
  }
  return expected;
}

/**
 * Like runEveryCut for a stream with gaps: each byte step is in turn cut at every offset and
 * fed byte by byte (the other steps whole); all must give the same events as the steps as given.
 */
export function runStepsEveryCut(steps: Step[], options: RunOptions = {}): RunResult {
  const expected = run(steps, options);
  steps.forEach((step, index) => {
    if (!Buffer.isBuffer(step)) return;
    for (const pieces of cuts(step).slice(1)) {
      const variant = [...steps.slice(0, index), ...pieces, ...steps.slice(index + 1)];
      const got = run(variant, options);
      const where = pieces.length === 2 ? `cut at ${pieces[0].length}` : 'byte by byte';
      assert.deepStrictEqual(got.events, expected.events, `events differ when step ${index} is fed ${where}`);
      assert.deepStrictEqual(got.atFinish, expected.atFinish, `finish() differs when step ${index} is fed ${where}`);
    }
  });
  return expected;
}

export function messagesOf(events: ParserEvent[]): HttpMessage[] {
  return events.flatMap((e) => ('message' in e ? [e.message] : []));
}

export function errorsOf(events: ParserEvent[]): ParseError[] {
  return events.flatMap((e) => ('error' in e ? [e.error] : []));
}

/** CRLF line endings for readable test literals: lines joined with \r\n. */
export function crlf(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'latin1');
}
