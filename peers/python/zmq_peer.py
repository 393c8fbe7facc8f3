#!/usr/bin/env python3
"""A libzmq (pyzmq) server for reqchan's integration tests.

Binds a REP or ROUTER socket, prints `ready <endpoint>` (the bound LAST_ENDPOINT) once
it listens, then reports every message it receives on stdout as
`recv <frame count> <last frame as hex>`, one line each, flushed, so a test can count
what really reached the server. It answers by the request's content:

- contains b"garbage":      replies bytes that are not msgpack
- contains b"multi-frame":  replies two frames
- contains b"bytes-please": replies {"bin": <bin 00 ff>, "str": <str ff fe, not UTF-8>}
- contains b"no-reply":     does not reply (ROUTER only; a REP must answer to go on)
- contains b"refuse-<kind>": answers one of the refusals, as Salt or reqchan encode
  them: bad-load-map {"msg": "bad load"}, bad-load-str "bad load", busy
  {"msg": "server busy"}, exception "Some exception handling minion payload"
- anything else:            echoes the payload

`--silent` never replies (use with `--type router`); `--duplicate` (ROUTER) sends every
reply twice, as a misbehaving server or device might; `--heartbeat-ms N` sets libzmq's
ZMTP 3.1 heartbeats (PING every N ms, timeout 3N, TTL 10N). The peer exits by itself after
`--max-seconds`, and at once if its stdin closes (the test that started it is gone).
"""

import argparse
import os
import sys
import threading
import time

import zmq

BYTES_REPLY = b"\x82\xa3bin\xc4\x02\x00\xff\xa3str\xa2\xff\xfe"

REFUSALS = {
    b"refuse-bad-load-map": b"\x81\xa3msg\xa8bad load",
    b"refuse-bad-load-str": b"\xa8bad load",
    b"refuse-busy": b"\x81\xa3msg\xabserver busy",
    b"refuse-exception": b"\xd9\x26Some exception handling minion payload",
}


def respond(payload):
    if b"garbage" in payload:
        return [b"\xc1 this is not msgpack"]
    if b"multi-frame" in payload:
        return [b"\xa1a", b"\xa1b"]
    if b"bytes-please" in payload:
        return [BYTES_REPLY]
    if b"no-reply" in payload:
        return None
    for marker, refusal in REFUSALS.items():
        if marker in payload:
            return [refusal]
    return [payload]


def watch_stdin():
    # The test holds our stdin open; EOF means it is gone: do not outlive it.
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--type", choices=["rep", "router"], default="rep")
    parser.add_argument("--bind", default="tcp://127.0.0.1:*")
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--duplicate", action="store_true")
    parser.add_argument("--heartbeat-ms", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()

    threading.Thread(target=watch_stdin, daemon=True).start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP if args.type == "rep" else zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    if args.heartbeat_ms:
        sock.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat_ms)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat_ms * 3)
        sock.setsockopt(zmq.HEARTBEAT_TTL, args.heartbeat_ms * 10)
    sock.bind(args.bind)
    print("ready", sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)

    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        if not sock.poll(100):
            continue
        frames = sock.recv_multipart()
        if args.type == "router":
            # [identity, (request-id,) "", payload]: the envelope ends at the first empty frame.
            split = frames.index(b"") + 1 if b"" in frames else 1
            envelope, body = frames[:split], frames[split:]
        else:
            envelope, body = [], frames
        payload = body[-1] if body else b""
        print("recv", len(body), payload.hex(), flush=True)
        reply = None if args.silent else respond(payload)
        if reply is None:
            if args.type == "rep":
                sock.send(b"")  # a REP socket must answer before it can receive again
            continue
        sock.send_multipart(envelope + reply)
        if args.duplicate and args.type == "router":
            sock.send_multipart(envelope + reply)


if __name__ == "__main__":
    main()
