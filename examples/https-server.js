#!/usr/bin/env node
// A small HTTPS server for trying tlsotel (and for its tests). Plain Node.js, no dependencies.
//   node examples/https-server.js [--port 8443] [--host 127.0.0.1] [--cert c.pem --key k.pem]
// Without --cert/--key it makes a throwaway self-signed certificate with the openssl command.
// Routes: GET /big?bytes=N (N bytes), /status/NNN (that status), POST anything (echoes the
// body size), anything else: a small JSON body. Prints "listening PORT" once ready.
'use strict';
const https = require('node:https');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

function selfSigned() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsotel-cert-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

const files = arg('cert') ? { cert: arg('cert'), key: arg('key') } : selfSigned();
const server = https.createServer({ cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) }, (req, res) => {
  let size = 0;
  req.on('data', (d) => { size += d.length; });
  req.on('end', () => {
    const url = new URL(req.url, 'https://x');
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('bytes') || 1048576);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
      res.end(Buffer.alloc(n, 0x61));
    } else if (status) {
      res.writeHead(Number(status[1]), { 'content-type': 'text/plain' });
      res.end(`status ${status[1]}\n`);
    } else {
      const body = JSON.stringify({ method: req.method, path: url.pathname, received: size });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }
  });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(arg('port', 8443)), arg('host', '127.0.0.1'), () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
