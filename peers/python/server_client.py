#!/usr/bin/env python3
"""libzmq (pyzmq) clients for the reqchan reply-server tests.

    server_client.py ENDPOINT SCENARIO [ARGS...]

Connects, prints `ready <endpoint>`, runs the scenario, prints one line per result
(flushed), then `done`. Messages are msgpack built by hand (no msgpack module needed).
Every receive has a timeout, and the script exits by itself after --max-seconds.

Scenarios:
  req-mixed               one REQ socket: good requests interleaved with garbage
                          (seeded random bytes, not a map, missing version, version 2,
                          unknown enc); prints `reply <sent hex> <reply hex>` per request
  dealer-burst N          one DEALER sends N requests [id, "", envelope] at once, then
                          prints `reply <id> <reply hex>` in arrival order
  req-parallel K M        K REQ sockets in threads, M requests each; prints `ok <k> <n>`
                          per socket with the number of correct echoes
  dealer-raw              a DEALER sends a frame without delimiter, then [id, "", a, b],
                          a good request, then [""]; prints `reply <frames as hex,
                          comma separated>` for each
  midframe-then-req M     speaks ZMTP by hand as a REQ peer, sends half a frame, closes;
                          then a normal REQ socket makes M requests; prints `ok <n>`
  send-then-collect N     DEALER sends N requests, prints `sent N`, then collects
                          replies for up to 15 s and prints `got <count> <kinds>`
  heartbeat M IVL_MS      a REQ and a DEALER socket with libzmq heartbeats every
                          IVL_MS (timeout and TTL 3x that) make M requests each,
                          idling 3x IVL_MS before each; prints `ok <kind> <n>`
  req-hold                one REQ request, prints `ok`, then holds the connection open
                          (without heartbeats) until killed
"""

import random
import socket
import sys
import threading
import time

import zmq

RECV_TIMEOUT_MS = 10_000


def client_socket(ctx, kind, endpoint, recv_timeout_ms=RECV_TIMEOUT_MS):
    """A connected REQ or DEALER socket that drops unsent messages on close;
    recv_timeout_ms=None waits forever."""
    s = ctx.socket(kind)
    if recv_timeout_ms is not None:
        s.setsockopt(zmq.RCVTIMEO, recv_timeout_ms)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    return s


def mp_str(s):
    b = s.encode() if isinstance(s, str) else s
    assert len(b) < 32
    return bytes([0xA0 | len(b)]) + b


def mp_uint(n):
    if n < 128:
        return bytes([n])
    return b"\xcd" + n.to_bytes(2, "big")


def mp_map(pairs):
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def envelope(load, enc="clear", version=3):
    pairs = [(mp_str("enc"), mp_str(enc)), (mp_str("load"), load)]
    if version is not None:
        pairs.append((mp_str("version"), mp_uint(version)))
    return mp_map(pairs)


def load_for(i, extra=()):
    return mp_map([(mp_str("i"), mp_uint(i))] + list(extra))


def say(*parts):
    print(*parts, flush=True)


def hexs(b):
    return b.hex() if b else "-"


def req_mixed(ctx, endpoint):
    rng = random.Random(4506)
    s = client_socket(ctx, zmq.REQ, endpoint)
    say("ready", endpoint)
    garbage = [
        b"\xc1",
        mp_str("just a string"),
        b"\x92\x01\x02",
        envelope(load_for(1), version=None),
        envelope(load_for(1), version=2),
        envelope(load_for(1), enc="rsa"),
        mp_map([(mp_str("enc"), mp_str("clear")), (mp_str("version"), mp_uint(3))]),
    ]
    garbage += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) for _ in range(20)]
    for i, bad in enumerate(garbage):
        good = envelope(load_for(i))
        for payload in (bad, good):
            s.send(payload)
            say("reply", hexs(payload), hexs(s.recv()))
    say("done")


def dealer_burst(ctx, endpoint, n):
    s = client_socket(ctx, zmq.DEALER, endpoint)
    say("ready", endpoint)
    for i in range(n):
        delay = (n - i) * 50  # later requests finish first
        load = load_for(i, [(mp_str("delay_ms"), mp_uint(delay))])
        s.send_multipart([b"id%d" % i, b"", envelope(load)])
    for _ in range(n):
        frames = s.recv_multipart()
        assert frames[1] == b"", frames
        say("reply", frames[0].decode(), hexs(frames[2]))
    say("done")


def req_parallel(ctx, endpoint, k, m):
    results = {}

    def worker(idx):
        s = client_socket(ctx, zmq.REQ, endpoint)
        good = 0
        for j in range(m):
            load = load_for(idx, [(mp_str("j"), mp_uint(j))])
            s.send(envelope(load))
            try:
                if s.recv() == load:
                    good += 1
            except zmq.Again:
                break
        s.close()
        results[idx] = good

    say("ready", endpoint)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(k):
        say("ok", i, results.get(i, 0))
    say("done")


def dealer_raw(ctx, endpoint):
    s = client_socket(ctx, zmq.DEALER, endpoint)
    say("ready", endpoint)
    for message in ([envelope(load_for(1))], [b"rid", b"", envelope(load_for(2)), envelope(load_for(3))]):
        s.send_multipart(message)
        say("reply", ",".join(hexs(f) for f in s.recv_multipart()))
    s.send_multipart([b"rid", b"", envelope(load_for(4))])
    say("reply", ",".join(hexs(f) for f in s.recv_multipart()))
    # A delimiter and no payload at all.
    s.send_multipart([b""])
    say("reply", ",".join(hexs(f) for f in s.recv_multipart()))
    say("done")


