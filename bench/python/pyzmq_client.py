#!/usr/bin/env python3
"""pyzmq REQ client for scripts/bench: REQUESTS requests of SIZE bytes, one at a time.

    pyzmq_client.py ENDPOINT REQUESTS SIZE

Prints one JSON line (requests, elapsed_s, rps, p50_us, p99_us, p999_us).
"""
import json
import sys
import time

import zmq


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


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
    latencies.sort()
    print(json.dumps({
        "requests": requests,
        "elapsed_s": elapsed,
        "rps": requests / elapsed,
        "p50_us": percentile(latencies, 0.5) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
        "p999_us": percentile(latencies, 0.999) * 1e6,
    }))


if __name__ == "__main__":
    main()
