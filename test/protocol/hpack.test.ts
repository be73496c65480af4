// HPACK: the static table, Huffman coding, the RFC 7541 examples, and the decoder's promise when
// joined mid-way (every field either right or unknown), checked against our encoder on random
// header lists with small tables, evictions and size updates.

import assert from 'node:assert/strict';
import test from 'node:test';

import { DecodeResult, HpackDecoder } from '../../src/protocol/http2/hpack-decoder';
import { HpackEncoder } from '../../src/protocol/http2/hpack-encoder';
import { huffmanDecode, huffmanDecodedBound, huffmanEncode } from '../../src/protocol/http2/huffman';
import { STATIC_COUNT, STATIC_NAMES, STATIC_VALUES } from '../../src/protocol/http2/static-table';
import { prng } from '../helpers/prng';

function decodeAll(d: HpackDecoder, hex: string): Array<[string | undefined, string | undefined]> | 'invalid' {
  const b = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  if (d.decode(b, 0, b.length) === DecodeResult.Invalid) return 'invalid';
  const out: Array<[string | undefined, string | undefined]> = [];
  for (let i = 0; i < d.count; i++) out.push([d.names[i], d.values[i]]);
  return out;
}

function huff(bytes: Buffer): string | undefined {
  const out = Buffer.alloc(huffmanDecodedBound(bytes.length));
  const n = huffmanDecode(bytes, 0, bytes.length, out);
  return n < 0 ? undefined : out.subarray(0, n).toString('latin1');
}

test('static table: 61 entries, RFC 7541 Appendix A', () => {
  assert.equal(STATIC_NAMES.length, STATIC_COUNT + 1);
  assert.equal(STATIC_VALUES.length, STATIC_COUNT + 1);
  assert.deepStrictEqual([STATIC_NAMES[1], STATIC_NAMES[2], STATIC_VALUES[2], STATIC_VALUES[8], STATIC_VALUES[16], STATIC_NAMES[61]],
    [':authority', ':method', 'GET', '200', 'gzip, deflate', 'www-authenticate']);
  assert.deepStrictEqual([STATIC_NAMES[31], STATIC_NAMES[55], STATIC_NAMES[58]], ['content-type', 'set-cookie', 'user-agent']);
});

test('Huffman: the RFC 7541 C.4 strings, every byte value, and invalid codings', () => {
  const rfc: Array<[string, string]> = [
    ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
    ['no-cache', 'a8eb10649cbf'],
    ['custom-key', '25a849e95ba97d7f'],
    ['custom-value', '25a849e95bb8e8b4bf'],
    ['302', '6402'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07abe941054d444a8200595040b8166e082a62d1bff'],
  ];
  for (const [text, hex] of rfc) {
    assert.equal(huffmanEncode(text).toString('hex'), hex, text);
    assert.equal(huff(Buffer.from(hex, 'hex')), text, text);
  }
  const every = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  assert.equal(huff(huffmanEncode(every)), every);
  assert.equal(huff(Buffer.alloc(0)), '');
  // EOS (30 ones) inside a string; padding of 8 bits or more; padding that is not all ones.
  assert.equal(huff(Buffer.from('ffffffff', 'hex')), undefined);
  assert.equal(huff(Buffer.from('a8eb10649cbfff', 'hex')), undefined);
  assert.equal(huff(Buffer.from('a8eb10649cbe', 'hex')), undefined);
  const rand = prng(11);
  for (let i = 0; i < 2000; i++) {
    const s = String.fromCharCode(...Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
    assert.equal(huff(huffmanEncode(s)), s);
  }
});

test('RFC 7541 C.3 and C.4: requests with and without Huffman, table carried across blocks', () => {
  for (const blocks of [
    ['828684410f7777772e6578616d706c652e636f6d', '828684be58086e6f2d6361636865', '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565'],
    ['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf', '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf'],
  ]) {
    const d = new HpackDecoder({ fromStart: true });
    assert.deepStrictEqual(decodeAll(d, blocks[0]), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]);
    assert.deepStrictEqual(decodeAll(d, blocks[1]), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]);
    assert.deepStrictEqual(decodeAll(d, blocks[2]), [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]);
    assert.equal(d.entries, 3);
    // The same blocks joined after the first: the entry it inserted is unknown, later ones are not.
    const late = new HpackDecoder({ fromStart: false });
    assert.deepStrictEqual(decodeAll(late, blocks[1]), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [undefined, undefined], ['cache-control', 'no-cache']]);
    assert.deepStrictEqual(decodeAll(late, blocks[2]), [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [undefined, undefined], ['custom-key', 'custom-value']]);
  }
});

