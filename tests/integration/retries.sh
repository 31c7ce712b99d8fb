#!/bin/bash
# Every call gets one true answer: retries of transient and throttling
# errors, the attempt limit, clock skew, lost responses resolved with
# DescribeKey, deadlines, EnableKey after eventual consistency, coalescing
# of identical cancels, and the client-side rate limit with its fair queue.
. "$top_srcdir/tests/integration/lib.sh"

ARN="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1"
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab

# Key sets for the rate-limit checks: 200 for a burst with the limiter, 30
# for one without, 40 for two users' batches.
keyset() { for i in $(seq "$1" "$2"); do printf '%08x-0000-4000-8000-%012x\n' "$i" "$i"; done; }
keyset 1 200 >"$T/burst1"
keyset 201 230 >"$T/burst2"
keyset 401 420 >"$T/batchA"
keyset 421 440 >"$T/batchB"
keyset 441 450 >"$T/keys10"
{
	printf '%s PendingDeletion\n' "$KEY1" "$KEY2"
	sed 's/$/ PendingDeletion/' "$T/burst1" "$T/burst2" "$T/batchA" "$T/batchB" "$T/keys10"
} >"$T/keys"
start_fake
# Account= lets a bare key ID and its ARN be recognised as the same key.
printf '[AWS]\nAccount=%s\n[KMS]\nRetryBase=20ms\nMaxAttempts=5\n' "$TEST_ACCOUNT" >"$T/kmscanceld.conf"
start_daemon

# --- retries up to MaxAttempts ------------------------------------------------------------------
for err in KMSInternalException DependencyTimeoutException InternalFailure; do
	set_key "$KEY1" PendingDeletion
	fake POST /fail "{\"error\":\"$err\",\"count\":3}" >/dev/null
	run_cli --json cancel "$KEY1"
	expect_rc 0 "3 x $err, then success"
	[ "$(json_field attempts)" = 4 ] && pass "$err: attempts = 4" || fail "$err: $OUT"
done
set_key "$KEY1" PendingDeletion
fake POST /fail '{"error":"DependencyTimeoutException","count":5}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 1 "5 failures with MaxAttempts=5"
expect_contains "$OUT" '"error":"DependencyTimeoutException"' "the last error by name"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "nothing was cancelled" || fail "key is $(key_state "$KEY1")"
fake POST /reset >/dev/null

# Throttling: backoff, then success.
fake POST /fail '{"error":"ThrottlingException","count":2}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "throttled twice, then success"
[ "$(json_field attempts)" = 3 ] && pass "throttling: attempts = 3" || fail "throttling: $OUT"

# --- clock skew -----------------------------------------------------------------------------------
set_key "$KEY1" PendingDeletion
fake POST /clock '{"offset":900}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "15 minutes of clock skew"
[ "$(json_field attempts)" = 2 ] && pass "skew: one retry" || fail "skew: $OUT"
grep -q "local clock is .* off AWS's" "$T/daemon.log" && pass "skew is logged" || fail "no skew log line"
set_key "$KEY1" PendingDeletion
run_cli --json cancel "$KEY1"
[ "$(json_field attempts)" = 1 ] && pass "later calls are signed with AWS's time" || fail "after skew: $OUT"
fake POST /reset >/dev/null
set_key "$KEY1" PendingDeletion
run_cli --json cancel "$KEY1"
expect_rc 0 "the clock is right again"

