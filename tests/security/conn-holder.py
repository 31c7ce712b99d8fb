# SPDX-License-Identifier: MIT
"""Holds Unix-socket connections open, as a local user exhausting them would.

    conn-holder.py SOCKET N SETTLE

Opens N connections to SOCKET, waits SETTLE seconds, prints "alive K" (how
many the daemon has not closed: over-limit ones are closed at once), then
"closed K" each time the number it has closed since changes, until every
one is closed or it is killed.  Run as the uid under test (setpriv), from
a copy in the test's directory where that uid can read it.
"""
import select
import socket
import sys
import time

path, n, settle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    conns.append(s)


def closed(s):
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


time.sleep(settle)
print("alive", sum(not closed(s) for s in conns), flush=True)
last = -1
while True:
    k = sum(closed(s) for s in conns)
    if k != last:
        print("closed", k, flush=True)
        last = k
    if k == n:
        break
    time.sleep(0.2)