test('RFC 7541 C.5: responses with evictions (table of 256 bytes, announced)', () => {
  const d = new HpackDecoder({ fromStart: true });
  // A size update to 256 first, as an encoder must announce it.
  const blocks = [
    '3fe1014803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
    '4803333037c1c0bf',
    '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
  ];
  assert.deepStrictEqual(decodeAll(d, blocks[0]), [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']]);
  assert.deepStrictEqual(decodeAll(d, blocks[1]), [[':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']]);
  assert.deepStrictEqual(decodeAll(d, blocks[2]), [
    [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'], ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ]);
  assert.equal(d.entries, 3);
  assert.ok(d.synced);
});

test('malformed blocks are invalid and make the table unknown; an index past a known table too', () => {
  const bad = ['80', 'ff', '7f', '410a61', '4085', '828630', '40ff8080808080800161', '41888888888888888888ff'];
  for (const hex of bad) {
    const d = new HpackDecoder({ fromStart: true });
    assert.equal(decodeAll(d, hex), 'invalid', hex);
    assert.ok(!d.synced, hex);
  }
  const d = new HpackDecoder({ fromStart: true });
  assert.equal(decodeAll(d, 'be'), 'invalid');
  // Joined mid-way, the same index is merely unknown.
  assert.deepStrictEqual(decodeAll(new HpackDecoder({ fromStart: false }), 'be'), [[undefined, undefined]]);
  // A size update after a field.
  assert.equal(decodeAll(new HpackDecoder({ fromStart: true }), '8220'), 'invalid');
});

test('a size update to 0 empties the table: a late decoder is synced from there', () => {
  const d = new HpackDecoder({ fromStart: false });
  assert.ok(!d.synced);
  assert.deepStrictEqual(decodeAll(d, '203fe11f82'), [[':method', 'GET']]);
  assert.ok(d.synced);
});

// ---------------------------------------------------------------------------------------------
// Random traffic through our encoder: decoded from the start, every field right; decoded from
// any later block, every field right or unknown.

const NAMES = ['user-agent', 'accept', 'x-request-id', 'cookie', 'authorization', 'x-custom', 'grpc-timeout', 'content-type', 'x-b3-traceid', 'traceparent'];

function randomBlocks(rand: () => number, n: number): string[][] {
  const blocks: string[][] = [];
  for (let b = 0; b < n; b++) {
    const fields = [':method', rand() < 0.7 ? 'GET' : 'POST', ':scheme', 'https', ':path', `/p/${Math.floor(rand() * 20)}`, ':authority', `host${Math.floor(rand() * 3)}.example`];
    const extra = Math.floor(rand() * 6);
    for (let i = 0; i < extra; i++) {
      const name = NAMES[Math.floor(rand() * NAMES.length)];
      const value = rand() < 0.5 ? `v${Math.floor(rand() * 8)}` : 'x'.repeat(Math.floor(rand() * 300));
      fields.push(name, value);
    }
    blocks.push(fields);
  }
  return blocks;
}

test('random blocks, table sizes and size updates: from the start all right, joined late never wrong', () => {
  const rand = prng(2024);
  let known = 0;
  let total = 0;
  for (let round = 0; round < 60; round++) {
    const size = [0, 64, 256, 1024, 4096][round % 5];
    const enc = new HpackEncoder({ huffman: rand() < 0.5, tableSize: 4096 });
    const blocks = randomBlocks(rand, 40);
    const wires: Buffer[] = [];
    blocks.forEach((fields, i) => {
      if (i === 0 && size !== 4096) enc.resize(size);
      if (i === 20 && rand() < 0.5) enc.resize(Math.floor(rand() * 2000));
      wires.push(enc.encode(fields));
    });
    for (let start = 0; start < blocks.length; start += 3) {
      const d = new HpackDecoder({ fromStart: start === 0 });
      for (let k = start; k < blocks.length; k++) {
        const tag = `round ${round} start ${start} block ${k}`;
        assert.equal(d.decode(wires[k], 0, wires[k].length), DecodeResult.Ok, tag);
        assert.equal(d.count * 2, blocks[k].length, tag);
        for (let i = 0; i < d.count; i++) {
          total++;
          if (d.names[i] === undefined) {
            assert.ok(start > 0, `${tag}: unknown field decoding from the start`);
            continue;
          }
          known++;
          assert.deepStrictEqual([d.names[i], d.values[i]], [blocks[k][2 * i], blocks[k][2 * i + 1]], `${tag}: field ${i}`);
        }
      }
    }
  }
  assert.ok(known > total / 2, `${known}/${total} known`);
});

test('a lost block makes older entries unknown, later ones known again', () => {
  const enc = new HpackEncoder({ huffman: false });
  const b1 = enc.encode(['x-a', '1']);
  const b2 = enc.encode(['x-b', '2']);
  const b3 = enc.encode(['x-a', '1', 'x-b', '2', 'x-c', '3']);
  const b4 = enc.encode(['x-a', '1', 'x-b', '2', 'x-c', '3']);
  const d = new HpackDecoder({ fromStart: true });
  d.decode(b1, 0, b1.length);
  d.lose(); // b2 not seen
  assert.equal(d.decode(b3, 0, b3.length), DecodeResult.Ok);
  assert.deepStrictEqual([d.names.slice(0, 3), d.values.slice(0, 3)], [[undefined, undefined, 'x-c'], [undefined, undefined, '3']]);
  assert.equal(d.decode(b4, 0, b4.length), DecodeResult.Ok);
  assert.deepStrictEqual(d.values.slice(0, 3), [undefined, undefined, '3']);
  void b2;
});

test('memory stays bounded: a table capped at maxTrackedSize', () => {
  const d = new HpackDecoder({ fromStart: false, maxTrackedSize: 4096 });
  const enc = new HpackEncoder({ huffman: false, tableSize: 1 << 20 });
  for (let i = 0; i < 2000; i++) {
    const w = enc.encode([`x-${i}`, 'v'.repeat(100)]);
    assert.equal(d.decode(w, 0, w.length), DecodeResult.Ok);
  }
  assert.ok(d.entries <= 4096 / 32, `${d.entries} entries`);
});
