// The seams of DESIGN.md, checked on the source: what each folder may import, and what it must
// not name. A stage that reaches across a seam fails here, not in a review.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '../../src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier a file imports (static imports, re-exports and require()); with
 *  `values`, only those that bring in code (not `import type`). */
function imports(file: string, values = false): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(import|export)(\s+type)?[^'"\n;]*?from\s+'([^']+)'/g)) {
    if (!values || m[2] === undefined) out.push(m[3]);
  }
  for (const m of text.matchAll(/require\('([^']+)'\)/g)) out.push(m[1]);
  return out;
}

/** Resolves a relative specifier to a path under src/ ("capture/streams"); packages as is. */
function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return path.relative(SRC, path.resolve(path.dirname(file), spec)).replace(/\\/g, '/');
}

const under = (folder: string) => files(path.join(SRC, folder));
const rel = (file: string) => path.relative(SRC, file);

test('src/ exists and has the stage folders of DESIGN.md', () => {
  for (const d of ['agent', 'bpf', 'capture', 'config', 'discovery', 'exchange', 'export', 'protocol', 'telemetry', 'tls', 'trace']) {
    assert.ok(fs.existsSync(path.join(SRC, d)), d);
  }
});

test('protocol sessions are pure: no OpenTelemetry, no BPF, no streams, no spans', () => {
  const bad: string[] = [];
  for (const f of under('protocol')) {
    for (const spec of imports(f)) {
      const t = target(f, spec);
      const allowed = t.startsWith('protocol/') || t === 'exchange/error-kind' || t.startsWith('node:');
      if (!allowed) bad.push(`${rel(f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('discovery and the BPF loader name no TLS library', () => {
  const bad: string[] = [];
  const names = /\b(?:openssl|libssl|SSL_(?:read|write|free)|gnutls|crypto\/tls|boringssl)\b/i;
  for (const f of [...under('discovery'), ...under('bpf')]) {
    if (f.endsWith('layout.generated.ts')) continue; // generated from bpf/tlsotel.h (comments of the C side)
    const code = fs.readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    if (names.test(code)) bad.push(`${rel(f)}: ${names.exec(code)![0]}`);
    for (const spec of imports(f)) {
      const t = target(f, spec);
      if (t.startsWith('tls/') && t !== 'tls/library') bad.push(`${rel(f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('only the composition root wires stages: commands and the benchmark use src/agent', () => {
  const stages = ['capture/streams', 'exchange/tracker', 'trace/linker', 'trace/span-builder', 'discovery/discovery', 'bpf/ring-reader'];
  const bad: string[] = [];
  const cli = under('cli');
  const bench = path.resolve(SRC, '../bench/pipeline.ts');
  for (const f of [...cli, bench]) {
    for (const spec of imports(f, true)) {
      const t = f === bench ? path.relative(SRC, path.resolve(path.dirname(f), spec)).replace(/\\/g, '/') : target(f, spec);
      if (stages.includes(t)) bad.push(`${path.relative(path.dirname(SRC), f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('nothing upstream knows about OpenTelemetry: capture, discovery, bpf, protocol and exchange do not import it', () => {
  const bad: string[] = [];
  for (const folder of ['capture', 'discovery', 'bpf', 'protocol', 'exchange', 'tls']) {
    for (const f of under(folder)) {
      for (const spec of imports(f)) if (spec.startsWith('@opentelemetry/')) bad.push(`${rel(f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('only src/config reads the environment', () => {
  const bad = files(SRC).filter((f) => !rel(f).startsWith('config/') && /process\.env\b/.test(fs.readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '')));
  assert.deepEqual(bad.map(rel), []);
});
