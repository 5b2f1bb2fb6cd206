#!/usr/bin/env python3
"""Test traffic for the hitless-reload test: a UDP stream with sequence
numbers and a TCP connection that echoes a line every few milliseconds.
Runs inside the test's network namespaces only."""
import socket
import sys
import threading
import time


def udp_sink(addr, port, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(1.0)
    seen = set()
    with open(out + ".ready", "w"):
        pass
    while True:
        try:
            data, _ = s.recvfrom(64)
        except socket.timeout:
            continue
        if data == b"END":
            break
        seen.add(int(data))
    with open(out, "w") as f:
        f.write(str(len(seen)))


def _exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


def tcp_echo(addr, port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    conn, _ = srv.accept()
    while True:
        data = conn.recv(4096)
        if not data:
            return
        conn.sendall(data)


def client(udp_dst, tcp_dst, stop_file, result):
    """Sends UDP (1 packet / ms) and TCP echoes until stop_file exists."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = socket.create_connection(tcp_dst, timeout=5)
    t.settimeout(5)
    sent = echoes = 0
    last_echo = time.time()
    while not _exists(stop_file):
        u.sendto(str(sent).encode(), udp_dst)
        sent += 1
        if sent % 10 == 0:
            t.sendall(b"ping %d\n" % sent)
            got = b""
            while not got.endswith(b"\n"):
                chunk = t.recv(64)
                if not chunk:
                    raise SystemExit("tcp connection closed by peer")
                got += chunk
            echoes += 1
            last_echo = time.time()
        time.sleep(0.001)
    time.sleep(0.2)
    for _ in range(5):
        u.sendto(b"END", udp_dst)
        time.sleep(0.05)
    t.close()
    with open(result, "w") as f:
        f.write("%d %d\n" % (sent, echoes))


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "udp-sink":
        udp_sink(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif role == "tcp-echo":
        tcp_echo(sys.argv[2], int(sys.argv[3]))
    elif role == "client":
        client((sys.argv[2], int(sys.argv[3])), (sys.argv[4], int(sys.argv[5])), sys.argv[6], sys.argv[7])
