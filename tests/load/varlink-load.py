#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Varlink load and fault client for kmscanceld (loopback Unix socket only).

Opens CONNECTIONS connections at once and spreads CALLS calls over them,
each connection keeping up to PIPELINE calls in flight, cycling through the
methods given.  Checks that every call gets exactly one reply: a reply with
no call outstanding is "extra", a call without a reply when the run ends (or
its connection closes) is "missing".  Prints one JSON object:

  {"connections", "connected", "calls", "replies", "errors": {name: n},
   "missing", "extra", "malformed", "seconds", "callsPerSec",
   "p50Ms", "p99Ms", "maxMs", "connectRetries", "errorSample"?: {name: message}}

--vanish: each connection sends one call and closes without reading the
reply (clients that die mid-call); then only "connected" and "calls" count.
--slow: each connection sends half of a call and then one byte every
SLOW_MS (slow-loris), until the end of the run; nothing is expected back.

Exit status: 0 when nothing is missing, extra or malformed; 1 otherwise;
2 on usage errors.  The run is bounded by --timeout.
"""
import argparse
import errno
import json
import os
import resource
import selectors
import socket
import sys
import time

KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
METHODS = {
    "status": ("io.kmscancel.GetStatus", {}),
    "describe": ("io.kmscancel.DescribeKey", {"keyId": KEY}),
    "cancel": ("io.kmscancel.CancelKeyDeletion", {"keyId": KEY}),
    "info": ("org.varlink.service.GetInfo", {}),
}


def message(name, key):
    method, params = METHODS[name]
    params = dict(params)
    if "keyId" in params and key:
        params["keyId"] = key
    return json.dumps({"method": method, "parameters": params}).encode() + b"\0"


class Conn:
    __slots__ = ("sock", "quota", "inflight", "sent_at", "out", "inbuf", "done", "connected", "slow_left", "next_slow")

    def __init__(self, quota):
        self.sock = None
        self.quota = quota      # calls still to send
        self.inflight = 0
        self.sent_at = []       # send times of the calls in flight, in order
        self.out = b""
        self.inbuf = b""
        self.done = False
        self.connected = False
        self.slow_left = b""
        self.next_slow = 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("socket")
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--methods", default="status", help="comma list of " + ",".join(METHODS))
    ap.add_argument("--key", default=KEY)
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--vanish", action="store_true")
    ap.add_argument("--slow", action="store_true")
    ap.add_argument("--slow-ms", type=int, default=200)
    ap.add_argument("--hold", type=float, default=0.0, help="with --slow: seconds to keep going")
    a = ap.parse_args()
    names = a.methods.split(",")
    if any(n not in METHODS for n in names) or a.connections < 1 or a.calls < 0:
        ap.error("bad arguments")
    msgs = [message(n, a.key) for n in names]

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.connections + 64)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    sel = selectors.DefaultSelector()
    conns = [Conn(a.calls // a.connections + (1 if i < a.calls % a.connections else 0))
             for i in range(a.connections)]
    if a.vanish or a.slow:
        for c in conns:
            c.quota = 1
    to_connect = list(conns)
    stats = {"connections": a.connections, "connected": 0, "calls": 0, "replies": 0, "errors": {},
             "missing": 0, "extra": 0, "malformed": 0, "connectRetries": 0}
    latencies = []
    samples = {}
    nmsg = 0
    start = time.monotonic()
    deadline = start + a.timeout
    open_conns = 0

    def close(c):
        nonlocal open_conns
        if c.sock is not None:
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
            c.sock = None
            open_conns -= 1
        if not a.vanish and not a.slow:
            stats["missing"] += c.inflight + c.quota
        c.inflight = 0
        c.quota = 0
        c.done = True

    def fill(c):
        nonlocal nmsg
        while c.quota > 0 and c.inflight < a.pipeline:
            m = msgs[nmsg % len(msgs)]
            nmsg += 1
            if a.slow:
                c.out += m[: len(m) // 2]
                c.slow_left = m[len(m) // 2:]
            else:
                c.out += m
            c.quota -= 1
            c.inflight += 1
            c.sent_at.append(time.monotonic())
            stats["calls"] += 1

    def update(c):
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out or not c.connected else 0)
        sel.modify(c.sock, ev, c)

    while time.monotonic() < deadline:
        # Connect in batches so a full listen backlog (EAGAIN) is retried.
        batch = 0
        while to_connect and batch < 256:
            c = to_connect[-1]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(a.socket)
            if err in (errno.EAGAIN, errno.EWOULDBLOCK):
                s.close()
                stats["connectRetries"] += 1
                break
            if err not in (0, errno.EINPROGRESS):
                s.close()
                to_connect.pop()
                close(c)
                continue
            to_connect.pop()
            c.sock = s
            c.connected = err == 0
            open_conns += 1
            stats["connected"] += 1
            fill(c)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            batch += 1
        if not to_connect and open_conns == 0:
            break
        if a.slow and not to_connect and time.monotonic() - start >= a.hold:
            break
        events = sel.select(timeout=0.05 if to_connect or a.slow else 0.5)
        now = time.monotonic()
        for key, mask in events:
            c = key.data
            if c.sock is None:
                continue
            if mask & selectors.EVENT_WRITE:
                c.connected = True
                if c.out:
                    try:
                        n = c.sock.send(c.out)
                        c.out = c.out[n:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        close(c)
                        continue
                if a.vanish and not c.out:
                    # Sent a whole call: vanish without reading the reply.
                    c.inflight = 0
                    close(c)
                    continue
            if mask & selectors.EVENT_READ:
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    close(c)
                    continue
                if data:
                    c.inbuf += data
                    while b"\0" in c.inbuf:
                        raw, c.inbuf = c.inbuf.split(b"\0", 1)
                        if c.inflight == 0:
                            stats["extra"] += 1
                            continue
                        c.inflight -= 1
                        latencies.append(now - c.sent_at.pop(0))
                        stats["replies"] += 1
                        try:
                            reply = json.loads(raw)
                        except ValueError:
                            stats["malformed"] += 1
                            continue
                        if not isinstance(reply, dict):
                            stats["malformed"] += 1
                        elif "error" in reply:
                            stats["errors"][reply["error"]] = stats["errors"].get(reply["error"], 0) + 1
                            samples.setdefault(reply["error"], (reply.get("parameters") or {}).get("message"))
                    fill(c)
                    if c.quota == 0 and c.inflight == 0:
                        close(c)
                        continue
            if c.sock is not None:
                update(c)
        if a.slow:
            for c in conns:
                if c.sock is not None and c.slow_left and now >= c.next_slow:
                    try:
                        c.sock.send(c.slow_left[:1])
                        c.slow_left = c.slow_left[1:]
                    except OSError:
                        close(c)
                        continue
                    c.next_slow = now + a.slow_ms / 1000.0
    for c in conns:
        if c.sock is not None or c in to_connect:
            close(c)
    elapsed = time.monotonic() - start
    latencies.sort()
    pct = lambda p: round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else None
    stats.update({"seconds": round(elapsed, 3), "callsPerSec": round(stats["replies"] / elapsed, 1) if elapsed else 0,
                  "p50Ms": pct(0.5), "p99Ms": pct(0.99), "maxMs": pct(1.0)})
    if samples:
        stats["errorSample"] = samples
    print(json.dumps(stats, sort_keys=True))
    ok = stats["missing"] == 0 and stats["extra"] == 0 and stats["malformed"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
