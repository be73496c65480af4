// Conformance of our HTTP/1.x parser with llhttp, the parser inside Node.js, on llhttp's own
// test corpus (shared/conformance/llhttp, read at run time; a missing corpus fails the test).
//
// Which cases count, and why:
// - In scope: every case whose meta type is "request" or "response" (llhttp's strict mode) or
//   "request-finish"/"response-finish" (strict, followed by llhttp_finish()).
// - Out of scope, counted and printed but not run against llhttp's verdict:
//   * "*-lenient-*" types: they turn on one of llhttp's optional leniency flags, so their log is
//     not what strict llhttp does (they are still fed to our parser, which must not throw);
//   * cases with a "pause" meta (request/pausing.md, response/pausing.md): they test llhttp's
//     pause-from-a-callback API, and their logs repeat spans where the parser paused;
//   * request cases with "skipBody": they test llhttp's "return 1 from on_headers_complete"
//     API, which has no request-side equivalent here. The response one is in scope: skipping
//     the body is exactly what a response to HEAD does, so it runs with methodForResponse()
//     answering "HEAD";
//   * url.md: llhttp's URL-splitting parser, which we do not have (a request target is kept
//     as written).
// - For every in-scope case llhttp accepts (no error other than "Pause on CONNECT/Upgrade"),
//   our parser must find the same messages: count, method, URL, status code and reason,
//   version, header and trailer names and values (values trimmed of OWS), body byte count and
//   upgrade. It must report no error while fed. After the input, finish() is called: the
//   message llhttp was still in (if it had finished its headers) must come out of finish(),
//   either completed (a body delimited by the close) or as the partial of a 'truncated' error.
// - For every in-scope case llhttp rejects, our parser must not throw, and must find the
//   messages llhttp completed before the error; whether it then rejects too or carries on
//   (an observer may be more lenient than a server) is counted and printed.
// - Every case is also fed cut at every offset and byte by byte, with identical results.
// - EXCLUDED below lists in-scope cases we knowingly do not match, each with its reason.

import assert from 'node:assert/strict';
import test from 'node:test';

import type { HttpMessage } from '../../src/protocol/http1/index';
import { errorsOf, messagesOf, runEveryCut } from '../protocol/http1/harness';
import { findCorpusDir, loadCorpus, readLog } from './llhttp-corpus';
import { fieldPairs } from '../helpers/fields';
import type { CorpusCase, LoggedMessage } from './llhttp-corpus';

/** In-scope cases we do not match on purpose: "file|heading" → reason. Keep it short. */
const EXCLUDED = new Map<string, string>([]);

const STRICT_TYPES = new Set(['request', 'response', 'request-finish', 'response-finish']);

type Verdict = 'accepted' | 'rejected' | 'lenient-flag' | 'pause' | 'skip-body';

function classify(c: CorpusCase): Verdict {
  const type = c.meta.type ?? '';
  if (!STRICT_TYPES.has(type)) return 'lenient-flag';
  if (c.meta.pause !== undefined) return 'pause';
  if (c.meta.skipBody === true && type.startsWith('request')) return 'skip-body';
  return readLog(c).error === undefined ? 'accepted' : 'rejected';
}

/** The facts we compare, in one shape for llhttp's log and for our messages. */
interface Facts {
  method?: string;
  url?: string;
  statusCode?: number;
  reason?: string;
  version: string;
  headers: Array<[string, string]>;
  trailers: Array<[string, string]>;
  bodySize: number;
  upgrade: boolean;
}

function loggedFacts(m: LoggedMessage, isResponse: boolean): Facts {
  return isResponse
    ? { statusCode: m.statusCode, reason: m.reason, version: m.version ?? '?', headers: m.headers, trailers: m.trailers, bodySize: m.bodySize, upgrade: m.upgrade }
    : { method: m.method, url: m.url, version: m.version ?? '?', headers: m.headers, trailers: m.trailers, bodySize: m.bodySize, upgrade: m.upgrade };
}

function ourFacts(m: HttpMessage): Facts {
  const version = `${m.versionMajor}.${m.versionMinor}`;
  return m.kind === 'response'
    ? { statusCode: m.statusCode, reason: m.reason, version, headers: fieldPairs(m.headers), trailers: fieldPairs(m.trailers), bodySize: m.bodySize, upgrade: m.upgrade }
    : { method: m.method, url: m.url, version, headers: fieldPairs(m.headers), trailers: fieldPairs(m.trailers), bodySize: m.bodySize, upgrade: m.upgrade };
}

function show(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
}

