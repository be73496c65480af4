// Readable HTTP/2 frames for `tlsotel sniff`: one printer per connection, fed each direction's
// bytes and gaps in capture order, returns lines (frame type, stream, flags, length, and what
// the frame says: decoded header fields, settings, error codes). Nothing is redacted here —
// sniff shows what was captured — and nothing is printed that was not decoded: a header field
// the decoder does not know is shown as unknown.

import type { Direction } from '../session';
import { CLIENT_PREFACE, Flag, FrameType, errorCodeName, frameTypeName } from './frame';
import { FrameReader, SyncLoss } from './frame-reader';
import type { FrameHead, FrameSink } from './frame-reader';
import { DecodeResult, HpackDecoder } from './hpack-decoder';

const SETTING_NAMES: Record<number, string> = {
  1: 'HEADER_TABLE_SIZE', 2: 'ENABLE_PUSH', 3: 'MAX_CONCURRENT_STREAMS', 4: 'INITIAL_WINDOW_SIZE',
  5: 'MAX_FRAME_SIZE', 6: 'MAX_HEADER_LIST_SIZE', 8: 'ENABLE_CONNECT_PROTOCOL',
};

const MAX_BLOCK = 65536;
/** Longest value printed; the rest is elided with its length. */
const MAX_VALUE_CHARS = 200;

class PrinterSide implements FrameSink {
  readonly reader = new FrameReader(this);
  decoder: HpackDecoder | undefined;
  preface = -1;
  fragments: Buffer[] = [];
  fragmentBytes = 0;
  blockLost = false;
  lostEarly = false;

  constructor(readonly printer: Http2FramePrinter, readonly dir: Direction) {}

  frame(h: FrameHead, buf: Buffer | undefined, start: number): void {
    this.printer.frame(this, h, buf, start);
  }

  dataFrame(h: FrameHead, body: number): void {
    this.printer.line(this, h, `data=${body}${h.missing > 0 ? ` missing=${h.missing}` : ''}`);
  }

  lostSync(why: SyncLoss): void {
    if (this.decoder === undefined) this.lostEarly = true;
    else this.decoder.lose();
    this.fragments = [];
    this.printer.out.push(`${this.dir} -- framing lost (${why === SyncLoss.Gap ? 'capture gap' : 'invalid frame header'}); resyncing`);
  }

  resynced(): void {
    this.printer.out.push(`${this.dir} -- framing found again (frames skipped while resyncing)`);
  }
}

export class Http2FramePrinter {
  /** Lines produced by the current call. */
  out: string[] = [];
  private readonly write = new PrinterSide(this, 'write');
  private readonly read = new PrinterSide(this, 'read');
  private fromStart = false;

  /** Bytes of one direction; returns the lines they complete. */
  data(dir: Direction, bytes: Buffer): string[] {
    this.out = [];
    const side = dir === 'write' ? this.write : this.read;
    let pos = 0;
    if (side.preface < CLIENT_PREFACE.length) {
      const matched = Math.max(side.preface, 0);
      let i = 0;
      while (i < bytes.length && matched + i < CLIENT_PREFACE.length && bytes[i] === CLIENT_PREFACE[matched + i]) i++;
      if (matched + i === CLIENT_PREFACE.length) {
        side.preface = CLIENT_PREFACE.length;
        this.fromStart = true;
        this.out.push(`${dir} PREFACE`);
        pos = i;
      } else if (i === bytes.length) {
        side.preface = matched + i;
        return this.out;
      } else {
        side.preface = CLIENT_PREFACE.length;
        if (matched > 0) side.reader.execute(CLIENT_PREFACE.subarray(0, matched), 0n);
      }
    }
    side.reader.execute(bytes.subarray(pos), 0n);
    return this.out;
  }

  /** `bytes` of one direction were not captured. */
  gap(dir: Direction, bytes: number): string[] {
    this.out = [`${dir} -- ${bytes} bytes not captured`];
    const side = dir === 'write' ? this.write : this.read;
    if (side.preface < CLIENT_PREFACE.length) side.preface = CLIENT_PREFACE.length;
    side.reader.gap(bytes, 0n);
    return this.out;
  }

  /** `bytes` of one direction were counted, not copied, by the BPF side (a DATA payload's):
   *  they count as DATA bytes where the reader expects them, else as a gap. */
  skip(dir: Direction, bytes: number): string[] {
    this.out = [];
    const side = dir === 'write' ? this.write : this.read;
    if (side.preface >= CLIENT_PREFACE.length && side.reader.skip(bytes, 0n)) return this.out;
    return this.gap(dir, bytes);
  }

  line(side: PrinterSide, h: FrameHead, detail: string): void {
    this.out.push(`${side.dir} ${frameTypeName(h.type)} stream=${h.stream} flags=${flagNames(h.type, h.flags)} length=${h.length}${detail === '' ? '' : ' ' + detail}`);
  }

