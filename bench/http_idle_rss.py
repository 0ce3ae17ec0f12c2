#!/usr/bin/env python3
"""Memory per idle HTTP keep-alive connection of a running server.

    python3 bench/http_idle_rss.py PORT PID [CONNECTIONS (4000)]

Opens CONNECTIONS connections to 127.0.0.1:PORT one after the other, sends
each one `GET /` (HTTP/1.1, kept alive) and reads its answer, then reports
the growth of the server's VmRSS (process PID) per connection: what an idle
keep-alive connection costs in user space, after one request. Needs about
CONNECTIONS + 16 fds (`ulimit -n`).
"""
import socket
import sys
import time


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SystemExit(f"no VmRSS for pid {pid}")


def one_request(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("the server closed a keep-alive connection")
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            continue
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(body) >= length:
            return s


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
    before = rss(pid)
    conns = [one_request(port) for _ in range(n)]
    time.sleep(0.5)
    after = rss(pid)
    print(f"{(after - before) / n:.0f} B per idle keep-alive connection "
          f"({n} connections, VmRSS {before // 1024} -> {after // 1024} KiB)")
    del conns


if __name__ == "__main__":
    main()
