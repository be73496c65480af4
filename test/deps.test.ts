// package.json against what the code really uses and what npm really installed: a runtime
// dependency is one the built agent requires, each OpenTelemetry package is installed once (two
// copies of @opentelemetry/core or otlp-transformer mean two sets of globals and of protobuf
// code, and instanceof checks between them fail), and the SDK packages whose internals the
// agent relies on are pinned to the version the tests ran against.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';

const ROOT = path.resolve(__dirname, '../..');

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
const deps = pkg.dependencies ?? {};
const devDeps = pkg.devDependencies ?? {};

/** Every package.json of an installed package, at any depth of node_modules. */
function installedPackages(dir: string, out: Array<{ name: string; version: string; where: string }> = []): typeof out {
  const nm = path.join(dir, 'node_modules');
  if (!existsSync(nm)) return out;
  for (const entry of readdirSync(nm)) {
    if (entry.startsWith('.')) continue;
    const dirs = entry.startsWith('@') ? readdirSync(path.join(nm, entry)).map((e) => path.join(nm, entry, e)) : [path.join(nm, entry)];
    for (const d of dirs) {
      const manifest = path.join(d, 'package.json');
      if (!existsSync(manifest)) continue;
      const m = JSON.parse(readFileSync(manifest, 'utf8')) as Manifest;
      out.push({ name: m.name, version: m.version, where: path.relative(ROOT, d) });
      installedPackages(d, out);
    }
  }
  return out;
}

/** The package a module specifier names ('@scope/name/sub' → '@scope/name'); undefined for node built-ins and relative paths. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec)) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** Packages required by the compiled files under dir (the runtime: type-only imports are gone). */
function requiredBy(dir: string, found = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) requiredBy(p, found);
    else if (entry.name.endsWith('.js')) {
      for (const m of readFileSync(p, 'utf8').matchAll(/require\(["']([^"']+)["']\)/g)) {
        const name = packageOf(m[1]);
        if (name !== undefined && !found.has(name)) found.set(name, path.relative(ROOT, p));
      }
    }
  }
  return found;
}

/** Packages imported by the TypeScript sources under dir (types included). */
function importedBy(dir: string, found = new Set<string>()): Set<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) importedBy(p, found);
    else if (entry.name.endsWith('.ts')) {
      for (const m of readFileSync(p, 'utf8').matchAll(/(?:from |require\(|import\()'([^']+)'/g)) {
        const name = packageOf(m[1]);
        if (name !== undefined) found.add(name);
      }
    }
  }
  return found;
}

test('every @opentelemetry package is installed exactly once', () => {
  const byName = new Map<string, string[]>();
  for (const p of installedPackages(ROOT)) {
    if (!p.name.startsWith('@opentelemetry/')) continue;
    byName.set(p.name, [...(byName.get(p.name) ?? []), `${p.version} at ${p.where}`]);
  }
  assert.ok(byName.has('@opentelemetry/core'), 'node_modules holds the OpenTelemetry packages (run npm ci)');
  const twice = [...byName].filter(([, copies]) => copies.length > 1);
  assert.deepEqual(twice, [], 'align the versions in package.json (and its overrides) so that npm dedupes them');
});

test('dependencies are exactly the packages the built agent requires', () => {
  const runtime = requiredBy(path.join(ROOT, 'dist/src'));
  assert.ok(runtime.has('koffi'), 'dist/src is built');
  for (const [name, file] of runtime) assert.ok(name in deps, `${file} requires ${name}, which is not in dependencies`);
  for (const name of Object.keys(deps)) {
    assert.ok(runtime.has(name), `${name} is in dependencies but nothing in dist/src requires it (devDependencies if tests or bench use it, else remove it)`);
  }
});

test('every devDependency is used by the tests, the benchmarks or the build', () => {
  const used = importedBy(path.join(ROOT, 'src'));
  importedBy(path.join(ROOT, 'test'), used);
  importedBy(path.join(ROOT, 'bench'), used);
  const tools = new Set(['typescript', '@types/node']); // the compiler and its Node types
  for (const name of Object.keys(devDeps)) {
    assert.ok(used.has(name) || tools.has(name), `${name} is in devDependencies but nothing imports it`);
    assert.ok(!(name in deps), `${name} is in both dependencies and devDependencies`);
  }
});

// src/export/otlp-transport.ts hands the SDK's gRPC transport an ArrayBuffer, relying on
// 0.223.1's Buffer.from(data) making a view of it instead of a copy, and
// src/export/otlp-trace-serializer.ts writes the bytes of otlp-transformer 0.223.1's serializer
// (test/export checks both on the wire): neither may move without the tests running again.
test('the OpenTelemetry SDK packages are pinned exactly, and installed at that version', () => {
  const installed = new Map(installedPackages(ROOT).map((p) => [p.name, p.version]));
  for (const [name, spec] of Object.entries({ ...deps, ...devDeps })) {
    if (!name.startsWith('@opentelemetry/')) continue;
    // The API and the conventions are stable, semver-kept packages meant to be shared.
    if (name === '@opentelemetry/api' || name === '@opentelemetry/semantic-conventions') continue;
    assert.match(spec, /^\d+\.\d+\.\d+$/, `${name} is "${spec}": pin an exact version`);
    assert.equal(installed.get(name), spec, `${name}: installed version differs from package.json (run npm ci)`);
  }
  assert.equal(deps['@opentelemetry/otlp-grpc-exporter-base'], '0.223.1', 'otlp-transport.ts relies on 0.223.1 (see the comment there)');
  assert.equal(deps['@opentelemetry/otlp-transformer'], '0.223.1', 'otlp-trace-serializer.ts reproduces 0.223.1 byte for byte');
});
