#!/usr/bin/env python3
"""Hostile clients of `edgefw exporter` for tests/monitor/bounds.sh, to 127.0.0.1 only.

  bounds.py big-head PORT HEADERS SIZE
      one request with HEADERS header fields of SIZE bytes each (bounded at 30 s);
      prints the status line the exporter answered (or "none") and how many fields
      it took before refusing.
  bounds.py slow PORT CLIENTS SECS [PID]
      CLIENTS connections that never finish a request head: half send nothing,
      half trickle one byte every 0.5 s; a closed one opens again 0.2 s later.
      Meanwhile a normal scrape of /metrics every 0.25 s, each on a new
      connection. Prints one JSON line: scrape latencies, failures, connections
      (and, given the exporter's PID, the most descriptors it held).
  bounds.py scrape PORT
      one scrape; prints its latency and status.
"""
import json
import os
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"


def scrape(port, timeout=5.0):
    """(seconds, status code or 0, body) of one GET /metrics on a new connection."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
    except OSError:
        return time.monotonic() - t0, 0, b""
    try:
        s.settimeout(max(0.01, timeout - (time.monotonic() - t0)))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length" and len(body) >= int(v):
                        raise StopIteration
    except StopIteration:
        pass
    except OSError:
        return time.monotonic() - t0, 0, b""
    finally:
        s.close()
    dt = time.monotonic() - t0
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        code = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        code = 0
    return dt, code, body


def big_head(port, n, size):
    t0 = time.monotonic()
    s = socket.create_connection((HOST, port), timeout=5)
    sent = 0
    val = b"a" * size
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for i in range(n):
            s.sendall(b"X-Filler-%d: " % i + val + b"\r\n")
            sent += 1
            if time.monotonic() - t0 > 30:
                break
        s.sendall(b"\r\n")
    except OSError:
        pass  # refused: the exporter closed the connection
    resp = b""
    try:
        s.settimeout(5)
        while len(resp) < 4096:
            b = s.recv(4096)
            if not b:
                break
            resp += b
    except OSError:
        pass
    s.close()
    status = resp.split(b"\r\n", 1)[0].decode(errors="replace") or "none"
    print(f"{sent}\t{time.monotonic() - t0:.2f}\t{status}")


class Slow:
    """CLIENTS connections that hold the exporter without finishing a request."""

    def __init__(self, port, clients):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.socks = {}  # socket -> [client index, next byte time]
        self.reopen = []  # (time, index)
        self.opened = self.closed_by_server = self.peak = 0
        for i in range(clients):
            self.open(i)

    def open(self, i):
        if self.opened >= 50000:
            return
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((HOST, self.port))
        self.opened += 1
        self.socks[s] = [i, time.monotonic()]
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def drop(self, s, by_server):
        i = self.socks.pop(s)[0]
        self.sel.unregister(s)
        s.close()
        if by_server is not None:
            self.closed_by_server += by_server
            self.reopen.append((time.monotonic() + 0.2, i))

    def step(self, budget):
        end = time.monotonic() + budget
        while True:
            now = time.monotonic()
            for t, i in [r for r in self.reopen if r[0] <= now]:
                self.reopen.remove((t, i))
                self.open(i)
            left = end - now
            if left <= 0:
                break
            for key, ev in self.sel.select(timeout=min(left, 0.05)):
                s = key.fileobj
                if s not in self.socks:
                    continue
                if ev & selectors.EVENT_READ:
                    try:
                        if s.recv(4096):
                            continue  # an answer (431, 408...): read on to the close
                    except OSError:
                        pass
                    self.drop(s, True)
                    continue
                if ev & selectors.EVENT_WRITE:
                    # Connected: from now on only readability matters.
                    self.sel.modify(s, selectors.EVENT_READ)
                    i = self.socks[s][0]
                    if i % 2:
                        try:
                            s.send(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
                        except OSError:
                            self.drop(s, True)
                            continue
            now = time.monotonic()
            for s, st in list(self.socks.items()):
                if st[0] % 2 and now >= st[1]:
                    st[1] = now + 0.5
                    try:
                        s.send(b"a")
                    except BlockingIOError:
                        pass
                    except OSError:
                        self.drop(s, True)
            self.peak = max(self.peak, len(self.socks))

    def close_all(self):
        for s in list(self.socks):
            self.drop(s, None)


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def slow(port, clients, secs, pid):
    base = fds(pid) if pid else -1
    peak_fds = base
    held = Slow(port, clients)
    held.step(0.5)  # let them connect and fill the exporter
    lat, fails, codes = [], 0, {}
    end = time.monotonic() + secs
    while time.monotonic() < end:
        # The scrape runs in between the slow clients' turns, as a separate client would:
        # the kernel keeps their sockets open meanwhile.
        dt, code, body = scrape(port)
        lat.append(dt)
        codes[code] = codes.get(code, 0) + 1
        if code != 200 or b"edgefw_up" not in body:
            fails += 1
        held.step(0.25)
        if pid:
            peak_fds = max(peak_fds, fds(pid))
    open_at_end = len(held.socks)
    held.close_all()
    lat.sort()
    print(json.dumps({
        "scrapes": len(lat), "failed": fails, "codes": codes,
        "max_s": round(lat[-1], 4), "median_s": round(lat[len(lat) // 2], 4),
        "slow_clients": clients, "slow_connects": held.opened,
        "closed_by_exporter": held.closed_by_server, "peak_open": held.peak,
        "open_at_end": open_at_end, "exporter_fds_before": base,
        "exporter_fds_peak": peak_fds}))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "big-head":
        big_head(port, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "slow":
        slow(port, int(sys.argv[3]), float(sys.argv[4]),
             int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    elif cmd == "scrape":
        dt, code, body = scrape(port)
        print(f"{dt:.4f}\t{code}\t{len(body)}")
    else:
        sys.exit("usage: bounds.py big-head|slow|scrape PORT ...")


if __name__ == "__main__":
    main()