# --- lost responses -------------------------------------------------------------------------------
# The fake cancels, then drops the connection: the retry hears "not pending
# deletion", DescribeKey shows Disabled, the caller hears success.
set_key "$KEY1" PendingDeletion
fake POST /drop '{"operation":"CancelKeyDeletion","process":true}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "lost response: success"
expect_contains "$OUT" '"alreadyCancelled":true' "lost response: the flag says an earlier attempt did it"
expect_contains "$OUT" '"keyState":"Disabled"' "lost response: Disabled"
expect_contains "$OUT" "\"keyId\":\"$ARN\"" "lost response: the ARN from DescribeKey"
set_key "$KEY1" PendingDeletion
fake POST /garbage '{"operation":"CancelKeyDeletion","process":true}' >/dev/null
run_cli cancel "$KEY1"
expect_rc 0 "garbled response: success"
expect_contains "$OUT" "already cancelled" "human output tells"
# ... with --enable: then EnableKey.
set_key "$KEY1" PendingDeletion
fake POST /drop '{"operation":"CancelKeyDeletion","process":true}' >/dev/null
run_cli --json cancel --enable "$KEY1"
expect_rc 0 "lost response + --enable"
expect_contains "$OUT" '"keyState":"Enabled"' "ends Enabled"
[ "$(key_state "$KEY1")" = Enabled ] && pass "the fake agrees" || fail "key is $(key_state "$KEY1")"
# A key that was not pending deletion: the real state is reported.
set_key "$KEY1" Enabled
fake POST /drop '{"operation":"CancelKeyDeletion","process":true}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 1 "lost response, key was Enabled"
expect_contains "$OUT" '"error":"KMSInvalidStateException"' "still KMSInvalidStateException"
expect_contains "$OUT" "the key is Enabled" "with the real state"
# Without a lost response, "not pending deletion" is answered as it is.
run_cli --json cancel "$KEY1"
expect_rc 1 "plain KMSInvalidStateException"
case "$OUT" in *DescribeKey*) fail "DescribeKey without a lost response: $OUT" ;; *) pass "no DescribeKey without a lost response" ;; esac

# --- deadlines ----------------------------------------------------------------------------------
set_key "$KEY1" PendingDeletion
fake POST /delay '{"ms":3000,"operation":"CancelKeyDeletion"}' >/dev/null
t0=$(now_ms)
run_cli --json --timeout 0.5 cancel "$KEY1"
took=$(($(now_ms) - t0))
expect_rc 1 "deadline shorter than KMS's delay"
expect_contains "$OUT" '"error":"Timeout"' "Timeout by name"
# On time as the daemon measures it (the CLI's own start-up is not the
# daemon's to keep), and not much later for the CLI.
lat=$(grep "op=cancel key=$KEY1 .*error=Timeout" "$T/daemon.log" | sed -n 's/.*latency_ms=\([0-9]*\).*/\1/p' | tail -n 1)
timing_check '[ -n "$lat" ] && [ "$lat" -ge 490 ] && [ "$lat" -le 550 ]' "Timeout on time: ${lat:-?} ms for a 500 ms deadline"
timing_check '[ "$took" -le 1500 ]' "the CLI returns with it (${took} ms)"
log "deadline 500 ms: Timeout after ${lat:-?} ms in the daemon, ${took} ms at the CLI"
set_key "$KEY2" PendingDeletion
run_cli --json cancel "$KEY2"
expect_rc 0 "the daemon is healthy afterwards"

# --- EnableKey while KMS still shows PendingDeletion ----------------------------------------------
set_key "$KEY1" PendingDeletion
fake POST /lag '{"count":3}' >/dev/null
run_cli --json cancel --enable "$KEY1"
expect_rc 0 "--enable with eventual consistency"
expect_contains "$OUT" '"keyState":"Enabled"' "reply says Enabled"
[ "$(json_field attempts)" = 5 ] && pass "1 cancel + 3 stale EnableKey + 1" || fail "attempts: $OUT"
[ "$(key_state "$KEY1")" = Enabled ] && pass "key ends Enabled" || fail "key is $(key_state "$KEY1")"

