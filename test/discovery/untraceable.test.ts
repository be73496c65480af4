// A program whose TLS stack cannot be traced (Python's grpcio, Java, NSS, …) makes no span; the
// agent says why, once per file, when it finds such a file mapped: a log line, and doctor's list.
// Discovery on a fake proc root (as discovery-scan.test.ts): the files are real ELF files under
// the names those stacks use; nothing is attached.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Discovery } from '../../src/discovery/discovery';
import { silentLogger } from '../../src/util/log';
import { TLS_LIBRARIES, untraceableStack } from '../../src/tls';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-untraceable-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('untraceableStack names the stacks by their files, and nothing else', () => {
  assert.match(untraceableStack('/usr/lib/python3/dist-packages/grpc/_cython/cygrpc.cpython-311-x86_64-linux-gnu.so')!, /grpcio/);
  assert.match(untraceableStack('/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so')!, /JSSE/);
  assert.match(untraceableStack('/usr/lib/x86_64-linux-gnu/libssl3.so')!, /NSS/);
  assert.match(untraceableStack('/usr/local/bin/envoy')!, /Envoy/);
  for (const p of ['/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/bin/envoy-helper', '/opt/cygrpc.so', '/usr/lib/libjvm.so.bak']) {
    assert.equal(untraceableStack(p), undefined, p);
  }
});

test('a mapped file of such a stack is noted once, with the pid that mapped it; a plain file is not', () => {
  const fsDir = path.join(root, 'fs');
  const lib = path.join(fsDir, 'usr/lib/python3/dist-packages/grpc/_cython');
  fs.mkdirSync(lib, { recursive: true });
  const grpc = path.join(lib, 'cygrpc.cpython-311-x86_64-linux-gnu.so');
  fs.copyFileSync('/bin/true', grpc); // an ELF file with no TLS library's symbols, as that module
  const plain = path.join(fsDir, 'usr/lib/libplain.so');
  fs.copyFileSync('/bin/true', plain);
  const procDir = path.join(root, 'proc');
  const mapping = (file: string) => {
    const st = fs.statSync(file);
    const dev = `${(st.dev >> 8).toString(16).padStart(2, '0')}:${(st.dev & 0xff).toString(16).padStart(2, '0')}`;
    return `7f0000000000-7f0000100000 r-xp 00000000 ${dev} ${st.ino}    /${path.relative(fsDir, file)}\n`;
  };
  fs.mkdirSync(path.join(procDir, '4242'), { recursive: true });
  fs.writeFileSync(path.join(procDir, '4242', 'maps'), mapping(grpc) + mapping(plain));
  fs.symlinkSync(fsDir, path.join(procDir, '4242', 'root'));
  const infos: string[] = [];
  const d = new Discovery({
    procRoot: procDir,
    libDirs: [],
    binDirs: [],
    log: { ...silentLogger, info: (m: string) => infos.push(m) },
    libraries: TLS_LIBRARIES,
    untraceable: untraceableStack,
    attach: () => { throw new Error('nothing is attached here'); },
  });
  d.scanProcesses();
  d.scanProcesses();
  assert.deepEqual(d.untraceableFiles.map((u) => u.path), ['/usr/lib/python3/dist-packages/grpc/_cython/cygrpc.cpython-311-x86_64-linux-gnu.so']);
  assert.match(d.untraceableFiles[0]!.what, /grpcio/);
  const lines = infos.filter((l) => l.startsWith('not traced: '));
  assert.equal(lines.length, 1, infos.join('\n'));
  assert.match(lines[0]!, /cygrpc\.cpython-311-x86_64-linux-gnu\.so \(pid 4242\): Python's grpcio/);
});
