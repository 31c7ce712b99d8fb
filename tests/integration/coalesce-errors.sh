#!/bin/bash
# GetStatus counts every caller of a coalesced cancel.  Identical cancels
# coalesce (tests/security/coalesce-deadline.sh): the followers of the first
# call get its answer without a KMS request of their own.  Each is a call
# that failed, under its error: callsFailed and errors{} must count the
# followers as well as the leader (errors{} counted the leader only).  Here
# KMS holds the leader's CancelKeyDeletion of a key it does not have, three
# identical cancels join it, and the NotFoundException reaches all four.
. "$top_srcdir/tests/integration/lib.sh"

# Under valgrind everything is many times slower: hold and wait longer.
if [ -n "${DAEMON_WRAPPER:-}${CLI_WRAPPER:-}" ]; then F=5; else F=1; fi
HOLD=$((4000 * F)) DEADLINE_MS=$((HOLD - 500 * F))
FOLLOWERS=3
MISSING=0f0f0f0f-1111-2222-3333-444455556666
ARN=arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$MISSING

start_fake
cat >"$T/kmscanceld.conf" <<CONF
[KMS]
RetryBase=50ms
MaxAttempts=1
CONF
start_daemon

# calls_in_flight: GetStatus callsInFlight (the daemon's, not kms's).
calls_in_flight() {
	run_cli --json status
	printf '%s\n' "$OUT" | sed -n 's/.*"callsInFlight":\([0-9]*\),"callsHeldBack".*/\1/p'
}

fake POST /delay "{\"ms\":$HOLD,\"count\":1,\"operation\":\"CancelKeyDeletion\"}" >/dev/null
PIDS=()
kmscancel cancel "$ARN" >"$T/leader.out" 2>&1 &
PIDS+=($!)
# The followers only once KMS holds the leader's request.
start=$(now_ms)
until [ "$(fake_stat CancelKeyDeletion)" = 1 ]; do
	[ $(($(now_ms) - start)) -lt "$DEADLINE_MS" ] || die "KMS never got the leader's CancelKeyDeletion"
	sleep 0.05
done
for i in $(seq 1 $FOLLOWERS); do
	kmscancel cancel "$ARN" >"$T/follower$i.out" 2>&1 &
	PIDS+=($!)
done
# Every call in flight before KMS answers: the leader, its followers and
# the GetStatus asking.
until [ "$(calls_in_flight)" -ge $((FOLLOWERS + 2)) ] 2>/dev/null; do
	[ $(($(now_ms) - start)) -lt "$DEADLINE_MS" ] || die "the followers were not all in flight before KMS answered"
	sleep 0.05
done
wait "${PIDS[@]}"

n=0
for f in "$T/leader.out" "$T"/follower*.out; do
	grep -q NotFoundException "$f" && n=$((n + 1)) || log "not NotFoundException: $(cat "$f")"
done
[ "$n" -eq $((FOLLOWERS + 1)) ] && pass "all $n callers got NotFoundException" ||
	fail "$n of $((FOLLOWERS + 1)) callers got NotFoundException"
requests=$(fake_stat CancelKeyDeletion)
[ "$requests" = 1 ] && pass "the cancels coalesced: one CancelKeyDeletion reached KMS" ||
	fail "$requests CancelKeyDeletion requests reached KMS: the cancels did not coalesce"

run_cli --json status
failed=$(json_field callsFailed)
[ "$failed" = $((FOLLOWERS + 1)) ] && pass "callsFailed counts every caller: $failed" ||
	fail "callsFailed is $failed, expected $((FOLLOWERS + 1))"
expect_contains "$OUT" "\"errors\":{\"NotFoundException\":$((FOLLOWERS + 1))}" \
	"errors{} counts the followers under their error"

stop_daemon
exit 0
