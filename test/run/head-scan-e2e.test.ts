// The BPF side's HTTP/1 head search (bpf/tlsotel.bpf.c, skippable_head): which bodies it counts
// instead of copying, and how many bytes. Real TLS writes of crafted requests (one SSL_write
// each, on a connection of its own), read back from `tlsotel sniff`: every case is written at
// eight alignments (a Host value 0..7 bytes longer), because the search passes over eight bytes
// at a time where none is CR or LF, and a CR, an LF or a field name must be found wherever it
// falls in a word. A case the search must not skip is one it must leave for user space to copy:
// chunked, two lengths, LF-only lines, a length that is not a number, a head past the search.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, makeCert, python, requireRoot, start, type Proc } from '../helpers/procs';

const BODY = 2000;
const body = 'b'.repeat(BODY);
/** [name, the head's field lines after Host (each ending in CRLF), body bytes expected skipped]. */
const CASES: Array<[string, string, number]> = [
  ['plain', `Content-Length: ${BODY}\r\n`, BODY],
  ['lower-case', `content-length: ${BODY}\r\n`, BODY],
  ['upper-case', `CONTENT-LENGTH: ${BODY}\r\n`, BODY],
  ['spaces', `Content-Length:    ${BODY}   \r\n`, BODY],
  ['tab', `Content-Length:\t${BODY}\r\n`, BODY],
  ['after-others', `Accept: */*\r\nUser-Agent: head-scan/1.0 (a long enough value to span words)\r\nContent-Length: ${BODY}\r\nX-After: 1\r\n`, BODY],
  ['look-alike-names', `Content-Lengthy: 7\r\nX-Content-Length: 9\r\nContent-Type: text/plain\r\nContent-Length: ${BODY}\r\n`, BODY],
  ['non-ascii-value', `X-Name: caf\u00e9 \u00fcber na\u00efve\r\nContent-Length: ${BODY}\r\n`, BODY],
  ['chunked', `Transfer-Encoding: chunked\r\nContent-Length: ${BODY}\r\n`, 0],
  ['chunked-lower', `transfer-encoding: chunked\r\n`, 0],
  ['two-lengths', `Content-Length: ${BODY}\r\nContent-Length: ${BODY}\r\n`, 0],
  ['list-length', `Content-Length: ${BODY}, ${BODY}\r\n`, 0],
  ['not-a-number', `Content-Length: 2x00\r\n`, 0],
  ['empty-length', `Content-Length: \r\n`, 0],
  ['digits-space-digits', `Content-Length: 20 00\r\n`, 0],
  ['zero', `Content-Length: 0\r\n`, 0],
  ['no-length', `Accept: */*\r\n`, 0],
  ['long-head', `X-Long: ${'v'.repeat(2100)}\r\nContent-Length: ${BODY}\r\n`, 0],
];
const LF_ONLY = 'lf-only';

let dir: string;
let sniff: Proc | undefined;
const tag = `hs${process.pid}`;

before(() => {
  requireRoot();
  dir = makeCert().dir;
});

after(async () => {
  await sniff?.stop('SIGKILL');
});

/** The message of a case at an alignment: its request line names both. */
function message(name: string, fields: string, pad: number): string {
  const host = `Host: ${'h'.repeat(pad + 1)}.example\r\n`;
  const head = `POST /${tag}/${name}/${pad} HTTP/1.1\r\n${host}${fields}\r\n`;
  return name === LF_ONLY ? head.replace(/\r\n/g, '\n') + body : head + body;
}

test('the BPF head search skips exactly the bodies it can be sure of, at every alignment', async () => {
  const all: Array<[string, number, string, number]> = [];
  for (const [name, fields, want] of [...CASES, [LF_ONLY, `Content-Length: ${BODY}\r\n`, 0] as [string, string, number]]) {
    for (let pad = 0; pad < 8; pad++) all.push([name, pad, message(name, fields, pad), want]);
  }
  const file = path.join(dir, 'messages.json');
  fs.writeFileSync(file, JSON.stringify(all.map(([, , m]) => m)));
  // A TLS server that reads each connection to its end, and a client that writes each message in
  // one sendall (one SSL_write: each is under 16 KiB) on a connection of its own.
  const script = `
import json, socket, ssl, sys, threading
msgs = json.load(open(sys.argv[1]))
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(16)
def serve():
    while True:
        c = sctx.wrap_socket(ls.accept()[0], server_side=True)
        while c.recv(65536): pass
        c.close()
threading.Thread(target=serve, daemon=True).start()
cctx = ssl._create_unverified_context()
sys.stdin.readline()  # the sniffer is ready
for m in msgs:
    s = cctx.wrap_socket(socket.create_connection(ls.getsockname()))
    s.sendall(m.encode('utf-8'))
    s.close()
print('done', flush=True)
`;
  const client = start(python(), ['-c', script, file, path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')], { stdio: ['pipe', 'pipe', 'pipe'] });
  sniff = start(process.execPath, [CLI, 'sniff', '--pid', String(client.pid), '--preview-bytes', '64']);
  await sniff.waitFor(/ready/, 'stderr', 30_000);
  client.child.stdin!.write('go\n');
  await client.waitFor(/done/, 'stdout', 60_000);
  assert.equal((await client.exited).code, 0, client.stderr());
  // Each write shows up once, with its skipped bytes if any.
  const line = (name: string, pad: number) => new RegExp(` write +\\d+ B.*POST /${tag}/${name}/${pad} .*$`, 'm');
  await sniff.waitFor(line(LF_ONLY, 7), 'stdout', 15_000);
  await sniff.stop('SIGINT');
  const out = sniff.stdout();
  const wrong: string[] = [];
  for (const [name, pad, , want] of all) {
    const m = line(name, pad).exec(out);
    if (m === null) {
      wrong.push(`${name}/${pad}: no write record`);
      continue;
    }
    const skipped = /\+(\d+) B body skipped/.exec(m[0]);
    const got = skipped === null ? 0 : Number(skipped[1]);
    if (got !== want) wrong.push(`${name}/${pad}: skipped ${got}, want ${want}`);
  }
  assert.deepEqual(wrong, [], out.slice(-3000));
});
