#!/usr/bin/env python3
"""Salt 3007's own request client for scripts/bench (run with the salt venv's python).

    salt_client.py ENDPOINT REQUESTS CONCURRENCY SIZE

`salt.transport.zeromq.RequestClient` sends REQUESTS clear envelopes
`{"enc": "clear", "load": {"cmd": "ping", "pad": <SIZE bytes>}, "version": 3}` from
CONCURRENCY callers at once, each awaiting its reply. Prints one JSON line (requests,
elapsed_s, rps, p50_us, p99_us, p999_us).
"""
import asyncio
import sys
import time

import salt.transport.zeromq
import tornado.ioloop
from report import print_report


async def main():
    endpoint, requests, concurrency, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    opts = {"master_uri": endpoint, "tcp_keepalive": True, "tcp_keepalive_idle": 300,
            "tcp_keepalive_cnt": -1, "tcp_keepalive_intvl": -1}
    client = salt.transport.zeromq.RequestClient(opts, tornado.ioloop.IOLoop.current())
    await client.connect()
    load = {"enc": "clear", "load": {"cmd": "ping", "pad": "x" * size}, "version": 3}
    latencies = []

    async def caller(count):
        for _ in range(count):
            sent = time.perf_counter()
            await client.send(load, timeout=120)
            latencies.append(time.perf_counter() - sent)

    shares = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in shares))
    elapsed = time.perf_counter() - started
    client.close()
    print_report(requests, elapsed, latencies)


if __name__ == "__main__":
    asyncio.run(main())
