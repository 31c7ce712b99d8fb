#!/bin/bash
# A local user who can connect cannot flood the daemon's log.  journald
# drops a service's messages beyond its rate limit (RateLimitBurst=, 10,000
# per 30 s by default) whatever they are, so lines a client can provoke at
# will (one per malformed message, per half message left, per unread
# backlog) would take every other user's audit records with them.  Here
# one uid sends 2,000 malformed messages on 2,000 connections: the daemon
# writes at most about one such line per second, says how many it left
# out, and goes on serving.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
start_daemon
N=2000
start=$(now_ms)
python3 - "$SOCK" "$N" <<'EOF' || fail "the flooding client failed"
import socket, sys
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(b"this is not JSON\0")
    s.recv(16)  # the daemon closes after its protocol error
    s.close()
EOF
secs=$((($(now_ms) - start) / 1000 + 1))
# One more, a second later: its line says how many were left out.
sleep 1.1
python3 - "$SOCK" <<'EOF' || fail "the last client failed"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"not JSON either\0")
s.recv(16)
EOF
secs=$((secs + 2))
run_cli cancel "$KEY1"
expect_rc 0 "the daemon still serves after the flood"
lines=$(grep -c 'Varlink client pid' "$T/daemon.log")
log "$N malformed messages in ${secs}s: $lines log lines about clients"
[ "$lines" -le $((secs + 2)) ] && pass "at most one line per second ($lines in ${secs}s), not one per client" ||
	fail "$lines lines about clients for $N malformed messages in ${secs}s"
left=$(sed -n 's/.*(and \([0-9]*\) such lines about clients left out.*/\1/p' "$T/daemon.log" | awk '{ n += $1 } END { print n + 0 }')
[ $((left + lines)) -eq $((N + 1)) ] && pass "the lines say how many were left out ($left; $lines printed)" ||
	fail "$left left out + $lines printed != $((N + 1)) malformed messages"
exit 0
