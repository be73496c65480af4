#!/usr/bin/env python3
"""N concurrent keep-alive HTTPS connections (asyncio + ssl: memory BIOs over the system libssl).
Each connection makes one request (GET /conn/TAG/I) and reads its response; all are then held
open at once ("held ..."), until SIGUSR1; then closed together ("closed ..."), and the process
stays alive until killed, so that connection state can only be freed by the close itself, not by
the process exiting.

usage: many-conns.py PORT TAG N
"""
import asyncio
import gc
import os
import resource
import signal
import ssl
import sys
import time

port, tag, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
# TLSF_COMM: a process name for the agent's --comm filter, set before any thread or TLS.
if os.environ.get('TLSF_COMM'):
    with open('/proc/self/comm', 'w') as f:
        f.write(os.environ['TLSF_COMM'])
want = n + 1024
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
ctx = ssl._create_unverified_context()


async def open_one(i, sem):
    async with sem:  # bounded handshakes in flight: the listen backlog is finite
        r, w = await asyncio.open_connection('127.0.0.1', port, ssl=ctx)
        w.write(f'GET /conn/{tag}/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.encode())
        await w.drain()
        head = await r.readuntil(b'\r\n\r\n')
        status = int(head.split(b' ', 2)[1])
        length = 0
        for line in head.split(b'\r\n')[1:]:
            k, _, v = line.partition(b':')
            if k.strip().lower() == b'content-length':
                length = int(v)
        await r.readexactly(length)
        return w, status


async def main():
    t0 = time.monotonic()
    sem = asyncio.Semaphore(200)
    conns = await asyncio.gather(*(open_one(i, sem) for i in range(n)))
    ok = sum(1 for _, s in conns if s == 200)
    go = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, go.set)
    print(f'held {len(conns)} ok={ok} in {time.monotonic() - t0:.1f}s', flush=True)
    await go.wait()
    for w, _ in conns:
        w.close()
    await asyncio.gather(*(w.wait_closed() for w, _ in conns), return_exceptions=True)
    conns = None
    gc.collect()  # drop the SSL objects now (SSL_free), not at exit
    print('closed', flush=True)
    await asyncio.sleep(3600)


asyncio.run(main())
