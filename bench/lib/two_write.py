"""Pieces of bench/small_writes.sh (not a test).

  two_write.py serve PORT        a keep-alive http.server service whose
                                 responses go out in two writes (head, body)
  two_write.py client HOST:PORT HOSTHEADER N fresh|keepalive
                                 N sequential GETs; prints "p50_ms p90_ms max_ms"
"""
import http.server
import socket
import statistics
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as many dev servers

    def do_GET(self):
        body = b"x" * 100
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()  # first write: the head
        self.wfile.write(body)  # second write: the body

    def log_message(self, *a):
        pass


def serve(port):
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def read_response(s, buf):
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed")
        rest += d
    if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
        raise RuntimeError(head.decode(errors="replace"))
    return rest[n:]


def connect(addr):
    h, p = addr.rsplit(":", 1)
    s = socket.create_connection((h, int(p)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def client(addr, host, n, mode):
    req = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    times = []
    s = None
    buf = b""
    for _ in range(n + 3):
        t0 = time.perf_counter()
        if s is None or mode == "fresh":
            if s is not None:
                s.close()
            s, buf = connect(addr), b""
        s.sendall(req)
        buf = read_response(s, buf)
        times.append((time.perf_counter() - t0) * 1000)
    times = sorted(times[3:])  # the first ones warm up
    print(f"{statistics.median(times):.3f} {times[int(len(times) * 0.9)]:.3f} {times[-1]:.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
