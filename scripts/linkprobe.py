#!/usr/bin/env python3
"""linkprobe: round-trip time and TCP throughput between two simulated hosts (no ping or iperf here).

  ip netns exec HOST_B python3 scripts/linkprobe.py serve PORT &
  ip netns exec HOST_A python3 scripts/linkprobe.py probe ADDRESS_B PORT [MEGABYTES]

Prints the median round trip of 200 one-byte TCP ping-pongs (TCP_NODELAY) and the rate of one
bulk transfer of MEGABYTES (default 20) acknowledged by the receiver, then exits (the server too).
"""
import socket, statistics, sys, time

def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(1)
    c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:  # ping-pong until the client sends 'B'
        b = c.recv(1)
        if b == b"B": break
        c.sendall(b)
    total = int.from_bytes(c.recv(8, socket.MSG_WAITALL), "little")
    got = 0
    while got < total:
        got += len(c.recv(1 << 20))
    c.sendall(b"k"); c.close()

def probe(addr, port, mb):
    c = socket.create_connection((addr, port)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for _ in range(200):
        t = time.perf_counter(); c.sendall(b"p"); c.recv(1); rtts.append(time.perf_counter() - t)
    c.sendall(b"B")
    total = mb * 1_000_000; chunk = b"\0" * (1 << 20)
    c.sendall(total.to_bytes(8, "little"))
    t = time.perf_counter(); sent = 0
    while sent < total:
        n = min(len(chunk), total - sent); c.sendall(chunk[:n]); sent += n
    c.recv(1); dt = time.perf_counter() - t
    print(f"rtt median {statistics.median(rtts) * 1e6:.0f} us; bulk {mb} MB in {dt:.3f} s = {total * 8 / dt / 1e6:.0f} Mbit/s")

if __name__ == "__main__":
    if sys.argv[1] == "serve": serve(int(sys.argv[2]))
    else: probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 20)
