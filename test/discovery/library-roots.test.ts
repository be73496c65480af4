// Library roots without BPF (attaching is faked; the files are real): '*' components expand to
// the directories present now (image layers), files are offered by the libraries' names or,
// for a library that claims files without symbols (Go), any executable ELF file of some size;
// a later pass finds a file added since (a layer unpacked after start), and a file already
// looked at is not analysed again unless it changed; a layer found the same twice is walked
// again only every 10th pass. The walk is bounded in depth and entries.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Discovery } from '../../src/discovery/discovery';
import { expandRoot, walkRoot } from '../../src/discovery/library-roots';
import { silentLogger } from '../../src/util/log';
import { TLS_LIBRARIES } from '../../src/tls';
import type { TlsLibrary } from '../../src/tls/library';

const LIBSSL = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-roots-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function put(rel: string, from: string): string {
  const to = path.join(root, rel);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  return to;
}

function discovery(roots: string[], libraries: readonly TlsLibrary[] = TLS_LIBRARIES, maxEntries = 100_000): { d: Discovery; attached: string[]; examined: number[] } {
  const attached: string[] = [];
  const examined: number[] = [];
  const d = new Discovery({
    procRoot: path.join(root, 'no-proc'),
    libDirs: [],
    binDirs: [],
    log: silentLogger,
    libraries,
    libraryRoots: roots,
    rootLimits: { maxDepth: 8, maxEntries },
    attach: (file) => {
      attached.push(file);
      return ['probed'];
    },
    onFileExamined: (f) => examined.push(f.ino),
  });
  return { d, attached, examined };
}

test("'*' matches one path component, of directories that exist now", () => {
  fs.mkdirSync(path.join(root, 'snapshots/1/fs'), { recursive: true });
  fs.mkdirSync(path.join(root, 'snapshots/22/fs'), { recursive: true });
  fs.mkdirSync(path.join(root, 'snapshots/3'), { recursive: true });
  fs.writeFileSync(path.join(root, 'snapshots/file'), '');
  assert.deepEqual(expandRoot(path.join(root, 'snapshots/*/fs')).sort(), [path.join(root, 'snapshots/1/fs'), path.join(root, 'snapshots/22/fs')].sort());
  assert.deepEqual(expandRoot('/nonexistent/*/fs'), []);
  assert.deepEqual(expandRoot('/nonexistent'), []);
  assert.deepEqual(expandRoot(path.join(root, 'snapshots')), [path.join(root, 'snapshots')]);
});

test('a pass finds a layer\'s libssl by name and a program carrying TLS by content; the next pass finds what was added, and analyses nothing twice', () => {
  const lib = put('layers/a/diff/usr/lib/x86_64-linux-gnu/libssl.so.3', LIBSSL);
  put('layers/a/diff/usr/bin/true', '/bin/true'); // executable, not TLS, small: not offered
  const { d, attached, examined } = discovery([path.join(root, 'layers/*/diff')]);
  const [first] = d.scanLibraryRoots();
  assert.deepEqual(attached, [lib]);
  assert.equal(first!.dirs, 1);
  assert.deepEqual(first!.claimed, [lib]);
  assert.equal(examined.length, 1, 'only the library was analysed (the small executable is skipped unread)');

  // A layer unpacked later, holding node (OpenSSL inside, found by its name).
  const node = put('layers/b/diff/usr/local/bin/node', process.execPath);
  const [second] = d.scanLibraryRoots();
  assert.deepEqual(attached, [lib, node]);
  assert.equal(second!.dirs, 2);
  assert.deepEqual(second!.claimed.sort(), [lib, node].sort());
  assert.equal(examined.length, 2, 'the libssl seen before was not analysed again');
  assert.equal(d.stats.rootAttached, 2);
  assert.equal(d.stats.rootPasses, 2);

  // Layer a was found the same twice: it is complete, walked again only every 10th pass.
  const late = put('layers/a/diff/opt/libssl.so.3', LIBSSL);
  d.scanLibraryRoots();
  assert.ok(!attached.includes(late), 'a stable layer is not walked every pass');
  while (d.stats.rootPasses < 11) d.scanLibraryRoots();
  assert.ok(attached.includes(late), 'but it is every 10th pass');
});

test('with a library that claims files without symbols, any executable ELF file of some size is offered; not scripts or small tools', () => {
  const offered: string[] = [];
  const anyFile: TlsLibrary = { name: 'any', symbols: [], claimsWithoutSymbols: true, claim: (f) => { offered.push(f.path); return undefined; } };
  const big = put('any/app/server', process.execPath);
  const script = path.join(root, 'any/app/run.sh');
  fs.writeFileSync(script, `#!/bin/sh\n${'#'.repeat(600 * 1024)}\n`, { mode: 0o755 });
  put('any/app/true', '/bin/true');
  const data = put('any/app/data.bin', process.execPath);
  fs.chmodSync(data, 0o644); // not executable
  const { d } = discovery([path.join(root, 'any')], [anyFile]);
  d.scanLibraryRoots();
  assert.deepEqual(offered, [big]);
  d.scanLibraryRoots();
  assert.deepEqual(offered, [big], 'not offered again: unchanged');
  fs.utimesSync(big, new Date(), new Date(Date.now() + 5000));
  d.scanLibraryRoots();
  assert.deepEqual(offered, [big, big], 'offered again once modified');
});

test('the walk stays within its depth and its entry budget', () => {
  put('deep/1/2/3/libssl.so.3', LIBSSL);
  const seen: string[] = [];
  walkRoot(path.join(root, 'deep'), { maxDepth: 2, maxEntries: 100 }, { entries: 100 }, (f) => seen.push(f));
  assert.deepEqual(seen, [], 'below the depth limit');
  const deeper: string[] = [];
  walkRoot(path.join(root, 'deep'), { maxDepth: 3, maxEntries: 100 }, { entries: 100 }, (f) => deeper.push(f));
  assert.deepEqual(deeper, [path.join(root, 'deep/1/2/3/libssl.so.3')]);
  const budget = { entries: 2 };
  assert.equal(walkRoot(path.join(root, 'deep'), { maxDepth: 8, maxEntries: 2 }, budget, () => {}), false, 'out of budget: reported');
  const { d } = discovery([path.join(root, 'deep')], TLS_LIBRARIES, 2);
  assert.equal(d.scanLibraryRoots()[0]!.truncated, true);
});

test('a directory two patterns name (the host\'s layers directly and through /proc/1/root) is walked once a pass', () => {
  const lib = put('twice/layer/libssl.so.3', LIBSSL);
  fs.symlinkSync(path.join(root, 'twice'), path.join(root, 'twice-link'));
  const { d, attached } = discovery([path.join(root, 'twice'), path.join(root, 'twice-link')]);
  const [a, b] = d.scanLibraryRoots();
  assert.equal(a!.dirs, 1);
  assert.equal(b!.dirs, 0, 'the same directory, already walked this pass');
  assert.deepEqual(attached, [lib]);
});
