// HttpMessage.headers and .trailers are flat ([name0, value0, name1, value1, …]); tests write
// and compare them as pairs, which read better.
export type Field = [string, string];

export function flatFields(pairs: readonly Field[]): string[] {
  return pairs.flat();
}

export function fieldPairs(flat: readonly string[]): Field[] {
  const out: Field[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  if (flat.length % 2 !== 0) throw new Error(`a flat field list of odd length ${flat.length}`);
  return out;
}
