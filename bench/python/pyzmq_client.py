#!/usr/bin/env python3
"""pyzmq REQ client for scripts/bench: REQUESTS requests of SIZE bytes, one at a time.

    pyzmq_client.py ENDPOINT REQUESTS SIZE

Prints one JSON line (requests, elapsed_s, rps, p50_us, p99_us, p999_us).
"""
import sys
import time

import zmq
from report import print_report


def main():
    endpoint, requests, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    socket = zmq.Context().socket(zmq.REQ)
    socket.setsockopt(zmq.RCVTIMEO, 120_000)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    payload = b"x" * size
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        sent = time.perf_counter()
        socket.send(payload)
        socket.recv()
        latencies.append(time.perf_counter() - sent)
    elapsed = time.perf_counter() - started
    print_report(requests, elapsed, latencies)


if __name__ == "__main__":
    main()
