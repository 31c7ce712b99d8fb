#!/usr/bin/env python3
"""Run a command on a pseudo-terminal, as a user at a terminal would.

    pty-run.py [--stdout FILE] TRANSCRIPT COMMAND [ARGS...]

The command's stderr (and stdout, unless --stdout redirects it to FILE) is
the slave side of a new pty; stdin is /dev/null.  Everything the command
wrote to the terminal is saved, byte for byte, to TRANSCRIPT.  Exits with
the command's exit status.
"""
import os
import pty
import subprocess
import sys


def main():
    args = sys.argv[1:]
    stdout_file = None
    if args[:1] == ["--stdout"]:
        stdout_file, args = args[1], args[2:]
    transcript, command = args[0], args[1:]
    master, slave = pty.openpty()
    out = open(stdout_file, "wb") if stdout_file else slave
    with open(os.devnull, "rb") as devnull:
        child = subprocess.Popen(command, stdin=devnull, stdout=out, stderr=slave, close_fds=True)
    os.close(slave)
    data = bytearray()
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every writer has closed the slave side
            break
        if not chunk:
            break
        data += chunk
    rc = child.wait()
    with open(transcript, "wb") as f:
        f.write(data)
    sys.exit(rc)


if __name__ == "__main__":
    main()
