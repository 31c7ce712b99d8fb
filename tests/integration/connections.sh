#!/bin/bash
# Warm connections and resilience: sequential cancels share one TLS
# connection; a client that vanishes mid-call harms nobody else; pipelined
# batches come back complete.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
start_daemon

for i in $(seq 1 10); do
	set_key "$KEY1" PendingDeletion
	run_cli cancel "$KEY1"
	[ "$RC" -eq 0 ] || fail "cancel $i failed: $ERR"
done
conns=$(fake_stat connections)
[ "$conns" = 1 ] && pass "ten sequential cancels used one TLS connection" || fail "ten cancels used $conns connections"

# A client that disconnects while its call is in flight.
set_key "$KEY1" PendingDeletion
fake POST /delay '{"ms":1500,"count":1}' >/dev/null
kmscancel cancel "$KEY1" >/dev/null 2>&1 &
victim=$!
sleep 0.3
kill -KILL "$victim"; wait "$victim" 2>/dev/null
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
set_key "$KEY2" PendingDeletion
run_cli cancel "$KEY2"
expect_rc 0 "another client is served while the first one's call is orphaned"
sleep 1.5
kill -0 "$DAEMON_PID" 2>/dev/null && pass "daemon still running" || fail "daemon died"
run_cli status
expect_rc 0 "status after the orphaned call completed"

# Half a message, then silence: that one client stalls alone.
if command -v python3 >/dev/null 2>&1; then
	python3 - "$SOCK" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.send(b'{"method":"io.kmscancel.GetSta')
time.sleep(3)
PY
	stall=$!
	sleep 0.3
	set_key "$KEY2" PendingDeletion
	run_cli cancel "$KEY2"
	expect_rc 0 "a stalled half-message does not block other clients"
	kill "$stall" 2>/dev/null; wait "$stall" 2>/dev/null
fi

# Several keys in one invocation all get an answer.
for k in 3 4 5 6; do set_key "${k}234abcd-12ab-34cd-56ef-1234567890ab" PendingDeletion; done
run_cli --json cancel 3234abcd-12ab-34cd-56ef-1234567890ab 4234abcd-12ab-34cd-56ef-1234567890ab \
	5234abcd-12ab-34cd-56ef-1234567890ab 6234abcd-12ab-34cd-56ef-1234567890ab
expect_rc 0 "four keys in one call"
[ "$(printf '%s\n' "$OUT" | grep -c '"ok":true')" = 4 ] && pass "four answers" || fail "answers: $OUT"

# SIGTERM: the daemon exits 0 after draining.
stop_daemon
[ "$DAEMON_RC" = 0 ] && pass "daemon exits 0 on SIGTERM" || fail "daemon exit status $DAEMON_RC"
