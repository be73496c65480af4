// Summarises a V8 .cpuprofile (node --cpu-prof): top functions by self time, by inclusive
// ("total") time, and self time grouped by where the code lives (our src/ files, each
// node_modules package, node internals, GC).
//
// Usage: node dist/bench/cpuprofile-summary.js FILE.cpuprofile [--top N] [--json]
//          [--match SUBSTRING]   (only count samples whose stack contains a frame matching it)
import * as fs from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 14);
  for (const marker of ['/dist/', '/benchdist/']) {
    const i = url.lastIndexOf(marker);
    if (i >= 0) return url.slice(i + marker.length);
  }
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

/** Where a frame's code lives: "src/trace", "@opentelemetry/otlp-transformer", "node:internal", "(gc)"… */
function area(cf: CallFrame): string {
  const name = cf.functionName;
  if (cf.url === '') {
    if (name === '(garbage collector)') return '(gc)';
    if (name === '(program)' || name === '(idle)' || name === '(root)') return name;
    return '(native)';
  }
  const url = cf.url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url;
  const m = /\/(src|bench|test)\/(.*)$/.exec(url);
  if (m) return `${m[1]}/${m[2].replace(/\.js$/, '')}`;
  return url;
}

function key(cf: CallFrame): string {
  return `${cf.functionName || '(anonymous)'}  ${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
}

export interface Summary {
  totalMs: number;
  sampledMs: number;
  self: Array<{ fn: string; ms: number; pct: number }>;
  total: Array<{ fn: string; ms: number; pct: number }>;
  areas: Array<{ area: string; ms: number; pct: number }>;
}

export function summarise(p: CpuProfile, top = 30, match?: string): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas = new Map<string, number>();
  let sampled = 0;
  const matches = new Map<number, boolean>();
  const stackMatches = (id: number): boolean => {
    if (match === undefined) return true;
    const known = matches.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const cf = n.callFrame;
    const r = key(cf).includes(match) || (parent.has(id) && stackMatches(parent.get(id)!));
    matches.set(id, r);
    return r;
  };
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i];
    // timeDeltas[i] is the time before sample i; attribute the gap to the sample that ends it.
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node) continue;
    const name = node.callFrame.functionName;
    if (name === '(idle)' || name === '(program)' || name === '(root)') {
      if (match === undefined) areas.set(name, (areas.get(name) ?? 0) + dt);
      continue;
    }
    if (!stackMatches(id)) continue;
    sampled += dt;
    const k = key(node.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const a = area(node.callFrame);
    areas.set(a, (areas.get(a) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = key(byId.get(cur)!.callFrame);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
  }
  for (const k of ['(root)']) total.delete(k);
  const list = <K extends string>(m: Map<string, number>, field: K, n: number): Array<Record<K, string> & { ms: number; pct: number }> =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ [field]: name, ms: Math.round(ms * 10) / 10, pct: Math.round((ms / sampled) * 1000) / 10 }) as Record<K, string> & { ms: number; pct: number });
  return {
    totalMs: (p.endTime - p.startTime) / 1000,
    sampledMs: Math.round(sampled),
    self: list(self, 'fn', top),
    total: list(total, 'fn', top),
    areas: list(areas, 'area', 40),
  };
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 30;
  let json = false;
  let match: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--json') json = true;
    else if (args[i] === '--match') match = args[++i];
    else files.push(args[i]);
  }
  if (files.length !== 1) {
    process.stderr.write('usage: cpuprofile-summary FILE.cpuprofile [--top N] [--json] [--match SUBSTRING]\n');
    process.exit(2);
  }
  const s = summarise(JSON.parse(fs.readFileSync(files[0], 'utf8')) as CpuProfile, top, match);
  if (json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(`profile: ${s.totalMs.toFixed(0)} ms, ${s.sampledMs} ms on CPU in JS/native/GC${match ? ` (stacks matching "${match}")` : ''}`);
  out.push('', 'self time by area:');
  for (const a of s.areas) out.push(`  ${a.ms.toFixed(0).padStart(7)} ms ${a.pct.toFixed(1).padStart(5)}%  ${a.area}`);
  out.push('', `top ${top} functions by self time:`);
  for (const f of s.self) out.push(`  ${f.ms.toFixed(0).padStart(7)} ms ${f.pct.toFixed(1).padStart(5)}%  ${f.fn}`);
  out.push('', `top ${top} functions by total (inclusive) time:`);
  for (const f of s.total) out.push(`  ${f.ms.toFixed(0).padStart(7)} ms ${f.pct.toFixed(1).padStart(5)}%  ${f.fn}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

if (require.main === module) main();
