// HPACK's Huffman code (RFC 7541 5.2, Appendix B), decoded four bits at a time through one
// table built at load time from the code itself: no bit-by-bit tree walk per byte.
//
// The decoder is a state machine over the internal nodes of the code tree (256 of them for 257
// symbols). From a node, a nibble leads to another node and emits at most one symbol (no code
// is shorter than 5 bits). A string may end only where the bits since the last symbol are a
// prefix of EOS (all ones) shorter than 8 bits.
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from './huffman-codes';

const EOS = 256;
// Transition entry layout: next node (bits 0-7), symbol (bits 8-16), flags above.
const EMIT = 1 << 17;
const FAIL = 1 << 18;
const ACCEPT = 1 << 19;

/** transitions[node * 16 + nibble]. */
const transitions = buildTransitions();

function buildTransitions(): Int32Array {
  // Tree: internal nodes 0..255 (0 = root); child >= 0 is an internal node, child < 0 is the
  // leaf of symbol ~child.
  const left: number[] = [0];
  const right: number[] = [0];
  const depth: number[] = [0];
  const ones: boolean[] = [true];
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code / 2 ** i) & 1; // codes are up to 30 bits: plain shifts would do, but stay clear of sign
      const children = bit === 0 ? left : right;
      if (i === 0) {
        children[node] = ~sym;
        break;
      }
      if (children[node] === 0 || children[node] === undefined) {
        const n = nodes++;
        left[n] = 0;
        right[n] = 0;
        depth[n] = depth[node] + 1;
        ones[n] = ones[node] && bit === 1;
        children[node] = n;
      }
      node = children[node];
    }
  }
  if (nodes !== 256) throw new Error(`HPACK Huffman tree has ${nodes} internal nodes, expected 256`);
  const table = new Int32Array(256 * 16);
  for (let start = 0; start < 256; start++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = start;
      let entry = 0;
      for (let b = 3; b >= 0; b--) {
        const child = ((nibble >> b) & 1) === 0 ? left[node] : right[node];
        if (child < 0) {
          const sym = ~child;
          if (sym === EOS) {
            entry = FAIL;
            break;
          }
          entry |= EMIT | (sym << 8);
          node = 0;
        } else {
          node = child;
        }
      }
      if ((entry & FAIL) === 0) {
        entry |= node;
        if (ones[node] && depth[node] <= 7) entry |= ACCEPT;
      }
      table[start * 16 + nibble] = entry;
    }
  }
  return table;
}

/** Longest decoding of `n` Huffman-coded bytes (the shortest code is 5 bits). */
export function huffmanDecodedBound(n: number): number {
  return Math.ceil((n * 8) / 5);
}

/**
 * Decodes buf[start, end) into out (at least huffmanDecodedBound(end - start) bytes long):
 * returns the decoded length, or -1 for an invalid string (EOS inside, bad padding).
 */
export function huffmanDecode(buf: Uint8Array, start: number, end: number, out: Uint8Array): number {
  const t = transitions;
  let node = 0;
  let n = 0;
  let accept = true;
  for (let i = start; i < end; i++) {
    const byte = buf[i];
    let e = t[node * 16 + (byte >> 4)];
    if ((e & FAIL) !== 0) return -1;
    if ((e & EMIT) !== 0) out[n++] = (e >> 8) & 0xff;
    node = e & 0xff;
    e = t[node * 16 + (byte & 15)];
    if ((e & FAIL) !== 0) return -1;
    if ((e & EMIT) !== 0) out[n++] = (e >> 8) & 0xff;
    node = e & 0xff;
    accept = (e & ACCEPT) !== 0;
  }
  return accept ? n : -1;
}

/** Bytes of the Huffman coding of `s` (latin1). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff];
  return Math.ceil(bits / 8);
}

/** The Huffman coding of `s` (latin1), padded with the high bits of EOS. */
export function huffmanEncode(s: string): Buffer {
  const out = Buffer.alloc(huffmanEncodedLength(s));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const len = HUFFMAN_LENGTHS[c];
    const code = HUFFMAN_CODES[c];
    // Feed the code a byte's worth at a time so the accumulator never holds more than 15 bits.
    for (let b = len; b > 0; ) {
      const take = Math.min(b, 8);
      b -= take;
      acc = (acc << take) | (Math.floor(code / 2 ** b) & ((1 << take) - 1));
      bits += take;
      while (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 0xff;
      }
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) out[o++] = ((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff;
  return out;
}
