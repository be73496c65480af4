#!/usr/bin/env python3
"""Client for the close-record fault test: a connection's close record is lost to a full ring
buffer, and the next connection gets the freed SSL's address.

Each round: connection A asks R1 (answered while the agent reads), then sends R2. The agent is
stopped (SIGSTOP: it reads nothing, the 4 KiB ring fills up with a filler connection's
exchanges, then with the close records of SSL objects freed at once), A reads R2's answer (lost
to the full ring) and closes (its close record does not fit either). The agent is continued; connection B, usually at A's freed SSL address, asks R3.
Prints one JSON object per round: whether B's SSL* was A's (checked to be the SSL* by
SSL_get_fd, so that the test knows the reuse it is about really happened).

With HOLD (odd rounds), an SSL object made right after A is freed takes A's address and is kept
until the process exits: B gets another address, and A's owed close has no next record to go
with. After printing, the client stays 10 s: what the agent reports of A meanwhile, it found
by itself, not at this process's exit.

usage: close-lost-client.py AGENT_PID PORT TAG ROUNDS [HOLD]
"""
import ctypes
import gc
import http.client
import json
import os
import signal
import ssl
import sys
import time

agent, port, tag, rounds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
hold = len(sys.argv) > 5 and sys.argv[5] == 'HOLD'
if os.environ.get('TLSF_COMM'):
    with open('/proc/self/comm', 'w') as f:
        f.write(os.environ['TLSF_COMM'])
ctx = ssl._create_unverified_context()
libssl = ctypes.CDLL('libssl.so.3')  # the one CPython's _ssl uses on Debian 12
libssl.SSL_get_fd.argtypes = [ctypes.c_void_p]


def ssl_ptr(conn):
    """The SSL* under an http.client connection (CPython's PySSLSocket: ob_refcnt, ob_type,
    Socket, then SSL *ssl), checked: SSL_get_fd of it is the socket's descriptor."""
    sock = conn.sock
    ptr = ctypes.c_void_p.from_address(id(sock._sslobj) + 24).value
    if libssl.SSL_get_fd(ptr) != sock.fileno():
        raise SystemExit(f'not an SSL*: {ptr:#x}')
    return ptr


def connect():
    c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx)
    c.connect()
    return c


def get(c, path):
    c.request('GET', path)
    r = c.getresponse()
    r.read()
    return r.status


out = []
holds = []  # never freed before the exit: freeing one would send the close owed at its address
for i in range(rounds):
    a = connect()
    assert get(a, f'/status/201?{tag}-{i}-r1') == 201
    a.request('GET', f'/status/202?{tag}-{i}-r2')
    time.sleep(0.3)
    os.kill(agent, signal.SIGSTOP)
    try:
        filler = connect()
        for k in range(40):
            get(filler, f'/status/200?{tag}-{i}-fill')
        r = a.getresponse()
        r.read()
        assert r.status == 202
        # The ring is full for data records, but a close record is smaller: fill what is left
        # with the close records of SSL objects made and freed at once (SSL_new, SSL_free).
        for k in range(64):
            ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
        pa = ssl_ptr(a)
        del r
        a.close()
        del a
        gc.collect()  # SSL_free now, while the ring is full
        if hold and i % 2 == 1:
            holds.append(ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO()))
        time.sleep(0.1)
    finally:
        os.kill(agent, signal.SIGCONT)
    time.sleep(0.5)  # the agent drains the ring
    b = connect()
    pb = ssl_ptr(b)
    assert get(b, f'/status/203?{tag}-{i}-r3') == 203
    b.close()
    filler.close()
    out.append({'round': i, 'reused': pa == pb})
    time.sleep(0.2)
print(json.dumps(out), flush=True)
time.sleep(10)
