#!/usr/bin/env python3
# Copied from the project reference (baselines.md Part B, baseline-scripts/pingpong.py).
# ruff: noqa
"""TCP request/response (TCP_RR-like) and connect/request/close (TCP_CRR-like)
micro-benchmark. Every loop is bounded by a count and a wall-clock deadline.

  pingpong.py rr-server IP PORT            echo fixed-size messages (1 conn)
  pingpong.py rr-client IP PORT N SIZE     N round trips, prints JSON (us)
  pingpong.py crr-server IP PORT MAXCONN   accept, echo one message, close
  pingpong.py crr-client IP PORT N         N new connections, prints JSON
"""
import json, socket, sys, time

DEADLINE_S = 60.0


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def pct(sorted_vals, p):
    return sorted_vals[min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals)))]


def rr_server(ip, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port)); ls.listen(1); ls.settimeout(DEADLINE_S)
    c, _ = ls.accept(); c.settimeout(DEADLINE_S)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    size = int.from_bytes(recv_exact(c, 4), "big")
    end = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < end:
            c.sendall(recv_exact(c, size))
    except (EOFError, ConnectionError):
        pass


def rr_client(ip, port, n, size):
    s = socket.create_connection((ip, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(size.to_bytes(4, "big"))
    msg = b"x" * size
    for _ in range(min(1000, n)):                       # warm-up
        s.sendall(msg); recv_exact(s, size)
    rtts = []
    end = time.monotonic() + DEADLINE_S
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc(); s.sendall(msg); recv_exact(s, size); rtts.append(pc() - t0)
        if time.monotonic() > end:
            break
    s.close()
    rtts.sort()
    us = [r / 1000.0 for r in rtts]
    print(json.dumps({"n": len(us), "mean_us": sum(us) / len(us), "p50_us": pct(us, 50),
                      "p90_us": pct(us, 90), "p99_us": pct(us, 99), "min_us": us[0]}))


def crr_server(ip, port, maxconn):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port)); ls.listen(512); ls.settimeout(DEADLINE_S)
    end = time.monotonic() + DEADLINE_S
    for _ in range(maxconn):
        if time.monotonic() > end:
            break
        try:
            c, _ = ls.accept()
        except socket.timeout:
            break
        try:
            c.settimeout(5); c.sendall(recv_exact(c, 1))
        except (EOFError, OSError):
            pass
        c.close()


def crr_client(ip, port, n):
    lat = []
    end = time.monotonic() + DEADLINE_S
    t_start = time.perf_counter()
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc()
        s = socket.create_connection((ip, port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close: no TIME_WAIT pile-up
        s.sendall(b"x"); recv_exact(s, 1); s.close()
        lat.append(pc() - t0)
        if time.monotonic() > end:
            break
    dur = time.perf_counter() - t_start
    us = sorted(x / 1000.0 for x in lat)
    print(json.dumps({"n": len(us), "conn_per_s": len(us) / dur, "p50_us": pct(us, 50),
                      "p99_us": pct(us, 99)}))


if __name__ == "__main__":
    mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "rr-server":
        rr_server(ip, port)
    elif mode == "rr-client":
        rr_client(ip, port, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "crr-server":
        crr_server(ip, port, int(sys.argv[4]))
    elif mode == "crr-client":
        crr_client(ip, port, int(sys.argv[4]))
