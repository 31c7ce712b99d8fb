#!/usr/bin/env python3
"""Varlink protocol checks against the real daemon (socket path in argv[1]).

A raw client, independent of libkmscancel: it frames messages itself, so it
can send what a well-behaved library never would.  Exits non-zero on the
first failed check.
"""
import json
import socket
import sys
import time


def stream(argv):
    """--stream SOCK METHOD [PARAMS-JSON] [--no-more]: one call (with "more"
    unless --no-more), each reply printed as one JSON line as it arrives,
    until the final reply (exit 0) or the daemon closes (exit 3).  For the
    streaming methods (WatchGuard); a test reads the lines as they come."""
    more = "--no-more" not in argv
    argv = [a for a in argv if a != "--no-more"]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(argv[0])
    msg = {"method": argv[1], "parameters": json.loads(argv[2]) if len(argv) > 2 else {}}
    if more:
        msg["more"] = True
    s.sendall(json.dumps(msg).encode() + b"\0")
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return 3
        buf += chunk
        while b"\0" in buf:
            raw, buf = buf.split(b"\0", 1)
            reply = json.loads(raw)
            print(json.dumps(reply, sort_keys=True), flush=True)
            if not reply.get("continues"):
                return 0


if len(sys.argv) > 1 and sys.argv[1] == "--stream":
    sys.exit(stream(sys.argv[2:]))

SOCK = sys.argv[1]
KEY = sys.argv[2]
failures = 0


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(SOCK)
    return s


def recv_messages(s, n):
    buf = b""
    out = []
    while len(out) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b"\0" in buf:
            msg, buf = buf.split(b"\0", 1)
            out.append(json.loads(msg))
    return out


def call(s, method, params=None, **flags):
    msg = {"method": method}
    if params is not None:
        msg["parameters"] = params
    msg.update(flags)
    s.sendall(json.dumps(msg).encode() + b"\0")
    return recv_messages(s, 1)[0]


def check(cond, what):
    global failures
    if cond:
        print("ok:", what)
    else:
        print("FAIL:", what)
        failures += 1


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True


s = connect()
r = call(s, "org.varlink.service.GetInfo", {})
check("io.kmscancel" in r["parameters"]["interfaces"], "GetInfo lists io.kmscancel")
r = call(s, "org.varlink.service.GetInterfaceDescription", {"interface": "io.kmscancel"})
desc = r["parameters"]["description"]
check("interface io.kmscancel" in desc and "method CancelKeyDeletion" in desc, "GetInterfaceDescription serves the IDL")
r = call(s, "org.varlink.service.GetInterfaceDescription", {"interface": "io.nope"})
check(r.get("error") == "org.varlink.service.InterfaceNotFound", "unknown interface -> InterfaceNotFound")
r = call(s, "io.kmscancel.Frobnicate", {})
check(r.get("error") == "org.varlink.service.MethodNotFound", "unknown method -> MethodNotFound")
r = call(s, "io.kmscancel.CancelKeyDeletion", {})
check(r.get("error") == "org.varlink.service.InvalidParameter" and r["parameters"].get("parameter") == "keyId",
      "missing keyId -> InvalidParameter keyId")
r = call(s, "io.kmscancel.CancelKeyDeletion", {"keyId": 42})
check(r.get("error") == "org.varlink.service.InvalidParameter", "wrong-typed keyId -> InvalidParameter")
r = call(s, "io.kmscancel.CancelKeyDeletion", {"keyId": KEY, "enableKey": "yes"})
check(r.get("error") == "org.varlink.service.InvalidParameter" and r["parameters"].get("parameter") == "enableKey",
      "wrong-typed enableKey -> InvalidParameter enableKey")
for method in ("io.kmscancel.CancelKeyDeletion", "io.kmscancel.DescribeKey"):
    for bad in ("EU-WEST-1", "eu.west.1", "", "-eu", 7, "kms.example.com/x"):
        r = call(s, method, {"keyId": KEY, "region": bad})
        check(r.get("error") == "org.varlink.service.InvalidParameter" and r["parameters"].get("parameter") == "region",
              f"{method} region {bad!r} -> InvalidParameter region")
r = call(s, "io.kmscancel.CancelKeyDeletion", {"keyID": KEY})
check(r.get("error") == "org.varlink.service.InvalidParameter", "unknown field -> InvalidParameter")
r = call(s, "io.kmscancel.CancelKeyDeletion", {"keyId": "alias/x.y"})
check(r.get("error") == "io.kmscancel.InvalidKeyId" and "not an alias" in r["parameters"]["message"],
      "malformed alias -> InvalidKeyId saying so")
r = call(s, "io.kmscancel.CancelKeyDeletion", {"keyId": KEY + "\u0000x"})
check(r.get("error") == "io.kmscancel.InvalidKeyId", "embedded NUL (\\u0000) -> InvalidKeyId")
# Parameters missing or null are an empty object (newer systemd omits them).
r = call(s, "io.kmscancel.GetStatus")
check("version" in r.get("parameters", {}), "GetStatus without parameters")
r = call(s, "io.kmscancel.GetStatus", None, parameters=None)
check("version" in r.get("parameters", {}), "GetStatus with parameters null")

# Many calls in one write, answered in order.
batch = b"".join(json.dumps({"method": m, "parameters": {}}).encode() + b"\0"
                 for m in ["io.kmscancel.GetStatus", "io.kmscancel.Nope", "org.varlink.service.GetInfo"] * 5)
s.sendall(batch)
rs = recv_messages(s, 15)
check(len(rs) == 15 and all("version" in rs[i]["parameters"] for i in range(0, 15, 3))
      and all(rs[i].get("error") == "org.varlink.service.MethodNotFound" for i in range(1, 15, 3))
      and all("interfaces" in rs[i]["parameters"] for i in range(2, 15, 3)), "15 pipelined calls answered in order")

# One call dribbled a byte at a time.
msg = json.dumps({"method": "org.varlink.service.GetInfo", "parameters": {}}).encode() + b"\0"
for b in msg:
    s.send(bytes([b]))
    time.sleep(0.001)
check("interfaces" in recv_messages(s, 1)[0]["parameters"], "a message split over many reads")

# oneway: no reply; the next call's reply is the next message.
s.sendall(json.dumps({"method": "io.kmscancel.GetStatus", "oneway": True}).encode() + b"\0")
r = call(s, "org.varlink.service.GetInfo", {})
check("interfaces" in r["parameters"], "oneway call gets no reply")
s.close()

# Protocol errors close that connection only.
for what, payload in [("invalid JSON", b"{not json\0"),
                      ("unknown top-level key", b'{"method":"io.kmscancel.GetStatus","bogus":1}\0'),
                      ("non-object parameters", b'{"method":"io.kmscancel.GetStatus","parameters":[1]}\0'),
                      ("oneway with more", b'{"method":"io.kmscancel.GetStatus","oneway":true,"more":true}\0'),
                      ("oversized message", b"{" + b" " * (70 * 1024))]:
    bad = connect()
    try:
        bad.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    check(closed(bad), what + " -> connection closed")
    bad.close()
    good = connect()
    r = call(good, "org.varlink.service.GetInfo", {})
    check("interfaces" in r["parameters"], "after " + what + " other clients are served")
    good.close()

sys.exit(1 if failures else 0)
