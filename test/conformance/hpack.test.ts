// Conformance of our HPACK decoder with real encoders, on the hpack-test-case corpus
// (shared/conformance/hpack, read at run time; README there; a missing corpus fails the test).
//
// 1. Every story decoded from its first case: every header of every case right, in order.
// 2. Every story decoded again starting at later cases, the earlier ones unseen (an agent that
//    joined the connection late): no header may ever be wrong; a header may be unknown. The
//    fraction of headers recovered is printed per encoder.
// Header values are octets: the corpus writes them as JSON strings of UTF-8, we decode them as
// latin1 (byte for byte), so expected values are compared as the bytes of their UTF-8.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { DecodeResult, HpackDecoder } from '../../src/protocol/http2/hpack-decoder';

const CORPUS_SUBDIR = path.join('shared', 'conformance', 'hpack');

function findCorpusDir(from: string): string | undefined {
  const override = process.env.TLSOTEL_HPACK_CORPUS;
  if (override !== undefined && override !== '') return override;
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, CORPUS_SUBDIR);
    if (fs.existsSync(path.join(candidate, 'README.md'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

interface Case {
  seqno: number;
  header_table_size?: number;
  wire: string;
  headers: Array<Record<string, string>>;
}
interface Story {
  encoder: string;
  file: string;
  cases: Case[];
}

function loadStories(dir: string): Story[] {
  const stories: Story[] = [];
  for (const encoder of fs.readdirSync(dir).sort()) {
    const sub = path.join(dir, encoder);
    if (encoder === 'raw-data' || !fs.statSync(sub).isDirectory()) continue;
    for (const file of fs.readdirSync(sub).filter((f) => f.endsWith('.json')).sort()) {
      const json = JSON.parse(fs.readFileSync(path.join(sub, file), 'utf8')) as { cases: Case[] };
      stories.push({ encoder, file, cases: json.cases });
    }
  }
  return stories;
}

const octets = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

function expectedFields(c: Case): Array<[string, string]> {
  return c.headers.map((h) => {
    const [name, value] = Object.entries(h)[0];
    return [octets(name), octets(value)];
  });
}

/** The corpus's stories; fails (never skips) when the corpus is missing. */
function corpusStories(): Story[] {
  const dir = findCorpusDir(__dirname);
  assert.ok(dir !== undefined, `HPACK corpus not found: put it at ../${CORPUS_SUBDIR} beside the checkout, or set TLSOTEL_HPACK_CORPUS`);
  const stories = loadStories(dir);
  assert.ok(stories.length >= 100, `the HPACK corpus at ${dir} has only ${stories.length} stories`);
  return stories;
}

test('every story, decoded from its first case: every header right', () => {
  const stories = corpusStories();
  let blocks = 0;
  for (const story of stories) {
    const decoder = new HpackDecoder({ fromStart: true });
    story.cases.forEach((c, k) => {
      const wire = Buffer.from(c.wire, 'hex');
      const tag = `${story.encoder}/${story.file} case ${k}`;
      assert.equal(decoder.decode(wire, 0, wire.length), DecodeResult.Ok, tag);
      const got: Array<[string | undefined, string | undefined]> = [];
      for (let i = 0; i < decoder.count; i++) got.push([decoder.names[i], decoder.values[i]]);
      assert.deepStrictEqual(got, expectedFields(c), tag);
      blocks++;
    });
  }
  console.log(`${stories.length} stories, ${blocks} header blocks decoded from the start, every header right`);
});

test('every story joined late: no header ever wrong, and the fraction recovered', () => {
  const stories = corpusStories();
  const perEncoder = new Map<string, { headers: number; known: number }>();
  for (const story of stories) {
    const n = story.cases.length;
    // Start points: every case for short stories, about 12 spread over long ones.
    const stride = Math.max(1, Math.floor(n / 12));
    const stats = perEncoder.get(story.encoder) ?? { headers: 0, known: 0 };
    perEncoder.set(story.encoder, stats);
    for (let start = 1; start < n; start += stride) {
      const decoder = new HpackDecoder({ fromStart: false });
      for (let k = start; k < n; k++) {
        const c = story.cases[k];
        const wire = Buffer.from(c.wire, 'hex');
        const tag = `${story.encoder}/${story.file} joined at case ${start}, case ${k}`;
        assert.equal(decoder.decode(wire, 0, wire.length), DecodeResult.Ok, tag);
        const want = expectedFields(c);
        assert.equal(decoder.count, want.length, `${tag}: field count`);
        for (let i = 0; i < want.length; i++) {
          const name = decoder.names[i];
          stats.headers++;
          if (name === undefined) {
            assert.equal(decoder.values[i], undefined, `${tag}: field ${i}: a value without a name`);
            continue;
          }
          stats.known++;
          assert.deepStrictEqual([name, decoder.values[i]], want[i], `${tag}: field ${i} is WRONG`);
        }
      }
    }
  }
  let all = 0;
  let known = 0;
  for (const [encoder, s] of perEncoder) {
    console.log(`joined late, ${encoder}: ${s.known}/${s.headers} headers recovered (${((100 * s.known) / s.headers).toFixed(1)}%)`);
    all += s.headers;
    known += s.known;
  }
  console.log(`joined late, all encoders: ${known}/${all} headers recovered (${((100 * known) / all).toFixed(1)}%), none wrong`);
  assert.ok(all > 0);
});