/** Differences between what llhttp logged and what we found, one line each; empty if none. */
function checkCase(c: CorpusCase, verdict: 'accepted' | 'rejected'): string[] {
  const logged = readLog(c);
  const isResponse = (c.meta.type ?? '').startsWith('response');
  const requestMethod = c.meta.skipBody === true ? 'HEAD' : undefined;
  const ours = runEveryCut(c.input, { requestMethod }); // throws if cutting changes anything
  const problems: string[] = [];
  const found = messagesOf(ours.events).map(ourFacts);
  const completed = logged.messages.filter((m) => m.complete).map((m) => loggedFacts(m, isResponse));

  if (verdict === 'rejected') {
    const prefix = found.slice(0, completed.length);
    try {
      assert.deepStrictEqual(prefix, completed);
    } catch {
      problems.push(`messages llhttp completed before rejecting: expected ${show(completed)}, found ${show(prefix)}`);
    }
    return problems;
  }

  const errors = errorsOf(ours.events);
  if (errors.length > 0) problems.push(`errors while parsing: ${show(errors)}`);
  try {
    assert.deepStrictEqual(found, completed);
  } catch {
    problems.push(`messages: expected ${show(completed)}, found ${show(found)}`);
  }

  // The message llhttp was still in when the input ended, if any.
  const last = logged.messages[logged.messages.length - 1];
  const trailing = last !== undefined && !last.complete ? last : undefined;
  const fin = ours.atFinish;
  const finMessages = messagesOf(fin);
  const finErrors = errorsOf(fin);
  if (trailing === undefined) {
    if (fin.length > 0) problems.push(`finish() reported ${show(fin)}, expected nothing`);
  } else if (!trailing.headersComplete) {
    if (finMessages.length > 0 || finErrors.length !== 1 || finErrors[0].reason !== 'truncated') {
      problems.push(`finish() inside a start line or header block: expected one 'truncated' error, got ${show(fin)}`);
    }
  } else {
    const expected = loggedFacts(trailing, isResponse);
    const got = finMessages.length === 1 && finErrors.length === 0
      ? finMessages[0]
      : finErrors.length === 1 && finMessages.length === 0 && finErrors[0].reason === 'truncated' ? finErrors[0].partial : undefined;
    if (got === undefined) {
      problems.push(`finish(): expected the message in progress ${show(expected)}, got ${show(fin)}`);
    } else {
      try {
        assert.deepStrictEqual(ourFacts(got), expected);
      } catch {
        problems.push(`message in progress at the end: expected ${show(expected)}, found ${show(ourFacts(got))}`);
      }
    }
  }
  if (logged.finish === 0 && fin.length > 0) problems.push(`llhttp_finish() was safe, we reported ${show(fin)}`);
  if (logged.finish === 1 && finMessages.length !== 1) problems.push(`llhttp_finish() completed a message, we reported ${show(fin)}`);
  if (logged.finish === 2 && !finErrors.some((e) => e.reason === 'truncated')) problems.push(`llhttp_finish() was unsafe, we reported ${show(fin)}`);
  return problems;
}

test('llhttp corpus: our parser finds the messages llhttp finds', () => {
  const dir = findCorpusDir(__dirname);
  assert.ok(dir !== undefined, `llhttp corpus not found: no shared/conformance/llhttp above ${__dirname} (set TLSOTEL_LLHTTP_CORPUS to its path)`);
  const cases = loadCorpus(dir);
  assert.ok(cases.length > 100, `only ${cases.length} cases read from ${dir}`);

  const counts = new Map<Verdict, number>();
  let matched = 0;
  let rejectedByUs = 0;
  const failures: string[] = [];
  const excluded: string[] = [];
  for (const c of cases) {
    const where = `${c.file}:${c.line} "${c.name}"`;
    const verdict = classify(c);
    counts.set(verdict, (counts.get(verdict) ?? 0) + 1);
    const exclusion = EXCLUDED.get(`${c.file}|${c.name}`);
    if (exclusion !== undefined) {
      excluded.push(`${where}: ${exclusion}`);
      continue;
    }
    if (verdict !== 'accepted' && verdict !== 'rejected') {
      runEveryCut(c.input); // out of scope for llhttp's verdict, but must not throw
      continue;
    }
    let problems: string[];
    try {
      problems = checkCase(c, verdict);
    } catch (err) {
      problems = [`threw: ${err instanceof Error ? err.message : String(err)}`];
    }
    if (problems.length > 0) {
      failures.push(`${where} (llhttp ${verdict}):\n    ${problems.join('\n    ')}`);
    } else if (verdict === 'accepted') {
      matched++;
    } else {
      const ours = runEveryCut(c.input);
      if (errorsOf([...ours.events, ...ours.atFinish]).length > 0) rejectedByUs++;
    }
  }

  const accepted = counts.get('accepted') ?? 0;
  const rejected = counts.get('rejected') ?? 0;
  console.log(`llhttp corpus at ${dir}: ${cases.length} cases`);
  console.log(`${matched} of ${accepted} accepted cases match`);
  console.log(`${rejected} cases llhttp rejects: we reject ${rejectedByUs}, accept ${rejected - rejectedByUs} leniently`);
  console.log(`out of scope: ${counts.get('lenient-flag') ?? 0} lenient-flag, ${counts.get('pause') ?? 0} pausing, ${counts.get('skip-body') ?? 0} request skipBody cases (url.md not read)`);
  console.log(`excluded: ${excluded.length === 0 ? 'none' : `\n  ${excluded.join('\n  ')}`}`);
  assert.ok(accepted > 80, `only ${accepted} accepted strict cases found`);
  assert.equal(failures.length, 0, `${failures.length} corpus cases differ from llhttp:\n${failures.join('\n')}`);
});
