#!/usr/bin/env python3
"""A stand-in for journald's native socket, for the tests.

    fake-journal.py --socket PATH --out FILE

Binds PATH (a datagram socket, like /run/systemd/journal/socket), reads the
native journal protocol that sd_journal_send() speaks and appends every
entry to FILE as one line of JSON (field name -> value; a field sent twice
becomes a list).  Entries that sd-journal hands over as a memfd (too large
for one datagram) are read from the descriptor.  Exits on SIGTERM.

The protocol (systemd's "Native Journal Protocol"): fields separated by
newlines, each either NAME=VALUE or, for values that hold a newline, NAME,
a newline, the value's length as 64-bit little-endian, the value and a
newline.
"""
import argparse
import array
import json
import os
import signal
import socket
import struct
import sys


def parse(data):
    fields = {}
    i = 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:
            raise ValueError("field without a newline")
        line = data[i:nl]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            i = nl + 1
        else:
            name = line
            (n,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 9
            value = data[start:start + n]
            if data[start + n:start + n + 1] != b"\n":
                raise ValueError("binary field not ended by a newline")
            i = start + n + 1
        key = name.decode("ascii")
        text = value.decode("utf-8", "backslashreplace")
        if key in fields:
            old = fields[key]
            fields[key] = (old if isinstance(old, list) else [old]) + [text]
        else:
            fields[key] = text
    return fields


def receive(sock):
    fds = array.array("i")
    data, anc, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    for fd in fds:
        with os.fdopen(fd, "rb") as f:
            data = f.read()
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(args.socket)
    with open(args.out, "a", encoding="utf-8") as out:
        while True:
            data = receive(sock)
            try:
                entry = parse(data)
            except (ValueError, struct.error) as e:
                entry = {"_FAKE_JOURNAL_ERROR": str(e)}
            out.write(json.dumps(entry, sort_keys=True) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
