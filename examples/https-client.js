#!/usr/bin/env node
// A small HTTPS client for trying tlsotel: requests on one keep-alive connection.
//   node examples/https-client.js https://127.0.0.1:8443/users/42 [more URLs...] [--repeat N] [--delay MS]
// Prints "STATUS URL BYTES" per response. Certificates are not verified (demo servers are self-signed).
'use strict';
const https = require('node:https');

const urls = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] || '').startsWith('--'));
const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const repeat = opt('repeat', 1);
const delay = opt('delay', 0);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });

function get(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { agent }, (res) => {
      let n = 0;
      res.on('data', (d) => { n += d.length; });
      res.on('end', () => { process.stdout.write(`${res.statusCode} ${url} ${n}\n`); resolve(); });
    }).on('error', reject);
  });
}

(async () => {
  if (!urls.length) urls.push('https://127.0.0.1:8443/users/42');
  for (let r = 0; r < repeat; r++) {
    for (const u of urls) {
      await get(u);
      if (delay) await new Promise((ok) => setTimeout(ok, delay));
    }
  }
  agent.destroy();
})().catch((e) => { process.stderr.write(`${e.message}\n`); process.exit(1); });
