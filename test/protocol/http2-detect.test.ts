// Detection of HTTP/2: the client preface on new connections, frame shape on connections seen
// mid-way (at every frame of real node traffic, both directions), and no false positive on
// HTTP/1, TLS records, other binary protocols or random bytes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';

import { DETECT_BYTES, PROTOCOLS, Verdict, detect } from '../../src/protocol/detect';
import { http2Detector } from '../../src/protocol/http2/index';
import { SHOWN_BYTES, detectHttp2 } from '../../src/protocol/http2/detect';
import { prng } from '../helpers/prng';
import { Conversation, concatDir, frameStarts, recordHttp2, request } from './http2-harness';

const head = (b: Buffer): Buffer => b.subarray(0, DETECT_BYTES);

test('the HTTP/2 detector comes first in PROTOCOLS, whichever module is loaded first', () => {
  assert.equal(PROTOCOLS[0], http2Detector);
  assert.equal(http2Detector.protocol, 'http/2');
  assert.equal(SHOWN_BYTES, DETECT_BYTES);
  // Loading the http2 folder before detect.ts must not leave a hole in PROTOCOLS.
  const script = `require(${JSON.stringify(require.resolve('../../src/protocol/http2/index'))});
    const d = require(${JSON.stringify(require.resolve('../../src/protocol/detect'))});
    if (!d.PROTOCOLS.every((p) => p !== undefined && typeof p.detect === 'function')) process.exit(1);`;
  assert.equal(spawnSync(process.execPath, ['-e', script]).status, 0);
});

test('the client preface cut anywhere is never taken for HTTP/1 (its first line reads as a request line to that detector)', () => {
  const client = new Conversation().bytes('write');
  for (let n = 1; n < 24; n++) assert.equal(detect('write', client.subarray(0, n)), Verdict.Maybe, `prefix ${n}`);
  for (let n = 24; n <= DETECT_BYTES; n++) assert.equal(detect('write', client.subarray(0, n)), http2Detector, `${n} bytes`);
  // "PRI" as an HTTP/1 method otherwise: still HTTP/1 once the line says HTTP/1.1.
  assert.equal(detect('write', Buffer.from('PRI * HTTP/1.1\r\nHost: x\r\n\r\n')), PROTOCOLS[1]);
});

test('the client preface: Yes once whole, Maybe while a prefix, No when it breaks off', () => {
  const conv = new Conversation();
  const client = conv.bytes('write');
  assert.equal(detectHttp2('write', head(client)), Verdict.Yes);
  assert.equal(detect('read', head(client)), http2Detector);
  for (let n = 1; n < 24; n++) assert.equal(detectHttp2('write', client.subarray(0, n)), Verdict.Maybe, `prefix ${n}`);
  assert.equal(detectHttp2('write', Buffer.from('PRI * HTTP/1.1\r\n')), Verdict.No);
  assert.equal(detectHttp2('write', Buffer.from('PUT / HTTP/1.1\r\n')), Verdict.No);
  // The server's first bytes: its SETTINGS.
  assert.equal(detectHttp2('read', head(conv.bytes('read'))), Verdict.Maybe);
  assert.equal(detectHttp2('read', Buffer.concat([conv.bytes('read'), new Conversation({ preface: false }).settings('read', [], true).bytes('read')])), Verdict.Yes);
});

test('joined mid-way: every frame start of real traffic, both directions, is recognised', async () => {
  const steps = await recordHttp2(
    (stream, headers) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(Buffer.alloc(Number(String(headers[':path']).slice(1)) || 0, 0x61));
    },
    async (s) => {
      for (const n of [0, 10, 100, 5000, 20000]) await request(s, { ':path': `/${n}`, 'user-agent': 'detect-test' });
      await Promise.all([1, 2, 3, 40, 50].map((n) => request(s, { ':method': 'POST', ':path': `/${n}` }, Buffer.alloc(n * 10))));
    },
  );
  let yes = 0;
  for (const dir of ['write', 'read'] as const) {
    const bytes = concatDir(steps, dir);
    for (const at of frameStarts(bytes)) {
      const h = bytes.subarray(at, at + DETECT_BYTES);
      const v = detectHttp2(dir, h);
      if (h.length === DETECT_BYTES) assert.equal(v, Verdict.Yes, `${dir} frame at ${at}: ${h.toString('hex')}`);
      else assert.notEqual(v, Verdict.No, `${dir} frame at ${at} (end of capture)`);
      if (v === Verdict.Yes) yes++;
    }
  }
  assert.ok(yes > 30, `${yes} frame starts recognised`);
});

test('no false positives: HTTP/1, TLS, other protocols, random bytes', () => {
  const samples = [
    'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    'POST /x HTTP/1.0\r\n\r\n',
    '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003',
    '\u0017\u0003\u0003\u0000\u0040' + 'x'.repeat(60),
    '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n', // redis
    '\u0000\u0000\u0000\u0008\u0004\u00d2\u0016\u002f', // postgres SSLRequest
    '\u0000\u0000\u0000\u0054\u0000\u0003\u0000\u0000user\u0000postgres\u0000database\u0000db\u0000\u0000',
    '\u004a\u0000\u0000\u0000\u000a8.0.36\u0000', // mysql greeting
    '\u0000\u0000\u0000\u0000\u0005hello', // a gRPC message prefix (not a frame)
    '\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000',
    '{"jsonrpc":"2.0","method":"x"}',
    'SSH-2.0-OpenSSH_9.2\r\n',
  ];
  for (const s of samples) {
    const b = Buffer.from(s, 'latin1');
    for (const dir of ['write', 'read'] as const) {
      const v = detectHttp2(dir, head(Buffer.concat([b, Buffer.alloc(Math.max(0, DETECT_BYTES - b.length), 0x20)])));
      assert.equal(v, Verdict.No, `${JSON.stringify(s)}: ${v}`);
    }
  }
  const rand = prng(99);
  let falsePositives = 0;
  const cases = 200000;
  for (let i = 0; i < cases; i++) {
    const b = Buffer.alloc(DETECT_BYTES);
    for (let k = 0; k < b.length; k++) b[k] = Math.floor(rand() * 256);
    // Half of them start with zeros, as length-prefixed binary often does.
    if (i % 2 === 0) b.fill(0, 0, 1 + (i % 3));
    if (detectHttp2('read', b) === Verdict.Yes) falsePositives++;
  }
  assert.equal(falsePositives, 0, `${falsePositives} of ${cases} random heads taken for HTTP/2`);
});
