// The sniff printer: readable frames (type, stream, flags, length, what the frame says) and
// decoded header fields, fed per direction in capture order; unknown fields shown as unknown.

import assert from 'node:assert/strict';
import test from 'node:test';

import { Http2FramePrinter } from '../../src/protocol/http2/index';
import { Conversation } from './http2-harness';

const req = (path: string): string[] => [':method', 'GET', ':scheme', 'https', ':path', path, ':authority', 'example.com'];

function print(c: Conversation, printer = new Http2FramePrinter()): string[] {
  const lines: string[] = [];
  for (const s of c.steps) lines.push(...('gap' in s ? printer.gap(s.dir, s.gap) : printer.data(s.dir, s.bytes)));
  return lines;
}

test('frames and decoded headers, one line each', () => {
  const c = new Conversation();
  c.headers('write', 1, [...req('/hello'), 'user-agent', 'sniff'], { endStream: true, fragment: 10 })
    .headers('read', 1, [':status', '200', 'content-type', 'text/plain'])
    .data('read', 1, 5, { endStream: true, pad: 2 })
    .rst('write', 3, 8)
    .goAway('read', 1, 0)
    .windowUpdate('read', 0)
    .ping('write');
  const lines = print(c);
  assert.deepStrictEqual(lines.slice(0, 3), [
    'write PREFACE',
    'write SETTINGS stream=0 flags=- length=12 MAX_CONCURRENT_STREAMS=100 INITIAL_WINDOW_SIZE=65535',
    'read SETTINGS stream=0 flags=- length=6 MAX_CONCURRENT_STREAMS=128',
  ]);
  assert.match(lines[3], /^write HEADERS stream=1 flags=END_STREAM length=10$/);
  const block = lines.indexOf('    :method: GET');
  assert.ok(block > 3 && /^write CONTINUATION stream=1 flags=END_HEADERS /.test(lines[block - 1]), lines.join('\n'));
  assert.deepStrictEqual(lines.slice(block, block + 5), ['    :method: GET', '    :scheme: https', '    :path: /hello', '    :authority: example.com', '    user-agent: sniff']);
  assert.ok(lines.includes('read HEADERS stream=1 flags=END_HEADERS length=' + lines.find((l) => l.startsWith('read HEADERS'))!.split('length=')[1]));
  assert.ok(lines.includes('    :status: 200') && lines.includes('    content-type: text/plain'));
  assert.ok(lines.includes('read DATA stream=1 flags=END_STREAM|PADDED length=8 data=5'));
  assert.ok(lines.includes('write RST_STREAM stream=3 flags=- length=4 error=CANCEL'));
  assert.ok(lines.includes('read GOAWAY stream=0 flags=- length=8 last-stream=1 error=NO_ERROR'));
  assert.ok(lines.includes('read WINDOW_UPDATE stream=0 flags=- length=4 increment=4096'));
  assert.ok(lines.includes('write PING stream=0 flags=- length=8 opaque=0707070707070707'));
});

test('joined mid-way and across gaps: unknown fields are shown as unknown, never guessed', () => {
  const c = new Conversation({ huffman: false });
  c.headers('write', 1, [...req('/a'), 'x-token', 'secret-1'], { endStream: true });
  const skip = c.steps.length;
  c.headers('write', 3, [...req('/b'), 'x-token', 'secret-1'], { endStream: true });
  const mid = new Conversation({ preface: false });
  mid.steps.push(...c.steps.slice(skip));
  const lines = print(mid);
  assert.ok(lines.includes('    :path: /b'), lines.join('\n'));
  assert.equal(lines.filter((l) => l.includes('unknown field')).length, 2); // :authority and x-token
  assert.ok(!lines.some((l) => l.includes('secret-1')));
  const gapLines = new Http2FramePrinter().gap('read', 10);
  assert.deepStrictEqual(gapLines, ['read -- 10 bytes not captured', 'read -- framing lost (capture gap); resyncing']);
});
