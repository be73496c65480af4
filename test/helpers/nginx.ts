// A private nginx with TLS on a free loopback port, for tests (Debian's nginx, installed by
// scripts/install-test-deps.sh). Its own prefix, pid file and logs: nothing of the system's.
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { getFreePort } from './otlp-receiver';
import { start, type Proc } from './procs';

export interface Nginx extends Proc {
  port: number;
  dir: string;
}

/** A private nginx with TLS on a free loopback port; `http2` offers h2 by ALPN (curl then uses
 *  it unless told --http1.1); `files` serves that directory at /files/ (Content-Length) and at
 *  /gz/ (gzip for clients that accept it: chunked over HTTP/1.1), and takes PUT /upload/NAME
 *  (201 once the whole body is read); `binary` runs nginx under
 *  another path (a symlink: another process name for --comm). */
export async function startNginx(cert: { dir: string; cert: string; key: string }, opts: { http2?: boolean; files?: string; binary?: string } = {}): Promise<Nginx> {
  const port = await getFreePort();
  const dir = path.join(cert.dir, `nginx-${port}`);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, `
daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl${opts.http2 ? ' http2' : ''};
    ssl_certificate ${cert.cert};
    ssl_certificate_key ${cert.key};
    keepalive_requests 10000;
    default_type text/plain;
    location = /status/404 { return 404 "not found\\n"; }
    location = /status/500 { return 500 "boom\\n"; }
    location = /status/201 { return 201 "created\\n"; }
${opts.files === undefined ? '' : `    location /files/ { alias ${opts.files}/; }
    location /gz/ { alias ${opts.files}/; gzip on; gzip_types *; gzip_min_length 1; }
    location /upload/ { root ${dir}; dav_methods PUT; create_full_put_path on; client_max_body_size 64m; }
`}    location / { return 200 "ok\\n"; }
  }
}
`);
  const p = start(opts.binary ?? '/usr/sbin/nginx', ['-p', dir, '-c', conf, '-e', `${dir}/error.log`]);
  // Ready when it accepts TLS connections.
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() - t0 > 10_000) throw new Error(`nginx did not start: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.assign(p, { port, dir });
}
