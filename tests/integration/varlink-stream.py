#!/usr/bin/env python3
"""One Varlink call with "more" against the daemon, for the streaming tests.

varlink-stream.py SOCKET METHOD [PARAMETERS-JSON] [--no-more]
                  [--hangup-after N] [--timeout SEC]

Prints each reply as one JSON line (the whole message: parameters,
continues, error) until the final one, then exits 0; with --hangup-after N
it closes the connection after N replies instead (exit 0), without reading
on (0: right after sending the call).  --no-more sends the call without "more".  Exit 1 if the daemon closes
the connection before the final reply, 2 on a timeout.  A raw client,
independent of libkmscancel (the CLI's pending comes from the client side).
"""
import json
import socket
import sys


def main():
    args = sys.argv[1:]
    more, hangup_after, timeout = True, None, 120.0
    pos = []
    i = 0
    while i < len(args):
        if args[i] == "--no-more":
            more = False
        elif args[i] == "--hangup-after":
            hangup_after = int(args[i + 1])
            i += 1
        elif args[i] == "--timeout":
            timeout = float(args[i + 1])
            i += 1
        else:
            pos.append(args[i])
        i += 1
    sock_path, method = pos[0], pos[1]
    params = json.loads(pos[2]) if len(pos) > 2 else {}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    msg = {"method": method, "parameters": params}
    if more:
        msg["more"] = True
    s.sendall(json.dumps(msg).encode() + b"\0")
    if hangup_after == 0:
        s.close()  # gone before any reply: the daemon must notice the close itself
        return 0
    buf, n = b"", 0
    out = sys.stdout
    try:
        while True:
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                reply = json.loads(raw)
                out.write(json.dumps(reply, separators=(",", ":")) + "\n")
                out.flush()
                n += 1
                if hangup_after is not None and n >= hangup_after:
                    s.close()
                    return 0
                if not reply.get("continues"):
                    return 0
            chunk = s.recv(1 << 16)
            if not chunk:
                sys.stderr.write("varlink-stream: connection closed before the final reply\n")
                return 1
            buf += chunk
    except socket.timeout:
        sys.stderr.write("varlink-stream: timed out after %d replies\n" % n)
        return 2


sys.exit(main())
