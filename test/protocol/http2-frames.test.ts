// The HTTP/2 frame reader alone: every frame type, cut at every offset and byte by byte, gaps
// inside payloads (framing kept) and across frame boundaries (framing lost, then found again),
// invalid headers, frame-size checks, and bounded memory.

import assert from 'node:assert/strict';
import test from 'node:test';

import { Flag, FrameCheck, FrameType, checkFrameHeader, encodeFrame } from '../../src/protocol/http2/frame';
import { FrameReader, SyncLoss } from '../../src/protocol/http2/frame-reader';
import type { FrameHead } from '../../src/protocol/http2/frame-reader';

type Event =
  | { frame: string; stream: number; flags: number; length: number; payload: string | undefined; missing: number }
  | { data: number; stream: number; flags: number; missing: number }
  | { lost: SyncLoss };

function reader(events: Event[], maxPayload?: number): FrameReader {
  return new FrameReader({
    frame: (h: FrameHead, buf, start) => events.push({ frame: String(h.type), stream: h.stream, flags: h.flags, length: h.length, payload: buf?.subarray(start, start + h.length).toString('hex'), missing: h.missing }),
    dataFrame: (h: FrameHead, body) => events.push({ data: body, stream: h.stream, flags: h.flags, missing: h.missing }),
    lostSync: (why) => events.push({ lost: why }),
    resynced: () => undefined,
  }, { maxPayload });
}

