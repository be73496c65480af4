// A readable one-line preview of captured bytes: escaped text when the bytes are mostly
// printable, hex otherwise (TLS inside TLS, HTTP/2 frames, compressed bodies).

export function preview(data: Buffer, max: number): string {
  const n = Math.min(data.length, max);
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const b = data[i];
    if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
  }
  const more = data.length > n ? '…' : '';
  if (n === 0) return '';
  if (printable / n < 0.85) return `hex ${data.subarray(0, Math.min(n, 32)).toString('hex')}${data.length > 32 ? '…' : ''}`;
  let s = '"';
  for (let i = 0; i < n; i++) {
    const b = data[i];
    if (b === 0x0d) s += '\\r';
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x09) s += '\\t';
    else if (b === 0x22 || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${s}"${more}`;
}
