#!/usr/bin/env python3
"""An HTTPS server (Python's ssl: the system libssl) for one connection: it reads one request,
writes the status line, the headers (Content-Length: TOTAL) and the first SENT bytes of the body
(nothing at all when TOTAL is 0), prints "stalled <request line>", and then never writes again,
until it is killed.

usage: stall-server.py CERT KEY TOTAL SENT
"""
import socket
import ssl
import sys
import time

cert, key, total, sent = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', 0))
ls.listen(8)
print('listening', ls.getsockname()[1], flush=True)
conn, _ = ls.accept()
s = ctx.wrap_socket(conn, server_side=True)
req = b''
while b'\r\n\r\n' not in req:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit(1)
    req += chunk
if total > 0:
    s.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n' % total)
    s.sendall(b'a' * sent)
print('stalled', req.split(b'\r\n', 1)[0].decode(), flush=True)
time.sleep(3600)
