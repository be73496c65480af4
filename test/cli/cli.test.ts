// The command line as a user meets it: help, bad flags, missing permission, sniff's output,
// and shutdown on a signal.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startNginx } from '../helpers/nginx';
import { CLI, makeCert, requireRoot, ROOT, run, start, startHttpsServer } from '../helpers/procs';
import { COMMAND_FLAGS } from '../../src/cli/options';
import { HELP } from '../../src/cli/help';

const DROP = ['--drop=cap_bpf,cap_perfmon,cap_sys_admin', '--'];

test('--help documents every command and flag', async () => {
  const r = await run(process.execPath, [CLI, '--help']);
  assert.equal(r.code, 0);
  for (const word of ['sniff', 'doctor', '--pid', '--comm', '--capture-bytes', '--capture-segments', '--ring-buffer-size', '--keep-bodies', '--hold-new-programs', '--preview-bytes', '--verbose']) {
    assert.ok(r.stdout.includes(word), `help mentions ${word}`);
  }
});

test('every flag of every command is in --help and in the README options table', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const options = readme.slice(readme.indexOf('### Options'), readme.indexOf('## Spans'));
  for (const [command, flags] of Object.entries(COMMAND_FLAGS)) {
    for (const name of Object.keys(flags)) {
      assert.ok(HELP.includes(`--${name}`), `--help mentions --${name} (${command})`);
      if (name !== 'help' && name !== 'verbose') assert.ok(options.includes(`\`--${name}`), `README options table lists --${name}`);
    }
  }
});

test('an unknown flag or a bad value is one line and exit 2', async () => {
  const a = await run(process.execPath, [CLI, 'sniff', '--bogus']);
  assert.equal(a.code, 2);
  assert.equal(a.stderr, "tlsotel: unknown option '--bogus' for 'sniff'; see tlsotel --help\n");
  const b = await run(process.execPath, [CLI, 'sniff', '--capture-bytes', '99999']);
  assert.equal(b.code, 2);
  assert.equal(b.stderr, "tlsotel: --capture-bytes expects an integer from 1 to 16384, got '99999'\n");
  const c = await run(process.execPath, [CLI, 'frobnicate']);
  assert.equal(c.code, 2);
});

