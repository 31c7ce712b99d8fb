#!/usr/bin/env python3
"""The systemd side of the protocols, for the lifecycle tests.

  sd-harness.py notify PATH LOG
      Binds a datagram socket at PATH, as systemd's NOTIFY_SOCKET, and
      appends each sd_notify() assignment to LOG as "MONOTONIC_MS KEY=VALUE",
      one line per assignment.  Runs until killed.

  sd-harness.py hold PATH STARTS -- COMMAND...
      Does what a .socket unit with Accept=no does: listens on PATH itself
      and, whenever a client is waiting and COMMAND is not running, starts
      COMMAND with the listening socket as fd 3 (LISTEN_FDS=1, LISTEN_PID,
      LISTEN_FDNAMES=varlink).  When COMMAND exits the socket stays open, so
      a client that connects meanwhile waits in the backlog for the next
      instance.  Appends one line to STARTS per start.  Runs until killed
      (SIGTERM is passed on to a running COMMAND first).

  sd-harness.py calls SOCK N KEY-PREFIX READY-FILE RESULT-FILE
      Opens N connections, sends one CancelKeyDeletion on each (keys
      KEY-PREFIX + 3-digit index), writes READY-FILE when all are sent,
      then waits for every reply and writes one line per connection to
      RESULT-FILE: "ok STATE", "error NAME" or "lost".
"""
import json
import os
import select
import signal
import socket
import sys
import time


def notify(path, log):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(log, "a", buffering=1) as out:
        while True:
            data = s.recv(65536).decode("utf-8", "replace")
            now = int(time.monotonic() * 1000)
            for line in data.split("\n"):
                if line:
                    out.write("%d %s\n" % (now, line))


def hold(path, starts, command):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    child = None

    def on_term(signum, frame):
        if child:
            os.kill(child, signal.SIGTERM)
            os.waitpid(child, 0)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    while True:
        if child is None:
            select.select([listener], [], [])
            child = os.fork()
            if child == 0:
                try:
                    os.dup2(listener.fileno(), 3)
                    os.set_inheritable(3, True)
                    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="varlink")
                    os.execvpe(command[0], command, env)
                finally:
                    os._exit(127)
            with open(starts, "a") as f:
                f.write("%d\n" % child)
        pid, status = os.waitpid(child, 0)
        child = None
        code = os.waitstatus_to_exitcode(status)
        with open(starts, "a") as f:
            f.write("exit %d\n" % code)
        if code != 0:
            # As systemd's start rate limit: no busy loop on a failing command.
            time.sleep(1)


def calls(sock, n, prefix, ready, result):
    conns = []
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(sock)
        msg = {"method": "io.kmscancel.CancelKeyDeletion", "parameters": {"keyId": "%s%03d" % (prefix, i)}}
        s.sendall(json.dumps(msg).encode() + b"\0")
        conns.append(s)
    with open(ready, "w") as f:
        f.write("sent\n")
    lines = []
    for s in conns:
        buf = b""
        try:
            while b"\0" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        if b"\0" not in buf:
            lines.append("lost")
            continue
        reply = json.loads(buf.split(b"\0", 1)[0])
        if "error" in reply:
            lines.append("error " + reply["error"])
        else:
            lines.append("ok " + reply["parameters"].get("keyState", "?"))
        s.close()
    with open(result, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    mode = sys.argv[1]
    if mode == "notify":
        notify(sys.argv[2], sys.argv[3])
    elif mode == "hold":
        sep = sys.argv.index("--")
        hold(sys.argv[2], sys.argv[3], sys.argv[sep + 1:])
    elif mode == "calls":
        calls(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
