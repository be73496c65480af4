// Configuration mistakes a user makes on the command line, met as a user meets them: the real
// CLI as a subprocess. Each is one line naming the flag and exit 2, before anything is loaded
// (so these need no root).
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CLI, run, start } from '../helpers/procs';

const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '' }, timeoutMs: 15_000 });

test('a bad flag value exits 2 with one line naming the flag and what it expects', async () => {
  const a = await cli(['run', '--ring-buffer-size', '3M']);
  assert.equal(a.code, 2, a.stderr);
  assert.equal(a.stderr, "tlsotel: --ring-buffer-size expects a power of two from 4k to 1G, like 8M or 65536, got '3M'\n");
  const b = await cli(['sniff', '--ring-buffer-size', '1k']);
  assert.equal(b.code, 2, b.stderr);
  assert.match(b.stderr, /^tlsotel: --ring-buffer-size expects a power of two/);
  const c = await cli(['run', '--stats-interval', 'often']);
  assert.equal(c.code, 2, c.stderr);
  assert.equal(c.stderr, "tlsotel: --stats-interval expects a duration like 30s or 500ms, got 'often'\n");
});

test('an unknown flag or a stray word points at --help', async () => {
  const a = await cli(['run', '--otlp-endpiont', 'http://x:4317']);
  assert.equal(a.code, 2);
  assert.equal(a.stderr, "tlsotel: unknown option '--otlp-endpiont' for 'run'; see tlsotel --help\n");
  const b = await cli(['doctor', 'now']);
  assert.equal(b.code, 2);
  assert.equal(b.stderr, "tlsotel: unexpected argument 'now' for 'doctor'; see tlsotel --help\n");
});

test('--otlp-endpoint without a scheme is an error saying to write http:// or https://', async () => {
  const r = await cli(['run', '--otlp-endpoint', 'localhost:4317']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, "tlsotel: --otlp-endpoint 'localhost:4317' has no scheme; write http://localhost:4317 (plaintext) or https://localhost:4317 (TLS)\n");
});

test('--pid of a process that does not exist: "no process N", exit 2', async () => {
  const gone = start('true', []);
  await gone.exited;
  assert.ok(!fs.existsSync(`/proc/${gone.pid}`));
  for (const command of ['run', 'sniff']) {
    const r = await cli([command, '--pid', String(gone.pid)]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^tlsotel: --pid ${gone.pid}: no process ${gone.pid} `));
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1);
  }
});

test('--comm longer than the kernel keeps (15 characters) is an error that says so', async () => {
  const r = await cli(['sniff', '--comm', 'my-long-server-name']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, "tlsotel: --comm expects 1 to 8 process names separated by commas, each of 1 to 15 bytes (the kernel keeps a process name's first 15 bytes), got 'my-long-server-name'\n");
});

test('an invalid endpoint variable exits 2 naming the variable', async () => {
  const r = await run(process.execPath, [CLI, 'run'], { env: { ...process.env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://collector:21' }, timeoutMs: 15_000 });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^tlsotel: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT 'ftp:\/\/collector:21' uses ftp:/);
});
