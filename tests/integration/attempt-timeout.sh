#!/bin/bash
# [KMS] AttemptTimeout=: a connection that takes a request and goes silent
# (the fake's /hang) costs one attempt, not the call's whole deadline.  The
# silent connection is closed, never reused; the retry goes over another and
# the audit counts both attempts.  A call whose every attempt hangs still
# ends with Timeout at its deadline, and AttemptTimeout=no waits for the
# deadline as before.
. "$top_srcdir/tests/integration/lib.sh"

KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
KEY3=3234abcd-12ab-34cd-56ef-1234567890ab

# audit_field KEY FIELD: FIELD of the latest outcome line for KEY.
audit_field() {
	grep "event=outcome .*key=$1 " "$T/daemon.log" | tail -n 1 | sed -n "s/.* $2=\([^ ]*\).*/\1/p"
}

# wait_hangs_closed N: true once the fake has seen N hung connections closed
# by the daemon (it notices a close as soon as it happens; give it a moment).
wait_hangs_closed() {
	local i
	for i in $(seq 1 50); do
		[ "$(fake_stat hangsClosed)" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# requests_of OP: the fake's /requests records for OP, one per line.
requests_of() { fake GET /requests | tr -d ' \n' | sed 's/},{/}\n{/g' | grep "\"operation\":\"$1\""; }
field_of() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }

# A sub-second attempt timeout keeps the test short.  Under a wrapper such
# as valgrind a healthy answer can take longer than that, so the attempt
# timeout (and the deadline of the call whose every attempt hangs) grow.
if [ -n "${DAEMON_WRAPPER:-}" ]; then
	AT_MS=2000 ALL_HANG_TIMEOUT=8
else
	AT_MS=300 ALL_HANG_TIMEOUT=1.5
fi

printf '%s PendingDeletion\n' "$KEY1" "$KEY2" "$KEY3" >"$T/keys"
start_fake
printf '[KMS]\nRetryBase=20ms\nAttemptTimeout=%sms\nTimeout=20\nMaxAttempts=3\n' "$AT_MS" >"$T/kmscanceld.conf"
start_daemon

# A first call leaves a kept-alive connection in the pool: the hang below
# hits a reused connection, as a half-open one would be.
run_cli --json describe "$KEY3"
expect_rc 0 "warm-up DescribeKey"
fake POST /reset >/dev/null

# --- a hung first attempt is retried on another connection ------------------------------------
fake POST /hang '{"operation":"CancelKeyDeletion"}' >/dev/null
t0=$(now_ms)
run_cli --json cancel "$KEY1"
took=$(($(now_ms) - t0))
expect_rc 0 "a hung first attempt: the call succeeds"
expect_contains "$OUT" '"keyState":"Disabled"' "the key is Disabled"
[ "$(json_field attempts)" = 2 ] && pass "the reply counts 2 attempts" || fail "attempts: $OUT"
[ "$(audit_field "$KEY1" attempts)" = 2 ] && pass "the audit line counts 2 attempts" ||
	fail "audit: $(grep "key=$KEY1" "$T/daemon.log")"
lat=$(audit_field "$KEY1" latency_ms)
timing_check '[ -n "$lat" ] && [ "$lat" -ge $((AT_MS - 10)) ] && [ "$lat" -lt $((AT_MS + 1000)) ]' \
	"success after the $AT_MS ms attempt timeout, long before the 20 s deadline: ${lat:-?} ms"
log "hung first attempt: success after ${lat:-?} ms in the daemon, ${took} ms at the CLI"
grep -q "attempt 1: .*no response from .* within $AT_MS ms; connection closed (AttemptTimeout=)" "$T/daemon.log" &&
	pass "the cut attempt is logged" || fail "no log line for the cut attempt"

reqs=$(requests_of CancelKeyDeletion)
[ "$(printf '%s\n' "$reqs" | grep -c .)" = 2 ] && pass "KMS saw two CancelKeyDeletion" || fail "requests: $reqs"
hung=$(printf '%s\n' "$reqs" | grep '"fault":"hang"' | field_of connection)
second=$(printf '%s\n' "$reqs" | grep -v '"fault":"hang"' | field_of connection)
[ -n "$hung" ] && [ -n "$second" ] && [ "$hung" != "$second" ] &&
	pass "the retry went over another connection (#$hung hung, #$second answered)" ||
	fail "connections: $reqs"
printf '%s\n' "$reqs" | grep '"fault":"hang"' | grep -q '"connectionRequest":2' &&
	pass "the hung attempt went over the kept-alive connection" || fail "requests: $reqs"
wait_hangs_closed 1 && pass "the daemon closed the silent connection" ||
	fail "hangsClosed: $(fake_stat hangsClosed)"
printf '%s\n' "$reqs" | grep '"fault":"hang"' | grep -q '"clientClosed":true' &&
	pass "the hung request's record says the client closed it" || fail "requests: $reqs"

# Later calls never use the closed connection.
run_cli --json cancel "$KEY2"
expect_rc 0 "the next call succeeds"
[ "$(json_field attempts)" = 1 ] && pass "in one attempt" || fail "attempts: $OUT"
last=$(requests_of CancelKeyDeletion | tail -n 1 | field_of connection)
[ -n "$last" ] && [ "$last" != "$hung" ] && pass "not over the hung connection (#$last)" ||
	fail "the next call went over connection #$last"

# --- the hung attempt was carried out: the retry's "not pending deletion" -----------------------
# is our own success, found out with DescribeKey.
set_key "$KEY1" PendingDeletion
fake POST /reset >/dev/null
fake POST /hang '{"operation":"CancelKeyDeletion","process":true}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "a hung attempt that KMS carried out: success"
expect_contains "$OUT" '"alreadyCancelled":true' "the reply says an earlier attempt did it"
expect_contains "$OUT" '"keyState":"Disabled"' "Disabled"

# --- a response that starts and never ends is cut short too -------------------------------------
set_key "$KEY1" PendingDeletion
fake POST /reset >/dev/null
fake POST /endless '{"operation":"CancelKeyDeletion","process":false,"trickleMs":50}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "an endless response: the call succeeds"
[ "$(json_field attempts)" = 2 ] && pass "in 2 attempts" || fail "attempts: $OUT"
grep -q "attempt 1: .*no complete response from .* within $AT_MS ms; connection closed" "$T/daemon.log" &&
	pass "the cut attempt is logged as an incomplete response" || fail "no log line for the endless attempt"

# --- every attempt hangs: Timeout at the deadline -------------------------------------------------
# Attempts 1 and 2 are cut after AttemptTimeout=; the last one, which
# nothing could follow, waits for the deadline.
set_key "$KEY1" PendingDeletion
fake POST /reset >/dev/null
fake POST /hang '{"operation":"CancelKeyDeletion","count":10}' >/dev/null
run_cli --json --timeout "$ALL_HANG_TIMEOUT" cancel "$KEY1"
expect_rc 1 "every attempt hangs"
expect_contains "$OUT" '"error":"Timeout"' "Timeout by name"
[ "$(audit_field "$KEY1" attempts)" = 3 ] && pass "the audit line counts 3 attempts" ||
	fail "audit: $(grep "key=$KEY1" "$T/daemon.log" | tail -n 1)"
[ "$(audit_field "$KEY1" error)" = Timeout ] && pass "the audit line says Timeout" ||
	fail "audit: $(grep "key=$KEY1" "$T/daemon.log" | tail -n 1)"
lat=$(audit_field "$KEY1" latency_ms)
timing_check '[ -n "$lat" ] && [ "$lat" -ge 1490 ] && [ "$lat" -le 1600 ]' \
	"Timeout at the $ALL_HANG_TIMEOUT s deadline: ${lat:-?} ms"
log "every attempt hung: Timeout after ${lat:-?} ms"
wait_hangs_closed 3 && pass "all three silent connections closed" ||
	fail "hangsClosed: $(fake_stat hangsClosed)"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "nothing was cancelled" || fail "key is $(key_state "$KEY1")"
stop_daemon

# --- AttemptTimeout=no: the deadline alone, as before ---------------------------------------------
printf '[KMS]\nRetryBase=20ms\nAttemptTimeout=no\nMaxAttempts=3\n' >"$T/kmscanceld.conf"
start_daemon
fake POST /reset >/dev/null
fake POST /hang '{"operation":"CancelKeyDeletion"}' >/dev/null
run_cli --json --timeout 1 cancel "$KEY1"
expect_rc 1 "AttemptTimeout=no: a hung attempt"
expect_contains "$OUT" '"error":"Timeout"' "ends with Timeout"
[ "$(audit_field "$KEY1" attempts)" = 1 ] && pass "after one attempt" ||
	fail "audit: $(grep "key=$KEY1" "$T/daemon.log" | tail -n 1)"
lat=$(audit_field "$KEY1" latency_ms)
timing_check '[ -n "$lat" ] && [ "$lat" -ge 990 ] && [ "$lat" -le 1100 ]' "at the 1 s deadline: ${lat:-?} ms"
run_cli --json cancel "$KEY1"
expect_rc 0 "then the next call succeeds"
stop_daemon

# --- bad values are refused -----------------------------------------------------------------------
for v in 5x -1 601; do
	printf '[KMS]\nAttemptTimeout=%s\n' "$v" >"$T/bad.conf"
	if "$KMSCANCELD" --check-config --config "$T/bad.conf" >"$T/check.out" 2>&1; then
		fail "AttemptTimeout=$v accepted"
	else
		expect_contains "$(cat "$T/check.out")" "AttemptTimeout" "AttemptTimeout=$v refused, by name"
	fi
done
printf '[KMS]\nAttemptTimeout=2.5\nConnectTimeout=500ms\n' >"$T/good.conf"
"$KMSCANCELD" --check-config --config "$T/good.conf" >"$T/check.out" 2>&1 &&
	pass "AttemptTimeout=2.5 and ConnectTimeout=500ms accepted" || fail "good config: $(cat "$T/check.out")"