# --- coalescing -----------------------------------------------------------------------------------
set_key "$KEY1" PendingDeletion
fake POST /reset >/dev/null
fake POST /delay '{"ms":600,"operation":"CancelKeyDeletion"}' >/dev/null
kmscancel --json cancel "$KEY1" >"$T/c1" 2>&1 &
p1=$!
sleep 0.2
kmscancel --json cancel "$ARN" >"$T/c2" 2>&1
rc2=$?
wait "$p1"
rc1=$?
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && pass "two concurrent cancels both succeed" || fail "rc $rc1/$rc2: $(cat "$T/c1" "$T/c2")"
grep -q '"keyState": *"Disabled"' "$T/c2" && pass "the second hears Disabled" || fail "second: $(cat "$T/c2")"
[ "$(fake GET /stats | sed -n 's/.*"CancelKeyDeletion": *\([0-9]*\).*/\1/p')" = 1 ] &&
	pass "one KMS call for both" || fail "stats: $(fake GET /stats)"
stop_daemon

# --- rate limit: a burst of 200 at a quota of 100/s ----------------------------------------------
# The fake throttles above 100 CancelKeyDeletion/s; the daemon's limiter is
# set to the same quota, so none may be throttled.
printf '[KMS]\nRetryBase=20ms\nCancelRate=100\n' >"$T/kmscanceld.conf"
start_daemon
fake POST /reset >/dev/null
fake POST /quota '{"operation":"CancelKeyDeletion","rps":100}' >/dev/null
t0=$(now_ms)
run_cli --json cancel --file "$T/burst1"
took=$(($(now_ms) - t0))
expect_rc 0 "200 cancels at the quota"
[ "$(printf '%s\n' "$OUT" | grep -c '"ok":true')" = 200 ] && pass "200 successes" || fail "not 200 successes"
[ "$(fake_stat throttled)" = 0 ] && pass "no throttled attempt" || fail "throttled: $(fake_stat throttled)"
[ "$(fake_stat requests)" = 200 ] && pass "exactly 200 requests" || fail "requests: $(fake_stat requests)"
timing_check '[ "$took" -ge 1500 ] && [ "$took" -le 3500 ]' "200 cancels in ${took} ms (about 2 s)"
log "burst of 200 at 100/s: ${took} ms"

# Without the limiter a burst provokes the fake's throttling (the check
# that the quota above is real): 30 at once against a quota of 10/s, no
# retries.
stop_daemon
printf '[KMS]\nRateLimit=no\nMaxAttempts=1\n' >"$T/kmscanceld.conf"
start_daemon
fake POST /reset >/dev/null
fake POST /quota '{"operation":"CancelKeyDeletion","rps":10}' >/dev/null

run_cli --json cancel --file "$T/burst2"
[ "$(fake_stat throttled)" -gt 0 ] && pass "RateLimit=no: the fake throttled $(fake_stat throttled) of 30" ||
	fail "RateLimit=no: nothing throttled"
expect_contains "$OUT" '"error":"ThrottlingException"' "AWS's ThrottlingException reaches the CLI by name"
stop_daemon

# --- the retry quota ------------------------------------------------------------------------------
# 500 tokens, 5 per retry: after 100 retries against an endpoint that keeps
# failing, calls get their first attempt only.
printf '[KMS]\nRetryBase=1ms\nRateLimit=no\nMaxAttempts=3\n' >"$T/kmscanceld.conf"
start_daemon
fake POST /reset >/dev/null
fake POST /fail '{"error":"KMSInternalException","count":100000}' >/dev/null
head -n 60 "$T/burst1" >"$T/keys60"
run_cli --json cancel --file "$T/keys60"
expect_rc 1 "60 cancels against a failing endpoint"
[ "$(printf '%s\n' "$OUT" | grep -c '"error":"KMSInternalException"')" = 60 ] && pass "each reports KMSInternalException" ||
	fail "not 60 KMSInternalException"
[ "$(fake_stat requests)" = 160 ] && pass "100 retries, then first attempts only (160 requests)" ||
	fail "requests: $(fake_stat requests), expected 160"
run_cli --json status
expect_contains "$OUT" '"retryQuotaExhausted":' "status shows the retry quota counter"
case "$OUT" in *'"retryQuotaExhausted":0'*) fail "retryQuotaExhausted is 0" ;; *) pass "retries were refused by the quota" ;; esac
fake POST /reset >/dev/null
stop_daemon