test('without BPF capabilities, sniff prints a one-line reason and exits non-zero', async () => {
  requireRoot();
  const r = await run('capsh', [...DROP, '-c', `exec ${process.execPath} ${CLI} sniff`]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr, /^tlsotel: tlsotel needs CAP_SYS_ADMIN to create uprobes .*run tlsotel as root/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('without BPF capabilities, doctor says which check failed and how to fix it, and exits non-zero', async () => {
  requireRoot();
  const r = await run('capsh', [...DROP, '-c', `exec ${process.execPath} ${CLI} doctor`]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^\[fail\] permission CAP_SYS_ADMIN: tlsotel needs CAP_SYS_ADMIN to create uprobes .*run tlsotel as root/m);
  assert.match(r.stdout, /^\[ ok \] permission CAP_SYS_PTRACE: held: needed to follow \/proc\/PID\/exe/m);
  assert.match(r.stdout, /check\(s\) failed/);
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, 'no stack trace');
});

test('output into a pipe that closes early (doctor | head -1) ends quietly, no stack trace', async () => {
  requireRoot();
  const r = await run('bash', ['-c', `set -o pipefail; ${process.execPath} ${CLI} doctor | head -1; echo "status \${PIPESTATUS[0]}" >&2`]);
  assert.match(r.stdout, /^\[ ok \] kernel: /);
  assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, r.stderr);
  assert.match(r.stderr, /status 0/);
});

test('doctor as root: every check passes and the TLS libraries are listed', async () => {
  requireRoot();
  const r = await run(process.execPath, [CLI, 'doctor']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^\[ ok \] load and attach: BPF program loaded and attached/m);
  assert.match(r.stdout, /^\[ ok \] --hold-new-programs: may hold any process \(CAP_KILL/m, 'root, unconfined');
  // Debian's libssl: probes on the internal functions both wrappers call (cheap entry, BIO_f_ssl seen too).
  // With its version: its libcrypto's (the one `openssl version` reports), as libssl has none.
  const ssl = /^OpenSSL (\S+) /.exec(execFileSync('openssl', ['version'], { encoding: 'utf8' }))![1].replace(/\./g, '\\.');
  assert.match(r.stdout, new RegExp(`libssl\\.so\\.3 .*: openssl ${ssl}; writes on ssl_write_internal .*; version from libcrypto\\.so\\.3 beside it: ssl_write_internal@0x[0-9a-f]+, ssl_read_internal@0x[0-9a-f]+, SSL_free$`, 'm'));
  assert.match(r.stdout, new RegExp(`/node .*: openssl ${process.versions.openssl.replace(/\+.*$/, '').replace(/\./g, '\\.')}; .*SSL_write`));
  const gnutlsVersion = /gnutls-cli (\S+)/.exec(execFileSync('gnutls-cli', ['--version'], { encoding: 'utf8' }))![1];
  assert.match(r.stdout, new RegExp(`libgnutls\\.so\\.30[.\\d]* .*: gnutls ${gnutlsVersion.replace(/\./g, '\\.')}; writes on gnutls_record_send2`));
});

test('sniff shows HTTP/2 frame by frame: type, stream, flags and the decoded fields', async () => {
  requireRoot();
  const cert = makeCert();
  const nginx = await startNginx(cert, { http2: true });
  const sniff = start(process.execPath, [CLI, 'sniff', '--comm', 'curl']);
  try {
    await sniff.waitFor(/ready/, 'stderr', 20_000);
    const curl = start('curl', ['-sk', '--http2', '-o', '/dev/null', `https://127.0.0.1:${nginx.port}/sniffed-h2-${process.pid}`]);
    assert.equal((await curl.exited).code, 0);
    await sniff.waitFor(new RegExp(`curl\\[${curl.pid}\\] libssl\\.so\\.3 \\(openssl\\) write \\d+ B HTTP/2$`, 'm'));
    await sniff.waitFor(/^ {4}write PREFACE$/m);
    await sniff.waitFor(/^ {4}write HEADERS stream=1 flags=END_STREAM\|END_HEADERS/m);
    await sniff.waitFor(new RegExp(`^ {4}.*:path: /sniffed-h2-${process.pid}`, 'm'));
    await sniff.waitFor(/^ {4}read HEADERS stream=1 .*\n(?: {4}.*\n)*? {4}.*:status: 200/m);
    assert.ok(!sniff.stdout().includes('PRI * HTTP/2.0'), 'frames, not escaped bytes');
  } finally {
    await sniff.stop('SIGINT');
    await nginx.stop('SIGTERM');
  }
});

test('sniff prints each chunk with time, pid, process, library, direction, length, preview; SIGINT detaches and exits 0', async () => {
  requireRoot();
  const cert = makeCert();
  const server = await startHttpsServer(cert);
  const sniff = start(process.execPath, [CLI, 'sniff', '--comm', 'curl']);
  try {
    await sniff.waitFor(/ready/, 'stderr', 20_000);
    const curl = start('curl', ['-sk', '--http1.1', `https://127.0.0.1:${server.port}/sniffed-${process.pid}`],
      { env: { ...process.env, OTEL_SERVICE_NAME: `sniffed-${process.pid}`, SNIFF_SECRET: 'not-shown' } });
    assert.equal((await curl.exited).code, 0);
    // Who it is, as the probes took it at its first connection: how much of its environment was
    // taken and its OTEL_SERVICE_NAME, never the rest of it.
    await sniff.waitFor(new RegExp(`curl\\[${curl.pid}\\] process exe "curl"( cgroup "[^"]+")? service "sniffed-${process.pid}", \\d+ B of environment taken \\((all of it|part of it: .*)\\)$`, 'm'));
    const line = await sniff.waitFor(new RegExp(`^(\\d\\d:\\d\\d:\\d\\d\\.\\d{3}) curl\\[${curl.pid}\\] libssl\\.so\\.3 \\(openssl\\) write (\\d+) B "GET /sniffed-${process.pid} HTTP/1\\.1\\\\r\\\\nHost: `, 'm'));
    assert.ok(Number(line[2]) > 40);
    await sniff.waitFor(new RegExp(`curl\\[${curl.pid}\\] libssl\\.so\\.3 \\(openssl\\) read +\\d+ B "HTTP/1\\.1 200 OK\\\\r\\\\n`, 'm'));
    await sniff.waitFor(new RegExp(`curl\\[${curl.pid}\\] libssl\\.so\\.3 \\(openssl\\) close \\(closed\\)`, 'm'));
    assert.ok(!sniff.stdout().includes('node['), '--comm filters other processes');
    assert.ok(!sniff.stdout().includes('not-shown'), 'the environment is not printed');
    const t0 = Date.now();
    const { code } = await sniff.stop('SIGINT');
    assert.equal(code, 0, sniff.stderr());
    assert.ok(Date.now() - t0 < 10_000);
    assert.match(sniff.stderr(), /stopped: detached (\d+) probes/);
    const n = Number(/detached (\d+) probes/.exec(sniff.stderr())![1]);
    assert.ok(n >= 9, `detached ${n} probes`);
  } finally {
    await sniff.stop('SIGKILL');
    await server.stop();
  }
});

test('a process whose environment is too large for its record: the probes take its OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, whole, and no other entry', async () => {
  requireRoot();
  const server = await startHttpsServer(makeCert());
  const sniff = start(process.execPath, [CLI, 'sniff', '--comm', 'curl']);
  try {
    await sniff.waitFor(/ready/, 'stderr', 20_000);
    const service = `large-env-${process.pid}`;
    const attributes = 'deployment.environment.name=sniffed';
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      // Credentials in another OTEL_ variable: never taken.
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer not-taken',
      OTEL_SERVICE_NAMES: 'a name that only begins like a kept one',
    };
    for (let i = 0; i < 60; i++) env[`SERVICE_${i}_PORT`] = 'x'.repeat(500);
    env.OTEL_SERVICE_NAME = service;
    env.OTEL_RESOURCE_ATTRIBUTES = attributes;
    const curl = start('curl', ['-sk', '--http1.1', '-o', '/dev/null', `https://127.0.0.1:${server.port}/large-env-${process.pid}`], { env });
    assert.equal((await curl.exited).code, 0);
    // The two entries, each with its NUL, and nothing else.
    const taken = `OTEL_SERVICE_NAME=${service}\0OTEL_RESOURCE_ATTRIBUTES=${attributes}\0`.length;
    await sniff.waitFor(new RegExp(`curl\\[${curl.pid}\\] process exe "curl"( cgroup "[^"]+")? service "${service}", ${taken} B of environment taken \\(part of it`, 'm'));
  } finally {
    await sniff.stop('SIGINT');
    await server.stop();
  }
});

test('--comm with several names: each named program is traced, and nothing of the others reaches the ring buffer (filtered in BPF)', async () => {
  requireRoot();
  const server = await startHttpsServer(makeCert());
  // The server (node, also a TLS program) is not named: its records must not even be written.
  const sniff = start(process.execPath, [CLI, 'sniff', '--comm', 'wget,curl,nosuchprog42']);
  try {
    await sniff.waitFor(/ready/, 'stderr', 20_000);
    // Names nothing runs under yet are said at start (a typo would otherwise trace nothing,
    // silently); curl and wget start later, and are traced then.
    assert.match(sniff.stderr(), /^tlsotel warn: --comm: no thread is named (?:'(?:wget|curl)', )*'nosuchprog42' now; traced once one is/m);
    const url = `https://127.0.0.1:${server.port}/comms-${process.pid}`;
    const curl = start('curl', ['-sk', '--http1.1', `${url}?by=curl`]);
    assert.equal((await curl.exited).code, 0);
    const wget = start('wget', ['-q', '--no-check-certificate', '-O', '/dev/null', `${url}?by=wget`]);
    assert.equal((await wget.exited).code, 0);
    for (const [name, pid] of [['curl', curl.pid], ['wget', wget.pid]] as const) {
      // (wget is built with GnuTLS on Debian, curl with OpenSSL.)
      await sniff.waitFor(new RegExp(`${name}\\[${pid}\\] \\S+ \\(\\w+\\) write +\\d+ B "GET /comms-${process.pid}\\?by=${name} `, 'm'));
      await sniff.waitFor(new RegExp(`${name}\\[${pid}\\] \\S+ \\(\\w+\\) read +\\d+ B "HTTP/1\\.1 200 OK`, 'm'));
    }
    assert.equal((await sniff.stop('SIGINT')).code, 0, sniff.stderr());
    assert.ok(!sniff.stdout().includes('node['), 'the server is not traced');
    // Every record written to the ring is one of the named programs' (each is printed): the
    // server's were filtered before the ring, not after it.
    const written = Number(/stopped: .*; (\d+) records,/.exec(sniff.stderr())?.[1]);
    const printed = sniff.stdout().split('\n').filter((l) => /^\d\d:\d\d:\d\d\.\d{3} (?:curl|wget)\[\d+\] (?:\S+ \(\w+\) (?:write|read) |conn fd )/.test(l)).length;
    assert.ok(written > 0 && written <= printed, `${written} records written, ${printed} printed:\n${sniff.stdout()}`);
  } finally {
    await sniff.stop('SIGKILL');
    await server.stop();
  }
});