function run(chunks: Array<Buffer | number>, maxPayload?: number): Event[] {
  const events: Event[] = [];
  const r = reader(events, maxPayload);
  let ts = 0n;
  for (const c of chunks) {
    ts++;
    if (typeof c === 'number') r.gap(c, ts);
    else r.execute(c, ts);
    assert.ok(r.bufferedBytes <= (maxPayload ?? 65536) + 64, `${r.bufferedBytes} bytes buffered`);
  }
  return events;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

const FRAMES = [
  encodeFrame(FrameType.Settings, 0, 0, Buffer.from('000100001000000300000064', 'hex')),
  encodeFrame(FrameType.Settings, Flag.Ack, 0),
  encodeFrame(FrameType.Headers, Flag.EndHeaders | Flag.Priority | Flag.Padded, 1, Buffer.from('0280000003ff8286aaaa', 'hex')),
  encodeFrame(FrameType.Headers, 0, 3, Buffer.from('8287', 'hex')),
  encodeFrame(FrameType.Continuation, Flag.EndHeaders, 3, Buffer.from('84', 'hex')),
  encodeFrame(FrameType.Data, Flag.Padded, 1, Buffer.concat([Buffer.from([4]), Buffer.alloc(100, 0x61), Buffer.alloc(4)])),
  encodeFrame(FrameType.Data, Flag.EndStream, 1, Buffer.alloc(3000, 0x62)),
  encodeFrame(FrameType.Data, Flag.EndStream, 5),
  encodeFrame(FrameType.RstStream, 0, 3, u32(8)),
  encodeFrame(FrameType.Priority, 0, 5, Buffer.from('000000010f', 'hex')),
  encodeFrame(FrameType.Ping, 0, 0, Buffer.alloc(8, 1)),
  encodeFrame(FrameType.WindowUpdate, 0, 0, u32(65535)),
  encodeFrame(FrameType.PushPromise, Flag.EndHeaders, 1, Buffer.concat([u32(2), Buffer.from('8284', 'hex')])),
  encodeFrame(0x0a, 0, 0, Buffer.from('extension')),
  encodeFrame(FrameType.GoAway, 0, 0, Buffer.concat([u32(5), u32(0), Buffer.from('bye')])),
];
const ALL = Buffer.concat(FRAMES);

test('every frame type, whole', () => {
  const events = run([ALL]);
  assert.equal(events.length, FRAMES.length);
  assert.deepStrictEqual(events[2], { frame: '1', stream: 1, flags: 0x2c, length: 10, payload: '0280000003ff8286aaaa', missing: 0 });
  assert.deepStrictEqual(events[5], { data: 100, stream: 1, flags: Flag.Padded, missing: 0 });
  assert.deepStrictEqual(events[6], { data: 3000, stream: 1, flags: Flag.EndStream, missing: 0 });
  assert.deepStrictEqual(events[7], { data: 0, stream: 5, flags: Flag.EndStream, missing: 0 });
  assert.deepStrictEqual(events[13], { frame: '10', stream: 0, flags: 0, length: 9, payload: Buffer.from('extension').toString('hex'), missing: 0 });
  assert.ok(events.every((e) => !('lost' in e)));
});

test('cut at every offset, at every pair of offsets, and byte by byte: the same frames', () => {
  const whole = run([ALL]);
  for (let a = 0; a <= ALL.length; a++) assert.deepStrictEqual(run([ALL.subarray(0, a), ALL.subarray(a)]), whole, `cut at ${a}`);
  for (let a = 0; a <= 120; a++) {
    for (let b = a; b <= 200; b += 3) assert.deepStrictEqual(run([ALL.subarray(0, a), ALL.subarray(a, b), ALL.subarray(b)]), whole, `cuts at ${a}, ${b}`);
  }
  assert.deepStrictEqual(run([...ALL].map((x) => Buffer.from([x]))), whole);
});

test('a gap inside a payload keeps the framing; a DATA gap is counted as body', () => {
  const data = FRAMES[6]; // DATA of 3000
  const events = run([data.subarray(0, 500), 2000, data.subarray(2500), FRAMES[10]]);
  assert.deepStrictEqual(events, [
    { data: 3000, stream: 1, flags: Flag.EndStream, missing: 2000 },
    { frame: '6', stream: 0, flags: 0, length: 8, payload: '0101010101010101', missing: 0 },
  ]);
  // The pad length byte lost: its padding is counted as data (the frame's size is all we know).
  const padded = FRAMES[5];
  assert.deepStrictEqual(run([padded.subarray(0, 9), 1, padded.subarray(10)])[0], { data: 104, stream: 1, flags: Flag.Padded, missing: 1 });
  // A gap in a SETTINGS payload: the frame arrives without it.
  const settings = FRAMES[0];
  assert.deepStrictEqual(run([settings.subarray(0, 12), 3, settings.subarray(15), FRAMES[1]]), [
    { frame: '4', stream: 0, flags: 0, length: 12, payload: undefined, missing: 3 },
    { frame: '4', stream: 0, flags: 1, length: 0, payload: '', missing: 0 },
  ]);
});

test('a gap across a frame boundary loses the framing; it is found again, skipping a few frames', () => {
  // A false match may swallow up to a maximum frame (16 KiB) before the next header fails the
  // strict checks: 1100 frames (18 KiB) after the gap, the last ones must come through.
  const pings = Array.from({ length: 1100 }, (_, i) => encodeFrame(FrameType.Ping, 0, 0, Buffer.alloc(8, i > 1000 ? 5 : i % 5)));
  for (const lost of [1, 5, 9, 20]) {
    for (let at = 0; at < 40; at++) {
      const input = Buffer.concat([FRAMES[10], FRAMES[9], ...pings]);
      const events = run([input.subarray(0, at), lost, input.subarray(at + lost)]);
      const losses = events.filter((e) => 'lost' in e);
      const pingsSeen = events.filter((e) => 'frame' in e && e.frame === '6' && e.payload !== undefined);
      // Either the gap fell inside a payload (framing kept) or it was reported once.
      assert.ok(losses.length <= 1, `gap ${lost} at ${at}: ${losses.length} losses`);
      // The last frames always come through, and they are exact.
      assert.deepStrictEqual(pingsSeen.at(-1), { frame: '6', stream: 0, flags: 0, length: 8, payload: '0505050505050505', missing: 0 }, `gap ${lost} at ${at}`);
    }
  }
});

test('an invalid frame header where one is due: reported once, then resync', () => {
  const bad = Buffer.from('000004080000000000', 'hex'); // WINDOW_UPDATE needs length 4: fine
  const invalid = encodeFrame(FrameType.Ping, 0, 0, Buffer.alloc(7)); // PING must be 8 bytes
  const tail = Array.from({ length: 5 }, (_, i) => encodeFrame(FrameType.Ping, 0, 0, Buffer.alloc(8, i)));
  const events = run([Buffer.concat([bad, u32(1), invalid, ...tail])]);
  assert.deepStrictEqual(events.filter((e) => 'lost' in e), [{ lost: SyncLoss.InvalidFrame }]);
  assert.deepStrictEqual((events.at(-1) as { payload: string }).payload, '0404040404040404');
});

test('frame-size checks: per type, strict for detection and resync, the maximum frame size', () => {
  const h = (type: number, flags: number, stream: number, length: number): Buffer => encodeFrame(type, flags, stream, Buffer.alloc(length)).subarray(0, 9);
  const check = (b: Buffer, max = 16384, strict = true): FrameCheck => checkFrameHeader(b, 0, max, strict);
  assert.equal(check(h(FrameType.Settings, 0, 0, 7)), FrameCheck.BadLength);
  assert.equal(check(h(FrameType.Settings, Flag.Ack, 0, 6)), FrameCheck.BadLength);
  assert.equal(check(h(FrameType.Settings, 0, 1, 6)), FrameCheck.BadStream);
  assert.equal(check(h(FrameType.Data, 0, 0, 6)), FrameCheck.BadStream);
  assert.equal(check(h(FrameType.Headers, Flag.Priority, 1, 4)), FrameCheck.BadLength);
  assert.equal(check(h(FrameType.Ping, 0, 0, 9)), FrameCheck.BadLength);
  assert.equal(check(h(FrameType.GoAway, 0, 0, 7)), FrameCheck.BadLength);
  assert.equal(check(h(FrameType.RstStream, 0, 1, 5)), FrameCheck.BadLength);
  assert.equal(check(h(FrameType.PushPromise, Flag.EndHeaders, 1, 3)), FrameCheck.BadLength);
  assert.equal(check(h(FrameType.Data, 0x2, 1, 6)), FrameCheck.Unknown);
  assert.equal(check(h(FrameType.Data, 0x2, 1, 6), 16384, false), FrameCheck.Valid);
  assert.equal(check(h(0x20, 0, 0, 6)), FrameCheck.Unknown);
  assert.equal(check(h(0x20, 0, 0, 6), 16384, false), FrameCheck.Valid);
  assert.equal(check(h(FrameType.Data, 0, 1, 16385)), FrameCheck.TooLong);
  assert.equal(check(h(FrameType.Data, 0, 1, 16385), 1 << 20), FrameCheck.Valid);
  const r = Buffer.from(h(FrameType.Data, 0, 1, 1));
  r[5] |= 0x80;
  assert.equal(check(r), FrameCheck.BadStream);
});

test('a payload over maxPayload is not kept: memory stays bounded', () => {
  const big = encodeFrame(FrameType.Headers, Flag.EndHeaders, 1, Buffer.alloc(50000, 0x41));
  const events = run([big.subarray(0, 1000), big.subarray(1000), FRAMES[10]], 4096);
  assert.deepStrictEqual(events[0], { frame: '1', stream: 1, flags: Flag.EndHeaders, length: 50000, payload: undefined, missing: 0 });
  assert.equal(events.length, 2);
});
