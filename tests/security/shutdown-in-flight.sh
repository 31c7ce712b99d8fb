#!/bin/bash
# SIGTERM while calls are in every state the daemon has: waiting for
# credentials (a credential_process held open), waiting to learn the
# default account (STS GetCallerIdentity held), a KMS request in flight
# (held by the fake), in settle backoff (EnableKey answered
# KMSInvalidStateException again and again), and a coalesced follower
# waiting for its leader.
#   1. Within DrainTimeoutSec=: every call is answered with success.
#   2. Past it: every call is answered with a clear error before the
#      daemon exits (none sees its connection just close), nothing is
#      left running on freed objects.
# Both times the daemon exits 0, and under ASan or valgrind any report
# (use after free, leak) fails the test.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/inflight-lib.sh"

# start_with_calls_in_flight HOLD-MS SETTLE-FAILURES: starts the daemon and
# puts one call in each state; the holds last HOLD-MS, EnableKey of KEY4
# fails SETTLE-FAILURES times.
start_with_calls_in_flight() {
	fake POST /reset >/dev/null
	reset_keys
	# Waiting for credentials: account C's credential_process is held
	# from the start, so no set is cached.
	rm -f "$T/release" "$T/process.runs"
	RELOADS=0
	start_daemon
	wait_for_file "$T/process.runs" || fail "the credential_process did not run"
	bg creds cancel "$(arn "$C" "$KC")"
	CREDS_PID=$BPID
	wait_in_flight 1
	# Waiting for the account: learned again after the reload, slowly.
	fake POST /sts/fail "{\"kind\":\"delay\",\"action\":\"GetCallerIdentity\",\"ms\":$1,\"count\":1}" >/dev/null
	reload
	vcall account io.kmscancel.CancelKeyDeletion "{\"keyId\":\"$KEY2\",\"account\":\"$A\"}"
	ACCOUNT_PID=$VPID
	wait_in_flight 2
	# A KMS request in flight, and a follower of it (an account with a
	# section: both are routed at once, to the same account).
	fake POST /delay "{\"ms\":$1,\"count\":1,\"operation\":\"CancelKeyDeletion\"}" >/dev/null
	bg leader cancel "$(arn "$B" "$KB")"
	LEADER_PID=$BPID
	wait_fault delay 1
	bg follower cancel "$(arn "$B" "$KB")"
	FOLLOWER_PID=$BPID
	wait_in_flight 4
	# Settle backoff: EnableKey still sees the key pending deletion.
	fake POST /fail "{\"error\":\"KMSInvalidStateException\",\"operation\":\"EnableKey\",\"count\":$2,\"message\":\"$KEY4 is pending deletion.\"}" >/dev/null
	bg settle cancel --enable "$KEY4"
	SETTLE_PID=$BPID
	wait_stat EnableKey 1
	wait_in_flight 5 && pass "five calls in flight, one in each state"
}

# wait_calls: every background call's exit status, NAME=RC ...
wait_calls() {
	local rc
	CALLS=
	for name in creds account leader follower settle; do
		eval "wait \$$(echo "$name" | tr a-z A-Z)_PID"
		rc=$?
		CALLS="$CALLS $name=$rc"
	done
}

start_fake "${FAKE_OPTS[@]}"

# --- 1. SIGTERM within the drain: every call answered with success -------------
write_conf "$TEST_REGION" with-b with-c
# Settle backoff: 100, 200, 400, 800 ms, then 1 s each (5.5 s), within 10 s.
start_with_calls_in_flight "$(hold_ms 5000)" 8
kill -TERM "$DAEMON_PID"
touch "$T/release"
wait_calls
[ "$CALLS" = " creds=0 account=0 leader=0 follower=0 settle=0" ] && pass "drain: every call in flight is answered with success" ||
	fail "drain: exit statuses$CALLS: $(for n in creds account leader follower settle; do bg_out $n; done)"
expect_contains "$(bg_out account)" '"keyState":"Disabled"' "drain: the call waiting for the account succeeded"
[ "$(key_state "$KC")/$(key_state "$KEY2")/$(key_state "$KB")/$(key_state "$KEY4")" = Disabled/Disabled/Disabled/Enabled ] &&
	pass "drain: every key in its final state" ||
	fail "drain: keys $(key_state "$KC")/$(key_state "$KEY2")/$(key_state "$KB")/$(key_state "$KEY4")"
[ "$(fake_stat CancelKeyDeletion)" = 4 ] && pass "drain: the follower shared its leader's request" ||
	fail "drain: $(fake_stat CancelKeyDeletion) CancelKeyDeletion requests, expected 4"
stop_daemon
[ "$DAEMON_RC" = 0 ] && pass "drain: the daemon exits 0" || fail "drain: daemon exit status $DAEMON_RC"

# --- 2. SIGTERM past DrainTimeoutSec=: every call answered with an error ---------
write_conf "$TEST_REGION" with-b with-c "$(printf '[Daemon]\nDrainTimeoutSec=%s\n' "$([ "$SLOW" = 1 ] && echo 3 || echo 1)")"
start_with_calls_in_flight "$(hold_ms 8000)" 1000
kill -TERM "$DAEMON_PID"
wait_calls
stop_daemon
[ "$DAEMON_RC" = 0 ] && pass "past the drain: the daemon exits 0" || fail "past the drain: daemon exit status $DAEMON_RC"
touch "$T/release"
[ "$CALLS" = " creds=1 account=0 leader=1 follower=1 settle=1" ] && pass "past the drain: every call is answered" ||
	fail "past the drain: exit statuses$CALLS"
for name in creds account leader follower settle; do
	out=$(bg_out "$name")
	case "$out" in
	*DISCONNECTED* | *Disconnected* | *"closed the connection"*) fail "past the drain: $name saw its connection close: $out" ;;
	*'"error":"EndpointUnavailable"'*"kmscanceld is shutting down"*) pass "past the drain: $name gets EndpointUnavailable, shutting down" ;;
	*'"error":"io.kmscancel.EndpointUnavailable"'*"kmscanceld is shutting down"*) pass "past the drain: $name gets EndpointUnavailable, shutting down" ;;
	*) fail "past the drain: $name: $out" ;;
	esac
done
grep -q 'still running at exit; answered with an error' "$T/daemon.log" && pass "past the drain: the log says which calls were cut" ||
	fail "past the drain: nothing logged about the calls cut"
