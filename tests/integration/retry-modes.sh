#!/bin/bash
# AWS_RETRY_MODE / [KMS] RetryMode= against the fake KMS's request quota
# (POST /quota: ThrottlingException beyond N calls per second), with the
# daemon's own rate limit off so that only the retry mode paces requests:
# - standard retries each throttled call after its own backoff, so a burst
#   keeps running into the quota until the retry quota (500 tokens, 5 a
#   retry) is spent and calls fail;
# - adaptive slows the endpoint's send rate at the first throttle (CUBIC,
#   as the SDKs), so the same burst is spread out and far fewer attempts
#   are throttled;
# - legacy retries throttling with 5 attempts by default, and does not
#   retry what only the standard mode retries (TooManyRequestsException).
. "$top_srcdir/tests/integration/lib.sh"

keyset() { for i in $(seq "$1" "$2"); do printf '%08x-0000-4000-8000-%012x\n' "$i" "$i"; done; }
keyset 1 40 >"$T/burst"
{
	printf '%s PendingDeletion\n' "$KEY1"
	sed 's/$/ PendingDeletion/' "$T/burst"
} >"$T/keys"
start_fake

# burst MODE: 40 cancels at once against a quota of 4/s; sets THROTTLED
# (attempts the fake throttled), REQUESTS, OKS and TOOK (ms).
burst() {
	printf '[KMS]\nRetryMode=%s\nRateLimit=no\nRetryBase=20ms\nMaxAttempts=10\nTimeout=60\n' "$1" >"$T/kmscanceld.conf"
	start_daemon
	fake POST /reset >/dev/null
	while read -r k; do set_key "$k" PendingDeletion; done <"$T/burst"
	fake POST /quota '{"operation":"CancelKeyDeletion","rps":4}' >/dev/null
	local t0
	t0=$(now_ms)
	run_cli --json cancel --file "$T/burst"
	TOOK=$(($(now_ms) - t0))
	THROTTLED=$(fake_stat throttled)
	REQUESTS=$(fake_stat requests)
	OKS=$(printf '%s\n' "$OUT" | grep -c '"ok":true')
	log "$1: $OKS of 40 cancelled in $TOOK ms, $REQUESTS requests, $THROTTLED throttled"
	fake POST /quota '{"operation":"CancelKeyDeletion","rps":0}' >/dev/null
}

burst standard
std_throttled=$THROTTLED std_requests=$REQUESTS
[ "$std_throttled" -ge 40 ] && pass "standard: the burst keeps hitting the quota ($std_throttled throttled)" ||
	fail "standard: only $std_throttled throttled"
run_cli --json status
expect_contains "$OUT" '"throttled":' "status counts throttling"
stop_daemon

burst adaptive
expect_rc 0 "adaptive: every cancel succeeds"
[ "$OKS" = 40 ] && pass "adaptive: 40 cancelled" || fail "adaptive: $OKS cancelled"
[ "$THROTTLED" -lt $((std_throttled / 2)) ] &&
	pass "adaptive: $THROTTLED throttled against standard's $std_throttled: the burst was spread" ||
	fail "adaptive: $THROTTLED throttled, standard $std_throttled"
[ "$REQUESTS" -lt "$std_requests" ] && pass "adaptive: fewer requests ($REQUESTS < $std_requests)" ||
	fail "adaptive: $REQUESTS requests, standard $std_requests"
# 40 at 4/s take about 10 s however they are paced; adaptive must not be
# much slower than the quota allows.
timing_check '[ "$TOOK" -le 30000 ]' "adaptive: 40 cancels in $TOOK ms at a quota of 4/s"
grep -q 'adaptive send rate' "$T/daemon.log" || log "(the pacing is logged at debug level only)"
stop_daemon

# --- legacy ---------------------------------------------------------------------------------------
printf '[KMS]\nRetryMode=legacy\nRetryBase=10ms\n' >"$T/kmscanceld.conf"
start_daemon
set_key "$KEY1" PendingDeletion
fake POST /fail '{"error":"ThrottlingException","count":4}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "legacy: throttled four times, then cancelled"
[ "$(json_field attempts)" = 5 ] && pass "legacy: 5 attempts by default" || fail "legacy: $OUT"
set_key "$KEY1" PendingDeletion
fake POST /reset >/dev/null
fake POST /fail '{"error":"ThrottlingException","count":6}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 1 "legacy: five throttles use up the attempts"
expect_contains "$OUT" '"error":"ThrottlingException"' "legacy: the last error by name"
[ "$(fake_stat requests)" = 5 ] && pass "legacy: not a sixth" || fail "legacy: $(fake_stat requests) requests"
fake POST /reset >/dev/null
set_key "$KEY1" PendingDeletion
fake POST /fail '{"error":"TooManyRequestsException","status":400,"count":1}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 1 "legacy: TooManyRequestsException (HTTP 400) is not retried"
[ "$(fake_stat requests)" = 1 ] && pass "legacy: one attempt" || fail "legacy: $(fake_stat requests) requests"
stop_daemon

# The same error in standard mode is throttling, retried.
printf '[KMS]\nRetryBase=10ms\n' >"$T/kmscanceld.conf"
DAEMON_ENV=(AWS_RETRY_MODE=standard)
start_daemon
fake POST /reset >/dev/null
set_key "$KEY1" PendingDeletion
fake POST /fail '{"error":"TooManyRequestsException","status":400,"count":1}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "standard: TooManyRequestsException is retried"
[ "$(json_field attempts)" = 2 ] && pass "standard: two attempts" || fail "standard: $OUT"
stop_daemon

# AWS_RETRY_MODE from the environment; RetryMode= in the config wins.
DAEMON_ENV=(AWS_RETRY_MODE=legacy)
start_daemon
fake POST /reset >/dev/null
set_key "$KEY1" PendingDeletion
fake POST /fail '{"error":"TooManyRequestsException","status":400,"count":1}' >/dev/null
run_cli --json cancel "$KEY1"
[ "$(fake_stat requests)" = 1 ] && pass "AWS_RETRY_MODE=legacy is honoured" ||
	fail "AWS_RETRY_MODE=legacy: $(fake_stat requests) requests"
stop_daemon
printf '[KMS]\nRetryBase=10ms\nRetryMode=standard\n' >"$T/kmscanceld.conf"
start_daemon
fake POST /reset >/dev/null
set_key "$KEY1" PendingDeletion
fake POST /fail '{"error":"TooManyRequestsException","status":400,"count":1}' >/dev/null
run_cli --json cancel "$KEY1"
[ "$(json_field attempts)" = 2 ] && pass "RetryMode=standard overrides AWS_RETRY_MODE=legacy" || fail "override: $OUT"
stop_daemon
DAEMON_ENV=()

