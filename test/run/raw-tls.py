# Raw TLS peers for the defect tests: no HTTP library on either side, so the bytes on the wire
# are exactly what the test says.
#   raw-tls.py server CERT KEY MODE   prints "listening PORT"; serves one connection at a time.
#     MODE ok         answers every request head (read to the blank line) with a 200, keeps alive
#     MODE http10     answers with an HTTP/1.0 200 (Content-Length) and closes
#     MODE bigheader  answers with a 200 whose header block is 70 KiB, and closes
#     MODE silent     reads and never answers (a text protocol's server), closes on EOF
#     MODE headbody   answers any request, HEAD included, with a 200 and a 20000-byte body in one
#                     write, and closes (a server that lies to HEAD)
#   raw-tls.py client PORT FILE [READ]   sends the file's bytes, reads until EOF (or READ bytes of
#     answer, when given), prints the answer's first line
import socket, ssl, sys

def server(cert, key, mode):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(8)
    print('listening', ls.getsockname()[1], flush=True)
    while True:
        raw, _ = ls.accept()
        try:
            c = ctx.wrap_socket(raw, server_side=True)
        except OSError:
            continue
        buf = b''
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
                if mode == 'silent':
                    continue
                while b'\r\n\r\n' in buf:
                    head, _, buf = buf.partition(b'\r\n\r\n')
                    if mode == 'ok':
                        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
                    elif mode == 'http10':
                        c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok')
                        raise EOFError
                    elif mode == 'headbody':
                        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n' + b'z' * 20000)
                        raise EOFError
                    elif mode == 'bigheader':
                        c.sendall(b'HTTP/1.1 200 OK\r\nX-Big: ' + b'b' * 70000 + b'\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
                        raise EOFError
        except (EOFError, OSError):
            pass
        try:
            c.close()
        except OSError:
            pass

def client(port, path, want):
    ctx = ssl._create_unverified_context()
    c = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(port))))
    with open(path, 'rb') as f:
        c.sendall(f.read())
    got = b''
    while want is None or len(got) < want:
        d = c.recv(65536)
        if not d:
            break
        got += d
    print(got.split(b'\r\n', 1)[0].decode('latin1'), flush=True)
    c.close()

if sys.argv[1] == 'server':
    server(sys.argv[2], sys.argv[3], sys.argv[4])
else:
    client(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else None)
