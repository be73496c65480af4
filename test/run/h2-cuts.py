# An HTTP/2 client with no HTTP/2 library, whose TLS calls cut the byte stream where the test
# says: after its first write (the preface, SETTINGS and WINDOW_UPDATE, whole) and its first
# read (nginx's SETTINGS, whole: the calls the agent follows a direction's frames from), every
# SSL_write and SSL_read is one of a list of sizes, taken in turn, so frame headers and DATA
# payloads are cut at many offsets (a header split over two or more calls included).
#   h2-cuts.py PORT TAG BODY_BYTES SIZES GET_PATH [FRAME]
#     one connection: the preface and SETTINGS, then stream 1: PUT /upload/TAG?TAG-put with a body
#     of BODY_BYTES in DATA frames of FRAME bytes (default 16384), and stream 3: GET
#     GET_PATH?TAG-get; reads until both
#     streams ended; prints "put STATUS BYTES" and "get STATUS BYTES" (DATA bytes received).
#     SIZES: comma-separated call sizes, e.g. 1,9,10,16393,3 (used in turn for writes and reads).
import socket, ssl, struct, sys

port, tag, body_bytes, sizes, get_path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4].split(',')], sys.argv[5]
frame_size = int(sys.argv[6]) if len(sys.argv) > 6 else 16384

def frame(ftype, flags, stream, payload):
    return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + struct.pack('>I', stream) + payload

def literal(name, value):
    # Literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2); short strings.
    n, v = name.encode(), value.encode()
    return b'\x00' + bytes([len(n)]) + n + bytes([len(v)]) + v

def headers(method, path):
    return b''.join(literal(k, v) for k, v in [(':method', method), (':scheme', 'https'), (':authority', 'localhost'), (':path', path)])

prelude = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
# INITIAL_WINDOW_SIZE 2^31-1 and the connection window opened as far: nginx never waits for us.
# Our own sending ignores flow control: the upload stays under nginx's 64 KiB windows.
prelude += frame(4, 0, 0, struct.pack('>HI', 4, 0x7fffffff))
prelude += frame(8, 0, 0, struct.pack('>I', 0x7fffffff - 65535))
assert body_bytes < 65535
body = bytes((i * 7 + 3) & 0xff for i in range(body_bytes))
out = frame(1, 4, 1, headers('PUT', f'/upload/{tag}?{tag}-put'))  # END_HEADERS
for at in range(0, len(body), frame_size):
    part = body[at:at + frame_size]
    out += frame(0, 1 if at + frame_size >= len(body) else 0, 1, part)  # END_STREAM on the last
out += frame(1, 5, 3, headers('GET', f'{get_path}?{tag}-get'))  # END_STREAM | END_HEADERS

ctx = ssl._create_unverified_context()
ctx.set_alpn_protocols(['h2'])
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=30), server_hostname='localhost')
assert s.selected_alpn_protocol() == 'h2', s.selected_alpn_protocol()

STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}

def status_of(block):
    # :status comes first: an indexed field, or a literal with the indexed name 8 (not Huffman).
    b = block[0]
    if b & 0x80:
        return STATIC_STATUS.get(b & 0x7f, 'indexed?')
    idx = b & 0x3f if b & 0xc0 == 0x40 else b & 0x0f
    if idx != 8 or block[1] & 0x80:
        return 'undecoded'
    return int(block[2:2 + block[1]])

turn = 0
def next_size():
    global turn
    n = sizes[turn % len(sizes)]
    turn += 1
    return n

def send(data):
    at = 0
    while at < len(data):
        n = next_size()
        s.sendall(data[at:at + n])
        at += n

s.sendall(prelude)
buf = s.recv(65536)  # nginx's SETTINGS (and what came with it in that record)
if buf[3:4] != b'\x04':
    raise SystemExit(f'first read is not a SETTINGS frame: {buf[:9].hex()}')
send(out)
status = {}
got = {1: 0, 3: 0}
ended = set()
acked = False
first = True
while len(ended) < 2:
    if not first:
        d = s.recv(next_size())
        if not d:
            raise SystemExit('connection closed early')
        buf += d
    first = False
    while len(buf) >= 9:
        length = int.from_bytes(buf[:3], 'big')
        if len(buf) < 9 + length:
            break
        ftype, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], 'big') & 0x7fffffff
        payload, buf = buf[9:9 + length], buf[9 + length:]
        if ftype == 4 and not flags & 1 and not acked:
            send(frame(4, 1, 0, b''))
            acked = True
        if ftype == 1 and stream in got and stream not in status:
            status[stream] = status_of(payload)
        if ftype == 0 and stream in got:
            got[stream] += length
        if ftype in (0, 1) and flags & 1 and stream in got:
            ended.add(stream)
        if ftype == 7:
            raise SystemExit(f'GOAWAY {payload.hex()}')
        if ftype == 3 and payload != b'\0\0\0\0':
            raise SystemExit(f'RST_STREAM on {stream}: {payload.hex()}')
print('put', status.get(1), got[1])
print('get', status.get(3), got[3])
s.close()
