#!/bin/bash
# Socket activation: under systemd-socket-activate (systemd's own tool) the
# daemon serves the socket it is passed; with ExitIdleSec= it exits when
# idle and the next call, waiting in the socket's backlog meanwhile, starts
# it again and is served.
. "$top_srcdir/tests/integration/lib.sh"

HARNESS="$top_srcdir/tests/integration/sd-harness.py"

wait_for_line() {
	local i
	for i in $(seq 1 200); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

command -v systemd-socket-activate >/dev/null || { log "SKIP: no systemd-socket-activate"; exit 77; }
start_fake
printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
export AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$TEST_SECRET" AWS_REGION="$TEST_REGION" \
	AWS_ENDPOINT_URL_KMS="https://127.0.0.1:$FAKE_PORT" AWS_CA_BUNDLE="$T/certs/ca.pem"

# --- systemd-socket-activate: the first client's call is served -------------------
# It passes on only the variables named with -E: name every exported one.
setenv=()
for v in $(compgen -e); do setenv+=(-E "$v"); done
systemd-socket-activate -l "$SOCK" --fdname=varlink "${setenv[@]}" \
	${DAEMON_WRAPPER:-} "$KMSCANCELD" --config "$T/kmscanceld.conf" >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || die "systemd-socket-activate did not listen"
run_cli cancel "$KEY1"
expect_rc 0 "the first client's call is served through the passed socket"
expect_contains "$OUT" "Disabled" "the key was cancelled"
grep -q 'ready (socket-activated' "$T/daemon.log" && pass "the daemon took the passed fd" ||
	fail "the daemon did not report socket activation"
run_cli --json status
expect_contains "$OUT" '"socketActivated":true' "GetStatus says socket-activated"
stop_daemon
[ "$DAEMON_RC" = 0 ] && pass "exit 0 on SIGTERM" || fail "exit status $DAEMON_RC"

# --- ExitIdleSec=: exit when idle, started again by the next call -------------------
rm -f "$SOCK"
printf '[Daemon]\nExitIdleSec=1\n[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
python3 "$HARNESS" hold "$SOCK" "$T/starts" -- ${DAEMON_WRAPPER:-} "$KMSCANCELD" --config "$T/kmscanceld.conf" \
	>>"$T/daemon.log" 2>&1 &
HOLD_PID=$!
trap 'kill $HOLD_PID 2>/dev/null; wait $HOLD_PID 2>/dev/null; cleanup' EXIT
for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -e "$T/starts" ] && fail "started before any client"
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1"
expect_rc 0 "the first call starts the daemon and is served"
wait_for_line "$T/starts" '^exit 0$' && pass "the daemon exited 0 after ExitIdleSec=1" ||
	fail "the daemon did not exit when idle: $(cat "$T/starts")"
grep -q 'idle for 1s (ExitIdleSec=): exiting' "$T/daemon.log" && pass "idle exit logged" || fail "no idle exit message"
# Nobody runs now; the call waits in the backlog of the socket we hold.
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1"
expect_rc 0 "a later call through the same socket starts it again and is served"
[ "$(grep -c '^[0-9]' "$T/starts")" = 2 ] && pass "started twice" || fail "starts: $(cat "$T/starts")"
# A client that stays connected keeps it running.
python3 -c 'import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(3)' "$SOCK" &
idler=$!
sleep 2.5
[ "$(grep -c '^exit' "$T/starts")" = 1 ] && pass "an open connection is not idle" ||
	fail "exited with a client connected: $(cat "$T/starts")"
kill "$idler" 2>/dev/null; wait "$idler" 2>/dev/null
for i in $(seq 1 100); do [ "$(grep -c '^exit 0' "$T/starts")" = 2 ] && break; sleep 0.05; done
[ "$(grep -c '^exit 0' "$T/starts")" = 2 ] && pass "exits again once the client left" ||
	fail "starts: $(cat "$T/starts")"