# --- a full queue answers at once -----------------------------------------------------------------
printf '[KMS]\nCancelRate=2\nMaxQueued=3\n' >"$T/kmscanceld.conf"
start_daemon
fake POST /reset >/dev/null
run_cli --json cancel --file "$T/keys10"
expect_rc 1 "10 cancels against a queue of 3 per caller"
expect_contains "$OUT" '"error":"ThrottlingException"' "the overflow is ThrottlingException"
expect_contains "$OUT" "MaxQueued=3" "the message names the limit"
[ "$(printf '%s\n' "$OUT" | grep -c '"ok":true')" -ge 3 ] && pass "the queued ones succeed" || fail "queued: $OUT"
stop_daemon

# --- fairness: two users' batches and one single cancel -------------------------------------------
# Needs root to run clients as other users; the ordering itself is also
# covered by tests/unit/test-ratelimit.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 0755 "$T"
	printf '[Daemon]\nSocketMode=0666\n[Policy]\nAllow=* * *\n[KMS]\nCancelRate=10\n' >"$T/kmscanceld.conf"
	start_daemon
	fake POST /reset >/dev/null
	chmod 0644 "$T/batchA" "$T/batchB"
	setpriv --reuid=61001 --regid=61001 --clear-groups "$KMSCANCEL" --socket "$SOCK" --json cancel --file "$T/batchA" >"$T/outA" 2>&1 &
	pa=$!
	setpriv --reuid=61002 --regid=61002 --clear-groups "$KMSCANCEL" --socket "$SOCK" --json cancel --file "$T/batchB" >"$T/outB" 2>&1 &
	pb=$!
	sleep 0.8
	set_key "$KEY2" PendingDeletion
	run_cli --json cancel "$KEY2"
	expect_rc 0 "the single cancel"
	lat=$(grep "event=outcome op=cancel key=$KEY2 uid=0 .*outcome=success key_state=Disabled" "$T/daemon.log" | sed -n 's/.*latency_ms=\([0-9]*\).*/\1/p' | tail -n 1)
	timing_check '[ -n "$lat" ] && [ "$lat" -le 120 ]' "single cancel behind two batches served within one token interval (100 ms): ${lat:-?} ms"
	log "single cancel behind two batches at 10/s: ${lat:-?} ms"
	wait "$pa" "$pb"
	[ "$(grep -c '"ok": *true' "$T/outA")" = 20 ] && [ "$(grep -c '"ok": *true' "$T/outB")" = 20 ] &&
		pass "both batches complete" || fail "batches: $(tail -n 2 "$T/outA" "$T/outB")"
	stop_daemon
else
	log "skipping the multi-user fairness check: needs root and setpriv"
fi

# --- exit with calls pending ----------------------------------------------------------------------
# A second SIGTERM exits without waiting: a call in flight and one waiting
# for a token are completed and freed on the way out (check-valgrind sees
# any leak), and the daemon exits cleanly.
printf '[KMS]\nCancelRate=0.2\n' >"$T/kmscanceld.conf"
start_daemon
fake POST /reset >/dev/null
fake POST /delay '{"ms":5000,"operation":"CancelKeyDeletion"}' >/dev/null
sed -n 1,2p "$T/keys10" >"$T/keys2"
kmscancel --json cancel --file "$T/keys2" >"$T/pending.out" 2>&1 &
pc=$!
for i in $(seq 1 100); do
	[ "$(fake_stat requests)" = 1 ] && break
	sleep 0.05
done
kill -TERM "$DAEMON_PID"
sleep 0.2
kill -TERM "$DAEMON_PID"
stop_daemon
[ "$DAEMON_RC" = 0 ] && pass "exit with a call in flight and one queued: status 0" || fail "daemon exit status $DAEMON_RC"
wait "$pc"
[ $? -ne 0 ] && pass "the CLI hears of it" || fail "the CLI succeeded: $(cat "$T/pending.out")"
