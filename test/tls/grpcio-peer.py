#!/usr/bin/env python3
"""A gRPC peer made with Python's grpcio (BoringSSL built into its cygrpc module, no symbols),
for test/tls/grpcio-e2e.test.ts. No .proto: messages are raw bytes.

  grpcio-peer.py server CERT KEY        serves helloworld.Greeter as test/helpers/greeter.ts does:
                                        SayHello ("hello " + request), Fail (NOT_FOUND, "no such
                                        greeting"), LotsOfReplies (3 replies 100 ms apart), on
                                        127.0.0.1; prints "listening N"; runs until killed
  grpcio-peer.py client CERT PORT SPEC  SPEC: "CHANNELSxCALLS[xBYTES]": that many channels one
                                        after another (each a new TLS connection, closed after
                                        its calls), each making that many SayHello calls (the
                                        request BYTES long, default a few), then one Fail;
                                        prints "done"
  grpcio-peer.py load CERT PORT CONNS SECONDS
                                        a load for bench/grpcio.ts: CONNS channels, a thread
                                        each making SayHello calls back to back for SECONDS;
                                        prints one JSON line: calls, latency percentiles (µs),
                                        this process's CPU seconds
"""
import sys
import threading
import time
from concurrent import futures

import grpc

ident = lambda b: b


def serve(cert, key):
    def say_hello(request, context):
        return b'hello ' + request

    def fail(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, 'no such greeting')

    def lots_of_replies(request, context):
        for n in range(3):
            if n:
                time.sleep(0.1)
            yield f'reply {n}'.encode()

    handler = grpc.method_handlers_generic_handler('helloworld.Greeter', {
        'SayHello': grpc.unary_unary_rpc_method_handler(say_hello, ident, ident),
        'Fail': grpc.unary_unary_rpc_method_handler(fail, ident, ident),
        'LotsOfReplies': grpc.unary_stream_rpc_method_handler(lots_of_replies, ident, ident),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials([(open(key, 'rb').read(), open(cert, 'rb').read())])
    port = server.add_secure_port('127.0.0.1:0', creds)
    server.start()
    print(f'listening {port}', flush=True)
    threading.Event().wait()


def client(cert, port, spec):
    channels, calls, size = ([int(x) for x in spec.split('x')] + [0])[:3]
    creds = grpc.ssl_channel_credentials(root_certificates=open(cert, 'rb').read())
    for c in range(channels):
        opts = [('grpc.ssl_target_name_override', 'localhost'), ('grpc.use_local_subchannel_pool', 1)]
        with grpc.secure_channel(f'127.0.0.1:{port}', creds, options=opts) as ch:
            hello = ch.unary_unary('/helloworld.Greeter/SayHello', request_serializer=ident, response_deserializer=ident)
            for i in range(calls):
                req = f'c{c}n{i}'.encode()
                req += b'.' * max(0, size - len(req))
                got = hello(req, timeout=10)
                assert got == b'hello ' + req, got[:40]
            try:
                ch.unary_unary('/helloworld.Greeter/Fail', request_serializer=ident, response_deserializer=ident)(b'x', timeout=10)
                raise SystemExit('Fail did not fail')
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
    print('done', flush=True)


def load(cert, port, conns, seconds):
    import json
    import resource
    creds = grpc.ssl_channel_credentials(root_certificates=open(cert, 'rb').read())
    # One subchannel per channel (no sharing): CONNS TLS connections.
    opts = [('grpc.ssl_target_name_override', 'localhost'), ('grpc.use_local_subchannel_pool', 1)]
    channels = [grpc.secure_channel(f'127.0.0.1:{port}', creds, options=opts) for _ in range(conns)]
    calls = [ch.unary_unary('/helloworld.Greeter/SayHello', request_serializer=ident, response_deserializer=ident) for ch in channels]
    for c in calls:
        c(b'warm', timeout=10)
    lat = [[] for _ in range(conns)]
    start = time.monotonic()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    end = start + seconds

    def run(i):
        call, out = calls[i], lat[i]
        while time.monotonic() < end:
            t = time.perf_counter_ns()
            call(b'bench', timeout=10)
            out.append((time.perf_counter_ns() - t) // 1000)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    took = time.monotonic() - start
    all_lat = sorted(x for l in lat for x in l)
    pct = lambda q: all_lat[min(len(all_lat) - 1, int(q * len(all_lat)))] if all_lat else 0
    print(json.dumps({'calls': len(all_lat), 'seconds': took, 'p50_us': pct(0.5), 'p99_us': pct(0.99),
                      'cpu_s': (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)}), flush=True)
    for ch in channels:
        ch.close()


if __name__ == '__main__':
    if sys.argv[1] == 'server':
        serve(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'load':
        load(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        client(sys.argv[2], sys.argv[3], sys.argv[4])
