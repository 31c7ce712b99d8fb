#!/bin/bash
# A socket passed by socket activation that is not a listening AF_UNIX
# stream socket is refused at start, with a message naming what it is: a
# TCP socket (a wrong ListenStream= in a kmscanceld.socket drop-in) would
# let anyone who reaches the port call the daemon as uid 4294967295, which
# SO_PEERCRED gives a TCP peer and "*" rules match; a datagram socket or a
# socket that is not listening cannot carry Varlink.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
printf '[Policy]\nAllow=* * *\n[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
export AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$TEST_SECRET" AWS_REGION="$TEST_REGION" \
	AWS_ENDPOINT_URL_KMS="https://127.0.0.1:$FAKE_PORT" AWS_CA_BUNDLE="$T/certs/ca.pem"
# Generous under valgrind: the daemon loads its configuration before it
# looks at the socket.
limit=10
[ -n "${DAEMON_WRAPPER:-}" ] && limit=60

# What systemd does for a .socket unit: the socket as fd 3, LISTEN_FDS=1,
# LISTEN_PID, LISTEN_FDNAMES=varlink, then exec.  KIND: tcp (listening on
# 127.0.0.1, port written to $T/tcp.port), dgram, seqpacket, connected (a
# connected stream socket, what Accept=yes passes), unix (a good one, at
# $SOCK).
cat >"$T/activate.py" <<'PY'
import os, socket, sys
kind, path, command = sys.argv[1], sys.argv[2], sys.argv[3:]
if kind == "tcp":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(path, "w") as f:
        f.write("%d\n" % s.getsockname()[1])
elif kind == "connected":
    s, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
else:
    s = socket.socket(socket.AF_UNIX, {"dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET,
                                       "unix": socket.SOCK_STREAM}[kind])
    s.bind(path)
    if kind != "dgram":
        s.listen(16)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="varlink")
os.execvp(command[0], command)
PY

# run_activated KIND PATH: the daemon with that socket as fd 3; waits for it
# to exit (or $limit s) and leaves its exit status in ACT_RC, or its pid in
# ACT_PID if it is still running.
run_activated() {
	local kind=$1 i
	python3 "$T/activate.py" "$kind" "$2" ${DAEMON_WRAPPER:-} "$KMSCANCELD" --config "$T/kmscanceld.conf" \
		>"$T/$kind.log" 2>&1 &
	local pid=$!
	for i in $(seq 1 $((limit * 20))); do
		kill -0 $pid 2>/dev/null || break
		grep -q "ready (socket-activated" "$T/$kind.log" && break
		sleep 0.05
	done
	if kill -0 $pid 2>/dev/null; then
		ACT_PID=$pid
		return
	fi
	wait $pid
	ACT_RC=$?
	ACT_PID=
}

# kill_activated: a daemon that did start (main): stop it.
kill_activated() {
	[ -n "$ACT_PID" ] || return 0
	kill -TERM "$ACT_PID" 2>/dev/null
	wait "$ACT_PID" 2>/dev/null
	ACT_PID=
}
ACT_PID=
at_cleanup kill_activated

# --- TCP on loopback ------------------------------------------------------------------
run_activated tcp "$T/tcp.port"
port=$(cat "$T/tcp.port")
if [ -n "$ACT_PID" ]; then
	# It serves: show what that means, then fail.
	printf '{"method":"io.kmscancel.GetStatus","parameters":{}}\0' >"$T/call"
	answer=$(python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(open(sys.argv[2], "rb").read())
print(s.recv(65536)[:200].decode("utf-8", "replace"))' "$port" "$T/call" 2>&1)
	fail "a TCP socket as fd 3 was taken and served; GetStatus over TCP answered: $answer"
	kill_activated
else
	[ "$ACT_RC" -eq 1 ] && pass "a TCP socket as fd 3: the daemon refuses to start (exit 1)" ||
		fail "a TCP socket as fd 3: exit $ACT_RC, expected 1"
	expect_contains "$(cat "$T/tcp.log")" "fd 3 is an AF_INET SOCK_STREAM socket, listening on 127.0.0.1:$port" \
		"the message names the socket: AF_INET, its address"
	expect_contains "$(cat "$T/tcp.log")" "only a listening AF_UNIX stream socket" "and says what is wanted"
fi

# expect_refused KIND PATH MESSAGE: with that socket the daemon exits 1 and
# its log says MESSAGE.
expect_refused() {
	run_activated "$1" "$2"
	if [ -n "$ACT_PID" ]; then
		fail "a $1 socket as fd 3 was taken"
		kill_activated
		return
	fi
	[ "$ACT_RC" -eq 1 ] && pass "a $1 socket as fd 3: refused (exit 1)" || fail "a $1 socket as fd 3: exit $ACT_RC, expected 1"
	expect_contains "$(cat "$T/$1.log")" "$3" "the message names it"
}
expect_refused dgram "$T/dgram.sock" "fd 3 is an AF_UNIX SOCK_DGRAM socket"
expect_refused seqpacket "$T/seqpacket.sock" "fd 3 is an AF_UNIX SOCK_SEQPACKET socket"
expect_refused connected - "fd 3 is an AF_UNIX SOCK_STREAM socket, not listening"

# --- the right socket still works --------------------------------------------------------
run_activated unix "$SOCK"
if [ -n "$ACT_PID" ]; then
	for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
	run_cli cancel "$KEY1"
	expect_rc 0 "a listening AF_UNIX stream socket as fd 3 is served"
	kill_activated
else
	fail "the daemon refused a good socket (exit $ACT_RC): $(cat "$T/unix.log")"
fi
for f in tcp dgram seqpacket connected unix; do check_no_secret "$T/$f.log"; done
if [ -n "${DAEMON_WRAPPER:-}" ] && grep -q "ERROR SUMMARY: [1-9]" "$T"/*.log; then
	fail "$DAEMON_WRAPPER reported errors in the daemon"
fi
exit 0
