#!/usr/bin/env python3
"""Load for the ring-buffer fault test: keep-alive HTTPS connections, each alternating a large
response (/big?bytes=N) with a small one (/status/CODE, chunked), plus a burst of small requests
on other connections. Prints one JSON list of every exchange it made: path, query, status, body
length, so the test knows exactly what was requested and answered.

usage: load-client.py PORT TAG BIG_THREADS ROUNDS BURST_THREADS BURST_N BIG_BYTES
"""
import http.client
import json
import os
import ssl
import sys
import threading

port, tag = int(sys.argv[1]), sys.argv[2]
# TLSF_COMM: a process name for the agent's --comm filter, set before any thread or TLS.
if os.environ.get('TLSF_COMM'):
    with open('/proc/self/comm', 'w') as f:
        f.write(os.environ['TLSF_COMM'])
big_threads, rounds, burst_threads, burst_n, big_bytes = (int(a) for a in sys.argv[3:8])
# Distinct status codes make a response paired with the wrong request visible in its span.
CODES = [200, 201, 202, 203, 206, 226, 404, 410, 500, 503]
ctx = ssl._create_unverified_context()
results = []
lock = threading.Lock()
failures = []


def get(c, path, query):
    c.request('GET', f'{path}?{query}')
    r = c.getresponse()
    body = r.read()
    with lock:
        results.append({'path': path, 'query': query, 'status': r.status, 'bytes': len(body)})


def big_worker(t):
    try:
        c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx)
        for k in range(rounds):
            get(c, '/big', f'bytes={big_bytes}&t={t}&k={k}&{tag}')
            get(c, f'/status/{CODES[(t + k) % len(CODES)]}', f't={t}&k={k}&{tag}')
        c.close()
    except Exception as e:  # reported, the test fails on it
        failures.append(f'big {t}: {e!r}')


def burst_worker(t):
    try:
        c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx)
        for k in range(burst_n):
            get(c, f'/status/{CODES[(7 * t + k) % len(CODES)]}', f'b={t}&k={k}&{tag}')
        c.close()
    except Exception as e:
        failures.append(f'burst {t}: {e!r}')


threads = [threading.Thread(target=big_worker, args=(t,)) for t in range(big_threads)]
threads += [threading.Thread(target=burst_worker, args=(t,)) for t in range(burst_threads)]
for th in threads:
    th.start()
for th in threads:
    th.join()
if failures:
    print('\n'.join(failures), file=sys.stderr)
    sys.exit(1)
print(json.dumps(results))