def zmtp_frame(body, command=False, more=False):
    flags = (0x04 if command else 0) | (0x01 if more else 0)
    assert len(body) < 256
    return bytes([flags, len(body)]) + body


def midframe_then_req(ctx, endpoint, m):
    host, port = endpoint.split("//", 1)[1].rsplit(":", 1)
    say("ready", endpoint)
    # Greeting: signature, version 3.0, NULL mechanism, as-server 0, filler.
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
    raw = socket.create_connection((host, int(port)), timeout=5)
    raw.sendall(greeting)
    got = b""
    while len(got) < 64:
        chunk = raw.recv(64 - len(got))
        if not chunk:
            break
        got += chunk
    prop = b"\x0bSocket-Type" + (3).to_bytes(4, "big") + b"REQ"
    raw.sendall(zmtp_frame(b"\x05READY" + prop, command=True))
    # Wait for the server's READY so the connection is registered as a peer.
    raw.settimeout(5)
    try:
        raw.recv(256)
    except socket.timeout:
        pass
    # A message frame that declares 100 bytes, of which 10 arrive, then the peer is gone.
    raw.sendall(bytes([0x00, 100]) + b"x" * 10)
    raw.close()
    say("poisoned")
    short = 2000  # a REP that re-creates its socket drops this connection once
    s = client_socket(ctx, zmq.REQ, endpoint, short)
    good = 0
    for j in range(m):
        load = load_for(j)
        s.send(envelope(load))
        try:
            reply = s.recv()
        except zmq.Again:
            # A REP that was re-created dropped this connection: start a fresh socket.
            s.close()
            s = client_socket(ctx, zmq.REQ, endpoint, short)
            continue
        if reply == load:
            good += 1
    say("ok", good)
    say("done")


def send_then_collect(ctx, endpoint, n):
    s = client_socket(ctx, zmq.DEALER, endpoint, None)
    say("ready", endpoint)
    for i in range(n):
        s.send_multipart([b"id%d" % i, b"", envelope(load_for(i))])
    say("sent", n)
    replies = {}
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    deadline = time.monotonic() + 15
    while len(replies) < n and time.monotonic() < deadline:
        if poller.poll(100):
            frames = s.recv_multipart()
            replies[frames[0]] = frames[-1]
    kinds = set()
    for i in range(n):
        reply = replies.get(b"id%d" % i)
        if reply is None:
            continue
        if reply == load_for(i):
            kinds.add("echo")
        elif reply == b"\xd9\x26Some exception handling minion payload":
            kinds.add("exception")
        elif reply == mp_map([(mp_str("msg"), mp_str("server busy"))]):
            kinds.add("busy")
        else:
            kinds.add("other:" + reply.hex())
    say("got", len(replies), ",".join(sorted(kinds)) or "-")
    say("done")


def heartbeat(ctx, endpoint, m, ivl_ms):
    say("ready", endpoint)
    for kind, name in ((zmq.REQ, "req"), (zmq.DEALER, "dealer")):
        s = ctx.socket(kind)
        s.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.HEARTBEAT_IVL, ivl_ms)
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * ivl_ms)
        s.setsockopt(zmq.HEARTBEAT_TTL, 3 * ivl_ms)
        s.connect(endpoint)
        good = 0
        for j in range(m):
            time.sleep(3 * ivl_ms / 1000)
            load = load_for(j)
            try:
                if kind == zmq.REQ:
                    s.send(envelope(load))
                    reply = s.recv()
                else:
                    s.send_multipart([b"hb%d" % j, b"", envelope(load)])
                    reply = s.recv_multipart()[-1]
            except zmq.Again:
                break
            if reply == load:
                good += 1
        s.close()
        say("ok", name, good)
    say("done")


def req_hold(ctx, endpoint):
    s = client_socket(ctx, zmq.REQ, endpoint)
    say("ready", endpoint)
    load = load_for(0)
    s.send(envelope(load))
    say("ok" if s.recv() == load else "bad")
    while True:
        time.sleep(1)


def main():
    endpoint, scenario, *args = sys.argv[1:]
    threading.Timer(60, lambda: (say("timeout"), sys.stdout.flush(), __import__("os")._exit(3))).start()
    ctx = zmq.Context()
    if scenario == "req-mixed":
        req_mixed(ctx, endpoint)
    elif scenario == "dealer-burst":
        dealer_burst(ctx, endpoint, int(args[0]))
    elif scenario == "req-parallel":
        req_parallel(ctx, endpoint, int(args[0]), int(args[1]))
    elif scenario == "dealer-raw":
        dealer_raw(ctx, endpoint)
    elif scenario == "midframe-then-req":
        midframe_then_req(ctx, endpoint, int(args[0]))
    elif scenario == "send-then-collect":
        send_then_collect(ctx, endpoint, int(args[0]))
    elif scenario == "heartbeat":
        heartbeat(ctx, endpoint, int(args[0]), int(args[1]))
    elif scenario == "req-hold":
        req_hold(ctx, endpoint)
    else:
        raise SystemExit("unknown scenario " + scenario)
    sys.stdout.flush()
    __import__("os")._exit(0)


if __name__ == "__main__":
    main()