  frame(side: PrinterSide, h: FrameHead, buf: Buffer | undefined, start: number): void {
    const lost = buf === undefined ? (h.tooLarge ? ' (payload too large to show)' : ` (payload not captured: ${h.missing} bytes missing)`) : '';
    switch (h.type) {
      case FrameType.Headers:
      case FrameType.PushPromise:
      case FrameType.Continuation: {
        let detail = lost;
        if (h.type !== FrameType.Continuation) {
          side.fragments = [];
          side.fragmentBytes = 0;
          side.blockLost = false;
        }
        if (buf === undefined) {
          side.blockLost = true;
        } else {
          let off = 0;
          let pad = 0;
          if (h.type !== FrameType.Continuation && (h.flags & Flag.Padded) !== 0) {
            pad = buf[start];
            off = 1;
          }
          if (h.type === FrameType.Headers && (h.flags & Flag.Priority) !== 0) {
            const dep = buf.readUInt32BE(start + off);
            detail += ` depends-on=${dep & 0x7fffffff}${dep >>> 31 ? ' exclusive' : ''} weight=${buf[start + off + 4] + 1}`;
            off += 5;
          }
          if (h.type === FrameType.PushPromise && off + 4 <= h.length) {
            detail += ` promised=${buf.readUInt32BE(start + off) & 0x7fffffff}`;
            off += 4;
          }
          if (off + pad > h.length || side.fragmentBytes + h.length > MAX_BLOCK) {
            side.blockLost = true;
          } else {
            side.fragments.push(Buffer.from(buf.subarray(start + off, start + h.length - pad)));
            side.fragmentBytes += h.length;
          }
        }
        this.line(side, h, detail.trimStart());
        if ((h.flags & Flag.EndHeaders) !== 0) this.block(side);
        return;
      }
      case FrameType.Settings: {
        const parts: string[] = [];
        if (buf !== undefined) {
          for (let at = start; at + 6 <= start + h.length; at += 6) {
            const id = buf.readUInt16BE(at);
            parts.push(`${SETTING_NAMES[id] ?? `0x${id.toString(16)}`}=${buf.readUInt32BE(at + 2)}`);
          }
        }
        this.line(side, h, parts.join(' ') + lost);
        return;
      }
      case FrameType.RstStream:
        this.line(side, h, buf === undefined ? lost : `error=${errorCodeName(buf.readUInt32BE(start))}`);
        return;
      case FrameType.GoAway:
        this.line(side, h, buf === undefined ? lost : `last-stream=${buf.readUInt32BE(start) & 0x7fffffff} error=${errorCodeName(buf.readUInt32BE(start + 4))}${h.length > 8 ? ` debug=${JSON.stringify(buf.toString('latin1', start + 8, start + Math.min(h.length, 8 + MAX_VALUE_CHARS)))}` : ''}`);
        return;
      case FrameType.WindowUpdate:
        this.line(side, h, buf === undefined ? lost : `increment=${buf.readUInt32BE(start) & 0x7fffffff}`);
        return;
      case FrameType.Ping:
        this.line(side, h, buf === undefined ? lost : `opaque=${buf.subarray(start, start + 8).toString('hex')}`);
        return;
      case FrameType.Priority:
        this.line(side, h, buf === undefined ? lost : `depends-on=${buf.readUInt32BE(start) & 0x7fffffff} weight=${buf[start + 4] + 1}`);
        return;
      default:
        this.line(side, h, lost);
    }
  }

  private block(side: PrinterSide): void {
    const decoder = side.decoder ??= new HpackDecoder({ fromStart: this.fromStart && !side.lostEarly });
    if (side.blockLost) {
      decoder.lose();
      this.out.push('    (header block not captured: its fields are unknown)');
      return;
    }
    const block = side.fragments.length === 1 ? side.fragments[0] : Buffer.concat(side.fragments);
    side.fragments = [];
    if (decoder.decode(block, 0, block.length) === DecodeResult.Invalid) {
      this.out.push('    (header block not decodable)');
      return;
    }
    for (let i = 0; i < decoder.count; i++) {
      const name = decoder.names[i];
      if (name === undefined) {
        this.out.push('    (unknown field: its HPACK table entry was not seen)');
        continue;
      }
      const v = decoder.values[i]!;
      this.out.push(`    ${name}: ${v.length > MAX_VALUE_CHARS ? `${v.slice(0, MAX_VALUE_CHARS)}… (${v.length} bytes)` : v}`);
    }
  }
}

function flagNames(type: number, flags: number): string {
  const names: string[] = [];
  if ((flags & 0x1) !== 0) names.push(type === FrameType.Settings || type === FrameType.Ping ? 'ACK' : type === FrameType.Data || type === FrameType.Headers ? 'END_STREAM' : '0x1');
  if ((flags & Flag.EndHeaders) !== 0) names.push(type === FrameType.Data ? '0x4' : 'END_HEADERS');
  if ((flags & Flag.Padded) !== 0) names.push('PADDED');
  if ((flags & Flag.Priority) !== 0) names.push(type === FrameType.Headers ? 'PRIORITY' : '0x20');
  const rest = flags & ~(0x1 | 0x4 | 0x8 | 0x20);
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length === 0 ? '-' : names.join('|');
}
